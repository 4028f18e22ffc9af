"""Amplification: what a client can make the engine hold or spend by asking for rooms that do
not exist, by watching, or by subscribing and never reading; each figure against a
baseline measured in the same run.

    python bench/amplification_bench.py           # 20,000 probes; 2,000 spectators; 5 pairs
    python bench/amplification_bench.py --quick   # 2,000 probes; 400 spectators; 1 pair

1. Probes: sends and views to room ids that were never created (half each). The baseline
   is the engine before them, with one real room: live room actors (counted), entries in
   thespian's actor registry, and the process's resident memory; printed as after / before
   (after one sweep of idle rooms).
2. Spectators on other rooms: four bot matches play on, and `--busy` more (a bot moves
   `--bot-delay` after the last commit, at once by default: the engine is saturated and
   commands queue on the loop), while one more room, four humans (moves by the bot policy, one every 5 ms), is
   timed command by command; with no spectators and with N spectated across the four bot rooms
   (N/4 each), interleaved in alternating order, on fresh stores. Printed: the fifth
   room's command p99 with spectators / without, the median over the pairs (and the ratio
   of the p99s of all the pairs' commands pooled), and the engine's appends/s meanwhile
   with / without (an average: steadier than a p99 on a shared machine; what the
   spectators' rounds take from the busy rooms).
3. A stalled subscriber: one subscriber reads its catch-up and then nothing while its
   room commits 3 x `max_queue` times. Printed: the longest its queue got / `max_queue`
   (at most 1.00), and whether it was cut with its typed reason.
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
from actors.facade import Accepted, Engine, SubscriptionLost  # noqa: E402
from actors.room import RoomActor  # noqa: E402
from bench.spectator_bench import PLAYERS, SEED, accepted, p, play_match  # noqa: E402
from engine.codec import decode_records  # noqa: E402
from engine.commands import AddBot, Command, JoinRoom, RemovePlayer, StartGame  # noqa: E402
from engine.evolve import fold  # noqa: E402
from engine.rejections import Code, Rejection  # noqa: E402
from engine.settings import RoomSettings  # noqa: E402
from engine.state import Phase  # noqa: E402


def rss_mb() -> float:
    """The process's resident memory, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def addresses(engine: Engine) -> int:
    """Entries in thespian's actor registry (simpleSystemBase), live and forgotten-not-yet."""
    return len(engine.driver.asys._systemBase.actorRegistry)


def room_actors() -> int:
    """Room actor objects in this process, the frozen ones included (the engine freezes
    the survivors of a full collection; the next one freezes them again)."""
    gc.collect()
    gc.unfreeze()
    return sum(1 for o in gc.get_objects() if isinstance(o, RoomActor))


def config_for(directory: Path, **changes: object) -> EngineConfig:
    settings = replace(RoomSettings.fast(), round_cap=1_000, target_score=1_000_000)
    fields: dict[str, object] = {
        "projections": False,
        "archive_after": None,
        "room_settings": settings,
        **changes,
    }
    return EngineConfig.fast(str(directory / "games.db"), **fields)


# --- 1. probes ------------------------------------------------------------------------------


async def probes(directory: Path, count: int) -> dict[str, float]:
    config = config_for(directory, sweep_interval=0.5)
    async with Engine.open(directory / "games.db", config) as engine:
        accepted(await engine.create_room("ann", room_id="REAL01"))
        await engine.view("REAL01")
        actors_before, rss_before, addresses_before = room_actors(), rss_mb(), addresses(engine)
        live_before = engine.metrics()["live_rooms"]
        started = time.perf_counter()
        for i in range(count):
            room = f"Z{i:05d}"
            outcome: object
            if i % 2:
                outcome = await engine.send(room, JoinRoom(player="probe"), rate_limited=False)
            else:
                outcome = await engine.view(room)
            assert isinstance(outcome, Rejection) and outcome.code is Code.ROOM_NOT_FOUND
        seconds = time.perf_counter() - started
        await asyncio.sleep(2 * engine.config.sweep_interval)  # one sweep: exited actors go
        return {
            "addresses_before": addresses_before,
            "addresses_after": addresses(engine),
            "actors_before": actors_before,
            "actors_after": room_actors(),
            "live_before": float(str(live_before)),
            "live_after": float(str(engine.metrics()["live_rooms"])),
            "rss_before": rss_before,
            "rss_after": rss_mb(),
            "per_second": count / seconds,
        }


# --- 2. spectators on other rooms -------------------------------------------------------------


async def watch(engine: Engine, room: str, started: list[int], stop: asyncio.Event) -> None:
    counted = False
    async for update in engine.subscribe(room, spectator=True):
        if not counted:
            counted = True
            started[0] += 1
        if stop.is_set() or update.view.phase is Phase.GAME_OVER:
            return


async def other_room(
    directory: Path,
    spectators: int,
    rounds: int,
    bot_delay: float,
    busy: int = 0,
) -> tuple[list[float], float]:
    """The timed room's command latencies while four bot rooms play, `spectators` watching
    them (spread evenly), and `busy` more bot rooms play unwatched; and the appends/s the
    engine committed meanwhile (all rooms)."""
    config = config_for(directory, bot_delay=bot_delay)
    async with Engine.open(directory / "games.db", config) as engine:
        for i in range(busy):
            started = await engine.start_bot_match(f"busy{i}", seed=200 + i)
            assert isinstance(started, Accepted), started
        bot_rooms = []
        for i in range(4):
            started = await engine.start_bot_match(f"host{i}", seed=100 + i)
            assert isinstance(started, Accepted), started
            bot_rooms.append(started.room_id)
        stop = asyncio.Event()
        count = [0]
        tasks = [
            asyncio.get_running_loop().create_task(watch(engine, bot_rooms[i % 4], count, stop))
            for i in range(spectators)
        ]
        while count[0] < spectators:
            await asyncio.sleep(0.01)
        timed_settings = replace(RoomSettings.fast(), round_cap=rounds, target_score=1_000_000)
        room = accepted(
            await engine.create_room(
                PLAYERS[0], seed=SEED, room_id="TIMED1", settings=timed_settings
            )
        ).room_id
        for seat, name in enumerate(PLAYERS[1:], start=1):
            accepted(await engine.send(room, RemovePlayer(player=PLAYERS[0], seat=seat)))
            accepted(await engine.send(room, JoinRoom(player=name)))
        accepted(await engine.send(room, StartGame(player=PLAYERS[0])))
        state = fold(decode_records(await engine.store.read_stream(room)))
        durable = engine.driver.metrics.durable_latency
        appended, started_at = durable.n, time.perf_counter()
        latencies = await play_match(engine, room, state, 0.005)
        rate = (durable.n - appended) / (time.perf_counter() - started_at)
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        return latencies, rate


# --- 3. a stalled subscriber ------------------------------------------------------------------


async def stalled(directory: Path, max_queue: int) -> dict[str, object]:
    async with Engine.open(directory / "games.db", config_for(directory)) as engine:
        room = accepted(await engine.create_room("ann", room_id="STALL1")).room_id
        subscription = engine.subscribe(room, "ann", max_queue=max_queue)
        await subscription.__anext__()
        longest = 0
        steps: tuple[Command, Command] = (
            RemovePlayer(player="ann", seat=1),
            AddBot(player="ann", seat=1),
        )
        for i in range(3 * max_queue):
            accepted(await engine.send(room, steps[i % 2], rate_limited=False))
            longest = max(longest, int(str(engine.metrics()["subscriber_queue_max"])))
        reason = "not cut"
        try:
            await subscription.__anext__()
        except SubscriptionLost as lost:
            reason = lost.reason
        await subscription.aclose()
        return {"longest": longest, "reason": reason, "commits": 3 * max_queue}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument(
        "--bot-delay", type=float, default=0.0, help="seconds a bot waits (default 0: at once)"
    )
    parser.add_argument(
        "--busy", type=int, help="unwatched bot rooms besides (default 40, 10 with --quick)"
    )
    args = parser.parse_args(argv)
    count, spectators, rounds, pairs, max_queue = (
        (2_000, 400, 3, 1, 200) if args.quick else (20_000, 2_000, 6, 5, 2_000)
    )
    busy = args.busy if args.busy is not None else (10 if args.quick else 40)
    with tempfile.TemporaryDirectory(prefix="amplification-bench-") as tmp:
        root = Path(tmp)
        (root / "probes").mkdir()
        probed = asyncio.run(probes(root / "probes", count))
        print(f"{count:,} probes of rooms that do not exist, {probed['per_second']:,.0f}/s:")
        print(
            f"  live room actors after / before: {probed['actors_after']:.0f} / "
            f"{probed['actors_before']:.0f} = "
            f"{probed['actors_after'] / probed['actors_before']:.2f} "
            f"(live_rooms metric {probed['live_after']:.0f} / {probed['live_before']:.0f})"
        )
        print(
            f"  actor registry entries after / before: {probed['addresses_after']:.0f} / "
            f"{probed['addresses_before']:.0f} = "
            f"{probed['addresses_after'] / probed['addresses_before']:.2f}"
        )
        print(
            f"  resident memory after / before: {probed['rss_after']:.1f} / "
            f"{probed['rss_before']:.1f} MB = {probed['rss_after'] / probed['rss_before']:.2f}"
        )

        p99: dict[int, list[float]] = {0: [], spectators: []}
        pooled: dict[int, list[float]] = {0: [], spectators: []}
        rates: dict[int, list[float]] = {0: [], spectators: []}
        for pair in range(pairs):
            order = (0, spectators) if pair % 2 == 0 else (spectators, 0)
            for watching in order:
                directory = root / f"other{pair}-{watching}"
                directory.mkdir()
                gc.collect()
                latencies, rate = asyncio.run(
                    other_room(directory, watching, rounds, args.bot_delay, busy)
                )
                rates[watching].append(rate)
                p99[watching].append(p(latencies, 0.99))
                pooled[watching] += latencies
        ratios = [s / b for s, b in zip(p99[spectators], p99[0], strict=True)]
        print(
            f"another room's command p99 ({busy} more bot rooms busy, bots moving "
            f"{args.bot_delay * 1e3:g} ms after a commit), {spectators:,} spectators on 4 bot "
            f"rooms / none: "
            f"{statistics.median(ratios):.2f} (pairs: "
            + ", ".join(f"{r:.2f}" for r in ratios)
            + f"; p99 {statistics.median(p99[0]) * 1e3:.2f} -> "
            f"{statistics.median(p99[spectators]) * 1e3:.2f} ms; all pairs' commands pooled: "
            f"{p(pooled[spectators], 0.99) / p(pooled[0], 0.99):.2f})"
        )
        rate_ratios = [s / b for s, b in zip(rates[spectators], rates[0], strict=True)]
        print(
            f"  the engine's appends/s meanwhile, with / without the spectators: "
            f"{statistics.median(rate_ratios):.2f} (median; "
            f"{statistics.median(rates[0]):,.0f} -> {statistics.median(rates[spectators]):,.0f}/s)"
        )


        (root / "stalled").mkdir()
        cut = asyncio.run(stalled(root / "stalled", max_queue))
        longest = int(str(cut["longest"]))
        print(
            f"a subscriber that stops reading, {cut['commits']:,} commits: longest queue / "
            f"max_queue = {longest:,} / {max_queue:,} = {longest / max_queue:.2f}, "
            f"then SubscriptionLost({cut['reason']!r})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
