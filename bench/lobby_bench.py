"""The lobby under a `list_rooms` flood: other rooms' command latency, with and without it.

    python bench/lobby_bench.py [--quick]

One example server (examples/server.py) over an engine with fast settings and a lobby of
open rooms. Twelve players, each alone in a room of their own, send one command every
100 ms (remove the bot in seat 1, put it back) and time each reply. The run is a series of
pairs: those players alone, and the same with one more client that sends `list_rooms` as
fast as its socket takes them, from a process of its own (the order within a pair
alternates, so drift in the box hits both sides alike). Each pair gives the ratio of the
players' command p99 under the flood to the p99 alone; the median ratio is the figure
(the goal: at most 1.10). The flooding socket's own limit answers most of its messages
`rate_limited`; its answered pages are counted and checked against what its token bucket
can pay for over the flood's measured length. Each pair also prints the server's event
loop lag (p99 of how late a 5 ms sleep wakes) and the CPU this process (server, engine and
players) used, as a share of one core, on each side: the server's own cost of the flood,
apart from what the shared box's scheduler makes of one more busy process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event as EventType
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Engine  # noqa: E402
from examples.rate_limit import DEFAULT_RATE_LIMIT  # noqa: E402
from examples.server import serving  # noqa: E402

PACE = 0.1  # seconds between one player's commands: well under the 20/s limit


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


async def player(url: str, name: str, stop: asyncio.Event, samples: list[float]) -> None:
    """Alone in a room, toggle the bot in seat 1 until `stop`; time each command's reply."""
    async with connect(url) as ws:
        await request(ws, {"type": "hello", "name": name})
        await request(ws, {"type": "create_room"})
        moves = ({"type": "remove_player", "seat": 1}, {"type": "add_bot", "seat": 1})
        i = 0
        while not stop.is_set():
            began = time.perf_counter()
            reply = await request(ws, moves[i % 2])
            samples.append(time.perf_counter() - began)
            assert reply["type"] == "ok", reply
            i += 1
            await asyncio.sleep(PACE)


async def request(ws: ClientConnection, message: dict[str, object]) -> dict[str, object]:
    """Send one message; return its reply (updates pushed meanwhile are skipped)."""
    await ws.send(json.dumps({**message, "ref": "r"}))
    while True:
        reply: dict[str, object] = json.loads(await ws.recv())
        if reply["type"] != "update":
            return reply


def flood_process(url: str, ready: EventType, stop: EventType, out: Queue[dict[str, int]]) -> None:
    """A process of its own, as a flooding client would be: flood from `ready` to `stop`.

    At the lowest CPU priority: a real flood comes from another machine, and on this box
    a spinning client would otherwise take the server's CPU for the scheduler's reasons,
    not for what the server does with its messages."""
    os.nice(19)
    asyncio.run(flooder(url, ready, stop, out))


async def flooder(url: str, ready: EventType, stop: EventType, out: Queue[dict[str, int]]) -> None:
    """Send `list_rooms` as fast as the socket takes them and count the replies by kind;
    when the server drops the socket as a flood, connect again and go on."""
    answers: dict[str, int] = {"connections": 0}
    began, cpu = time.monotonic(), time.process_time()
    stopping = asyncio.create_task(asyncio.to_thread(stop.wait))
    while not stopping.done():
        answers["connections"] += 1
        await flood_once(url, ready, stopping, answers)
    answers["flood_ms"] = round((time.monotonic() - began) * 1000)
    answers["flood_cpu_ms"] = round((time.process_time() - cpu) * 1000)
    out.put(answers)


async def flood_once(
    url: str, ready: EventType, stopping: asyncio.Task[bool], answers: dict[str, int]
) -> None:
    """One connection's flood, until the server closes it or `stopping` is done."""
    try:
        async with connect(url, max_queue=None, close_timeout=1.0) as ws:
            # A send buffer of a fixed size, as a remote client's would be once the path is
            # full: kernel autotuning on loopback lets one socket queue megabytes, and this
            # process would spin a core (of the same box as the server) to fill them.
            # Small buffers still keep the server's next message always waiting; large ones
            # only make this process spin longer to refill them after each reconnect.
            sock = ws.transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 * 1024)
            ws.transport.set_write_buffer_limits(high=8 * 1024)
            await request(ws, {"type": "hello", "name": "Flood"})

            async def count() -> None:
                async for raw in ws:
                    reply = json.loads(raw)
                    kind = "pages" if reply["type"] == "rooms" else str(reply.get("code"))
                    answers[kind] = answers.get(kind, 0) + 1

            async def send() -> None:
                message = json.dumps({"type": "list_rooms", "limit": 100})
                while True:  # blocks once the server stops reading: the flood waits in TCP
                    await ws.send(message)
                    # A send the kernel buffers returns without yielding: without this the
                    # loop would not run the counter until megabytes are queued.
                    await asyncio.sleep(0)

            tasks = [asyncio.create_task(count()), asyncio.create_task(send())]
            ready.set()
            await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    except (ConnectionClosed, OSError):
        pass  # dropped as a flood: the loop connects again


class Side(NamedTuple):
    samples: list[float]  # the players' round trips, seconds
    answers: dict[str, int]  # the flooder's counts (empty alone)
    lag_p99: float  # seconds the event loop was late waking a 5 ms sleep, p99
    cpu: float  # CPU seconds of this process (server, engine and players) over the side


async def loop_lag(stop: asyncio.Event, lags: list[float]) -> None:
    """How late the server's event loop wakes a 5 ms sleep: its time blocked by others."""
    while not stop.is_set():
        began = time.perf_counter()
        await asyncio.sleep(0.005)
        lags.append(time.perf_counter() - began - 0.005)


async def measure(url: str, players: int, seconds: float, flood: bool, round_: int) -> Side:
    """The players' round trips over `seconds`, with a flood running all along or not."""
    stop = asyncio.Event()
    samples: list[float] = []
    lags: list[float] = []
    answers: dict[str, int] = {}
    context = multiprocessing.get_context("spawn")
    flooding = None
    if flood:
        counted: Queue[dict[str, int]] = context.Queue()
        ready, flood_stop = context.Event(), context.Event()
        flooding = context.Process(target=flood_process, args=(url, ready, flood_stop, counted))
        flooding.start()
        if not await asyncio.to_thread(ready.wait, 60):
            raise RuntimeError("the flooding client did not start")
        await asyncio.sleep(0.5)  # the flood fills the socket's buffers first
    cpu = time.process_time()
    tasks = [
        asyncio.create_task(player(url, f"P{round_}x{i}{'f' if flood else 'a'}", stop, samples))
        for i in range(players)
    ]
    tasks.append(asyncio.create_task(loop_lag(stop, lags)))
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    cpu = time.process_time() - cpu
    if flooding is not None:
        flood_stop.set()
        answers = await asyncio.to_thread(counted.get, timeout=30)
        flooding.join(5)
        if flooding.is_alive():
            flooding.terminate()
    return Side(samples, answers, p99(lags), cpu)


async def run(rooms: int, players: int, pairs: int, seconds: float) -> None:
    limit = DEFAULT_RATE_LIMIT
    with tempfile.TemporaryDirectory(prefix="lobby-bench-") as scratch:
        path = str(Path(scratch) / "games.db")
        config = EngineConfig.fast(path, bot_delay=0.01, archive_after=None)
        async with (
            Engine.open(path, config) as engine,
            serving(engine, "127.0.0.1", 0, move_timeout=None, rate_limit=limit) as server,
        ):
            for i in range(rooms):  # the open rooms the lobby lists
                await engine.create_room(f"Host{i}")
            await engine.projections.wait_caught_up()
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            ratios: list[float] = []
            floods: list[dict[str, int]] = []
            print(f"lobby: {rooms} open rooms; {players} players, one command per "
                  f"{PACE * 1000:.0f} ms; {pairs} pairs of {seconds:g} s")  # fmt: skip
            for r in range(pairs):
                sides: dict[bool, Side] = {}
                for flood in (False, True) if r % 2 == 0 else (True, False):
                    sides[flood] = await measure(url, players, seconds, flood, r)
                alone, flooded = sides[False], sides[True]
                floods.append(flooded.answers)
                base, loaded = p99(alone.samples), p99(flooded.samples)
                ratios.append(loaded / base)
                print(
                    f"  pair {r + 1}: command p99 {base * 1000:.1f} ms alone, "
                    f"{loaded * 1000:.1f} ms flooded ({len(alone.samples)}/"
                    f"{len(flooded.samples)} commands): {loaded / base:.2f}; loop lag p99 "
                    f"{alone.lag_p99 * 1000:.1f}/{flooded.lag_p99 * 1000:.1f} ms; CPU "
                    f"{alone.cpu / seconds:.0%}/{flooded.cpu / seconds:.0%} of a core"
                )
    pages = sum(f.get("pages", 0) for f in floods)
    refused = sum(f.get("rate_limited", 0) for f in floods)
    flood_s = sum(f["flood_ms"] for f in floods) / 1000
    cpu_s = sum(f["flood_cpu_ms"] for f in floods) / 1000
    connections = sum(f["connections"] for f in floods)
    # What the flood's sockets' buckets can pay for: a burst (less hello's token) for each
    # connection, and the refill over the flood's measured length.
    bound = sum(
        (f["connections"] * (limit.burst - 1) + f["flood_ms"] / 1000 * limit.per_second)
        / limit.lobby_cost
        for f in floods
    )
    print(
        f"list_rooms floods from one client: {len(floods)} of {flood_s / len(floods):.1f} s "
        f"on average (the flooder's CPU {cpu_s:.1f} s in all), {connections} connections (the "
        f"server drops a flooding socket); {pages:,} pages and "
        f"{refused:,} rate_limited answered; its bucket pays for at most {bound:,.1f} pages"
        f" ({'within' if pages <= bound else 'OVER'} the limit)"
    )
    print(
        f"list_rooms flood / alone, command p99: {statistics.median(ratios):.2f} median of "
        f"{pairs} pairs (goal <= 1.10)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for smoke tests")
    args = parser.parse_args()
    if args.quick:
        asyncio.run(run(rooms=30, players=4, pairs=1, seconds=1.0))
    else:
        asyncio.run(run(rooms=300, players=12, pairs=6, seconds=5.0))


if __name__ == "__main__":
    main()
