"""Read models in PostgreSQL tables: a blocking connection that speaks the folds' SQL.

The folds, queries and control transactions in `projections/` are written once, in the
SQL both SQLite and PostgreSQL accept, against the few `sqlite3.Connection` methods the
`Connection` protocol names. `PgConnection` gives them those methods over asyncpg, on an
event loop of its own driven by the calling thread (the runner's database thread, or the
query's worker thread), and translates the rest:

- `?` placeholders become `$1, $2, ...`; `REAL` is `double precision` and `INTEGER`
  `bigint` (SQLite's are 8 bytes); `WITHOUT ROWID` goes;
- `BEGIN IMMEDIATE` (the one writer of a SQLite file) becomes `BEGIN` plus a transaction
  advisory lock of the schema: write transactions on the read models take turns, while
  queries read their snapshots beside them; a plain `BEGIN` (a read transaction) is
  `REPEATABLE READ`, one snapshot for all its statements as in SQLite;
- a unique or foreign-key violation raises `sqlite3.IntegrityError`, which the folds turn
  into `FoldError`; a lost connection raises `StoreUnavailable`, and the connection is
  opened again at the next transaction (never in the middle of one).

Every table lives in the target's schema (`readmodels` by default), found through the
connection's `search_path`, so that the same unqualified names serve both backends.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

import asyncpg

from engine.store.errors import StoreUnavailable
from engine.store.postgres.store import SERVER_FAILURES
from engine.store.url import redacted_url

T = TypeVar("T")

DEFAULT_SCHEMA = "readmodels"
# Advisory lock classes (the first key; the second is the schema's hash): the fold lease
# of a schema, and the write turn of one transaction on it.
LEASE_LOCK = 0x4C54_5552  # "LTUR"
WRITE_LOCK = 0x4C54_5557  # "LTUW"

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

# The server or the way to it failed, not our SQL (as the event store reads them).
_UNAVAILABLE = SERVER_FAILURES

_CLOSING: tuple[type[BaseException], ...] = (*_UNAVAILABLE, asyncpg.PostgresError)


@dataclass(frozen=True)
class PostgresTarget:
    """Read models in schema `schema` of the PostgreSQL database `url` names."""

    url: str
    schema: str = DEFAULT_SCHEMA

    def __post_init__(self) -> None:
        if not _SCHEMA_NAME.match(self.schema):
            raise ValueError(f"a read-model schema is a lowercase identifier, not {self.schema!r}")

    def __str__(self) -> str:
        return f"{redacted_url(self.url)} schema {self.schema}"


@cache
def translate(sql: str) -> str:
    """The PostgreSQL spelling of one statement of the folds' SQL."""
    text = re.sub(r"\s+WITHOUT ROWID", "", sql)
    text = re.sub(r"\bREAL\b", "double precision", text)
    text = re.sub(r"\bINTEGER\b", "bigint", text)
    out: list[str] = []
    number = 0
    quoted = False
    for char in text:
        if char == "'":
            quoted = not quoted
        if char == "?" and not quoted:
            number += 1
            out.append(f"${number}")
        else:
            out.append(char)
    return "".join(out)


def _returns_rows(sql: str) -> bool:
    return sql.lstrip().upper().startswith(("SELECT", "WITH"))


def _count(status: str) -> int:
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class PgCursor:
    """The rows (as tuples) or the row count of one statement, as sqlite3.Cursor gives them."""

    def __init__(self, rows: list[tuple[Any, ...]], rowcount: int) -> None:
        self._rows = rows
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rows, self._next = self._rows[self._next :], len(self._rows)
        return rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PgConnection:
    """A blocking connection to the read-model schema (see the module's docstring).

    Use it from one thread at a time; from a thread that runs an event loop it blocks
    that loop (as a SQLite connection would) while a helper thread drives the driver.
    `generation` counts the server connections it has opened: a session advisory lock
    (the fold lease) is held only as long as the generation it was taken in.
    """

    def __init__(self, target: PostgresTarget, *, readonly: bool = False) -> None:
        self.target = target
        self.readonly = readonly
        self.generation = 0
        self._loop = asyncio.new_event_loop()
        self._conn: asyncpg.Connection[Any] | None = None
        # The server connection went away inside a transaction: everything fails until
        # the caller's ROLLBACK, so no statement of that transaction runs on a new one.
        self._lost_in_transaction = False
        try:
            self._open()
        except BaseException:
            self._loop.close()
            raise

    def _open(self) -> asyncpg.Connection[Any]:
        settings = {
            "search_path": self.target.schema,
            "application_name": f"liaptui read models pid {os.getpid()}",
        }
        if self.readonly:
            settings["default_transaction_read_only"] = "on"
        try:
            conn = self._complete(asyncpg.connect(self.target.url, server_settings=settings))
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"read models at {self.target}: {exc}") from exc
        self._conn = conn
        self.generation += 1
        return conn

    @property
    def connected(self) -> bool:
        """Whether the server connection (and any session lock on it) is still there."""
        return self._conn is not None and not self._conn.is_closed()

    @property
    def in_transaction(self) -> bool:
        if self._lost_in_transaction:
            return True
        return self._conn is not None and self._conn.is_in_transaction()

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> PgCursor:
        if self._lost_in_transaction:
            ending = sql.strip().upper()
            if ending in ("ROLLBACK", "COMMIT"):
                self._lost_in_transaction = False
            if ending == "ROLLBACK":
                return PgCursor([], -1)
            raise StoreUnavailable(f"read models at {self.target}: the connection was lost")
        conn = self._conn
        if conn is None or conn.is_closed():
            conn = self._open()
        statement = sql.strip()
        if statement.upper() == "BEGIN":
            # A read transaction: one snapshot for all its statements, as in SQLite.
            statement = "BEGIN ISOLATION LEVEL REPEATABLE READ"
        elif statement.upper() == "BEGIN IMMEDIATE":
            statement = (
                f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK}, "
                f"hashtext('{self.target.schema}'))"
            )
        else:
            statement = translate(statement)
        return self._run(conn, statement, parameters)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> PgCursor:
        total = 0
        for parameters in seq_of_parameters:
            total += max(0, self.execute(sql, parameters).rowcount)
        return PgCursor([], total)

    def _run(
        self, conn: asyncpg.Connection[Any], statement: str, parameters: Sequence[Any]
    ) -> PgCursor:
        was_in_transaction = conn.is_in_transaction()
        try:
            if _returns_rows(statement):
                records = self._complete(conn.fetch(statement, *parameters))
                return PgCursor([tuple(r) for r in records], -1)
            status = self._complete(conn.execute(statement, *parameters))
            return PgCursor([], _count(status))
        except asyncpg.exceptions.IntegrityConstraintViolationError as exc:
            raise sqlite3.IntegrityError(str(exc)) from exc
        except _UNAVAILABLE as exc:
            self._drop(conn)
            self._lost_in_transaction = was_in_transaction
            raise StoreUnavailable(f"read models at {self.target}: {exc}") from exc

    def _complete(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a step of the driver on this connection's own loop, from this thread, or
        (called from a thread whose loop is running, as a blocking call) from another."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return self._loop.run_until_complete(coro)
        with ThreadPoolExecutor(1, thread_name_prefix="read-models") as helper:
            return helper.submit(self._loop.run_until_complete, coro).result()

    def _drop(self, conn: asyncpg.Connection[Any]) -> None:
        self._conn = None
        conn.terminate()

    def close(self) -> None:
        conn, self._conn = self._conn, None
        try:
            if conn is not None and not conn.is_closed():
                try:
                    self._complete(asyncio.wait_for(conn.close(), 5))
                except _CLOSING:
                    conn.terminate()
        finally:
            self._loop.close()


class AdvisoryLease:
    """The fold lease as a session advisory lock, held by the connection that folds.

    The server drops it when that connection ends (the process died, the network went);
    after a reconnection the runner must take it again, and may find it taken.
    """

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn
        self._held_in: int | None = None

    def try_acquire(self) -> bool:
        if self._held_in == self.conn.generation and self.conn.connected:
            return True
        self._held_in = None
        row = self.conn.execute(
            "SELECT pg_try_advisory_lock(?, hashtext(?))", (LEASE_LOCK, self.conn.target.schema)
        ).fetchone()
        if row is not None and row[0]:
            self._held_in = self.conn.generation
            return True
        return False

    def holder(self) -> str:
        if self._held_in is not None:
            return f"this process (pid {os.getpid()})"
        try:
            row = self.conn.execute(
                "SELECT a.application_name, host(a.client_addr) FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                "AND l.granted AND l.classid = ? AND l.objid = hashtext(?)::oid",
                (LEASE_LOCK, self.conn.target.schema),
            ).fetchone()
        except StoreUnavailable:
            row = None
        if row is None:
            return "another process"
        name, address = row
        return f"{name or 'another process'}" + (f" at {address}" if address else "")

    def release(self) -> None:
        if self._held_in is None:
            return
        held, self._held_in = self._held_in, None
        if held == self.conn.generation and self.conn.connected:
            self.conn.execute(
                "SELECT pg_advisory_unlock(?, hashtext(?))", (LEASE_LOCK, self.conn.target.schema)
            )
