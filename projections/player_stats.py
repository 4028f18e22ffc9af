"""Player statistics: per game and career figures of every seat name (bots flagged)."""

from __future__ import annotations

import sqlite3
from functools import cache

from msgspec import Struct

from engine.events import (
    Event,
    ForkedFrom,
    GameOver,
    GameStarted,
    RedealDecided,
    RoomClosed,
    RoundScored,
    TrickWon,
)
from engine.pieces import SEATS
from engine.store.records import RecordedEvent
from projections.forks import fold_version, forks_schema, is_fork, mark_fork
from projections.leaderboard import is_bot_name
from projections.protocol import Connection, FoldError, expect_rows

PLAYING = "playing"
FINISHED = "finished"
ABANDONED = "abandoned"

# The figures kept per game and summed into a player's career totals.
FIGURES = (
    "rounds",
    "tricks",
    "piles",
    "perfect_rounds",
    "redeals_accepted",
    "declarations_met",
    "zero_declarations",
)
_FIGURES = ", ".join(FIGURES)


@cache
def _sql(prefix: str) -> dict[str, str]:
    games = f"{prefix}player_games"
    totals = f"{prefix}player_totals"
    zeros = ", ".join("0" for _ in FIGURES)
    # The existing row's columns named by table: PostgreSQL finds bare names ambiguous.
    sums = ", ".join(f"{f} = {totals}.{f} + excluded.{f}" for f in FIGURES)
    return {
        "seat": f"INSERT INTO {games} VALUES (?,?,?,?,?,'{PLAYING}',{zeros},NULL,NULL,0)",
        "redeal": f"UPDATE {games} SET redeals_accepted = redeals_accepted + 1 "
        f"WHERE room_id = ? AND seat = ? AND outcome = '{PLAYING}'",
        "trick": f"UPDATE {games} SET tricks = tricks + 1, piles = piles + ? "
        f"WHERE room_id = ? AND seat = ? AND outcome = '{PLAYING}'",
        "round": f"UPDATE {games} SET rounds = rounds + 1, perfect_rounds = perfect_rounds + ?, "
        "declarations_met = declarations_met + ?, zero_declarations = zero_declarations + ? "
        f"WHERE room_id = ? AND seat = ? AND outcome = '{PLAYING}'",
        "finish": f"UPDATE {games} SET outcome = '{FINISHED}', final_score = ?, rank = ?, won = ? "
        f"WHERE room_id = ? AND seat = ? AND outcome = '{PLAYING}'",
        # WHERE before ON CONFLICT keeps SQLite from reading ON as a join constraint.
        "add_finished": f"INSERT INTO {totals} (name, is_bot, games, wins, points, abandoned, "
        f"{_FIGURES}) SELECT name, is_bot, 1, won, final_score, 0, {_FIGURES} FROM {games} "
        f"WHERE room_id = ? ON CONFLICT (name) DO UPDATE SET games = {totals}.games + 1, "
        f"wins = {totals}.wins + excluded.wins, points = {totals}.points + excluded.points, "
        f"{sums}",
        "add_abandoned": f"INSERT INTO {totals} (name, is_bot, games, wins, points, abandoned, "
        f"{_FIGURES}) SELECT name, is_bot, 0, 0, 0, 1, {zeros} FROM {games} "
        f"WHERE room_id = ? AND outcome = '{PLAYING}' "
        f"ON CONFLICT (name) DO UPDATE SET abandoned = {totals}.abandoned + 1",
        "abandon": f"UPDATE {games} SET outcome = '{ABANDONED}' "
        f"WHERE room_id = ? AND outcome = '{PLAYING}'",
        "forget": f"DELETE FROM {games} WHERE room_id = ?",
    }


class PlayerStatsProjection:
    """Per (game, seat) figures as they happen, and per player name career totals.

    Career totals (games, wins, points, rounds, tricks, piles, perfect rounds, redeals
    accepted, declarations met, zero declarations) count finished games only; an
    abandoned game adds to `abandoned` and keeps its per-game row. Every TrickWon counts
    a trick; a declaration is met when captured == declared (0 included); a perfect
    round is one declared > 0 and met. A seat's player is the name in GameStarted.seats,
    so a human who disconnects keeps the seat (a bot standing in plays for them). Bots
    are kept under their seat names with `is_bot` set. A fork (ForkedFrom) counts for
    nobody, and keeps no per-game rows, unless `count_forks`.
    """

    name = "player_stats"
    tables = ("player_games", "player_totals", "player_stats_forks")

    version = 2

    def __init__(self, count_forks: bool = False) -> None:
        self.count_forks = count_forks
        self.version = fold_version(self.version, count_forks)
        counted = {
            "GameStarted",
            "RedealDecided",
            "TrickWon",
            "RoundScored",
            "GameOver",
            "RoomClosed",
        }
        self.handles = frozenset(counted if count_forks else counted | {"ForkedFrom"})

    def schema(self, prefix: str) -> list[str]:
        figures = ",\n".join(f"{f} INTEGER NOT NULL" for f in FIGURES)
        return [
            f"""CREATE TABLE {prefix}player_games (
                room_id TEXT NOT NULL,
                seat INTEGER NOT NULL,
                name TEXT NOT NULL,
                is_bot INTEGER NOT NULL,
                started_position INTEGER NOT NULL,
                outcome TEXT NOT NULL,
                {figures},
                final_score INTEGER,
                rank INTEGER,
                won INTEGER NOT NULL,
                PRIMARY KEY (room_id, seat)
            ) WITHOUT ROWID""",
            f"""CREATE TABLE {prefix}player_totals (
                name TEXT PRIMARY KEY,
                is_bot INTEGER NOT NULL,
                games INTEGER NOT NULL,
                wins INTEGER NOT NULL,
                points INTEGER NOT NULL,
                abandoned INTEGER NOT NULL,
                {figures}
            ) WITHOUT ROWID""",
            forks_schema(prefix, self.name),
            f"CREATE INDEX {prefix}player_games_by_name "
            f"ON {prefix}player_games (name, started_position)",
        ]

    def apply(
        self, conn: Connection, prefix: str, record: RecordedEvent, event: Event
    ) -> None:
        sql = _sql(prefix)
        room = record.stream_id
        kind = type(event)
        if not self.count_forks:
            if kind is ForkedFrom:
                mark_fork(conn, prefix, self.name, room)
                conn.execute(sql["forget"], (room,))
                return
            if is_fork(conn, prefix, self.name, room):
                return
        if kind is TrickWon:
            assert isinstance(event, TrickWon)
            cursor = conn.execute(sql["trick"], (event.piles, room, event.seat))
            expect_rows(cursor, 1, f"trick won by seat {event.seat} in {room}")
        elif kind is RoundScored:
            assert isinstance(event, RoundScored)
            if len(event.declared) != SEATS or len(event.captured) != SEATS:
                raise FoldError(f"round {event.round} of {room} does not score four seats")
            rows = [
                (int(d > 0 and c == d), int(c == d), int(d == 0), room, seat)
                for seat, (d, c) in enumerate(zip(event.declared, event.captured, strict=True))
            ]
            cursor = conn.executemany(sql["round"], rows)
            expect_rows(cursor, SEATS, f"round {event.round} of {room}")
        elif kind is RedealDecided:
            assert isinstance(event, RedealDecided)
            if event.accept:
                cursor = conn.execute(sql["redeal"], (room, event.seat))
                expect_rows(cursor, 1, f"redeal accepted by seat {event.seat} in {room}")
        elif kind is GameStarted:
            assert isinstance(event, GameStarted)
            if len(event.seats) != SEATS:
                raise FoldError(f"{room} started with {len(event.seats)} seats")
            try:
                conn.executemany(
                    sql["seat"],
                    [
                        (room, seat, name, int(is_bot_name(name)), record.position)
                        for seat, name in enumerate(event.seats)
                    ],
                )
            except sqlite3.IntegrityError:
                raise FoldError(f"{room} started twice") from None
        elif kind is GameOver:
            assert isinstance(event, GameOver)
            totals = event.totals
            if len(totals) != SEATS or any(not 0 <= w < SEATS for w in event.winners):
                raise FoldError(
                    f"game over in {room} with totals {totals}, winners {event.winners}"
                )
            rows = [
                (total, 1 + sum(t > total for t in totals), int(seat in event.winners), room, seat)
                for seat, total in enumerate(totals)
            ]
            cursor = conn.executemany(sql["finish"], rows)
            expect_rows(cursor, SEATS, f"game over in {room}")
            conn.execute(sql["add_finished"], (room,))
        elif kind is RoomClosed:
            conn.execute(sql["add_abandoned"], (room,))
            conn.execute(sql["abandon"], (room,))


# --- queries ---------------------------------------------------------------------------------


class PlayerStats(Struct, frozen=True):
    """A player's career over finished games (abandoned games are only counted)."""

    name: str
    is_bot: bool
    games: int
    wins: int
    points: int
    win_rate: float | None
    average_score: float | None
    rounds: int
    tricks: int
    piles: int
    perfect_rounds: int
    redeals_accepted: int
    declarations_met: int
    zero_declarations: int
    abandoned: int


def player_stats(conn: Connection, name: str) -> PlayerStats | None:
    """A player's career totals (None before their first game ends)."""
    row = conn.execute(
        "SELECT name, is_bot, games, wins, points, rounds, tricks, piles, "
        "perfect_rounds, redeals_accepted, declarations_met, zero_declarations, "
        "abandoned FROM player_totals WHERE name = ?",
        (name,),
    ).fetchone()
    if row is None:
        return None
    games, wins, points = row[2], row[3], row[4]
    return PlayerStats(
        name=row[0],
        is_bot=bool(row[1]),
        games=games,
        wins=wins,
        points=points,
        win_rate=wins / games if games else None,
        average_score=points / games if games else None,
        rounds=row[5],
        tricks=row[6],
        piles=row[7],
        perfect_rounds=row[8],
        redeals_accepted=row[9],
        declarations_met=row[10],
        zero_declarations=row[11],
        abandoned=row[12],
    )
