"""Spectators: no hand before it is played, never ahead of their delay, dropped when they stall."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from msgspec.structs import replace

from actors.facade import Accepted, Engine, Update
from actors.spectators import Events, Seconds, SpectatorDropped, spectator_frames
from engine.codec import decode_records
from engine.commands import Disconnect, StartGame
from engine.pieces import Piece
from engine.settings import RoomSettings
from engine.state import Phase
from engine.views import redact
from tests.actors.conftest import fast_config, start_bot_match, wait_for_game_over
from tests.domain.test_match_properties import Match, Plan, matches, plans

PIECE_NAMES = {p.value for p in Piece}


def hidden_pieces(shown: object, path: str = "") -> list[str]:
    """Where `shown` (any struct, encoded) holds pieces other than played ones: every list of
    pieces must sit under a `pieces` key (a play, in an event or in the view's tricks)."""
    found: list[str] = []
    if isinstance(shown, dict):
        for key, value in shown.items():
            if key != "pieces":
                found += hidden_pieces(value, f"{path}.{key}")
    elif isinstance(shown, list):
        if any(isinstance(x, str) and x in PIECE_NAMES for x in shown):
            found.append(path)
        for i, value in enumerate(shown):
            found += hidden_pieces(value, f"{path}[{i}]")
    return found


def leaks(shown: object) -> list[str]:
    return hidden_pieces(msgspec.to_builtins(shown))


def test_the_leak_check_finds_a_hand() -> None:
    dealt = {"type": "HandsDealt", "hands": [["GENERAL_RED"], [], [], []]}
    assert leaks(dealt) == [".hands[0]"]
    assert leaks({"type": "PiecesPlayed", "pieces": ["GENERAL_RED"]}) == []


@matches
@given(plan=plans)
def test_no_hidden_hand_ever_reaches_a_spectator(plan: Plan) -> None:
    played = Match(plan, lambda step: None)
    played.play()
    frames, state = spectator_frames(played.events)
    assert state.version == len(played.events)
    for frame in frames:
        assert leaks(frame) == [], frame
        assert frame.view.hand == () and frame.view.my_seat is None


def collect_until_over(
    engine: Engine, room: str, delay: Seconds | Events | None, seen: list[tuple[float, Update]]
) -> asyncio.Task[None]:
    async def watch() -> None:
        async for update in engine.subscribe(room, spectator=True, delay=delay):
            seen.append((engine.clock(), update))
            if update.view.phase is Phase.GAME_OVER:
                return

    return asyncio.get_running_loop().create_task(watch())


def test_spectators_never_see_an_event_before_its_delay_and_see_the_whole_match(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, archive_after=None, bot_delay=0.002, spectator_flush=0.02)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            room = await start_bot_match(engine, "ann", seed=2)
            by_time: list[tuple[float, Update]] = []
            by_events: list[tuple[float, Update]] = []
            live: list[tuple[float, Update]] = []
            watchers = [
                collect_until_over(engine, room, Seconds(0.3), by_time),
                collect_until_over(engine, room, Events(12), by_events),
                collect_until_over(engine, room, None, live),
            ]
            # How far the room was when each events-delayed update arrived.
            heads: list[tuple[int, int]] = []

            async def sample_heads() -> None:
                while not watchers[1].done():
                    if by_events:
                        info = await engine.store.stream_info(room)
                        assert info is not None
                        heads.append((len(by_events), info.last_version))
                    await asyncio.sleep(0.005)

            sampler = asyncio.get_running_loop().create_task(sample_heads())
            await asyncio.wait_for(asyncio.gather(*watchers, sampler), timeout=120)
            events = decode_records(await engine.store.read_stream(room))
            for seen in (by_time, by_events, live):
                received = [e for _, u in seen for e in u.events]
                assert [type(e) for e in received] == [type(e) for e in events]
                versions = [u.first_version for _, u in seen if u.events]
                assert versions == sorted(versions)
                for _, update in seen:
                    assert leaks(update) == []
            for at, update in by_time:
                for event in update.events:
                    assert event.at + 0.3 <= at, (event, at)
            for count, head in heads:
                last = max(u.first_version + len(u.events) - 1 for _, u in by_events[:count])
                over = by_events[count - 1][1].view.phase is Phase.GAME_OVER
                assert over or last <= head - 12, (last, head)

    asyncio.run(scenario())


def test_a_spectator_that_stops_reading_is_dropped_and_the_room_plays_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(
            tmp_path, archive_after=None, spectator_flush=0.01, spectator_max_lag=5
        )
        async with Engine.open(tmp_path / "games.db", config) as engine:
            created = await engine.create_room("ann")
            assert isinstance(created, Accepted), created
            room = created.room_id
            stalled = engine.subscribe(room, spectator=True)
            first = await stalled.__anext__()  # then it reads no more
            assert first.view.phase is Phase.WAITING
            live: list[tuple[float, Update]] = []
            reader = collect_until_over(engine, room, None, live)
            await asyncio.sleep(0.05)
            await engine.send(room, StartGame(player="ann"))
            await engine.send(room, Disconnect(player="ann"))
            await wait_for_game_over(engine, [room])
            await asyncio.wait_for(reader, timeout=30)
            with pytest.raises(SpectatorDropped):
                await stalled.__anext__()
            assert [u.view.phase for _, u in live][-1] is Phase.GAME_OVER

    asyncio.run(scenario())


def test_spectator_rounds_stretch_to_keep_within_their_share_of_the_loop(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(
            tmp_path,
            archive_after=None,
            bot_delay=0.002,
            spectator_flush=0.01,
            spectator_share=0.002,
            room_settings=replace(RoomSettings.fast(), round_cap=3, target_score=1_000_000),
        )
        async with Engine.open(tmp_path / "games.db", config) as engine:
            room = await start_bot_match(engine, "ann", seed=3)
            seen: list[list[tuple[float, Update]]] = [[] for _ in range(50)]
            watchers = [collect_until_over(engine, room, None, s) for s in seen]
            longest = 0.0  # the longest pause between two rounds seen

            async def sample() -> None:
                nonlocal longest
                while not all(w.done() for w in watchers):
                    rooms = engine._spectator_rooms
                    channel = rooms.channels.get(room) if rooms is not None else None
                    if channel is not None:
                        longest = max(longest, channel.interval)
                    await asyncio.sleep(0.005)

            await asyncio.wait_for(asyncio.gather(*watchers, sample()), timeout=120)
            assert longest > 3 * config.spectator_flush
            events = decode_records(await engine.store.read_stream(room))
            for got in seen:  # stretched rounds coalesce more, and lose nothing
                assert [e for _, u in got for e in u.events] == [redact(e, None) for e in events]
                assert len(got) < len(events)

    asyncio.run(scenario())
