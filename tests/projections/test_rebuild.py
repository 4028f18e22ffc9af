"""Rebuilds fold into shadow tables and swap atomically: readers never see half a table."""

from __future__ import annotations

import asyncio
import bisect
import threading
import time
from pathlib import Path

from engine.events import GameOver, GameStarted
from engine.store import SqliteEventStore
from projections import (
    LeaderboardProjection,
    ProjectionRunner,
    Rebuild,
    SyncReadModels,
    default_projections,
)
from projections.protocol import Projection
from tests.projections.support import Appender, dump, matches


class Sample:
    """What one query answered, checked later against the events up to its `as_of`."""

    def __init__(self, board: str, as_of: int, games: int, points: int, rebuilding: bool) -> None:
        self.board, self.as_of, self.games, self.points = board, as_of, games, points
        self.rebuilding = rebuilding


def _query_until(
    models: SyncReadModels, runner: ProjectionRunner, done: threading.Event, samples: list[Sample]
) -> None:
    while not done.is_set():
        rebuilding = any(p.rebuild is not None for p in runner.status().projections)
        board = models.leaderboard("points", include_bots=True, limit=10_000)
        samples.append(
            Sample(
                "leaderboard",
                board.as_of,
                sum(e.games for e in board.items),
                sum(e.points for e in board.items),
                rebuilding,
            )
        )
        time.sleep(0.002)  # leave the runner some of the GIL
        history = models.match_history(limit=10_000)
        samples.append(
            Sample(
                "history",
                history.as_of,
                len(history.items),
                sum(sum(m.final_scores or ()) for m in history.items),
                rebuilding,
            )
        )


def _check(samples: list[Sample], appender: Appender) -> None:
    """Every answer equals the complete state at its checkpoint: no more, no less."""
    recorded = sorted(appender.recorded, key=lambda r: r[0])
    positions = {p for p, _, _ in recorded}
    over = [(p, e) for p, _, e in recorded if isinstance(e, GameOver)]
    started = [p for p, _, e in recorded if isinstance(e, GameStarted)]
    over_positions = [p for p, _ in over]
    points_upto = [0]
    for _, e in over:
        points_upto.append(points_upto[-1] + sum(e.totals))
    for sample in samples:
        assert sample.as_of in positions or sample.as_of == 0
        finished = bisect.bisect_right(over_positions, sample.as_of)
        points = points_upto[finished]
        if sample.board == "leaderboard":
            assert (sample.games, sample.points) == (4 * finished, points), sample.as_of
        else:
            count = bisect.bisect_right(started, sample.as_of)
            assert (sample.games, sample.points) == (count, points), sample.as_of


def _run_with_appends(tmp_path: Path, start_rebuild: str) -> None:
    async def scenario(store: SqliteEventStore) -> None:
        path = tmp_path / "games.projections.db"
        appender = Appender(store)
        await appender.append(matches(40))
        async with ProjectionRunner(store, default_projections(), path, batch_size=200) as r:
            assert await r.wait_caught_up(timeout=60)
        runner = ProjectionRunner(store, _projections(start_rebuild), path, batch_size=200)
        models = SyncReadModels(path, runner=runner)
        samples: list[Sample] = []
        done = threading.Event()
        await runner.open()
        if start_rebuild == "instruction":
            for name in ("leaderboard", "match_history", "player_stats"):
                await runner.execute(Rebuild(name))
        querying = asyncio.ensure_future(
            asyncio.to_thread(_query_until, models, runner, done, samples)
        )
        try:
            await runner.start()
            await appender.append(matches(80)[40:], pause_every=2)
            assert await runner.wait_caught_up(timeout=60)
        finally:
            done.set()
            await querying
            await runner.close()
            models.close()
        bumped = LeaderboardProjection.version + (1 if start_rebuild == "bump" else 0)
        assert runner.status().of("leaderboard").version == bumped
        assert any(s.rebuilding for s in samples), "no query ran during the rebuild"
        assert len({s.as_of for s in samples}) > 5
        _check(samples, appender)
        # And the swapped-in tables equal a build from zero.
        async with ProjectionRunner(store, default_projections(), tmp_path / "clean.db") as r:
            assert await r.wait_caught_up(timeout=60)
        assert dump(path) == dump(tmp_path / "clean.db")

    async def main() -> None:
        store = await SqliteEventStore.open(tmp_path / "games.db")
        try:
            await scenario(store)
        finally:
            await store.close()

    asyncio.run(main())


class LeaderboardBumped(LeaderboardProjection):
    version = LeaderboardProjection.version + 1


def _projections(start_rebuild: object) -> list[Projection]:
    chosen = default_projections()
    if start_rebuild == "bump":
        chosen[1] = LeaderboardBumped()
    return chosen


def test_queries_during_a_rebuild_while_matches_are_appended_see_complete_states(
    tmp_path: Path,
) -> None:
    _run_with_appends(tmp_path, "instruction")


def test_a_bumped_version_rebuilds_on_start_while_the_old_tables_serve(tmp_path: Path) -> None:
    _run_with_appends(tmp_path, "bump")
