"""Helpers for tests that run the real engine (thespian actors, SQLite files)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.rejections import Rejection
from engine.state import Phase
from engine.views import PlayerView


def fast_config(tmp_path: Path, **changes: object) -> EngineConfig:
    return EngineConfig.fast(str(tmp_path / "games.db"), **changes)


async def start_bot_match(engine: Engine, host: str, seed: int) -> str:
    """Create a room, start it and leave it to the bots; returns the room id."""
    started = await engine.start_bot_match(host, seed=seed)
    assert isinstance(started, Accepted), started
    return started.room_id


async def no_engine_tasks(engine: Engine) -> bool:
    """True when the driver has no store I/O or other task of its own in flight."""
    return not engine.driver.tasks


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


async def all_archived(engine: Engine, room_ids: list[str]) -> bool:
    """Whether every room's stream has been moved to the archive."""
    infos = [await engine.store.stream_info(r) for r in room_ids]
    return all(i is not None and i.status == "archived" for i in infos)


async def wait_for_archived(engine: Engine, room_ids: list[str], timeout: float = 60.0) -> None:
    await wait_until(lambda: all_archived(engine, room_ids), timeout)


async def wait_for_game_over(
    engine: Engine, room_ids: list[str], timeout: float = 120.0
) -> list[PlayerView]:
    async def all_over() -> bool:
        for room_id in room_ids:
            seen = await engine.view(room_id)
            if isinstance(seen, Rejection) or seen.phase is not Phase.GAME_OVER:
                return False
        return True

    await wait_until(all_over, timeout)
    views = [await engine.view(r) for r in room_ids]
    return [v for v in views if not isinstance(v, Rejection)]
