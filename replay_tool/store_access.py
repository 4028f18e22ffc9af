"""Opening event stores: read-only for inspection, writable only for `import`.

Inspecting a store that a running engine writes to must never write to it (a second
process finishing an interrupted archival could race the engine into deleting a bundle),
so every command but `import` opens the store read-only.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from engine.store import EventStore, backend_of, open_store
from engine.store.url import sqlite_path
from replay_tool.errors import ToolError


@asynccontextmanager
async def reading(db: str, archive: Path | None = None) -> AsyncIterator[EventStore]:
    """`async with reading(url) as store:` a read-only store, closed afterwards; a SQLite
    store reads `archive` (default: `<db>.archive.db` when it exists)."""
    store = await open_store(db, readonly=True, archive_path=archive)
    try:
        yield store
    finally:
        await store.close()


@asynccontextmanager
async def writing(db: str) -> AsyncIterator[EventStore]:
    """`async with writing(url) as store:` a normal store, created when missing (for import)."""
    if backend_of(db) == "sqlite":
        path = sqlite_path(db)
        if path.exists() and not path.is_file():
            raise ToolError(f"not a file: {path}")
        if not path.parent.is_dir():
            raise ToolError(f"no such directory: {path.parent}")
    store = await open_store(db)
    try:
        yield store
    finally:
        await store.close()
