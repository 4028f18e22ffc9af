from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.events import Event
from engine.forking import plan_fork
from engine.store import SqliteEventStore
from projections import ProjectionRunner, default_projections
from tests.projections.support import Appender, matches

MATCHES = 200


@dataclass(frozen=True)
class LiveBuild:
    """A store of real bot matches, and read models built by a runner following the appends."""

    store_path: Path
    projections_path: Path
    events: list[tuple[int, str, Event]]
    last_position: int


async def _build_live(directory: Path) -> LiveBuild:
    store_path = directory / "games.db"
    projections_path = directory / "games.projections.db"
    store = await SqliteEventStore.open(store_path)
    runner = ProjectionRunner(store, default_projections(), projections_path, batch_size=500)
    await runner.start()
    appender = Appender(store)
    # The runner folds while the matches are appended, in batches of whatever has arrived.
    # A few matches are cut short, so that the lobby also holds games in progress.
    rng = random.Random(7)
    cut = [(room, events[: rng.randint(1, len(events))]) for room, events in matches(12, 10_000)]
    # And a few forks of finished matches, in progress from mid-match (a fork of a lobby too).
    forks = [
        (f"F{i:05d}", plan_fork(room, events, at, f"F{i:05d}", 50_000.0).events)
        for i, ((room, events), at) in enumerate(zip(matches(3), (1, 40, 200), strict=True))
    ]
    await appender.append(
        matches(MATCHES) + tuple(cut) + tuple(forks),
        streams_per_commit=12,
        max_group=16,
        pause_every=3,
    )
    assert await runner.wait_caught_up(timeout=60)
    status = runner.status()
    assert all(p.fault is None and p.behind == 0 for p in status.projections), status
    last = await store.last_position()
    await runner.close()
    await store.close()
    return LiveBuild(store_path, projections_path, sorted(appender.recorded), last)


@pytest.fixture(scope="session")
def live_build(tmp_path_factory: pytest.TempPathFactory) -> LiveBuild:
    return asyncio.run(_build_live(tmp_path_factory.mktemp("live")))
