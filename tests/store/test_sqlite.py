"""Behaviour only the SQLite store has: durability, damage detection, faults, batching."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Coroutine
from contextlib import closing
from pathlib import Path
from typing import Any, TypeVar, cast

import lz4.frame
import pytest

from engine.store import (
    AppendRequest,
    AppendResult,
    CorruptData,
    NewEvent,
    Snapshot,
    SqliteEventStore,
    StoreUnavailable,
)
from engine.store.sqlite import Synchronous
from engine.store.sqlite.checkpoint import Checkpointer
from tests.store.conftest import SqliteOpener
from tests.store.support import flip_bytes

T = TypeVar("T")


def req(
    stream_id: str,
    expected: int,
    *payloads: bytes,
    command_id: str | None = None,
    command: bytes | None = None,
) -> AppendRequest:
    events = tuple(NewEvent("Played", 1, payload) for payload in payloads)
    return AppendRequest(stream_id, expected, events, command_id, command)


async def test_events_survive_reopening(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await store.append(req("room-1", 0, b"a", b"b", command_id="c1", command=b"cmd"))
    store = await open_sqlite.reopen(store)
    assert [e.data for e in await store.read_stream("room-1")] == [b"a", b"b"]
    assert await store.last_position() == 2
    assert (await store.append(req("room-1", 0, b"a", command_id="c1"))).duplicate
    assert (await store.append(req("room-1", 2, b"c"))).first_position == 3


async def pragma(store: SqliteEventStore, name: str) -> object:
    def read() -> object:
        return store._hot.execute(f"PRAGMA {name}").fetchone()[0]

    return await store._run(read)


@pytest.mark.parametrize(("level", "code"), [("NORMAL", 1), ("FULL", 2)])
async def test_uses_wal_with_the_chosen_sync_level(
    open_sqlite: SqliteOpener, level: Synchronous, code: int
) -> None:
    store = await SqliteEventStore.open(open_sqlite.path, synchronous=level)
    try:
        assert await pragma(store, "journal_mode") == "wal"
        assert await pragma(store, "synchronous") == code
    finally:
        await store.close()


async def test_unknown_sync_level_is_refused(open_sqlite: SqliteOpener) -> None:
    with pytest.raises(ValueError):
        await SqliteEventStore.open(open_sqlite.path, synchronous=cast(Synchronous, "OFF"))


async def test_batch_of_a_thousand_streams_is_one_hop(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    hops = 0
    real_hop = store._hop

    async def counted(*args: object) -> object:
        nonlocal hops
        hops += 1
        return await real_hop(*args)

    store._hop = counted
    results = await store.append_batch(
        [req(f"room-{i}", 0, b"a", b"b", command_id=f"c{i}") for i in range(1000)]
    )
    assert hops == 1
    assert [r.last_position for r in results if isinstance(r, AppendResult)][-1] == 2000


async def test_corrupt_event_row_names_stream_and_version(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await store.append(req("room-1", 0, b"fine", b"MARKER-event-two-payload", b"fine too"))
    await store.append(req("room-2", 0, b"other"))
    await store.close()
    flip_bytes(open_sqlite.path, b"MARKER-event-two-payload")
    store = await open_sqlite()
    with pytest.raises(CorruptData) as caught:
        await store.read_stream("room-1")
    assert (caught.value.stream_id, caught.value.version) == ("room-1", 2)
    assert "room-1" in str(caught.value) and "version 2" in str(caught.value)
    with pytest.raises(CorruptData):
        await store.read_all()
    # Events before the damage, and other streams, still read.
    assert [e.data for e in await store.read_stream("room-1", 0, 1)] == [b"fine"]
    assert [e.data for e in await store.read_stream("room-2")] == [b"other"]


async def test_missing_event_row_is_reported_not_skipped(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await store.append(req("room-1", 0, b"a", b"b", b"c"))
    await store.close()
    with sqlite3.connect(open_sqlite.path) as conn:
        conn.execute("DELETE FROM events WHERE stream_id = 'room-1' AND version = 2")
    store = await open_sqlite()
    with pytest.raises(CorruptData) as caught:
        await store.read_stream("room-1")
    assert (caught.value.stream_id, caught.value.version) == ("room-1", 2)


async def test_snapshot_with_corrupt_bytes_falls_back_to_replay(
    open_sqlite: SqliteOpener, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_sqlite()
    await store.append(req("room-1", 0, b"a"))
    payload = b"SNAPSHOT-PAYLOAD-" + bytes(range(64))
    await store.save_snapshot(Snapshot("room-1", 1, 1, payload))
    await store.close()
    flip_bytes(open_sqlite.path, lz4.frame.compress(payload))
    store = await open_sqlite()
    with caplog.at_level(logging.WARNING, logger="liaptui.store"):
        assert await store.load_snapshot("room-1", 1) is None
    assert "checksum" in caplog.text


async def test_snapshot_of_unknown_schema_version_is_logged_and_ignored(
    open_sqlite: SqliteOpener, caplog: pytest.LogCaptureFixture
) -> None:
    store = await open_sqlite()
    await store.append(req("room-1", 0, b"a"))
    await store.save_snapshot(Snapshot("room-1", 1, 7, b"state"))
    with caplog.at_level(logging.WARNING, logger="liaptui.store"):
        assert await store.load_snapshot("room-1", 8) is None
    assert "schema version 7" in caplog.text
    assert await store.load_snapshot("room-1", 7) == Snapshot("room-1", 1, 7, b"state")


async def test_full_disk_fails_the_commit_whole_and_appends_resume_after(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    await store.append(req("room-1", 0, b"before"))
    pages = await pragma(store, "page_count")
    await pragma(store, f"max_page_count = {pages}")
    big = [bytes([i]) * 4000 for i in range(40)]
    batch = [req("room-1", 1, *big, command_id="c2"), req("room-2", 0, *big)]
    with pytest.raises(StoreUnavailable) as caught:
        await store.append_batch(batch)
    assert caught.value.code == "store_unavailable"
    assert "full" in str(caught.value)
    # Nothing of the failed batch is visible, now or after reopening.
    assert await store.last_position() == 1
    assert await store.stream_info("room-2") is None
    assert await store.read_commands("room-1") == []
    # The fault clears: the same batch now commits, right after what was there.
    await pragma(store, "max_page_count = 1073741823")
    results = await store.append_batch(batch)
    assert [r.first_position for r in results if isinstance(r, AppendResult)] == [2, 42]
    store = await open_sqlite.reopen(store)
    assert [e.data for e in await store.read_stream("room-1")] == [b"before", *big]
    assert len(await store.read_all()) == 81


async def test_closed_store_reports_unavailable(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await store.close()
    with pytest.raises(StoreUnavailable):
        await store.read_all()


def test_a_store_never_closed_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    # A program that dies without closing its store (or a test that times out) must still
    # exit; what it appended and saw acknowledged is on disk.
    db = tmp_path / "unclosed.db"
    program = textwrap.dedent(
        f"""
        import asyncio
        from engine.store import AppendRequest, NewEvent, SqliteEventStore

        async def main():
            store = await SqliteEventStore.open({str(db)!r})
            await store.append(AppendRequest("room", 0, (NewEvent("Noted", 1, b"x"),)))
            print("appended", flush=True)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "appended\n"
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


async def test_the_log_is_checkpointed_off_the_writer(tmp_path: Path) -> None:
    # The writer's own threshold is a 64 MiB backstop, so only the background thread can
    # have copied these 2 MiB into the database file.
    db = tmp_path / "ckpt.db"
    store = await SqliteEventStore.open(db)
    try:
        backstop = await store._run(
            lambda: store._hot.execute("PRAGMA wal_autocheckpoint").fetchone()
        )
        assert backstop == (16384,)
        blob = bytes(range(256)) * 16
        for n in range(8):
            await store.append(req(f"room-{n}", 0, *([blob] * 64)))
        checkpointer = store._checkpointer
        assert checkpointer is not None
        deadline = time.monotonic() + 10
        # The file grows while a checkpoint runs; its count goes up when it has returned.
        while db.stat().st_size < 2 * 1024 * 1024 or checkpointer.checkpoints == 0:
            assert time.monotonic() < deadline, "the log was never checkpointed"
            await asyncio.sleep(0.05)
    finally:
        await store.close()
    assert not checkpointer._thread.is_alive()
    assert store._checkpointer is None


def test_the_checkpointer_never_creates_a_missing_file_and_ends_with_its_writer(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    gone = tmp_path / "gone.db"
    alive = threading.Event()
    alive.set()
    checkpointer = Checkpointer(gone, alive.is_set, interval=0.01)
    with caplog.at_level(logging.WARNING, logger="liaptui.store"):
        checkpointer.start()
        time.sleep(0.2)
        alive.clear()  # the writer stopped: the thread ends by itself
        checkpointer._thread.join(timeout=5)
    assert not checkpointer._thread.is_alive()
    assert checkpointer.failures > 0 and "background checkpoint" in caplog.text
    assert not gone.exists()


async def without_waiting(coro: Coroutine[Any, Any, T]) -> tuple[bool, T]:
    """Run `coro` to its end; True if it finished without ever waiting (nothing left the
    calling thread), with its result."""
    waited = False
    while True:
        try:
            awaited = coro.send(None)
        except StopIteration as done:
            return not waited, cast(T, done.value)
        waited = True
        if awaited is None:
            await asyncio.sleep(0)
        else:
            await asyncio.wait([awaited])


async def test_a_small_batch_commits_inline_when_the_database_thread_is_idle(
    tmp_path: Path,
) -> None:
    store = await SqliteEventStore.open(tmp_path / "inline.db", inline_batch=2)
    try:
        inline, results = await without_waiting(store.append_batch([req("room-1", 0, b"a")]))
        assert inline and isinstance(results[0], AppendResult)
        # Over the limit: the batch goes to the database thread.
        big = [req("room-2", 0, b"b"), req("room-3", 0, b"c"), req("room-4", 0, b"d")]
        inline, results = await without_waiting(store.append_batch(big))
        assert not inline and [r.first_position for r in results] == [2, 3, 4]  # type: ignore[union-attr]
    finally:
        await store.close()
    # FULL waits for the disk: never inline.
    full = await SqliteEventStore.open(tmp_path / "full.db", "FULL", inline_batch=2)
    try:
        assert not (await without_waiting(full.append_batch([req("room-1", 0, b"a")])))[0]
    finally:
        await full.close()


async def test_an_inline_commit_never_waits_for_another_writer(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    store = await SqliteEventStore.open(path, inline_batch=8)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        await store.append(req("room-1", 0, b"a"))
        other.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
        appending = asyncio.ensure_future(store.append(req("room-1", 1, b"b")))
        # The loop is not held: it runs on while the database thread waits for the lock.
        started = time.perf_counter()
        await asyncio.sleep(0.05)
        assert time.perf_counter() - started < 2.5  # waiting for the lock would take 5 s
        assert not appending.done()
        other.execute("ROLLBACK")
        assert (await appending).first_version == 2
        inline, _ = await without_waiting(store.append(req("room-1", 2, b"c")))
        assert inline, "inline commits resume once the lock is free"
        assert [e.data for e in await store.read_stream("room-1")] == [b"a", b"b", b"c"]
    finally:
        other.close()
        await store.close()


async def test_a_recovering_room_reads_on_the_calling_thread_unless_its_stream_is_archived(
    tmp_path: Path,
) -> None:
    store = await SqliteEventStore.open(tmp_path / "reads.db", inline_reads=True)
    try:
        await store.append(req("room-1", 0, b"a", b"b", b"c"))
        await store.save_snapshot(Snapshot("room-1", 2, 1, b"state at 2"))
        inline, (snap, events) = await without_waiting(store.load_latest("room-1", 1))
        assert inline and snap is not None and snap.payload == b"state at 2"
        assert [e.data for e in events] == [b"c"]
        # An archived stream's bundle is decompressed on the database thread.
        await store.append(req("match-a", 0, b"x", b"y"))
        await store.set_status("match-a", "completed")
        await store.archive_stream("match-a")
        inline, (snap, events) = await without_waiting(store.load_latest("match-a", 1))
        assert not inline and snap is None and [e.data for e in events] == [b"x", b"y"]
        # While the database thread holds the connection, the read waits for it there.
        store._lock.acquire()
        reading = asyncio.ensure_future(without_waiting(store.load_latest("room-1", 1)))
        await asyncio.sleep(0.01)
        assert not reading.done()
        store._lock.release()
        inline, (snap, events) = await reading
        assert not inline and [e.data for e in events] == [b"c"]
    finally:
        await store.close()
    # Without inline reads, every read hops.
    plain = await SqliteEventStore.open(tmp_path / "reads.db")
    try:
        assert not (await without_waiting(plain.load_latest("room-1", 1)))[0]
    finally:
        await plain.close()


async def test_append_batch_now_commits_inline_or_writes_nothing(tmp_path: Path) -> None:
    store = await SqliteEventStore.open(tmp_path / "now.db", inline_batch=2)
    try:
        done = store.append_batch_now([req("room-1", 0, b"a")])
        assert done is not None and isinstance(done[0], AppendResult)
        big = [req("room-2", 0, b"b"), req("room-3", 0, b"c"), req("room-4", 0, b"d")]
        assert store.append_batch_now(big) is None  # over the limit: the caller hops
        assert store.append_batch_now([]) == []
        with pytest.raises(ValueError):
            store.append_batch_now([req("room-5", -1, b"e")])
        assert await store.last_position() == 1
    finally:
        await store.close()


async def test_append_any_batch_now_commits_a_batch_of_any_size_inline_or_writes_nothing(
    tmp_path: Path,
) -> None:
    store = await SqliteEventStore.open(tmp_path / "any.db", inline_batch=2)
    try:
        big = [req(f"room-{n}", 0, b"x") for n in range(5)]
        done = store.append_any_batch_now(big)
        assert done is not None and [r.last_position for r in done] == [1, 2, 3, 4, 5]
        store._lock.acquire()  # the database thread is busy: nothing is written
        try:
            assert store.append_any_batch_now([req("room-9", 0, b"y")]) is None
        finally:
            store._lock.release()
        assert await store.last_position() == 5
    finally:
        await store.close()
    off = await SqliteEventStore.open(tmp_path / "off.db")  # inline commits off
    try:
        assert off.append_any_batch_now([req("room-1", 0, b"a")]) is None
        assert await off.last_position() == 0
    finally:
        await off.close()


async def test_reads_of_the_log_leave_the_committing_connection_free(tmp_path: Path) -> None:
    """The read models read the log often; holding the connection that commits sent the
    engine's inline commits to the database thread, behind those reads."""
    store = await SqliteEventStore.open(tmp_path / "log.db", inline_batch=8)
    try:
        await store.append(req("room-1", 0, b"a"))
        store._lock.acquire()  # the committing connection is in use
        try:
            page = await asyncio.wait_for(store.read_all(), 5)
            assert [e.data for e in page] == [b"a"]
            assert await asyncio.wait_for(store.last_position(), 5) == 1
        finally:
            store._lock.release()
    finally:
        await store.close()
