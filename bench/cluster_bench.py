"""Cluster figures: real `liaptui node` processes on 127.0.0.1 and one PostgreSQL server.

    python bench/cluster_bench.py [--quick] [--url URL] [--kills N] [--skip-kills | --kills-only]

* throughput: durable commands/s of 1, 2 and 3 nodes playing MATCHES endless 4-bot
  matches as fast as they go (bot delay 0), in the same run on the same server (a fresh
  database each), counted over a fixed window once every match is under way (no match
  ends in it, so every room is live throughout); interleaved rounds (3; --quick 1),
  medians given (of the rates, and of each round's ratio to its own one-node run), with
  the cores the nodes and PostgreSQL used over the window (from /proc);
* paced: the same clusters with bots thinking 50 ms (an offered load well below the
  ceiling): commands/s and each node's durable p99 (decision to commit);
* floor: an external thespian ask to an idle actor on this box, now (every hop costs it);
* forwarded vs local: one client asks node A to create rooms that A owns and rooms that
  B owns, interleaved; and views of each: round trips p50/p99 at the client;
* fenced vs plain: a batch of 8 appends through the fenced append and the plain one;
* move: ROOMS rooms owned by node B; B is SIGKILLed; the time until node A has claimed
  them all in the store, and until all of them are live on A again;
* kills: the kill campaign of tests/cluster/kill_campaign.py with N kills (default 200,
  --quick 20): lost / doubled must be 0; detection and failover quantiles.

The server is durable (fsync on) unless --url names another. Figures are printed, not
asserted; this machine has two cores shared by everything, so compare ratios in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from actors.cluster.cli import free_port  # noqa: E402
from actors.cluster.client import NodeClient  # noqa: E402
from actors.cluster.wire import NodeStatus  # noqa: E402
from actors.facade import Accepted  # noqa: E402
from bench.actor_bench import ENDLESS  # noqa: E402
from engine.commands import CreateRoom  # noqa: E402
from engine.settings import RoomSettings  # noqa: E402
from engine.store.postgres.cluster import FencedPostgresStore, Registry  # noqa: E402
from engine.store.postgres.devserver import server_for_bench  # noqa: E402
from engine.store.postgres.store import PostgresEventStore  # noqa: E402
from engine.store.records import AppendRequest, NewEvent  # noqa: E402
from tests.cluster.harness import Cluster  # noqa: E402
from tests.cluster.kill_campaign import run_campaign  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.matches = 100 if quick else 1000  # saturated (endless) matches per cluster size
        self.window = 2.0 if quick else 6.0  # seconds the saturated figure is counted over
        self.paced_matches = 12 if quick else 30
        self.paced_seconds = 4.0 if quick else 10.0
        self.round_trips = 60 if quick else 300
        self.rooms = 200 if quick else 1000
        self.kills = 20 if quick else 200
        self.rounds = 1 if quick else 3  # interleaved rounds of the saturated sizes


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def wait_members(clients: list[NodeClient], count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        seen = [c.status(5.0) for c in clients]
        if all(isinstance(s, NodeStatus) and len(s.members) == count for s in seen):
            return
        time.sleep(0.05)
    raise RuntimeError(f"membership did not settle: {seen}")


async def fetchval(url: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def with_cluster(
    server: PostgresServer, nodes: int, flags: tuple[str, ...], work: Callable[..., Any]
) -> Any:
    url = asyncio.run(server.new_database())
    with tempfile.TemporaryDirectory(prefix="liaptui-cluster-bench-") as folder:
        cluster = Cluster(url, Path(folder), lease=2.0)
        try:
            cluster.start_leader()
            names = [f"n{i}" for i in range(1, nodes + 1)]
            for name in names:
                # The engine's own figures: no read models (one node would also fold them).
                cluster.launch_node(name, "--no-projections", *flags)
            for name in names:
                cluster.nodes[name].wait_ready()
            clients = [NodeClient(cluster.nodes[name].admin_port) for name in names]
            wait_members(clients, nodes)
            return work(cluster, clients, url)
        finally:
            left = cluster.close()
            if left:
                print(f"  (processes left and killed: {left})")
            asyncio.run(server.drop_database(url))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """Every process's CPU ticks so far (user + system, from /proc), by pid: engine nodes
    (`actors.cli node`) as "nodes", PostgreSQL's processes as "postgres", the rest "other"."""
    seen: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        kind = (
            "nodes"
            if "actors.cli node" in cmdline
            else "postgres"
            if "postgres" in cmdline.split(" ", 1)[0]
            else "other"
        )
        seen[int(entry.name)] = (kind, int(fields[11]) + int(fields[12]))
    return seen


def cores_used(
    before: dict[int, tuple[str, int]], after: dict[int, tuple[str, int]], seconds: float
) -> dict[str, float]:
    """Cores each kind of process used between two `cpu_ticks`."""
    used: dict[str, float] = {}
    for pid, (kind, ticks) in after.items():
        spent = ticks - before.get(pid, (kind, 0))[1]
        used[kind] = used.get(kind, 0.0) + spent / CLOCK_TICKS / seconds
    return used


class Saturated(NamedTuple):
    commands_per_s: float
    p99_ms: float  # the worst node's durable p99
    cores: dict[str, float]  # cores used over the window, by kind of process


def throughput(server: PostgresServer, nodes: int, sizes: Sizes) -> Saturated:
    """Durable commands/s, the worst node's durable p99 and the cores used, with bots at
    full speed in `sizes.matches` endless matches, over `sizes.window` seconds."""

    def work(cluster: Cluster, clients: list[NodeClient], url: str) -> Saturated:
        def start(n: int) -> None:
            outcome = clients[n % len(clients)].start_bot_match(f"host{n}", n, ENDLESS)
            assert isinstance(outcome, Accepted), outcome

        # Started from several threads at once: one at a time, a thousand take longer
        # than the window (each is a create, a start and a disconnect, each durable).
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(start, range(sizes.matches)))
        time.sleep(1.0)  # the last matches under way
        count = "SELECT count(*) FROM liaptui.commands"
        started, ticks = time.monotonic(), cpu_ticks()
        before = asyncio.run(fetchval(url, count))
        time.sleep(sizes.window)
        commands = asyncio.run(fetchval(url, count)) - before
        wall = time.monotonic() - started
        cores = cores_used(ticks, cpu_ticks(), wall)
        ended = asyncio.run(
            fetchval(url, "SELECT count(*) FROM liaptui.streams WHERE status <> 'active'")
        )
        assert ended == 0, f"{ended} matches ended in the window: not all rooms were live"
        p99 = max(float(s.metrics["durable_p99"]) for s in statuses(clients))
        return Saturated(commands / wall, p99 * 1000, cores)

    result: Saturated = with_cluster(server, nodes, ("--fast",), work)
    return result


def statuses(clients: list[NodeClient]) -> list[NodeStatus]:
    seen = [c.status(10.0) for c in clients]
    return [s for s in seen if isinstance(s, NodeStatus)]


def paced(server: PostgresServer, nodes: int, sizes: Sizes) -> tuple[float, float]:
    """(commands/s, worst node's durable p99 in ms) with bots thinking 50 ms."""

    def work(cluster: Cluster, clients: list[NodeClient], url: str) -> tuple[float, float]:
        for n in range(sizes.paced_matches):
            outcome = clients[n % len(clients)].start_bot_match(f"host{n}", seed=n)
            assert isinstance(outcome, Accepted), outcome
        time.sleep(1.0)  # every match under way
        before = asyncio.run(fetchval(url, "SELECT count(*) FROM liaptui.commands"))
        time.sleep(sizes.paced_seconds)
        after = asyncio.run(fetchval(url, "SELECT count(*) FROM liaptui.commands"))
        p99 = max(float(s.metrics["durable_p99"]) for s in statuses(clients))
        return (after - before) / sizes.paced_seconds, p99 * 1000

    result: tuple[float, float] = with_cluster(
        server, nodes, ("--fast", "--bot-delay", "0.05"), work
    )
    return result


def owned_ids(cluster: Cluster, node_id: str, prefix: str) -> Any:
    for n in itertools.count():
        room_id = f"{prefix}{n:05d}"
        if cluster.owner_of(room_id) == node_id:
            yield room_id


def forwarded_vs_local(server: PostgresServer, sizes: Sizes) -> dict[str, list[float]]:
    def work(cluster: Cluster, clients: list[NodeClient], url: str) -> dict[str, list[float]]:
        a = clients[0]
        ids = {"local": owned_ids(cluster, "n1", "L"), "forwarded": owned_ids(cluster, "n2", "F")}
        times: dict[str, list[float]] = {k: [] for k in ("local", "forwarded")}
        views: dict[str, list[float]] = {k: [] for k in ("local", "forwarded")}
        made: dict[str, list[str]] = {k: [] for k in ("local", "forwarded")}
        for i in range(sizes.round_trips):
            for kind in ("local", "forwarded") if i % 2 else ("forwarded", "local"):
                room_id = next(ids[kind])
                command = CreateRoom(
                    player="p", room_id=room_id, seed=i, settings=RoomSettings.fast()
                )
                started = time.perf_counter()
                outcome = a.send(room_id, command)
                times[kind].append(time.perf_counter() - started)
                assert isinstance(outcome, Accepted), outcome
                made[kind].append(room_id)
        for i in range(sizes.round_trips):
            for kind in ("local", "forwarded"):
                room_id = made[kind][i]
                started = time.perf_counter()
                a.view(room_id, "p")
                views[kind].append(time.perf_counter() - started)
        return {
            "create local": times["local"],
            "create forwarded": times["forwarded"],
            "view local": views["local"],
            "view forwarded": views["forwarded"],
        }

    result: dict[str, list[float]] = with_cluster(server, 2, ("--fast",), work)
    return result


def move_rooms(server: PostgresServer, sizes: Sizes) -> dict[str, float]:
    def work(cluster: Cluster, clients: list[NodeClient], url: str) -> dict[str, float]:
        a, b = clients
        rooms = []
        for room_id in owned_ids(cluster, "n2", "M"):
            command = CreateRoom(player="p", room_id=room_id, seed=1, settings=RoomSettings.fast())
            assert isinstance(b.send(room_id, command), Accepted)
            rooms.append(room_id)
            if len(rooms) >= sizes.rooms:
                break
        killed_at = time.time()
        started = time.monotonic()
        cluster.kill("n2")
        claimed = live = None
        views: list[float] = []
        sample = random.Random(1).sample(rooms, min(50, len(rooms)))
        while time.monotonic() - started < 120 and live is None:
            owned = asyncio.run(
                fetchval(
                    url,
                    "SELECT count(*) FROM liaptui.room_owners WHERE node_id = 'n1' "
                    "AND room_id = ANY($1)",
                    rooms,
                )
            )
            if claimed is None and owned >= len(rooms):
                claimed = time.monotonic() - started
                # Commands and views of moved rooms while the rest are still loading.
                for room_id in sample:
                    asked = time.perf_counter()
                    a.view(room_id, "p")
                    views.append(time.perf_counter() - asked)
            status = a.status(5.0)
            if (
                claimed is not None
                and isinstance(status, NodeStatus)
                and int(status.metrics["live_rooms"]) >= len(rooms)
            ):
                live = time.monotonic() - started
            time.sleep(0.02)
        gone = [
            e["at"] - killed_at
            for e in cluster.events_of("members")
            if e["node"] == "n1" and "n2" in e.get("gone", ()) and e["at"] > killed_at
        ]
        return {
            "detected": min(gone) if gone else float("nan"),
            "claimed": claimed if claimed is not None else float("nan"),
            "live": live if live is not None else float("nan"),
            "view_p50": statistics.median(views) if views else float("nan"),
            "view_p99": quantile(views, 0.99) if views else float("nan"),
        }

    result: dict[str, float] = with_cluster(server, 2, ("--fast",), work)
    return result


def thespian_round_trip(count: int) -> float:
    """p50 seconds of an external ask to an idle multiprocTCPBase actor: this box's floor
    for any hop between processes, measured in the same run."""
    from thespian.actors import ActorSystem

    from tests.cluster.echo import Echo

    port = free_port("127.0.0.1")
    asys = ActorSystem("multiprocTCPBase", {"Admin Port": port}, transientUnique=True)
    try:
        echo = asys.createActor(Echo)
        asys.ask(echo, "warm", 10)
        times = []
        for _ in range(count):
            started = time.perf_counter()
            asys.ask(echo, "ping", 10)
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    finally:
        asys.shutdown()


async def fenced_vs_plain(url: str, rounds: int) -> tuple[float, float]:
    """p50 seconds of a batch of 8 one-event appends, plain and fenced, interleaved."""
    plain = await PostgresEventStore.open(url)
    fenced = await FencedPostgresStore.open(url)
    registry = await Registry.connect(url, "bench")
    try:
        fenced.node_id = "bench"
        fenced.epoch = await registry.join(b"bench", "bench", 600.0)
        rooms = {
            "plain": [f"P{i:05d}" for i in range(8)],
            "fenced": [f"Q{i:05d}" for i in range(8)],
        }
        await registry.claim(rooms["fenced"])
        stores = {"plain": plain, "fenced": fenced}
        times: dict[str, list[float]] = {"plain": [], "fenced": []}
        for i in range(rounds):
            for kind in ("plain", "fenced") if i % 2 else ("fenced", "plain"):
                batch = [
                    AppendRequest(r, i, (NewEvent("Probe", 1, b"x" * 60),), f"c{i}", b"c", 1.0)
                    for r in rooms[kind]
                ]
                started = time.perf_counter()
                await stores[kind].append_batch(batch)
                times[kind].append(time.perf_counter() - started)
        return statistics.median(times["plain"]), statistics.median(times["fenced"])
    finally:
        await registry.close()
        await fenced.close()
        await plain.close()


def campaign(server: PostgresServer, kills: int) -> None:
    with tempfile.TemporaryDirectory(prefix="liaptui-kills-") as folder:
        url = asyncio.run(server.new_database())
        try:
            report = run_campaign(url, Path(folder), kills=kills, seed=kills)
            print(report.summary())
        finally:
            asyncio.run(server.drop_database(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--url", help="a PostgreSQL server to create databases on")
    parser.add_argument("--kills", type=int, default=None, help="kills in the campaign")
    parser.add_argument("--skip-kills", action="store_true")
    parser.add_argument("--kills-only", action="store_true", help="only the kill campaign")
    args = parser.parse_args()
    sizes = Sizes(args.quick)
    with server_for_bench(args.url or os.environ.get("LIAPTUI_BENCH_PG")) as url:
        server = PostgresServer(url)
        print(f"cluster bench ({'quick' if args.quick else 'full'}), {os.cpu_count()} cores")
        if args.kills_only:
            campaign(server, args.kills if args.kills is not None else sizes.kills)
            return
        # Interleaved rounds (1, 2, 3 nodes, then 3, 2, 1, ...): the box's drift hits
        # every size alike; each size's median over the rounds.
        runs: dict[int, list[Saturated]] = {1: [], 2: [], 3: []}
        for round_ in range(sizes.rounds):
            for n in (1, 2, 3) if round_ % 2 == 0 else (3, 2, 1):
                runs[n].append(throughput(server, n, sizes))
        one = statistics.median(r.commands_per_s for r in runs[1])
        for n, done in runs.items():
            rate = statistics.median(r.commands_per_s for r in done)
            cores = {
                kind: statistics.median(r.cores.get(kind, 0.0) for r in done)
                for kind in ("nodes", "postgres")
            }
            # Each round's ratio to the same round's one node: the box drifts between rounds.
            paired = statistics.median(
                r.commands_per_s / o.commands_per_s for r, o in zip(done, runs[1], strict=True)
            )
            print(
                f"saturated, {n} node(s): {rate:,.0f} durable commands/s "
                f"({rate / one:.2f}x one node, {paired:.2f}x by round; median of {len(done)}: "
                f"{', '.join(f'{r.commands_per_s:,.0f}' for r in done)}), "
                f"durable p99 {statistics.median(r.p99_ms for r in done):.1f} ms; "
                f"cores used: nodes {cores['nodes']:.2f}, PostgreSQL {cores['postgres']:.2f} "
                f"of {os.cpu_count()}"
            )
        for n in (1, 2, 3):
            rate, p99 = paced(server, n, sizes)
            print(
                f"paced (bots 50 ms), {n} node(s): {rate:,.0f} commands/s, durable p99 {p99:.1f} ms"
            )
        floor = thespian_round_trip(sizes.round_trips)
        print(f"thespian external ask to an idle actor (floor of a hop): p50 {floor * 1000:.2f} ms")
        trips = forwarded_vs_local(server, sizes)
        for name, values in trips.items():
            print(
                f"{name}: p50 {statistics.median(values) * 1000:.2f} ms, "
                f"p99 {quantile(values, 0.99) * 1000:.2f} ms ({len(values)} round trips)"
            )
        extra = statistics.median(trips["create forwarded"]) - statistics.median(
            trips["create local"]
        )
        print(f"forwarding adds (create, p50): {extra * 1000:.2f} ms")
        scratch = asyncio.run(server.new_database())
        try:
            plain, fenced = asyncio.run(fenced_vs_plain(scratch, sizes.round_trips))
        finally:
            asyncio.run(server.drop_database(scratch))
        print(
            f"append batch of 8, p50: plain {plain * 1000:.2f} ms, fenced {fenced * 1000:.2f} ms "
            f"({fenced / plain:.2f}x)"
        )
        moved = move_rooms(server, sizes)
        print(
            f"move {sizes.rooms} rooms after SIGKILL: detected {moved['detected'] * 1000:.0f} ms, "
            f"claimed {moved['claimed']:.2f} s, all live again {moved['live']:.2f} s; "
            f"a moved room's view meanwhile p50 {moved['view_p50'] * 1000:.0f} ms, "
            f"p99 {moved['view_p99'] * 1000:.0f} ms"
        )
        if not args.skip_kills:
            campaign(server, args.kills if args.kills is not None else sizes.kills)


if __name__ == "__main__":
    main()
