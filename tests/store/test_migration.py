"""Offline migration of old-schema events: batches, resumption and verification."""

from __future__ import annotations

import msgspec
import pytest

from engine.store import (
    AppendRequest,
    MigrationReport,
    NewEvent,
    RecordedEvent,
    SqliteEventStore,
    migrate_store,
)
from tests.store.conftest import SqliteOpener

encode = msgspec.msgpack.encode
decode = msgspec.msgpack.decode


class Interrupted(Exception):
    """Stands for a crash after the first batch of a migration."""


def toy_upgrade(type_: str, schema_version: int, data: bytes) -> tuple[int, bytes]:
    """Toy v1 {"a": n} becomes v2 {"a": n, "b": n * 10}."""
    assert (type_, schema_version) == ("Toy", 1)
    body = decode(data)
    return 2, encode({**body, "b": body["a"] * 10})


def toy_is_latest(type_: str, schema_version: int) -> bool:
    return type_ != "Toy" or schema_version >= 2


def toy(n: int) -> NewEvent:
    return NewEvent("Toy", 1, encode({"a": n}))


async def fill(store: SqliteEventStore) -> list[RecordedEvent]:
    """Three streams of 15 events: old Toys, new Toys and another type, interleaved."""
    for turn in range(5):
        await store.append_batch(
            [
                AppendRequest("s1", turn * 3, (toy(turn), toy(turn + 100), toy(turn + 200))),
                AppendRequest(
                    "s2",
                    turn * 3,
                    (
                        NewEvent("Toy", 2, encode({"a": turn, "b": 0})),
                        toy(turn + 300),
                        NewEvent("Other", 1, b"\x01"),
                    ),
                ),
                AppendRequest("s3", turn * 3, tuple(NewEvent("Other", 1, b"\x02") for _ in "xyz")),
            ]
        )
    return await store.read_all()


def lifted(event: RecordedEvent) -> tuple[str, int, str, int, bytes]:
    version, data = event.schema_version, event.data
    while not toy_is_latest(event.type, version):
        version, data = toy_upgrade(event.type, version, data)
    return (event.stream_id, event.version, event.type, version, data)


async def test_interrupted_migration_resumes_and_verifies(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    before = await fill(store)
    reports: list[MigrationReport] = []

    def stop_after_first_batch(report: MigrationReport) -> None:
        reports.append(report)
        raise Interrupted

    with pytest.raises(Interrupted):
        await migrate_store(store, toy_upgrade, toy_is_latest, 10, stop_after_first_batch)
    assert reports[0].scanned == 10 and reports[0].checkpoint == 10
    # The first batch is rewritten and committed; the rest is still old.
    middle = await store.read_all()
    assert [e.schema_version for e in middle[:10] if e.type == "Toy"] == [2] * 6
    assert any(e.type == "Toy" and e.schema_version == 1 for e in middle[10:])

    store = await open_sqlite.reopen(store)
    report = await migrate_store(store, toy_upgrade, toy_is_latest, batch_size=10)
    assert report.resumed and report.verified
    assert (report.scanned, report.rewritten, report.batches) == (45, 20, 5)
    assert report.streams == 2
    after = await store.read_all()
    assert [lifted(e) for e in after] == [lifted(e) for e in before]
    assert all(toy_is_latest(e.type, e.schema_version) for e in after)
    assert [e.position for e in after] == [e.position for e in before]
    (first,) = await store.read_stream("s1", 0, 1)
    assert decode(first.data) == {"a": 0, "b": 0}


async def test_migration_rerun_after_completion_starts_afresh(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    await fill(store)
    first = await migrate_store(store, toy_upgrade, toy_is_latest, batch_size=7)
    assert first.verified and not first.resumed
    again = await migrate_store(store, toy_upgrade, toy_is_latest, batch_size=7)
    assert (again.resumed, again.scanned, again.rewritten) == (False, 45, 0)


async def test_migration_leaves_archived_bundles_as_they_are(open_sqlite: SqliteOpener) -> None:
    store = await open_sqlite()
    before = await fill(store)
    await store.set_status("s1", "completed")
    await store.archive_stream("s1")
    report = await migrate_store(store, toy_upgrade, toy_is_latest)
    assert report.rewritten == 5  # only the hot stream s2's old Toys
    archived = await store.read_stream("s1")
    assert archived == [e for e in before if e.stream_id == "s1"]
    assert {e.schema_version for e in archived} == {1}


async def test_upgrade_that_does_not_raise_the_version_is_refused(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    before = await fill(store)

    def stuck(type_: str, schema_version: int, data: bytes) -> tuple[int, bytes]:
        return schema_version, data

    with pytest.raises(ValueError):
        await migrate_store(store, stuck, toy_is_latest)
    assert await store.read_all() == before
