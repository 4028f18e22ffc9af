"""The event store on a PostgreSQL server, for several engine processes sharing one store."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import asyncpg
import lz4.frame

from engine.store.batch import validate_requests
from engine.store.bundle import (
    BundleCache,
    decode_bundle,
    decode_stored,
    encode_bundle,
    split_bundle,
    write_file_atomically,
)
from engine.store.errors import (
    BadStoreUrl,
    BundlesMissing,
    CommandIdReused,
    ConcurrencyConflict,
    CorruptData,
    OperationRefused,
    OwnershipLost,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    StreamArchived,
    StreamNotFound,
    StreamRetired,
)
from engine.store.notify import PositionWaiters
from engine.store.postgres.schema import (
    CREATE_APPEND,
    CREATE_CHECKSUM,
    CREATE_META,
    CREATE_TABLES,
    NOTIFY_CHANNEL,
    SCHEMA_LOCK,
    SCHEMA_VERSION,
    UPGRADE_1_TO_2,
)
from engine.store.protocol import EventStore
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
    command_digest,
    command_from_row,
    stream_info_from_row,
)
from engine.store.url import redacted_url

log = logging.getLogger("liaptui.store")

_MAX_VERSION = 2**62
_EVENT_COLUMNS = "position, stream_id, version, type, schema_version, data, checksum, recorded_at"
_STREAM_COLUMNS = "stream_id, status, last_version, created_at, updated_at"
_APPEND = (
    "CALL liaptui.append_batch_durable("
    "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
)


def _prefixed(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{c.strip()}" for c in columns.split(","))


# A stream's head and its events in a range. events.stream_id and streams.stream_id differ
# in collation (schema.py): joined on each other, no index of events serves the join (a
# read would scan the whole table); joined on the parameter, the events' key serves it.
_READ_STREAM = (
    f"SELECT s.status, s.last_version, {_prefixed('e', _EVENT_COLUMNS)} "
    "FROM liaptui.streams s LEFT JOIN liaptui.events e "
    "ON e.stream_id = $1 AND e.version > $2 AND e.version <= $3 "
    "WHERE s.stream_id = $1 ORDER BY e.version"
)
# The page of hot events, and every bundle that could hold an event of that page's range
# (up to its last position when full, to the log's end when not), read in one statement
# so one snapshot sees a stream either hot or archived, never both nor neither.
_READ_PAGE = f"""
WITH page AS (
    SELECT {_EVENT_COLUMNS} FROM liaptui.events
    WHERE position > $1 AND ($3::text[] IS NULL OR type = ANY($3))
    ORDER BY position LIMIT $2
), bound AS (
    SELECT CASE WHEN count(*) < $2 THEN {_MAX_VERSION} ELSE max(position) END AS reach FROM page
)
SELECT page.*, NULL::bytea AS header, NULL::bytea AS body FROM page
UNION ALL
SELECT b.first_position, b.stream_id, NULL, NULL, NULL, NULL, NULL, NULL, b.header, b.body
FROM liaptui.bundles b, bound
WHERE b.last_position > $1 AND b.first_position <= bound.reach
"""
# Failures of the server or the way to it, not of our SQL or data: the operation did not
# happen (or, for a lost commit, may have: a retry with the same command id is safe).
SERVER_FAILURES: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.InterfaceError,
    # A pooled connection reset after the server died mid-operation.
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.ReadOnlySQLTransactionError,
)
# The store's appends also take a serialisation failure or deadlock as not having happened.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    *SERVER_FAILURES,
    asyncpg.exceptions.TransactionRollbackError,
)
_RETRYABLE: tuple[type[BaseException], ...] = (*_UNAVAILABLE, asyncpg.PostgresError)
_RECONNECT_S = (0.05, 0.1, 0.2, 0.5, 1.0)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a pool connection needs between two uses of the store: nothing.

    asyncpg's default reset sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL` on every release, a second round trip for every call of the store. This
    store leaves no session state on its pool's connections (no SET, no LISTEN, no
    session advisory lock or cursor: the listener has a connection of its own), and
    asyncpg still rolls back a transaction left open before calling this.
    """
    del conn


_POOL_RESET: Callable[[asyncpg.Connection], Awaitable[None]] | None = _keep_session


async def _pool(url: str, size: int, readonly: bool) -> asyncpg.Pool:
    settings = {"default_transaction_read_only": "on"} if readonly else {}
    return await asyncpg.create_pool(
        url,
        min_size=1,
        max_size=size,
        server_settings={"application_name": "liaptui", **settings},
        reset=_POOL_RESET,
    )


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Turn the driver's connection failures into StoreUnavailable."""
    try:
        yield
    except StoreError:
        raise
    except _UNAVAILABLE as exc:
        raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc


class PostgresEventStore:
    """The EventStore protocol on PostgreSQL: several processes may share one database.

    Every append batch is one call of a server-side function (one round trip, one
    transaction); the global log is gap-free because appends take positions, and commit,
    one at a time (docs/store.md); readers waiting for the log are woken by NOTIFY.
    """

    def __init__(
        self, pool: asyncpg.Pool, url: str, clock: Callable[[], float], readonly: bool
    ) -> None:
        """Wrap a pool that `open` has set up; use `await PostgresEventStore.open(url)`."""
        self._pool = pool
        # Appends have connections of their own, so a commit never queues behind reads
        # (room recoveries, the read models' pages, snapshots) for a pool connection.
        self._appends: asyncpg.Pool | None = None
        self._url = url
        self._clock = clock
        self._readonly = readonly
        self._waiters = PositionWaiters()
        self._cache = BundleCache()
        self._closed = False
        self._listener: asyncpg.Connection | None = None
        self._listening: asyncio.Task[None] | None = None
        self._missing: tuple[str, ...] = ()
        self._missing_reach = 0.0

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        readonly: bool = False,
        clock: Callable[[], float] = time.time,
        pool_size: int = 4,
        append_connections: int = 2,
    ) -> Self:
        """Connect, create or check the schema, and start listening for appends.

        `pool_size` connections serve everything but appends, which have
        `append_connections` of their own (the engine keeps two commits in flight).

        Raises StoreUnavailable when the server cannot be reached or refuses us (down,
        wrong password, no such database), BadStoreUrl for a URL asyncpg cannot parse, and
        CorruptData for a schema newer than ours. `readonly`: never create or write
        anything (StoreNotFound if the database holds no store).
        """
        try:
            with guarded():
                pool = await _pool(url, pool_size, readonly)
        except (ValueError, asyncpg.exceptions.ClientConfigurationError) as exc:
            raise BadStoreUrl(redacted_url(url), str(exc)) from exc
        store = cls(pool, url, clock, readonly)
        try:
            with guarded():
                await store._setup()
                if not readonly:
                    store._appends = await _pool(url, append_connections, readonly)
                await store._listen()
        except BaseException:
            await store._close_pools()
            raise
        return store

    async def _setup(self) -> None:
        async with self._pool.acquire() as conn:
            if self._readonly:
                await self._check_version(conn)
            else:
                async with conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
                    await conn.execute(CREATE_META)
                    version = await self._check_version(conn)
                    await conn.execute(CREATE_TABLES)
                    await conn.execute(CREATE_CHECKSUM)
                    if version is not None and version < 2:
                        log.warning("upgrading the store from schema version %d", version)
                        await conn.execute(UPGRADE_1_TO_2)
                    await conn.execute(CREATE_APPEND)
                    await conn.execute(
                        "INSERT INTO liaptui.meta VALUES ('schema_version', $1) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        SCHEMA_VERSION,
                    )
            missing = await conn.fetch(
                "SELECT s.stream_id, s.last_position FROM liaptui.streams s "
                "WHERE s.status = 'archived' AND NOT EXISTS "
                "(SELECT 1 FROM liaptui.bundles b WHERE b.stream_id = s.stream_id) "
                "ORDER BY s.stream_id"
            )
        if missing:
            self._missing = tuple(r["stream_id"] for r in missing)
            self._missing_reach = float(max(r["last_position"] for r in missing))
            log.error("%s", BundlesMissing(self._missing, "the bundles table"))

    async def _check_version(self, conn: asyncpg.pool.PoolConnectionProxy[Any]) -> int | None:
        """The stored schema version (None: no store yet), refused when newer than ours,
        or (read-only) older: a writable open upgrades it."""
        exists = await conn.fetchval("SELECT to_regclass('liaptui.meta') IS NOT NULL")
        if not exists:
            if self._readonly:
                raise StoreNotFound(f"no event store in the database at {redacted_url(self._url)}")
            return None
        version = await conn.fetchval("SELECT value FROM liaptui.meta WHERE key = 'schema_version'")
        if version is not None and version > SCHEMA_VERSION:
            raise CorruptData(
                None,
                None,
                f"store schema version {version} is newer than this engine's "
                f"{SCHEMA_VERSION}: upgrade the engine",
            )
        if self._readonly and version is not None and version < SCHEMA_VERSION:
            raise CorruptData(
                None,
                None,
                f"store schema version {version}: open it once writable to upgrade it "
                f"to {SCHEMA_VERSION}",
            )
        return None if version is None else int(version)

    # -- wake-ups ------------------------------------------------------------------

    async def _listen(self) -> None:
        """A connection of its own that LISTENs; when it drops, one is made again."""
        conn = await asyncpg.connect(self._url)
        try:
            await conn.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except BaseException:
            await conn.close()
            raise
        conn.add_termination_listener(self._on_listener_lost)
        self._listener = conn

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        del conn, pid, channel
        with contextlib.suppress(ValueError):
            self._waiters.notify(int(str(payload)))

    def _on_listener_lost(self, conn: object) -> None:
        del conn
        self._listener = None
        # Appends may have been missed while deaf: waiters re-read the log.
        self._waiters.wake_all()
        if not self._closed and self._listening is None:
            self._listening = asyncio.get_running_loop().create_task(self._relisten())

    async def _relisten(self) -> None:
        try:
            attempt = 0
            while not self._closed:
                try:
                    await self._listen()
                except _RETRYABLE as exc:
                    delay = _RECONNECT_S[min(attempt, len(_RECONNECT_S) - 1)]
                    log.debug("LISTEN connection not back yet (%s); retry in %ss", exc, delay)
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
                if self._closed and self._listener is not None:
                    await self._listener.close()
                else:
                    self._waiters.wake_all()
                return
        finally:
            self._listening = None

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
        """Append many requests in one round trip and one transaction; a conflicting one
        fails alone in its slot."""
        validate_requests(reqs)
        if not reqs:
            return []
        self._check_writable()
        with guarded():
            pool = self._appends or self._pool
            rows = await self._fetch_appends(pool, _APPEND, *append_arguments(reqs, self._clock()))
        return self._append_results(reqs, rows)

    @staticmethod
    async def _fetch_appends(pool: asyncpg.Pool, statement: str, *args: Any) -> list[Any]:
        """The append procedure's outcome rows, once durable; a damaged commands row it
        met is CorruptData.

        One CALL (schema.durable_procedure): the append commits without waiting for the
        WAL flush (it holds the head lock only while it runs), then a synchronous write
        in the same call flushes the WAL past its commit: appends of many processes
        share one fsync."""
        try:
            async with pool.acquire() as conn:
                columns = await conn.fetchrow(statement, *args)
        except asyncpg.exceptions.DataCorruptedError as exc:
            raise CorruptData(None, None, str(exc)) from exc
        assert columns is not None
        return list(zip(*columns, strict=True))

    def _append_results(
        self, reqs: Sequence[AppendRequest], rows: Sequence[Any], node_id: str = ""
    ) -> list[AppendResult | ConcurrencyConflict]:
        """Each request's outcome from the append function's rows ('fenced' comes only
        from the cluster's fenced append, for `node_id`: engine/store/postgres/cluster.py)."""
        results: list[AppendResult | ConcurrencyConflict] = []
        last = 0
        for req, (outcome, actual, first_v, last_v, first_p, last_p) in zip(
            reqs, rows, strict=True
        ):
            if outcome == "archived":
                results.append(StreamArchived(req.stream_id, req.expected_version, actual))
            elif outcome == "reused":
                assert req.command_id is not None
                results.append(
                    CommandIdReused(req.stream_id, req.command_id, req.expected_version, actual)
                )
            elif outcome == "retired":
                results.append(StreamRetired(req.stream_id, req.expected_version))
            elif outcome == "fenced":
                results.append(OwnershipLost(req.stream_id, node_id, req.expected_version))
            elif outcome == "conflict":
                results.append(ConcurrencyConflict(req.stream_id, req.expected_version, actual))
            else:
                results.append(
                    AppendResult(
                        req.stream_id, first_v, last_v, first_p, last_p, outcome == "duplicate"
                    )
                )
                last = max(last, last_p)
        if last:
            self._waiters.notify(last)
        return results

    # -- reading -----------------------------------------------------------------

    async def read_stream(
        self, stream_id: str, from_version: int = 0, to_version: int | None = None
    ) -> list[RecordedEvent]:
        """Read a stream's events with from_version < version <= to_version, hot or archived."""
        self._check_open()
        low = max(from_version, 0)
        high = _MAX_VERSION if to_version is None else to_version
        if high <= low:
            return []
        with guarded():
            rows = await self._pool.fetch(_READ_STREAM, stream_id, low, high)
            if not rows:
                return []
            status, last_version = rows[0]["status"], rows[0]["last_version"]
            high = min(high, last_version)
            if status == "archived":
                # Archived is final, so the bundle read next is the one that replaced the rows.
                return [e for e in await self._archived(stream_id) if low < e.version <= high]
        events = [_event(row, 2) for row in rows if row["position"] is not None]
        check_contiguous(stream_id, events, low + 1, high)
        return events

    async def _archived(self, stream_id: str) -> list[RecordedEvent]:
        row = await self._pool.fetchrow(
            "SELECT header, body FROM liaptui.bundles WHERE stream_id = $1", stream_id
        )
        if row is None:
            if stream_id in self._missing:
                raise BundlesMissing((stream_id,), "the bundles table")
            return []  # forgotten by retention meanwhile
        return self._decoded(stream_id, row["header"], row["body"])

    def _decoded(self, stream_id: str, header: bytes, body: bytes) -> list[RecordedEvent]:
        key = f"{stream_id}\x00{zlib.crc32(header)}"
        events = self._cache.get(key)
        if events is None:
            _, events = decode_stored(stream_id, header, body)
            self._cache.put(key, events)
        return events

    async def read_all(
        self, from_position: int = 0, limit: int = 1000, *, types: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        """Read up to `limit` events with position > from_position, archived ones merged in
        (only those of `types`, when given: the server skips the others)."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        self._check_open()
        if self._missing and from_position < self._missing_reach:
            raise BundlesMissing(self._missing, "the bundles table")
        wanted = None if types is None else sorted(types)
        with guarded():
            rows = await self._pool.fetch(_READ_PAGE, from_position, limit, wanted)
        page = [_event(row, 0) for row in rows if row["header"] is None]
        bundles = [row for row in rows if row["header"] is not None]
        if not bundles:
            return page
        reach = page[-1].position if len(page) >= limit else math.inf
        for row in bundles:
            page += [
                e
                for e in self._decoded(row["stream_id"], row["header"], row["body"])
                if from_position < e.position <= reach and (types is None or e.type in types)
            ]
        page.sort(key=_position)
        page = page[:limit]
        for earlier, later in zip(page, page[1:], strict=False):
            if earlier.position >= later.position:
                raise CorruptData(later.stream_id, later.version, "global position used twice")
        return page

    async def last_position(self) -> int:
        """Return the global position of the newest event ever appended (0 when empty)."""
        self._check_open()
        with guarded():
            position: int = await self._pool.fetchval("SELECT last_position FROM liaptui.head")
        return position

    async def wait_for_position(self, position: int, timeout: float | None) -> int:
        """Wait until last_position() >= position or the timeout passes; return last_position().

        Woken by the NOTIFY of any process's append (or this one's own), not by polling."""
        await self._waiters.wait(position, timeout, self.last_position)
        return await self.last_position()

    async def stream_info(self, stream_id: str) -> StreamInfo | None:
        """Return what the store knows about a stream, or None for an unknown stream."""
        self._check_open()
        with guarded():
            row = await self._pool.fetchrow(
                f"SELECT {_STREAM_COLUMNS} FROM liaptui.streams WHERE stream_id = $1", stream_id
            )
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
        self._check_open()
        with guarded():
            rows = await self._pool.fetch(
                f"SELECT {_STREAM_COLUMNS} FROM liaptui.streams "
                "WHERE ($1::text IS NULL OR status = $1) "
                "AND ($2::float8 IS NULL OR updated_at > $2) "
                "AND ($3::float8 IS NULL OR updated_at < $3) "
                "AND ($4::text IS NULL OR starts_with(stream_id, $4)) "
                "ORDER BY updated_at DESC, stream_id LIMIT $5 OFFSET $6",
                status,
                updated_after,
                updated_before,
                prefix or None,
                limit,
                offset,
            )
        return [stream_info_from_row(row) for row in rows]

    async def set_status(self, stream_id: str, status: StreamStatus) -> None:
        """Mark a stream "active" or "completed" (archiving is archive_stream's job)."""
        if status not in STREAM_STATUSES:
            raise ValueError(f"unknown stream status {status!r}")
        if status == "archived":
            raise OperationRefused(stream_id, "only archive_stream archives a stream")
        self._check_writable()
        with guarded():
            done = await self._pool.fetchval(
                "UPDATE liaptui.streams SET status = $2, updated_at = $3 "
                "WHERE stream_id = $1 AND status <> 'archived' RETURNING true",
                stream_id,
                status,
                self._clock(),
            )
            if done:
                return
            known = await self._pool.fetchval(
                "SELECT true FROM liaptui.streams WHERE stream_id = $1", stream_id
            )
        if not known:
            raise StreamNotFound(stream_id)
        raise OperationRefused(stream_id, "an archived stream keeps its status")

    async def read_commands(self, stream_id: str) -> list[RecordedCommand]:
        """Read the commands recorded for a stream, in version order."""
        self._check_open()
        with guarded():
            rows = await self._pool.fetch(
                "SELECT stream_id, command_id, command, at, first_version, last_version, "
                "first_position, last_position, digest, checksum "
                "FROM liaptui.commands WHERE stream_id = $1 ORDER BY first_version",
                stream_id,
            )
        return [command_from_row(tuple(row))[0] for row in rows]

    # -- snapshots ---------------------------------------------------------------

    async def save_snapshot(self, snap: Snapshot) -> None:
        """Store a stream's snapshot lz4-compressed and checksummed, replacing the last one."""
        self._check_writable()
        stored = lz4.frame.compress(snap.payload)
        with guarded():
            saved = await self._pool.fetchval(
                "INSERT INTO liaptui.snapshots "
                "SELECT s.stream_id, $2::bigint, $3::integer, $4::bytea, $5::bigint, $6::float8 "
                "FROM liaptui.streams s "
                "WHERE s.stream_id = $1 AND s.status <> 'archived' "
                "AND $2 > 0 AND $2 <= s.last_version "
                "ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version, "
                "schema_version = excluded.schema_version, payload = excluded.payload, "
                "checksum = excluded.checksum, saved_at = excluded.saved_at RETURNING true",
                snap.stream_id,
                snap.version,
                snap.schema_version,
                stored,
                zlib.crc32(stored),
                self._clock(),
            )
            if saved:
                return
            row = await self._pool.fetchrow(
                "SELECT status FROM liaptui.streams WHERE stream_id = $1", snap.stream_id
            )
        if row is None:
            raise StreamNotFound(snap.stream_id)
        if row["status"] == "archived":
            raise OperationRefused(snap.stream_id, "an archived stream takes no snapshots")
        raise OperationRefused(
            snap.stream_id, f"snapshot version {snap.version} is not a stored version"
        )

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        """Return the stream's snapshot if usable at `schema_version`; None means replay fully."""
        self._check_open()
        with guarded():
            row = await self._pool.fetchrow(
                "SELECT version, schema_version, payload, checksum FROM liaptui.snapshots "
                "WHERE stream_id = $1",
                stream_id,
            )
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
        if zlib.crc32(stored) != checksum:
            log.warning("snapshot of %r fails its checksum: replaying instead", stream_id)
            return None
        try:
            payload = lz4.frame.decompress(stored)
        except RuntimeError as exc:
            log.warning("snapshot of %r does not decompress (%s): replaying", stream_id, exc)
            return None
        return Snapshot(stream_id, version, stored_version, payload)

    async def load_latest(
        self, stream_id: str, schema_version: int
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        """The stream's usable snapshot (or None) and every event after it."""
        snap = await self.load_snapshot(stream_id, schema_version)
        return snap, await self.read_stream(stream_id, snap.version if snap else 0)

    # -- archive -----------------------------------------------------------------

    async def archive_stream(self, stream_id: str) -> None:
        """Move a completed stream's events into an lz4 bundle in the bundles table, in one
        transaction (so no step of it can be left half done); archived already: no-op."""
        self._check_writable()
        now = self._clock()
        with guarded():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(
                    "SELECT status, last_version FROM liaptui.streams "
                    "WHERE stream_id = $1 FOR UPDATE",
                    stream_id,
                )
                if row is None:
                    raise StreamNotFound(stream_id)
                if row["status"] == "archived":
                    return
                if row["status"] != "completed":
                    raise OperationRefused(stream_id, "only a completed stream is archived")
                events = [
                    _event(r, 0)
                    for r in await conn.fetch(
                        f"SELECT {_EVENT_COLUMNS} FROM liaptui.events "
                        "WHERE stream_id = $1 ORDER BY version",
                        stream_id,
                    )
                ]
                check_contiguous(stream_id, events, 1, row["last_version"])
                bundle = encode_bundle(events, now)
                await conn.execute(
                    "INSERT INTO liaptui.bundles VALUES ($1, $2, $3, $4, $5, $6)",
                    stream_id,
                    bundle.header_bytes,
                    bundle.body,
                    bundle.header.first_position,
                    bundle.header.last_position,
                    now,
                )
                await conn.execute("DELETE FROM liaptui.events WHERE stream_id = $1", stream_id)
                await conn.execute("DELETE FROM liaptui.snapshots WHERE stream_id = $1", stream_id)
                await conn.execute(
                    "UPDATE liaptui.streams SET status = 'archived', updated_at = $2 "
                    "WHERE stream_id = $1",
                    stream_id,
                    now,
                )

    async def apply_retention(self, older_than_days: float | None = None) -> list[str]:
        """Forget archived streams archived more than `older_than_days` ago (None: keep all)."""
        if older_than_days is None:
            return []
        self._check_writable()
        cutoff = self._clock() - older_than_days * 86_400.0
        with guarded():
            rows = await self._pool.fetch(
                _forget("SELECT stream_id FROM liaptui.bundles WHERE archived_at < $1"), cutoff
            )
        return [row[0] for row in rows]

    @property
    def missing_bundles(self) -> tuple[str, ...]:
        """Archived streams without a bundle row when the store opened (only a hand-made
        deletion or a partial restore leaves one: archival is one transaction)."""
        return self._missing

    async def forget_missing_bundles(self) -> list[str]:
        """Give up the archived streams whose bundles are lost, as retention would; their ids."""
        self._check_writable()
        with guarded():
            rows = await self._pool.fetch(
                _forget(
                    "SELECT s.stream_id FROM liaptui.streams s WHERE s.status = 'archived' "
                    "AND NOT EXISTS (SELECT 1 FROM liaptui.bundles b "
                    "WHERE b.stream_id = s.stream_id)"
                )
            )
        gone = [row[0] for row in rows]
        if gone:
            log.warning("forgot %d archived stream(s) whose bundles were lost: %s", len(gone), gone)
        self._missing, self._missing_reach = (), 0.0
        return gone

    async def export_bundle(self, stream_id: str, path: str | os.PathLike[str]) -> None:
        """Write a stream's events as a bundle file (its stored bundle when archived)."""
        self._check_open()
        with guarded():
            row = await self._pool.fetchrow(
                "SELECT s.status, b.header, b.body FROM liaptui.streams s "
                "LEFT JOIN liaptui.bundles b ON b.stream_id = $1 WHERE s.stream_id = $1",
                stream_id,
            )
            if row is None:
                raise StreamNotFound(stream_id)
            if row["status"] == "archived":
                if row["header"] is None:
                    raise CorruptData(stream_id, None, "archived stream has no bundle")
                raw = bytes(row["header"]) + bytes(row["body"])
            else:
                raw = encode_bundle(await self.read_stream(stream_id), self._clock()).to_bytes()
        await asyncio.to_thread(write_file_atomically, Path(path), raw)

    async def import_bundle(self, path: str | os.PathLike[str]) -> str:
        """Add a bundle file to this store as an archived stream; returns its stream id."""
        self._check_writable()
        raw = await asyncio.to_thread(Path(path).read_bytes)
        header_bytes, body = split_bundle(raw)
        header, events = decode_bundle(header_bytes, body)
        stream_id = header.stream_id
        if header.first_version != 1:
            raise CorruptData(stream_id, None, "bundle does not start at version 1")
        positions = [e.position for e in events]
        now = self._clock()
        with guarded():
            async with self._pool.acquire() as conn, conn.transaction():
                # Taken before anything is checked, so no append takes these positions meanwhile.
                await conn.execute("SELECT 1 FROM liaptui.head FOR UPDATE")
                if await conn.fetchval(
                    "SELECT true FROM liaptui.streams WHERE stream_id = $1", stream_id
                ):
                    raise OperationRefused(stream_id, "a stream with this id already exists here")
                clash = await conn.fetchval(
                    "SELECT position FROM liaptui.events WHERE position = ANY($1) LIMIT 1",
                    positions,
                )
                if clash is None:
                    wanted = set(positions)
                    for other in await conn.fetch(
                        "SELECT stream_id, header, body FROM liaptui.bundles "
                        "WHERE last_position >= $1 AND first_position <= $2",
                        header.first_position,
                        header.last_position,
                    ):
                        used = self._decoded(other["stream_id"], other["header"], other["body"])
                        clash = next((e.position for e in used if e.position in wanted), None)
                        if clash is not None:
                            break
                if clash is not None:
                    raise OperationRefused(stream_id, f"position {clash} is already used here")
                await conn.execute(
                    "INSERT INTO liaptui.bundles VALUES ($1, $2, $3, $4, $5, $6)",
                    stream_id,
                    header_bytes,
                    body,
                    header.first_position,
                    header.last_position,
                    now,
                )
                await conn.execute(
                    "INSERT INTO liaptui.streams VALUES ($1, 'archived', $2, $3, $4, $5)",
                    stream_id,
                    header.last_version,
                    header.last_position,
                    header.created_at,
                    now,
                )
                await conn.execute(
                    "UPDATE liaptui.head SET last_position = greatest(last_position, $1)",
                    header.last_position,
                )
                await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, "0")
        self._waiters.notify(await self.last_position())
        return stream_id

    async def backup(self, target: str | os.PathLike[str]) -> tuple[Path, ...]:
        """Refused: a PostgreSQL store is backed up with the server's tools (pg_dump)."""
        raise OperationRefused(
            None, "a PostgreSQL store is backed up with pg_dump (docs/operations.md)"
        )

    # -- lifecycle -----------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the store is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self._readonly:
            raise OperationRefused(None, "the store was opened read-only")

    async def close(self) -> None:
        """Close the pool and the listening connection; waiting readers wake up."""
        if self._closed:
            return
        self._closed = True
        self._waiters.wake_all()
        if self._listening is not None:
            self._listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listening
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await listener.close(timeout=2.0)
        await self._close_pools()

    async def _close_pools(self) -> None:
        for pool in (self._pool, self._appends):
            if pool is not None:
                with contextlib.suppress(*_UNAVAILABLE):
                    await asyncio.wait_for(pool.close(), 5.0)
                pool.terminate()


def append_arguments(reqs: Sequence[AppendRequest], now: float) -> list[Any]:
    """The arguments of `liaptui.append_batch` for a batch, in its order (see schema.py)."""
    counts, prev, prev_command = [], [], []
    types, schemas, data, checksums, owners = [], [], [], [], []
    last_of_stream: dict[str, int] = {}
    last_of_command: dict[tuple[str, str], int] = {}
    crc32 = zlib.crc32
    for index, req in enumerate(reqs, 1):
        counts.append(len(req.events))
        prev.append(last_of_stream.get(req.stream_id, 0))
        last_of_stream[req.stream_id] = index
        if req.command_id is None:
            prev_command.append(0)
        else:
            key = (req.stream_id, req.command_id)
            prev_command.append(last_of_command.get(key, 0))
            last_of_command[key] = index
        for event in req.events:
            types.append(event.type)
            schemas.append(event.schema_version)
            data.append(event.data)
            checksums.append(crc32(event.data))
            owners.append(index)
    return [
        [r.stream_id for r in reqs],
        [r.expected_version for r in reqs],
        [r.command_id for r in reqs],
        [r.command for r in reqs],
        [r.command_at for r in reqs],
        counts,
        prev,
        prev_command,
        types,
        schemas,
        data,
        checksums,
        owners,
        now,
        [None if r.command_id is None else command_digest(r) for r in reqs],
    ]


def _forget(chosen: str) -> str:
    """One statement removing every row of the streams `chosen` selects; their ids."""
    return f"""
WITH chosen AS ({chosen}),
bundles AS (DELETE FROM liaptui.bundles WHERE stream_id IN (SELECT stream_id FROM chosen)),
commands AS (DELETE FROM liaptui.commands WHERE stream_id IN (SELECT stream_id FROM chosen)),
snapshots AS (DELETE FROM liaptui.snapshots WHERE stream_id IN (SELECT stream_id FROM chosen)),
retired AS (
    INSERT INTO liaptui.retired_streams
    SELECT stream_id, extract(epoch FROM clock_timestamp()) FROM chosen
    ON CONFLICT DO NOTHING
),
streams AS (DELETE FROM liaptui.streams WHERE stream_id IN (SELECT stream_id FROM chosen))
SELECT stream_id FROM chosen ORDER BY stream_id"""


def _event(row: Any, at: int) -> RecordedEvent:
    """Decode an event row's columns from index `at`, checking its checksum."""
    position, stream_id, version, type_, schema_version, data, checksum, recorded_at = row[
        at : at + 8
    ]
    if zlib.crc32(data) != checksum:
        raise CorruptData(stream_id, version, "event data fails its checksum")
    return RecordedEvent(stream_id, version, position, type_, schema_version, data, recorded_at)


def _position(event: RecordedEvent) -> int:
    return event.position


if TYPE_CHECKING:

    def _implements_the_protocol(store: PostgresEventStore) -> EventStore:
        return store
