"""Read models once per cluster: every node opens the `readmodels` schema, one folds under
the advisory fold lease, every node answers queries; the survivor takes over when the
folding node is SIGKILLed, and the tables equal a rebuild from the log."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import asyncpg

from actors.cluster.client import NodeClient
from engine.store.postgres import PostgresEventStore
from projections import RunnerStatus
from projections.postgres import PostgresTarget
from tests.cluster.harness import running_cluster
from tests.cluster.kill_campaign import Workload
from tests.cluster.test_routing import wait_for_members
from tests.projections.test_postgres_read_models import fold, pg_dump

WAIT = 30.0


async def _store_head_and_active(url: str, rooms: list[str]) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        head = await conn.fetchval("SELECT last_position FROM liaptui.head")
        active = await conn.fetchval(
            "SELECT count(*) FROM liaptui.streams WHERE stream_id = ANY($1) AND status = 'active'",
            rooms,
        )
        return int(head), int(active)
    finally:
        await conn.close()


def finished_and_folded(url: str, rooms: list[str], clients: list[NodeClient]) -> int:
    """Wait until every match ended and every node's status shows the read models at the
    log's head; the head."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        head, active = asyncio.run(_store_head_and_active(url, rooms))
        statuses = [c.query("status") for c in clients]
        if not active and all(
            isinstance(s, RunnerStatus)
            and all(p.position >= head and p.fault is None for p in s.projections)
            for s in statuses
        ):
            return head
        time.sleep(0.2)
    raise AssertionError(f"not folded: active={active} head={head} statuses={statuses}")


def answers(client: NodeClient, rooms: list[str]) -> dict[str, Any]:
    """What a node answers to the read-model queries a game server makes."""
    history = client.query("match_history", limit=100)
    out: dict[str, Any] = {
        "lobby": client.query("lobby"),
        "joinable": client.query("joinable"),
        "wins": client.query("leaderboard", "wins", include_bots=True),
        "points": client.query("leaderboard", "points", include_bots=True),
        "history": history,
        "matches": [client.query("match", room) for room in rooms],
        "stats": client.query("player_stats", "Bot 2"),
    }
    return out


def rebuilt(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """The read models folded from 0 into a schema of their own."""

    async def build() -> dict[str, list[tuple[Any, ...]]]:
        store = await PostgresEventStore.open(url)
        try:
            target = PostgresTarget(url, schema)
            await fold(store, target)
            return await pg_dump(target)
        finally:
            await store.close()

    return asyncio.run(build())


def test_one_node_folds_every_node_answers_and_the_survivor_takes_over(
    pg_url: str, tmp_path: Path
) -> None:
    with running_cluster(pg_url, tmp_path) as cluster:
        cluster.start_node("a", "--fast")
        cluster.start_node("b", "--fast")
        clients = {n: NodeClient(cluster.nodes[n].admin_port) for n in ("a", "b")}
        wait_for_members(list(clients.values()), 2)
        workload = Workload(cluster, random.Random(15))
        for n in range(4):
            workload.start_match(n)
        finished_and_folded(pg_url, workload.rooms, list(clients.values()))
        statuses = {n: c.query("status") for n, c in clients.items()}
        folding = [n for n, s in statuses.items() if s.standby is None]
        assert len(folding) == 1, statuses  # exactly one node folds
        (folder,) = folding
        (other,) = {"a", "b"} - {folder}
        assert "serves queries" in statuses[other].standby
        seen = {n: answers(c, workload.rooms) for n, c in clients.items()}
        assert seen["a"] == seen["b"]
        assert len(seen["a"]["history"].items) == 4
        assert all(m is not None and m.summary.outcome == "finished" for m in seen["a"]["matches"])
        assert asyncio.run(pg_dump(PostgresTarget(pg_url))) == rebuilt(pg_url, "rebuilt_1")

        # The folding node dies; the other takes the lease, folds what is played after.
        cluster.kill(folder)
        survivor = clients[other]
        for n in range(4, 6):
            workload.start_match(n)
        finished_and_folded(pg_url, workload.rooms, [survivor])
        status = survivor.query("status")
        assert isinstance(status, RunnerStatus) and status.standby is None, status
        after = answers(survivor, workload.rooms)
        assert len(after["history"].items) == 6
        assert all(m is not None and m.summary.outcome == "finished" for m in after["matches"])
        assert asyncio.run(pg_dump(PostgresTarget(pg_url))) == rebuilt(pg_url, "rebuilt_2")
        assert survivor.query("no_such_query").code.value == "malformed_command"
