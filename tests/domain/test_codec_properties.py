"""Codec properties over random values and random bytes: round trips, and typed errors only.

Decoding never raises anything but the codec's own errors (`MalformedCommand` for
commands, a `CodecError` for stored events), whatever the bytes.
"""

from __future__ import annotations

import contextlib

import msgspec
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from engine.codec import (
    CodecError,
    MalformedCommand,
    decode_command,
    decode_event,
    encode_command,
    encode_event,
)
from engine.commands import (
    AddBot,
    AnyCommand,
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
from engine.events import EVENT_TYPES, Event, PiecesPlayed
from engine.pieces import DECK, Piece
from engine.plays import PlayType
from engine.settings import RoomSettings

PAUSES = (
    "deal_pause",
    "redeal_pause",
    "round_start_pause",
    "trick_pause",
    "round_end_pause",
    "scoring_pause",
)
decks = st.permutations(list(DECK)).map(
    lambda deck: tuple(tuple(deck[i * 8 : (i + 1) * 8]) for i in range(4))
)

int64 = st.integers(-(2**63), 2**63 - 1)
text = st.text(max_size=20)
pieces = st.lists(st.sampled_from(list(Piece)), max_size=8).map(tuple)
any_settings = st.builds(
    RoomSettings,
    target_score=int64,
    round_cap=int64,
    move_timeout=st.none() | st.floats(),
    abandon_after=st.none() | st.floats(),
    **{f: st.floats() for f in ("redeal_timeout", *PAUSES)},
)
base = {"command_id": st.text(max_size=128), "player": st.text(max_size=64), "at": st.floats()}
commands = st.one_of(
    st.builds(
        CreateRoom,
        room_id=st.text(max_size=16),
        seed=int64,
        settings=any_settings,
        script=st.lists(decks, max_size=2).map(tuple),
        **base,
    ),
    st.builds(JoinRoom, **base),
    st.builds(LeaveRoom, **base),
    st.builds(AddBot, seat=st.integers(0, 3), **base),
    st.builds(RemovePlayer, seat=st.integers(0, 3), **base),
    st.builds(StartGame, **base),
    st.builds(DecideRedeal, accept=st.booleans(), **base),
    st.builds(Declare, piles=int64, **base),
    st.builds(
        Play,
        pieces=st.none() | pieces,
        indices=st.none() | st.lists(int64, max_size=8).map(tuple),
        **base,
    ),
    st.builds(Disconnect, **base),
    st.builds(Reconnect, **base),
    st.builds(Tick, **base),
)
events = st.one_of(*(st.from_type(cls) for cls in EVENT_TYPES.values()))
msgpack_values = st.recursive(
    st.none() | st.booleans() | int64 | st.floats() | text | st.binary(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=12,
)
COMMAND_TAGS = [cls.__name__ for cls in AnyCommand.__args__]


@settings(max_examples=300, deadline=None)
@given(command=commands)
def test_every_command_survives_the_codec(command: Command) -> None:
    data = encode_command(command)
    # Compared as bytes: a NaN time is equal to itself only that way.
    assert encode_command(decode_command(data)) == data


@settings(max_examples=300, deadline=None)
@given(event=events)
def test_every_event_survives_the_codec(event: Event) -> None:
    assume_encodable(event)
    event_type, version, data = encode_event(event)
    assert encode_event(decode_event(event_type, version, data))[2] == data


def assume_encodable(event: Event) -> None:
    try:
        encode_event(event)
    except OverflowError:  # Python ints beyond 64 bits have no msgpack form
        assume(False)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200))
@example(data=b"\x91" * 100_000 + b"\xc0")
def test_random_bytes_are_a_malformed_command_or_a_command(data: bytes) -> None:
    with contextlib.suppress(MalformedCommand):
        assert isinstance(decode_command(data), Command)


@settings(max_examples=200, deadline=None)
@given(
    tag=st.sampled_from(COMMAND_TAGS) | text,
    fields=st.dictionaries(
        st.sampled_from(["command_id", "player", "at", "seat", "piles", "pieces", "indices"])
        | text,
        msgpack_values,
        max_size=6,
    ),
)
def test_maps_with_wrong_fields_or_tags_are_a_malformed_command_or_a_command(
    tag: str, fields: dict[str, object]
) -> None:
    data = msgspec.msgpack.encode({"type": tag, **fields})
    with contextlib.suppress(MalformedCommand):
        assert isinstance(decode_command(data), Command)


@settings(max_examples=300, deadline=None)
@given(
    event_type=st.sampled_from(sorted(EVENT_TYPES)) | text,
    version=st.integers(-1, 5),
    data=st.binary(max_size=200) | msgpack_values.map(msgspec.msgpack.encode),
)
def test_random_stored_events_decode_or_raise_a_codec_error(
    event_type: str, version: int, data: bytes
) -> None:
    with contextlib.suppress(CodecError):
        assert isinstance(decode_event(event_type, version, data), EVENT_TYPES[event_type])


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from([1, 2]),
    fields=st.fixed_dictionaries(
        {},
        optional={
            "type": st.just("PiecesPlayed") | text,
            "at": msgpack_values,
            "seat": msgpack_values,
            "pieces": st.lists(st.sampled_from([p.value for p in Piece]) | text, max_size=8)
            | msgpack_values,
            "play_type": st.sampled_from([t.value for t in PlayType]) | msgpack_values,
        },
    ),
)
def test_old_pieces_played_maps_upcast_or_raise_a_codec_error(
    version: int, fields: dict[str, object]
) -> None:
    try:
        event = decode_event("PiecesPlayed", version, msgspec.msgpack.encode(fields))
    except CodecError:
        return
    assert isinstance(event, PiecesPlayed)
