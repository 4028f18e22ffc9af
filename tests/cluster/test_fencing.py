"""Only a room's owner at its epoch appends: a node whose lease ran out, or whose room was
claimed by another, is refused by the store in the append's own statement."""

from __future__ import annotations

import asyncio
import time

from engine.store.errors import ConcurrencyConflict, OwnershipLost
from engine.store.postgres.cluster import FencedPostgresStore, Registry
from engine.store.records import AppendRequest, AppendResult, NewEvent

LEASE = 1.0


def append(room_id: str, expected: int, command_id: str) -> AppendRequest:
    return AppendRequest(room_id, expected, (NewEvent("Probe", 1, b"x"),), command_id, b"c", 1.0)


async def node(url: str, node_id: str) -> tuple[Registry, FencedPostgresStore]:
    store = await FencedPostgresStore.open(url)
    registry = await Registry.connect(url, node_id)
    store.node_id = node_id
    store.epoch = await registry.join(node_id.encode(), node_id, LEASE)
    return registry, store


async def one(store: FencedPostgresStore, req: AppendRequest) -> AppendResult | ConcurrencyConflict:
    (result,) = await store.append_batch([req])
    return result


def test_a_paused_owner_is_fenced_once_its_lease_ran_out_and_its_room_was_claimed(
    pg_url: str,
) -> None:
    async def scenario() -> None:
        reg_a, store_a = await node(pg_url, "a")
        reg_b, store_b = await node(pg_url, "b")
        try:
            assert await reg_a.claim(["ROOM01"]) == {"ROOM01"}
            assert isinstance(await one(store_a, append("ROOM01", 0, "c1")), AppendResult)
            # a is live and owns the room: b may neither claim it nor write to it. (a beats
            # first, so a slow start of b's connections cannot have run a's lease out.)
            assert (await reg_a.beat(LEASE)).renewed
            assert await reg_b.claim(["ROOM01"]) == set()
            refused = await one(store_b, append("ROOM01", 1, "c2"))
            assert isinstance(refused, OwnershipLost)
            # a pauses (no beats) past its lease; b sees it gone and takes the room.
            for _ in range(7):
                await asyncio.sleep(LEASE / 5)
                beat = await reg_b.beat(LEASE)
            assert [m.node_id for m in beat.members] == ["b"]
            assert await reg_b.claim(["ROOM01"]) == {"ROOM01"}
            # a wakes up and tries to write at the version it knows: fenced, nothing written.
            zombie = await one(store_a, append("ROOM01", 1, "c3"))
            assert isinstance(zombie, OwnershipLost)
            assert [e.version for e in await store_a.read_stream("ROOM01")] == [1]
            assert isinstance(await one(store_b, append("ROOM01", 1, "c4")), AppendResult)
            # a's lease stays lapsed: its beat does not renew it, it must join anew.
            assert not (await reg_a.beat(LEASE)).renewed
            commands = await store_b.read_commands("ROOM01")
            assert [c.command_id for c in commands] == ["c1", "c4"]
        finally:
            for closing in (store_a, store_b, reg_a, reg_b):
                await closing.close()

    asyncio.run(scenario())


def test_a_node_whose_connection_died_is_out_at_the_next_beat_not_at_lease_expiry(
    pg_url: str,
) -> None:
    async def scenario() -> None:
        reg_a, store_a = await node(pg_url, "a")
        reg_b, store_b = await node(pg_url, "b")
        try:
            await store_a.close()
            assert await reg_a.claim(["ROOM02"]) == {"ROOM02"}
            reg_a.conn.terminate()  # as when the process is SIGKILLed: its lock is freed
            started = time.monotonic()
            while True:
                beat = await reg_b.beat(10.0)
                if [m.node_id for m in beat.members] == ["b"]:
                    break
                await asyncio.sleep(0.01)
            assert time.monotonic() - started < LEASE / 2  # the lock told, not the lease
            assert await reg_b.claim(["ROOM02"]) == {"ROOM02"}
        finally:
            await reg_a.pool.close()
            for closing in (store_b, reg_b):
                await closing.close()

    asyncio.run(scenario())
