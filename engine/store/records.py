"""The values that go into and come out of an event store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import msgspec

from engine.store.errors import CorruptData

StreamStatus = Literal["active", "completed", "archived"]
STREAM_STATUSES: tuple[StreamStatus, ...] = ("active", "completed", "archived")


class NewEvent(msgspec.Struct, frozen=True, gc=False):
    """An event a writer appends: a type tag, its schema version and opaque msgpack bytes."""

    type: str
    schema_version: int
    data: bytes


class RecordedEvent(msgspec.Struct, frozen=True, gc=False):
    """An event as stored: its stream version (1-based, contiguous) and global position."""

    stream_id: str
    version: int
    position: int
    type: str
    schema_version: int
    data: bytes
    recorded_at: float


class AppendRequest(msgspec.Struct, frozen=True, gc=False):
    """A request to append events to one stream whose last version is `expected_version`."""

    stream_id: str
    expected_version: int
    events: tuple[NewEvent, ...]
    command_id: str | None = None
    command: bytes | None = None
    command_at: float | None = None


class AppendResult(msgspec.Struct, frozen=True, gc=False):
    """Where an append landed; `duplicate` marks the original result of a retried command."""

    stream_id: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    duplicate: bool = False


class RecordedCommand(msgspec.Struct, frozen=True):
    """A command recorded with the stream versions its events received."""

    stream_id: str
    command_id: str
    command: bytes
    at: float
    first_version: int
    last_version: int


class StreamInfo(msgspec.Struct, frozen=True):
    """What the store knows about a stream without reading its events."""

    stream_id: str
    status: StreamStatus
    last_version: int
    created_at: float
    updated_at: float


class Snapshot(msgspec.Struct, frozen=True):
    """A stream's folded state at `version`, as uncompressed msgpack `payload`."""

    stream_id: str
    version: int
    schema_version: int
    payload: bytes


def stream_info_from_row(row: Iterable[Any]) -> StreamInfo:
    """A stored (stream_id, status, last_version, created_at, updated_at) row, checked."""
    stream_id, status, last_version, created_at, updated_at = row
    if status not in STREAM_STATUSES:
        raise CorruptData(stream_id, None, f"unknown stream status {status!r}")
    return StreamInfo(stream_id, status, last_version, created_at, updated_at)


def check_contiguous(
    stream_id: str, events: Sequence[RecordedEvent], first: int, last: int
) -> None:
    """Refuse a stream read whose versions are not exactly first..last."""
    expected = first
    for event in events:
        if event.version != expected:
            raise CorruptData(stream_id, expected, "event missing from the stream")
        expected += 1
    if expected != last + 1:
        raise CorruptData(stream_id, expected, "event missing from the stream")
