"""Fixtures for the event store tests: real stores on tmp_path and a runner for async tests."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.store import EventStore, SqliteEventStore
from engine.store import open_store as open_url
from tests.pg import PostgresServer


class FakeClock:
    """A clock tests move by hand, so timestamps and retention are deterministic."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


class StoreOpener:
    """Opens stores of one backend inside the test's event loop and closes them after it."""

    def __init__(
        self, kind: str, folder: Path, clock: FakeClock, pg: PostgresServer | None = None
    ) -> None:
        self.kind = kind
        self.path = folder / "events.db"
        self.clock = clock
        self._open: list[EventStore] = []
        # The "postgres" kind: a database of `pg` stands for each path a test opens.
        self._pg = pg
        self._databases: dict[Path, str] = {}
        self._made: list[str] = []

    async def __call__(self) -> EventStore:
        """Open a store (on the same files each time, for SQLite)."""
        store: EventStore
        if self.kind == "sqlite":
            store = await open_url(f"sqlite:///{self.path}", clock=self.clock)
        elif self.kind == "sqlite-inline":
            # Small batches commit, and rooms recover, on the test's thread: the engine's path.
            store = await open_url(self.path, clock=self.clock, inline_batch=8, inline_reads=True)
        elif self.kind == "postgres":
            store = await open_url(await self._database(), clock=self.clock)
        else:
            store = await open_url("memory:", clock=self.clock)
        self._open.append(store)
        return store

    async def _database(self) -> str:
        assert self._pg is not None
        url = self._databases.get(self.path)
        if url is None:
            if not self._databases:
                url = await self._pg.scratch_database()
            else:
                url = await self._pg.new_database()
                self._made.append(url)
            self._databases[self.path] = url
        return url

    async def close_all(self) -> None:
        """Close every store this opener handed out (and drop the databases it made)."""
        for store in self._open:
            await store.close()
        for url in self._made:
            assert self._pg is not None
            await self._pg.drop_database(url)


class SqliteOpener(StoreOpener):
    """Opens SQLite stores on one pair of files in tmp_path."""

    def __init__(self, folder: Path, clock: FakeClock) -> None:
        super().__init__("sqlite", folder, clock)

    async def __call__(self) -> SqliteEventStore:
        """Open the store's files (again)."""
        store = await SqliteEventStore.open(self.path, clock=self.clock)
        self._open.append(store)
        return store

    async def reopen(self, store: SqliteEventStore) -> SqliteEventStore:
        """Close a store and open its files again, as a restarted process would."""
        await store.close()
        return await self()


@pytest.fixture
def clock() -> FakeClock:
    """A hand-moved clock starting at a fixed time."""
    return FakeClock()


@pytest.fixture(params=["sqlite", "sqlite-inline", "memory", "postgres"])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[StoreOpener]:
    """Open stores of each backend: the conformance suite runs once per backend (PostgreSQL
    on a fresh database of the session's server)."""
    pg = request.getfixturevalue("pg_server") if request.param == "postgres" else None
    yield StoreOpener(request.param, tmp_path, clock, pg)


@pytest.fixture
def open_sqlite(tmp_path: Path, clock: FakeClock) -> SqliteOpener:
    """Open SQLite stores on files in tmp_path."""
    return SqliteOpener(tmp_path, clock)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on a fresh event loop, closing their stores before it ends."""
    test: Callable[..., Any] = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    names = inspect.signature(test).parameters
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}

    async def run() -> None:
        try:
            await test(**kwargs)
        finally:
            for value in kwargs.values():
                if isinstance(value, StoreOpener):
                    await value.close_all()

    asyncio.run(run())
    return True
