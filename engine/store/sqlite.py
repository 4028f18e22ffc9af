"""The durable event store: one SQLite file for hot streams and one for archived bundles."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import aiosqlite
import lz4.frame

from engine.store.archive import Archive, Bundle, encode_bundle, split_bundle
from engine.store.batch import BatchPlan, StreamHead, plan_batch, validate_requests
from engine.store.checkpoint import WRITER_BACKSTOP_PAGES, Checkpointer
from engine.store.errors import (
    BundlesMissing,
    ConcurrencyConflict,
    CorruptData,
    OperationRefused,
    StoreUnavailable,
    StreamNotFound,
)
from engine.store.notify import PositionWaiters
from engine.store.records import (
    STREAM_STATUSES,
    AppendRequest,
    AppendResult,
    RecordedCommand,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    StreamStatus,
)
from engine.store.schema import (
    ARCHIVE_SCHEMA,
    EVENT_COLUMNS,
    HOT_SCHEMA,
    SCHEMA_VERSION,
    check_contiguous,
    chunks,
    events_from_rows,
    placeholders,
    read_transaction,
    write_transaction,
)

log = logging.getLogger("engine.store")

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]
ArchiveStep = Literal["built", "bundled", "archived"]

_BUSY_TIMEOUT_S = 5.0
_WAIT_FOR_LOCKS = f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}"
# Failures of the medium rather than of the data or of our SQL: the commit did not
# happen and may succeed later.
_UNAVAILABLE = {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_INTERRUPT,
}
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}


def _sqlite_code(exc: BaseException | None) -> int:
    """The primary SQLite result code of an exception (0 when it has none)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def is_damaged_file(exc: BaseException) -> bool:
    """Whether SQLite failed because the file is not a sound database (corrupt, not one)."""
    return _sqlite_code(exc) in _CORRUPT


def _guarded(fn: Callable[[], T], file: str | None = None) -> T:
    # Runs with the connection's lock held; turns SQLite's exceptions into the store's types.
    # `file`: the one file `fn` touches, named when it is damaged.
    try:
        return fn()
    except sqlite3.Error as exc:
        code = _sqlite_code(exc)
        if code in _UNAVAILABLE:
            raise StoreUnavailable(exc) from exc
        if is_damaged_file(exc):
            where = "database file" if file is None else file
            raise CorruptData(None, None, f"{where} is damaged: {exc}") from exc
        raise


def default_archive_path(path: str | os.PathLike[str]) -> Path:
    """Return where a store keeps its archive when no path is given: <db>.archive.db."""
    return Path(f"{os.fspath(path)}.archive.db")


def connect_daemon(
    database: str | Path, *, uri: bool = False, any_thread: bool = False
) -> aiosqlite.Connection:
    """An aiosqlite connection (not yet started) whose worker thread is a daemon.

    aiosqlite's worker thread is not a daemon, so a store that is never closed (a crash in
    the embedding program, a test that times out) would keep the interpreter from exiting.
    Killing the thread at exit is safe: SQLite rolls back a transaction that did not commit,
    and nothing is acknowledged before its commit returns.

    `any_thread`: the connection may also be used outside that thread (the caller then
    serializes every use itself, as the store does with its lock).
    """
    db = aiosqlite.connect(
        database,
        uri=uri,
        isolation_level=None,
        timeout=_BUSY_TIMEOUT_S,
        check_same_thread=not any_thread,
    )
    db._thread.daemon = True
    return db


class SqliteEventStore:
    """The EventStore protocol on SQLite (WAL), plus archival of completed streams."""

    def __init__(
        self,
        db: aiosqlite.Connection,
        hot: sqlite3.Connection,
        archive: Archive,
        clock: Callable[[], float],
        log: StoreReader | None = None,
    ) -> None:
        """Wrap connections that `open` has set up; use `await SqliteEventStore.open(...)`."""
        self._db = db
        self._hot = hot
        self._archive = archive
        self._clock = clock
        # aiosqlite has no public way to run a function on its thread; _execute is it.
        self._hop = cast(Callable[..., Awaitable[Any]], db._execute)
        self._waiters = PositionWaiters()
        self._closed = False
        self._checkpointer: Checkpointer | None = None
        # Held by whatever uses the connections: the database thread for each hop, or
        # the caller's thread for an inline commit (see `append_batch`).
        self._lock = threading.Lock()
        self._inline_batch = 0
        self._inline_reads = False
        # Reads of the global log, on the database thread but on connections of their own
        # (see `_read_log`); None reads it through `hot` and `archive`.
        self._log = log
        self._rests_at_zero = False  # busy_timeout is 0 between jobs (inline work enabled)
        # Archived streams without a bundle, found at open, and the last position among
        # their events: read_all refuses any page that could hold one of them.
        self._missing: tuple[str, ...] = ()
        self._missing_reach = 0.0
        self._hot_file = self._archive_file = ""

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        synchronous: Synchronous = "NORMAL",
        archive_path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        inline_batch: int = 0,
        inline_reads: bool = False,
    ) -> SqliteEventStore:
        """Open (creating if needed) a store and finish any interrupted archival.

        `inline_batch`: append batches of at most this many requests commit on the
        calling thread, without the two hops to the database thread and back, whenever
        that thread is idle (synchronous=NORMAL only: a FULL commit waits for the disk).
        0 sends every commit to the database thread. `inline_reads`: `load_latest` reads
        on the calling thread in the same way (any durability).
        """
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, not {synchronous!r}")
        if inline_batch < 0:
            raise ValueError("inline_batch must be 0 or more")
        archive_file = default_archive_path(path) if archive_path is None else archive_path
        db = connect_daemon(Path(path), any_thread=inline_batch > 0 or inline_reads)
        try:
            await db
        except sqlite3.Error as exc:
            raise StoreUnavailable(exc) from exc
        hot = db._conn
        hop = cast(Callable[..., Awaitable[Any]], db._execute)
        try:
            archive_db = await hop(
                _guarded,
                partial(_connect_archive, archive_file, synchronous),
                os.fspath(archive_file),
            )
            log = StoreReader(os.fspath(path), os.fspath(archive_file))
            store = cls(db, hot, Archive(hot, archive_db), clock, log)
            store._hot_file, store._archive_file = os.fspath(path), os.fspath(archive_file)
            await store._run(partial(store._setup, synchronous))
        except BaseException:
            await db.close()
            raise
        store._checkpointer = Checkpointer(path, db._thread.is_alive)
        store._checkpointer.start()
        store._inline_batch = inline_batch if synchronous == "NORMAL" else 0
        store._inline_reads = inline_reads
        if store._inline_batch or inline_reads:
            # Between jobs the connection does not wait for locks (see `_locked`).
            await store._run(partial(hot.execute, "PRAGMA busy_timeout = 0"))
            store._rests_at_zero = True
        return store

    def _setup(self, synchronous: Synchronous) -> None:
        _guarded(partial(self._setup_hot, synchronous), self._hot_file)
        self._archive.recover(self._clock())
        self._missing = self._archive.missing_bundles()
        if self._missing:
            self._missing_reach = self._archive.reach_of(self._missing)
            log.error("%s", BundlesMissing(self._missing, self._archive_file))

    def _setup_hot(self, synchronous: Synchronous) -> None:
        hot = self._hot
        version = hot.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise CorruptData(None, None, f"unknown store schema version {version}")
        (mode,) = hot.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode != "wal":
            raise StoreUnavailable(f"cannot use write-ahead logging (journal mode {mode})")
        hot.execute(f"PRAGMA synchronous={synchronous}")
        # Checkpoints run on the Checkpointer's thread; the writer's own is only a backstop.
        hot.execute(f"PRAGMA wal_autocheckpoint={WRITER_BACKSTOP_PAGES}")
        hot.executescript(HOT_SCHEMA)
        hot.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    async def _run(self, fn: Callable[[], T]) -> T:
        # One hop to the database thread; everything in `fn` runs there, in order.
        if self._closed:
            raise StoreUnavailable("the store is closed")
        return cast(T, await self._hop(self._locked, fn))

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if not self._rests_at_zero:
                return _guarded(fn)
            # The database thread waits for SQLite's write lock as long as it must; work
            # on the caller's thread (`_inline`) finds the connection not waiting at all.
            self._hot.execute(_WAIT_FOR_LOCKS)
            try:
                return _guarded(fn)
            finally:
                self._hot.execute("PRAGMA busy_timeout = 0")

    def _commit_inline(self, reqs: Sequence[AppendRequest], now: float) -> BatchPlan | None:
        """Commit a batch of at most `inline_batch` requests on this thread if the database
        thread is idle; None if not (always None when `inline_batch` is 0).

        SQLite does the work with the GIL released (~0.1-0.3 ms for a few appends), so the
        caller's thread is held about as long as the two thread hops it saves would take.
        """
        if len(reqs) > self._inline_batch:
            return None
        return self._inline(partial(self._append_batch, reqs, now))

    def _inline(self, fn: Callable[[], T]) -> T | None:
        """Run `fn` on the calling thread if the database thread is idle; None if it is
        busy, or if SQLite would have to wait for a lock.

        It never waits: not for the connection's lock, nor for SQLite's (`busy_timeout`
        0). Another writer (a tool in another process) sends the work to the database
        thread, which waits there instead.
        """
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._closed:
                raise StoreUnavailable("the store is closed")
            assert self._rests_at_zero
            return _guarded(fn)
        except StoreUnavailable as exc:
            if _sqlite_code(exc.__cause__) == sqlite3.SQLITE_BUSY:
                return None
            raise
        finally:
            self._lock.release()

    # -- appending ---------------------------------------------------------------

    async def append(self, req: AppendRequest) -> AppendResult:
        """Append one request's events atomically; raises ConcurrencyConflict on a mismatch."""
        (result,) = await self.append_batch([req])
        if isinstance(result, ConcurrencyConflict):
            raise result
        return result

    async def append_batch(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict]:
        """Append many requests in one transaction; a conflicting one fails alone in its slot."""
        done = self.append_batch_now(reqs)
        if done is not None:
            return done
        plan = await self._run(partial(self._append_batch, reqs, self._clock()))
        self._waiters.notify(plan.last_position)
        return plan.results

    def append_batch_now(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict] | None:
        """`append_batch` on the calling thread, at once, if it is an inline commit (see
        `open`'s `inline_batch`); None, having written nothing, if it is not."""
        validate_requests(reqs)
        if not reqs:
            return []
        plan = self._commit_inline(reqs, self._clock())
        if plan is None:
            return None
        self._waiters.notify(plan.last_position)
        return plan.results

    def _append_batch(self, reqs: Sequence[AppendRequest], now: float) -> BatchPlan:
        hot = self._hot
        with write_transaction(hot):
            stream_ids = list(dict.fromkeys(req.stream_id for req in reqs))
            heads: dict[str, StreamHead] = {}
            for group in chunks(stream_ids):
                for stream_id, status, last_version, created_at in hot.execute(
                    "SELECT stream_id, status, last_version, created_at FROM streams "
                    f"WHERE stream_id IN ({placeholders(len(group))})",
                    group,
                ):
                    heads[stream_id] = StreamHead(last_version, status, created_at)
            keys = list(
                dict.fromkeys(
                    (req.stream_id, req.command_id) for req in reqs if req.command_id is not None
                )
            )
            applied: dict[tuple[str, str], AppendResult] = {}
            for key_group in chunks(keys):
                pairs = ",".join(["(?,?)"] * len(key_group))
                # A join on VALUES searches the primary key once per pair; a row-value
                # IN (...) would scan the whole commands table.
                for row in hot.execute(
                    "SELECT c.stream_id, c.command_id, c.first_version, c.last_version, "
                    f"c.first_position, c.last_position FROM (VALUES {pairs}) AS k "
                    "JOIN commands AS c ON c.stream_id = k.column1 AND c.command_id = k.column2",
                    [part for key in key_group for part in key],
                ):
                    applied[(row[0], row[1])] = AppendResult(row[0], row[2], row[3], row[4], row[5])
            (last_position,) = hot.execute("SELECT last_position FROM head").fetchone()
            plan = plan_batch(reqs, heads, applied, last_position, now)
            if plan.events:
                hot.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", plan.events)
                hot.executemany(
                    "INSERT INTO streams (stream_id, status, last_version, created_at, updated_at)"
                    " VALUES (?,?,?,?,?) ON CONFLICT (stream_id) DO UPDATE SET"
                    " last_version = excluded.last_version, updated_at = excluded.updated_at",
                    [
                        (stream_id, head.status, head.last_version, head.created_at, now)
                        for stream_id, head in plan.heads.items()
                    ],
                )
                if plan.commands:
                    hot.executemany("INSERT INTO commands VALUES (?,?,?,?,?,?,?,?)", plan.commands)
                hot.execute("UPDATE head SET last_position = ?", (plan.last_position,))
        return plan

    # -- reading -----------------------------------------------------------------

    async def read_stream(
        self, stream_id: str, from_version: int = 0, to_version: int | None = None
    ) -> list[RecordedEvent]:
        """Read a stream's events with from_version < version <= to_version, hot or archived."""
        return await self._run(partial(self._read_stream, stream_id, from_version, to_version))

    def _read_stream(
        self, stream_id: str, from_version: int, to_version: int | None
    ) -> list[RecordedEvent]:
        row = self._hot.execute(
            "SELECT status, last_version FROM streams WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if row is None:
            return []
        status, last_version = row
        low = max(from_version, 0)
        high = last_version if to_version is None else min(to_version, last_version)
        if high <= low:
            return []
        if status == "archived":
            return self._archive.read_stream(stream_id, last_version)[low:high]
        events = events_from_rows(
            self._hot.execute(
                f"SELECT {EVENT_COLUMNS} FROM events "
                "WHERE stream_id = ? AND version > ? AND version <= ? ORDER BY version",
                (stream_id, low, high),
            )
        )
        check_contiguous(stream_id, events, low + 1, high)
        return events

    async def read_all(
        self, from_position: int = 0, limit: int = 1000, *, types: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        """Read up to `limit` events with position > from_position, archived ones merged in
        (only those of `types`, when given: SQLite skips the others before Python sees them)."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        if self._missing and from_position < self._missing_reach:
            raise BundlesMissing(self._missing, self._archive_file)
        if self._log is None:
            return await self._run(partial(_read_page, self._archive, from_position, limit, types))
        return await self._read_log(partial(self._log.read_all, from_position, limit, types=types))

    async def last_position(self) -> int:
        """Return the global position of the newest event ever appended (0 when empty)."""
        if self._log is None:
            return await self._run(partial(_head_position, self._hot))
        return await self._read_log(self._log.last_position)

    async def _read_log(self, fn: Callable[[], T]) -> T:
        """Run a read of the global log on the database thread through the log reader's
        connections, without the lock of the connection that commits: the read models'
        frequent reads then never send an inline commit to the database thread (where it
        waited behind them: p99 at 500 commands/s was 5-15 ms, now ~1 ms)."""
        if self._closed:
            raise StoreUnavailable("the store is closed")
        return cast(T, await self._hop(fn))

    async def stream_info(self, stream_id: str) -> StreamInfo | None:
        """Return what the store knows about a stream, or None for an unknown stream."""
        return await self._run(partial(self._stream_info, stream_id))

    def _stream_info(self, stream_id: str) -> StreamInfo | None:
        row = self._hot.execute(
            "SELECT stream_id, status, last_version, created_at, updated_at FROM streams "
            "WHERE stream_id = ?",
            (stream_id,),
        ).fetchone()
        return None if row is None else _stream_info(row)

    async def list_streams(
        self,
        status: StreamStatus | None = None,
        updated_after: float | None = None,
        updated_before: float | None = None,
        prefix: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StreamInfo]:
        """List streams matching every given filter, most recently updated first."""
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if updated_after is not None:
            where.append("updated_at > ?")
            params.append(updated_after)
        if updated_before is not None:
            where.append("updated_at < ?")
            params.append(updated_before)
        if prefix:
            # The range lets the primary key index narrow the scan; substr makes it exact.
            where.append("stream_id >= ? AND substr(stream_id, 1, ?) = ?")
            params += [prefix, len(prefix), prefix]
        sql = (
            "SELECT stream_id, status, last_version, created_at, updated_at FROM streams"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY updated_at DESC, stream_id LIMIT ? OFFSET ?"
        )
        params += [limit, offset]

        def query() -> list[StreamInfo]:
            return [_stream_info(row) for row in self._hot.execute(sql, params)]

        return await self._run(query)

    async def set_status(self, stream_id: str, status: StreamStatus) -> None:
        """Mark a stream "active" or "completed" (archiving is archive_stream's job)."""
        if status not in STREAM_STATUSES:
            raise ValueError(f"unknown stream status {status!r}")
        await self._run(partial(self._set_status, stream_id, status, self._clock()))

    def _set_status(self, stream_id: str, status: StreamStatus, now: float) -> None:
        with write_transaction(self._hot):
            row = self._hot.execute(
                "SELECT status FROM streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
            if row is None:
                raise StreamNotFound(stream_id)
            if status == "archived":
                raise OperationRefused(stream_id, "only archive_stream archives a stream")
            if row[0] == "archived":
                raise OperationRefused(stream_id, "an archived stream keeps its status")
            self._hot.execute(
                "UPDATE streams SET status = ?, updated_at = ? WHERE stream_id = ?",
                (status, now, stream_id),
            )

    async def read_commands(self, stream_id: str) -> list[RecordedCommand]:
        """Read the commands recorded for a stream, in version order."""

        def query() -> list[RecordedCommand]:
            return [
                RecordedCommand(*row)
                for row in self._hot.execute(
                    "SELECT stream_id, command_id, command, at, first_version, last_version "
                    "FROM commands WHERE stream_id = ? ORDER BY first_version",
                    (stream_id,),
                )
            ]

        return await self._run(query)

    async def wait_for_position(self, position: int, timeout: float | None) -> int:
        """Wait until last_position() >= position or the timeout passes; return last_position()."""
        await self._waiters.wait(position, timeout, self.last_position)
        return await self.last_position()

    # -- snapshots ---------------------------------------------------------------

    async def save_snapshot(self, snap: Snapshot) -> None:
        """Store a stream's snapshot lz4-compressed and checksummed, replacing the last one."""
        stored = lz4.frame.compress(snap.payload)
        await self._run(partial(self._save_snapshot, snap, stored, self._clock()))

    def _save_snapshot(self, snap: Snapshot, stored: bytes, now: float) -> None:
        with write_transaction(self._hot):
            row = self._hot.execute(
                "SELECT status, last_version FROM streams WHERE stream_id = ?", (snap.stream_id,)
            ).fetchone()
            if row is None:
                raise StreamNotFound(snap.stream_id)
            if row[0] == "archived":
                raise OperationRefused(snap.stream_id, "an archived stream takes no snapshots")
            if not 0 < snap.version <= row[1]:
                raise OperationRefused(
                    snap.stream_id, f"snapshot version {snap.version} is not a stored version"
                )
            self._hot.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?,?,?,?,?,?)",
                (
                    snap.stream_id,
                    snap.version,
                    snap.schema_version,
                    stored,
                    zlib.crc32(stored),
                    now,
                ),
            )

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        """Return the stream's snapshot if usable at `schema_version`; None means replay fully."""
        return await self._run(partial(self._load_snapshot, stream_id, schema_version))

    async def load_latest(
        self, stream_id: str, schema_version: int
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        """The stream's usable snapshot (or None) and every event after it, in one hop.

        What recovering a room needs. With `inline_reads`, a stream that is not archived is
        read on the calling thread when the database thread is idle (a few indexed rows,
        ~0.1-0.2 ms), without the hops there and back (~0.2 ms more, and much more when the
        loop is busy).
        """

        def both(hot_only: bool) -> tuple[Snapshot | None, list[RecordedEvent]] | None:
            if hot_only and self._is_archived(stream_id):
                return None  # bundles are decompressed on the database thread
            snap = self._load_snapshot(stream_id, schema_version)
            return snap, self._read_stream(stream_id, snap.version if snap else 0, None)

        found = self._inline(partial(both, True)) if self._inline_reads else None
        if found is None:
            found = await self._run(partial(both, False))
        assert found is not None
        return found

    def _is_archived(self, stream_id: str) -> bool:
        row = self._hot.execute(
            "SELECT 1 FROM streams WHERE stream_id = ? AND status = 'archived'", (stream_id,)
        ).fetchone()
        return row is not None

    def _load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        row = self._hot.execute(
            "SELECT version, schema_version, payload, checksum FROM snapshots WHERE stream_id = ?",
            (stream_id,),
        ).fetchone()
        if row is None:
            return None
        version, stored_version, stored, checksum = row
        if stored_version != schema_version:
            log.warning(
                "snapshot of %r has schema version %s, wanted %d: replaying instead",
                stream_id,
                stored_version,
                schema_version,
            )
            return None
        if not isinstance(stored, bytes) or zlib.crc32(stored) != checksum:
            log.warning("snapshot of %r fails its checksum: replaying instead", stream_id)
            return None
        try:
            payload = lz4.frame.decompress(stored)
        except RuntimeError as exc:
            log.warning(
                "snapshot of %r does not decompress (%s): replaying instead", stream_id, exc
            )
            return None
        return Snapshot(stream_id, version, stored_version, payload)

    # -- archive -----------------------------------------------------------------

    async def archive_stream(
        self, stream_id: str, *, on_step: Callable[[ArchiveStep], None] | None = None
    ) -> None:
        """Move a completed stream's events into a bundle in the archive file."""
        # `on_step` is called after each step ("built", "bundled", "archived") so tests
        # can stop the archival between steps. Raises StreamNotFound, OperationRefused
        # (not completed) or ConcurrencyConflict (appended to while being archived).
        step = on_step or _no_step
        bundle = await self._run(partial(self._archive.build, stream_id, self._clock()))
        if bundle is None:
            return  # archived already
        step("built")
        await self._run(partial(self._archive.store, bundle, self._clock()))
        step("bundled")
        await self._run(partial(self._archive.finish, bundle.header, self._clock()))
        step("archived")

    async def apply_retention(self, older_than_days: float | None = None) -> list[str]:
        """Forget archived streams archived more than `older_than_days` ago (None: keep all)."""
        if older_than_days is None:
            return []
        cutoff = self._clock() - older_than_days * 86_400.0
        return await self._run(partial(self._archive.expire, cutoff))

    @property
    def missing_bundles(self) -> tuple[str, ...]:
        """Archived streams whose bundle the archive file did not hold when the store
        opened (empty when the archive is whole). While there are any, `read_all` refuses
        a page from a position before their last event (every page, when that is unknown),
        so a reader already past them (live read models) goes on."""
        return self._missing

    async def forget_missing_bundles(self) -> list[str]:
        """Give up the archived streams whose bundles are lost: remove their hot rows
        (stream, commands, snapshots), as retention would, so the log reads whole again
        without them; their ids. Read models keep what they folded until rebuilt."""
        gone = await self._run(self._archive.forget_missing)
        if gone:
            log.warning("forgot %d archived stream(s) whose bundles were lost: %s", len(gone), gone)
        self._missing, self._missing_reach = (), 0.0
        return gone

    async def backup(self, target: str | os.PathLike[str]) -> tuple[Path, Path]:
        """Copy the store, while it runs, to `target` and `<target>.archive.db`: both files
        as of one moment, so no archival or retention step falls between them. Appends go
        on meanwhile: the copies are read from snapshots taken together (two read
        transactions begun while the store's connections are held), on a thread of their
        own. The read-model file is not copied: it rebuilds from the log. Creates the
        target's folder; refuses (FileExistsError) to write over a file."""
        hot_target = Path(target)
        archive_target = default_archive_path(hot_target)
        for path in (hot_target, archive_target):
            if path.exists():
                raise FileExistsError(f"{path} exists; a backup never writes over a file")
        hot_target.parent.mkdir(parents=True, exist_ok=True)
        readers = await self._run(self._snapshots)
        try:
            await asyncio.to_thread(
                _guarded,
                partial(_copy_snapshots, [(readers[0], hot_target), (readers[1], archive_target)]),
            )
        finally:
            for reader in readers:
                reader.close()
        return hot_target, archive_target

    def _snapshots(self) -> tuple[sqlite3.Connection, sqlite3.Connection]:
        """A read transaction on each file, begun while no store work can run between them."""
        readers: list[sqlite3.Connection] = []
        try:
            for path in (self._hot_file, self._archive_file):
                reader = _connect_reader(path)
                readers.append(reader)
                reader.execute("BEGIN")
                reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot
        except BaseException:
            for reader in readers:
                reader.close()
            raise
        return readers[0], readers[1]

    async def export_bundle(self, stream_id: str, path: str | os.PathLike[str]) -> None:
        """Write a stream's events as a bundle file (its stored bundle when archived)."""
        raw = await self._run(partial(self._export, stream_id, self._clock()))
        await asyncio.to_thread(_write_file_atomically, Path(path), raw)

    def _export(self, stream_id: str, now: float) -> bytes:
        row = self._hot.execute(
            "SELECT status, last_version FROM streams WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if row is None:
            raise StreamNotFound(stream_id)
        bundle: Bundle | None
        if row[0] == "archived":
            bundle = self._archive.stored(stream_id)
            if bundle is None:
                raise CorruptData(stream_id, None, "archived stream has no bundle in the archive")
        else:
            bundle = encode_bundle(self._archive.hot_events(stream_id, row[1]), now)
        return bundle.to_bytes()

    async def import_bundle(self, path: str | os.PathLike[str]) -> str:
        """Add a bundle file to this store as an archived stream; returns its stream id."""
        raw = await asyncio.to_thread(Path(path).read_bytes)
        header_bytes, body = split_bundle(raw)
        stream_id = await self._run(
            partial(self._archive.import_bundle, header_bytes, body, self._clock())
        )
        self._waiters.notify(await self.last_position())
        return stream_id

    # -- lifecycle -----------------------------------------------------------------

    async def close(self) -> None:
        """Close both database files; waiting readers wake up."""
        if self._closed:
            return
        self._waiters.wake_all()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.stop)
            self._checkpointer = None
        try:
            if self._log is not None:
                await self._hop(self._log.close)
            await self._run(self._archive.db.close)
        finally:
            self._closed = True
            await self._db.close()


class StoreReader:
    """`read_all` and `last_position` of a store on connections of their own.

    The store reads the global log through one on its database thread, without the lock
    of the connection that commits (see `SqliteEventStore._read_log`); a tool may use
    another on a thread of its own. One thread uses it at a time; the connections open
    on first use. Each page is read inside one read transaction of each file, so a
    stream archived meanwhile (by another process) is seen hot or archived, never both
    and never neither (the bundle commits before the hot rows go).
    """

    def __init__(self, path: str, archive_path: str) -> None:
        self._path = path
        self._archive_path = archive_path
        self._archive: Archive | None = None

    def read_all(
        self, from_position: int = 0, limit: int = 1000, *, types: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        """Up to `limit` events with position > from_position, archived ones merged in
        (only those of `types`, when given)."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        return _guarded(partial(self._page, from_position, limit, types))

    def last_position(self) -> int:
        """The global position of the newest event ever appended (0 when empty)."""
        return _guarded(lambda: _head_position(self._open().hot))

    def close(self) -> None:
        if self._archive is not None:
            archive, self._archive = self._archive, None
            archive.hot.close()
            archive.db.close()

    def _page(
        self, from_position: int, limit: int, types: Collection[str] | None
    ) -> list[RecordedEvent]:
        archive = self._open()
        with read_transaction(archive.hot), read_transaction(archive.db):
            return _read_page(archive, from_position, limit, types)

    def _open(self) -> Archive:
        if self._archive is None:
            hot = _connect_reader(self._path)
            try:
                self._archive = Archive(hot, _connect_reader(self._archive_path))
            except BaseException:
                hot.close()
                raise
        return self._archive


def _copy_snapshots(copies: Sequence[tuple[sqlite3.Connection, Path]]) -> None:
    """Copy each reader's snapshot into a file beside its target, then rename them all (the
    hot file last: until it is in place there is no backup to open)."""
    partials = [final.with_name(final.name + ".partial") for _, final in copies]
    for (reader, _), partial_path in zip(copies, partials, strict=True):
        partial_path.unlink(missing_ok=True)
        destination = sqlite3.connect(partial_path)
        try:
            reader.backup(destination)
        finally:
            destination.close()
    for (_, final), partial_path in reversed(list(zip(copies, partials, strict=True))):
        os.replace(partial_path, final)


def _connect_reader(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=_BUSY_TIMEOUT_S, check_same_thread=False
    )
    conn.execute("PRAGMA query_only = 1")
    return conn


def _read_page(
    archive: Archive, from_position: int, limit: int, types: Collection[str] | None = None
) -> list[RecordedEvent]:
    if types is None:
        rows = archive.hot.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (from_position, limit),
        )
    else:
        wanted = sorted(types)
        rows = archive.hot.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? "
            f"AND type IN ({', '.join('?' * len(wanted))}) ORDER BY position LIMIT ?",
            (from_position, *wanted, limit),
        )
    return archive.merge_into(events_from_rows(rows), from_position, limit, types)


def _head_position(hot: sqlite3.Connection) -> int:
    return cast(int, hot.execute("SELECT last_position FROM head").fetchone()[0])


def _connect_archive(path: str | os.PathLike[str], synchronous: Synchronous) -> sqlite3.Connection:
    # Opened on the database thread, where every later use of it runs too.
    conn = sqlite3.connect(path, isolation_level=None, timeout=_BUSY_TIMEOUT_S)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={synchronous}")
        conn.executescript(ARCHIVE_SCHEMA)
    except BaseException:
        conn.close()
        raise
    return conn


def _stream_info(row: Sequence[Any]) -> StreamInfo:
    stream_id, status, last_version, created_at, updated_at = row
    if status not in STREAM_STATUSES:
        raise CorruptData(stream_id, None, f"unknown stream status {status!r}")
    return StreamInfo(stream_id, status, last_version, created_at, updated_at)


def _write_file_atomically(path: Path, raw: bytes) -> None:
    # Write beside, fsync, then rename: a reader never sees half a bundle.
    partial_path = path.with_name(path.name + ".partial")
    with open(partial_path, "wb") as file:
        file.write(raw)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial_path, path)


def _no_step(step: ArchiveStep) -> None:
    del step
