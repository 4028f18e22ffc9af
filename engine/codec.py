"""The wire and storage format: msgpack via msgspec, strict on decode, with typed errors.

An event is stored as (type tag, schema version, msgpack bytes); older versions are
upcast on decode. Commands travel as tagged msgpack maps. Room state snapshots carry
their own schema version.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from engine.commands import AnyCommand, Command
from engine.events import EVENT_TYPES, AnyEvent, Event
from engine.state import RoomState
from engine.store.records import AppendRequest, NewEvent, RecordedEvent
from engine.upcasting import UPCASTERS

STATE_SCHEMA_VERSION = 1


class CodecError(Exception):
    """Bytes that cannot become a valid event or command; `code` says which way they failed."""

    code = "codec_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownEventType(CodecError):
    code = "unknown_event_type"


class UnknownSchemaVersion(CodecError):
    code = "unknown_schema_version"


class MalformedEvent(CodecError):
    code = "malformed_event"


class MalformedCommand(CodecError):
    code = "malformed_command"


_encoder = msgspec.msgpack.Encoder()
_event_decoders: dict[type[Event], msgspec.msgpack.Decoder[Any]] = {
    cls: msgspec.msgpack.Decoder(cls) for cls in EVENT_TYPES.values()
}
_any_event_decoder = msgspec.msgpack.Decoder(AnyEvent)
_command_decoder = msgspec.msgpack.Decoder(AnyCommand)
_state_decoder = msgspec.msgpack.Decoder(RoomState)


def encode_event(event: Event) -> tuple[str, int, bytes]:
    """(type tag, schema version, msgpack bytes) of `event`, as the store keeps it."""
    return type(event).__name__, event.SCHEMA_VERSION, _encoder.encode(event)


def decode_event(event_type: str, schema_version: int, data: bytes) -> Event:
    """The current-schema event stored as (`event_type`, `schema_version`, `data`)."""
    cls = EVENT_TYPES.get(event_type)
    if cls is None:
        raise UnknownEventType(f"unknown event type {event_type!r}")
    if schema_version == cls.SCHEMA_VERSION:
        try:
            event: Event = _event_decoders[cls].decode(data)
        except msgspec.MsgspecError as exc:
            raise MalformedEvent(f"{event_type} v{schema_version}: {exc}") from None
        return event
    if not 1 <= schema_version < cls.SCHEMA_VERSION or not UPCASTERS.can_upcast(
        event_type, schema_version, cls.SCHEMA_VERSION
    ):
        raise UnknownSchemaVersion(
            f"{event_type} v{schema_version} is not readable (current is v{cls.SCHEMA_VERSION})"
        )
    try:
        raw = msgspec.msgpack.decode(data)
        if not isinstance(raw, dict):
            raise MalformedEvent(f"{event_type} v{schema_version}: not a map")
        raw = UPCASTERS.upcast(event_type, schema_version, cls.SCHEMA_VERSION, raw)
        upcast: Event = msgspec.convert(raw, cls)
    # The untyped decode of an old version recurses into whatever nesting the bytes hold.
    except (msgspec.MsgspecError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise MalformedEvent(f"{event_type} v{schema_version}: {exc}") from None
    return upcast


def decode_records(records: Iterable[RecordedEvent]) -> list[Event]:
    """The current-schema events of stored records, in order."""
    return [decode_event(r.type, r.schema_version, r.data) for r in records]


def command_append(
    stream_id: str,
    expected_version: int,
    command_id: str,
    command: Command,
    events: Iterable[Event],
) -> AppendRequest:
    """A command's events as the engine stores them: one append that carries the command
    under `command_id` (its idempotency key), so a retry returns the original outcome."""
    return AppendRequest(
        stream_id=stream_id,
        expected_version=expected_version,
        events=tuple(NewEvent(*encode_event(e)) for e in events),
        command_id=command_id,
        command=encode_command(command),
        command_at=command.at,
        command_identity=command_identity(command),
    )


def command_identity(command: Command) -> bytes:
    """What a retry of `command` repeats: the command without the time it was received at
    (the store refuses its id for a command whose identity differs)."""
    return encode_command(msgspec.structs.replace(command, at=0.0))


def upgrade_event(event_type: str, schema_version: int, data: bytes) -> tuple[int, bytes]:
    """The stored form of an event lifted to its current schema (for offline migration)."""
    event = decode_event(event_type, schema_version, data)
    _, version, encoded = encode_event(event)
    return version, encoded


def is_latest(event_type: str, schema_version: int) -> bool:
    cls = EVENT_TYPES.get(event_type)
    return cls is not None and schema_version == cls.SCHEMA_VERSION


def decode_any_event(data: bytes) -> Event:
    """A current-schema event from self-describing bytes (exports, tests)."""
    try:
        event: Event = _any_event_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise MalformedEvent(str(exc)) from None
    return event


def encode_command(command: Command) -> bytes:
    return _encoder.encode(command)


def same_command(command: Command, stored: bytes) -> bool:
    """Whether `stored` (a command's stored body) asks what `command` asks: a retry under
    the same id, whatever time it was received at. Unreadable bytes are not the same."""
    try:
        earlier = decode_command(stored)
    except MalformedCommand:
        return False
    return msgspec.structs.replace(earlier, at=0.0) == msgspec.structs.replace(command, at=0.0)


def decode_command(data: bytes) -> Command:
    """A validated command, or MalformedCommand saying what is wrong with the bytes."""
    try:
        command: Command = _command_decoder.decode(data)
    except msgspec.MsgspecError as exc:
        raise MalformedCommand(str(exc)) from None
    return command


def encode_state(state: RoomState) -> tuple[int, bytes]:
    """(schema version, msgpack bytes) of a room state, for snapshots."""
    return STATE_SCHEMA_VERSION, _encoder.encode(state)


def decode_state(schema_version: int, data: bytes) -> RoomState | None:
    """The snapshotted state, or None when its schema is not the current one (replay instead)."""
    if schema_version != STATE_SCHEMA_VERSION:
        return None
    try:
        state: RoomState = _state_decoder.decode(data)
    except msgspec.MsgspecError:
        return None
    return state
