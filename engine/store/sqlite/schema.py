"""The SQLite tables of the hot store and its archive, and checked decoding of their rows."""

from __future__ import annotations

import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from engine.store.errors import CorruptData
from engine.store.records import RecordedEvent, command_checksum

T = TypeVar("T")

SCHEMA_VERSION = 2

HOT_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY,
    stream_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    type TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    data BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    recorded_at REAL NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS streams (
    stream_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    last_version INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS streams_by_update ON streams (updated_at);
CREATE TABLE IF NOT EXISTS commands (
    stream_id TEXT NOT NULL,
    command_id TEXT NOT NULL,
    command BLOB NOT NULL,
    at REAL NOT NULL,
    first_version INTEGER NOT NULL,
    last_version INTEGER NOT NULL,
    first_position INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    -- The digest of the command's identity (records.command_digest); NULL in rows
    -- recorded at schema version 1, which are then not compared on a reused id.
    digest BLOB,
    -- records.command_checksum of the whole row; every read checks it.
    checksum INTEGER,
    PRIMARY KEY (stream_id, command_id)
);
CREATE TABLE IF NOT EXISTS snapshots (
    stream_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    schema_version INTEGER NOT NULL,
    payload BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    saved_at REAL NOT NULL
);
-- One row: the newest global position ever handed out. Kept apart from the events
-- table because archival deletes event rows and positions must never be reused.
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last_position INTEGER NOT NULL
);
INSERT OR IGNORE INTO head (id, last_position) VALUES (1, 0);
-- The ids of streams retention (or a given-up bundle) forgot: never started again, so no
-- reader takes a new stream for the one it folded under that id.
CREATE TABLE IF NOT EXISTS retired_streams (
    stream_id TEXT PRIMARY KEY,
    retired_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS migrations (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    checkpoint INTEGER NOT NULL,
    scanned INTEGER NOT NULL,
    rewritten INTEGER NOT NULL,
    batches INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS migration_streams (
    stream_id TEXT PRIMARY KEY
) WITHOUT ROWID;
"""

ARCHIVE_SCHEMA = """
CREATE TABLE IF NOT EXISTS bundles (
    stream_id TEXT PRIMARY KEY,
    first_position INTEGER NOT NULL,
    last_position INTEGER NOT NULL,
    header BLOB NOT NULL,
    body BLOB NOT NULL,
    archived_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS bundles_by_last_position ON bundles (last_position);
CREATE INDEX IF NOT EXISTS bundles_by_age ON bundles (archived_at);
"""

# Column order every commands query selects, matching records.command_from_row.
COMMAND_COLUMNS = (
    "stream_id, command_id, command, at, first_version, last_version, "
    "first_position, last_position, digest, checksum"
)


def upgrade_hot_schema(conn: sqlite3.Connection, version: int) -> None:
    """Bring a hot file of an earlier schema version to SCHEMA_VERSION, in the caller's
    write transaction. 1 -> 2: commands rows gain a digest (NULL: not known) and a
    checksum, computed over each row as it is (damage done before cannot be told)."""
    if version == 1:
        conn.execute("ALTER TABLE commands ADD COLUMN digest BLOB")
        conn.execute("ALTER TABLE commands ADD COLUMN checksum INTEGER")
        rows = conn.execute(
            "SELECT rowid, stream_id, command_id, command, at, first_version, last_version, "
            "first_position, last_position FROM commands"
        ).fetchall()
        updates = []
        for rowid, stream_id, command_id, command, at, fv, lv, fp, lp in rows:
            if not (
                isinstance(stream_id, str)
                and isinstance(command_id, str)
                and isinstance(command, bytes)
                and isinstance(at, float | int)
                and all(isinstance(n, int) for n in (fv, lv, fp, lp))
            ):
                raise CorruptData(None, None, f"commands row {rowid} has a column of the wrong type")
            checksum = command_checksum(
                stream_id, command_id, command, float(at), fv, lv, fp, lp, None
            )
            updates.append((checksum, rowid))
        conn.executemany("UPDATE commands SET checksum = ? WHERE rowid = ?", updates)


# Column order every event query selects, matching event_from_row.
EVENT_COLUMNS = "stream_id, version, position, type, schema_version, data, checksum, recorded_at"


def event_from_row(row: Sequence[Any]) -> RecordedEvent:
    """Turn an events row into a RecordedEvent, refusing one that fails its checksum."""
    stream_id, version, position, type_, schema_version, data, checksum, recorded_at = row
    if (
        not isinstance(stream_id, str)
        or not isinstance(version, int)
        or not isinstance(position, int)
        or not isinstance(type_, str)
        or not isinstance(schema_version, int)
        or not isinstance(data, bytes)
        or not isinstance(checksum, int)
        or not isinstance(recorded_at, float | int)
    ):
        raise CorruptData(
            stream_id if isinstance(stream_id, str) else None,
            version if isinstance(version, int) else None,
            f"event row at position {position!r} has a column of the wrong type",
        )
    if zlib.crc32(data) != checksum:
        raise CorruptData(stream_id, version, "event data fails its checksum")
    return RecordedEvent(
        stream_id, version, position, type_, schema_version, data, float(recorded_at)
    )


def events_from_rows(rows: Iterable[Sequence[Any]]) -> list[RecordedEvent]:
    """Decode many event rows, checking each."""
    return [event_from_row(row) for row in rows]


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Run a block as one BEGIN IMMEDIATE ... COMMIT, rolled back whole on any failure."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # SQLite rolls some failures (SQLITE_FULL, IOERR) back itself; others leave the
        # transaction open, and a half-applied batch must never be committed later.
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """One snapshot of the file for every read in the block (BEGIN ... COMMIT)."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def chunks(items: Sequence[T], size: int = 500) -> Iterator[Sequence[T]]:
    """Split a list so each IN (...) query stays under SQLite's variable limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def placeholders(count: int) -> str:
    """Return "?,?,...,?" with `count` marks."""
    return ",".join("?" * count)
