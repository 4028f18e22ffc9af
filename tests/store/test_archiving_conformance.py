"""The archiving part of the EventStore contract, checked against every backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import (
    AppendRequest,
    EventStore,
    NewEvent,
    OperationRefused,
    RecordedEvent,
    StreamArchived,
    StreamNotFound,
    StreamRetired,
)
from tests.store.conftest import FakeClock, StoreOpener

DAY = 86_400.0


def req(stream_id: str, expected: int, *payloads: bytes) -> AppendRequest:
    return AppendRequest(
        stream_id, expected, tuple(NewEvent("Played", 1, payload) for payload in payloads)
    )


async def finished_match(store: EventStore, stream_id: str = "match-a") -> list[RecordedEvent]:
    """Three events of one stream, then the stream marked completed."""
    for turn in range(3):
        await store.append_batch([req(stream_id, turn, b"%s-%d" % (stream_id.encode(), turn))])
    await store.set_status(stream_id, "completed")
    return await store.read_stream(stream_id)


async def test_an_archived_stream_reads_whole_and_takes_no_more_events(
    open_store: StoreOpener,
) -> None:
    store = await open_store()
    events = await finished_match(store)
    await store.append(req("match-b", 0, b"b"))
    await store.archive_stream("match-a")
    info = await store.stream_info("match-a")
    assert info is not None and (info.status, info.last_version) == ("archived", 3)
    assert await store.read_stream("match-a") == events
    assert [e.stream_id for e in await store.read_all()] == ["match-a"] * 3 + ["match-b"]
    with pytest.raises(StreamArchived):
        await store.append(req("match-a", 3, b"late"))
    await store.archive_stream("match-a")  # archived already: nothing to do


async def test_only_a_completed_stream_is_archived(open_store: StoreOpener) -> None:
    store = await open_store()
    await store.append(req("live", 0, b"x"))
    with pytest.raises(OperationRefused):
        await store.archive_stream("live")
    with pytest.raises(StreamNotFound):
        await store.archive_stream("nobody")
    info = await store.stream_info("live")
    assert info is not None and info.status == "active"


async def test_retention_forgets_streams_archived_long_enough_ago(
    open_store: StoreOpener, clock: FakeClock
) -> None:
    store = await open_store()
    await finished_match(store, "old")
    await store.archive_stream("old")
    clock.advance(10 * DAY)
    await finished_match(store, "new")
    await store.archive_stream("new")
    assert await store.apply_retention(None) == []
    assert await store.apply_retention(5) == ["old"]
    assert await store.stream_info("old") is None
    assert await store.read_stream("old") == []
    assert {e.stream_id for e in await store.read_all()} == {"new"}
    assert await store.last_position() == 6  # positions are never reused


async def test_an_id_retention_forgot_never_starts_a_stream_again(
    open_store: StoreOpener, clock: FakeClock
) -> None:
    store = await open_store()
    await finished_match(store, "old")
    await store.archive_stream("old")
    clock.advance(10 * DAY)
    assert await store.apply_retention(5) == ["old"]
    head = await store.last_position()
    with pytest.raises(StreamRetired) as refused:
        await store.append(req("old", 0, b"again"))
    assert refused.value.code == "stream_retired" and "retention" in str(refused.value)
    # In a batch, only the retired id fails, in its slot; a new id starts as ever.
    results = await store.append_batch([req("old", 0, b"again"), req("fresh", 0, b"f")])
    assert isinstance(results[0], StreamRetired)
    assert not isinstance(results[1], Exception) and results[1].first_position == head + 1
    assert await store.stream_info("old") is None
    assert await store.read_stream("old") == []
    if open_store.kind != "memory":  # the refusal is stored: it holds after a reopen
        await store.close()
        store = await open_store()
        with pytest.raises(StreamRetired):
            await store.append(req("old", 0, b"again"))
    assert await store.last_position() == head + 1


async def test_a_bundle_exported_from_one_store_imports_into_another(
    open_store: StoreOpener, tmp_path: Path
) -> None:
    source = await open_store()
    events = await finished_match(source)
    bundle = tmp_path / "match-a.bundle"
    await source.export_bundle("match-a", bundle)
    open_store.path = tmp_path / "other.db"
    target = await open_store()
    assert await target.import_bundle(bundle) == "match-a"
    assert await target.read_stream("match-a") == events
    info = await target.stream_info("match-a")
    assert info is not None and info.status == "archived"
    with pytest.raises(OperationRefused):
        await target.import_bundle(bundle)


async def test_a_whole_archive_has_no_missing_bundles(open_store: StoreOpener) -> None:
    store = await open_store()
    await finished_match(store)
    await store.archive_stream("match-a")
    assert store.missing_bundles == ()
    assert await store.forget_missing_bundles() == []
