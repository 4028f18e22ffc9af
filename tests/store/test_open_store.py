"""`open_store(url)`: which backend a URL names, read-only opens, and bad URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import (
    AppendRequest,
    BadStoreUrl,
    CorruptData,
    MemoryEventStore,
    NewEvent,
    OperationRefused,
    SqliteEventStore,
    StoreNotFound,
    backend_of,
    open_store,
)
from engine.store.url import sqlite_path


def req(stream_id: str, expected: int) -> AppendRequest:
    return AppendRequest(stream_id, expected, (NewEvent("Played", 1, b"x"),))


@pytest.mark.parametrize(
    ("url", "backend"),
    [
        ("games.db", "sqlite"),
        ("/var/lib/games.db", "sqlite"),
        ("sqlite:///games.db", "sqlite"),
        ("postgresql://engine@127.0.0.1/games", "postgresql"),
        ("postgres://engine@127.0.0.1/games", "postgresql"),
        ("memory:", "memory"),
    ],
)
def test_a_url_names_its_backend(url: str, backend: str) -> None:
    assert backend_of(url) == backend


def test_sqlite_urls_name_files_as_sqlalchemy_reads_them() -> None:
    assert sqlite_path("sqlite:///games.db") == Path("games.db")
    assert sqlite_path("sqlite:////var/games.db") == Path("/var/games.db")
    assert sqlite_path("games.db") == Path("games.db")


@pytest.mark.parametrize("url", ["mysql://host/db", "sqlite:/games.db", "sqlite:///"])
async def test_a_url_no_backend_takes_is_a_typed_error(url: str) -> None:
    with pytest.raises(BadStoreUrl):
        await open_store(url)


async def test_each_backend_opens_from_its_url(tmp_path: Path) -> None:
    sqlite = await open_store(f"sqlite:///{tmp_path / 'games.db'}")
    memory = await open_store("memory:")
    try:
        assert isinstance(sqlite, SqliteEventStore) and isinstance(memory, MemoryEventStore)
        assert (tmp_path / "games.db").is_file()
        assert (tmp_path / "games.db.archive.db").is_file()
    finally:
        await sqlite.close()
        await memory.close()


async def test_a_readonly_open_reads_and_refuses_every_write(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    store = await open_store(path)
    await store.append(req("room", 0))
    await store.set_status("room", "completed")
    await store.close()
    before = path.read_bytes()
    reader = await open_store(path, readonly=True)
    try:
        assert [e.stream_id for e in await reader.read_all()] == ["room"]
        with pytest.raises(OperationRefused):
            await reader.append(req("room", 1))
        with pytest.raises(OperationRefused):
            await reader.archive_stream("room")
        with pytest.raises(OperationRefused):
            await reader.set_status("room", "active")
    finally:
        await reader.close()
    assert path.read_bytes() == before


async def test_a_readonly_open_never_creates_a_store(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFound):
        await open_store(tmp_path / "missing.db", readonly=True)
    assert list(tmp_path.iterdir()) == []
    bogus = tmp_path / "bogus.db"
    bogus.write_text("not a database")
    with pytest.raises(CorruptData):
        await open_store(bogus, readonly=True)
    assert bogus.read_text() == "not a database"
