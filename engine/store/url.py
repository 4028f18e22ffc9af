"""`open_store(url)`: the one way everything above the store opens one, by URL."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from engine.store.errors import BadStoreUrl
from engine.store.memory import MemoryEventStore
from engine.store.protocol import EventStore
from engine.store.sqlite import SqliteEventStore, Synchronous

Backend = Literal["sqlite", "postgresql", "memory"]

_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def backend_of(url: str | os.PathLike[str]) -> Backend:
    """Which backend a store URL names (a bare path is a SQLite file)."""
    text = os.fspath(url)
    if text == "memory:":
        return "memory"
    if text.startswith(_POSTGRES_SCHEMES):
        return "postgresql"
    if text.startswith("sqlite:"):
        return "sqlite"
    if "://" in text:
        raise BadStoreUrl(text, "unknown scheme (use a path, sqlite:///, postgresql:// or memory:)")
    return "sqlite"


def sqlite_path(url: str | os.PathLike[str]) -> Path:
    """The file a SQLite URL or bare path names: `sqlite:///games.db` is `games.db`,
    `sqlite:////var/games.db` is `/var/games.db` (as SQLAlchemy reads them)."""
    text = os.fspath(url)
    if not text.startswith("sqlite:"):
        return Path(text)
    if not text.startswith("sqlite:///") or len(text) == len("sqlite:///"):
        raise BadStoreUrl(text, "a SQLite URL is sqlite:///relative.db or sqlite:////abs.db")
    return Path(text[len("sqlite:///") :])


async def open_store(
    url: str | os.PathLike[str],
    *,
    readonly: bool = False,
    clock: Callable[[], float] = time.time,
    synchronous: Synchronous = "NORMAL",
    archive_path: str | os.PathLike[str] | None = None,
    inline_batch: int = 0,
    inline_reads: bool = False,
) -> EventStore:
    """Open the store a URL names: a path or `sqlite:///games.db` (the embedded default),
    `postgresql://user@host/db`, or `memory:` (gone when closed).

    `readonly`: open an existing store that can only read (never creates or writes).
    `synchronous`, `archive_path`, `inline_batch` and `inline_reads` tune the SQLite
    backend (see `SqliteEventStore.open`); other backends ignore them. Raises
    BadStoreUrl for a URL no backend takes, and each backend's typed StoreError when
    the store cannot be opened.
    """
    backend = backend_of(url)
    if backend == "memory":
        return MemoryEventStore(clock=clock)
    if backend == "postgresql":
        try:
            postgres = importlib.import_module("engine.store.postgres")
        except ImportError as exc:
            raise BadStoreUrl(os.fspath(url), f"the PostgreSQL backend cannot load: {exc}") from exc
        opened: EventStore = await postgres.PostgresEventStore.open(
            os.fspath(url), readonly=readonly, clock=clock
        )
        return opened
    path = sqlite_path(url)
    if readonly:
        return await SqliteEventStore.open_readonly(path, archive_path, clock=clock)
    return await SqliteEventStore.open(
        path,
        synchronous,
        archive_path,
        clock=clock,
        inline_batch=inline_batch,
        inline_reads=inline_reads,
    )


def redacted_url(url: str | os.PathLike[str]) -> str:
    """A store URL fit to print or log: any password replaced by `***`."""
    text = os.fspath(url)
    scheme, sep, rest = text.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return text
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
