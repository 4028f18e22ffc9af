"""The durable event store on SQLite: one file for hot streams and one for archived bundles."""

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

from engine.store.batch import Applied, BatchPlan, StreamHead, plan_batch, validate_requests
from engine.store.bundle import Bundle, encode_bundle, split_bundle, write_file_atomically
from engine.store.errors import (
    ArchiveOutOfStep,
    BundlesMissing,
    ConcurrencyConflict,
    CorruptData,
    OperationRefused,
    StoreNotFound,
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
    check_contiguous,
    command_from_row,
    stream_info_from_row,
)
from engine.store.sqlite.archive import Archive
from engine.store.sqlite.backup import begin_snapshots, copy_snapshots
from engine.store.sqlite.checkpoint import WRITER_BACKSTOP_PAGES, Checkpointer
from engine.store.sqlite.connection import (
    BUSY_TIMEOUT_S,
    WAIT_FOR_LOCKS,
    Synchronous,
    connect_archive,
    connect_daemon,
    default_archive_path,
    guarded,
    readonly_uri,
    sqlite_code,
)
from engine.store.sqlite.reader import StoreReader, head_position, read_page
from engine.store.sqlite.schema import (
    ARCHIVE_SCHEMA,
    COMMAND_COLUMNS,
    EVENT_COLUMNS,
    HOT_SCHEMA,
    SCHEMA_VERSION,
    chunks,
    events_from_rows,
    placeholders,
    read_transaction,
    upgrade_hot_schema,
    write_transaction,
)

log = logging.getLogger("liaptui.store")

T = TypeVar("T")
ArchiveStep = Literal["built", "bundled", "archived"]


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
        self._readonly = False

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
        archive_db: sqlite3.Connection | None = None
        try:
            archive_db = await hop(
                guarded,
                partial(connect_archive, archive_file),
                os.fspath(archive_file),
            )
            log = StoreReader(os.fspath(path), os.fspath(archive_file))
            store = cls(db, hot, Archive(hot, archive_db), clock, log)
            store._hot_file, store._archive_file = os.fspath(path), os.fspath(archive_file)
            await store._run(partial(store._setup, synchronous))
        except BaseException:
            if archive_db is not None:
                await hop(archive_db.close)
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

    @classmethod
    async def open_readonly(
        cls,
        path: str | os.PathLike[str],
        archive_path: str | os.PathLike[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> SqliteEventStore:
        """Open an existing store that can only read: no file is created or written, no
        interrupted archival is finished (that is the writing engine's job: a second
        process finishing it could race the engine into deleting a bundle).

        Without `archive_path`, the default `<db>.archive.db` is read if it exists; with
        no archive file at all, archived streams read as missing bundles. Raises
        StoreNotFound, or CorruptData when a file is not a store of this schema.
        """
        hot_path = Path(path)
        if not hot_path.is_file():
            raise StoreNotFound(os.fspath(path))
        if archive_path is not None and not Path(archive_path).is_file():
            raise StoreNotFound(f"archive {os.fspath(archive_path)}")
        default = default_archive_path(hot_path)
        archive_file = archive_path if archive_path is not None else default
        db = connect_daemon(readonly_uri(hot_path), uri=True)
        try:
            await db
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"cannot open {hot_path}: {exc}") from None
        hot = db._conn
        hop = cast(Callable[..., Awaitable[sqlite3.Connection]], db._execute)
        try:
            archive_db = await hop(partial(_setup_readonly, hot, hot_path, Path(archive_file)))
        except BaseException:
            await db.close()
            raise
        store = cls(db, hot, Archive(hot, archive_db), clock)
        store._hot_file, store._archive_file = os.fspath(hot_path), os.fspath(archive_file)
        store._readonly = True
        return store

    def _setup(self, synchronous: Synchronous) -> None:
        guarded(partial(self._setup_hot, synchronous), self._hot_file)
        out_of_step = self._archive.recover(self._clock())
        if out_of_step:
            raise ArchiveOutOfStep(out_of_step, self._archive_file)
        self._missing = self._archive.missing_bundles()
        if self._missing:
            self._missing_reach = self._archive.reach_of(self._missing)
            log.error("%s", BundlesMissing(self._missing, self._archive_file))

    def _setup_hot(self, synchronous: Synchronous) -> None:
        hot = self._hot
        version = hot.execute("PRAGMA user_version").fetchone()[0]
        if version not in range(SCHEMA_VERSION + 1):
            raise CorruptData(None, None, f"unknown store schema version {version}")
        (mode,) = hot.execute("PRAGMA journal_mode=WAL").fetchone()
        if mode != "wal":
            raise StoreUnavailable(f"cannot use write-ahead logging (journal mode {mode})")
        hot.execute(f"PRAGMA synchronous={synchronous}")
        # Checkpoints run on the Checkpointer's thread; the writer's own is only a backstop.
        hot.execute(f"PRAGMA wal_autocheckpoint={WRITER_BACKSTOP_PAGES}")
        with write_transaction(hot):
            # Read again under the write lock: another process may have upgraded it.
            version = hot.execute("PRAGMA user_version").fetchone()[0]
            if 0 < version < SCHEMA_VERSION:
                log.warning("upgrading %s from schema version %d", self._hot_file, version)
                upgrade_hot_schema(hot, version)
            for statement in _statements(HOT_SCHEMA):
                hot.execute(statement)
            if version != SCHEMA_VERSION:
                # Only then: an open that finds the file as it should be writes nothing.
                hot.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _check_writable(self) -> None:
        if self._readonly:
            raise OperationRefused(None, "the store is open read-only")

    async def _run(self, fn: Callable[[], T]) -> T:
        # One hop to the database thread; everything in `fn` runs there, in order.
        if self._closed:
            raise StoreUnavailable("the store is closed")
        return cast(T, await self._hop(self._locked, fn))

    def _locked(self, fn: Callable[[], T]) -> T:
        with self._lock:
            if not self._rests_at_zero:
                return guarded(fn)
            # The database thread waits for SQLite's write lock as long as it must; work
            # on the caller's thread (`_inline`) finds the connection not waiting at all.
            self._hot.execute(WAIT_FOR_LOCKS)
            try:
                return guarded(fn)
            finally:
                self._hot.execute("PRAGMA busy_timeout = 0")

    def _commit_inline(
        self, reqs: Sequence[AppendRequest], now: float, any_size: bool = False
    ) -> BatchPlan | None:
        """Commit a batch of at most `inline_batch` requests (any number: `any_size`) on
        this thread if the database thread is idle; None if not (always None when
        `inline_batch` is 0).

        SQLite does the work with the GIL released (~0.1-0.3 ms for a few appends), so the
        caller's thread is held about as long as the two thread hops it saves would take.
        """
        if not self._inline_batch or (len(reqs) > self._inline_batch and not any_size):
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
            return guarded(fn)
        except StoreUnavailable as exc:
            if sqlite_code(exc.__cause__) == sqlite3.SQLITE_BUSY:
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
        return self._append_now(reqs, any_size=False)

    def append_any_batch_now(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict] | None:
        """`append_batch_now` for a batch of any size (while inline commits are on)."""
        return self._append_now(reqs, any_size=True)

    def _append_now(
        self, reqs: Sequence[AppendRequest], any_size: bool
    ) -> list[AppendResult | ConcurrencyConflict] | None:
        self._check_writable()
        validate_requests(reqs)
        if not reqs:
            return []
        plan = self._commit_inline(reqs, self._clock(), any_size)
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
            applied: dict[tuple[str, str], Applied] = {}
            for key_group in chunks(keys):
                pairs = ",".join(["(?,?)"] * len(key_group))
                # A join on VALUES searches the primary key once per pair; a row-value
                # IN (...) would scan the whole commands table.
                for row in hot.execute(
                    f"SELECT {_prefixed('c', COMMAND_COLUMNS)} FROM (VALUES {pairs}) AS k "
                    "JOIN commands AS c ON c.stream_id = k.column1 AND c.command_id = k.column2",
                    [part for key in key_group for part in key],
                ):
                    done, first_p, last_p, digest = command_from_row(row)
                    applied[(done.stream_id, done.command_id)] = (
                        AppendResult(
                            done.stream_id, done.first_version, done.last_version, first_p, last_p
                        ),
                        digest,
                    )
            (last_position,) = hot.execute("SELECT last_position FROM head").fetchone()
            (held,) = hot.execute("SELECT max(position) FROM events").fetchone()
            if held is not None and held > last_position:
                # A head row behind the events (edited, or put back alone): positions go on
                # past every event held, never reusing one.
                log.error(
                    "head position %d is behind the events (%d); going on past them",
                    last_position,
                    held,
                )
                last_position = held
            new = [stream_id for stream_id in stream_ids if stream_id not in heads]
            retired = {
                row[0]
                for group in chunks(new)
                for row in hot.execute(
                    "SELECT stream_id FROM retired_streams "
                    f"WHERE stream_id IN ({placeholders(len(group))})",
                    group,
                )
            }
            plan = plan_batch(reqs, heads, applied, last_position, now, retired)
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
                    hot.executemany(
                        f"INSERT INTO commands ({COMMAND_COLUMNS}) VALUES "
                        f"({placeholders(10)})",
                        plan.commands,
                    )
                hot.execute("UPDATE head SET last_position = ?", (plan.last_position,))
        return plan

    # -- reading -----------------------------------------------------------------

    async def read_stream(
        self, stream_id: str, from_version: int = 0, to_version: int | None = None
    ) -> list[RecordedEvent]:
        """Read a stream's events with from_version < version <= to_version, hot or archived."""
        return await self._run(
            partial(self._in_snapshot, partial(self._read_stream, stream_id, from_version, to_version))
        )

    def _in_snapshot(self, fn: Callable[[], T]) -> T:
        """Run `fn`'s reads in one read transaction, so a commit by another process cannot
        fall between them (a stream's row read before its events, its events after)."""
        if self._hot.in_transaction:
            return fn()
        with read_transaction(self._hot):
            return fn()

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
        # Read to the end unless asked for less, so rows past a lowered last_version are
        # noticed instead of silently left off.
        whole = to_version is None or to_version >= last_version
        query = f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ? AND version > ?"
        rows = (
            self._hot.execute(query + " ORDER BY version", (stream_id, low))
            if whole
            else self._hot.execute(
                query + " AND version <= ? ORDER BY version", (stream_id, low, high)
            )
        )
        events = events_from_rows(rows)
        if whole and events and events[-1].version > last_version:
            raise CorruptData(
                stream_id,
                events[-1].version,
                f"event beyond the stream's last version {last_version}",
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
            return await self._run(partial(read_page, self._archive, from_position, limit, types))
        return await self._read_log(partial(self._log.read_all, from_position, limit, types=types))

    async def last_position(self) -> int:
        """Return the global position of the newest event ever appended (0 when empty)."""
        if self._log is None:
            return await self._run(partial(head_position, self._hot))
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
        return None if row is None else stream_info_from_row(row)

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
            return [stream_info_from_row(row) for row in self._hot.execute(sql, params)]

        return await self._run(query)

    async def set_status(self, stream_id: str, status: StreamStatus) -> None:
        """Mark a stream "active" or "completed" (archiving is archive_stream's job)."""
        self._check_writable()
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
                command_from_row(row)[0]
                for row in self._hot.execute(
                    f"SELECT {COMMAND_COLUMNS} FROM commands WHERE stream_id = ? "
                    "ORDER BY first_version",
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
        self._check_writable()
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

            def read() -> tuple[Snapshot | None, list[RecordedEvent]]:
                snap = self._load_snapshot(stream_id, schema_version)
                return snap, self._read_stream(stream_id, snap.version if snap else 0, None)

            return self._in_snapshot(read)

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
        self._check_writable()
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
        self._check_writable()
        if older_than_days is None:
            return []
        cutoff = self._clock() - older_than_days * 86_400.0
        return await self._run(partial(self._archive.expire, cutoff, self._clock()))

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
        self._check_writable()
        gone = await self._run(partial(self._archive.forget_missing, self._clock()))
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
        readers = await self._run(partial(begin_snapshots, (self._hot_file, self._archive_file)))
        try:
            await asyncio.to_thread(
                guarded,
                partial(copy_snapshots, [(readers[0], hot_target), (readers[1], archive_target)]),
            )
        finally:
            for reader in readers:
                reader.close()
        return hot_target, archive_target

    async def export_bundle(self, stream_id: str, path: str | os.PathLike[str]) -> None:
        """Write a stream's events as a bundle file (its stored bundle when archived)."""
        raw = await self._run(partial(self._export, stream_id, self._clock()))
        await asyncio.to_thread(write_file_atomically, Path(path), raw)

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
        self._check_writable()
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


def _no_step(step: ArchiveStep) -> None:
    del step


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


def _statements(script: str) -> list[str]:
    """The statements of a schema script, to run one by one inside a transaction
    (executescript would commit it first)."""
    lines = [line for line in script.splitlines() if not line.strip().startswith("--")]
    return [statement for statement in "\n".join(lines).split(";") if statement.strip()]


_HOT_TABLES = {"events", "streams", "commands", "snapshots", "head"}


def _setup_readonly(
    hot: sqlite3.Connection, hot_path: Path, archive_path: Path
) -> sqlite3.Connection:
    """Check a read-only store's hot file and connect its archive (on the database thread,
    where the store uses both later)."""
    try:
        (version,) = hot.execute("PRAGMA user_version").fetchone()
        tables = {row[0] for row in hot.execute("SELECT name FROM sqlite_master")}
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        raise CorruptData(None, None, f"{hot_path} is not a readable event store: {exc}") from None
    if 0 < version < SCHEMA_VERSION and _HOT_TABLES.issubset(tables):
        raise CorruptData(
            None,
            None,
            f"{hot_path} is a store of schema version {version}: open it once writable "
            f"(an engine, or liaptui-replay without --readonly) to upgrade it to {SCHEMA_VERSION}",
        )
    if version != SCHEMA_VERSION or not _HOT_TABLES.issubset(tables):
        raise CorruptData(
            None,
            None,
            f"{hot_path} is not a liaptui event store (schema version {version}, "
            f"expected {SCHEMA_VERSION})",
        )
    if not archive_path.is_file():
        # No archive file: an empty one in memory, so archived streams read as missing bundles.
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.executescript(ARCHIVE_SCHEMA)
        return conn
    conn = sqlite3.connect(
        readonly_uri(archive_path), uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_S
    )
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except (sqlite3.DatabaseError, UnicodeDecodeError) as exc:
        conn.close()
        raise CorruptData(None, None, f"{archive_path} is not a readable archive: {exc}") from None
    if "bundles" not in tables:
        conn.close()
        raise CorruptData(None, None, f"{archive_path} is not a liaptui archive (no bundles table)")
    return conn
