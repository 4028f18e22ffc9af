"""The wire and storage format (engine.codec) and schema evolution (engine.upcasting)."""

import msgspec
import pytest

from engine.codec import (
    MalformedCommand,
    MalformedEvent,
    UnknownEventType,
    UnknownSchemaVersion,
    decode_any_event,
    decode_command,
    decode_event,
    decode_state,
    encode_command,
    encode_event,
    encode_state,
    is_latest,
    upgrade_event,
)
from engine.commands import AnyCommand, Command
from engine.events import EVENT_TYPES, Event, PiecesPlayed, RoomCreated
from engine.plays import PlayType
from tests.domain.examples import COMMANDS, EVENTS
from tests.domain.support import CHR, CNR, EVERYONE_STRONG, HR, seated

DEEP = b"\x91" * 100_000 + b"\xc0"
"""A msgpack array nested 100 000 deep: a decoder must refuse it, not crash."""


def test_every_event_type_has_an_example() -> None:
    assert {type(e).__name__ for e in EVENTS} == set(EVENT_TYPES)


def test_every_command_type_has_an_example() -> None:
    assert {type(c) for c in COMMANDS} == set(AnyCommand.__args__)


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_an_event_survives_encoding_and_decoding(event: Event) -> None:
    assert decode_event(*encode_event(event)) == event


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_an_event_is_stored_under_its_type_name_and_current_schema_version(event: Event) -> None:
    event_type, version, data = encode_event(event)
    assert event_type == type(event).__name__
    assert version == (3 if isinstance(event, PiecesPlayed) else 1)
    assert decode_any_event(data) == event


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: type(c).__name__)
def test_a_command_survives_encoding_and_decoding(command: Command) -> None:
    assert decode_command(encode_command(command)) == command


def test_a_command_is_a_map_tagged_with_its_type() -> None:
    raw = msgspec.msgpack.decode(encode_command(COMMANDS[3]))
    assert raw == {"type": "AddBot", "command_id": "c4", "player": "Ann", "at": 8.0, "seat": 1}


def test_an_unknown_event_type_is_refused() -> None:
    with pytest.raises(UnknownEventType):
        decode_event("PiecesExploded", 1, b"\x80")


def test_bytes_that_are_not_the_event_are_malformed() -> None:
    with pytest.raises(MalformedEvent):
        decode_event("Declared", 1, b"\xc1garbage")
    with pytest.raises(MalformedEvent):
        decode_event("Declared", 1, msgspec.msgpack.encode({"type": "Declared", "seat": "one"}))


def test_an_unknown_command_tag_is_malformed() -> None:
    data = msgspec.msgpack.encode({"type": "Cheat", "command_id": "x", "player": "Ann", "at": 0})
    with pytest.raises(MalformedCommand):
        decode_command(data)


@pytest.mark.parametrize(
    "fields",
    [
        {"seat": "two"},  # wrong type
        {"seat": 4},  # seats are 0-3
        {"player": "x" * 65},  # longer than a player name can be
        {"at": "noon"},
    ],
)
def test_a_command_field_of_the_wrong_type_or_range_is_malformed(fields: dict[str, object]) -> None:
    raw = {"type": "AddBot", "command_id": "c", "player": "Ann", "at": 0.0, "seat": 1, **fields}
    with pytest.raises(MalformedCommand):
        decode_command(msgspec.msgpack.encode(raw))


def test_a_command_missing_a_field_is_malformed() -> None:
    with pytest.raises(MalformedCommand):
        decode_command(msgspec.msgpack.encode({"type": "Declare", "command_id": "c", "at": 0.0}))


@pytest.mark.parametrize("data", [b"", b"\xc1", b"\x93\x01\x02\x03", DEEP], ids=repr)
def test_bytes_that_are_no_command_are_malformed(data: bytes) -> None:
    with pytest.raises(MalformedCommand):
        decode_command(data)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_deeply_nested_bytes_are_a_malformed_event_at_any_version(version: int) -> None:
    with pytest.raises(MalformedEvent):
        decode_event("PiecesPlayed", version, DEEP)


def test_a_room_state_snapshot_survives_encoding_and_decoding() -> None:
    state = seated((EVERYONE_STRONG,)).state
    assert decode_state(*encode_state(state)) == state


def test_a_snapshot_of_another_schema_version_is_ignored() -> None:
    version, data = encode_state(seated((EVERYONE_STRONG,)).state)
    assert decode_state(version + 1, data) is None
    assert decode_state(version, b"\xc1") is None


# --- upcasting PiecesPlayed ------------------------------------------------------------------
#
# V1 recorded seat and pieces; V2 added play_type; V3 added value.
PIECES = ["CHARIOT_RED", "HORSE_RED", "CANNON_RED", "CANNON_RED"]
V3 = PiecesPlayed(
    at=70.0,
    seat=2,
    pieces=(CHR, HR, CNR, CNR),
    play_type=PlayType.EXTENDED_STRAIGHT,
    value=18,  # 8 + 6 + 4: one piece of each name
)


def test_a_version_1_pieces_played_decodes_to_the_current_event() -> None:
    v1 = {"type": "PiecesPlayed", "at": 70.0, "seat": 2, "pieces": PIECES}
    assert decode_event("PiecesPlayed", 1, msgspec.msgpack.encode(v1)) == V3


def test_a_version_1_map_without_a_type_tag_decodes_too() -> None:
    v1 = {"at": 70.0, "seat": 2, "pieces": PIECES}
    assert decode_event("PiecesPlayed", 1, msgspec.msgpack.encode(v1)) == V3


def test_a_version_2_pieces_played_decodes_to_the_current_event() -> None:
    v2 = {
        "type": "PiecesPlayed",
        "at": 70.0,
        "seat": 2,
        "pieces": PIECES,
        "play_type": "EXTENDED_STRAIGHT",
    }
    assert decode_event("PiecesPlayed", 2, msgspec.msgpack.encode(v2)) == V3


def test_an_old_event_can_be_rewritten_at_the_current_version() -> None:
    v1 = {"type": "PiecesPlayed", "at": 70.0, "seat": 2, "pieces": PIECES}
    version, data = upgrade_event("PiecesPlayed", 1, msgspec.msgpack.encode(v1))
    assert version == 3
    assert decode_event("PiecesPlayed", 3, data) == V3


@pytest.mark.parametrize(("event_type", "version"), [("PiecesPlayed", 4), ("PiecesPlayed", 0)])
def test_a_schema_version_with_no_upcaster_is_unknown(event_type: str, version: int) -> None:
    data = encode_event(V3)[2]
    with pytest.raises(UnknownSchemaVersion):
        decode_event(event_type, version, data)


def test_an_event_type_that_never_had_a_version_2_refuses_one() -> None:
    _, _, data = encode_event(EVENTS[0])
    assert isinstance(EVENTS[0], RoomCreated)
    with pytest.raises(UnknownSchemaVersion):
        decode_event("RoomCreated", 2, data)


def test_an_old_event_with_an_unknown_piece_is_malformed() -> None:
    v1 = {"type": "PiecesPlayed", "at": 70.0, "seat": 2, "pieces": ["QUEEN_RED"]}
    with pytest.raises(MalformedEvent):
        decode_event("PiecesPlayed", 1, msgspec.msgpack.encode(v1))


def test_only_the_current_schema_version_is_latest() -> None:
    assert is_latest("PiecesPlayed", 3)
    assert not is_latest("PiecesPlayed", 2)
    assert is_latest("Declared", 1)
    assert not is_latest("Nonsense", 1)
