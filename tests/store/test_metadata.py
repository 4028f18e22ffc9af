"""A store whose metadata rows (head, streams.last_version) disagree with its events."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import pytest

from engine.store import AppendRequest, CorruptData, NewEvent
from tests.store.conftest import SqliteOpener


def turn(stream_id: str, expected: int) -> AppendRequest:
    return AppendRequest(stream_id, expected, (NewEvent("Played", 1, b"%d" % expected),))


def edit(path: Path, sql: str, *args: object) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(sql, args)
        conn.commit()
    finally:
        conn.close()


async def test_a_lowered_last_version_is_noticed_by_reads_not_truncated(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    for version in range(4):
        await store.append(turn("match-a", version))
    await store.close()
    edit(open_sqlite.path, "UPDATE streams SET last_version = 3 WHERE stream_id = 'match-a'")

    store = await open_sqlite()
    with pytest.raises(CorruptData) as refused:
        await store.read_stream("match-a")
    assert refused.value.stream_id == "match-a"
    # An explicit range below the last version still reads.
    assert [e.version for e in await store.read_stream("match-a", 0, 2)] == [1, 2]


async def test_a_commit_that_clashes_with_stray_rows_fails_typed_and_writes_nothing(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    await store.append(turn("match-a", 0))
    await store.close()
    # An event row the streams row does not count (a lowered last_version beyond a read).
    edit(
        open_sqlite.path,
        "INSERT INTO events VALUES (99, 'match-a', 2, 'Played', 1, ?, ?, 1.0)",
        b"x",
        zlib.crc32(b"x"),
    )
    store = await open_sqlite()
    with pytest.raises(CorruptData, match="metadata disagrees"):
        await store.append_batch([turn("match-a", 1), turn("match-b", 0)])
    assert await store.stream_info("match-b") is None


async def test_a_head_behind_the_events_never_hands_out_a_used_position(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    for version in range(3):
        await store.append(turn("match-a", version))
    await store.close()
    edit(open_sqlite.path, "UPDATE head SET last_position = 1")

    store = await open_sqlite()
    result = await store.append(turn("match-b", 0))
    assert result.first_position == 4
    assert [e.position for e in await store.read_all()] == [1, 2, 3, 4]


class CommitsBetweenReads:
    """The store's connection, with another writer committing one more event right after
    the store read the stream's row: what a second process may do at any moment."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self.fired = False

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        cursor = self.conn.execute(sql, *args)
        if not self.fired and sql.startswith("SELECT status, last_version FROM streams"):
            self.fired = True
            other = sqlite3.connect(self.path, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                data = b"late"
                other.execute(
                    "INSERT INTO events (stream_id, version, position, type, schema_version, "
                    "data, checksum, recorded_at) VALUES ('match-a', 5, 5, 'Played', 1, ?, ?, 0)",
                    (data, zlib.crc32(data)),
                )
                other.execute("UPDATE streams SET last_version = 5 WHERE stream_id = 'match-a'")
                other.execute("UPDATE head SET last_position = 5")
                other.execute("COMMIT")
            finally:
                other.close()
        return cursor

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


async def test_a_commit_by_another_process_between_a_streams_reads_is_not_taken_for_damage(
    open_sqlite: SqliteOpener,
) -> None:
    store = await open_sqlite()
    for version in range(4):
        await store.append(turn("match-a", version))
    store._hot = CommitsBetweenReads(store._hot, open_sqlite.path)  # type: ignore[assignment]
    events = await store.read_stream("match-a")
    # One snapshot of the file: the four events as of the stream's row, not a false alarm.
    assert [e.version for e in events] == [1, 2, 3, 4]
    assert [e.version for e in await store.read_stream("match-a")] == [1, 2, 3, 4, 5]
