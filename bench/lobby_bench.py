"""The lobby under a `list_rooms` flood: other rooms' command latency, with and without it.

    python bench/lobby_bench.py [--quick]

One example server (examples/server.py) over an engine with fast settings and a lobby of
open rooms. Eight players, each alone in a room of their own, send one command every
100 ms (remove the bot in seat 1, put it back) and time each reply. Rounds alternate:
those players alone, then the same with one more client that sends `list_rooms` as fast
as its socket takes them,
from a process of its own. The p99 of the players' round trips is compared between the two
(the goal: at most 10 % worse under the flood). The flooding socket's own limit answers
most of its messages `rate_limited`; its answered pages are counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from multiprocessing.queues import Queue
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Engine  # noqa: E402
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


def flood_process(url: str, seconds: float, out: Queue[dict[str, int]]) -> None:
    """A process of its own, as a flooding client would be: flood for `seconds`."""
    answers: dict[str, int] = {}

    async def flood() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await flooder(url, stop, answers, out)

    asyncio.run(flood())


async def flooder(
    url: str, stop: asyncio.Event, answers: dict[str, int], out: Queue[dict[str, int]]
) -> None:
    """Send `list_rooms` as fast as the socket takes them; count the replies by kind."""
    async with connect(url, max_queue=None, close_timeout=1.0) as ws:
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

        tasks = [asyncio.create_task(count()), asyncio.create_task(send())]
        await stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        out.put(answers)  # before the close, which may wait for the server's pause


async def measure(url: str, players: int, seconds: float, flood: bool, round_: int) -> tuple[
    list[float], dict[str, int]
]:
    stop = asyncio.Event()
    samples: list[float] = []
    answers: dict[str, int] = {}
    flooding = None
    if flood:
        context = multiprocessing.get_context("spawn")
        counted: Queue[dict[str, int]] = context.Queue()
        flooding = context.Process(target=flood_process, args=(url, seconds + 1.0, counted))
        flooding.start()
        await asyncio.sleep(1.0)  # the flooder's interpreter starts and its flood begins
    tasks = [
        asyncio.create_task(player(url, f"P{round_}x{i}{'f' if flood else 'a'}", stop, samples))
        for i in range(players)
    ]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)
    if flooding is not None:
        answers = await asyncio.to_thread(counted.get, timeout=30)
        flooding.join(5)
        if flooding.is_alive():
            flooding.terminate()
    return samples, answers


async def run(rooms: int, players: int, rounds: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="lobby-bench-") as scratch:
        path = str(Path(scratch) / "games.db")
        config = EngineConfig.fast(path, bot_delay=0.01, archive_after=None)
        async with Engine.open(path, config) as engine, serving(
            engine, "127.0.0.1", 0, move_timeout=None
        ) as server:
            for i in range(rooms):  # the open rooms the lobby lists
                await engine.create_room(f"Host{i}")
            await engine.projections.wait_caught_up()
            url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
            alone: list[float] = []
            flooded: list[float] = []
            answers: dict[str, int] = {}
            for r in range(rounds):  # alternate, so that drift in the box hits both alike
                alone += (await measure(url, players, seconds, False, r))[0]
                samples, counted = await measure(url, players, seconds, True, r)
                flooded += samples
                for kind, n in counted.items():
                    answers[kind] = answers.get(kind, 0) + n
    base, loaded = p99(alone), p99(flooded)
    print(f"lobby: {rooms} open rooms; {players} players, one command per {PACE * 1000:.0f} ms")
    print(
        f"list_rooms flood from one client, {rounds} floods of about {seconds + 1:g} s: "
        f"{answers.get('pages', 0):,} pages and {answers.get('rate_limited', 0):,} rate_limited"
        " answered in all"
    )
    print(
        f"other rooms' command p99: {base * 1000:.2f} ms alone, {loaded * 1000:.2f} ms "
        f"under the flood ({len(alone)} and {len(flooded)} commands)"
    )
    print(f"list_rooms flood / alone, command p99: {loaded / base:.2f} (goal <= 1.10)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, for smoke tests")
    args = parser.parse_args()
    if args.quick:
        asyncio.run(run(rooms=30, players=4, rounds=1, seconds=1.0))
    else:
        asyncio.run(run(rooms=300, players=8, rounds=4, seconds=5.0))


if __name__ == "__main__":
    main()
