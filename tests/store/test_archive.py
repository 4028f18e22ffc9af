"""Archival of completed streams: bundles, crash safety, export/import and retention."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from engine.store import (
    AppendRequest,
    BundlesMissing,
    ConcurrencyConflict,
    CorruptData,
    NewEvent,
    OperationRefused,
    RecordedEvent,
    SqliteEventStore,
    StreamArchived,
    StreamNotFound,
)
from engine.store.bundle import Bundle, decode_bundle, split_bundle
from engine.store.sqlite import ArchiveStep, StoreReader, default_archive_path
from tests.store.conftest import FakeClock, SqliteOpener
from tests.store.support import archive_files, flip_bytes, lose_archive

DAY = 86_400.0


class Interrupted(Exception):
    """Stands for a crash between two archive steps."""


def req(stream_id: str, expected: int, *payloads: bytes) -> AppendRequest:
    return AppendRequest(
        stream_id, expected, tuple(NewEvent("Played", 1, payload) for payload in payloads)
    )


async def two_matches(store: SqliteEventStore) -> list[RecordedEvent]:
    """Play two interleaved matches, finish "match-a", and return the whole log."""
    for turn in range(6):
        await store.append_batch(
            [
                req("match-a", turn, b"a%d" % turn),
                req("match-b", turn * 2, b"b%d" % turn, b"b%d'" % turn),
            ]
        )
    await store.set_status("match-a", "completed")
    return await store.read_all()


def of(stream_id: str, log: list[RecordedEvent]) -> list[RecordedEvent]:
    return [e for e in log if e.stream_id == stream_id]


async def read_all_paged(store: SqliteEventStore, limit: int) -> list[RecordedEvent]:
    seen: list[RecordedEvent] = []
    while page := await store.read_all(seen[-1].position if seen else 0, limit):
        seen += page
    return seen


async def test_archived_stream_reads_as_before(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    await store.archive_stream("match-a")
    info = await store.stream_info("match-a")
    assert info is not None and (info.status, info.last_version) == ("archived", 6)
    assert await store.read_stream("match-a") == of("match-a", log)
    assert await store.read_stream("match-a", 2, 4) == of("match-a", log)[2:4]
    hot_rows = await store._run(
        lambda: store._hot.execute(
            "SELECT count(*) FROM events WHERE stream_id = 'match-a'"
        ).fetchone()[0]
    )
    assert hot_rows == 0


async def test_archived_events_merge_into_read_all_in_global_order(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    await store.archive_stream("match-a")
    assert await store.read_all() == log
    for limit in (1, 2, 5):
        assert await read_all_paged(store, limit) == log
    store = await open_sqlite.reopen(store)
    assert await read_all_paged(store, 3) == log


async def test_archived_events_of_some_types_merge_into_read_all(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    for turn in range(6):
        await store.append_batch(
            [
                AppendRequest(
                    "match-a", turn, (NewEvent("Won" if turn % 2 else "Played", 1, b"a"),)
                ),
                AppendRequest(
                    "match-b", turn, (NewEvent("Won" if turn % 3 else "Played", 1, b"b"),)
                ),
            ]
        )
    await store.set_status("match-a", "completed")
    log = await store.read_all()
    won = [e for e in log if e.type == "Won"]
    await store.archive_stream("match-a")
    assert await store.read_all(0, 1000, types={"Won"}) == won
    for limit in (1, 2, 3):
        seen: list[RecordedEvent] = []
        while page := await store.read_all(seen[-1].position if seen else 0, limit, types={"Won"}):
            seen += page
        assert seen == won
    reader = reader_of(open_sqlite)
    try:
        assert reader.read_all(0, 1000, types={"Won"}) == won
    finally:
        reader.close()


async def test_only_completed_streams_are_archived(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await two_matches(store)
    with pytest.raises(OperationRefused):
        await store.archive_stream("match-b")
    with pytest.raises(StreamNotFound):
        await store.archive_stream("nobody")


async def test_archived_stream_takes_no_more_events(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await two_matches(store)
    await store.archive_stream("match-a")
    with pytest.raises(StreamArchived) as caught:
        await store.append(req("match-a", 6, b"late"))
    assert isinstance(caught.value, ConcurrencyConflict)
    with pytest.raises(OperationRefused):
        await store.set_status("match-a", "active")
    await store.archive_stream("match-a")  # archiving twice is harmless


@pytest.mark.parametrize("stop_after", ["built", "bundled", "archived"])
async def test_archival_interrupted_between_steps_reads_each_event_once(
    open_sqlite: SqliteOpener, stop_after: ArchiveStep
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)

    def crash(step: ArchiveStep) -> None:
        if step == stop_after:
            raise Interrupted(step)

    with pytest.raises(Interrupted):
        await store.archive_stream("match-a", on_step=crash)
    # Even before recovery, every event reads exactly once.
    assert await store.read_stream("match-a") == of("match-a", log)
    assert await read_all_paged(store, 4) == log
    store = await open_sqlite.reopen(store)
    assert await store.read_stream("match-a") == of("match-a", log)
    assert await store.read_all() == log
    assert await read_all_paged(store, 4) == log
    info = await store.stream_info("match-a")
    assert info is not None
    # Recovery finishes an archival whose bundle was committed; otherwise it starts over.
    assert info.status == ("completed" if stop_after == "built" else "archived")
    await store.archive_stream("match-a")
    assert await store.read_all() == log
    info = await store.stream_info("match-a")
    assert info is not None and info.status == "archived"


async def test_stream_appended_to_during_archival_stays_hot(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await two_matches(store)
    archive = store._archive
    # The archival's steps run by hand, with an append landing between steps 2 and 3.
    bundle = await store._run(lambda: archive.build("match-a", 0.0))
    assert bundle is not None
    await store._run(lambda: archive.store(bundle, 0.0))
    await store.append(req("match-a", 6, b"late"))
    with pytest.raises(ConcurrencyConflict):
        await store._run(lambda: archive.finish(bundle.header, 0.0))
    assert [e.data for e in await store.read_stream("match-a")][-1] == b"late"
    assert await store._run(lambda: archive.stored("match-a")) is None


async def test_export_then_import_into_a_scratch_store(
    open_sqlite: SqliteOpener, tmp_path: Path
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    await store.archive_stream("match-a")
    await store.export_bundle("match-a", tmp_path / "a.bundle")
    await store.export_bundle("match-b", tmp_path / "b.bundle")  # a hot stream exports too
    scratch = await SqliteEventStore.open(tmp_path / "scratch.db")
    try:
        assert await scratch.import_bundle(tmp_path / "a.bundle") == "match-a"
        assert await scratch.import_bundle(tmp_path / "b.bundle") == "match-b"
        assert await scratch.read_stream("match-a") == of("match-a", log)
        assert await scratch.read_all() == log
        assert await scratch.last_position() == log[-1].position
        info = await scratch.stream_info("match-a")
        assert info is not None and (info.status, info.last_version) == ("archived", 6)
        with pytest.raises(OperationRefused):
            await scratch.import_bundle(tmp_path / "a.bundle")
    finally:
        await scratch.close()
    with pytest.raises(OperationRefused):
        await store.import_bundle(tmp_path / "b.bundle")


async def test_import_refuses_positions_already_used(
    open_sqlite: SqliteOpener, tmp_path: Path
) -> None:
    store = await open_sqlite()
    await two_matches(store)
    await store.export_bundle("match-a", tmp_path / "a.bundle")
    other = await SqliteEventStore.open(tmp_path / "other.db")
    try:
        await other.append(req("someone-else", 0, b"x", b"y", b"z"))
        with pytest.raises(OperationRefused):
            await other.import_bundle(tmp_path / "a.bundle")
        assert await other.stream_info("match-a") is None
    finally:
        await other.close()


@pytest.mark.parametrize("damage", ["body", "header", "truncated", "magic"])
async def test_corrupt_bundle_file_is_refused(
    open_sqlite: SqliteOpener, tmp_path: Path, damage: str
) -> None:
    store = await open_sqlite()
    await two_matches(store)
    path = tmp_path / "a.bundle"
    await store.export_bundle("match-a", path)
    raw = bytearray(path.read_bytes())
    header, _ = split_bundle(bytes(raw))
    if damage == "body":
        raw[len(header) + 5] ^= 0x01
    elif damage == "header":
        raw[len(header) - 3] ^= 0x01
    elif damage == "truncated":
        raw = raw[: len(raw) - 4]
    else:
        raw[0:8] = b"NOTABNDL"
    path.write_bytes(bytes(raw))
    scratch = await SqliteEventStore.open(tmp_path / "scratch.db")
    try:
        with pytest.raises(CorruptData):
            await scratch.import_bundle(path)
        assert await scratch.list_streams() == []
    finally:
        await scratch.close()


async def test_corrupt_bundle_in_the_archive_file_is_reported(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await two_matches(store)
    await store.archive_stream("match-a")
    bundle = await store._run(lambda: store._archive.stored("match-a"))
    assert bundle is not None
    await store.close()
    flip_bytes(Path(f"{open_sqlite.path}.archive.db"), bundle.body[10:40])
    store = await open_sqlite()
    with pytest.raises(CorruptData) as caught:
        await store.read_stream("match-a")
    assert caught.value.stream_id == "match-a"
    with pytest.raises(CorruptData):
        await store.read_all()


async def test_bundle_header_lists_what_it_holds(
    open_sqlite: SqliteOpener, clock: FakeClock
) -> None:
    store = await open_sqlite()
    await store.append(
        AppendRequest("m", 0, (NewEvent("Dealt", 2, b"d"), NewEvent("Played", 1, b"p")))
    )
    await store.set_status("m", "completed")
    await store.archive_stream("m")
    bundle = await store._run(lambda: store._archive.stored("m"))
    assert bundle is not None
    header, events = decode_bundle(bundle.header_bytes, bundle.body)
    assert (header.stream_id, header.first_version, header.last_version) == ("m", 1, 2)
    assert (header.first_position, header.last_position, header.event_count) == (1, 2, 2)
    assert set(header.kinds) == {("Dealt", 2), ("Played", 1)}
    assert header.created_at == clock.now
    assert [e.data for e in events] == [b"d", b"p"]


async def test_retention_forgets_bundles_older_than_the_limit(
    open_sqlite: SqliteOpener, clock: FakeClock
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    await store.archive_stream("match-a")
    clock.advance(10 * DAY)
    assert await store.apply_retention(None) == []
    assert await store.apply_retention(30) == []
    assert await store.read_stream("match-a") == of("match-a", log)
    clock.advance(25 * DAY)
    assert await store.apply_retention(30) == ["match-a"]
    assert await store.stream_info("match-a") is None
    assert await store.read_stream("match-a") == []
    assert await store.read_all() == of("match-b", log)
    store = await open_sqlite.reopen(store)
    assert await store.read_all() == of("match-b", log)
    assert await store.last_position() == log[-1].position


async def test_archive_is_a_second_file_beside_the_store(open_sqlite: SqliteOpener) -> None:
    await open_sqlite()
    assert Path(f"{open_sqlite.path}.archive.db").is_file()


async def test_archive_path_can_be_chosen(open_sqlite: SqliteOpener, tmp_path: Path) -> None:
    chosen = tmp_path / "elsewhere" / "bundles.db"
    chosen.parent.mkdir()
    store = await SqliteEventStore.open(open_sqlite.path, archive_path=chosen)
    try:
        log = await two_matches(store)
        await store.archive_stream("match-a")
    finally:
        await store.close()
    assert chosen.is_file()
    store = await SqliteEventStore.open(open_sqlite.path, archive_path=chosen)
    try:
        assert await store.read_all() == log
    finally:
        await store.close()


async def test_import_interrupted_before_its_stream_row_is_finished_on_open(
    open_sqlite: SqliteOpener, tmp_path: Path
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    await store.export_bundle("match-a", tmp_path / "a.bundle")
    scratch_path = tmp_path / "scratch.db"
    scratch = await SqliteEventStore.open(scratch_path)
    header, body = split_bundle((tmp_path / "a.bundle").read_bytes())
    decoded, _ = decode_bundle(header, body)
    # Only the archive half of the import happens before the "crash".
    await scratch._run(lambda: scratch._archive.store(Bundle(decoded, header, body), 0.0))
    assert await scratch.stream_info("match-a") is None
    await scratch.close()
    scratch = await SqliteEventStore.open(scratch_path)
    try:
        info = await scratch.stream_info("match-a")
        assert info is not None and info.status == "archived"
        assert await scratch.read_stream("match-a") == of("match-a", log)
        assert await scratch.last_position() == of("match-a", log)[-1].position
    finally:
        await scratch.close()


def reader_of(opener: SqliteOpener) -> StoreReader:
    """A reader of the opener's store files on connections of its own."""
    return StoreReader(str(opener.path), str(default_archive_path(opener.path)))


async def test_a_reader_on_connections_of_its_own_reads_the_log_as_the_store_does(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    reader = reader_of(open_sqlite)
    try:
        seen: list[tuple[str, list[RecordedEvent]]] = []
        await store.archive_stream(
            "match-a", on_step=lambda step: seen.append((step, reader.read_all(0, 1000)))
        )
        assert [step for step, _ in seen] == ["built", "bundled", "archived"]
        for step, page in seen:
            assert page == log, step
        paged: list[RecordedEvent] = []
        while page := reader.read_all(paged[-1].position if paged else 0, 5):
            paged += page
        assert paged == log == await read_all_paged(store, 5)
        assert reader.last_position() == log[-1].position
        with pytest.raises(ValueError):
            reader.read_all(0, 0)
    finally:
        reader.close()


async def test_a_stream_archived_while_a_reader_reads_is_read_once(
    open_sqlite: SqliteOpener,
) -> None:
    """The reader's page holds one snapshot of the hot file: a stream archived (here by the
    store, on its own thread, as another process would) between its read of the hot
    events and its look at the bundles is not read a second time."""
    store = await open_sqlite()
    log = await two_matches(store)
    reader = reader_of(open_sqlite)
    reached, archived = threading.Event(), threading.Event()

    def pause_at_the_bundles(statement: str) -> None:
        if "FROM bundles" in statement and not reached.is_set():
            reached.set()
            archived.wait(10)

    try:
        reader.last_position()  # opens its connections
        reader._open().db.set_trace_callback(pause_at_the_bundles)
        reading = asyncio.ensure_future(asyncio.to_thread(reader.read_all, 0, 1000))
        assert await asyncio.to_thread(reached.wait, 10)
        await store.archive_stream("match-a")
        archived.set()
        assert await reading == log
        assert reader.read_all(0, 1000) == log  # and afterwards from the bundle
    finally:
        archived.set()
        reader.close()


def _hot_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(path)
    try:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall()
            for table in ("events", "streams", "commands", "snapshots")
        }
    finally:
        conn.close()


async def test_a_lost_archive_file_makes_read_all_refuse_instead_of_skipping_matches(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    await store.archive_stream("match-a")
    await store.close()
    lose_archive(open_sqlite.path)
    before = _hot_rows(open_sqlite.path)

    store = await open_sqlite()
    assert store.missing_bundles == ("match-a",)
    with pytest.raises(BundlesMissing) as refused:
        await store.read_all()
    assert refused.value.stream_ids == ("match-a",)
    assert "match-a" in str(refused.value) and isinstance(refused.value, CorruptData)
    with pytest.raises(CorruptData):
        await store.read_stream("match-a")
    # The rest of the store works, and nothing stored was changed by opening it.
    assert await store.read_stream("match-b") == of("match-b", log)
    await store.close()
    assert _hot_rows(open_sqlite.path) == before

    store = await open_sqlite()
    assert await store.forget_missing_bundles() == ["match-a"]
    assert store.missing_bundles == ()
    assert await store.read_all() == of("match-b", log)
    assert await store.stream_info("match-a") is None
    store = await open_sqlite.reopen(store)
    assert store.missing_bundles == () and await store.read_all() == of("match-b", log)


async def test_an_older_archive_file_put_back_is_noticed_and_the_right_one_heals_it(
    open_sqlite: SqliteOpener, tmp_path: Path
) -> None:
    store = await open_sqlite()
    log = await two_matches(store)
    await store.close()  # a checkpointed, closed archive file: a backup taken now
    saved = {file: file.read_bytes() for file in archive_files(open_sqlite.path) if file.exists()}
    store = await open_sqlite()
    await store.archive_stream("match-a")
    await store.close()
    current = {f: f.read_bytes() for f in archive_files(open_sqlite.path) if f.exists()}
    lose_archive(open_sqlite.path)
    for file, raw in saved.items():
        file.write_bytes(raw)

    store = await open_sqlite()
    assert store.missing_bundles == ("match-a",)
    with pytest.raises(BundlesMissing):
        await store.read_all(0, 1000, types={"Played"})
    await store.close()
    lose_archive(open_sqlite.path)
    for file, raw in current.items():
        file.write_bytes(raw)
    store = await open_sqlite()
    assert store.missing_bundles == ()
    assert await store.read_all() == log


async def test_with_bundles_missing_read_all_still_serves_pages_past_their_last_event(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    for turn in range(4):  # as the engine appends: each with its command
        await store.append_batch(
            [
                AppendRequest(
                    room,
                    turn,
                    (NewEvent("Played", 1, b"%s%d" % (room.encode(), turn)),),
                    f"c{turn}",
                    b"command",
                    1.0,
                )
                for room in ("match-a", "match-b")
            ]
        )
    await store.set_status("match-a", "completed")
    await store.archive_stream("match-a")
    log = await store.read_all()
    last_of_a = max(e.position for e in log if e.stream_id == "match-a")
    await store.append(AppendRequest("match-b", 4, (NewEvent("Played", 1, b"later"),)))
    await store.close()
    lose_archive(open_sqlite.path)

    store = await open_sqlite()
    assert store.missing_bundles == ("match-a",)
    for start in (0, last_of_a - 1):
        with pytest.raises(BundlesMissing):
            await store.read_all(start)
    later = await store.read_all(last_of_a)
    assert [e.data for e in later] == [b"match-b3", b"later"]
