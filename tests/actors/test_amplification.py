"""Amplification: what a client can make the engine hold by asking for nothing that exists,
or by subscribing and never reading, stays bounded."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from actors.facade import Accepted, Engine, SubscriptionLost
from actors.room import RoomActor
from engine.commands import AddBot, Command, JoinRoom, RemovePlayer
from engine.rejections import Code, Rejection
from tests.actors.conftest import fast_config, wait_until

PROBES = 300


def probe_ids(count: int) -> list[str]:
    return [f"P{i:05d}" for i in range(count)]


def live_room_actors() -> int:
    """Room actor objects still reachable in this process (thespian keeps live ones),
    the frozen ones included (the engine freezes the survivors of a full collection)."""
    gc.collect()
    gc.unfreeze()  # the next full collection freezes them again
    return sum(1 for o in gc.get_objects() if isinstance(o, RoomActor))


def registry(engine: Engine) -> dict[str, object]:
    """thespian's registry of actor addresses (the engine runs simpleSystemBase)."""
    found: dict[str, object] = engine.driver.asys._systemBase.actorRegistry
    return found


def test_sends_and_views_to_rooms_that_do_not_exist_leave_no_live_actor(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, projections=False, sweep_interval=0.05)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("ann", room_id="REAL01")
            assert isinstance(created, Accepted), created
            before = live_room_actors()
            addresses = len(registry(engine))
            for i, room in enumerate(probe_ids(PROBES)):
                if i % 2:
                    outcome = await engine.send(room, JoinRoom(player=f"x{i}"), rate_limited=False)
                else:
                    outcome = await engine.view(room)
                assert isinstance(outcome, Rejection), outcome
                assert outcome.code is Code.ROOM_NOT_FOUND
            await asyncio.sleep(0)
            assert engine.metrics()["live_rooms"] == 1  # the real room only
            assert live_room_actors() == before
            assert await engine.store.stream_info("P00001") is None  # nothing written

            async def swept() -> bool:  # the next sweep forgets the exited actors' addresses
                return None not in registry(engine).values()

            await wait_until(swept, timeout=10)
            assert len(registry(engine)) <= addresses
            # A probed id can still be created, and the real room still plays.
            again = await engine.create_room("bob", room_id="P00001")
            assert isinstance(again, Accepted), again
            kicked = await engine.send("REAL01", RemovePlayer(player="ann", seat=3))
            assert isinstance(kicked, Accepted), kicked
            assert engine.metrics()["live_rooms"] == 2

    asyncio.run(scenario())


def test_a_subscriber_that_stops_reading_is_cut_at_max_queue(tmp_path: Path) -> None:
    max_queue = 5

    async def scenario() -> None:
        config = fast_config(tmp_path, projections=False)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("ann", room_id="QUEUE1")
            assert isinstance(created, Accepted), created
            stalled = engine.subscribe("QUEUE1", "ann", max_queue=max_queue)
            await stalled.__anext__()  # caught up; then it reads no more
            for i in range(4 * max_queue):
                steps: tuple[Command, ...] = (
                    RemovePlayer(player="ann", seat=1),
                    AddBot(player="ann", seat=1),
                )
                for step in steps:
                    done = await engine.send("QUEUE1", step, rate_limited=False)
                    assert isinstance(done, Accepted), (i, done)
                assert engine.metrics()["subscriber_queue_max"] <= max_queue
            assert engine.metrics()["subscribers_cut"] == 1
            with pytest.raises(SubscriptionLost) as lost:
                await stalled.__anext__()
            assert lost.value.reason == "fell_behind"
            await stalled.aclose()

            async def unwatched() -> bool:
                return "QUEUE1" not in engine.driver.subscribers

            await wait_until(unwatched, timeout=5)

    asyncio.run(scenario())
