"""Offline rewriting of old-schema event rows to their latest schema, resumable."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Callable, Mapping
from functools import partial

import msgspec

from engine.store.errors import CorruptData
from engine.store.sqlite.schema import (
    EVENT_COLUMNS,
    chunks,
    events_from_rows,
    placeholders,
    write_transaction,
)
from engine.store.sqlite.store import SqliteEventStore

Upgrade = Callable[[str, int, bytes], tuple[int, bytes]]
IsLatest = Callable[[str, int], bool]

# An upgrade chain longer than this is taken to be a loop.
_MAX_UPGRADE_STEPS = 1000


class MigrationReport(msgspec.Struct, frozen=True):
    """How far a migration got: rows scanned and rewritten, streams touched, verification."""

    scanned: int
    rewritten: int
    batches: int
    streams: int
    checkpoint: int
    resumed: bool
    verified: bool = False


def lift(
    upgrade: Upgrade, is_latest: IsLatest, type_: str, schema_version: int, data: bytes
) -> tuple[int, bytes]:
    """Apply `upgrade` until the event is at its latest schema version."""
    for _ in range(_MAX_UPGRADE_STEPS):
        if is_latest(type_, schema_version):
            return schema_version, data
        new_version, data = upgrade(type_, schema_version, data)
        if new_version <= schema_version:
            raise ValueError(
                f"upgrade of {type_!r} v{schema_version} did not raise its schema version"
            )
        schema_version = new_version
    raise ValueError(f"upgrade of {type_!r} never reaches the latest schema version")


async def migrate_store(
    store: SqliteEventStore,
    upgrade: Upgrade,
    is_latest: IsLatest,
    batch_size: int = 500,
    progress: Callable[[MigrationReport], None] | None = None,
) -> MigrationReport:
    """Rewrite every hot event row not at its latest schema version, resumably and verified."""
    # A checkpoint row in the `migrations` table records how far a run got, so a rerun
    # after an interruption continues there. Each batch re-reads what it wrote before it
    # commits; at the end every touched stream is read whole again. Archived bundles are
    # left as they are: readers upcast them on read.
    if batch_size <= 0:
        raise ValueError("batch_size must be positive")
    hot = store._hot
    report = await store._run(partial(_start, hot, store._clock()))
    while True:
        report, done = await store._run(
            partial(_migrate_batch, hot, upgrade, is_latest, batch_size, report)
        )
        if progress is not None:
            progress(report)
        if done:
            break
    touched = await store._run(
        lambda: [r[0] for r in hot.execute("SELECT stream_id FROM migration_streams")]
    )
    for stream_id in touched:
        info = await store.stream_info(stream_id)
        if info is None or info.status == "archived":
            continue  # archived (or forgotten) since; its bundle upcasts on read
        # read_stream checks every row's checksum and that versions are contiguous.
        for event in await store.read_stream(stream_id):
            current = (event.schema_version, event.data)
            if lift(upgrade, is_latest, event.type, *current) != current:
                raise CorruptData(stream_id, event.version, "migrated event is not at its latest")
    await store._run(partial(_finish, hot, store._clock()))
    return msgspec.structs.replace(report, verified=True)


def _start(hot: sqlite3.Connection, now: float) -> MigrationReport:
    with write_transaction(hot):
        row = hot.execute(
            "SELECT checkpoint, scanned, rewritten, batches FROM migrations "
            "WHERE finished_at IS NULL"
        ).fetchone()
        if row is not None:
            (streams,) = hot.execute("SELECT count(*) FROM migration_streams").fetchone()
            return MigrationReport(row[1], row[2], row[3], streams, row[0], resumed=True)
        hot.execute(
            "INSERT OR REPLACE INTO migrations (id, checkpoint, scanned, rewritten, batches, "
            "started_at, finished_at) VALUES (1, 0, 0, 0, 0, ?, NULL)",
            (now,),
        )
        hot.execute("DELETE FROM migration_streams")
    return MigrationReport(0, 0, 0, 0, 0, resumed=False)


def _migrate_batch(
    hot: sqlite3.Connection,
    upgrade: Upgrade,
    is_latest: IsLatest,
    batch_size: int,
    report: MigrationReport,
) -> tuple[MigrationReport, bool]:
    with write_transaction(hot):
        events = events_from_rows(
            hot.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
                (report.checkpoint, batch_size),
            )
        )
        if not events:
            return report, True
        expected: dict[int, tuple[str, int, str, int, bytes]] = {}
        updates: list[tuple[int, bytes, int, int]] = []
        for event in events:
            if is_latest(event.type, event.schema_version):
                continue
            version, data = lift(upgrade, is_latest, event.type, event.schema_version, event.data)
            updates.append((version, data, zlib.crc32(data), event.position))
            expected[event.position] = (event.stream_id, event.version, event.type, version, data)
        hot.executemany(
            "UPDATE events SET schema_version = ?, data = ?, checksum = ? WHERE position = ?",
            updates,
        )
        streams = sorted({entry[0] for entry in expected.values()})
        _verify_rewrite(hot, upgrade, is_latest, expected)
        hot.executemany(
            "INSERT OR IGNORE INTO migration_streams (stream_id) VALUES (?)",
            [(stream_id,) for stream_id in streams],
        )
        checkpoint = events[-1].position
        hot.execute(
            "UPDATE migrations SET checkpoint = ?, scanned = scanned + ?, "
            "rewritten = rewritten + ?, batches = batches + 1",
            (checkpoint, len(events), len(updates)),
        )
        (touched,) = hot.execute("SELECT count(*) FROM migration_streams").fetchone()
    report = MigrationReport(
        report.scanned + len(events),
        report.rewritten + len(updates),
        report.batches + 1,
        touched,
        checkpoint,
        report.resumed,
    )
    return report, len(events) < batch_size


def _verify_rewrite(
    hot: sqlite3.Connection,
    upgrade: Upgrade,
    is_latest: IsLatest,
    expected: Mapping[int, tuple[str, int, str, int, bytes]],
) -> None:
    # Re-read what was written, inside the transaction, and lift it again: it must equal
    # the lifted original, so readers see the same events before and after.
    remaining = dict(expected)
    for group in chunks(list(expected)):
        for event in events_from_rows(
            hot.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE position IN "
                f"({placeholders(len(group))})",
                group,
            )
        ):
            lifted = lift(upgrade, is_latest, event.type, event.schema_version, event.data)
            if (event.stream_id, event.version, event.type, *lifted) != remaining.pop(
                event.position
            ):
                raise CorruptData(event.stream_id, event.version, "migrated row differs")
    if remaining:
        stream_id, version, *_ = next(iter(remaining.values()))
        raise CorruptData(stream_id, version, "migrated row vanished")


def _finish(hot: sqlite3.Connection, now: float) -> None:
    with write_transaction(hot):
        hot.execute("UPDATE migrations SET finished_at = ?", (now,))
        hot.execute("DELETE FROM migration_streams")
