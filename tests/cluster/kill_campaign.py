"""A kill campaign on a real cluster: 3 nodes play bot matches while one node at a time is
SIGKILLed at random moments (and started again), then one is paused (SIGSTOP) until its
rooms have moved and resumed (SIGCONT) as a zombie; then the store is audited.

Used by tests/cluster/test_kills.py (CI: 20 kills) and bench/cluster_bench.py (long runs).
"""

from __future__ import annotations

import asyncio
import random
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from msgspec import Struct

from actors.cluster.client import NodeClient
from actors.facade import Accepted
from engine.commands import Command, CreateRoom, Disconnect, StartGame
from engine.rejections import Rejection
from engine.settings import RoomSettings
from tests.cluster.harness import Cluster, NodeProcess

NODE_FLAGS = ("--fast", "--bot-delay", "0.005")
ASK_TIMEOUT = 6.0  # seconds before a request to a (perhaps killed) node is sent elsewhere


class CampaignReport(Struct):
    kills: int
    kills_of_members: int  # kills of nodes the others counted members (the rest died starting)
    matches: int
    acknowledged: int
    lost: int  # acknowledged commands missing from the store (must be 0)
    doubled: int  # events claimed by two commands, or versions not 1..N (must be 0)
    unfinished: int
    detection: list[float]  # seconds from a SIGKILL to a survivor's membership change
    failover: list[float]  # seconds from a SIGKILL to the dead node's rooms adopted
    handed_over: int  # rooms handed over live to a node that (re)joined
    zombie_fenced: int  # appends of the resumed zombie the store refused
    zombie_lapsed: bool  # the zombie found its lease gone and joined again
    zombie_moved: float  # seconds from SIGSTOP until its rooms were owned elsewhere
    verify_ok: bool
    verify_output: str
    wall: float
    phases: dict[str, float]  # seconds spent in each part of the campaign

    def summary(self) -> str:
        def quantiles(values: list[float]) -> str:
            if not values:
                return "n/a"
            ordered = sorted(values)
            p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
            return (
                f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
                f"max {ordered[-1] * 1000:.0f} ms"
            )

        return (
            f"kills={self.kills} (of members {self.kills_of_members}) matches={self.matches} acknowledged={self.acknowledged} "
            f"lost={self.lost} doubled={self.doubled} unfinished={self.unfinished} "
            f"handed_over={self.handed_over} "
            f"zombie_fenced={self.zombie_fenced} zombie_lapsed={self.zombie_lapsed} "
            f"verify={'ok' if self.verify_ok else 'FAILED'} wall={self.wall:.1f}s "
            f"({', '.join(f'{k} {v:.1f}s' for k, v in self.phases.items())})\n"
            f"  detection (SIGKILL -> membership change): {quantiles(self.detection)}\n"
            f"  failover (SIGKILL -> rooms adopted and woken): {quantiles(self.failover)}\n"
            f"  SIGSTOP -> its rooms owned elsewhere: {self.zombie_moved * 1000:.0f} ms"
        )


class Workload:
    """Starts bot matches through random live nodes, retrying each command (same id)
    until a node acknowledges it; records what was acknowledged."""

    def __init__(self, cluster: Cluster, rng: random.Random) -> None:
        self.cluster = cluster
        self.rng = rng
        self.clients: dict[str, NodeClient] = {}
        self.acknowledged: list[tuple[str, str]] = []  # (room id, player/command id)
        self.rooms: list[str] = []

    def client(self) -> NodeClient:
        ready = [n for n in self.cluster.nodes.values() if n.poll_ready()]
        node = self.rng.choice(ready)
        key = f"{node.name}:{node.admin_port}"
        if key not in self.clients:
            self.clients[key] = NodeClient(node.admin_port, ASK_TIMEOUT)
        return self.clients[key]

    def send(self, room_id: str, command: Command, between: Any = None) -> Accepted:
        for _ in range(50):
            outcome = self.client().send(room_id, command)
            if isinstance(outcome, Accepted):
                self.acknowledged.append((room_id, f"{command.player}/{command.command_id}"))
                return outcome
            assert isinstance(outcome, Rejection) and outcome.code.value == "unavailable", outcome
            if between is not None:
                between()
            time.sleep(0.05)
        raise AssertionError(f"{command} was never acknowledged")

    def start_match(self, n: int, between: Any = None) -> None:
        room_id = f"K{n:05d}"
        host = f"host{n}"
        create = CreateRoom(
            player=host,
            command_id=f"create-{n}",
            room_id=room_id,
            seed=n,
            settings=RoomSettings.fast(),
        )
        self.send(room_id, create, between)
        self.rooms.append(room_id)
        self.send(room_id, StartGame(player=host, command_id=f"start-{n}"), between)
        self.send(room_id, Disconnect(player=host, command_id=f"leave-{n}"), between)


class Killer:
    """SIGKILLs a random node now and then, a member or one still starting, never the last
    ready one; each killed node is started again at once under the same id."""

    def __init__(self, cluster: Cluster, rng: random.Random, kills: int, every: float) -> None:
        self.cluster = cluster
        self.rng = rng
        self.wanted = kills
        self.every = every
        self.kills: list[tuple[str, float, bool]] = []  # (node, when, had it joined)
        self.next_at = time.monotonic() + self._pause()

    def _pause(self) -> float:
        return self.rng.uniform(0.3 * self.every, 1.7 * self.every)

    @property
    def done(self) -> bool:
        return len(self.kills) >= self.wanted

    def tick(self) -> None:
        if self.done or time.monotonic() < self.next_at:
            return
        self.cluster.reap()
        nodes = list(self.cluster.nodes.values())
        ready = [n for n in nodes if n.poll_ready()]
        # A member mid-match when two are ready; now and then one still starting (never
        # the last ready node).
        starting = [n for n in nodes if n not in ready]
        candidates = ready if len(ready) >= 2 else starting if self.rng.random() < 0.2 else []
        if not ready or not candidates:
            self.next_at = time.monotonic() + 0.1
            return
        victim = self.rng.choice(candidates)
        joined = victim.poll_ready() or any(
            e["node"] == victim.name and e["at"] > victim.launched_at
            for e in self.cluster.events_of("joined")
        )
        self.kills.append((victim.name, time.time(), joined))
        self.cluster.kill(victim.name)
        self.cluster.launch_node(victim.name, *NODE_FLAGS)
        self.next_at = time.monotonic() + self._pause()


async def _owned_active(url: str, node_id: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT o.room_id FROM liaptui.room_owners o JOIN liaptui.streams s "
            "ON s.stream_id = o.room_id WHERE o.node_id = $1 AND s.status = 'active'",
            node_id,
        )
        return [r["room_id"] for r in rows]
    finally:
        await conn.close()


async def _owners(url: str, room_ids: list[str]) -> dict[str, str | None]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT room_id, node_id FROM liaptui.room_owners WHERE room_id = ANY($1)", room_ids
        )
        return {r["room_id"]: r["node_id"] for r in rows}
    finally:
        await conn.close()


async def _unfinished(url: str, room_ids: list[str]) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM liaptui.streams WHERE stream_id = ANY($1) "
                "AND status = 'active'",
                room_ids,
            )
        )
    finally:
        await conn.close()


async def _audit(url: str, acknowledged: list[tuple[str, str]]) -> tuple[int, int]:
    """(acknowledged commands missing, streams whose events are not 1..N each of one command)."""
    conn = await asyncpg.connect(url)
    try:
        stored = {
            (r["stream_id"], r["command_id"])
            for r in await conn.fetch("SELECT stream_id, command_id FROM liaptui.commands")
        }
        lost = sum(1 for key in acknowledged if key not in stored)
        doubled = 0
        for stream in await conn.fetch("SELECT stream_id, last_version FROM liaptui.streams"):
            versions = [
                r["version"]
                for r in await conn.fetch(
                    "SELECT version FROM liaptui.events WHERE stream_id = $1 ORDER BY version",
                    stream["stream_id"],
                )
            ]
            spans = await conn.fetch(
                "SELECT first_version, last_version FROM liaptui.commands WHERE stream_id = $1 "
                "ORDER BY first_version",
                stream["stream_id"],
            )
            covered = [v for s in spans for v in range(s["first_version"], s["last_version"] + 1)]
            expected = list(range(1, stream["last_version"] + 1))
            if versions != expected or covered != expected:
                doubled += 1
        return lost, doubled
    finally:
        await conn.close()


def _zombie(
    cluster: Cluster, workload: Workload, url: str, rng: random.Random
) -> tuple[int, bool, float]:
    """Pause a node owning active matches until they moved, resume it: its fenced appends,
    whether it found its lease lapsed, and the seconds its rooms took to move."""
    victim: NodeProcess | None = None
    rooms: list[str] = []
    for n in range(10_000, 10_040):
        workload.start_match(n)
        for node in cluster.nodes.values():
            rooms = asyncio.run(_owned_active(url, node.name))
            if len(rooms) >= 2:
                victim = node
                break
        if victim is not None:
            break
    assert victim is not None, "no node owned two active matches"
    paused_at = time.time()
    victim.signal(signal.SIGSTOP)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        # A match that ended just before the pause needs no new owner: only the rooms still
        # active must move.
        staying = set(rooms) & set(asyncio.run(_owned_active(url, victim.name)))
        if not staying:
            break
        time.sleep(0.05)
    else:
        owners = asyncio.run(_owners(url, rooms))
        raise AssertionError(f"the paused node's active rooms never moved: {owners}")
    moved_after = time.time() - paused_at
    victim.signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    lapsed = False
    while time.monotonic() < deadline and not lapsed:
        time.sleep(0.1)
        lapsed = any(
            e["node"] == victim.name and e["at"] > paused_at for e in cluster.events_of("lapsed")
        )
    fenced = sum(
        int(e["rooms"])
        for e in cluster.events_of("fenced")
        if e["node"] == victim.name and e["at"] > paused_at
    )
    return fenced, lapsed, moved_after


def _seen(name: str, at: float, members: list[dict[str, Any]], killed: list[Any]) -> bool:
    """Whether another live node counted `name` a member just before `at`."""
    latest: dict[str, tuple[float, list[str]]] = {}
    for e in members:
        if e["at"] < at and e["node"] != name:
            latest[e["node"]] = (e["at"], e["members"])
    return any(
        name in seen and not any(k == node and since < when < at for k, when, _ in killed)
        for node, (since, seen) in latest.items()
    )


def _after(
    kills: list[tuple[str, float, bool]],
    members: list[dict[str, Any]],
    events: list[dict[str, Any]],
    key: str,
) -> list[float]:
    """For each kill of a node the others counted a member, seconds until the first event
    of another node that shows it."""
    found = []
    for name, at, _ in kills:
        if not _seen(name, at, members, kills):
            continue  # killed before anyone saw it join: nothing to notice
        noticed = [e["at"] for e in members if e["at"] > at and name in e.get("gone", ())]
        if not noticed:
            continue
        # The first membership change naming the dead node, or the first adoption after it.
        times = [
            e["at"] - at
            for e in events
            if e["node"] != name
            and (name in e.get("gone", ()) if key == "gone" else e["at"] >= min(noticed))
            and e["at"] > at
        ]
        if times:
            found.append(min(times))
    return found


def run_campaign(
    store_url: str,
    folder: Path,
    *,
    kills: int,
    seed: int = 1,
    every: float = 0.5,
    zombie: bool = True,
) -> CampaignReport:
    started = time.monotonic()
    phases: dict[str, float] = {}

    def phase(name: str) -> None:
        phases[name] = time.monotonic() - started - sum(phases.values())

    rng = random.Random(seed)
    cluster = Cluster(store_url, folder, lease=1.0)
    try:
        cluster.start_leader()
        for name in ("n1", "n2", "n3"):
            cluster.launch_node(name, *NODE_FLAGS)
        for node in list(cluster.nodes.values()):
            node.wait_ready()
        phase("start")
        workload = Workload(cluster, rng)
        killer = Killer(cluster, rng, kills, every)
        n = 0
        while not killer.done:
            if n < 4 + len(killer.kills):  # a few matches at first, then one more a kill
                workload.start_match(n, killer.tick)
                n += 1
            killer.tick()
            time.sleep(0.02)
        for node in list(cluster.nodes.values()):
            node.wait_ready()
        phase("kills")
        fenced, lapsed, moved_after = (
            _zombie(cluster, workload, store_url, rng) if zombie else (0, False, 0.0)
        )
        phase("zombie")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            unfinished = asyncio.run(_unfinished(store_url, workload.rooms))
            if not unfinished:
                break
            time.sleep(0.2)
        phase("finish")
        lost, doubled = asyncio.run(_audit(store_url, workload.acknowledged))
        verify = subprocess.run(
            [sys.executable, "-m", "replay_tool", "--db", store_url, "--plain", "verify", "--all"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        phase("audit")
        members = cluster.events_of("members")
        adopted = [e for e in cluster.events_of("adopted") if e.get("rooms")]
        report = CampaignReport(
            kills=len(killer.kills),
            kills_of_members=sum(
                1 for n, at, _ in killer.kills if _seen(n, at, members, killer.kills)
            ),
            matches=len(workload.rooms),
            acknowledged=len(workload.acknowledged),
            lost=lost,
            doubled=doubled,
            unfinished=unfinished,
            detection=_after(killer.kills, members, members, "gone"),
            failover=_after(killer.kills, members, adopted, "adopted"),
            handed_over=sum(int(e["rooms"]) for e in cluster.events_of("hand_over")),
            zombie_fenced=fenced,
            zombie_lapsed=lapsed,
            zombie_moved=moved_after,
            verify_ok=verify.returncode == 0,
            verify_output=(verify.stdout + verify.stderr)[-2000:],
            wall=time.monotonic() - started,
            phases=phases,
        )
    except BaseException:
        cluster.close()
        raise
    left = cluster.close()
    assert not left, f"processes left after the cluster stopped: {left}"
    return report
