"""Fuzzing: malformed input gets a typed refusal every time, crashes nothing, changes nothing.

Random bytes and random msgpack maps go through `engine.codec.decode_command`; commands
with wrong types, huge values, unknown tags, the wrong player, the wrong phase and reused
ids go through `engine.send` of a real engine. Every outcome is a `Rejection` (or, for a
command that happens to be legal, exactly what the pure decider says), arrives at all (a
failing room once left its caller waiting forever), leaves the store and every view as
they were, and no room actor fails. Many bad commands cost bounded memory.
"""

from __future__ import annotations

import asyncio
import gc
import random
import shutil
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Accepted, validated
from engine.codec import MalformedCommand, decode_command, encode_command
from engine.commands import (
    AddBot,
    Command,
    CreateRoom,
    DecideRedeal,
    Declare,
    Disconnect,
    JoinRoom,
    LeaveRoom,
    Play,
    Reconnect,
    RemovePlayer,
    StartGame,
    Tick,
)
from engine.decider import execute
from engine.pieces import Piece
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from engine.state import Phase
from tests.reliability.harness import (
    FINISHED,
    LONG,
    EngineHarness,
    FakeClock,
    check_room_matches_fold,
    human_command,
    humans_to_move,
)

HUMANS = ["ann", "bob", "cat"]
BUCKETS = 256  # rate-limit buckets the fuzzed engine keeps
TAGS = [
    "CreateRoom",
    "JoinRoom",
    "LeaveRoom",
    "AddBot",
    "RemovePlayer",
    "StartGame",
    "DecideRedeal",
    "Declare",
    "Play",
    "Disconnect",
    "Reconnect",
    "Tick",
]
FIELDS = ["player", "command_id", "at", "piles", "pieces", "indices", "seat", "accept"]
FIELDS += ["room_id", "seed", "settings", "script"]


class Teleport(Command, frozen=True, kw_only=True, tag="Teleport"):
    """A command the engine has never heard of."""

    to: int = 0


# --- decoding ---------------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=8)
    | st.sampled_from([p.value for p in Piece])
)
msgpack_values = (
    scalars
    | st.lists(scalars, max_size=9)
    | st.dictionaries(st.text(max_size=8), scalars, max_size=4)
)
command_maps = st.fixed_dictionaries(
    {"type": st.sampled_from([*TAGS, "Teleport", "", "declare"]) | st.text(max_size=10)},
    optional={field: msgpack_values for field in FIELDS},
)


def _decoded_or_malformed(data: bytes) -> Command | None:
    try:
        command = decode_command(data)
    except MalformedCommand as exc:
        assert exc.code == "malformed_command" and exc.message
        return None
    assert isinstance(command, Command)
    return command


@settings(max_examples=4000 if LONG else 400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_decode_to_a_command_or_a_malformed_command_error(data: bytes) -> None:
    _decoded_or_malformed(data)


@settings(max_examples=4000 if LONG else 400, deadline=None)
@given(command_maps)
def test_random_command_maps_decode_to_a_checked_command_or_a_malformed_command_error(
    raw: dict[str, Any],
) -> None:
    command = _decoded_or_malformed(msgspec.msgpack.encode(raw))
    if command is not None:
        # What decodes honours the schema's bounds, so it round-trips unchanged.
        assert decode_command(encode_command(command)) == command
        assert len(command.player) <= 64 and len(command.command_id) <= 128


# --- through the engine ------------------------------------------------------------------


class FuzzRoom:
    """A live room of three humans and a bot on a fake clock (the bot waits forever)."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="liaptui-fuzz-"))
        config = EngineConfig.fast(
            "games.db",
            bot_delay=3600.0,
            rate_per_second=1e9,
            rate_burst=1e9,
            rooms_burst=1e9,
            rate_limit_players=BUCKETS,
        )
        self.h = EngineHarness(self.folder / "games.db", config, FakeClock())
        self.h.open()
        self.rooms = 0
        self.room = ""
        self.accepted: list[tuple[Command, Accepted]] = []
        self.new_room()

    def new_room(self) -> None:
        self.room = f"FUZZ{self.rooms:02d}"
        self.rooms += 1
        engine = self.h.engine
        assert engine is not None
        settings = replace(RoomSettings.fast(), round_cap=1)
        created = self.h.run(engine.create_room("ann", settings=settings, room_id=self.room))
        assert isinstance(created, Accepted)
        for command in (
            RemovePlayer(player="ann", seat=1, command_id=f"{self.room}-kick1"),
            RemovePlayer(player="ann", seat=2, command_id=f"{self.room}-kick2"),
            JoinRoom(player="bob", command_id=f"{self.room}-bob"),
            JoinRoom(player="cat", command_id=f"{self.room}-cat"),
            StartGame(player="ann", command_id=f"{self.room}-start"),
        ):
            self.remember(command, self.h.send(self.room, command))

    def remember(self, command: Command, outcome: Accepted | Rejection) -> None:
        assert isinstance(outcome, Accepted), (command, outcome)
        if outcome.events:
            self.accepted = [*self.accepted[-20:], (command, outcome)]

    def advance_game(self) -> None:
        """One legal human move (or a bot's, by letting its hour pass) so phases change."""
        state = self.h.state(self.room)
        if state.phase in FINISHED:
            return self.new_room()
        movers = humans_to_move(state, self.h.clock())
        if movers:
            command = human_command(state, movers[0], self.h.fresh_id("legal"))
            self.remember(command, self.h.send(self.room, command))
        else:
            self.h.advance(3600.0)

    def close(self) -> None:
        self.h.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def fuzz_room() -> Iterator[FuzzRoom]:
    room = FuzzRoom()
    try:
        yield room
    finally:
        room.close()


players = st.sampled_from([*HUMANS, "Bot 1", "Bot 2", "Bot 4", "eve", "", " ann", "ANN"])
wrong_values = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.lists(st.integers(-3, 12), max_size=9).map(tuple),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from([2**63, 2**64, -(2**63) - 1, 10**30, -(10**30), 2**200]),
    st.text(min_size=65, max_size=70_000).filter(lambda s: len(s) > 64),
)
base_commands = st.one_of(
    st.builds(Declare, player=players, piles=st.integers(-(2**70), 2**70)),
    st.builds(
        Play,
        player=players,
        indices=st.none() | st.lists(st.integers(-(2**65), 2**65), max_size=8).map(tuple),
        pieces=st.none() | st.lists(st.sampled_from(list(Piece)), max_size=8).map(tuple),
    ),
    st.builds(DecideRedeal, player=players, accept=st.booleans()),
    st.builds(AddBot, player=players, seat=st.integers(-5, 5)),
    st.builds(RemovePlayer, player=players, seat=st.integers(-5, 5)),
    st.builds(JoinRoom, player=players),
    st.builds(StartGame, player=players),
    st.builds(LeaveRoom, player=st.just("eve")),
    st.builds(Reconnect, player=players),
    st.builds(Disconnect, player=st.sampled_from(["eve", "Bot 4", ""])),
    st.builds(
        CreateRoom,
        player=players,
        room_id=st.text(max_size=20),
        seed=st.integers(-(2**80), 2**80),
        settings=st.builds(
            RoomSettings,
            target_score=st.integers(-(2**70), 2**70),
            redeal_timeout=st.floats(allow_nan=True, allow_infinity=True),
        ),
    ),
    st.builds(Tick, player=st.just("")),
    st.builds(Teleport, player=players, to=st.integers()),
)


@st.composite
def bad_commands(draw: st.DrawFn) -> Command:
    """A command, usually with one field replaced by a value of the wrong type or size."""
    command = draw(base_commands)
    if draw(st.booleans()):
        fields = [f for f in command.__struct_fields__ if f != "at"]
        field = draw(st.sampled_from(fields))
        command = replace(command, **{field: draw(wrong_values)})
    return command


@settings(
    max_examples=2500 if LONG else 250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(command=bad_commands(), reuse_id=st.integers(0, 6), progress=st.integers(0, 3))
def test_bad_commands_through_the_engine_get_typed_refusals_and_change_nothing(
    fuzz_room: FuzzRoom, command: Command, reuse_id: int, progress: int
) -> None:
    fuzz = fuzz_room
    if progress == 0:
        fuzz.advance_game()
    h, room = fuzz.h, fuzz.room
    engine = h.engine
    assert engine is not None
    original = None
    if reuse_id < len(fuzz.accepted) and reuse_id % 2 == 0:
        # Another command under an id the room already applied: the original outcome, once.
        original_command, original = fuzz.accepted[-1 - reuse_id // 2]
        recent = [c.command_id for c in h.commands(room)][-64:]
        if original_command.command_id in recent:
            command = replace(command, command_id=original_command.command_id)
        else:
            original = None
    before = h.state(room)
    position = h.run(engine.store.last_position())
    outcome = h.run(asyncio.wait_for(engine.send(room, command), timeout=10))
    h.settle()
    after = h.state(room)
    if original is not None and not (
        isinstance(outcome, Rejection) and outcome.code is Code.MALFORMED_COMMAND
    ):
        # (A malformed command is refused at the edge, whatever its id.)
        assert isinstance(outcome, Accepted) and outcome.duplicate, outcome
        assert outcome.events == original.events
        assert outcome.first_version == original.first_version
        assert after == before
    elif isinstance(outcome, Rejection):
        assert isinstance(outcome.code, Code) and outcome.message
        assert after == before, "a refused command changed the room"
        assert h.run(engine.store.last_position()) == position
    else:
        # Legal by chance: exactly what the decider says of the checked command.
        checked = validated(replace(command, at=h.clock()))
        assert not isinstance(checked, Rejection)
        expected = execute(before, checked)
        assert not isinstance(expected, Rejection)
        assert list(outcome.events) == expected[0]
        fuzz.remember(command, outcome)
    check_room_matches_fold(h, room, HUMANS)
    assert engine.metrics().get("room_crash", 0) == 0


def test_commands_of_wrong_types_or_sizes_are_refused_as_malformed_before_any_room_sees_them(
    fuzz_room: FuzzRoom,
) -> None:
    h, room = fuzz_room.h, fuzz_room.room
    for command in (
        Declare(player="ann", piles="seven"),  # type: ignore[arg-type]
        Declare(player="ann", piles=10**30),
        RemovePlayer(player="ann", seat=10**30),
        RemovePlayer(player="ann", seat=-7),
        Play(player="ann", indices=(0, "1")),  # type: ignore[arg-type]
        Play(player="ann", pieces=("GENERAL_GOLD",)),  # type: ignore[arg-type]
        DecideRedeal(player=None, accept=True),  # type: ignore[arg-type]
        JoinRoom(player="x" * 65),
        JoinRoom(player="ann", command_id="c" * 129),
        Teleport(player="ann", to=3),
        CreateRoom(player="zed", room_id="NEWONE", seed=2**80),
    ):
        outcome = h.send(room, command)
        assert isinstance(outcome, Rejection), command
        assert outcome.code is Code.MALFORMED_COMMAND, (command, outcome)


def test_many_bad_commands_cost_bounded_memory(fuzz_room: FuzzRoom) -> None:
    h = fuzz_room.h
    engine = h.engine
    assert engine is not None
    rng = random.Random(7)
    makers = [
        lambda: Declare(player=rng.choice(["eve", "Bot 1", "ANN"]), piles=rng.randint(-9, 20)),
        lambda: Play(player="eve", indices=(rng.randint(0, 9),)),
        lambda: Declare(player="ann", piles="x" * rng.randint(1, 50)),  # type: ignore[arg-type]
        lambda: JoinRoom(player=f"guest{rng.randint(0, 10**9)}"),
        lambda: StartGame(player="ann"),
    ]

    async def flood(count: int) -> None:
        for _ in range(count):
            outcome = await engine.send(fuzz_room.room, rng.choice(makers)())
            assert isinstance(outcome, Rejection), outcome

    tracemalloc.start()
    try:
        h.run(flood(1000))  # warm-up: caches, histogram lists, interned strings
        gc.collect()
        first = tracemalloc.get_traced_memory()[0]
        h.run(flood(4000))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - first
    finally:
        tracemalloc.stop()
    # Budget: the latency histogram keeps one sample per command (a float and its list
    # slot, ~32 bytes) up to 100,000 samples; rate-limit buckets (one per player seen) stay
    # at BUCKETS. Anything else kept per refused command would show here.
    assert len(engine.limiter.buckets) <= BUCKETS
    assert grown < 4000 * 40 + 128 * 1024, f"{grown} bytes kept for 4,000 refused commands"
    assert engine.metrics().get("room_crash", 0) == 0
    state = h.state(fuzz_room.room)
    assert state.phase is not Phase.NEW
