"""Match history's `archived` flag follows the store, not the message that marks it: a
process killed between archiving a match and marking it, and a read-model file rebuilt
from the log, both show the match archived."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from actors.facade import Engine
from engine.store import SqliteEventStore
from engine.store.sqlite import default_archive_path
from projections import MarkArchived, ProjectionRunner, default_path, default_projections
from projections.match_history import match_history
from tests.actors.conftest import start_bot_match, wait_for_archived, wait_until
from tests.projections.archiving_process import config
from tests.projections.support import Appender, fold_to_end, matches

ROOT = Path(__file__).resolve().parents[2]


def _kill_between_archiving_and_marking(db: Path) -> str:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.projections.archiving_process", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        started = child.stdout.readline().split()
        assert started[:1] == [b"started"], started
        archived = child.stdout.readline().split()
        assert archived == [b"archived", started[1]], archived
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
        return started[1].decode()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


async def _archived_flag(db: Path, room: str) -> bool:
    async with Engine.open(db, config(str(db))) as engine:
        info = await engine.store.stream_info(room)
        assert info is not None and info.status == "archived"
        assert await engine.projections.wait_caught_up(timeout=30)
        found = await engine.read_models.match(room)
        assert found is not None and found.summary.outcome == "finished"
        return found.summary.archived


def test_a_match_archived_by_a_process_killed_before_marking_it_shows_archived(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"
    room = _kill_between_archiving_and_marking(db)
    assert asyncio.run(_archived_flag(db, room)) is True


def test_a_read_model_file_rebuilt_from_the_log_shows_archived_matches_archived(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"

    async def play() -> str:
        async with Engine.open(db, config(str(db))) as engine:
            room = await start_bot_match(engine, "host", seed=5)
            await wait_for_archived(engine, [room])

            async def marked() -> bool:
                found = await engine.read_models.match(room)
                return found is not None and found.summary.archived

            await wait_until(marked, timeout=30)
            return room

    room = asyncio.run(play())
    # The documented rebuild: the read-model file moved aside, the engine started again.
    for suffix in ("", "-wal", "-shm"):
        moved = Path(f"{default_path(db)}{suffix}")
        if moved.exists():
            moved.rename(tmp_path / f"aside.db{suffix}")
    assert asyncio.run(_archived_flag(db, room)) is True


def test_a_fresh_build_flags_exactly_the_ended_matches_the_store_archived(
    tmp_path: Path,
) -> None:
    # More matches than are asked about one by one: the store's listing answers.
    async def scenario() -> None:
        store = await SqliteEventStore.open(tmp_path / "games.db")
        try:
            games = matches(110)
            await Appender(store).append(games)
            archived = {room for i, (room, _) in enumerate(games) if i % 5}
            for room in sorted(archived):
                await store.set_status(room, "completed")
                await store.archive_stream(room)
            path = tmp_path / "games.projections.db"
            async with ProjectionRunner(store, default_projections(), path) as runner:
                assert await runner.wait_caught_up(timeout=60)
                conn = sqlite3.connect(path)
                try:
                    history = match_history(conn, limit=1000).items
                finally:
                    conn.close()
            ended = {m.room_id for m in history if m.outcome != "playing"}
            assert len(ended & archived) > 64 and ended - archived
            assert {m.room_id for m in history if m.archived} == ended & archived
        finally:
            await store.close()

    asyncio.run(scenario())


def test_a_store_put_back_from_a_backup_takes_back_the_flags_of_matches_archived_since(
    tmp_path: Path,
) -> None:
    store_path = tmp_path / "games.db"
    projections_path = tmp_path / "games.projections.db"
    backup = tmp_path / "backup" / "games.db"
    games = matches(4, first_seed=20)

    def flags(path: Path) -> dict[str, bool]:
        conn = sqlite3.connect(path)
        try:
            history = match_history(conn, limit=100).items
        finally:
            conn.close()
        ours = {room for room, _ in games}
        return {m.room_id: m.archived for m in history if m.room_id in ours}

    async def archive_after_a_backup() -> None:
        store = await SqliteEventStore.open(store_path)
        try:
            async with ProjectionRunner(store, default_projections(), projections_path) as r:
                await Appender(store).append(games)
                for room, _ in games:
                    await store.set_status(room, "completed")
                await store.backup(backup)
                await Appender(store).append(matches(2, first_seed=30))
                for room, _ in games:
                    await store.archive_stream(room)
                    await r.instruct(MarkArchived(room))
                assert await r.wait_caught_up(timeout=60)
        finally:
            await store.close()

    asyncio.run(archive_after_a_backup())
    before = flags(projections_path)
    assert before and all(before.values()), before
    # Both store files put back from the backup, taken before those matches were archived.
    for suffix in ("-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, store_path)
    shutil.copy(default_archive_path(backup), default_archive_path(store_path))
    asyncio.run(fold_to_end(store_path, projections_path))
    assert flags(projections_path) == dict.fromkeys(before, False)


def test_matches_gone_with_a_restored_log_leave_no_mark_for_a_new_match_of_their_id(
    tmp_path: Path,
) -> None:
    store_path = tmp_path / "games.db"
    projections_path = tmp_path / "games.projections.db"
    backup = tmp_path / "backup" / "games.db"
    gone = matches(3, first_seed=40)

    async def play_after_a_backup() -> None:
        store = await SqliteEventStore.open(store_path)
        try:
            async with ProjectionRunner(store, default_projections(), projections_path) as r:
                await Appender(store).append(matches(1, first_seed=50))
                await store.backup(backup)
                await Appender(store).append(gone)
                assert await r.wait_caught_up(timeout=60)
        finally:
            await store.close()

    asyncio.run(play_after_a_backup())
    for suffix in ("-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, store_path)
    shutil.copy(default_archive_path(backup), default_archive_path(store_path))

    # Small batches: the rebuild takes many steps, the old rows serving meanwhile.
    asyncio.run(fold_to_end(store_path, projections_path, batch_size=20))
    conn = sqlite3.connect(projections_path)
    try:
        marked = {row[0] for row in conn.execute("SELECT room_id FROM match_archived")}
    finally:
        conn.close()
    # The restored store never archived nor forgot them: their ids are free, unmarked.
    assert marked.isdisjoint(room for room, _ in gone), marked
