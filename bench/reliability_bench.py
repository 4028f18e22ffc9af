"""Reliability figures: a long SIGKILL campaign, and what a flooding player costs other rooms.

    python bench/reliability_bench.py [--quick] [--kills N] [--skip-crash] [--skip-flood]

crash: an engine process playing matches through the facade is SIGKILLed N times (default
1,000; --quick 100) at random moments and restarted on the same files; then every match is
finished and the store audited (tests/reliability/crash_campaign.py). Prints
`kills=N matches=M lost=0`.

flood: ROOMS rooms of humans play through `engine.send` while nobody floods, then while
8 clients send one player's commands, paced (bursts of 5 each millisecond) and unpaced
(as fast as the loop turns, each yielding once per command as a network-driven client
would). Prints the other rooms' throughput and p50/p99 command latency in each run and the
p99 ratio against the stated bound. The unpaced flood shows an effect of the runtime, not
of the engine's refusals (~9 us each): a loop that never idles starves the store's
aiosqlite thread of the GIL (SQLite gives up and re-takes the GIL for every row), so
store I/O crawls; even a coroutine that only does `await asyncio.sleep(0)` does that.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Accepted, Engine  # noqa: E402
from engine.commands import Declare  # noqa: E402
from engine.rejections import Code, Rejection  # noqa: E402
from engine.state import Phase  # noqa: E402
from tests.reliability.crash_campaign import run_campaign  # noqa: E402
from tests.reliability.harness import next_human_move, open_human_room  # noqa: E402

FLOOD_BOUND = 3.0  # stated bound: a flood may at most triple other rooms' p99 latency


def crash(kills: int) -> None:
    folder = tempfile.mkdtemp(prefix="liaptui-crash-")
    print(f"crash campaign: {kills} SIGKILLs in {folder} ...", flush=True)
    result = run_campaign(Path(folder), kills=kills, seed=int(time.time()), progress=True)
    shutil.rmtree(folder)  # kept when the campaign fails, for a look at the files
    print(
        f"  {result.acknowledged} acknowledged commands, {result.events} events, "
        f"{result.early_kills} kills during start-up, {result.seconds:.0f} s, "
        f"refused={len(result.refused)}"
    )
    print(result.summary(), flush=True)


async def room_latencies(
    path: str, rooms: int, seconds: float, flooders: int, pause: float = 0.0, burst: int = 1
) -> tuple[list[float], int]:
    """Send latencies of humans' commands in `rooms` rooms, with `flooders` flooding one room
    (each sending `burst` commands every `pause` seconds; 0 = as fast as the loop turns)."""
    config = EngineConfig.fast(path, archive_after=None, projections=False)
    latencies: list[float] = []
    refused = 0
    async with Engine.open(path, config) as engine:
        await open_human_room(engine, "FLOODD", seed=0)
        stop = time.monotonic() + seconds

        async def play(index: int) -> None:
            n = 0
            room = f"R{index:02d}{n:03d}"
            await open_human_room(engine, room, seed=index)
            while time.monotonic() < stop:
                state, command = await next_human_move(engine, room)
                if state.phase is Phase.GAME_OVER:
                    n += 1
                    room = f"R{index:02d}{n:03d}"
                    await open_human_room(engine, room, seed=index * 1000 + n)
                    continue
                if command is None:
                    await asyncio.sleep(0.001)
                    continue
                started = time.perf_counter()
                outcome = await engine.send(room, command)
                latencies.append(time.perf_counter() - started)
                assert isinstance(outcome, Accepted), outcome

        async def flood() -> None:
            nonlocal refused
            while time.monotonic() < stop:
                for _ in range(burst):
                    outcome = await engine.send("FLOODD", Declare(player="bob", piles=9))
                    if isinstance(outcome, Rejection) and outcome.code is Code.RATE_LIMITED:
                        refused += 1
                await asyncio.sleep(pause)  # a client's next commands arrive by the network

        await asyncio.gather(*(play(i) for i in range(rooms)), *(flood() for _ in range(flooders)))
    return latencies, refused


def flood(rooms: int, seconds: float, flooders: int) -> None:
    print(f"flood: {rooms} rooms of humans play, {seconds:.0f} s per run; one player floods")
    runs = (
        ("quiet", 0, 0.0, 1),
        (f"paced flood ({flooders} clients, bursts of 5 a millisecond)", flooders, 0.001, 5),
        (f"unpaced flood ({flooders} clients, as fast as the loop turns)", flooders, 0.0, 1),
    )
    quiet_p99 = quiet_count = 0.0
    for label, count, pause, burst in runs:
        with tempfile.TemporaryDirectory(prefix="liaptui-flood-") as folder:
            latencies, refused = asyncio.run(
                room_latencies(f"{folder}/games.db", rooms, seconds, count, pause, burst)
            )
        if not latencies:
            print(f"  {label}: 0 commands: the other rooms starved", flush=True)
            continue
        latencies.sort()
        p50 = statistics.median(latencies) * 1000
        p99 = latencies[int(len(latencies) * 0.99)] * 1000
        quiet_p99, quiet_count = quiet_p99 or p99, quiet_count or len(latencies)
        line = f"  {label}: {len(latencies)} commands, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
        if count:
            ratio = p99 / quiet_p99
            verdict = "within" if ratio <= FLOOD_BOUND else "BEYOND"
            line += (
                f"\n    {refused / seconds:,.0f} flood commands/s rate limited;"
                f" other rooms' throughput x{len(latencies) / quiet_count:.2f},"
                f" p99 ratio {ratio:.2f} ({verdict} the stated bound {FLOOD_BOUND:.1f})"
            )
        print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 kills, shorter flood runs")
    parser.add_argument("--kills", type=int, default=None)
    parser.add_argument("--skip-crash", action="store_true")
    parser.add_argument("--skip-flood", action="store_true")
    args = parser.parse_args()
    if not args.skip_crash:
        crash(args.kills or (100 if args.quick else 1000))
    if not args.skip_flood:
        flood(rooms=20, seconds=4.0 if args.quick else 15.0, flooders=8)


if __name__ == "__main__":
    main()
