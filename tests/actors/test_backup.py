"""Backups of a running engine: both files as of one moment, never a half-archived match."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

import engine.store.sqlite.store as sqlite_store
from actors.cli import main
from actors.facade import Engine
from engine.commands import Reconnect
from engine.rejections import Rejection
from engine.store import SqliteEventStore
from tests.actors.conftest import all_archived, fast_config, start_bot_match, wait_for_game_over


async def _streams(path: Path) -> dict[str, list[tuple[int, int, str, bytes]]]:
    """Every stream of a store, event by event (version, position, type, data)."""
    store = await SqliteEventStore.open(path)
    try:
        assert store.missing_bundles == ()
        streams: dict[str, list[tuple[int, int, str, bytes]]] = {}
        for info in await store.list_streams(limit=10_000):
            events = await store.read_stream(info.stream_id)
            streams[info.stream_id] = [(e.version, e.position, e.type, e.data) for e in events]
        log = await store.read_all(0, 1_000_000)
        assert sum(map(len, streams.values())) == len(log)
        return streams
    finally:
        await store.close()


def test_backups_taken_while_matches_play_and_archive_open_whole(tmp_path: Path) -> None:
    config = fast_config(tmp_path, archive_after=0.0, projections=False, bot_delay=0.002)
    copies: list[Path] = []

    async def play() -> None:
        async with Engine.open(config.path, config) as engine:
            rooms = [await start_bot_match(engine, f"h{n}", seed=n) for n in range(6)]

            # Copies every 0.2 s while rooms play, finish and are archived, and one after.
            for n in range(300):
                done = await all_archived(engine, rooms)
                copy = tmp_path / f"backup-{n}.db"
                assert await engine.backup(copy) == (copy, Path(f"{copy}.archive.db"))
                copies.append(copy)
                if done:
                    break
                await asyncio.sleep(0.2)
            with pytest.raises(FileExistsError):
                await engine.backup(copies[0])

    asyncio.run(play())
    final = asyncio.run(_streams(Path(config.path)))
    assert len(copies) >= 2 and asyncio.run(_streams(copies[-1])) == final
    for copy in copies:
        assert not Path(f"{copy}-wal").exists() and not Path(f"{copy}.partial").exists()
        # Each stream in a backup is a prefix of the same stream as it ended, bundles included.
        for stream_id, events in asyncio.run(_streams(copy)).items():
            assert final[stream_id][: len(events)] == events


def test_the_cli_backs_up_a_stopped_engine_and_never_writes_over_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = fast_config(tmp_path, archive_after=0.0, projections=False)

    async def play() -> None:
        async with Engine.open(config.path, config) as engine:
            rooms = [await start_bot_match(engine, "h", seed=3)]
            await wait_for_game_over(engine, rooms)

    asyncio.run(play())
    target = tmp_path / "copy" / "games.db"  # the folder is made for it
    with pytest.raises(SystemExit) as done:
        main(["backup", "--db", config.path, "--to", str(target)])
    assert done.value.code == 0 and str(target) in capsys.readouterr().out
    assert asyncio.run(_streams(target)) == asyncio.run(_streams(Path(config.path)))
    before = target.read_bytes()
    with pytest.raises(SystemExit) as done:
        main(["backup", "--db", config.path, "--to", str(target)])
    assert done.value.code == 2 and "exists" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_appends_go_on_while_a_backup_copies_and_are_not_in_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = fast_config(tmp_path, archive_after=None, projections=False, bot_delay=3600.0)
    copying, may_finish = threading.Event(), threading.Event()
    copy = sqlite_store.copy_snapshots

    def held_copy(copies: Any) -> None:
        copying.set()
        assert may_finish.wait(30)
        copy(copies)

    monkeypatch.setattr(sqlite_store, "copy_snapshots", held_copy)
    target = tmp_path / "backup.db"

    async def play() -> tuple[int, int]:
        async with Engine.open(config.path, config) as engine:
            room = await start_bot_match(engine, "h", seed=5)
            before = await engine.store.last_position()
            backup = asyncio.create_task(engine.backup(target))
            await asyncio.to_thread(copying.wait, 30)
            # The copy is under way and held: the engine still commits.
            outcome = await engine.send(room, Reconnect(player="h"))
            assert not isinstance(outcome, Rejection)
            after = await engine.store.last_position()
            may_finish.set()
            await backup
            return before, after

    before, after = asyncio.run(play())
    assert after > before
    copied = asyncio.run(_streams(target))
    assert max(p for events in copied.values() for _, p, _, _ in events) == before
