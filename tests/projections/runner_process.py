"""Runs a projection runner in a process of its own, for the SIGKILL tests.

python -m tests.projections.runner_process STORE PROJECTIONS BATCH [rebuild] [die=N] [schema=S]

STORE is a store URL or path; PROJECTIONS a read-model file, or with `schema=S` a
PostgreSQL URL whose schema S holds them. `die=N` SIGKILLs the process inside its Nth
fold transaction, after the batch is folded and before it commits.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

from engine.store import open_store
from projections import ProjectionRunner, Rebuild, default_projections
from projections.database import Target
from projections.postgres import PostgresTarget


async def main(store_url: str, projections: str, batch: int, options: list[str]) -> None:
    settings = dict(option.split("=", 1) for option in options if "=" in option)
    target: Target = projections
    if "schema" in settings:
        target = PostgresTarget(projections, settings["schema"])
    store = await open_store(store_url)
    runner = ProjectionRunner(store, default_projections(), target, batch_size=batch)
    if "die" in settings:
        commits = 0

        def before_commit() -> None:
            nonlocal commits
            commits += 1
            if commits == int(settings["die"]):
                os.kill(os.getpid(), signal.SIGKILL)

        runner.before_commit = before_commit
    await runner.open()
    if "rebuild" in options:
        for projection in runner.projections:
            await runner.instruct(Rebuild(projection.name))
    await runner.start()
    print("started", flush=True)
    await runner.wait_caught_up()
    await runner.close()
    await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
