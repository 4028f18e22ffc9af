"""A real PostgreSQL for the tests: one server per session, a fresh database per test.

The server is $LIAPTUI_TEST_PG (a URL to a server the tests may create databases on) when
set, else a throwaway cluster this session starts from the PostgreSQL binaries it finds
and stops at its end. Without either, PostgreSQL tests skip, naming why; with
LIAPTUI_REQUIRE_PG=1 (CI) they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from engine.store.postgres.devserver import ThrowawayCluster, find_bindir, sweep_orphans


def _missing(reason: str) -> None:
    if os.environ.get("LIAPTUI_REQUIRE_PG") == "1":
        pytest.fail(f"PostgreSQL is required (LIAPTUI_REQUIRE_PG=1) but {reason}")
    pytest.skip(reason)


def with_database(url: str, database: str) -> str:
    """The same server URL naming another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class PostgresServer:
    """A server the tests may create and drop databases on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._scratch: str | None = None

    async def scratch_database(self) -> str:
        """The URL of the session's scratch database, emptied: every schema but `public`
        dropped, every other session on it ended (a database per test costs ~0.3 s, this
        ~20 ms)."""
        if self._scratch is None:
            self._scratch = await self.new_database()
        await self._empty(self._scratch)
        return self._scratch

    async def _empty(self, url: str) -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            for (name,) in await conn.fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname <> 'public' "
                "AND nspname <> 'information_schema' AND nspname NOT LIKE 'pg\\_%'"
            ):
                await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        finally:
            await conn.close()

    async def new_database(self) -> str:
        """Create an empty database (from a running event loop) and return its URL."""
        name = f"t_{secrets.token_hex(6)}"
        await self._admin(f'CREATE DATABASE "{name}"')
        return with_database(self.url, name)

    async def drop_database(self, url: str) -> None:
        """Drop a database made by `new_database`, ending its sessions."""
        name = urlsplit(url).path.lstrip("/")
        await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


def start_cluster() -> ThrowawayCluster:
    """A started throwaway cluster (fsync off), or a skip/fail naming what is missing."""
    bindir = find_bindir()
    if bindir is None:
        _missing("no PostgreSQL binaries found (set LIAPTUI_TEST_PG or install postgresql)")
        raise AssertionError("unreachable")
    sweep_orphans(bindir)
    cluster = ThrowawayCluster.new(bindir, durable=False, owner=os.getpid())
    try:
        cluster.start()
    except BaseException:
        cluster.delete()
        raise
    return cluster


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server."""
    url = os.environ.get("LIAPTUI_TEST_PG")
    if url:
        yield PostgresServer(url)
        return
    cluster = start_cluster()
    try:
        yield PostgresServer(cluster.url)
    finally:
        cluster.stop()
        cluster.delete()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """The URL of an empty database of the session's server, the test's alone."""
    return asyncio.run(pg_server.scratch_database())


@pytest.fixture
def pg_cluster() -> Iterator[ThrowawayCluster]:
    """A cluster of the test's own, which it may stop and start (outage tests)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()
        cluster.delete()
