"""The read-model database: control tables, and the transactions the runner commits.

The read models live in a SQLite file (the default, beside a SQLite store) or in a
schema of a PostgreSQL database (projections/postgres.py); the SQL here is written once
for both. Everything here is synchronous and runs on the runner's one database thread.
A batch of events is folded into every lane and the lanes' checkpoints are written in
ONE transaction, so a crash leaves each projection exactly at a checkpoint it really
reached.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from engine.codec import CodecError, decode_event
from engine.events import Event
from engine.store.errors import StoreError
from engine.store.records import RecordedEvent
from engine.store.sqlite import is_damaged_file
from engine.store.url import backend_of
from projections.lease import FileLease, FoldLease
from projections.match_history import ARCHIVED_TABLE
from projections.postgres import AdvisoryLease, PgConnection, PostgresTarget
from projections.protocol import SHADOW, Connection, Projection
from projections.status import Fault, SkippedEvent

LaneKind = Literal["live", "shadow"]

_BUSY_TIMEOUT_S = 10.0

CONTROL_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS checkpoints (
    name TEXT NOT NULL,
    lane TEXT NOT NULL CHECK (lane IN ('live', 'shadow')),
    version INTEGER NOT NULL,
    position INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    target INTEGER,
    paused INTEGER NOT NULL DEFAULT 0,
    failed_position INTEGER,
    failed_stream TEXT,
    failed_type TEXT,
    error TEXT,
    PRIMARY KEY (name, lane)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS skipped (
    name TEXT NOT NULL,
    position INTEGER NOT NULL,
    version INTEGER NOT NULL,
    reason TEXT NOT NULL,
    error TEXT,
    skipped_at REAL NOT NULL,
    PRIMARY KEY (name, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS {ARCHIVED_TABLE} (
    room_id TEXT PRIMARY KEY,
    archived_at REAL NOT NULL
) WITHOUT ROWID;
"""

# Failures of the medium, not of a fold: the batch is rolled back and the runner stops,
# instead of blaming the event being folded.
_MEDIUM_FAILURES = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_INTERRUPT,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CORRUPT,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOTADB,
    sqlite3.SQLITE_PERM,
}


Target = str | os.PathLike[str] | PostgresTarget
"""Where read models live: a SQLite file's path, or a `postgresql://` URL / PostgresTarget."""


def default_path(store_path: str | os.PathLike[str]) -> Path:
    """Where read models live beside an event store file: games.db -> games.db.projections.db."""
    return Path(f"{os.fspath(store_path)}.projections.db")


def resolve(target: Target) -> Path | PostgresTarget:
    """A read-model target as a SQLite path or a PostgreSQL schema."""
    if isinstance(target, PostgresTarget):
        return target
    if backend_of(target) == "postgresql":
        return PostgresTarget(os.fspath(target))
    return Path(target)


def describe(target: Target) -> str:
    """The target for messages (a URL without its password)."""
    return str(resolve(target))


def open_connection(target: Target, *, readonly: bool = False) -> Connection:
    """A connection to the read models wherever they live."""
    where = resolve(target)
    if isinstance(where, PostgresTarget):
        return PgConnection(where, readonly=readonly)
    return connect(where, readonly=readonly)


def lease_for(target: Target, conn: Connection) -> FoldLease:
    """The fold lease of a target: a file lock beside a SQLite file, an advisory lock
    held by the folding connection on PostgreSQL."""
    if isinstance(conn, PgConnection):
        return AdvisoryLease(conn)
    where = resolve(target)
    assert isinstance(where, Path)
    return FileLease(where)


def connect(path: str | os.PathLike[str], *, readonly: bool = False) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, synchronous=NORMAL.

    NORMAL may lose the last commits on power loss but never tears one: checkpoints are
    in the same transactions as the rows, so the runner simply folds those events again.
    """
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=_BUSY_TIMEOUT_S, check_same_thread=False
    )
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-65536")
        if readonly:
            conn.execute("PRAGMA query_only=1")
    except BaseException:
        conn.close()
        raise
    return conn


@dataclass(eq=False)
class Lane:
    """Where one projection's tables stand: the live ones, or a rebuild's shadow ones.

    `target` is the last position a rebuild folds (a Reset's position; None: the head).
    """

    projection: Projection
    kind: LaneKind
    version: int
    position: int
    target: int | None = None
    fault: Fault | None = None
    newest_recorded_at: float | None = None

    @property
    def prefix(self) -> str:
        return "" if self.kind == "live" else SHADOW


@dataclass(frozen=True)
class Stored:
    """A projection's rows in `checkpoints` and `skipped`, as found when the runner opens."""

    live: Lane
    shadow: Lane | None
    paused: bool
    skipped: dict[int, SkippedEvent]


@dataclass(frozen=True)
class Folded:
    """What a batch did to one lane (applied to the in-memory lane once committed)."""

    position: int
    fault: Fault | None
    newest_recorded_at: float | None


@contextmanager
def transaction(conn: Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back whole on any failure (on PostgreSQL, write
    transactions take turns on an advisory lock: projections/postgres.py)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class CheckpointMoved(Exception):
    """A fold found a stored checkpoint other than the one it folded from: another runner
    moved it. The transaction is rolled back and the runner reloads its checkpoints."""


@contextmanager
def read_transaction(conn: Connection) -> Iterator[None]:
    """One snapshot of the read models for every read in the block."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def prepare(
    conn: Connection, projections: Sequence[Projection], now: float
) -> dict[str, Stored]:
    """Create the control tables, and the live tables of any projection new to this file."""
    with transaction(conn):
        if isinstance(conn, PgConnection):
            schema = conn.target.schema
            # Created once; later opens need no CREATE right on the database.
            found = conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = ?", (schema,))
            if found.fetchone() is None:
                conn.execute(f'CREATE SCHEMA "{schema}"')
        _run_script(conn, CONTROL_SCHEMA)
        known = {row[0] for row in conn.execute("SELECT name FROM checkpoints WHERE lane = 'live'")}
        for projection in projections:
            if projection.name not in known:
                # Tables without a checkpoint are leftovers of a failed first start.
                _drop_tables(conn, projection, "")
                _run_all(conn, projection.schema(""))
                conn.execute(
                    "INSERT INTO checkpoints (name, lane, version, position, updated_at) "
                    "VALUES (?, 'live', ?, 0, ?)",
                    (projection.name, projection.version, now),
                )
        return _load(conn, projections)


def load(conn: Connection, projections: Sequence[Projection]) -> dict[str, Stored]:
    """The projections' checkpoints, pauses and skips as stored now (after `prepare`)."""
    conn.execute("BEGIN")
    try:
        return _load(conn, projections)
    finally:
        conn.execute("ROLLBACK")


def _load(conn: Connection, projections: Sequence[Projection]) -> dict[str, Stored]:
    rows = {
        (row[0], row[1]): row
        for row in conn.execute(
            "SELECT name, lane, version, position, target, paused, failed_position, "
            "failed_stream, failed_type, error FROM checkpoints"
        )
    }
    stored: dict[str, Stored] = {}
    for projection in projections:
        live_row = rows[(projection.name, "live")]
        shadow_row = rows.get((projection.name, "shadow"))
        skipped = {
            row[1]: SkippedEvent(*row)
            for row in conn.execute(
                "SELECT name, position, version, reason, error, skipped_at FROM skipped "
                "WHERE name = ? ORDER BY position",
                (projection.name,),
            )
        }
        stored[projection.name] = Stored(
            live=_lane(projection, live_row),
            shadow=None if shadow_row is None else _lane(projection, shadow_row),
            paused=bool(live_row[5]),
            skipped=skipped,
        )
    return stored


def _expect_checkpoints(conn: Connection, lanes: Sequence[Lane]) -> None:
    """Raise CheckpointMoved unless every lane's stored checkpoint is where the lane is."""
    for lane in lanes:
        row = conn.execute(
            "SELECT version, position FROM checkpoints WHERE name = ? AND lane = ?",
            (lane.projection.name, lane.kind),
        ).fetchone()
        if row is None or tuple(row) != (lane.version, lane.position):
            raise CheckpointMoved(
                f"projection {lane.projection.name} ({lane.kind}): expected version "
                f"{lane.version} at {lane.position}, the file holds "
                f"{'nothing' if row is None else f'version {row[0]} at {row[1]}'}"
            )


def _lane(projection: Projection, row: Sequence[Any]) -> Lane:
    _, kind, version, position, target, _, failed_position, stream, type_, error = row
    fault = None if failed_position is None else Fault(failed_position, stream, type_, error)
    return Lane(projection, kind, version, position, target, fault)


def _run_script(conn: Connection, script: str) -> None:
    # executescript would COMMIT the open transaction; run the statements one by one.
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _run_all(conn: Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        conn.execute(statement)


def _drop_tables(conn: Connection, projection: Projection, prefix: str) -> None:
    for table in projection.tables:
        conn.execute(f'DROP TABLE IF EXISTS "{prefix}{table}"')


def _is_index(statement: str) -> bool:
    return statement.lstrip().upper().startswith(("CREATE INDEX", "CREATE UNIQUE INDEX"))


def handled_by(projections: Iterable[Projection]) -> frozenset[str]:
    """The event types any of `projections` folds: what a batch for them needs read."""
    return frozenset().union(*(p.handles for p in projections))


def fold_batch(
    conn: Connection,
    lanes: Sequence[Lane],
    records: Sequence[RecordedEvent],
    end: int,
    skips: Mapping[str, Mapping[int, SkippedEvent]],
    now: float,
    before_commit: Callable[[], None] | None = None,
) -> list[Folded]:
    """Fold `records` (every event up to position `end`) into each lane; one transaction.

    A lane whose fold raises stops just before the poison event: its work on this batch
    is rolled back to a savepoint, the events before the poison one are folded again,
    and the fault is stored with its checkpoint. The other lanes go on.
    """
    wanted = handled_by(lane.projection for lane in lanes)
    # Decoded once for every lane; events no lane handles are never decoded.
    relevant: list[tuple[RecordedEvent, Event | CodecError]] = []
    for record in records:
        if record.type in wanted:
            try:
                event: Event | CodecError = decode_event(
                    record.type, record.schema_version, record.data
                )
            except CodecError as exc:
                event = exc
            relevant.append((record, event))
    results: list[Folded] = []
    with transaction(conn):
        # Compare-and-set: the batch folds on from the checkpoints it read, or not at all.
        _expect_checkpoints(conn, lanes)
        for lane in lanes:
            limit = end if lane.target is None else min(end, lane.target)
            if limit <= lane.position:
                results.append(Folded(lane.position, lane.fault, lane.newest_recorded_at))
                continue
            skip = skips.get(lane.projection.name, {})
            handles = lane.projection.handles
            mine = [pair for pair in relevant if pair[0].type in handles]
            conn.execute("SAVEPOINT fold")
            fault = _fold(conn, lane, mine, limit, skip)
            if fault is not None:
                # Undo this lane's batch, then fold again what came before the poison event.
                conn.execute("ROLLBACK TO fold")
                again = _fold(conn, lane, mine, fault.position - 1, skip)
                if again is not None:
                    # A fold that fails on its second pass where it passed on its first.
                    conn.execute("ROLLBACK TO fold")
                    fault = again
                    limit = lane.position
                else:
                    limit = fault.position - 1
            conn.execute("RELEASE fold")
            _write_checkpoint(conn, lane, limit, fault, now)
            results.append(Folded(limit, fault, _newest(records, limit, lane)))
        if before_commit is not None:
            before_commit()
    return results


def _newest(records: Sequence[RecordedEvent], limit: int, lane: Lane) -> float | None:
    """When the newest event a lane has now passed was recorded."""
    for record in reversed(records):
        if record.position <= limit:
            return max(record.recorded_at, lane.newest_recorded_at or 0.0)
    return lane.newest_recorded_at


def _fold(
    conn: Connection,
    lane: Lane,
    events: Sequence[tuple[RecordedEvent, Event | CodecError]],
    limit: int,
    skip: Mapping[int, SkippedEvent],
) -> Fault | None:
    """Fold the lane's events in (lane.position, limit]; the fault of a poison event, if any."""
    apply = lane.projection.apply
    prefix = lane.prefix
    start = lane.position
    for record, event in events:
        position = record.position
        if position <= start or position in skip:
            continue
        if position > limit:
            break
        try:
            if isinstance(event, CodecError):
                raise event
            apply(conn, prefix, record, event)
        except Exception as exc:
            if _medium_failure(exc) or not conn.in_transaction:
                raise
            return Fault(position, record.stream_id, record.type, f"{type(exc).__name__}: {exc}")
    return None


def _medium_failure(exc: BaseException) -> bool:
    if isinstance(exc, StoreError):
        return True  # the PostgreSQL server is unreachable
    if not isinstance(exc, sqlite3.Error):
        return False
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    return code in _MEDIUM_FAILURES


def is_passing_failure(exc: BaseException) -> bool:
    """A failure of the read-model file that may clear by itself (a full disk, I/O, a
    lock), not damage to the file: the runner tries the batch again later."""
    return _medium_failure(exc) and not is_damaged_file(exc)


def _write_checkpoint(
    conn: Connection, lane: Lane, position: int, fault: Fault | None, now: float
) -> None:
    conn.execute(
        "UPDATE checkpoints SET position = ?, updated_at = ?, failed_position = ?, "
        "failed_stream = ?, failed_type = ?, error = ? WHERE name = ? AND lane = ?",
        (
            position,
            now,
            None if fault is None else fault.position,
            None if fault is None else fault.stream_id,
            None if fault is None else fault.type,
            None if fault is None else fault.error,
            lane.projection.name,
            lane.kind,
        ),
    )


def start_shadow(
    conn: Connection, projection: Projection, target: int | None, now: float
) -> Lane:
    """Empty shadow tables and a shadow checkpoint at 0 (replacing any earlier rebuild)."""
    with transaction(conn):
        _drop_tables(conn, projection, SHADOW)
        _run_all(conn, projection.schema(SHADOW))
        conn.execute(
            "DELETE FROM checkpoints WHERE name = ? AND lane = 'shadow'", (projection.name,)
        )
        conn.execute(
            "INSERT INTO checkpoints (name, lane, version, position, updated_at, target)"
            " VALUES (?, 'shadow', ?, 0, ?, ?)",
            (projection.name, projection.version, now, target),
        )
    return Lane(projection, "shadow", projection.version, 0, target)


def swap(conn: Connection, shadow: Lane, now: float) -> None:
    """Replace the live tables by the shadow ones, and the live checkpoint, in ONE transaction."""
    projection = shadow.projection
    with transaction(conn):
        _expect_checkpoints(conn, [shadow])
        _drop_tables(conn, projection, "")
        for table in projection.tables:
            conn.execute(f'ALTER TABLE "{SHADOW}{table}" RENAME TO "{table}"')
        _rename_indexes(conn, projection)
        conn.execute(
            "UPDATE checkpoints SET version = ?, position = ?, updated_at = ?, "
            "failed_position = NULL, failed_stream = NULL, failed_type = NULL, error = NULL "
            "WHERE name = ? AND lane = 'live'",
            (shadow.version, shadow.position, now, projection.name),
        )
        conn.execute(
            "DELETE FROM checkpoints WHERE name = ? AND lane = 'shadow'", (projection.name,)
        )


def _rename_indexes(conn: Connection, projection: Projection) -> None:
    """Renamed tables keep their shadow_ index names: give the indexes their live names."""
    placeholders = ",".join("?" * len(projection.tables))
    if isinstance(conn, PgConnection):
        # Every index, the primary keys' too, renamed (a schema's index names are unique).
        for (index,) in conn.execute(
            f"SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
            f"AND tablename IN ({placeholders})",
            projection.tables,
        ).fetchall():
            if index.startswith(SHADOW):
                conn.execute(f'ALTER INDEX "{index}" RENAME TO "{index[len(SHADOW) :]}"')
        return
    for (index,) in conn.execute(
        f"SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({placeholders})",
        projection.tables,
    ).fetchall():
        conn.execute(f'DROP INDEX "{index}"')
    _run_all(conn, [s for s in projection.schema("") if _is_index(s)])


def set_paused(conn: Connection, name: str, paused: bool, now: float) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE checkpoints SET paused = ?, updated_at = ? WHERE name = ? AND lane = 'live'",
            (int(paused), now, name),
        )


def clear_faults(conn: Connection, name: str, now: float) -> None:
    with transaction(conn):
        conn.execute(
            "UPDATE checkpoints SET failed_position = NULL, failed_stream = NULL, "
            "failed_type = NULL, error = NULL, updated_at = ? WHERE name = ?",
            (now, name),
        )


def record_skip(conn: Connection, skipped: SkippedEvent) -> None:
    """Store the skip and clear a fault at that position, in one transaction."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM skipped WHERE name = ? AND position = ?",
            (skipped.name, skipped.position),
        )
        conn.execute(
            "INSERT INTO skipped VALUES (?,?,?,?,?,?)",
            (
                skipped.name,
                skipped.position,
                skipped.version,
                skipped.reason,
                skipped.error,
                skipped.skipped_at,
            ),
        )
        conn.execute(
            "UPDATE checkpoints SET failed_position = NULL, failed_stream = NULL, "
            "failed_type = NULL, error = NULL WHERE name = ? AND failed_position = ?",
            (skipped.name, skipped.position),
        )


def mark_archived(conn: Connection, room_id: str, at: float) -> None:
    with transaction(conn):
        conn.execute(
            f"INSERT INTO {ARCHIVED_TABLE} VALUES (?, ?) ON CONFLICT DO NOTHING", (room_id, at)
        )
