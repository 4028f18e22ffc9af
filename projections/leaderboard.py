"""The leaderboard: finished games, wins and total final points per player name."""

from __future__ import annotations

import sqlite3
from functools import cache
from typing import Any, Literal

from msgspec import Struct

from engine.events import Event, ForkedFrom, GameOver, GameStarted, RoomClosed
from engine.pieces import SEATS
from engine.state import bot_like
from engine.store.records import RecordedEvent
from projections.forks import fold_version, forks_schema, is_fork, mark_fork
from projections.pages import Page, read_page
from projections.protocol import Connection, FoldError


def is_bot_name(name: str) -> bool:
    """Whether a seat name is a bot's: humans may not take names like `Bot 2` (rule decision).

    The plain `bot<digits>` form only, not its lookalikes ("B0t 2"): those are refused to new
    players, but a recorded match may seat a human under one, and a read model rebuilt
    from the log must count them as it did when it folded them first."""
    return bot_like(name)


@cache
def _sql(prefix: str) -> dict[str, str]:
    players = f"{prefix}leaderboard_players"
    seats = f"{prefix}leaderboard_seats"
    return {
        "seat": f"INSERT INTO {seats} VALUES (?,?,?)",
        "seats": f"SELECT seat, name FROM {seats} WHERE room_id = ? ORDER BY seat",
        "forget": f"DELETE FROM {seats} WHERE room_id = ?",
        # The existing row's columns named by table: PostgreSQL finds bare names ambiguous.
        "count": f"INSERT INTO {players} VALUES (?,?,1,?,?) ON CONFLICT (name) DO UPDATE SET "
        f"games = {players}.games + 1, wins = {players}.wins + excluded.wins, "
        f"points = {players}.points + excluded.points",
    }


class LeaderboardProjection:
    """Per player name: finished games, wins (every player tied at the top wins) and points.

    Only finished games (GameOver) count; an abandoned game counts for nobody, and a fork
    (ForkedFrom) for nobody unless `count_forks`. Bots are kept under their seat names
    (`Bot 2`...) with `is_bot` set; queries leave them out unless asked.
    """

    name = "leaderboard"
    version = 2
    tables = ("leaderboard_players", "leaderboard_seats", "leaderboard_forks")

    def __init__(self, count_forks: bool = False) -> None:
        self.count_forks = count_forks
        self.version = fold_version(self.version, count_forks)
        counted = {"GameStarted", "GameOver", "RoomClosed"}
        self.handles = frozenset(counted if count_forks else counted | {"ForkedFrom"})

    def schema(self, prefix: str) -> list[str]:
        return [
            f"""CREATE TABLE {prefix}leaderboard_players (
                name TEXT PRIMARY KEY,
                is_bot INTEGER NOT NULL,
                games INTEGER NOT NULL,
                wins INTEGER NOT NULL,
                points INTEGER NOT NULL
            ) WITHOUT ROWID""",
            # The seats of games in progress, until they end.
            f"""CREATE TABLE {prefix}leaderboard_seats (
                room_id TEXT NOT NULL,
                seat INTEGER NOT NULL,
                name TEXT NOT NULL,
                PRIMARY KEY (room_id, seat)
            ) WITHOUT ROWID""",
            forks_schema(prefix, self.name),
            f"CREATE INDEX {prefix}leaderboard_by_wins "
            f"ON {prefix}leaderboard_players (is_bot, wins DESC, name)",
            f"CREATE INDEX {prefix}leaderboard_by_points "
            f"ON {prefix}leaderboard_players (is_bot, points DESC, name)",
        ]

    def apply(
        self, conn: Connection, prefix: str, record: RecordedEvent, event: Event
    ) -> None:
        sql = _sql(prefix)
        room = record.stream_id
        if not self.count_forks:
            if isinstance(event, ForkedFrom):
                mark_fork(conn, prefix, self.name, room)
                conn.execute(sql["forget"], (room,))
                return
            if is_fork(conn, prefix, self.name, room):
                return
        if isinstance(event, GameStarted):
            if len(event.seats) != SEATS:
                raise FoldError(f"{room} started with {len(event.seats)} seats")
            try:
                conn.executemany(
                    sql["seat"], [(room, seat, name) for seat, name in enumerate(event.seats)]
                )
            except sqlite3.IntegrityError:
                raise FoldError(f"{room} started twice") from None
        elif isinstance(event, GameOver):
            names = [name for _, name in conn.execute(sql["seats"], (room,))]
            if len(names) != SEATS or len(event.totals) != SEATS:
                raise FoldError(f"game over in {room} without four seated players and totals")
            if any(not 0 <= w < SEATS for w in event.winners):
                raise FoldError(f"game over in {room} names winners {event.winners}")
            conn.executemany(
                sql["count"],
                [
                    (name, int(is_bot_name(name)), int(seat in event.winners), event.totals[seat])
                    for seat, name in enumerate(names)
                ],
            )
            conn.execute(sql["forget"], (room,))
        elif isinstance(event, RoomClosed):
            conn.execute(sql["forget"], (room,))


# --- queries ---------------------------------------------------------------------------------

Board = Literal["wins", "points", "win_rate"]

_BOARDS: dict[str, str] = {
    "wins": "wins",
    "points": "points",
    "win_rate": "CAST(wins AS REAL) / games",
}


class LeaderboardEntry(Struct, frozen=True):
    """A row of a leaderboard; `rank` is shared by ties (1, 2, 2, 4), listed by name."""

    rank: int
    name: str
    is_bot: bool
    games: int
    wins: int
    points: int
    win_rate: float


def leaderboard(
    conn: Connection,
    by: Board = "wins",
    *,
    min_games: int = 1,
    include_bots: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> Page[LeaderboardEntry]:
    """Players by wins, total points or win rate, among those with `min_games` games."""
    metric = _BOARDS.get(by)
    if metric is None:
        raise ValueError(f"no leaderboard by {by!r}")
    bots = "" if include_bots else "AND is_bot = 0"
    sql = (
        f"SELECT RANK() OVER (ORDER BY {metric} DESC), name, is_bot, games, wins, points, "
        f"CAST(wins AS REAL) / games FROM leaderboard_players "
        f"WHERE games >= ? {bots} ORDER BY {metric} DESC, name LIMIT ? OFFSET ?"
    )

    def entries(conn: Connection, rows: list[Any]) -> list[LeaderboardEntry]:
        return [LeaderboardEntry(r[0], r[1], bool(r[2]), *r[3:]) for r in rows]

    return read_page(conn, LeaderboardProjection.name, sql, (max(min_games, 1),), limit, offset, entries)
