"""An engine in a process of its own, for the tests of engines sharing read models.

    python -m tests.projections.engine_process STORE_URL PROJECTIONS_PATH_OR_-

It prints "ready PID STANDBY" (STANDBY: 1 when its runner stands by), then obeys stdin:
"play N SEED" plays N bot matches to their end and prints "played"; "caught" waits until
its read models have folded the whole log and prints the runner's status as JSON; "quit"
closes the engine and exits 0.
"""

from __future__ import annotations

import asyncio
import os
import sys

import msgspec
from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Engine
from engine.rejections import Rejection
from engine.settings import RoomSettings
from engine.state import Phase


async def play(engine: Engine, count: int, seed: int) -> None:
    settings = replace(RoomSettings.fast(), round_cap=2)
    rooms = []
    for n in range(count):
        started = await engine.start_bot_match(f"h{seed}-{n}", seed=seed * 1000 + n, settings=settings)
        if isinstance(started, Rejection):
            raise RuntimeError(f"a bot match did not start: {started}")
        rooms.append(started.room_id)
    for room in rooms:
        for _ in range(6000):
            view = await engine.view(room)
            if not isinstance(view, Rejection) and view.phase is Phase.GAME_OVER:
                break
            await asyncio.sleep(0.01)
        else:
            # What the room and the engine were doing, for whoever reads the failure.
            raise RuntimeError(
                f"{room} did not finish: {view!r}; metrics {engine.metrics()!r}; "
                f"timers due {sum(at <= engine.driver.clock() for at, _, _ in engine.driver.timers)}; "
                f"clock task {engine.driver.clock_task!r}"
            )


async def main(url: str, projections_path: str) -> None:
    config = EngineConfig.fast(
        url,
        archive_after=None,
        projections_path=None if projections_path == "-" else projections_path,
        rate_per_second=1e6,
        rate_burst=1e6,
    )
    async with Engine.open(url, config) as engine:
        standby = getattr(engine.projections.status(), "standby", None) is not None
        print(f"ready {os.getpid()} {int(standby)}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            words = line.split()
            if not words or words[0] == "quit":
                break
            if words[0] == "play":
                await play(engine, int(words[1]), int(words[2]))
                print("played", flush=True)
            elif words[0] == "caught":
                caught = await engine.projections.wait_caught_up(timeout=60)
                status = engine.projections.status()
                print(msgspec.json.encode([caught, status]).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
