"""Projection rebuild rate, against the store's own read_all + decode rate in the same run.

    python bench/projection_bench.py [--quick] [--events N] [--repeat K] [--postgres URL]

Builds a store of real bot matches (engine.simulation, interleaved appends), then times:
  * the baseline: store.read_all in batches of 10,000 + decode_event of every event,
    and read_all of only the types the read models fold (what the runner reads);
  * a rebuild of the four read models from position 0 into a fresh file (the runner);
  * a rebuild in shadow tables of an already built file, swapped in at the end;
  * the fold alone, on events already in memory (what the runner costs beyond reading);
  * with --postgres, a rebuild from 0 into PostgreSQL tables (schema bench_readmodels of
    that database, dropped first), reading the same SQLite log, against the SQLite rebuild.
Each figure is the best of --repeat runs (the box may be shared).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.codec import decode_event, encode_event  # noqa: E402
from engine.simulation import run_match  # noqa: E402
from engine.store import AppendRequest, NewEvent, RecordedEvent, open_store  # noqa: E402
from projections import ProjectionRunner, Rebuild, database, default_projections  # noqa: E402
from projections.postgres import PostgresTarget  # noqa: E402

BATCH = 10_000


async def build_store(path: Path, target_events: int) -> int:
    """Append bot matches until the log holds `target_events`; 16 matches interleave."""
    store = await open_store(path)
    rng = random.Random(5)
    total = 0
    seed = 0
    playing: list[tuple[str, list[NewEvent], int]] = []
    try:
        while total < target_events or playing:
            while total < target_events and len(playing) < 16:
                room = f"B{seed:05d}"
                events = [NewEvent(*encode_event(e)) for e in run_match(seed, room_id=room).events]
                playing.append((room, events, 0))
                total += len(events)
                seed += 1
            requests = []
            still = []
            for room, events, done in playing:
                size = rng.randint(5, 40)
                requests.append(AppendRequest(room, done, tuple(events[done : done + size])))
                if done + size < len(events):
                    still.append((room, events, done + size))
            playing = still
            await store.append_batch(requests)
        return await store.last_position()
    finally:
        await store.close()


async def baseline(path: Path) -> tuple[float, float, float]:
    """(read_all, read_all + decode, read_all of the folded types) in events of the log
    per second."""
    store = await open_store(path)
    folded = database.handled_by(default_projections())
    try:
        events = await store.last_position()
        rates = []
        for decode, types in ((False, None), (True, None), (False, folded)):
            started = time.perf_counter()
            position = 0
            while batch := await store.read_all(position, BATCH, types=types):
                if decode:
                    for r in batch:
                        decode_event(r.type, r.schema_version, r.data)
                position = batch[-1].position
            rates.append(events / (time.perf_counter() - started))
        return rates[0], rates[1], rates[2]
    finally:
        await store.close()


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        candidate = Path(f"{path}{suffix}")
        if candidate.exists():
            candidate.unlink()


async def rebuild_from_zero(path: Path, target: Path | PostgresTarget) -> float:
    if isinstance(target, PostgresTarget):
        import asyncpg

        conn = await asyncpg.connect(target.url)
        try:
            await conn.execute(f"DROP SCHEMA IF EXISTS {target.schema} CASCADE")
        finally:
            await conn.close()
    else:
        _remove(target)
    store = await open_store(path)
    try:
        events = await store.last_position()
        started = time.perf_counter()
        async with ProjectionRunner(store, default_projections(), target) as runner:
            assert await runner.wait_caught_up()
        return events / (time.perf_counter() - started)
    finally:
        await store.close()


async def rebuild_in_shadow(path: Path, target: Path) -> float:
    """Rebuild every read model of an up-to-date file in shadow tables, then swap."""
    store = await open_store(path)
    try:
        events = await store.last_position()
        async with ProjectionRunner(store, default_projections(), target) as runner:
            assert await runner.wait_caught_up()
            started = time.perf_counter()
            for projection in runner.projections:
                await runner.instruct(Rebuild(projection.name))
            assert await runner.wait_caught_up()
            return events / (time.perf_counter() - started)
    finally:
        await store.close()


async def read_everything(path: Path) -> list[list[RecordedEvent]]:
    store = await open_store(path)
    try:
        batches = []
        position = 0
        while batch := await store.read_all(position, BATCH):
            batches.append(batch)
            position = batch[-1].position
        return batches
    finally:
        await store.close()


def fold_only(batches: list[list[RecordedEvent]], target: Path) -> float:
    """Decode + fold + commit of events already in memory (no store reads)."""
    _remove(target)
    conn = database.connect(target)
    try:
        projections = default_projections()
        stored = database.prepare(conn, projections, 0.0)
        lanes = [stored[p.name].live for p in projections]
        count = sum(len(b) for b in batches)
        started = time.perf_counter()
        for batch in batches:
            for lane, result in zip(
                lanes,
                database.fold_batch(conn, lanes, batch, batch[-1].position, {}, 0.0),
                strict=True,
            ):
                lane.position = result.position
        return count / (time.perf_counter() - started)
    finally:
        conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 10,000 events")
    parser.add_argument("--events", type=int, default=None, help="events in the log")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (best)")
    parser.add_argument("--postgres", default=None, help="also rebuild into this database")
    args = parser.parse_args()
    target_events = args.events or (10_000 if args.quick else 120_000)
    repeat = args.repeat or (1 if args.quick else 3)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        store_path = directory / "games.db"
        started = time.perf_counter()
        events = await build_store(store_path, target_events)
        print(f"log: {events:,} events ({time.perf_counter() - started:.1f} s to play and append)")
        print(f"box: {os.cpu_count()} cpus, load average {os.getloadavg()[0]:.2f}")

        def best(label: str, rates: list[float]) -> float:
            print(f"  {label:<44} {max(rates):>10,.0f} events/s")
            return max(rates)

        read_rates, decode_rates, typed_rates = [], [], []
        for _ in range(repeat):
            read_rate, decode_rate, typed_rate = await baseline(store_path)
            read_rates.append(read_rate)
            decode_rates.append(decode_rate)
            typed_rates.append(typed_rate)
        projections_path = directory / "games.projections.db"
        # With --postgres, each SQLite rebuild is followed by one into PostgreSQL (A/B).
        target = PostgresTarget(args.postgres, "bench_readmodels") if args.postgres else None
        rebuilds, on_pg = [], []
        for _ in range(repeat):
            rebuilds.append(await rebuild_from_zero(store_path, projections_path))
            if target is not None:
                on_pg.append(await rebuild_from_zero(store_path, target))
        shadow = [await rebuild_in_shadow(store_path, projections_path) for _ in range(repeat)]
        batches = await read_everything(store_path)
        folding = [fold_only(batches, directory / "fold.db") for _ in range(repeat)]

        print(f"best of {repeat}:")
        best("store read_all only", read_rates)
        base = best("store read_all + decode (baseline)", decode_rates)
        best("store read_all of the folded types only", typed_rates)
        rebuild = best("rebuild from 0 (runner, 4 read models)", rebuilds)
        if on_pg:
            pg_rate = best("rebuild from 0 into PostgreSQL tables", on_pg)
            print(f"  PostgreSQL / SQLite rebuild: {pg_rate / rebuild:.3f}")
        best("rebuild in shadow tables + swap", shadow)
        best("fold only (events already in memory)", folding)
        print(f"rebuild / baseline: {rebuild / base:.2f}   (goal: 200,000 events/s)")


if __name__ == "__main__":
    asyncio.run(main())
