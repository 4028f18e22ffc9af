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


def test_a_reused_command_id_past_the_rooms_window_is_refused_by_the_store(
    tmp_path: Path,
) -> None:
    # dedupe_window=1: after one more command the room no longer remembers c-1, so only
    # the store can tell the reused id from a retry, before and after a restart.
    db = tmp_path / "games.db"
    config = EngineConfig.fast(str(db), projections=False, dedupe_window=1)
    first = RemovePlayer(player="ann", seat=1, command_id="c-1")
    later = AddBot(player="ann", seat=1, command_id="c-2")
    other = RemovePlayer(player="ann", seat=2, command_id="c-1")  # a valid move

    async def answers(engine: Engine) -> None:
        refused = await engine.send("IDS002", other)
        assert isinstance(refused, Rejection) and refused.code is Code.MALFORMED_COMMAND
        assert "c-1" in refused.message
        retried = await engine.send("IDS002", first)
        assert isinstance(retried, Accepted) and retried.duplicate

    async def scenario() -> None:
        async with Engine.open(db, config) as engine:
            assert isinstance(await engine.create_room("ann", room_id="IDS002"), Accepted)
            assert isinstance(await engine.send("IDS002", first), Accepted)
            assert isinstance(await engine.send("IDS002", later), Accepted)
            await answers(engine)
            stored = await engine.store.stream_info("IDS002")
        async with Engine.open(db, config) as engine:
            await answers(engine)
            assert await engine.store.stream_info("IDS002") == stored
            ids = [c.command_id for c in await engine.store.read_commands("IDS002")]
            assert ids.count("ann/c-1") == 1 and ids[-1] == "ann/c-2"

    asyncio.run(scenario())
