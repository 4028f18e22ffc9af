"""The EventStore contract, checked against every backend (SQLite and memory)."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.store import (
    AppendRequest,
    AppendResult,
    CommandIdReused,
    ConcurrencyConflict,
    NewEvent,
    OperationRefused,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    StreamNotFound,
)
from tests.store.conftest import FakeClock, StoreOpener


def events(*payloads: bytes, type_: str = "Played") -> tuple[NewEvent, ...]:
    return tuple(NewEvent(type_, 1, payload) for payload in payloads)


def req(
    stream_id: str,
    expected: int,
    *payloads: bytes,
    command_id: str | None = None,
    command: bytes | None = None,
    command_at: float | None = None,
) -> AppendRequest:
    return AppendRequest(stream_id, expected, events(*payloads), command_id, command, command_at)


def shape(recorded: list[RecordedEvent]) -> list[tuple[str, int, int, bytes]]:
    return [(e.stream_id, e.version, e.position, e.data) for e in recorded]


async def test_first_append_starts_at_version_one_and_position_one(open_store: StoreOpener) -> None:
    store = await open_store()
    result = await store.append(req("room-1", 0, b"a", b"b"))
    assert result == AppendResult("room-1", 1, 2, 1, 2, duplicate=False)
    assert shape(await store.read_stream("room-1")) == [
        ("room-1", 1, 1, b"a"),
        ("room-1", 2, 2, b"b"),
    ]
    assert await store.last_position() == 2


async def test_versions_stay_contiguous_across_appends(open_store: StoreOpener) -> None:
    store = await open_store()
    version = 0
    for size in (1, 3, 2):
        result = await store.append(req("room-1", version, *[b"x"] * size))
        assert result.first_version == version + 1
        version = result.last_version
    assert [e.version for e in await store.read_stream("room-1")] == [1, 2, 3, 4, 5, 6]


async def test_recorded_event_keeps_type_schema_version_and_time(
    open_store: StoreOpener, clock: FakeClock
) -> None:
    store = await open_store()
    await store.append(AppendRequest("room-1", 0, (NewEvent("Dealt", 3, b"\x81\xa1a\x01"),)))
    (event,) = await store.read_stream("room-1")
    assert (event.type, event.schema_version, event.data) == ("Dealt", 3, b"\x81\xa1a\x01")
    assert event.recorded_at == clock.now


async def test_read_stream_returns_versions_after_from_up_to_to(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"1", b"2", b"3", b"4", b"5"))
    assert [e.version for e in await store.read_stream("room-1", 2)] == [3, 4, 5]
    assert [e.version for e in await store.read_stream("room-1", 1, 3)] == [2, 3]
    assert [e.version for e in await store.read_stream("room-1", 0, 99)] == [1, 2, 3, 4, 5]
    assert await store.read_stream("room-1", 5) == []
    assert await store.read_stream("room-1", 3, 2) == []


async def test_unknown_stream_reads_empty(open_store: StoreOpener) -> None:
    store = await open_store()
    assert await store.read_stream("nobody") == []
    assert await store.stream_info("nobody") is None
    assert await store.read_commands("nobody") == []


async def test_conflict_writes_nothing(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a"))
    with pytest.raises(ConcurrencyConflict) as caught:
        await store.append(req("room-1", 0, b"b", command_id="c1", command=b"cmd"))
    assert (caught.value.stream_id, caught.value.expected_version, caught.value.actual_version) == (
        "room-1",
        0,
        1,
    )
    assert caught.value.code == "concurrency_conflict"
    assert shape(await store.read_stream("room-1")) == [("room-1", 1, 1, b"a")]
    assert await store.last_position() == 1
    assert await store.read_commands("room-1") == []
    # The refused command id was not recorded, so it can still be applied.
    result = await store.append(req("room-1", 1, b"b", command_id="c1"))
    assert not result.duplicate


async def test_new_stream_requires_expected_version_zero(open_store: StoreOpener) -> None:
    store = await open_store()
    with pytest.raises(ConcurrencyConflict):
        await store.append(req("room-1", 3, b"a"))
    assert await store.stream_info("room-1") is None
    assert await store.last_position() == 0


async def test_retried_command_returns_the_original_result(open_store: StoreOpener) -> None:
    store = await open_store()
    first = await store.append(req("room-1", 0, b"a", b"b", command_id="c1", command=b"cmd"))
    await store.append(req("room-1", 2, b"c"))
    # The retry carries the stale expected version the first attempt had.
    retry = await store.append(req("room-1", 0, b"a", b"b", command_id="c1", command=b"cmd"))
    assert retry == AppendResult("room-1", 1, 2, 1, 2, duplicate=True)
    assert retry.first_position == first.first_position
    assert len(await store.read_stream("room-1")) == 3
    assert await store.last_position() == 3


async def test_command_ids_are_per_stream(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a", command_id="c1"))
    other = await store.append(req("room-2", 0, b"b", command_id="c1"))
    assert not other.duplicate


async def test_batch_conflict_fails_alone_while_others_commit(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-2", 0, b"old"))
    results = await store.append_batch(
        [req("room-1", 0, b"a"), req("room-2", 0, b"clash"), req("room-3", 0, b"c")]
    )
    assert results[0] == AppendResult("room-1", 1, 1, 2, 2)
    assert isinstance(results[1], ConcurrencyConflict)
    assert results[1].actual_version == 1
    assert results[2] == AppendResult("room-3", 1, 1, 3, 3)
    assert shape(await store.read_stream("room-2")) == [("room-2", 1, 1, b"old")]
    assert shape(await store.read_all()) == [
        ("room-2", 1, 1, b"old"),
        ("room-1", 1, 2, b"a"),
        ("room-3", 1, 3, b"c"),
    ]


async def test_batch_applies_requests_for_one_stream_in_order(open_store: StoreOpener) -> None:
    store = await open_store()
    results = await store.append_batch(
        [req("room-1", 0, b"a"), req("room-1", 1, b"b", b"c"), req("room-1", 1, b"late")]
    )
    assert results[0] == AppendResult("room-1", 1, 1, 1, 1)
    assert results[1] == AppendResult("room-1", 2, 3, 2, 3)
    assert isinstance(results[2], ConcurrencyConflict)
    assert results[2].actual_version == 3
    assert [e.data for e in await store.read_stream("room-1")] == [b"a", b"b", b"c"]


async def test_batch_with_a_command_twice_applies_it_once(open_store: StoreOpener) -> None:
    store = await open_store()
    results = await store.append_batch(
        [req("room-1", 0, b"a", command_id="c1"), req("room-1", 0, b"a", command_id="c1")]
    )
    assert results[1] == AppendResult("room-1", 1, 1, 1, 1, duplicate=True)
    assert len(await store.read_stream("room-1")) == 1


async def test_empty_batch_writes_nothing(open_store: StoreOpener) -> None:
    store = await open_store()
    assert await store.append_batch([]) == []
    assert await store.last_position() == 0


async def test_append_without_events_is_refused(open_store: StoreOpener) -> None:
    store = await open_store()
    with pytest.raises(ValueError):
        await store.append(AppendRequest("room-1", 0, ()))
    with pytest.raises(ValueError):
        await store.append(req("room-1", 0, b"a", command=b"no id"))


async def test_read_all_interleaves_streams_in_global_order(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("a", 0, b"a1"))
    await store.append(req("b", 0, b"b1", b"b2"))
    await store.append_batch([req("a", 1, b"a2"), req("c", 0, b"c1")])
    everything = await store.read_all()
    assert [(e.stream_id, e.data) for e in everything] == [
        ("a", b"a1"),
        ("b", b"b1"),
        ("b", b"b2"),
        ("a", b"a2"),
        ("c", b"c1"),
    ]
    assert [e.position for e in everything] == [1, 2, 3, 4, 5]
    assert shape(await store.read_all(2, limit=2)) == shape(everything[2:4])
    assert await store.read_all(5) == []


async def test_read_all_pages_cover_every_event_once(open_store: StoreOpener) -> None:
    store = await open_store()
    for round_ in range(5):
        await store.append_batch([req(f"s{i}", round_, b"%d" % round_) for i in range(7)])
    seen: list[RecordedEvent] = []
    while page := await store.read_all(seen[-1].position if seen else 0, limit=4):
        seen += page
    assert shape(seen) == shape(await store.read_all(0, limit=1000))
    assert len(seen) == 35


async def test_read_all_of_some_types_pages_over_the_others(open_store: StoreOpener) -> None:
    store = await open_store()
    for round_ in range(6):
        await store.append_batch(
            [
                AppendRequest(
                    f"s{i}",
                    round_ * 2,
                    (NewEvent("Played", 1, b"p"), NewEvent("Scored" if i % 2 else "Won", 1, b"w")),
                )
                for i in range(5)
            ]
        )
    everything = await store.read_all(0, limit=1000)
    wanted = {"Scored", "Won"}
    expected = [e for e in everything if e.type in wanted]
    assert len(expected) == 30 and await store.read_all(0, 1000, types=wanted) == expected
    for limit in (1, 4, 7):
        seen: list[RecordedEvent] = []
        while page := await store.read_all(seen[-1].position if seen else 0, limit, types=wanted):
            assert len(page) <= limit
            seen += page
        assert seen == expected
    assert await store.read_all(0, 1000, types={"Scored"}) == [
        e for e in everything if e.type == "Scored"
    ]
    assert await store.read_all(0, 1000, types=()) == []
    assert await store.read_all(0, 1000, types={"Unknown"}) == []


async def test_waiting_reader_is_woken_by_an_append(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a"))
    waiter = asyncio.create_task(store.wait_for_position(2, timeout=10.0))
    await asyncio.sleep(0.05)
    assert not waiter.done()
    started = time.perf_counter()
    await store.append(req("room-1", 1, b"b"))
    assert await asyncio.wait_for(waiter, 2.0) == 2
    # Woken by the commit itself, far sooner than any polling interval would give.
    assert time.perf_counter() - started < 1.0


async def test_wait_returns_at_once_when_already_reached(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a", b"b"))
    assert await store.wait_for_position(1, timeout=10.0) == 2


async def test_wait_returns_the_current_position_on_timeout(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a"))
    started = time.perf_counter()
    assert await store.wait_for_position(5, timeout=0.05) == 1
    assert time.perf_counter() - started < 1.0


async def test_stream_info_tracks_versions_and_times(
    open_store: StoreOpener, clock: FakeClock
) -> None:
    store = await open_store()
    created = clock.now
    await store.append(req("room-1", 0, b"a"))
    clock.advance(5)
    await store.append(req("room-1", 1, b"b"))
    info = await store.stream_info("room-1")
    assert info is not None
    assert (info.status, info.last_version) == ("active", 2)
    assert (info.created_at, info.updated_at) == (created, created + 5)


async def test_set_status_marks_a_stream_completed(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a"))
    await store.set_status("room-1", "completed")
    info = await store.stream_info("room-1")
    assert info is not None and info.status == "completed"
    with pytest.raises(StreamNotFound):
        await store.set_status("nobody", "completed")
    with pytest.raises(OperationRefused):
        await store.set_status("room-1", "archived")


async def test_list_streams_filters_and_orders_newest_first(
    open_store: StoreOpener, clock: FakeClock
) -> None:
    store = await open_store()
    start = clock.now
    for name in ("room-a", "room-b", "lobby-1", "room-c"):
        await store.append(req(name, 0, b"x"))
        clock.advance(10)
    await store.set_status("room-b", "completed")  # now the most recently updated

    def ids(found: list[StreamInfo]) -> list[str]:
        return [info.stream_id for info in found]

    assert ids(await store.list_streams()) == ["room-b", "room-c", "lobby-1", "room-a"]
    assert ids(await store.list_streams(status="completed")) == ["room-b"]
    assert ids(await store.list_streams(status="active", prefix="room-")) == ["room-c", "room-a"]
    assert ids(await store.list_streams(updated_after=start + 5, updated_before=start + 35)) == [
        "room-c",
        "lobby-1",
    ]
    assert ids(await store.list_streams(limit=2, offset=1)) == ["room-c", "lobby-1"]
    assert ids(await store.list_streams(prefix="room_")) == []
    assert ids(await store.list_streams(status="archived")) == []


async def test_read_commands_in_version_order(open_store: StoreOpener, clock: FakeClock) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a", command_id="c-2", command=b"deal", command_at=1.5))
    await store.append(req("room-1", 1, b"b"))
    await store.append(req("room-1", 2, b"c", b"d", command_id="c-1", command=b"play"))
    commands = await store.read_commands("room-1")
    assert [(c.command_id, c.command, c.first_version, c.last_version) for c in commands] == [
        ("c-2", b"deal", 1, 1),
        ("c-1", b"play", 3, 4),
    ]
    assert commands[0].at == 1.5
    assert commands[1].at == clock.now


async def test_snapshot_round_trips(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a", b"b"))
    assert await store.load_snapshot("room-1", 1) is None
    snap = Snapshot("room-1", 2, 1, b"\x82\xa5state" + b"\x00" * 200)
    await store.save_snapshot(snap)
    assert await store.load_snapshot("room-1", 1) == snap


async def test_snapshot_of_another_schema_version_is_ignored(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a"))
    await store.save_snapshot(Snapshot("room-1", 1, 1, b"old"))
    assert await store.load_snapshot("room-1", 2) is None


async def test_snapshot_needs_a_stored_version(open_store: StoreOpener) -> None:
    store = await open_store()
    with pytest.raises(StreamNotFound):
        await store.save_snapshot(Snapshot("room-1", 1, 1, b"x"))
    await store.append(req("room-1", 0, b"a"))
    with pytest.raises(OperationRefused):
        await store.save_snapshot(Snapshot("room-1", 2, 1, b"x"))


async def test_load_latest_gives_the_snapshot_and_the_events_after_it(
    open_store: StoreOpener,
) -> None:
    store = await open_store()
    await store.append(req("room-1", 0, b"a", b"b", b"c", b"d", b"e"))
    snap, events = await store.load_latest("room-1", 1)
    assert snap is None and [e.data for e in events] == [b"a", b"b", b"c", b"d", b"e"]
    saved = Snapshot("room-1", 3, 1, b"state at 3")
    await store.save_snapshot(saved)
    snap, events = await store.load_latest("room-1", 1)
    assert snap == saved and [e.version for e in events] == [4, 5]
    # A snapshot of another schema version is no snapshot: every event comes back.
    snap, events = await store.load_latest("room-1", 2)
    assert snap is None and len(events) == 5
    assert await store.load_latest("nobody", 1) == (None, [])


def commanded(
    stream_id: str, expected: int, payload: bytes, command_id: str, body: bytes, identity: bytes
) -> AppendRequest:
    return AppendRequest(
        stream_id, expected, events(payload), command_id, body, 5.0, command_identity=identity
    )


async def test_a_reused_command_id_for_another_command_is_refused_also_after_a_restart(
    open_store: StoreOpener,
) -> None:
    store = await open_store()
    first = await store.append(commanded("room-1", 0, b"a", "c1", b"declare@1", b"declare"))
    await store.append(req("room-1", 1, b"b"))
    for _ in range(2):
        # The same identity under the id is a retry, whatever else its body holds.
        retry = await store.append(commanded("room-1", 0, b"a", "c1", b"declare@2", b"declare"))
        assert retry == AppendResult("room-1", 1, 1, 1, 1, duplicate=True)
        with pytest.raises(CommandIdReused) as refused:
            await store.append(commanded("room-1", 2, b"p", "c1", b"play@3", b"play"))
        assert refused.value.command_id == "c1" and refused.value.code == "command_id_reused"
        assert await store.last_position() == 2
        assert [c.command for c in await store.read_commands("room-1")] == [b"declare@1"]
        if open_store.kind == "memory":
            break
        await store.close()
        store = await open_store()  # a restart: the same files or database
    assert first.first_position == 1


async def test_a_command_id_reused_within_one_batch_is_refused_in_its_slot(
    open_store: StoreOpener,
) -> None:
    store = await open_store()
    results = await store.append_batch(
        [
            commanded("room-1", 0, b"a", "c1", b"x", b"declare"),
            commanded("room-1", 1, b"b", "c1", b"y", b"play"),
            commanded("room-1", 0, b"a", "c1", b"z", b"declare"),
            req("room-2", 0, b"c"),
        ]
    )
    assert results[0] == AppendResult("room-1", 1, 1, 1, 1)
    assert isinstance(results[1], CommandIdReused)
    assert results[2] == AppendResult("room-1", 1, 1, 1, 1, duplicate=True)
    assert results[3] == AppendResult("room-2", 1, 1, 2, 2)
    assert await store.last_position() == 2
