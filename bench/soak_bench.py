"""Soak: many live rooms for a long time, memory (RSS) and latency sampled as it runs.

    python bench/soak_bench.py [--quick] [--rooms N] [--seconds S] [--every S]

Default: 1,000 rooms for 10 minutes, sampled every 30 s. --quick: 100 rooms for 20 s,
sampled every 5 s. The rooms are bot matches (the host starts and leaves) with bots that
think `bot_delay` seconds (1 s, six-round matches; --quick: 0.2 s, one round), on the
whole engine (projections included). A finished match is archived and replaced, so ROOMS stay live. Five probe rooms
of humans play through `engine.send`, one move per 0.1 s, to measure command latency.

Each sample prints: elapsed seconds, live rooms, matches finished, durable appends/s, RSS
(MiB), p99 of durable append latency and p99 of the probes' `send` latency in the window.
At the end: whether memory stayed flat (over the second half of the run, RSS grew by less
than 5% + 8 MiB), and how full the engine's bounded caches are (archive bundles, metric
samples): while they fill, RSS climbs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from msgspec.structs import replace  # noqa: E402

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Accepted, Engine  # noqa: E402
from engine.commands import Disconnect, StartGame  # noqa: E402
from engine.settings import RoomSettings  # noqa: E402
from engine.state import Phase  # noqa: E402
from engine.store import SqliteEventStore  # noqa: E402
from tests.reliability.harness import next_human_move, open_human_room  # noqa: E402

PROBES = 5
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(len(ordered) * 0.99)] * 1000 if ordered else float("nan")


async def soak(
    path: str, rooms: int, seconds: float, every: float, bot_delay: float, rounds: int
) -> None:
    config = EngineConfig(
        path=path,
        room_settings=replace(RoomSettings.fast(), round_cap=rounds),
        bot_delay=bot_delay,
        archive_after=5.0,
        passivate_after=30.0,
        rate_per_second=1e6,
        rate_burst=1e6,
    )
    async with Engine.open(path, config) as engine:
        metrics = engine.driver.metrics
        stop = time.monotonic() + seconds
        probe_latency: list[float] = []
        started_rooms = 0

        async def start_room() -> None:
            nonlocal started_rooms
            started_rooms += 1
            created = await engine.create_room(f"host{started_rooms}")
            assert isinstance(created, Accepted), created
            for command in (
                StartGame(player=f"host{started_rooms}"),
                Disconnect(player=f"host{started_rooms}"),
            ):
                outcome = await engine.send(created.room_id, command, rate_limited=False)
                assert isinstance(outcome, Accepted), outcome

        async def keep_rooms_live() -> None:
            while time.monotonic() < stop:
                live = started_rooms - metrics.counters["matches_completed"]
                for _ in range(rooms - live):
                    await start_room()
                await asyncio.sleep(0.25)

        async def probe(index: int) -> None:
            n = 0
            room = f"P{index}{n:04d}"
            await open_human_room(engine, room, seed=index)
            while time.monotonic() < stop:
                state, command = await next_human_move(engine, room)
                if state.phase is Phase.GAME_OVER:
                    n += 1
                    room = f"P{index}{n:04d}"
                    await open_human_room(engine, room, seed=index * 10_000 + n)
                elif command is None:
                    await asyncio.sleep(0.01)
                else:
                    began = time.perf_counter()
                    outcome = await engine.send(room, command)
                    probe_latency.append(time.perf_counter() - began)
                    assert isinstance(outcome, Accepted), outcome
                    await asyncio.sleep(0.1)

        async def sample() -> list[tuple[float, float]]:
            series: list[tuple[float, float]] = []
            began = time.monotonic()
            appends = metrics.durable_latency.n
            print(" second   rooms  finished  appends/s   RSS MiB  append p99 ms  send p99 ms")
            while time.monotonic() < stop:
                metrics.durable_latency.sample.clear()
                probe_latency.clear()
                await asyncio.sleep(min(every, max(0.0, stop - time.monotonic())))
                now = time.monotonic() - began
                done = metrics.durable_latency.n
                rate, appends = (done - appends) / every, done
                rss = rss_mib()
                series.append((now, rss))
                live = started_rooms - metrics.counters["matches_completed"]
                print(
                    f"{now:7.0f} {live:7d} {metrics.counters['matches_completed']:9d}"
                    f" {rate:10.0f} {rss:9.1f} {p99(metrics.durable_latency.sample):14.2f}"
                    f" {p99(probe_latency):12.2f}",
                    flush=True,
                )
            return series

        for _ in range(rooms):
            await start_room()
        print(f"{rooms} rooms started, RSS {rss_mib():.1f} MiB", flush=True)
        _, *_, series = await asyncio.gather(
            keep_rooms_live(), *(probe(i) for i in range(PROBES)), sample()
        )
        store = engine.store
        assert isinstance(store, SqliteEventStore)  # the soak measures the embedded backend
        archive_cache = len(store._archive.cache._entries)
        histograms = {
            name: len(getattr(metrics, name).sample)
            for name in ("latency", "batch_size", "commit_seconds", "recovery_seconds")
        }
    assert series is not None  # sample() returns the series it took
    half = [rss for t, rss in series if t >= series[-1][0] / 2]
    growth = half[-1] - half[0] if len(half) > 1 else 0.0
    flat = growth < half[0] * 0.05 + 8 if half else True
    print(
        f"memory {'stayed flat' if flat else 'GREW'}: RSS {half[0]:.1f} -> {half[-1]:.1f} MiB"
        f" over the second half ({growth:+.1f} MiB)"
    )
    # Bounded caches that fill as a run goes on; RSS growth while they fill is expected.
    print(
        f"bounded caches: archive bundles {archive_cache}/64,"
        f" metric samples {histograms} (cap 100,000 each)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 rooms, 20 s, every 5 s")
    parser.add_argument("--rooms", type=int)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--every", type=float)
    args = parser.parse_args()
    rooms = args.rooms or (100 if args.quick else 1000)
    seconds = args.seconds or (20.0 if args.quick else 600.0)
    every = args.every or (5.0 if args.quick else 30.0)
    with tempfile.TemporaryDirectory(prefix="liaptui-soak-") as folder:
        asyncio.run(
            soak(
                f"{folder}/games.db",
                rooms,
                seconds,
                every,
                bot_delay=0.2 if args.quick else 1.0,
                rounds=1 if args.quick else 6,
            )
        )


if __name__ == "__main__":
    main()
