"""Putting one of a store's files back from a backup: nothing the other file holds is lost."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import zlib
from pathlib import Path

import pytest

from engine.store import AppendRequest, NewEvent, SqliteEventStore
from engine.store.errors import ArchiveOutOfStep
from engine.store.postgres import PostgresEventStore
from engine.store.postgres.devserver import find_bindir
from engine.store.sqlite import default_archive_path
from tests.procedures import run_procedure
from tests.store.conftest import SqliteOpener


def play(stream_id: str, expected: int, count: int) -> AppendRequest:
    return AppendRequest(
        stream_id,
        expected,
        tuple(
            NewEvent("Played", 1, b"%s-%d" % (stream_id.encode(), expected + n))
            for n in range(count)
        ),
        f"{stream_id}-cmd-{expected}",
        b"command",
        1.0,
    )


def put_back(backup: Path, path: Path) -> None:
    """Put `games.db` back from a backup, leaving the current archive file in place."""
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.write_bytes(backup.read_bytes())


def bundles(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(default_archive_path(path))
    try:
        return conn.execute("SELECT * FROM bundles ORDER BY 1").fetchall()
    finally:
        conn.close()


def bundle_ids(path: Path) -> list[object]:
    return [row[0] for row in bundles(path)]


async def finish_after_backup(store: SqliteEventStore, backup: Path) -> list[NewEvent]:
    """Back up while "match-a" is active, then finish and archive it; its whole log."""
    await store.append(play("match-a", 0, 3))
    await store.append(play("match-b", 0, 2))
    await store.backup(backup)
    await store.append(play("match-a", 3, 4))
    await store.set_status("match-a", "completed")
    await store.archive_stream("match-a")
    return await store.read_stream("match-a")  # type: ignore[return-value]


async def test_a_games_db_put_back_beside_a_newer_archive_keeps_its_bundles(
    open_sqlite: SqliteOpener, tmp_path: Path
) -> None:
    store = await open_sqlite()
    backup = tmp_path / "backup" / "games.db"
    match_a = await finish_after_backup(store, backup)
    await store.close()
    put_back(backup, open_sqlite.path)

    store = await open_sqlite()
    # The bundle is the newer copy of match-a: it is kept, and the match reads whole.
    assert bundle_ids(open_sqlite.path) == ["match-a"]
    assert await store.read_stream("match-a") == match_a
    info = await store.stream_info("match-a")
    assert info is not None and (info.status, info.last_version) == ("archived", 7)
    assert [e.stream_id for e in await store.read_all()].count("match-a") == 7
    # New events take positions past every archived one.
    result = await store.append(play("match-b", 2, 1))
    assert result.first_position > max(e.position for e in match_a)
    store = await open_sqlite.reopen(store)
    assert await store.read_stream("match-a") == match_a


async def test_files_that_disagree_about_a_match_refuse_the_open_and_keep_both(
    open_sqlite: SqliteOpener, tmp_path: Path
) -> None:
    store = await open_sqlite()
    backup = tmp_path / "backup" / "games.db"
    await finish_after_backup(store, backup)
    await store.close()
    put_back(backup, open_sqlite.path)
    # The put-back file holds a different second event of match-a than the bundle.
    conn = sqlite3.connect(open_sqlite.path)
    conn.execute(
        "UPDATE events SET data = ?, checksum = ? WHERE stream_id = 'match-a' AND version = 2",
        (b"other", zlib.crc32(b"other")),
    )
    conn.commit()
    conn.close()
    archive_before = bundles(open_sqlite.path)

    with pytest.raises(ArchiveOutOfStep) as refused:
        await open_sqlite()
    assert refused.value.stream_ids == ("match-a",)
    assert "same backup" in str(refused.value)
    assert bundles(open_sqlite.path) == archive_before


async def test_a_failed_backup_leaves_no_partial_copy_behind(
    open_sqlite: SqliteOpener, tmp_path: Path
) -> None:
    store = await open_sqlite()
    await store.append(play("match-a", 0, 3))
    target = tmp_path / "backup" / "games.db"
    target.parent.mkdir()
    # Something the archive's copy cannot replace stands where it would be written.
    blocker = Path(f"{default_archive_path(target)}.partial")
    blocker.mkdir()
    (blocker / "keep").write_bytes(b"")
    with pytest.raises(OSError):
        await store.backup(target)
    assert sorted(p.name for p in target.parent.iterdir()) == [blocker.name]
    assert not target.exists()


def crash_image(path: Path, folder: Path) -> None:
    """The store's files as a SIGKILL leaves them: copied while it is open, logs and all."""
    for suffix in ("", "-wal", "-shm"):
        for base in (path, default_archive_path(path)):
            source = Path(f"{base}{suffix}")
            if source.exists():
                (folder / source.name.replace(path.name, "games.db", 1)).write_bytes(
                    source.read_bytes()
                )


async def test_the_documented_restore_puts_back_the_backup_and_keeps_the_rest_aside(
    tmp_path: Path,
) -> None:
    # The procedure leaves the store's write-ahead logs aside with the files: left beside
    # the restored archive, its stale log brings back a bundle the backup does not hold.
    live = tmp_path / "live"
    live.mkdir()
    store = await SqliteEventStore.open(live / "games.db")
    try:
        await store.append(play("match-a", 0, 3))
        await store.append(play("match-b", 0, 2))
        await store.set_status("match-b", "completed")
        await store.archive_stream("match-b")
        backups = live / "backups"
        await store.backup(backups / "games-2026-11-29.db")
        before = [await store.read_stream("match-a"), await store.read_stream("match-b")]
        # Play on after the backup: more events, another match archived, a new one.
        await store.append(play("match-a", 3, 4))
        await store.set_status("match-a", "completed")
        await store.archive_stream("match-a")
        await store.append(play("match-c", 0, 5))
        # The engine dies: its files, write-ahead logs included, are what the operator finds.
        crash_image(live / "games.db", live)
        evidence = {p.name: p.read_bytes() for p in live.iterdir() if p.is_file()}
    finally:
        await store.close()
    # The store above wrote on after the copy; the operator works on the crash image.
    folder = tmp_path / "server"
    folder.mkdir()
    for name, raw in evidence.items():
        (folder / name).write_bytes(raw)
    (folder / "backups").mkdir()
    for copy in backups.iterdir():
        (folder / "backups" / copy.name).write_bytes(copy.read_bytes())
    assert (folder / "games.db-wal").exists() and (folder / "games.db.archive.db-wal").exists()

    run_procedure("restore-backup", folder)

    (aside,) = folder.glob("before-restore-*")
    assert {p.name: p.read_bytes() for p in aside.iterdir()} == evidence
    restored = await SqliteEventStore.open(folder / "games.db")
    try:
        assert [await restored.read_stream("match-a"), await restored.read_stream("match-b")] == (
            before
        )
        assert await restored.stream_info("match-c") is None
        assert [s.stream_id for s in await restored.list_streams(status="archived")] == [
            "match-b"
        ]
        assert await restored.last_position() == 5
        assert (await restored.append(play("match-a", 3, 1))).first_position == 6
    finally:
        await restored.close()


def test_the_documented_postgresql_backup_and_restore_put_back_the_dump(
    pg_url: str, tmp_path: Path
) -> None:
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL programs")
    env = {"DATABASE_URL": pg_url, "PATH": f"{bindir}:{os.environ['PATH']}"}

    async def before() -> list[object]:
        store = await PostgresEventStore.open(pg_url)
        try:
            await store.append(play("match-a", 0, 3))
            await store.set_status("match-a", "completed")
            await store.archive_stream("match-a")
            await store.append(play("match-b", 0, 2))
            return [await store.read_stream("match-a"), await store.read_stream("match-b")]
        finally:
            await store.close()

    async def after_backup() -> None:
        store = await PostgresEventStore.open(pg_url)
        try:
            await store.append(play("match-b", 2, 4))
            await store.append(play("match-c", 0, 1))
        finally:
            await store.close()

    async def restored() -> list[object]:
        store = await PostgresEventStore.open(pg_url)
        try:
            assert await store.stream_info("match-c") is None
            assert await store.last_position() == 5
            found = [await store.read_stream("match-a"), await store.read_stream("match-b")]
            retry = await store.append(play("match-b", 0, 2))
            assert retry.duplicate  # the commands rows came back with their checksums
            assert (await store.append(play("match-b", 2, 1))).first_position == 6
            return found
        finally:
            await store.close()

    expected = asyncio.run(before())
    run_procedure("pg-backup", tmp_path, env)
    asyncio.run(after_backup())
    run_procedure("pg-restore", tmp_path, env)
    assert asyncio.run(restored()) == expected
