"""Which matches are archived, derived from the store, for match history's `archived` flag.

Archival is not an event, so the flag cannot be folded from the log. `MarkArchived`
records it when archival succeeds in this process; this derivation makes it right
whatever happened between the two (a process killed after archiving and before marking,
a read-model file rebuilt from the log, a mark that met a full disk): a finished match
the read models know is archived when the store holds its stream as archived, or no
longer holds it at all (only archived streams are forgotten: retention, given-up bundles).
The runner derives it once caught up after it opens, after a rebuild swaps in, and after
a mark that failed.
"""

from __future__ import annotations

from engine.store.protocol import EventLog
from projections.database import transaction
from projections.match_history import ARCHIVED_TABLE, PLAYING, MatchHistoryProjection
from projections.postgres import PgConnection
from projections.protocol import Connection

_ONE_BY_ONE = 64  # at most this many matches to ask about: one stream_info each
_ALL = 2**62  # a list_streams limit that lists them all in one read
_MARGIN_S = 3600.0


def unflagged(conn: Connection) -> list[str]:
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


async def archived_among(
    store: EventLog, rooms: list[str], since: float | None = None
) -> list[str]:
    """Those of `rooms` whose streams the store holds archived, or holds no longer.

    More than a few are looked up in one listing of the streams archived after `since`
    (None: all of them), which leaves out any the store no longer holds.
    """
    if len(rooms) <= _ONE_BY_ONE:
        infos = [await store.stream_info(room) for room in rooms]
        return [r for r, i in zip(rooms, infos, strict=True) if i is None or i.status == "archived"]
    listed = await store.list_streams("archived", updated_after=since, limit=_ALL)
    archived = {info.stream_id for info in listed}
    return [room for room in rooms if room in archived]


def listed_since(conn: Connection) -> float | None:
    """Where a listing of archived streams may start: an hour (for clocks that disagree)
    before the newest mark, since every match archived before it was marked or is among
    the few looked up one by one; None (list them all) without any mark."""
    (newest,) = conn.execute(f"SELECT max(archived_at) FROM {ARCHIVED_TABLE}").fetchone()
    return None if newest is None else newest - _MARGIN_S


def mark(conn: Connection, rooms: list[str], at: float) -> None:
    """Record `rooms` as archived, in one transaction (a room marked already keeps its time)."""
    with transaction(conn):
        conn.executemany(
            f"INSERT INTO {ARCHIVED_TABLE} VALUES (?, ?) ON CONFLICT DO NOTHING",
            [(r, at) for r in rooms],
        )


def forget(conn: Connection) -> None:
    """Drop every mark, for a log that went back (a restore): matches archived after the
    moment it went back to are not archived in it, and are derived again."""
    with transaction(conn):
        conn.execute(f"DELETE FROM {ARCHIVED_TABLE}")


def _tables(conn: Connection) -> set[str]:
    if isinstance(conn, PgConnection):
        query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return {row[0] for row in conn.execute(query)}
