"""One host opens only so many rooms: `too_many_rooms`, with nothing written for the excess."""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors.facade import Accepted, Engine
from engine.commands import RemovePlayer
from engine.rejections import Code, Rejection
from tests.actors.conftest import fast_config
from tests.reliability.harness import FakeClock


def test_a_host_opening_rooms_in_a_loop_is_refused_past_its_burst(tmp_path: Path) -> None:
    clock = FakeClock()
    config = fast_config(tmp_path, rooms_burst=3.0, rooms_per_minute=6.0, projections=False)

    async def scenario() -> None:
        async with Engine.open(config.path, config, clock=clock) as engine:
            opened = [await engine.create_room("Mallory") for _ in range(3)]
            assert all(isinstance(o, Accepted) for o in opened), opened
            before = await engine.store.last_position()
            refused = await engine.create_room("Mallory")
            assert isinstance(refused, Rejection) and refused.code is Code.TOO_MANY_ROOMS
            assert "Mallory" in refused.message
            lookalike = await engine.create_room("MaIlory")  # capital I: one budget
            assert isinstance(lookalike, Rejection) and lookalike.code is Code.TOO_MANY_ROOMS
            assert await engine.store.last_position() == before  # nothing written
            # Another host is not held back by Mallory, and Mallory's rooms play on.
            assert isinstance(await engine.create_room("Alice"), Accepted)
            room = opened[0]
            assert isinstance(room, Accepted)
            moved = await engine.send(room.room_id, RemovePlayer(player="Mallory", seat=1))
            assert isinstance(moved, Accepted), moved
            clock.advance(10.0)  # 6 a minute: one more room every 10 s
            assert isinstance(await engine.create_room("Mallory"), Accepted)
            again = await engine.create_room("Mallory")
            assert isinstance(again, Rejection) and again.code is Code.TOO_MANY_ROOMS
            # A trusted caller (a simulation) may lift the limit.
            trusted = await engine.create_room("Mallory", rate_limited=False)
            assert isinstance(trusted, Accepted)
            assert engine.metrics()["rejections"]["too_many_rooms"] == 3  # type: ignore[index]

    asyncio.run(scenario())
