"""A command id names one command: reused for another command, it is refused, typed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.commands import AddBot, RemovePlayer
from engine.rejections import Code, Rejection


def test_a_reused_command_id_with_another_command_is_refused_also_after_a_restart(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"
    config = EngineConfig.fast(str(db), projections=False)
    first = RemovePlayer(player="ann", seat=1, command_id="c-1")
    other = AddBot(player="ann", seat=2, command_id="c-1")

    async def answers(engine: Engine) -> None:
        retried = await engine.send("IDS001", first)
        assert isinstance(retried, Accepted) and retried.duplicate
        refused = await engine.send("IDS001", other)
        assert isinstance(refused, Rejection) and refused.code is Code.MALFORMED_COMMAND
        assert "c-1" in refused.message

    async def scenario() -> None:
        async with Engine.open(db, config) as engine:
            assert isinstance(await engine.create_room("ann", room_id="IDS001"), Accepted)
            done = await engine.send("IDS001", first)
            assert isinstance(done, Accepted) and not done.duplicate
            await answers(engine)
        async with Engine.open(db, config) as engine:
            await answers(engine)
            # Nothing of the refused command was stored.
            commands = await engine.store.read_commands("IDS001")
            assert commands[-1].command_id == "ann/c-1"

    asyncio.run(scenario())
