"""Reading the read models: `SyncReadModels` (blocking) and `ReadModels` (asyncio).

Each read model's queries live beside its fold (`projections/lobby.py`, ...); these two
classes only give them a connection. Every answer is read in one read transaction, so it
reflects one committed state of the file: never a half-folded batch, never a half-swapped
rebuild. Lists are pages and carry `as_of`, the checkpoint of the projection that
answered (read-your-writes: wait until `as_of` reaches the position of your command's
last event). `ReadModels` runs each `SyncReadModels` query in a worker thread.
"""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, Concatenate, ParamSpec, TypeVar

from projections import database, leaderboard, lobby, match_history, player_stats
from projections.leaderboard import Board, LeaderboardEntry, LeaderboardProjection
from projections.lobby import LobbyProjection, LobbyRoom
from projections.match_history import MatchDetail, MatchHistoryProjection, MatchSummary
from projections.pages import Page
from projections.player_stats import PlayerStats, PlayerStatsProjection
from projections.protocol import Connection, Projection
from projections.runner import ProjectionRunner
from projections.status import Fault, ProjectionStatus, RebuildStatus, RunnerStatus, SkippedEvent

T = TypeVar("T")
P = ParamSpec("P")


def default_projections(count_forks: bool = False) -> list[Projection]:
    """The engine's read models: lobby, leaderboard, player stats and match history;
    forks count in the leaderboard and player statistics only with `count_forks`."""
    return [
        LobbyProjection(),
        LeaderboardProjection(count_forks),
        PlayerStatsProjection(count_forks),
        MatchHistoryProjection(),
    ]


class SyncReadModels:
    """Blocking queries over the read-model file (safe to share between threads)."""

    def __init__(
        self,
        path: database.Target,
        *,
        runner: ProjectionRunner | None = None,
        projections: Sequence[Projection] | None = None,
    ) -> None:
        self.path = path
        self.runner = runner
        self._pool: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self._connections: list[Connection] = []
        # Make sure the tables exist, so that queries before the first fold answer empty.
        setup = database.open_connection(path)
        try:
            database.prepare(setup, projections or default_projections(), time.time())
        finally:
            setup.close()

    def close(self) -> None:
        for conn in self._connections:
            conn.close()
        self._connections = []

    def lobby(self, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
        """Open rooms, oldest first."""
        return self._read(partial(lobby.open_rooms, limit=limit, offset=offset))

    def joinable(self, limit: int = 50, offset: int = 0) -> Page[LobbyRoom]:
        """Rooms not started with an empty seat, oldest first."""
        return self._read(partial(lobby.joinable_rooms, limit=limit, offset=offset))

    def room(self, code: str) -> LobbyRoom | None:
        """The open room with this code (None once it is finished or closed)."""
        return self._read(partial(lobby.open_room, code=code))

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
        return self._read(
            partial(
                leaderboard.leaderboard,
                by=by,
                min_games=min_games,
                include_bots=include_bots,
                limit=limit,
                offset=offset,
            )
        )

    def player_stats(self, name: str) -> PlayerStats | None:
        """A player's career totals (None before their first game ends)."""
        return self._read(partial(player_stats.player_stats, name=name))

    def match_history(
        self, player: str | None = None, limit: int = 20, offset: int = 0
    ) -> Page[MatchSummary]:
        """Matches newest first, all or those `player` sat in."""
        return self._read(
            partial(match_history.match_history, player=player, limit=limit, offset=offset)
        )

    def match(self, room_id: str) -> MatchDetail | None:
        """A match with its per-round scores."""
        return self._read(partial(match_history.match, room_id=room_id))

    def status(self) -> RunnerStatus:
        """The runner's status when one is attached, else what the file records (no lag)."""
        if self.runner is not None:
            return self.runner.status()
        return self._read(_stored_status)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = database.open_connection(self.path, readonly=True)
            self._connections.append(conn)
        try:
            # One read transaction: a consistent snapshot across the statements of `fn`.
            with database.read_transaction(conn):
                return fn(conn)
        finally:
            self._pool.put(conn)


def _in_thread(
    query: Callable[Concatenate[SyncReadModels, P], T],
) -> Callable[Concatenate[ReadModels, P], Awaitable[T]]:
    """The asyncio twin of a `SyncReadModels` query: the same call, in a worker thread."""

    async def run(models: ReadModels, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await asyncio.to_thread(query, models.sync, *args, **kwargs)

    run.__name__, run.__qualname__ = query.__name__, f"ReadModels.{query.__name__}"
    run.__doc__ = query.__doc__
    return run


class ReadModels:
    """The asyncio face of `SyncReadModels`: each query runs in a worker thread."""

    def __init__(
        self,
        path: database.Target,
        *,
        runner: ProjectionRunner | None = None,
        projections: Sequence[Projection] | None = None,
    ) -> None:
        self.sync = SyncReadModels(path, runner=runner, projections=projections)

    def close(self) -> None:
        self.sync.close()

    lobby = _in_thread(SyncReadModels.lobby)
    joinable = _in_thread(SyncReadModels.joinable)
    room = _in_thread(SyncReadModels.room)
    leaderboard = _in_thread(SyncReadModels.leaderboard)
    player_stats = _in_thread(SyncReadModels.player_stats)
    match_history = _in_thread(SyncReadModels.match_history)
    match = _in_thread(SyncReadModels.match)

    async def status(self) -> RunnerStatus:
        """The runner's status (no thread hop with a runner attached)."""
        if self.sync.runner is not None:
            return self.sync.runner.status()
        return await asyncio.to_thread(self.sync.status)


def _stored_status(conn: Connection) -> RunnerStatus:
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
