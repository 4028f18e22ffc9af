"""What the PostgreSQL store adds to the conformance suite: many writers in many processes'
connections, a server that goes away and comes back, typed errors at open, archival."""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import msgspec
import pytest

from engine.store import (
    AppendRequest,
    AppendResult,
    BadStoreUrl,
    BundlesMissing,
    ConcurrencyConflict,
    CorruptData,
    MemoryEventStore,
    NewEvent,
    OperationRefused,
    RecordedEvent,
    StoreNotFound,
    StoreUnavailable,
    StreamArchived,
    open_store,
)
from engine.store.postgres import PostgresEventStore
from engine.store.postgres.devserver import ThrowawayCluster, find_bindir, free_port, sweep_orphans
from engine.store.postgres.store import _READ_STREAM
from engine.store.url import redacted_url
from tests.pg import with_database
from tests.store.conftest import FakeClock


def req(
    stream_id: str, expected: int, *payloads: bytes, command_id: str | None = None
) -> AppendRequest:
    events = tuple(NewEvent("Played", 1, p) for p in payloads)
    return AppendRequest(stream_id, expected, events, command_id)


async def test_a_tailing_reader_sees_every_event_of_concurrent_writers_once_in_order(
    pg_url: str,
) -> None:
    writers = [await PostgresEventStore.open(pg_url, pool_size=2) for _ in range(6)]
    reader = await PostgresEventStore.open(pg_url)
    rounds, rooms_per_writer = 15, 4
    seen: list[RecordedEvent] = []
    done = asyncio.Event()

    async def write(index: int, store: PostgresEventStore) -> int:
        rng = random.Random(index)
        versions = dict.fromkeys((f"w{index}-room-{r}" for r in range(rooms_per_writer)), 0)
        written = 0
        for _ in range(rounds):
            batch = [
                req(room, version, *[b"e"] * rng.randint(1, 3))
                for room, version in versions.items()
            ]
            for result in await store.append_batch(batch):
                assert not isinstance(result, ConcurrencyConflict)
                versions[result.stream_id] = result.last_version
                written += result.last_version - result.first_version + 1
            await asyncio.sleep(rng.random() * 0.003)
        return written

    async def tail() -> None:
        position = 0
        while True:
            page = await reader.read_all(position, limit=37)
            seen.extend(page)
            if page:
                position = page[-1].position
            elif done.is_set() and position == await reader.last_position():
                return
            else:
                await reader.wait_for_position(position + 1, timeout=0.2)

    try:
        tailing = asyncio.create_task(tail())
        totals = await asyncio.gather(*(write(i, s) for i, s in enumerate(writers)))
        done.set()
        await asyncio.wait_for(tailing, 30)
    finally:
        for store in (*writers, reader):
            await store.close()
    assert [e.position for e in seen] == list(range(1, sum(totals) + 1))
    for room in {e.stream_id for e in seen}:
        versions = [e.version for e in seen if e.stream_id == room]
        assert versions == list(range(1, len(versions) + 1))


async def test_the_database_lets_one_of_two_racing_writers_take_a_version(pg_url: str) -> None:
    first = await PostgresEventStore.open(pg_url)
    second = await PostgresEventStore.open(pg_url)
    try:
        results = await asyncio.gather(
            first.append_batch([req("room-1", 0, b"from first")]),
            second.append_batch([req("room-1", 0, b"from second")]),
        )
        outcomes = [r[0] for r in results]
        assert sorted(isinstance(o, ConcurrencyConflict) for o in outcomes) == [False, True]
        assert len(await first.read_stream("room-1")) == 1
        conn = await asyncpg.connect(pg_url)
        try:
            # Whatever a client believes, the table takes each (stream, version) once.
            with pytest.raises(asyncpg.UniqueViolationError):
                await conn.execute(
                    "INSERT INTO liaptui.events VALUES (99, 'room-1', 1, 'Played', 1, '', 0, 0)"
                )
        finally:
            await conn.close()
    finally:
        await first.close()
        await second.close()


async def test_two_writers_creating_one_new_stream_at_once_get_an_ok_and_a_conflict(
    pg_url: str,
) -> None:
    """A new stream has no row to lock, so only the head serialises its creators: the
    second must see the first's row and fail alone in its slot, never as a failed batch."""
    first = await PostgresEventStore.open(pg_url)
    second = await PostgresEventStore.open(pg_url)
    try:
        for n in range(40):
            stream = f"fresh-{n}"
            results = await asyncio.gather(
                first.append_batch([req(stream, 0, b"one"), req(f"first-{n}", 0, b"x")]),
                second.append_batch([req(stream, 0, b"two"), req(f"second-{n}", 0, b"y")]),
            )
            outcomes = [r[0] for r in results]
            assert sorted(isinstance(o, ConcurrencyConflict) for o in outcomes) == [False, True]
            # The other request of each batch is written whichever won.
            assert all(isinstance(r[1], AppendResult) for r in results)
            assert len(await first.read_stream(stream)) == 1
    finally:
        await first.close()
        await second.close()


async def test_reading_a_stream_is_served_by_the_events_key_not_a_scan(pg_url: str) -> None:
    """Stream ids are collated differently in streams and events: joined on each other,
    the events' key cannot serve a read, which then scans the whole table."""
    store = await PostgresEventStore.open(pg_url)
    try:
        await store.append_batch([req(f"room-{n}", 0, b"a", b"b") for n in range(20)])
    finally:
        await store.close()
    conn = await asyncpg.connect(pg_url)
    try:
        # A generic plan, as a prepared statement gets after a few calls; scans priced
        # out, so that a small table's scan does not hide a join the key cannot serve.
        await conn.execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
        explain = await conn.prepare(f"EXPLAIN {_READ_STREAM}")
        plan = "\n".join(row[0] for row in await explain.fetch("room-3", 0, 10))
        # The events' key is searched by stream and version, nothing filtered after it.
        assert "Seq Scan on events" not in plan, plan
        assert "Filter" not in plan, plan
        assert "Index Cond: ((stream_id = " in plan, plan
    finally:
        await conn.close()


async def test_appends_fail_as_unavailable_while_the_server_is_down_and_resume_after(
    pg_cluster: ThrowawayCluster,
) -> None:
    url = pg_cluster.url
    store = await PostgresEventStore.open(url)
    other = await PostgresEventStore.open(url)
    try:
        await store.append(req("room-1", 0, b"a", command_id="c1"))
        pg_cluster.stop()
        with pytest.raises(StoreUnavailable):
            await store.append(req("room-1", 1, b"b", command_id="c2"))
        with pytest.raises(StoreUnavailable):
            await store.read_all(0)
        pg_cluster.start()
        result = None
        for _ in range(100):  # the pool reconnects on its own; nothing here reopens it
            try:
                result = await store.append(req("room-1", 1, b"b", command_id="c2"))
                break
            except StoreUnavailable:
                await asyncio.sleep(0.1)
        assert result is not None and result.last_version == 2
        assert [e.data for e in await store.read_stream("room-1")] == [b"a", b"b"]
        # The LISTEN connection comes back too: another store's append wakes this one.
        woken = 0
        for attempt in range(50):
            waiting = asyncio.create_task(store.wait_for_position(3 + attempt, timeout=5.0))
            await asyncio.sleep(0.05)
            await other.append(req("room-2", attempt, b"x"))
            woken = await waiting
            if woken >= 3 + attempt:
                break
        assert woken >= 3
    finally:
        await store.close()
        await other.close()


async def test_a_wrong_password_is_a_typed_error_at_open(pg_url: str) -> None:
    wrong = pg_url.replace("liaptui:", "liaptui:not", 1)
    with pytest.raises(StoreUnavailable, match="password"):
        await PostgresEventStore.open(wrong)


async def test_a_server_that_is_not_there_is_a_typed_error_at_open() -> None:
    with pytest.raises(StoreUnavailable):
        await PostgresEventStore.open(f"postgresql://liaptui@127.0.0.1:{free_port()}/x")


async def test_a_url_that_does_not_parse_is_a_typed_error_at_open() -> None:
    with pytest.raises(BadStoreUrl):
        await open_store("postgresql://liaptui@127.0.0.1:notaport/x")


async def test_a_backup_is_refused_with_the_way_to_make_one(pg_url: str) -> None:
    store = await open_store(pg_url)
    try:
        with pytest.raises(OperationRefused, match="pg_dump"):
            await store.backup("anywhere")
    finally:
        await store.close()


async def test_a_database_that_does_not_exist_is_a_typed_error_at_open(pg_url: str) -> None:
    with pytest.raises(StoreUnavailable, match="does not exist"):
        await PostgresEventStore.open(with_database(pg_url, "no_such_database"))


async def test_a_schema_from_a_newer_engine_is_refused_and_left_alone(pg_url: str) -> None:
    store = await PostgresEventStore.open(pg_url)
    await store.append(req("room-1", 0, b"a"))
    await store.close()
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute("UPDATE liaptui.meta SET value = 99 WHERE key = 'schema_version'")
        with pytest.raises(CorruptData, match="newer"):
            await PostgresEventStore.open(pg_url)
        assert await conn.fetchval("SELECT count(*) FROM liaptui.events") == 1
    finally:
        await conn.close()


async def test_a_read_only_store_reads_and_refuses_writes(pg_url: str) -> None:
    with pytest.raises(StoreNotFound, match="no event store"):
        await PostgresEventStore.open(pg_url, readonly=True)
    writer = await PostgresEventStore.open(pg_url)
    await writer.append(req("room-1", 0, b"a"))
    reader = await PostgresEventStore.open(pg_url, readonly=True)
    try:
        assert [e.data for e in await reader.read_all(0)] == [b"a"]
        with pytest.raises(OperationRefused):
            await reader.append(req("room-1", 1, b"b"))
        with pytest.raises(OperationRefused):
            await reader.set_status("room-1", "completed")
        assert await writer.last_position() == 1
    finally:
        await reader.close()
        await writer.close()


async def two_matches(store: PostgresEventStore) -> list[RecordedEvent]:
    for turn in range(3):
        await store.append_batch(
            [req("room-a", turn, b"a%d" % turn), req("room-b", turn, b"b%d" % turn)]
        )
    await store.set_status("room-a", "completed")
    return await store.read_all(0)


async def test_an_archived_match_reads_as_before_from_its_bundle(pg_url: str) -> None:
    store = await PostgresEventStore.open(pg_url)
    try:
        log = await two_matches(store)
        room_a = await store.read_stream("room-a")
        await store.archive_stream("room-a")
        await store.archive_stream("room-a")  # archived already: nothing to do
        info = await store.stream_info("room-a")
        assert info is not None and info.status == "archived"
        assert await store.read_stream("room-a") == room_a
        assert await store.read_stream("room-a", 1, 2) == room_a[1:2]
        for limit in (1, 2, 4, 100):
            paged: list[RecordedEvent] = []
            while page := await store.read_all(paged[-1].position if paged else 0, limit):
                paged += page
            assert paged == log
        assert isinstance(
            (await store.append_batch([req("room-a", 3, b"late")]))[0], StreamArchived
        )
        with pytest.raises(OperationRefused):
            await store.archive_stream("room-b")  # not completed
    finally:
        await store.close()


async def test_retention_forgets_old_bundles_and_export_import_moves_a_match(
    pg_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    store = await PostgresEventStore.open(pg_url, clock=clock)
    try:
        await two_matches(store)
        room_a = await store.read_stream("room-a")
        await store.archive_stream("room-a")
        await store.export_bundle("room-a", tmp_path / "room-a.bundle")
        assert await store.apply_retention(older_than_days=1) == []
        clock.advance(2 * 86_400)
        assert await store.apply_retention(older_than_days=1) == ["room-a"]
        assert await store.stream_info("room-a") is None
        assert await store.read_stream("room-a") == []
        assert await store.import_bundle(tmp_path / "room-a.bundle") == "room-a"
        assert await store.read_stream("room-a") == room_a
        with pytest.raises(OperationRefused):
            await store.import_bundle(tmp_path / "room-a.bundle")
    finally:
        await store.close()


async def test_a_lost_bundle_makes_read_all_refuse_until_it_is_given_up(pg_url: str) -> None:
    store = await PostgresEventStore.open(pg_url)
    await two_matches(store)
    await store.archive_stream("room-a")
    await store.close()
    conn = await asyncpg.connect(pg_url)
    await conn.execute("DELETE FROM liaptui.bundles")
    await conn.close()
    store = await PostgresEventStore.open(pg_url)
    try:
        assert store.missing_bundles == ("room-a",)
        with pytest.raises(BundlesMissing):
            await store.read_all(0)
        assert await store.forget_missing_bundles() == ["room-a"]
        assert {e.stream_id for e in await store.read_all(0)} == {"room-b"}
    finally:
        await store.close()


async def test_random_batches_get_the_outcomes_the_in_memory_store_gives(
    pg_url: str, clock: FakeClock
) -> None:
    """Repeated streams, retried commands and stale versions mixed in one batch: the
    server-side checks decide each request exactly as the reference backend does."""
    rng = random.Random(14)
    model = MemoryEventStore(clock=clock)
    store = await PostgresEventStore.open(pg_url, clock=clock)
    versions: dict[str, int] = {}
    # A command that failed on a stale version, then succeeded, then was retried.
    first = [req("room-0", 5, b"x", command_id="k"), req("room-0", 0, b"y", command_id="k")]
    first.append(req("room-0", 1, b"z", command_id="k"))
    try:
        for index in range(40):
            batch = first if index == 0 else []
            for _ in range(rng.randint(1, 8) if batch is not first else 0):
                room = f"room-{rng.randint(1, 4)}"
                expected = versions.get(room, 0) + rng.choice([0, 0, 0, 1, -1])
                command_id = rng.choice([None, f"c{rng.randint(1, 12)}"])
                payloads = [b"%d" % rng.randint(0, 99) for _ in range(rng.randint(1, 3))]
                batch.append(req(room, max(expected, 0), *payloads, command_id=command_id))
                versions[room] = versions.get(room, 0) + rng.randint(0, 1)
            if rng.random() < 0.1:
                room = f"room-{rng.randint(1, 4)}"
                if await model.stream_info(room) is not None:
                    await model.set_status(room, "completed")
                    await store.set_status(room, "completed")
            expected_results = await model.append_batch(batch)
            results = await store.append_batch(batch)
            assert [_outcome(r) for r in results] == [_outcome(r) for r in expected_results]
            for room in {r.stream_id for r in batch}:
                info = await model.stream_info(room)
                versions[room] = 0 if info is None else info.last_version
        assert shapes(await store.read_all(0)) == shapes(await model.read_all(0))
        for room in versions:
            assert await store.read_commands(room) == await model.read_commands(room)
    finally:
        await store.close()
        await model.close()


def _outcome(result: AppendResult | ConcurrencyConflict) -> tuple[object, ...]:
    if isinstance(result, ConcurrencyConflict):
        return (type(result).__name__, result.stream_id, result.actual_version)
    return tuple(msgspec.structs.astuple(result))


def shapes(events: list[RecordedEvent]) -> list[tuple[object, ...]]:
    return [(e.stream_id, e.version, e.position, e.type, e.data) for e in events]


def test_the_main_job_plays_its_matches_on_postgresql(pg_url: str) -> None:
    """`liaptui simulate --db postgresql://…` end to end, read models included."""
    done = subprocess.run(
        [sys.executable, "-m", "actors.cli", "simulate", "--rooms", "2", "--db", pg_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert "durable commands/s" in done.stdout and "leaderboard" in done.stdout
    assert "Bot 2" in done.stdout  # a row the read models folded from the server's log
    password = urlsplit(pg_url).password
    assert password and password not in done.stdout.split("open a match")[0]


def test_a_printed_store_url_hides_its_password() -> None:
    assert redacted_url("postgresql://engine:s3cr:et@db:5432/games") == (
        "postgresql://engine:***@db:5432/games"
    )
    assert redacted_url("postgresql://engine@db/games") == "postgresql://engine@db/games"
    assert redacted_url("games.db") == "games.db"


def test_a_cluster_whose_test_run_died_is_stopped_by_the_next_one() -> None:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL binaries")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    # Owned by this process while it is made (another test process's sweep must not take it
    # half-made), then handed to the dead one; any process's sweep may stop it from there.
    orphan = ThrowawayCluster.new(bindir, durable=False, owner=os.getpid())
    try:
        orphan.start()
        orphan.set_owner(int(gone.stdout))
        sweep_orphans(bindir)
        assert not orphan.folder.exists()
        with pytest.raises(StoreUnavailable):
            asyncio.run(PostgresEventStore.open(orphan.url))
    finally:
        orphan.stop()
        orphan.delete()


async def test_a_reader_is_woken_by_another_process_append_through_notify(pg_url: str) -> None:
    reader = await PostgresEventStore.open(pg_url)
    writer = await PostgresEventStore.open(pg_url)
    try:
        waiting = asyncio.create_task(reader.wait_for_position(1, timeout=60.0))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await writer.append(req("room-1", 0, b"a"))
        # Nothing but the NOTIFY can end this wait before its 60 s timeout.
        assert await asyncio.wait_for(waiting, 20.0) == 1
    finally:
        await reader.close()
        await writer.close()


def commanded(stream_id: str, expected: int, command_id: str, body: bytes) -> AppendRequest:
    events = (NewEvent("Played", 1, body),)
    return AppendRequest(stream_id, expected, events, command_id, body, 1.0, body)


async def test_a_damaged_commands_row_is_refused_on_read_and_on_retry(pg_url: str) -> None:
    store = await PostgresEventStore.open(pg_url)
    try:
        await store.append(commanded("room-1", 0, "c-1", b"declare"))
        await store.append(commanded("room-2", 0, "c-1", b"declare"))
        conn = await asyncpg.connect(pg_url)
        try:
            # One byte of the body changed behind the store's back, as a bad disk would.
            await conn.execute(
                "UPDATE liaptui.commands SET command = 'declarf'::bytea WHERE stream_id = 'room-1'"
            )
            with pytest.raises(CorruptData, match="checksum"):
                await store.read_commands("room-1")
            with pytest.raises(CorruptData, match="checksum"):
                await store.append(commanded("room-1", 0, "c-1", b"declare"))
            # The whole call rolled back: nothing of the batch was written.
            with pytest.raises(CorruptData):
                await store.append_batch(
                    [commanded("room-3", 0, "c-9", b"x"), commanded("room-1", 0, "c-1", b"d")]
                )
            assert await store.last_position() == 2
            assert await store.stream_info("room-3") is None
            assert [c.command for c in await store.read_commands("room-2")] == [b"declare"]
            assert (await store.append(commanded("room-2", 0, "c-1", b"declare"))).duplicate
        finally:
            await conn.close()
    finally:
        await store.close()


async def test_a_schema_1_database_is_upgraded_with_checksums(pg_url: str) -> None:
    store = await PostgresEventStore.open(pg_url)
    await store.append(commanded("room-1", 0, "c-1", b"declare"))
    await store.close()
    conn = await asyncpg.connect(pg_url)
    try:  # back to schema 1: no digest, no checksum
        await conn.execute("ALTER TABLE liaptui.commands DROP COLUMN digest, DROP COLUMN checksum")
        await conn.execute("UPDATE liaptui.meta SET value = 1 WHERE key = 'schema_version'")
        with pytest.raises(CorruptData, match="schema version 1"):
            await PostgresEventStore.open(pg_url, readonly=True)
        store = await PostgresEventStore.open(pg_url)
        try:
            assert [c.command for c in await store.read_commands("room-1")] == [b"declare"]
            # No digest was recorded: a retry is named by its id alone.
            assert (await store.append(commanded("room-1", 0, "c-1", b"other"))).duplicate
            assert await conn.fetchval("SELECT value FROM liaptui.meta") == 2
        finally:
            await store.close()
    finally:
        await conn.close()
