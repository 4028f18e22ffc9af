"""What `send` hands back: outcomes redacted for the acting player, and command ids that
belong to the player who sent them (also after a restart, when the store answers)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors.facade import Accepted, Engine
from engine.commands import JoinRoom, LeaveRoom, RemovePlayer, StartGame
from engine.events import HandsDealt, PlayerJoined, PlayerRemoved
from engine.rejections import Code, Rejection
from engine.state import Phase
from engine.store.errors import StoreUnavailable
from tests.actors.conftest import fast_config


def dealt(outcome: Accepted | Rejection) -> HandsDealt:
    assert isinstance(outcome, Accepted), outcome
    (deal,) = [e for e in outcome.events if isinstance(e, HandsDealt)]
    return deal


async def alice_room(engine: Engine, seed: int) -> str:
    """A new room hosted by alice (bots in seats 2-4); returns its id."""
    created = await engine.create_room("alice", seed=seed)
    assert isinstance(created, Accepted), created
    return created.room_id


async def seat_bob(engine: Engine, room: str) -> None:
    removed = await engine.send(room, RemovePlayer(player="alice", seat=1, command_id="x"))
    assert isinstance(removed, Accepted) and isinstance(removed.events[0], PlayerRemoved)
    joined = await engine.send(room, JoinRoom(player="bob", command_id="x"))
    # Bob's "x" is his own command, not alice's removal answered again.
    assert isinstance(joined, Accepted) and not joined.duplicate, joined
    assert [type(e) for e in joined.events] == [PlayerJoined]
    assert joined.first_version == removed.last_version + 1


def test_an_outcome_shows_only_the_acting_players_hand_unless_asked_in_full(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            room = await alice_room(engine, seed=11)
            await seat_bob(engine, room)
            start = StartGame(player="alice", command_id="go")
            mine = dealt(await engine.send(room, start))
            assert len(mine.hands[0]) == 8 and mine.hands[1:] == ((), (), ())
            again = await engine.send(room, start)
            assert isinstance(again, Accepted) and again.duplicate
            assert dealt(again) == mine  # a resent command is redacted the same way
            full = dealt(await engine.send(room, start, redact=False))
            assert full.hands[0] == mine.hands[0]
            assert all(len(hand) == 8 for hand in full.hands)
            bob = await engine.view(room, "bob")
            assert not isinstance(bob, Rejection) and bob.hand == full.hands[1]

    asyncio.run(scenario())


def test_command_ids_are_per_player_in_memory_and_after_a_restart(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, archive_after=None)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            room = await alice_room(engine, seed=5)
            await seat_bob(engine, room)
        # After a restart the room's memory is rebuilt from the store's command records.
        async with Engine.open(tmp_path / "games.db", config) as engine:
            alice = await engine.send(room, RemovePlayer(player="alice", seat=1, command_id="x"))
            bob = await engine.send(room, JoinRoom(player="bob", command_id="x"))
            assert isinstance(alice, Accepted) and alice.duplicate
            assert isinstance(bob, Accepted) and bob.duplicate
            assert [type(e) for e in alice.events] == [PlayerRemoved]
            assert [type(e) for e in bob.events] == [PlayerJoined]
            # A third player's "x" is a new command of hers, refused on its own merits.
            carol = await engine.send(room, LeaveRoom(player="carol", command_id="x"))
            assert isinstance(carol, Rejection) and carol.code is Code.NOT_IN_ROOM

    asyncio.run(scenario())


def test_a_resent_command_whose_outcome_cannot_be_read_is_answered_not_left_waiting(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            room = await alice_room(engine, seed=2)
            start = StartGame(player="alice", command_id="go")
            assert isinstance(await engine.send(room, start), Accepted)
            store = engine.store
            real = store.read_stream

            async def failing(*args: object, **kwargs: object) -> object:
                raise StoreUnavailable("injected: the disk is gone")

            store.read_stream = failing  # type: ignore[assignment,method-assign]
            again = await asyncio.wait_for(engine.send(room, start), timeout=10)
            assert isinstance(again, Rejection) and again.code is Code.UNAVAILABLE
            store.read_stream = real  # type: ignore[method-assign]
            healed = await engine.send(room, start)
            assert isinstance(healed, Accepted) and healed.duplicate

    asyncio.run(scenario())


def test_a_bot_match_starts_with_the_host_disconnected_or_names_the_refused_step(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            started = await engine.start_bot_match("host", seed=5)
            assert isinstance(started, Accepted), started
            seen = await engine.view(started.room_id)
            assert not isinstance(seen, Rejection)
            assert seen.seats[0].name == "host" and not seen.seats[0].connected
            assert seen.phase is not Phase.WAITING
            refused = await engine.start_bot_match("Bot 2")  # a name reserved for bots
            assert isinstance(refused, Rejection) and refused.code is Code.NAME_RESERVED

    asyncio.run(scenario())
