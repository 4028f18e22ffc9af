"""A store whose archive file lost bundles: read models stop with the store's error rather
than fold a log with matches missing, and `liaptui check-archive` finds and forgets them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from msgspec.structs import replace

from actors.cli import main
from actors.config import EngineConfig
from actors.facade import Engine
from engine.store import SqliteEventStore
from engine.store.sqlite import default_archive_path
from projections import ProjectionRunner, Rebuild, default_projections
from tests.actors.conftest import (
    start_bot_match,
    wait_for_archived,
    wait_for_game_over,
    wait_until,
)
from tests.projections.support import Appender, matches
from tests.store.support import lose_archive


async def _store_with_one_match_archived(path: Path) -> tuple[str, str]:
    """Two finished matches, the first archived; their room ids."""
    store = await SqliteEventStore.open(path)
    try:
        games = matches(2, first_seed=500)
        await Appender(store).append(games)
        for room, _ in games:
            await store.set_status(room, "completed")
        await store.archive_stream(games[0][0])
        return games[0][0], games[1][0]
    finally:
        await store.close()


def test_the_runner_reports_missing_bundles_and_folds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    lost, kept = asyncio.run(_store_with_one_match_archived(path))
    lose_archive(path)

    async def run() -> tuple[str | None, list[int]]:
        store = await SqliteEventStore.open(path)
        try:
            async with ProjectionRunner(store, default_projections(), tmp_path / "p.db") as runner:
                assert not await runner.wait_caught_up(timeout=0.5)
                status = runner.status()
                return status.error, [p.position for p in status.projections]
        finally:
            await store.close()

    error, positions = asyncio.run(run())
    assert error is not None and "BundlesMissing" in error and lost in error
    assert "no bundle" in error and positions == [0, 0, 0, 0]


def test_check_archive_lists_then_forgets_the_lost_matches(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "games.db"
    lost, kept = asyncio.run(_store_with_one_match_archived(path))
    with pytest.raises(SystemExit) as done:
        main(["check-archive", "--db", str(path)])
    assert done.value.code == 0 and "every archived match has its bundle" in capsys.readouterr().out

    lose_archive(path)
    with pytest.raises(SystemExit) as done:
        main(["check-archive", "--db", str(path)])
    out = capsys.readouterr().out
    assert done.value.code == 1 and lost in out and kept not in out

    with pytest.raises(SystemExit) as done:
        main(["check-archive", "--db", str(path), "--forget"])
    assert (
        done.value.code == 0 and f"forgot 1 archived match(es): {lost}" in capsys.readouterr().out
    )

    async def after() -> tuple[set[str], bool]:
        store = await SqliteEventStore.open(path)
        try:
            rooms = {r.stream_id for r in await store.read_all(0, 100_000)}
            return rooms, await store.stream_info(lost) is None
        finally:
            await store.close()

    assert asyncio.run(after()) == ({kept}, True)
    with pytest.raises(SystemExit) as done:
        main(["check-archive", "--db", str(path)])
    assert done.value.code == 0


def test_check_archive_reports_a_damaged_archive_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "games.db"
    asyncio.run(_store_with_one_match_archived(path))
    archive = default_archive_path(path)
    archive.write_bytes(b"not a database" * 512)
    with pytest.raises(SystemExit) as done:
        main(["check-archive", "--db", str(path)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and str(archive) in err and "Traceback" not in err
    assert archive.read_bytes() == b"not a database" * 512


def test_live_read_models_go_on_past_lost_bundles_a_rebuild_stops_and_metrics_say_so(
    tmp_path: Path,
) -> None:
    path = tmp_path / "games.db"
    config = EngineConfig.fast(str(path), archive_after=0.0)

    async def play(seed: int) -> str:
        async with Engine.open(path, config) as engine:
            room = await start_bot_match(engine, f"h{seed}", seed=seed)
            await wait_for_game_over(engine, [room])

            await wait_for_archived(engine, [room], timeout=30)
            assert await engine.projections.wait_caught_up(timeout=30)
            metrics, text = engine.metrics(), engine.prometheus()
            assert metrics["missing_bundles"] == 0 and metrics["projections_error"] is None
            assert "liaptui_store_missing_bundles 0" in text
            assert "liaptui_projections_running 1" in text
            assert 'liaptui_projection_behind_events{projection="lobby"} 0' in text
            return room

    lost = asyncio.run(play(1))
    lose_archive(path)

    async def play_on_then_rebuild() -> None:
        async with Engine.open(path, replace(config, archive_after=None)) as engine:
            assert engine.metrics()["missing_bundles"] == 1
            assert "liaptui_store_missing_bundles 1" in engine.prometheus()
            # The live read models are past the lost match: they fold a new one.
            room = await start_bot_match(engine, "h2", seed=2)
            await wait_for_game_over(engine, [room])
            assert await engine.projections.wait_caught_up(timeout=30)
            page = await engine.read_models.match_history(limit=10)
            assert {m.room_id for m in page.items} == {lost, room}
            # A rebuild from 0 would leave the lost match out: it stops, and says why.
            await engine.projections.instruct(Rebuild("match_history"))

            async def stopped() -> bool:
                return engine.projections.status().error is not None

            await wait_until(stopped, timeout=30)
            assert "BundlesMissing" in str(engine.metrics()["projections_error"])
            text = engine.prometheus()
            assert "liaptui_projections_running 0" in text
            page = await engine.read_models.match_history(limit=10)
            assert {m.room_id for m in page.items} == {lost, room}  # the live tables serve on

    asyncio.run(play_on_then_rebuild())
