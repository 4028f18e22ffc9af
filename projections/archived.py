"""Which matches are archived, derived from the store, for match history's `archived` flag.

Archival is not an event, so the flag cannot be folded from the log. `MarkArchived`
records it when archival succeeds in this process; this derivation makes it right
whatever happened between the two (a process killed after archiving and before marking,
a read-model file rebuilt from the log, a mark that met a full disk): a finished match
the read models know is archived when the store holds its stream as archived, or no
longer holds it at all (only archived streams are forgotten: retention, given-up bundles).
"""

from __future__ import annotations

import sqlite3

from engine.store.protocol import EventLog
from projections.database import transaction
from projections.match_history import ARCHIVED_TABLE, PLAYING, MatchHistoryProjection

_ONE_BY_ONE = 64  # at most this many matches to ask about: one stream_info each
_ALL = 2**62  # a list_streams limit that lists them all in one read


def unflagged(conn: sqlite3.Connection) -> list[str]:
    """Rooms of matches that ended but are not marked archived (none without the tables)."""
    if MatchHistoryProjection.tables[0] not in _tables(conn):
        return []
    return [
        row[0]
        for row in conn.execute(
            "SELECT m.room_id FROM history_matches m WHERE m.outcome != ? AND NOT EXISTS "
            f"(SELECT 1 FROM {ARCHIVED_TABLE} a WHERE a.room_id = m.room_id) "
            "ORDER BY m.room_id",
            (PLAYING,),
        )
    ]


async def archived_among(store: EventLog, rooms: list[str]) -> list[str]:
    """Those of `rooms` whose streams the store holds archived, or holds no longer."""
    if len(rooms) <= _ONE_BY_ONE:
        infos = [await store.stream_info(room) for room in rooms]
        return [r for r, i in zip(rooms, infos, strict=True) if i is None or i.status == "archived"]
    # Streams move active -> completed -> archived: listing the active ones first and the
    # completed ones after misses none that is still unarchived when the second read runs.
    unarchived = {i.stream_id for i in await store.list_streams("active", limit=_ALL)}
    unarchived |= {i.stream_id for i in await store.list_streams("completed", limit=_ALL)}
    return [room for room in rooms if room not in unarchived]


def mark(conn: sqlite3.Connection, rooms: list[str], at: float) -> None:
    """Record `rooms` as archived, in one transaction (a room marked already keeps its time)."""
    with transaction(conn):
        conn.executemany(
            f"INSERT OR IGNORE INTO {ARCHIVED_TABLE} VALUES (?, ?)", [(r, at) for r in rooms]
        )


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
