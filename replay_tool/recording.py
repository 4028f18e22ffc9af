"""A recorded match as the tool works with it: stored events (raw and decoded) and commands."""

from __future__ import annotations

from msgspec import Struct

from engine.codec import CodecError, decode_event
from engine.events import Event
from engine.store.errors import CorruptData
from engine.store.protocol import EventStore
from engine.store.records import RecordedCommand, RecordedEvent
from replay_tool.errors import ToolError


class StoredEvent(Struct, frozen=True, kw_only=True):
    """One event as stored (type, schema version, bytes) and as decoded at today's schema."""

    version: int
    position: int
    type: str
    schema_version: int
    data: bytes
    recorded_at: float
    event: Event


class MatchRecording(Struct, frozen=True, kw_only=True):
    """Everything recorded about one match; `origin` names where it was read from."""

    room_id: str
    status: str
    origin: str
    created_at: float
    updated_at: float
    events: tuple[StoredEvent, ...]
    commands: tuple[RecordedCommand, ...]

    @property
    def decoded(self) -> list[Event]:
        return [stored.event for stored in self.events]

    @property
    def last_version(self) -> int:
        return self.events[-1].version if self.events else 0


def decode_stored(room_id: str, record: RecordedEvent) -> StoredEvent:
    """Decode (upcasting) one stored event; undecodable bytes are CorruptData naming the version."""
    try:
        event = decode_event(record.type, record.schema_version, record.data)
    except CodecError as exc:
        raise CorruptData(room_id, record.version, f"{exc.code}: {exc.message}") from None
    return StoredEvent(
        version=record.version,
        position=record.position,
        type=record.type,
        schema_version=record.schema_version,
        data=record.data,
        recorded_at=record.recorded_at,
        event=event,
    )


def normalise_room(room: str) -> str:
    """Room codes are uppercase; accept them typed in any case."""
    return room.strip().upper()


async def load_match(store: EventStore, room_id: str, origin: str) -> MatchRecording:
    """Read a match from a store; an unknown room is a ToolError."""
    info = await store.stream_info(room_id)
    if info is None:
        raise ToolError(f"no match {room_id} in {origin}")
    records = await store.read_stream(room_id)
    # Read after the events: a live match may have moved on, so keep only the commands
    # whose events were part of this read.
    last = records[-1].version if records else 0
    commands = tuple(c for c in await store.read_commands(room_id) if c.last_version <= last)
    return MatchRecording(
        room_id=room_id,
        status=info.status,
        origin=origin,
        created_at=info.created_at,
        updated_at=info.updated_at,
        events=tuple(decode_stored(room_id, record) for record in records),
        commands=commands,
    )
