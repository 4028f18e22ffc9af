"""Our own catalogue's evolution: PiecesPlayed V1 → V2 → V3, read lazily and migrated offline.

The test writes a store in the V1 format itself (PiecesPlayed without play_type and value),
as an engine of that time would have, then reads it with today's code.
"""

from __future__ import annotations

import msgspec
import pytest

from engine.codec import decode_event, encode_event, is_latest, upgrade_event
from engine.events import Event, PiecesPlayed
from engine.evolve import fold
from engine.simulation import run_match
from engine.store import AppendRequest, MigrationReport, NewEvent, SqliteEventStore, migrate_store
from tests.store.conftest import SqliteOpener


class Interrupted(Exception):
    pass


def as_v1(event: Event) -> NewEvent:
    """The event as an engine writing schema V1 of PiecesPlayed stored it."""
    type_, version, data = encode_event(event)
    if isinstance(event, PiecesPlayed):
        raw = msgspec.msgpack.decode(data)
        del raw["play_type"], raw["value"]
        return NewEvent(type_, 1, msgspec.msgpack.encode(raw))
    return NewEvent(type_, version, data)


async def write_v1_matches(store: SqliteEventStore, seeds: range) -> dict[str, tuple[Event, ...]]:
    matches: dict[str, tuple[Event, ...]] = {}
    for seed in seeds:
        room = f"OLD{seed:03d}"
        record = run_match(seed, room_id=room)
        await store.append(AppendRequest(room, 0, tuple(as_v1(e) for e in record.events)))
        matches[room] = record.events
    return matches


async def test_a_v1_store_reads_as_the_current_schema(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    matches = await write_v1_matches(store, range(2))
    for room, original in matches.items():
        records = await store.read_stream(room)
        assert any(r.type == "PiecesPlayed" and r.schema_version == 1 for r in records)
        decoded = tuple(decode_event(r.type, r.schema_version, r.data) for r in records)
        assert decoded == original
        assert fold(decoded) == fold(original)


async def test_offline_migration_of_a_v1_store_resumes_after_an_interruption(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    matches = await write_v1_matches(store, range(3))

    def stop_after_first_batch(report: MigrationReport) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await migrate_store(store, upgrade_event, is_latest, 200, stop_after_first_batch)
    store = await open_sqlite.reopen(store)
    report = await migrate_store(store, upgrade_event, is_latest, batch_size=200)
    assert report.resumed and report.verified and report.rewritten > 0
    for room, original in matches.items():
        records = await store.read_stream(room)
        assert all(
            r.schema_version == PiecesPlayed.SCHEMA_VERSION
            for r in records
            if r.type == "PiecesPlayed"
        )
        assert tuple(decode_event(r.type, r.schema_version, r.data) for r in records) == original
