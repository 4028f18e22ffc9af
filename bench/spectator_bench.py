"""Spectators against a room's command latency: one room, its players' commands timed, with
no spectators and with many, in one run.

    python bench/spectator_bench.py              # 1,000 spectators, a 20-round match, 5 pairs
    python bench/spectator_bench.py --quick      # 200 spectators, 4 rounds, 1 pair (smoke)

Four humans play one match through `Engine.send` (moves chosen by the bot policy, one every
`--pace` seconds), each command timed from send to durable outcome. The same match (same seed, same moves) is played
without spectators and with N spectators subscribed (`subscribe(spectator=True)`, each an
asyncio task reading every update) on fresh stores, interleaved: each pair runs both, in
alternating order (A B, B A, ...) so that a drift of the machine's load falls on both
sides. The figure is the median over the pairs of each pair's ratio of the command p99
with spectators to the one without (and, steadier on a shared machine, the ratio of the
p99s of all the pairs' commands pooled, and of each command's own CPU time on the loop's
thread: the part of its latency the engine controls, without the moments the shared
machine ran something else); the process CPU seconds of each run are printed too
(what the spectators cost the machine, which a loaded machine turns into latency).
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

from msgspec.structs import replace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Accepted, Engine  # noqa: E402
from engine.bots import bot_command  # noqa: E402
from engine.codec import decode_records  # noqa: E402
from engine.commands import Command, JoinRoom, RemovePlayer, StartGame  # noqa: E402
from engine.evolve import fold  # noqa: E402
from engine.settings import RoomSettings  # noqa: E402
from engine.state import Phase, RoomState  # noqa: E402

PLAYERS = ("p0", "p1", "p2", "p3")
SEED = 11


def movers(state: RoomState) -> list[int]:
    """The seats whose move the room waits for (every seat is a connected human here)."""
    if state.phase in (Phase.DECLARATION, Phase.TURN) and state.turn is not None:
        return [state.turn]
    if state.phase is Phase.PREPARATION and not state.needs_deal:
        return [i for i, s in enumerate(state.seats) if s.weak and s.redeal is None]
    return []


def accepted(outcome: object) -> Accepted:
    assert isinstance(outcome, Accepted), outcome
    return outcome


async def play_match(
    engine: Engine, room: str, state: RoomState, pace: float, cpu: list[float] | None = None
) -> list[float]:
    """Play the room to its end as its four humans, a move every `pace` seconds (as people
    would, so that spectators wake between moves too); the seconds each command took. `cpu`
    gets the loop thread's CPU seconds of each (a command mostly completes within the call,
    so this is its own work, without the time the machine ran something else)."""
    latencies: list[float] = []
    count = 0
    while state.phase is not Phase.GAME_OVER:
        seats = movers(state)
        assert seats, f"nobody to move in {state.phase}"
        for seat in seats:
            count += 1
            move: Command = bot_command(state, seat, engine.clock(), f"m{count}")
            move = replace(move, player=PLAYERS[seat])
            started, cpu_started = time.perf_counter(), time.thread_time()
            outcome = accepted(await engine.send(room, move, rate_limited=False, redact=False))
            latencies.append(time.perf_counter() - started)
            if cpu is not None:
                cpu.append(time.thread_time() - cpu_started)
            state = fold(outcome.events, state)
            await asyncio.sleep(pace)
    return latencies


async def spectate(engine: Engine, room: str, started: asyncio.Event, counts: list[int]) -> None:
    first = True
    async for update in engine.subscribe(room, spectator=True):
        counts[0] += len(update.events)
        if first:
            first = False
            counts[1] += 1
            if counts[1] == counts[2]:
                started.set()
        if update.view.phase is Phase.GAME_OVER:
            return


async def one_run(
    directory: Path, spectators: int, rounds: int, pace: float, cpu: list[float] | None = None
) -> tuple[list[float], int]:
    """The command latencies of one match with `spectators` watching, and the events they got."""
    settings = replace(RoomSettings.fast(), round_cap=rounds, target_score=1_000_000)
    config = EngineConfig.fast(
        str(directory / "games.db"), projections=False, archive_after=None, room_settings=settings
    )
    async with Engine.open(directory / "games.db", config) as engine:
        created = accepted(await engine.create_room(PLAYERS[0], seed=SEED, room_id="SPEC01"))
        room = created.room_id
        for seat, name in enumerate(PLAYERS[1:], start=1):
            accepted(await engine.send(room, RemovePlayer(player=PLAYERS[0], seat=seat)))
            accepted(await engine.send(room, JoinRoom(player=name)))
        counts = [0, 0, spectators]  # events received, spectators started, spectators
        started = asyncio.Event()
        tasks = [
            asyncio.get_running_loop().create_task(spectate(engine, room, started, counts))
            for _ in range(spectators)
        ]
        if spectators:
            await asyncio.wait_for(started.wait(), timeout=120)
        accepted(await engine.send(room, StartGame(player=PLAYERS[0])))
        state = fold(decode_records(await engine.store.read_stream(room)))  # hands included
        latencies = await play_match(engine, room, state, pace, cpu)
        if tasks:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=120)
        return latencies, counts[0]


def p(latencies: list[float], q: float) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--spectators", type=int, help="default 1000 (200 with --quick)")
    parser.add_argument("--pairs", type=int, help="A/B pairs of runs (default 5, 1 with --quick)")
    parser.add_argument(
        "--pace", type=float, default=0.005, help="seconds between two moves (default 0.005)"
    )
    args = parser.parse_args(argv)
    spectators = args.spectators or (200 if args.quick else 1000)
    rounds = 4 if args.quick else 20
    pairs = args.pairs or (1 if args.quick else 5)
    p99: dict[int, list[float]] = {0: [], spectators: []}
    p50: dict[int, list[float]] = {0: [], spectators: []}
    cpu: dict[int, list[float]] = {0: [], spectators: []}
    pooled: dict[int, list[float]] = {0: [], spectators: []}
    own: dict[int, list[float]] = {0: [], spectators: []}  # each command's CPU, pooled
    commands = received = 0
    with tempfile.TemporaryDirectory(prefix="spectator-bench-") as tmp:
        for pair in range(pairs):
            order = (0, spectators) if pair % 2 == 0 else (spectators, 0)
            for watching in order:
                directory = Path(tmp) / f"run{pair}-{watching}"
                directory.mkdir()
                gc.collect()
                cpu_started = time.process_time()
                latencies, got = asyncio.run(
                    one_run(directory, watching, rounds, args.pace, own[watching])
                )
                cpu[watching].append(time.process_time() - cpu_started)
                commands = len(latencies)
                p99[watching].append(p(latencies, 0.99))
                pooled[watching] += latencies
                p50[watching].append(p(latencies, 0.50))
                received = max(received, got)
    ratios = [s / b for s, b in zip(p99[spectators], p99[0], strict=True)]
    print(
        f"one room, {commands} timed commands per match, a move every {args.pace * 1e3:g} ms, "
        f"{pairs} interleaved pair(s) of runs"
    )
    for label, n in (("no spectators", 0), (f"{spectators} spectators", spectators)):
        print(
            f"{label}: command p50 {statistics.median(p50[n]) * 1e3:.3f} ms, "
            f"p99 {statistics.median(p99[n]) * 1e3:.3f} ms, "
            f"CPU {statistics.median(cpu[n]):.2f} s per match (medians over the pairs)"
        )
    print(f"events delivered to the spectators: {received}")
    print("p99 ratio of each pair: " + ", ".join(f"{r:.2f}" for r in ratios))
    pooled_ratio = p(pooled[spectators], 0.99) / p(pooled[0], 0.99)
    print(f"p99 over all pairs' commands pooled, ratio: {pooled_ratio:.2f}")
    own_ratio = p(own[spectators], 0.99) / p(own[0], 0.99)
    print(
        f"p99 of each command's own CPU time (loop thread), pooled: "
        f"{p(own[0], 0.99) * 1e3:.3f} -> {p(own[spectators], 0.99) * 1e3:.3f} ms, "
        f"ratio {own_ratio:.2f}"
    )
    print(f"p99 ratio, {spectators} spectators / none: {statistics.median(ratios):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
