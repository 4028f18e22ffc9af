"""Connections to a store's two SQLite files, and SQLite's failures as the store's errors."""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import aiosqlite

from engine.store.errors import CorruptData, StoreUnavailable
from engine.store.sqlite.schema import ARCHIVE_SCHEMA

T = TypeVar("T")
Synchronous = Literal["NORMAL", "FULL"]

BUSY_TIMEOUT_S = 5.0
WAIT_FOR_LOCKS = f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}"
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


def sqlite_code(exc: BaseException | None) -> int:
    """The primary SQLite result code of an exception (0 when it has none)."""
    return (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF


def is_damaged_file(exc: BaseException) -> bool:
    """Whether SQLite failed because the file is not a sound database (corrupt, not one)."""
    return sqlite_code(exc) in _CORRUPT


# Messages of failures that only a damaged file causes, whatever result code SQLite (or
# Python's sqlite3, which raises some with none) gives them: text that is not UTF-8 in a
# row, a header that names a file format SQLite does not have, a schema whose text no
# longer names the store's tables and columns.
_DAMAGE_MESSAGES = (
    "could not decode to utf-8",
    "unsupported file format",
    "malformed database schema",
    "no such table",
    "no such column",
    "file is not a database",
)


def is_damage_message(exc: BaseException) -> bool:
    """Whether an exception's message is one only a damaged file causes."""
    text = str(exc).lower()
    return any(message in text for message in _DAMAGE_MESSAGES)


def guarded(fn: Callable[[], T], file: str | None = None) -> T:
    # Runs with the connection's lock held; turns SQLite's exceptions into the store's types.
    # `file`: the one file `fn` touches, named when it is damaged.
    where = "database file" if file is None else file
    try:
        return fn()
    except UnicodeDecodeError as exc:
        # SQLite's message quoted text from the file that is not UTF-8 (a damaged schema).
        raise CorruptData(None, None, f"{where} is damaged: text that is not UTF-8") from exc
    except sqlite3.Error as exc:
        code = sqlite_code(exc)
        if code in _UNAVAILABLE:
            raise StoreUnavailable(exc) from exc
        if is_damaged_file(exc) or is_damage_message(exc):
            raise CorruptData(None, None, f"{where} is damaged: {exc}") from exc
        if code == sqlite3.SQLITE_CONSTRAINT:
            # Our writes follow the metadata rows (head, streams.last_version): a clash
            # means those rows disagree with the events the file holds.
            raise CorruptData(
                None, None, f"the store's metadata disagrees with its events: {exc}"
            ) from exc
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
        timeout=BUSY_TIMEOUT_S,
        check_same_thread=not any_thread,
    )
    db._thread.daemon = True
    return db


def connect_reader(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(
        path, isolation_level=None, timeout=BUSY_TIMEOUT_S, check_same_thread=False
    )
    conn.execute("PRAGMA query_only = 1")
    return conn


def connect_archive(path: str | os.PathLike[str]) -> sqlite3.Connection:
    # Opened on the database thread, where every later use of it runs too. Always
    # synchronous=FULL: a bundle must be on the disk before the hot rows it replaces are
    # deleted, or a power cut could keep the deletion and lose the bundle. One sync per
    # archived match costs nothing a player waits for.
    #
    # Another process opening the same new file at this moment can make SQLite answer
    # "database is locked" at once, without waiting out the busy timeout (the switch to
    # WAL, a schema read racing the other's schema write): the open is tried again until
    # the busy timeout has passed.
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(ARCHIVE_SCHEMA)
            return conn
        except sqlite3.OperationalError as exc:
            conn.close()
            if sqlite_code(exc) != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        except BaseException:
            conn.close()
            raise
        time.sleep(0.02)


def readonly_uri(path: Path) -> str:
    """A SQLite URI that opens `path` read-only (every write fails inside SQLite)."""
    return "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
