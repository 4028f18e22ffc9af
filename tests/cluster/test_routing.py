"""A command sent on one node for a room another node owns is applied there, exactly once."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import asyncpg
from msgspec.structs import replace

from actors.cluster.client import NodeClient
from actors.cluster.wire import NodeStatus
from actors.facade import Accepted
from engine.commands import CreateRoom, Disconnect, StartGame
from engine.settings import RoomSettings
from engine.views import PlayerView
from tests.cluster.harness import Cluster, running_cluster


def wait_for_members(clients: list[NodeClient], count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = [c.status(5.0) for c in clients]
        if all(isinstance(s, NodeStatus) and len(s.members) == count for s in seen):
            return
        time.sleep(0.05)
    raise AssertionError(f"members not agreed: {seen}")


def room_owned_by(cluster: Cluster, node_id: str) -> str:
    for n in itertools.count():
        room_id = f"R{n:05d}"
        if cluster.owner_of(room_id) == node_id:
            return room_id
    raise AssertionError("unreachable")


async def stored(url: str, room_id: str) -> tuple[list[str], str | None, int]:
    """The room's recorded command ids, its owner in the store, and its event count."""
    conn = await asyncpg.connect(url)
    try:
        commands = await conn.fetch(
            "SELECT command_id FROM liaptui.commands WHERE stream_id = $1 ORDER BY first_version",
            room_id,
        )
        owner = await conn.fetchval(
            "SELECT node_id FROM liaptui.room_owners WHERE room_id = $1", room_id
        )
        events = await conn.fetchval(
            "SELECT count(*) FROM liaptui.events WHERE stream_id = $1", room_id
        )
        return [r["command_id"] for r in commands], owner, int(events)
    finally:
        await conn.close()


def test_a_command_sent_to_another_node_is_applied_once_by_the_owner_and_followed_anywhere(
    pg_url: str, tmp_path: Path
) -> None:
    with running_cluster(pg_url, tmp_path) as cluster:
        cluster.start_node("a", "--fast")
        cluster.start_node("b", "--fast")
        a = NodeClient(cluster.nodes["a"].admin_port)
        b = NodeClient(cluster.nodes["b"].admin_port)
        wait_for_members([a, b], 2)
        room_id = room_owned_by(cluster, "b")
        create = CreateRoom(
            player="alice",
            command_id="create-1",
            room_id=room_id,
            seed=7,
            settings=RoomSettings.fast(),
        )
        first = a.send(room_id, create)
        assert isinstance(first, Accepted) and not first.duplicate, first
        again = a.send(room_id, create)  # a retry through the same node
        assert isinstance(again, Accepted) and again.duplicate
        assert again.first_version == first.first_version
        from_b = b.send(room_id, create)  # and through the owner itself
        assert isinstance(from_b, Accepted) and from_b.duplicate
        started = a.send(room_id, StartGame(player="alice", command_id="start-1"))
        assert isinstance(started, Accepted) and started.first_version == first.last_version + 1
        assert a.send(room_id, StartGame(player="alice", command_id="start-1")) == replace(
            started, duplicate=True
        )
        seen = a.view(room_id, "alice")
        assert isinstance(seen, PlayerView) and seen.version >= started.last_version
        commands, owner, events = asyncio.run(stored(pg_url, room_id))
        assert commands[:2] == ["alice/create-1", "alice/start-1"]
        assert commands.count("alice/create-1") == commands.count("alice/start-1") == 1
        assert owner == "b"
        assert events >= started.last_version
        # A subscriber on a follows the room that lives on b: catch-up, then each commit.
        updates = a.subscribe(room_id, "alice", from_version=seen.version)
        try:
            catch_up = next(updates)
            assert catch_up.view.version >= seen.version
            moved = b.send(room_id, Disconnect(player="alice", command_id="leave-1"))
            assert isinstance(moved, Accepted)
            update = next(updates)
            while update.first_version + len(update.events) - 1 < moved.last_version:
                update = next(updates)
            assert update.view.version >= moved.last_version
        finally:
            updates.close()
        status_a, status_b = a.status(), b.status()
        assert isinstance(status_a, NodeStatus) and isinstance(status_b, NodeStatus)
        assert status_a.counts["forwarded"] >= 4 and status_b.counts["served"] >= 4
        assert status_a.owned == 0  # nothing of this room was ever loaded on a
