"""Reading the read models: `ReadModels` (asyncio) and its twin `SyncReadModels`.

Every answer is read in one read transaction, so it reflects one committed state of the
file: never a half-folded batch, never a half-swapped rebuild. Lists are pages and carry
`as_of`, the checkpoint of the projection that answered (read-your-writes: wait until
`as_of` reaches the position of your command's last event).
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, Literal, TypeVar

from msgspec import Struct

from engine.store.schema import read_transaction
from projections import database
from projections.leaderboard import Leaderboard
from projections.lobby import Lobby
from projections.match_history import ARCHIVED_TABLE, FINISHED, MatchHistory
from projections.player_stats import PlayerStats as PlayerStatsProjection
from projections.protocol import Projection
from projections.runner import ProjectionRunner
from projections.status import Fault, ProjectionStatus, RebuildStatus, RunnerStatus, SkippedEvent

T = TypeVar("T")
Board = Literal["wins", "points", "win_rate"]

_BOARDS: dict[str, str] = {
    "wins": "wins",
    "points": "points",
    "win_rate": "CAST(wins AS REAL) / games",
}


def default_projections(count_forks: bool = False) -> list[Projection]:
    """The engine's read models: lobby, leaderboard, player stats and match history;
    forks count in the leaderboard and player statistics only with `count_forks`."""
    return [
        Lobby(),
        Leaderboard(count_forks),
        PlayerStatsProjection(count_forks),
        MatchHistory(),
    ]


class Page(Struct, Generic[T], frozen=True):
    """A slice of a long list, and the checkpoint of the state it was read from."""

    items: tuple[T, ...]
    as_of: int
    limit: int
    offset: int


class SeatView(Struct, frozen=True):
    seat: int
    name: str | None
    is_bot: bool
    connected: bool


class LobbyRoom(Struct, frozen=True):
    """An open room: who hosts it, who sits where, whether it started and its phase."""

    room_id: str
    host: str
    host_seat: int
    phase: str
    started: bool
    round: int
    seats: tuple[SeatView, ...]
    empty_seats: int
    bots: int
    created_at: float

    @property
    def joinable(self) -> bool:
        return not self.started and self.empty_seats > 0


class LeaderboardEntry(Struct, frozen=True):
    """A row of a leaderboard; `rank` is shared by ties (1, 2, 2, 4), listed by name."""

    rank: int
    name: str
    is_bot: bool
    games: int
    wins: int
    points: int
    win_rate: float


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


class SyncReadModels:
    """Blocking queries over the read-model file (safe to share between threads)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        runner: ProjectionRunner | None = None,
        projections: Sequence[Projection] | None = None,
    ) -> None:
        self.path = path
        self.runner = runner
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._connections: list[sqlite3.Connection] = []
        # Make sure the tables exist, so that queries before the first fold answer empty.
        setup = database.connect(path)
        try:
            database.prepare(setup, projections or default_projections(), time.time())
        finally:
            setup.close()

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections = []

    # --- lobby -----------------------------------------------------------------------------

    def lobby(self, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
        """Open rooms, oldest first."""
        return self._page("lobby", _rooms_query(""), (), limit, offset, _rooms)

    def joinable(self, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
        """Rooms not started with an empty seat, oldest first."""
        where = "WHERE started = 0 AND empty_seats > 0"
        return self._page("lobby", _rooms_query(where), (), limit, offset, _rooms)

    def room(self, code: str) -> LobbyRoom | None:
        """The open room with this code (None once it is finished or closed)."""
        page = self._page("lobby", _rooms_query("WHERE room_id = ?"), (code,), 1, 0, _rooms)
        return page.items[0] if page.items else None

    # --- leaderboard and players -----------------------------------------------------------

    def leaderboard(
        self,
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

        def entries(conn: sqlite3.Connection, rows: list[Any]) -> list[LeaderboardEntry]:
            return [LeaderboardEntry(r[0], r[1], bool(r[2]), *r[3:]) for r in rows]

        return self._page("leaderboard", sql, (max(min_games, 1),), limit, offset, entries)

    def player_stats(self, name: str) -> PlayerStats | None:
        """A player's career totals (None before their first game ends)."""

        def read(conn: sqlite3.Connection) -> PlayerStats | None:
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

        return self._read(read)

    # --- match history ---------------------------------------------------------------------

    def match_history(
        self, player: str | None = None, limit: int = 20, offset: int = 0
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
        return self._page("match_history", sql, params, limit, offset, _matches)

    def match(self, room_id: str) -> MatchDetail | None:
        """A match with its per-round scores."""

        def read(conn: sqlite3.Connection) -> MatchDetail | None:
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
                seats.append(
                    SeatScore(seat, summary.players[seat], declared, captured, score, total)
                )
            return MatchDetail(
                summary,
                tuple(RoundScore(r, m, tuple(s)) for r, (m, s) in rounds.items()),
            )

        return self._read(read)

    # --- status ----------------------------------------------------------------------------

    def status(self) -> RunnerStatus:
        """The runner's status when one is attached, else what the file records (no lag)."""
        if self.runner is not None:
            return self.runner.status()
        return self._read(_stored_status)

    # --- plumbing --------------------------------------------------------------------------

    def _page(
        self,
        name: str,
        sql: str,
        params: tuple[object, ...],
        limit: int,
        offset: int,
        build: Callable[[sqlite3.Connection, list[Any]], list[T]],
    ) -> Page[T]:
        if limit <= 0 or offset < 0:
            raise ValueError("limit must be positive and offset not negative")

        def read(conn: sqlite3.Connection) -> Page[T]:
            (as_of,) = conn.execute(
                "SELECT position FROM checkpoints WHERE name = ? AND lane = 'live'", (name,)
            ).fetchone()
            rows = conn.execute(sql, (*params, limit, offset)).fetchall()
            return Page(tuple(build(conn, rows)), as_of, limit, offset)

        return self._read(read)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = database.connect(self.path, readonly=True)
            self._connections.append(conn)
        try:
            # One read transaction: a consistent snapshot across the statements of `fn`.
            with read_transaction(conn):
                return fn(conn)
        finally:
            self._pool.put(conn)


class ReadModels:
    """The asyncio face of `SyncReadModels`: each query runs in a worker thread."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        runner: ProjectionRunner | None = None,
        projections: Sequence[Projection] | None = None,
    ) -> None:
        self.sync = SyncReadModels(path, runner=runner, projections=projections)

    def close(self) -> None:
        self.sync.close()

    async def lobby(self, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
        return await asyncio.to_thread(self.sync.lobby, limit, offset)

    async def joinable(self, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
        return await asyncio.to_thread(self.sync.joinable, limit, offset)

    async def room(self, code: str) -> LobbyRoom | None:
        return await asyncio.to_thread(self.sync.room, code)

    async def leaderboard(
        self,
        by: Board = "wins",
        *,
        min_games: int = 1,
        include_bots: bool = False,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[LeaderboardEntry]:
        return await asyncio.to_thread(
            lambda: self.sync.leaderboard(
                by, min_games=min_games, include_bots=include_bots, limit=limit, offset=offset
            )
        )

    async def player_stats(self, name: str) -> PlayerStats | None:
        return await asyncio.to_thread(self.sync.player_stats, name)

    async def match_history(
        self, player: str | None = None, limit: int = 20, offset: int = 0
    ) -> Page[MatchSummary]:
        return await asyncio.to_thread(self.sync.match_history, player, limit, offset)

    async def match(self, room_id: str) -> MatchDetail | None:
        return await asyncio.to_thread(self.sync.match, room_id)

    async def status(self) -> RunnerStatus:
        if self.sync.runner is not None:
            return self.sync.runner.status()
        return await asyncio.to_thread(self.sync.status)


def _rooms_query(where: str) -> str:
    return (
        "SELECT room_id, host, host_seat, phase, started, round, empty_seats, created_at "
        f"FROM lobby_rooms {where} ORDER BY created_position LIMIT ? OFFSET ?"
    )


def _rooms(conn: sqlite3.Connection, rows: list[Any]) -> list[LobbyRoom]:
    seats: dict[str, list[SeatView]] = {row[0]: [] for row in rows}
    if seats:
        marks = ",".join("?" * len(seats))
        for room_id, seat, name, is_bot, connected in conn.execute(
            "SELECT room_id, seat, name, is_bot, connected FROM lobby_seats "
            f"WHERE room_id IN ({marks}) ORDER BY room_id, seat",
            list(seats),
        ):
            seats[room_id].append(SeatView(seat, name, bool(is_bot), bool(connected)))
    return [
        LobbyRoom(
            room_id=room_id,
            host=host,
            host_seat=host_seat,
            phase=phase,
            started=bool(started),
            round=rnd,
            seats=tuple(seats[room_id]),
            empty_seats=empty,
            bots=sum(s.is_bot for s in seats[room_id]),
            created_at=created_at,
        )
        for room_id, host, host_seat, phase, started, rnd, empty, created_at in rows
    ]


_MATCH_COLUMNS = (
    "m.room_id, m.outcome, m.end_reason, m.rounds, m.redeals, m.started_at, m.ended_at, "
    f"EXISTS (SELECT 1 FROM {ARCHIVED_TABLE} a WHERE a.room_id = m.room_id), "
    "(SELECT f.source_room FROM history_forks f WHERE f.room_id = m.room_id), "
    "(SELECT f.source_version FROM history_forks f WHERE f.room_id = m.room_id)"
)


def _matches(conn: sqlite3.Connection, rows: list[Any]) -> list[MatchSummary]:
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


def _stored_status(conn: sqlite3.Connection) -> RunnerStatus:
    rows = conn.execute(
        "SELECT name, lane, version, position, target, paused, failed_position, failed_stream, "
        "failed_type, error FROM checkpoints ORDER BY name, lane"
    ).fetchall()
    skipped: dict[str, list[SkippedEvent]] = {}
    for row in conn.execute(
        "SELECT name, position, version, reason, error, skipped_at FROM skipped "
        "ORDER BY name, position"
    ):
        skipped.setdefault(row[0], []).append(SkippedEvent(*row))
    shadows = {row[0]: row for row in rows if row[1] == "shadow"}
    head = max((row[3] for row in rows), default=0)
    statuses = []
    for name, lane, version, position, _, paused, *failure in rows:
        if lane != "live":
            continue
        shadow = shadows.get(name)
        rebuild = None
        if shadow is not None:
            rebuild = RebuildStatus(shadow[2], shadow[3], shadow[4], _fault(shadow[6:]))
        statuses.append(
            ProjectionStatus(
                name=name,
                version=version,
                position=position,
                behind=head - position,
                lag_seconds=None,
                newest_recorded_at=None,
                paused=bool(paused),
                fault=_fault(failure),
                stale=rebuild is not None and rebuild.version != version,
                rebuild=rebuild,
                skipped=tuple(skipped.get(name, ())),
            )
        )
    return RunnerStatus(False, head, None, tuple(statuses))


def _fault(columns: Sequence[Any]) -> Fault | None:
    position, stream_id, type_, error = columns
    return None if position is None else Fault(position, stream_id, type_, error)
