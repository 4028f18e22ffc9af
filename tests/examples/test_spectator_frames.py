"""The example server encodes a spectator update once for every spectator woken with it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from examples.server import SPECTATOR_FRAMES, GameServer


def test_spectators_woken_together_share_one_encoded_update(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = EngineConfig.fast(str(tmp_path / "games.db"), projections=False)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("ann", room_id="WATCH1")
            assert isinstance(created, Accepted), created
            server = GameServer(engine)
            first = engine.subscribe("WATCH1", spectator=True)
            second = engine.subscribe("WATCH1", spectator=True)
            a, b = await first.__anext__(), await second.__anext__()
            one, two = server.spectator_frame("WATCH1", a), server.spectator_frame("WATCH1", b)
            assert one == two
            assert (one is two) == (a is b)
            message = json.loads(one)
            assert message["type"] == "update" and message["room"] == "WATCH1"
            assert message["view"]["hand"] == [] and message["view"]["phase"] == "WAITING"
            for _ in range(2 * SPECTATOR_FRAMES):  # the cache stays bounded
                server.spectator_frame("WATCH1", type(a)("WATCH1", 1, (), a.view))
            assert len(server._frames) <= SPECTATOR_FRAMES
            await first.aclose()
            await second.aclose()

    asyncio.run(scenario())
