"""A step of the wall clock moves no rate limit, timer or recorded time of the engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors.clock import SteadyClock
from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.commands import AddBot, RemovePlayer


class HandClock:
    """A clock the test sets by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_the_wall_clock_stepping_back_and_forward_changes_nothing_the_engine_decides(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"
    # A tight rate limit: stepped back 30 minutes on the wall clock, a bucket refilled by
    # wall time would owe 36,000 tokens and refuse every command.
    config = EngineConfig.fast(str(db), projections=False, rate_per_second=20.0, rate_burst=2.0)
    wall, steady = HandClock(1_800_000_000.0), HandClock(50.0)
    assert isinstance(Engine(config).clock, SteadyClock)

    async def scenario() -> None:
        async with Engine.open(db, config, clock=wall, monotonic=steady) as engine:
            assert isinstance(await engine.create_room("ann", room_id="CLK001"), Accepted)
            steady.now += 1.0
            removed = await engine.send("CLK001", RemovePlayer(player="ann", seat=1))
            assert isinstance(removed, Accepted)
            wall.now -= 1800.0
            steady.now += 1.0
            added = await engine.send("CLK001", AddBot(player="ann", seat=1))
            assert isinstance(added, Accepted), added
            assert added.events[0].at == removed.events[0].at + 1.0
            wall.now += 7200.0
            steady.now += 1.0
            again = await engine.send("CLK001", RemovePlayer(player="ann", seat=2))
            assert isinstance(again, Accepted), again
            assert again.events[0].at == added.events[0].at + 1.0

    asyncio.run(scenario())
