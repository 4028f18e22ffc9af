"""Room actor behaviours: restarts, passivation, idempotency, subscriptions, seats, views."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

import actors.room
from actors.clock import WakeRoom
from actors.commits import GATHER_MAX
from actors.facade import SWEEP_EVERY, Accepted, Engine, Update, _HeapFreezer
from actors.messages import Route
from engine.commands import AddBot, Declare, JoinRoom, Play, RemovePlayer, StartGame
from engine.events import HandsDealt
from engine.rejections import Code, Rejection
from engine.state import Phase
from tests.actors.conftest import (
    fast_config,
    no_engine_tasks,
    start_bot_match,
    wait_for_game_over,
    wait_until,
)
from tests.reliability.harness import FakeClock


def test_a_room_whose_handler_raises_is_rebuilt_and_its_match_finishes_without_lost_or_doubled_events(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_execute = actors.room.execute
    calls = {"n": 0}

    def flaky_execute(state: Any, command: Any) -> Any:
        calls["n"] += 1
        if calls["n"] in (40, 41, 200):
            raise RuntimeError("injected fault")
        return real_execute(state, command)

    monkeypatch.setattr(actors.room, "execute", flaky_execute)

    async def scenario() -> None:
        async with Engine.open(
            tmp_path / "games.db", fast_config(tmp_path, archive_after=None)
        ) as engine:
            room = await start_bot_match(engine, "host", seed=3)
            await wait_for_game_over(engine, [room])
            assert engine.metrics()["room_crash"] == 3
            records = await engine.store.read_stream(room)
            assert [r.version for r in records] == list(range(1, len(records) + 1))
            commands = await engine.store.read_commands(room)
            ids = [c.command_id for c in commands]
            assert len(ids) == len(set(ids))

    asyncio.run(scenario())


def test_a_passivated_room_reactivates_with_identical_state(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, passivate_after=0.2, sweep_interval=0.05, snapshot_every=1)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("alice", seed=1)
            assert isinstance(created, Accepted)
            room = created.room_id
            assert isinstance(
                await engine.send(room, RemovePlayer(player="alice", seat=2)), Accepted
            )
            before = await engine.view(room, "alice")

            async def passivated() -> bool:
                return engine.metrics().get("room_passivate", 0) == 1

            await wait_until(passivated, timeout=10)
            assert engine.metrics()["live_rooms"] == 0
            after = await engine.view(room, "alice")
            assert after == before
            assert engine.metrics()["room_recover"] == 1

    asyncio.run(scenario())


def test_a_duplicate_command_id_is_applied_once_and_answers_the_original_outcome(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            created = await engine.create_room("alice", seed=1)
            assert isinstance(created, Accepted)
            room = created.room_id
            first = await engine.send(
                room, RemovePlayer(player="alice", seat=3, command_id="kick-1")
            )
            again = await engine.send(
                room, RemovePlayer(player="alice", seat=3, command_id="kick-1")
            )
            assert isinstance(first, Accepted) and isinstance(again, Accepted)
            assert again.duplicate and again.events == first.events
            assert again.first_version == first.first_version
            records = await engine.store.read_stream(room)
            assert [r.type for r in records].count("PlayerRemoved") == 1

    asyncio.run(scenario())


def test_a_command_id_retried_after_a_restart_is_not_applied_twice(tmp_path: Path) -> None:
    async def first_run() -> str:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            created = await engine.create_room("alice", seed=1)
            assert isinstance(created, Accepted)
            outcome = await engine.send(
                created.room_id, RemovePlayer(player="alice", seat=1, command_id="k")
            )
            assert isinstance(outcome, Accepted)
            return created.room_id

    async def second_run(room: str) -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            retry = await engine.send(room, RemovePlayer(player="alice", seat=1, command_id="k"))
            # The seat is already empty, so deciding again would be refused: the original stands.
            assert isinstance(retry, Accepted) and retry.duplicate
            records = await engine.store.read_stream(room)
            assert [r.type for r in records].count("PlayerRemoved") == 1

    room = asyncio.run(first_run())
    asyncio.run(second_run(room))


async def _collect(
    engine: Engine, room: str, player: str | None, from_version: int, until_over: bool
) -> list[Update]:
    updates: list[Update] = []
    async for update in engine.subscribe(room, player, from_version):
        updates.append(update)
        if not until_over or update.view.phase is Phase.GAME_OVER:
            break
    return updates


def test_subscriptions_deliver_every_event_once_in_order_and_catch_up_from_a_version(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(
            tmp_path / "games.db", fast_config(tmp_path, bot_delay=0.001)
        ) as engine:
            created = await engine.create_room("alice", seed=9)
            assert isinstance(created, Accepted)
            room = created.room_id
            live = asyncio.create_task(_collect(engine, room, None, 0, until_over=True))
            await asyncio.sleep(0.05)
            await start_game_and_leave(engine, room)
            updates = await asyncio.wait_for(live, timeout=60)
            versions = [u.first_version + i for u in updates for i in range(len(u.events))]
            records = await engine.store.read_stream(room)
            assert versions == [r.version for r in records]
            late = await _collect(engine, room, None, 10, until_over=False)
            assert late[0].first_version == 11
            assert [type(e).__name__ for e in late[0].events] == [r.type for r in records[10:]]

    asyncio.run(scenario())


async def start_game_and_leave(engine: Engine, room: str) -> None:
    from engine.commands import Disconnect

    for command in (StartGame(player="alice"), Disconnect(player="alice")):
        assert isinstance(await engine.send(room, command), Accepted)


def test_a_player_cannot_act_for_another_seat_and_views_hide_other_hands(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, bot_delay=30.0)  # bots wait, so the humans are asked
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("alice", seed=4)
            assert isinstance(created, Accepted)
            room = created.room_id
            assert isinstance(
                await engine.send(room, RemovePlayer(player="alice", seat=1)), Accepted
            )
            assert isinstance(await engine.send(room, JoinRoom(player="bob")), Accepted)
            refused = await engine.send(room, AddBot(player="bob", seat=1))
            assert (
                isinstance(refused, Rejection)
                and refused.code is Code.SEAT_OCCUPIED
                or refused.code is Code.NOT_HOST
            )  # type: ignore[union-attr]
            started = await engine.send(room, StartGame(player="alice"))
            assert isinstance(started, Accepted)
            alice = await engine.view(room, "alice")
            bob = await engine.view(room, "bob")
            assert not isinstance(alice, Rejection) and not isinstance(bob, Rejection)
            dealt = [e for e in started.events if isinstance(e, HandsDealt)][-1]
            # Alice's own outcome shows her hand and no one else's.
            assert alice.hand == dealt.hands[0] and dealt.hands[1:] == ((), (), ())
            assert len(bob.hand) == 8
            assert all(s.hand_size == 8 for s in alice.seats)
            # Bob may never declare or play for alice's seat, whoever's turn it is.
            for command in (Declare(player="bob", piles=1), Play(player="bob", indices=(0,))):
                outcome = await engine.send(room, command)
                if alice.turn == 0 or alice.phase is not Phase.DECLARATION:
                    assert isinstance(outcome, Rejection)
            bot_as_alice = await engine.send(room, Declare(player="Bot 1", piles=1))
            assert isinstance(bot_as_alice, Rejection) and bot_as_alice.code is Code.NOT_IN_ROOM
            async for update in engine.subscribe(room, "bob"):
                hands = [e.hands for e in update.events if isinstance(e, HandsDealt)]
                assert hands and all(
                    h[0] == () and h[2] == () and h[3] == () and len(h[1]) == 8 for h in hands
                )
                break

    asyncio.run(scenario())


def test_commands_beyond_the_rate_limit_are_refused_with_a_typed_rejection(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, rate_per_second=1.0, rate_burst=3.0)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("alice", seed=1)
            assert isinstance(created, Accepted)
            outcomes = [
                await engine.send(created.room_id, JoinRoom(player="alice")) for _ in range(6)
            ]
            limited = [
                o for o in outcomes if isinstance(o, Rejection) and o.code is Code.RATE_LIMITED
            ]
            assert len(limited) == 3
            assert 'code="rate_limited"' in engine.prometheus()

    asyncio.run(scenario())


def test_every_metric_family_has_help_and_type_and_every_sample_a_family(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            await start_bot_match(engine, "host", seed=3)
            await wait_until(lambda: no_engine_tasks(engine))
            text = engine.prometheus()
        helped: set[str] = set()
        typed: dict[str, str] = {}
        for line in text.splitlines():
            if line.startswith("# HELP "):
                name, _, words = line[len("# HELP ") :].partition(" ")
                assert words.strip(), line
                helped.add(name)
            elif line.startswith("# TYPE "):
                name, kind = line[len("# TYPE ") :].split()
                assert name in helped, f"{name} has TYPE without HELP before it"
                typed[name] = kind
            elif line:
                sample = line.split("{")[0].split()[0]
                base = sample.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count")
                assert sample in typed or (typed.get(base) == "histogram"), line
                float(line.rsplit(" ", 1)[1])
        assert typed["liaptui_commands_total"] == "counter"
        assert typed["liaptui_command_latency_seconds"] == "histogram"
        assert typed["liaptui_projection_behind_events"] == "gauge"

    asyncio.run(scenario())


def test_thespian_still_has_the_wakeup_scan_the_driver_skips_and_wakeups_still_work() -> None:
    # If thespian's internals change, the engine keeps working but loses the saving:
    # this test says so instead of letting it pass unseen.
    from thespian.actors import Actor, ActorSystem, WakeupMessage

    from actors.driver import skip_idle_wakeups

    class Sleeper(Actor):  # type: ignore[misc]
        def receiveMessage(self, message: object, sender: object) -> None:
            if message == "nap":
                self.asker = sender
                self.wakeupAfter(0.01)
            elif isinstance(message, WakeupMessage):
                self.send(self.asker, "awake")

    asys = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        assert skip_idle_wakeups(asys)
        # An actor that does ask for a wakeup still gets it.
        assert asys.ask(asys.createActor(Sleeper), "nap", 2.0) == "awake"
    finally:
        asys.shutdown()


def test_a_burst_of_due_timers_is_fired_a_slice_at_a_time(tmp_path: Path) -> None:
    """1,000 rooms' bot timers bunch up; fired in one go they held the event loop for
    ~10 ms. With `max_slice=0` the clock must yield after every timer it fires."""
    clock = FakeClock()
    config = fast_config(tmp_path, bot_delay=1.0, max_slice=0.0, projections=False)

    def due(engine: Engine) -> int:
        return sum(
            1 for at, _, timer in engine.driver.timers if isinstance(timer, WakeRoom) and at <= clock()
        )

    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", config, clock=clock) as engine:
            for n in range(20):
                await start_bot_match(engine, f"h{n}", seed=n)
            await wait_until(lambda: no_engine_tasks(engine))
            assert due(engine) == 0
            clock.advance(5.0)  # every room's bot is due at once
            assert due(engine) == 20
            engine.driver.timer_changed.set()
            seen = []
            while due(engine):
                await asyncio.sleep(0)
                seen.append(due(engine))
            # Others ran between the firings: the count went down a few at a time.
            assert len([n for n in seen if 0 < n < 20]) >= 5, seen

    asyncio.run(scenario())


def test_a_lone_command_is_committed_and_answered_within_the_call_that_delivers_it(
    tmp_path: Path,
) -> None:
    """An inline commit settles at once: the reply does not wait for a task of its own
    behind everything else the event loop has queued."""
    config = fast_config(tmp_path, bot_delay=3600.0, projections=False)

    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("alice", seed=1)
            assert isinstance(created, Accepted)
            await wait_until(lambda: no_engine_tasks(engine))
            command = RemovePlayer(player="alice", seat=1, command_id="k", at=engine.clock())
            reply = engine.driver.request(lambda r: Route(r, created.room_id, command))
            assert reply.done(), "the command's commit went to a task"
            assert [type(e).__name__ for e in reply.result().outcome] == ["PlayerRemoved"]
            records = await engine.store.read_stream(created.room_id)
            assert records[-1].version == reply.result().first_version

    asyncio.run(scenario())


async def _rooms_of_alice(engine: Engine, count: int) -> list[str]:
    rooms = []
    for n in range(count):
        created = await engine.create_room(f"alice{n}", seed=n)
        assert isinstance(created, Accepted), created
        rooms.append(created.room_id)
    return rooms


def _remove_bots(engine: Engine, rooms: list[str], first: int = 0) -> list[asyncio.Future[Any]]:
    """Each room's host (rooms[i] is alice{first + i}'s) removes a bot, all delivered at
    once; the replies' futures."""
    return [
        engine.driver.request(
            lambda r, room=room, host=f"alice{first + n}": Route(
                r, room, RemovePlayer(player=host, seat=1, command_id="k", at=engine.clock())
            )
        )
        for n, room in enumerate(rooms)
    ]


def test_appends_arriving_faster_than_gather_above_wait_for_company_and_share_one_commit(
    tmp_path: Path,
) -> None:
    """While appends arrive faster than `gather_above` a second, a small batch waits
    `commit_delay` before it commits; the appends that came meanwhile commit with it,
    however many (an inline commit of any size), and each gets its own outcome."""
    plain = fast_config(tmp_path, bot_delay=3600.0, projections=False)
    gathering = fast_config(
        tmp_path, bot_delay=3600.0, projections=False, gather_above=0.0, commit_delay=0.2
    )

    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", plain) as engine:
            rooms = await _rooms_of_alice(engine, 12)
        async with Engine.open(tmp_path / "games.db", gathering) as engine:
            for room in rooms:  # recovered from the store before the timed part
                assert not isinstance(await engine.view(room), Rejection)
            await wait_until(lambda: no_engine_tasks(engine))
            counters = engine.driver.metrics.counters
            commits = counters["commits"]
            replies = _remove_bots(engine, rooms)
            assert not any(reply.done() for reply in replies), "a batch did not wait"
            await asyncio.sleep(0.05)
            assert not any(reply.done() for reply in replies), "a batch did not wait"
            outcomes = await asyncio.wait_for(asyncio.gather(*replies), 5.0)
            assert counters["commits"] == commits + 1  # twelve rooms, one commit
            for room, outcome in zip(rooms, outcomes, strict=True):
                assert [type(e).__name__ for e in outcome.outcome] == ["PlayerRemoved"]
                records = await engine.store.read_stream(room)
                assert records[-1].version == outcome.first_version

    asyncio.run(scenario())


def test_with_group_commit_off_nothing_waits_for_company(tmp_path: Path) -> None:
    """`group_commit=False` commits each append on its own (the benchmarks' comparison):
    one at a time, each waiting for company, the appends would trickle out."""
    plain = fast_config(tmp_path, bot_delay=3600.0, projections=False)
    single = fast_config(
        tmp_path,
        bot_delay=3600.0,
        projections=False,
        group_commit=False,
        gather_above=0.0,
        commit_delay=3600.0,
    )

    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", plain) as engine:
            rooms = await _rooms_of_alice(engine, 3)
        async with Engine.open(tmp_path / "games.db", single) as engine:
            for room in rooms:
                assert not isinstance(await engine.view(room), Rejection)
            await wait_until(lambda: no_engine_tasks(engine))
            commits = engine.driver.metrics.counters["commits"]
            outcomes = await asyncio.wait_for(asyncio.gather(*_remove_bots(engine, rooms)), 5.0)
            assert all(o.outcome for o in outcomes)
            assert engine.driver.metrics.counters["commits"] == commits + 3

    asyncio.run(scenario())


def test_gathering_appends_commit_at_once_when_gather_max_wait_and_when_the_engine_stops(
    tmp_path: Path,
) -> None:
    """However long `commit_delay`, GATHER_MAX waiting appends commit at once, and
    stopping the engine commits what waits: nothing acknowledged waits forever."""
    plain = fast_config(tmp_path, bot_delay=3600.0, projections=False)
    slow = fast_config(
        tmp_path, bot_delay=3600.0, projections=False, gather_above=0.0, commit_delay=3600.0
    )

    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", plain) as engine:
            rooms = await _rooms_of_alice(engine, GATHER_MAX + 1)
        async with Engine.open(tmp_path / "games.db", slow) as engine:
            for room in rooms:
                assert not isinstance(await engine.view(room), Rejection)
            await wait_until(lambda: no_engine_tasks(engine))
            first = _remove_bots(engine, rooms[:GATHER_MAX])
            outcomes = await asyncio.wait_for(asyncio.gather(*first), 5.0)
            assert all(isinstance(o.outcome, tuple) and o.outcome for o in outcomes)
            last = _remove_bots(engine, rooms[GATHER_MAX:], GATHER_MAX)
            await asyncio.sleep(0.05)
            assert not last[0].done(), last[0].result()  # one append waits for company...
        (stopped,) = await asyncio.gather(*last)  # ...until the engine stops
        assert [type(e).__name__ for e in stopped.outcome] == ["PlayerRemoved"]
        async with Engine.open(tmp_path / "games.db", plain) as engine:
            records = await engine.store.read_stream(rooms[-1])
            assert records[-1].version == stopped.first_version

    asyncio.run(scenario())


def test_the_survivors_of_a_full_collection_are_frozen_and_a_periodic_sweep_thaws_them() -> None:
    """Full collections scan only what came since the last one; once every SWEEP_EVERY
    seconds everything is thawed, so the next one scans (and frees cycles in) it all."""
    now = [0.0]
    freezer = _HeapFreezer(lambda: now[0])
    gc.unfreeze()
    try:
        kept = [[n] for n in range(1000)]  # tracked objects that survive
        freezer.after_collection("stop", {"generation": 1})
        freezer.after_collection("start", {"generation": 2})
        assert gc.get_freeze_count() == 0  # only the end of a full collection freezes
        freezer.after_collection("stop", {"generation": 2})
        assert gc.get_freeze_count() >= len(kept)
        now[0] = SWEEP_EVERY
        freezer.after_collection("stop", {"generation": 2})
        assert gc.get_freeze_count() == 0  # the sweep: the next full collection sees all
        now[0] = SWEEP_EVERY + 1.0
        freezer.after_collection("stop", {"generation": 2})
        assert gc.get_freeze_count() >= len(kept)
    finally:
        gc.freeze()


def test_an_engine_installs_the_heap_freezer_once_per_process(tmp_path: Path) -> None:
    async def scenario() -> None:
        for name in ("a", "b"):
            async with Engine.open(tmp_path / f"{name}.db", fast_config(tmp_path)):
                pass

    asyncio.run(scenario())
    freezers = [c for c in gc.callbacks if getattr(c, "__self__", None).__class__ is _HeapFreezer]
    assert len(freezers) == 1
