"""Live rooms at human pace: how many rooms one engine process holds while every command
stays fast, and the memory it takes.

    python bench/live_rooms_bench.py [--quick] [--rooms 1000,2000,...] [--think 1.0]

Every room plays a bot match whose bots think `--think` seconds (1 s: a person's pace)
after the room last changed before they move, so a room offers about one command a
second. Each size runs in a process of its own (a fresh heap: the resident memory is that
size's). A size holds when a command's p99 stays within 50 ms, counted from when the move
was due: the p99 of how late the room's timer fired (the event loop's lag, which a
person's command waits on too) plus the p99 of its commit (from the room's decision to
durable). The knee is the largest size that holds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Engine  # noqa: E402
from bench.actor_bench import ENDLESS, _start_rooms, live_rooms  # noqa: E402

BUDGET_MS = 50.0
SIZES = (1000, 2000, 4000, 8000, 16000)


def resident_bytes() -> int:
    """This process's resident set size now (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _p99(sample: list[float]) -> float:
    ordered = sorted(sample)
    return ordered[int(len(ordered) * 0.99)] * 1000 if ordered else 0.0


async def hold(path: str, rooms: int, think: float, seconds: float) -> dict[str, float]:
    """Start `rooms` rooms at `think` seconds a move, let them settle, measure `seconds`."""
    config = EngineConfig.fast(path, bot_delay=think, archive_after=None, room_settings=ENDLESS)
    async with Engine.open(path, config) as engine:
        started = time.perf_counter()
        # Spread over one think time, so rooms do not move in step.
        room_ids = await _start_rooms(engine, rooms, seed=1, spread=think)
        start_seconds = time.perf_counter() - started
        await asyncio.sleep(2 * think)  # the last rooms' first moves, then steady
        metrics = engine.driver.metrics
        for histogram in (metrics.durable_latency, metrics.timer_lateness):
            histogram.sample.clear()
        before = metrics.durable_latency.n
        window, cpu = time.perf_counter(), time.process_time()
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - window
        cpu = time.process_time() - cpu
        done = metrics.durable_latency.n - before
        durable = list(metrics.durable_latency.sample)
        late = list(metrics.timer_lateness.sample)
        rss = resident_bytes()
        live = await live_rooms(engine, room_ids)
    durable_p99, late_p99 = _p99(durable), _p99(late)
    return {
        "rooms": float(rooms),
        "live": float(live),
        "start_s": start_seconds,
        "commands_per_s": done / elapsed,
        "durable_p50_ms": sorted(durable)[len(durable) // 2] * 1000 if durable else 0.0,
        "durable_p99_ms": durable_p99,
        "late_p99_ms": late_p99,
        "command_p99_ms": durable_p99 + late_p99,
        "rss_mib": rss / 2**20,
        # The process's CPU over the window: a share of one core, and per command. On a
        # shared machine the latencies depend on what else runs; these much less.
        "cpu_share": cpu / elapsed,
        "cpu_us_per_command": cpu / max(done, 1) * 1e6,
    }


def measure(rooms: int, think: float, seconds: float) -> dict[str, float]:
    """One size, in a process of its own."""
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            str(rooms),
            "--think",
            str(think),
            "--seconds",
            str(seconds),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def knee(results: list[dict[str, float]]) -> int:
    """The largest size whose rooms all stayed live and whose command p99 held."""
    held = [
        int(r["rooms"])
        for r in results
        if r["command_p99_ms"] <= BUDGET_MS and r["live"] == r["rooms"]
    ]
    return max(held, default=0)


def rows(results: list[dict[str, float]]) -> list[tuple[str, str]]:
    """The table's rows: one a size, then the knee."""
    out = []
    for r in results:
        verdict = (
            "holds" if r["command_p99_ms"] <= BUDGET_MS and r["live"] == r["rooms"] else "over"
        )
        out.append(
            (
                f"  {int(r['rooms']):,} rooms: commands/s, command p99 (late + commit), RSS",
                f"{r['commands_per_s']:,.0f}/s, {r['command_p99_ms']:.1f} ms "
                f"({r['late_p99_ms']:.1f} + {r['durable_p99_ms']:.1f}), "
                f"{r['rss_mib']:,.0f} MiB, {r['cpu_share']:.0%} of a core "
                f"({r['cpu_us_per_command']:.0f} µs a command) ({verdict})",
            )
        )
    out.append(
        (f"live rooms at human pace, command p99 <= {BUDGET_MS:.0f} ms", f"{knee(results):,}")
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rooms", help="comma-separated sizes")
    parser.add_argument("--think", type=float, default=1.0)
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(hold(f"{tmp}/live.db", args.one, args.think, seconds))
        print(json.dumps(result))
        return
    if args.rooms:
        sizes = tuple(int(n) for n in args.rooms.split(","))
    else:
        sizes = (250, 1000) if args.quick else SIZES
    results = []
    for rooms in sizes:
        results.append(measure(rooms, args.think, seconds))
        if results[-1]["command_p99_ms"] > 4 * BUDGET_MS:
            break  # far past the knee: larger sizes only take longer to say so
    width = max(len(k) for k, _ in rows(results))
    for key, value in rows(results):
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
