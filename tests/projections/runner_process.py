"""Runs a projection runner in a process of its own, for the SIGKILL test.

python -m tests.projections.runner_process STORE PROJECTIONS BATCH [rebuild]
"""

from __future__ import annotations

import asyncio
import sys

from engine.store import SqliteEventStore
from projections import ProjectionRunner, Rebuild, default_projections


async def main(store_path: str, projections_path: str, batch: int, rebuild: bool) -> None:
    store = await SqliteEventStore.open(store_path)
    runner = ProjectionRunner(store, default_projections(), projections_path, batch_size=batch)
    await runner.open()
    if rebuild:
        for projection in runner.projections:
            await runner.instruct(Rebuild(projection.name))
    await runner.start()
    print("started", flush=True)
    await runner.wait_caught_up()
    await runner.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:] == ["rebuild"]))
