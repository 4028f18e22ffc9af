"""Engine.fork through the real actor runtime on real SQLite files, checked by replay-tool verify."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from msgspec.structs import replace

from actors.facade import Engine
from engine.codec import decode_records
from engine.commands import Reconnect, StartGame
from engine.events import ForkedFrom
from engine.evolve import fold
from engine.forking import ForkRefusal, ForkRefused
from engine.rejections import Rejection
from engine.state import Phase, RoomState
from replay_tool.cli import main as replay_tool
from tests.actors.conftest import (
    fast_config,
    start_bot_match,
    wait_for_archived,
    wait_for_game_over,
)

SHIFTED = ("dealt_at", "turn_since", "lead_not_before", "due_at", "abandon_at")


def states_by_version(events: list[object]) -> list[RoomState]:
    out, state = [], RoomState()
    for event in events:
        state = fold([event], state)  # type: ignore[list-item]
        out.append(state)
    return out


POINTS: dict[str, Callable[[RoomState], bool]] = {
    "mid-trick": lambda s: s.phase is Phase.TURN and 0 < len(s.plays) < 4,
    "trick complete, not yet won": lambda s: s.phase is Phase.TURN and len(s.plays) == 4,
    "redeal decision": lambda s: (
        s.phase is Phase.PREPARATION
        and not s.needs_deal
        and any(seat.weak and seat.redeal is None for seat in s.seats)
    ),
    "between rounds": lambda s: s.phase is Phase.SCORING,
}


def assert_same_but_moved(fork: RoomState, source: RoomState, room_id: str) -> None:
    """`fork` is `source` one version on, renamed, with its deadlines moved by one amount."""
    shift = fork.dealt_at - source.dealt_at
    expected = replace(
        source,
        version=source.version + 1,
        room_id=room_id,
        dealt_at=fork.dealt_at,
        turn_since=source.turn_since + shift,
        lead_not_before=source.lead_not_before + shift,
        due_at=None if source.due_at is None else source.due_at + shift,
        abandon_at=None if source.abandon_at is None else source.abandon_at + shift,
    )
    assert fork == expected


def test_forks_at_every_kind_of_point_equal_the_source_there_and_play_to_the_end(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"

    async def scenario() -> list[str]:
        forks: dict[str, tuple[str, int]] = {}
        async with Engine.open(db, fast_config(tmp_path, archive_after=None)) as engine:
            # Bots that are seeded alike play alike, so a few seeds give every kind of point.
            sources = [await start_bot_match(engine, f"h{seed}", seed) for seed in range(4)]
            await wait_for_game_over(engine, sources)
            before = {r: await engine.store.read_stream(r) for r in sources}
            for kind, wanted in POINTS.items():
                for source in sources:
                    events = decode_records(before[source])
                    found = [v for v, s in enumerate(states_by_version(events), 1) if wanted(s)]
                    if found:
                        forks[kind] = (source, found[len(found) // 2])
                        break
            assert set(forks) == set(POINTS), "some kind of point was never reached"
            fork_ids = []
            for source, n in forks.values():
                fork_id = await engine.fork(source, n)
                fork_ids.append(fork_id)
                copied = await engine.store.read_stream(fork_id, 0, n + 1)
                assert [(r.type, r.schema_version, r.data) for r in copied[:n]] == [
                    (r.type, r.schema_version, r.data) for r in before[source][:n]
                ]
                provenance = decode_records(copied[n:])[0]
                assert isinstance(provenance, ForkedFrom)
                assert (provenance.source_room, provenance.source_version) == (source, n)
                state = fold(decode_records(copied))
                assert_same_but_moved(state, fold(decode_records(before[source][:n])), fork_id)
            # Bots play every seat of the forks on to their end, from where the sources were.
            await wait_for_game_over(engine, fork_ids)
            for source in sources:
                assert await engine.store.read_stream(source) == before[source]
            return fork_ids

    for fork_id in asyncio.run(scenario()):
        assert replay_tool(["verify", fork_id, "--db", str(db), "--plain"]) == 0
    assert replay_tool(["verify", "--all", "--db", str(db), "--plain"]) == 0


def test_a_fork_of_an_archived_match_is_live_and_players_can_reconnect(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, archive_after=0.0)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            source = await start_bot_match(engine, "ann", seed=7)  # ann is disconnected
            await wait_for_game_over(engine, [source])
            await wait_for_archived(engine, [source])
            events = decode_records(await engine.store.read_stream(source))
            mid = next(
                v
                for v, s in enumerate(states_by_version(events), 1)
                if s.phase is Phase.DECLARATION
            )
            fork_id = await engine.fork(source, mid, new_code="FORK01")
            assert fork_id == "FORK01"
            back = await engine.send(fork_id, Reconnect(player="ann"))
            assert not isinstance(back, Rejection), back
            seen = await engine.view(fork_id, "ann")
            assert not isinstance(seen, Rejection)
            assert seen.room_id == "FORK01" and seen.my_seat == 0 and seen.hand
            info = await engine.store.stream_info(source)
            assert info is not None and info.status == "archived"

    asyncio.run(scenario())


def test_forks_that_cannot_be_made_are_refused_with_a_typed_error_and_write_nothing(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            source = await start_bot_match(engine, "ann", seed=3)
            await wait_for_game_over(engine, [source])
            last = len(await engine.store.read_stream(source))
            lobby = await engine.create_room("bea")
            assert not isinstance(lobby, Rejection)
            before = await engine.store.last_position()
            cases = [
                (source, last, None, ForkRefusal.MATCH_OVER),
                (source, 0, None, ForkRefusal.VERSION_OUT_OF_RANGE),
                (source, last + 1, None, ForkRefusal.VERSION_OUT_OF_RANGE),
                ("NOSUCH", 1, None, ForkRefusal.ROOM_NOT_FOUND),
                ("bad id", 1, None, ForkRefusal.INVALID_ROOM_ID),
                (source, 3, "lower!", ForkRefusal.INVALID_ROOM_ID),
                (source, 3, lobby.room_id, ForkRefusal.ROOM_EXISTS),
            ]
            for room, version, code, why in cases:
                with pytest.raises(ForkRefused) as refused:
                    await engine.fork(room, version, new_code=code)
                assert refused.value.code is why, (room, version, code)
            assert await engine.store.last_position() == before

    asyncio.run(scenario())


def test_a_fork_of_a_lobby_starts_its_own_game_and_its_source_waits_on(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(tmp_path / "games.db", fast_config(tmp_path)) as engine:
            created = await engine.create_room("ann")
            assert not isinstance(created, Rejection)
            source = created.room_id
            fork_id = await engine.fork(source, 1)
            started = await engine.send(fork_id, StartGame(player="ann"))
            assert not isinstance(started, Rejection), started
            seen = await engine.view(source)
            assert not isinstance(seen, Rejection) and seen.phase is Phase.WAITING

    asyncio.run(scenario())
