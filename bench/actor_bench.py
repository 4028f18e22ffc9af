"""Actor runtime figures: durable commands/s, latency, recovery, memory per room.

    python bench/actor_bench.py [--quick]

1,000 rooms play bot matches concurrently through the real engine (room actors, journal,
SQLite WAL NORMAL). Saturated: bots move as soon as their last move is durable. Paced:
each bot waits `bot_delay` so that about 250 and 500 commands/s are offered, well below
capacity, and latency shows the cost of one command rather than queueing. Group commit is
compared with committing every append alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from msgspec.structs import replace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Accepted, Engine  # noqa: E402
from actors.storage import recover_room  # noqa: E402
from engine.codec import command_append  # noqa: E402
from engine.commands import idempotency_key  # noqa: E402
from engine.decider import execute  # noqa: E402
from engine.rejections import Rejection  # noqa: E402
from engine.settings import RoomSettings  # noqa: E402
from engine.simulation import run_match  # noqa: E402
from engine.state import IN_GAME, RoomState  # noqa: E402
from engine.store import AppendRequest, open_store  # noqa: E402
from engine.views import PlayerView  # noqa: E402
from projections import ProjectionRunner, default_path, default_projections  # noqa: E402

ENDLESS = replace(RoomSettings.fast(), target_score=1_000_000, round_cap=100_000)
"""Matches that outlast any measurement window, so every room stays live while measured."""


async def _start_rooms(
    engine: Engine,
    rooms: int,
    seed: int,
    settings: RoomSettings | None = None,
    spread: float = 0.0,
) -> list[str]:
    """Open, start and hand `rooms` rooms to their bots concurrently (not one by one: rooms
    started early would otherwise finish their matches before the last one starts).

    Room n starts `n * spread / rooms` seconds in: with paced bots, rooms started in one
    burst would stay in step and move in bursts of `rooms` commands.
    """

    async def start(n: int) -> str:
        await asyncio.sleep(n * spread / rooms)
        started = await engine.start_bot_match(f"h{n}", seed=seed + n, settings=settings)
        assert isinstance(started, Accepted), started
        return started.room_id

    return list(await asyncio.gather(*(start(n) for n in range(rooms))))


async def live_rooms(engine: Engine, room_ids: list[str]) -> int:
    """How many of `room_ids` are still mid-match."""
    views = [await engine.view(room_id) for room_id in room_ids]
    return sum(isinstance(v, PlayerView) and v.phase in IN_GAME for v in views)


async def run_load(
    path: str,
    rooms: int,
    seconds: float,
    *,
    group_commit: bool = True,
    bot_delay: float = 0.0,
    synchronous: str = "NORMAL",
    projections_path: str | None = None,
) -> dict[str, float]:
    """Durable commands/s and latency of bot commands over `seconds` with `rooms` live matches.

    `projections_path`: where the read models live (a server store has no file beside it).

    `live_at_end` counts the rooms still mid-match when the window closed: the figures
    are for that many live rooms only if it equals `rooms`.
    """
    config = EngineConfig.fast(
        path,
        group_commit=group_commit,
        bot_delay=bot_delay,
        archive_after=None,
        synchronous=synchronous,
        room_settings=ENDLESS,
        projections_path=projections_path,
    )
    async with Engine.open(path, config) as engine:
        room_ids = await _start_rooms(engine, rooms, seed=1, spread=bot_delay)
        await asyncio.sleep(min(1.0, seconds / 4))  # warm up
        metrics = engine.driver.metrics
        before = metrics.durable_latency.n
        metrics.durable_latency.sample.clear()
        started, cpu = time.perf_counter(), time.process_time()
        behind: list[int] = []
        lag: list[float] = []
        while (left := seconds - (time.perf_counter() - started)) > 0:
            await asyncio.sleep(min(0.25, left))
            # How far the read models trail the log while the rooms write (issue: projections).
            status = engine.projections.status().projections if config.projections else []
            for projection in status:
                behind.append(projection.behind)
                lag.append(projection.lag_seconds or 0.0)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        done = metrics.durable_latency.n - before
        sample = sorted(metrics.durable_latency.sample)
        live = await live_rooms(engine, room_ids)
    return {
        "commands_per_s": done / elapsed,
        "p50_ms": sample[len(sample) // 2] * 1000 if sample else 0.0,
        "p99_ms": sample[int(len(sample) * 0.99)] * 1000 if sample else 0.0,
        "live_at_end": float(live),
        # The process's CPU (every thread) a command over the window: on a shared machine
        # a steadier figure for A/B runs than commands/s.
        "cpu_us_per_command": cpu / max(done, 1) * 1e6,
        "projection_max_behind": float(max(behind, default=0)),
        "projection_max_lag_s": max(lag, default=0.0),
    }


def _stored_match(seed: int, room_id: str) -> list[AppendRequest]:
    """A finished bot match as the engine stores it: one append per command, with it."""
    state = RoomState()
    appends = []
    for command in run_match(seed, room_id=room_id).commands:
        result = execute(state, command)
        assert not isinstance(result, Rejection), result
        events, after = result
        key = idempotency_key(command)
        appends.append(command_append(room_id, state.version, key, command, events))
        state = after
    return appends


async def grow_history(path: str, events: int) -> tuple[int, float]:
    """Fill a store with finished matches until it holds `events` events, as a server's store
    holds them after a while (16 matches interleaved, each marked completed at its end, not
    archived), then fold them into fresh read models.

    Returns the events stored and the read models' rebuild rate from zero (events/s).
    """
    store = await open_store(path)
    try:
        total = seed = 0
        playing: list[list[AppendRequest]] = []
        while total < events or playing:
            while total < events and len(playing) < 16:
                match = _stored_match(seed, f"H{seed:05d}")
                playing.append(match)
                total += sum(len(a.events) for a in match)
                seed += 1
            batch = []
            for match in playing:  # 25 commands of each match a transaction
                batch += match[:25]
                del match[:25]
            await store.append_batch(batch)
            playing = [m for m in playing if m]
        for info in await store.list_streams(status="active", limit=events):
            await store.set_status(info.stream_id, "completed")
        stored = await store.last_position()
        started = time.perf_counter()
        async with ProjectionRunner(store, default_projections(), default_path(path)) as runner:
            assert await runner.wait_caught_up()
        return stored, stored / (time.perf_counter() - started)
    finally:
        await store.close()


async def recovery(path: str, rooms: int) -> dict[str, float]:
    """Room recovery (snapshot + tail from the store) times, p50/p99, on an idle store."""
    store = await open_store(path, inline_reads=EngineConfig().inline_reads)
    try:
        streams = await store.list_streams(limit=rooms)
        times: list[float] = []
        for info in streams:
            started = time.perf_counter()
            await recover_room(store, info.stream_id)
            times.append(time.perf_counter() - started)
    finally:
        await store.close()
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p99_ms": times[int(len(times) * 0.99)] * 1000,
    }


async def memory_per_room(path: str, rooms: int) -> float:
    """Bytes of Python heap per live mid-match room (bots parked by a long bot delay)."""
    config = EngineConfig.fast(path, bot_delay=3600.0, archive_after=None)
    async with Engine.open(path, config) as engine:
        await _start_rooms(engine, 10, seed=50_000)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        await _start_rooms(engine, rooms, seed=60_000)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
    return used / rooms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rooms, seconds = (50, 2.0) if args.quick else (1000, 10.0)
    with tempfile.TemporaryDirectory() as tmp:
        saturated = asyncio.run(run_load(f"{tmp}/a.db", rooms, seconds))
        single = asyncio.run(run_load(f"{tmp}/b.db", rooms, seconds, group_commit=False))
        paced = [
            asyncio.run(run_load(f"{tmp}/c{rate}.db", rooms, seconds, bot_delay=rooms / rate))
            for rate in (250, 500)
        ]
        recovered = asyncio.run(recovery(f"{tmp}/a.db", min(rooms, 300)))
        per_room = asyncio.run(memory_per_room(f"{tmp}/d.db", min(rooms, 500)))
    print(f"{'figure (' + str(rooms) + ' live rooms, WAL NORMAL)':52} value")
    print(f"{'durable commands/s, group commit (saturated)':52} {saturated['commands_per_s']:,.0f}")
    print(f"{'  rooms still mid-match when measured':52} {saturated['live_at_end']:.0f}")
    print(
        f"{'  read models behind the log, worst sample':52} "
        f"{saturated['projection_max_behind']:,.0f} events, "
        f"{saturated['projection_max_lag_s'] * 1000:.0f} ms"
    )
    print(f"{'  latency p50 / p99':52} {saturated['p50_ms']:.2f} / {saturated['p99_ms']:.2f} ms")
    print(f"{'durable commands/s, one commit per append':52} {single['commands_per_s']:,.0f}")
    ratio = saturated["commands_per_s"] / max(single["commands_per_s"], 1e-9)
    print(f"{'  group commit / one commit per append':52} {ratio:.1f}x")
    for load in paced:
        offered = f"paced load (~{load['commands_per_s']:.0f} commands/s) latency p50 / p99"
        print(
            f"{offered:52} {load['p50_ms']:.2f} / {load['p99_ms']:.2f} ms"
            f" (read models at most {load['projection_max_lag_s'] * 1000:.0f} ms behind)"
        )
    print(
        f"{'room recovery (snapshot + tail) p50 / p99':52} {recovered['p50_ms']:.2f} / {recovered['p99_ms']:.2f} ms"
    )
    print(f"{'memory per live mid-match room':52} {per_room / 1024:.1f} KiB")


if __name__ == "__main__":
    main()
