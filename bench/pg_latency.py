"""Where a paced command's time goes with the engine on PostgreSQL.

    python bench/pg_latency.py                 # 1,000 live rooms at ~250 commands/s, 8 s
    python bench/pg_latency.py --rooms 300 --rate 500 --seconds 5 --runs 3
    python bench/pg_latency.py --url postgresql://...   # a server of yours

Prints, for each run: the durable latency of the bots' commands (decided to committed),
the engine's commit step (`commit_seconds`: the store call as the engine waits for it)
and the appends per commit, the event loop's lag (how late a 5 ms sleep wakes), the
longest garbage collection, and beside them the floor on the same server at the same
rate (a bare one-row INSERT a commit) and our store alone (one command's append a call).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Engine  # noqa: E402
from bench.actor_bench import ENDLESS, _start_rooms  # noqa: E402
from bench.pg_bench import (  # noqa: E402
    FULL,
    bare_insert_latency,
    fresh_database,
    quantile,
    rounds_of,
    store_latency,
)
from engine.store.postgres.devserver import server_for_bench  # noqa: E402


async def engine_run(url: str, rooms: int, rate: float, seconds: float) -> dict[str, float]:
    """One paced window of the engine on a fresh database, with the loop's lag and the
    collections watched from inside the process."""
    collections: list[float] = []
    began = [0.0]

    def watch(phase: str, info: dict[str, Any]) -> None:
        del info
        if phase == "start":
            began[0] = time.perf_counter()
        else:
            collections.append(time.perf_counter() - began[0])

    lags: list[float] = []

    async def tick() -> None:
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - asked - 0.005)

    with tempfile.TemporaryDirectory() as folder:
        config = EngineConfig.fast(
            await fresh_database(url, "latency"),
            bot_delay=rooms / rate,
            archive_after=None,
            room_settings=ENDLESS,
            projections_path=f"{folder}/projections.db",
        )
        async with Engine.open(config.path, config) as engine:
            await _start_rooms(engine, rooms, seed=1, spread=config.bot_delay)
            await asyncio.sleep(1.0)  # warm up
            metrics = engine.driver.metrics
            for histogram in (metrics.durable_latency, metrics.commit_seconds, metrics.batch_size):
                histogram.sample.clear()
            gc.callbacks.append(watch)
            ticker = asyncio.get_running_loop().create_task(tick())
            try:
                await asyncio.sleep(seconds)
            finally:
                ticker.cancel()
                gc.callbacks.remove(watch)
            durable = list(metrics.durable_latency.sample)
            commit = list(metrics.commit_seconds.sample)
            batch = list(metrics.batch_size.sample)
    return {
        "durable_p50": quantile(durable, 0.5),
        "durable_p99": quantile(durable, 0.99),
        "commit_p50": quantile(commit, 0.5),
        "commit_p99": quantile(commit, 0.99),
        "batch": statistics.mean(batch) if batch else 0.0,
        "lag_p50": quantile(lags, 0.5),
        "lag_p99": quantile(lags, 0.99),
        "lag_max": max(lags, default=0.0) * 1000,
        "gc_max": max(collections, default=0.0) * 1000,
    }


async def measure(url: str, rooms: int, rate: float, seconds: float, runs: int) -> None:
    for run in range(runs):
        bare = await bare_insert_latency(await fresh_database(url, "latency_bare"), seconds)
        alone = await store_latency(
            await fresh_database(url, "latency_alone"), rounds_of(FULL), seconds
        )
        r = await engine_run(url, rooms, rate, seconds)
        print(
            f"run {run + 1}: engine durable p50 {r['durable_p50']:.1f} p99 {r['durable_p99']:.1f} ms"
            f" | commit step p50 {r['commit_p50']:.1f} p99 {r['commit_p99']:.1f} ms,"
            f" {r['batch']:.1f} appends a commit | loop lag p50 {r['lag_p50']:.1f}"
            f" p99 {r['lag_p99']:.1f} max {r['lag_max']:.0f} ms | longest gc {r['gc_max']:.0f} ms"
            f" || floor (bare INSERT at 250/s) p50 {quantile(bare, 0.5):.1f}"
            f" p99 {quantile(bare, 0.99):.1f} ms | store alone p50 {quantile(alone, 0.5):.1f}"
            f" p99 {quantile(alone, 0.99):.1f} ms",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rooms", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=250.0, help="commands/s offered")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--url", help="a PostgreSQL server to create databases on")
    args = parser.parse_args()
    with server_for_bench(args.url) as url:
        asyncio.run(measure(url, args.rooms, args.rate, args.seconds, args.runs))


if __name__ == "__main__":
    main()
