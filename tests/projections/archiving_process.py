"""An engine process for the SIGKILL test of match history's `archived` flag.

python -m tests.projections.archiving_process DB

It plays one bot match to its end with `archive_after=0`; when the archival has
committed and the engine is about to mark the match archived in the read models, it
prints "archived ROOM" and hangs there, for the test to kill it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Engine
from engine.settings import RoomSettings
from projections import MarkArchived, ProjectionRunner

_instruct = ProjectionRunner.instruct


def config(db: str) -> EngineConfig:
    """One-round bot matches, archived as soon as they end."""
    return EngineConfig.fast(
        db, room_settings=replace(RoomSettings.fast(), round_cap=1), archive_after=0.0
    )


async def _hang_before_marking(runner: ProjectionRunner, instruction: Any) -> Any:
    if isinstance(instruction, MarkArchived):
        print("archived", instruction.room_id, flush=True)
        await asyncio.Event().wait()
    return await _instruct(runner, instruction)


async def main(db: str) -> None:
    ProjectionRunner.instruct = _hang_before_marking  # type: ignore[method-assign]
    async with Engine.open(db, config(db)) as engine:
        started = await engine.start_bot_match("host", seed=5)
        print("started", getattr(started, "room_id", started), flush=True)
        await asyncio.sleep(120)  # killed long before


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
