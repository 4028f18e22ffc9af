"""Match history: one row per match that started, its players, outcome and per-round scores."""

from __future__ import annotations

import sqlite3
from functools import cache
from typing import Any

from msgspec import Struct

from engine.events import (
    Event,
    ForkedFrom,
    GameOver,
    GameStarted,
    RedealGranted,
    RoomClosed,
    RoundScored,
)
from engine.pieces import SEATS
from engine.store.records import RecordedEvent
from projections.pages import Page, read_page
from projections.protocol import Connection, FoldError, expect_rows

PLAYING = "playing"
FINISHED = "finished"
ABANDONED = "abandoned"

ARCHIVED_TABLE = "match_archived"
"""Which matches were archived. Archival is not an event, so this table is fed by
`ProjectionRunner.mark_archived`, is not one of the projection's tables and survives its
rebuilds; queries join it."""


@cache
def _sql(prefix: str) -> dict[str, str]:
    matches = f"{prefix}history_matches"
    players = f"{prefix}history_players"
    rounds = f"{prefix}history_rounds"
    forks = f"{prefix}history_forks"
    return {
        # A fork of a fork copies its source's ForkedFrom first: the last one names its source.
        "fork": f"INSERT INTO {forks} VALUES (?,?,?,?) ON CONFLICT (room_id) DO UPDATE SET "
        "source_room = excluded.source_room, source_version = excluded.source_version, "
        "forked_at = excluded.forked_at",
        "match": f"INSERT INTO {matches} VALUES (?,?,?,NULL,'{PLAYING}',NULL,0,0)",
        "player": f"INSERT INTO {players} VALUES (?,?,?,?,NULL,0)",
        "redeal": f"UPDATE {matches} SET redeals = redeals + 1 "
        f"WHERE room_id = ? AND outcome = '{PLAYING}'",
        "rounds": f"UPDATE {matches} SET rounds = ? WHERE room_id = ? AND outcome = '{PLAYING}'",
        "round": f"INSERT INTO {rounds} VALUES (?,?,?,?,?,?,?,?)",
        "over": f"UPDATE {matches} SET outcome = '{FINISHED}', ended_at = ?, end_reason = ? "
        f"WHERE room_id = ? AND outcome = '{PLAYING}'",
        "final": f"UPDATE {players} SET final_score = ?, won = ? WHERE room_id = ? AND seat = ?",
        "closed": f"UPDATE {matches} SET outcome = '{ABANDONED}', ended_at = ?, end_reason = ? "
        f"WHERE room_id = ? AND outcome = '{PLAYING}'",
    }


class MatchHistoryProjection:
    """Every match from GameStarted on: players, rounds, redeals, result and round scores.

    `outcome` is "playing", "finished" (GameOver) or "abandoned" (RoomClosed mid-game).
    Rooms that close before starting are not matches. Times are the engine's `at`.
    """

    name = "match_history"
    version = 2
    handles = frozenset(
        {"GameStarted", "RedealGranted", "RoundScored", "GameOver", "RoomClosed", "ForkedFrom"}
    )
    tables = ("history_matches", "history_players", "history_rounds", "history_forks")

    def schema(self, prefix: str) -> list[str]:
        return [
            f"""CREATE TABLE {prefix}history_matches (
                room_id TEXT PRIMARY KEY,
                started_position INTEGER NOT NULL,
                started_at REAL NOT NULL,
                ended_at REAL,
                outcome TEXT NOT NULL,
                end_reason TEXT,
                rounds INTEGER NOT NULL,
                redeals INTEGER NOT NULL
            ) WITHOUT ROWID""",
            f"""CREATE TABLE {prefix}history_players (
                room_id TEXT NOT NULL,
                seat INTEGER NOT NULL,
                name TEXT NOT NULL,
                started_position INTEGER NOT NULL,
                final_score INTEGER,
                won INTEGER NOT NULL,
                PRIMARY KEY (room_id, seat)
            ) WITHOUT ROWID""",
            f"""CREATE TABLE {prefix}history_rounds (
                room_id TEXT NOT NULL,
                round INTEGER NOT NULL,
                seat INTEGER NOT NULL,
                multiplier INTEGER NOT NULL,
                declared INTEGER NOT NULL,
                captured INTEGER NOT NULL,
                score INTEGER NOT NULL,
                total INTEGER NOT NULL,
                PRIMARY KEY (room_id, round, seat)
            ) WITHOUT ROWID""",
            f"""CREATE TABLE {prefix}history_forks (
                room_id TEXT PRIMARY KEY,
                source_room TEXT NOT NULL,
                source_version INTEGER NOT NULL,
                forked_at REAL NOT NULL
            ) WITHOUT ROWID""",
            f"CREATE INDEX {prefix}history_matches_by_start "
            f"ON {prefix}history_matches (started_position)",
            f"CREATE INDEX {prefix}history_players_by_name "
            f"ON {prefix}history_players (name, started_position)",
        ]

    def apply(
        self, conn: Connection, prefix: str, record: RecordedEvent, event: Event
    ) -> None:
        sql = _sql(prefix)
        room = record.stream_id
        if isinstance(event, RoundScored):
            columns = (event.declared, event.captured, event.scores, event.totals)
            if any(len(c) != SEATS for c in columns):
                raise FoldError(f"round {event.round} of {room} does not score four seats")
            cursor = conn.execute(sql["rounds"], (event.round, room))
            expect_rows(cursor, 1, f"round {event.round} of {room}")
            try:
                conn.executemany(
                    sql["round"],
                    [
                        (room, event.round, seat, event.multiplier, *figures)
                        for seat, figures in enumerate(zip(*columns, strict=True))
                    ],
                )
            except sqlite3.IntegrityError:
                raise FoldError(f"round {event.round} of {room} scored twice") from None
        elif isinstance(event, GameStarted):
            if len(event.seats) != SEATS:
                raise FoldError(f"{room} started with {len(event.seats)} seats")
            try:
                conn.execute(sql["match"], (room, record.position, event.at))
            except sqlite3.IntegrityError:
                raise FoldError(f"{room} started twice") from None
            conn.executemany(
                sql["player"],
                [(room, seat, name, record.position) for seat, name in enumerate(event.seats)],
            )
        elif isinstance(event, RedealGranted):
            cursor = conn.execute(sql["redeal"], (room,))
            expect_rows(cursor, 1, f"redeal in {room}")
        elif isinstance(event, GameOver):
            if len(event.totals) != SEATS or any(not 0 <= w < SEATS for w in event.winners):
                raise FoldError(f"game over in {room} with totals {event.totals}")
            cursor = conn.execute(sql["over"], (event.at, event.reason.value, room))
            expect_rows(cursor, 1, f"game over in {room}")
            conn.executemany(
                sql["final"],
                [
                    (total, int(seat in event.winners), room, seat)
                    for seat, total in enumerate(event.totals)
                ],
            )
        elif isinstance(event, RoomClosed):
            # A room closed before its game started was never a match: nothing to update.
            conn.execute(sql["closed"], (event.at, event.reason.value, room))
        elif isinstance(event, ForkedFrom):
            conn.execute(
                sql["fork"], (room, event.source_room, event.source_version, event.at)
            )


# --- queries ---------------------------------------------------------------------------------


class MatchSummary(Struct, frozen=True):
    """One match; `final_scores` and `winners` are set once it is finished."""

    room_id: str
    players: tuple[str, ...]
    outcome: str
    end_reason: str | None
    rounds: int
    redeals: int
    final_scores: tuple[int, ...] | None
    winners: tuple[str, ...]
    started_at: float
    ended_at: float | None
    duration: float | None
    archived: bool
    forked_from: str | None = None  # a fork: the room it was forked from...
    forked_at: int | None = None  # ...and the source's version it starts from


class SeatScore(Struct, frozen=True):
    seat: int
    name: str
    declared: int
    captured: int
    score: int
    total: int


class RoundScore(Struct, frozen=True):
    round: int
    multiplier: int
    seats: tuple[SeatScore, ...]


class MatchDetail(Struct, frozen=True):
    summary: MatchSummary
    rounds: tuple[RoundScore, ...]


def match_history(
    conn: Connection, player: str | None = None, limit: int = 20, offset: int = 0
) -> Page[MatchSummary]:
    """Matches newest first, all or those `player` sat in."""
    if player is None:
        sql = (
            f"SELECT {_MATCH_COLUMNS} FROM history_matches m "
            "ORDER BY m.started_position DESC LIMIT ? OFFSET ?"
        )
        params: tuple[object, ...] = ()
    else:
        sql = (
            f"SELECT {_MATCH_COLUMNS} FROM history_players p "
            "JOIN history_matches m ON m.room_id = p.room_id "
            "WHERE p.name = ? ORDER BY p.started_position DESC LIMIT ? OFFSET ?"
        )
        params = (player,)
    return read_page(conn, MatchHistoryProjection.name, sql, params, limit, offset, _matches)


def match(conn: Connection, room_id: str) -> MatchDetail | None:
    """A match with its per-round scores."""
    rows = conn.execute(
        f"SELECT {_MATCH_COLUMNS} FROM history_matches m WHERE m.room_id = ?", (room_id,)
    ).fetchall()
    if not rows:
        return None
    (summary,) = _matches(conn, rows)
    rounds: dict[int, tuple[int, list[SeatScore]]] = {}
    for rnd, seat, multiplier, declared, captured, score, total in conn.execute(
        "SELECT round, seat, multiplier, declared, captured, score, total "
        "FROM history_rounds WHERE room_id = ? ORDER BY round, seat",
        (room_id,),
    ):
        seats = rounds.setdefault(rnd, (multiplier, []))[1]
        seats.append(SeatScore(seat, summary.players[seat], declared, captured, score, total))
    return MatchDetail(
        summary,
        tuple(RoundScore(r, m, tuple(s)) for r, (m, s) in rounds.items()),
    )


_MATCH_COLUMNS = (
    "m.room_id, m.outcome, m.end_reason, m.rounds, m.redeals, m.started_at, m.ended_at, "
    f"EXISTS (SELECT 1 FROM {ARCHIVED_TABLE} a WHERE a.room_id = m.room_id), "
    "(SELECT f.source_room FROM history_forks f WHERE f.room_id = m.room_id), "
    "(SELECT f.source_version FROM history_forks f WHERE f.room_id = m.room_id)"
)


def _matches(conn: Connection, rows: list[Any]) -> list[MatchSummary]:
    players: dict[str, list[tuple[str, int | None, int]]] = {row[0]: [] for row in rows}
    if players:
        marks = ",".join("?" * len(players))
        for room_id, name, final_score, won in conn.execute(
            "SELECT room_id, name, final_score, won FROM history_players "
            f"WHERE room_id IN ({marks}) ORDER BY room_id, seat",
            list(players),
        ):
            players[room_id].append((name, final_score, won))
    summaries = []
    for (
        room_id,
        outcome,
        end_reason,
        rounds,
        redeals,
        started_at,
        ended_at,
        archived,
        forked_from,
        forked_at,
    ) in rows:
        seated = players[room_id]
        finished = outcome == FINISHED
        summaries.append(
            MatchSummary(
                room_id=room_id,
                players=tuple(name for name, _, _ in seated),
                outcome=outcome,
                end_reason=end_reason,
                rounds=rounds,
                redeals=redeals,
                final_scores=tuple(s for _, s, _ in seated if s is not None) if finished else None,
                winners=tuple(name for name, _, won in seated if won),
                started_at=started_at,
                ended_at=ended_at,
                duration=None if ended_at is None else ended_at - started_at,
                archived=bool(archived),
                forked_from=forked_from,
                forked_at=forked_at,
            )
        )
    return summaries
