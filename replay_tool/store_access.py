"""Opening event stores: read-only for inspection, writable only for `import`.

`SqliteEventStore.open` always writes (schema DDL, `user_version`, archive recovery) and
creates missing files, so inspecting a store that a running engine writes to must not use
it: recovery run from a second process can finish an archival the engine is in the middle
of, and the engine then deletes the bundle. Until the store offers a read-only open, this
module wraps the store's own reading code around `mode=ro` SQLite connections and skips
setup and recovery; any write attempt fails inside SQLite.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import cast

from engine.store.archive import Archive
from engine.store.schema import ARCHIVE_SCHEMA, SCHEMA_VERSION
from engine.store.sqlite import SqliteEventStore, connect_daemon, default_archive_path
from replay_tool.errors import ToolError

_BUSY_TIMEOUT_S = 5.0
_HOT_TABLES = {"events", "streams", "commands", "snapshots", "head"}


def resolve_archive(db: Path, archive: Path | None) -> Path | None:
    """The archive file to read with `db`: the one given, else the store's default
    `<db>.archive.db` if it exists, else None (no match has been archived)."""
    if archive is not None:
        if not archive.is_file():
            raise ToolError(f"archive not found: {archive}")
        return archive
    default = default_archive_path(db)
    return default if default.is_file() else None


def _readonly_uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"


def _check_hot(conn: sqlite3.Connection, db: Path) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    if version != SCHEMA_VERSION or not _HOT_TABLES.issubset(tables):
        raise ToolError(
            f"{db} is not a liaptui event store (schema version {version}, "
            f"expected {SCHEMA_VERSION})"
        )


def _connect_archive(path: Path | None) -> sqlite3.Connection:
    # Runs on the store's database thread, where the store uses the connection later.
    if path is None:
        # No archive file: an empty one in memory, so archived streams read as missing bundles.
        conn = sqlite3.connect(":memory:", isolation_level=None)
        conn.executescript(ARCHIVE_SCHEMA)
        return conn
    conn = sqlite3.connect(
        _readonly_uri(path), uri=True, isolation_level=None, timeout=_BUSY_TIMEOUT_S
    )
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ToolError(f"{path} is not a readable archive: {exc}") from None
    if "bundles" not in tables:
        conn.close()
        raise ToolError(f"{path} is not a liaptui archive (no bundles table)")
    return conn


async def open_readonly(db: Path, archive: Path | None = None) -> SqliteEventStore:
    """A store over `db` (and its archive) that can only read; never creates a file."""
    if not db.is_file():
        raise ToolError(f"store not found: {db}")
    archive_path = resolve_archive(db, archive)
    conn = connect_daemon(_readonly_uri(db), uri=True)
    try:
        await conn
    except sqlite3.Error as exc:
        raise ToolError(f"cannot open {db}: {exc}") from None
    hot = conn._conn

    def setup() -> sqlite3.Connection:
        _check_hot(hot, db)
        return _connect_archive(archive_path)

    try:
        # aiosqlite has no public way to run a function on its thread; the store uses this too.
        hop = cast(Callable[..., Awaitable[sqlite3.Connection]], conn._execute)
        archive_conn = await hop(setup)
    except sqlite3.DatabaseError as exc:
        await conn.close()
        raise ToolError(f"{db} is not a readable event store: {exc}") from None
    except BaseException:
        await conn.close()
        raise
    return SqliteEventStore(conn, hot, Archive(hot, archive_conn), time.time)


@asynccontextmanager
async def reading(db: Path, archive: Path | None = None) -> AsyncIterator[SqliteEventStore]:
    """`async with reading(db) as store:` a read-only store, closed afterwards."""
    store = await open_readonly(db, archive)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def writing(db: Path) -> AsyncIterator[SqliteEventStore]:
    """`async with writing(db) as store:` a normal store, created when missing (for import)."""
    if db.exists() and not db.is_file():
        raise ToolError(f"not a file: {db}")
    if not db.parent.is_dir():
        raise ToolError(f"no such directory: {db.parent}")
    store = await SqliteEventStore.open(db)
    try:
        yield store
    finally:
        await store.close()
