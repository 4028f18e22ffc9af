"""Damaged SQLite files, many ways: every open and first read answers with a typed store
error (never a raw sqlite3 or Unicode exception), and a refused open changes no byte."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from engine.store import (
    AppendRequest,
    ConcurrencyConflict,
    CorruptData,
    NewEvent,
    Snapshot,
    SqliteEventStore,
    StoreError,
)
from engine.store.sqlite import default_archive_path

COMMAND_BODY = b"COMMAND-BODY-MARKER-0123456789"
COMMAND_ID = "COMMAND-ID-MARKER-abcdef"


def commanded(stream_id: str, expected: int, command_id: str, body: bytes) -> AppendRequest:
    events = (NewEvent("Played", 1, f"{stream_id}:{expected}".encode()),)
    return AppendRequest(stream_id, expected, events, command_id, body, 1.0, body)


async def build_store(path: Path) -> None:
    """A small store with every kind of row: hot and archived streams, commands, a snapshot."""
    store = await SqliteEventStore.open(path)
    try:
        await store.append(commanded("room-hot", 0, COMMAND_ID, COMMAND_BODY))
        await store.append(commanded("room-hot", 1, "c-2", b"second"))
        await store.save_snapshot(Snapshot("room-hot", 2, 1, b"state"))
        await store.append(commanded("room-done", 0, "c-1", b"only"))
        await store.set_status("room-done", "completed")
        await store.archive_stream("room-done")
    finally:
        await store.close()


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pristine") / "games.db"
    asyncio.run(build_store(path))
    return path


def files_of(path: Path) -> list[Path]:
    archive = default_archive_path(path)
    return [Path(f"{base}{suffix}") for base in (path, archive) for suffix in ("", "-wal", "-shm")]


def contents(path: Path) -> dict[str, bytes]:
    """Every file's bytes, the shared-memory index left out (SQLite rebuilds it) and a
    missing write-ahead log taken as an empty one (a reader may create it, empty)."""
    return {
        f.name: f.read_bytes() if f.exists() else b""
        for f in files_of(path)
        if not f.name.endswith("-shm")
    }


# -- ways to damage a closed store ---------------------------------------------------------


def flip_at(offset: int, file: str = "hot") -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = path if file == "hot" else default_archive_path(path)
        raw = bytearray(target.read_bytes())
        raw[offset % len(raw)] ^= 0xFF
        target.write_bytes(bytes(raw))

    return damage


def flip_all(needle: bytes, value: int | None = None, xor: int = 0xFF) -> Callable[[Path], None]:
    """Damage every copy of `needle` in the hot file (a row and its index entries): the
    middle byte XORed with `xor`, or set to `value` (0xFF makes text invalid UTF-8)."""

    def damage(path: Path) -> None:
        raw = bytearray(path.read_bytes())
        at = raw.find(needle)
        assert at >= 0, f"{needle!r} not in {path}"
        while at >= 0:
            middle = at + len(needle) // 2
            raw[middle] = value if value is not None else raw[middle] ^ xor
            at = raw.find(needle, at + 1)
        path.write_bytes(bytes(raw))

    return damage


def truncate(size: int, file: str = "hot") -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = path if file == "hot" else default_archive_path(path)
        raw = target.read_bytes()
        target.write_bytes(raw[: size if size >= 0 else len(raw) + size])

    return damage


def garbage(file: str) -> Callable[[Path], None]:
    def damage(path: Path) -> None:
        target = {
            "hot": path,
            "archive": default_archive_path(path),
            "wal": Path(f"{path}-wal"),
        }[file]
        size = 64 * 1024 if file == "wal" else max(target.stat().st_size, 8192)
        target.write_bytes(random.Random(file).randbytes(size))

    return damage


def wal_garbage_after_header(path: Path) -> None:
    """A WAL whose header is SQLite's but whose frames are noise."""
    header = bytes.fromhex("377f0682002de218") + (4096).to_bytes(4, "big")
    Path(f"{path}-wal").write_bytes(header + random.Random(7).randbytes(20 * 4096))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "header-magic": flip_at(3),
    "header-page-size": flip_at(16),
    "header-write-version": flip_at(18),
    "header-reserved-bytes": flip_at(20),
    "header-page-count": flip_at(31),
    "header-schema-cookie": flip_at(43),
    "header-schema-format": flip_at(47),
    "header-text-encoding": flip_at(59),
    "header-user-version": flip_at(63),
    "schema-page-btree-header": flip_at(100),
    "schema-page-cell-pointers": flip_at(110),
    "schema-text-commands": flip_all(b"CREATE TABLE commands"),
    "schema-text-events-columns": flip_all(b"schema_version INTEGER NOT NULL,\n    data"),
    "schema-text-invalid-utf8": flip_all(b"CREATE TABLE streams", 0xFF),
    "commands-row-body": flip_all(COMMAND_BODY),
    "commands-row-id": flip_all(COMMAND_ID.encode()),
    "commands-row-id-invalid-utf8": flip_all(COMMAND_ID.encode(), 0xFF),
    "stream-id-invalid-utf8": flip_all(b"room-hot", 0xFF),
    "status-text-invalid-utf8": flip_all(b"archived", 0xFE),
    "page-two": flip_at(4096 + 8),
    "last-page": flip_at(-3000),
    "truncated-mid-page": truncate(4096 + 1000),
    "truncated-to-header": truncate(100),
    "truncated-last-page": truncate(-4096),
    "garbage-file": garbage("hot"),
    "garbage-wal": garbage("wal"),
    "wal-header-then-garbage": wal_garbage_after_header,
    "archive-header": flip_at(18, "archive"),
    "archive-page-two": flip_at(4096 + 8, "archive"),
    "archive-truncated": truncate(4096 + 100, "archive"),
    "archive-garbage": garbage("archive"),
}


async def first_reads(store: SqliteEventStore) -> None:
    """Everything a recovering engine reads first; each either works or raises typed."""
    reads = [
        store.last_position(),
        store.read_all(0),
        store.list_streams(),
        store.stream_info("room-hot"),
        store.read_stream("room-hot"),
        store.read_stream("room-done"),
        store.read_commands("room-hot"),
        store.read_commands("room-done"),
        store.load_latest("room-hot", 1),
    ]
    for read in reads:
        with contextlib.suppress(StoreError):
            await read


async def try_store(path: Path, readonly: bool) -> StoreError | None:
    """Open and read, returning the typed refusal of the open (None when it opened)."""
    try:
        store = (
            await SqliteEventStore.open_readonly(path)
            if readonly
            else await SqliteEventStore.open(path)
        )
    except StoreError as exc:
        return exc
    try:
        await first_reads(store)
    finally:
        await store.close()
    return None


@pytest.mark.parametrize("damage", list(DAMAGE), ids=list(DAMAGE))
@pytest.mark.parametrize("readonly", [True, False], ids=["readonly", "writable"])
def test_a_damaged_file_is_answered_typed_and_left_as_it_is(
    pristine: Path, tmp_path: Path, damage: str, readonly: bool
) -> None:
    path = tmp_path / "games.db"
    for source, target in zip(files_of(pristine), files_of(path), strict=True):
        if source.exists():
            shutil.copyfile(source, target)
    DAMAGE[damage](path)
    before = contents(path)
    # A raw sqlite3.Error, UnicodeDecodeError or anything else untyped fails the test here.
    refused = asyncio.run(try_store(path, readonly))
    if readonly or refused is not None:
        # Nothing a refused (or read-only) open did may change a byte of the evidence.
        after = contents(path)
        assert [name for name in before if after[name] != before[name]] == []


def test_a_flipped_command_id_or_body_is_refused_not_read_back(
    pristine: Path, tmp_path: Path
) -> None:
    for needle in (COMMAND_BODY, COMMAND_ID.encode()):
        path = tmp_path / needle.decode()[:10] / "games.db"
        path.parent.mkdir()
        for source, target in zip(files_of(pristine), files_of(path), strict=True):
            if source.exists():
                shutil.copyfile(source, target)
        flip_all(needle, xor=0x01)(path)  # still text: only the checksum can tell

        async def reads(path: Path, needle: bytes) -> None:
            store = await SqliteEventStore.open(path)
            try:
                with pytest.raises(CorruptData, match="checksum"):
                    await store.read_commands("room-hot")
                # A retry of the damaged command: its row fails the checksum (a flipped
                # body), or no row is found for it and the stale version conflicts (a
                # flipped id). Either way refused, nothing written.
                expected = CorruptData if needle == COMMAND_BODY else ConcurrencyConflict
                with pytest.raises(expected):
                    await store.append(commanded("room-hot", 0, COMMAND_ID, COMMAND_BODY))
                assert await store.last_position() == 3
                assert await store.read_commands("room-done")  # the rest reads
            finally:
                await store.close()

        asyncio.run(reads(path, needle))


def test_a_schema_1_file_is_upgraded_and_its_commands_checked(tmp_path: Path) -> None:
    path = tmp_path / "games.db"
    asyncio.run(build_store(path))
    with sqlite3.connect(path) as conn:  # back to schema 1: no digest, no checksum
        conn.execute("ALTER TABLE commands DROP COLUMN checksum")
        conn.execute("ALTER TABLE commands DROP COLUMN digest")
        conn.execute("PRAGMA user_version = 1")
    conn.close()

    async def scenario() -> None:
        with pytest.raises(CorruptData, match="schema version 1"):
            await SqliteEventStore.open_readonly(path)
        store = await SqliteEventStore.open(path)
        try:
            assert [c.command for c in await store.read_commands("room-hot")] == [
                COMMAND_BODY,
                b"second",
            ]
            # Rows of schema 1 have no digest: a retry is named by its id alone.
            retry = await store.append(commanded("room-hot", 0, "c-2", b"another"))
            assert retry.duplicate
        finally:
            await store.close()
        store = await SqliteEventStore.open_readonly(path)
        await store.close()

    asyncio.run(scenario())
    flip_all(COMMAND_BODY)(path)

    async def damaged() -> None:
        store = await SqliteEventStore.open(path)
        try:
            with pytest.raises(CorruptData, match="checksum"):
                await store.read_commands("room-hot")
        finally:
            await store.close()

    asyncio.run(damaged())
