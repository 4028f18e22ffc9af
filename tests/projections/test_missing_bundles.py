"""A store whose archive file lost bundles: read models stop with the store's error rather
than fold a log with matches missing, and `liaptui check-archive` finds and forgets them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actors.cli import main
from engine.store import SqliteEventStore
from engine.store.sqlite import default_archive_path
from projections import ProjectionRunner, default_projections
from tests.projections.support import Appender, matches


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


def _lose_archive(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{default_archive_path(path)}{suffix}").unlink(missing_ok=True)


def test_the_runner_reports_missing_bundles_and_folds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    lost, kept = asyncio.run(_store_with_one_match_archived(path))
    _lose_archive(path)

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

    _lose_archive(path)
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
