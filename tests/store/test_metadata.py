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
