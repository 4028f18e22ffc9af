"""The values that go into and come out of an event store."""

from __future__ import annotations

import hashlib
import struct
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
    # What a retry under the same command id repeats byte for byte (the engine leaves out
    # the time it was received at); None: `command` itself. The store keeps its digest and
    # refuses a reused command id whose identity differs (CommandIdReused). A request with
    # neither is named by its command id alone, and never compared.
    command_identity: bytes | None = None


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


def command_digest(req: AppendRequest) -> bytes | None:
    """The digest of what names a request's command (see AppendRequest.command_identity);
    None for a request that carries no command, which its command id alone names."""
    identity = req.command_identity if req.command_identity is not None else req.command
    return None if identity is None else hashlib.blake2b(identity, digest_size=16).digest()


def command_checksum(
    stream_id: str,
    command_id: str,
    command: bytes,
    at: float,
    first_version: int,
    last_version: int,
    first_position: int,
    last_position: int,
    digest: bytes | None,
) -> int:
    """The checksum of a whole commands row, as a signed 64-bit integer: the first 8 bytes
    of the MD5 of each text/bytes column length-prefixed, then `at` and the four
    versions/positions big-endian. PostgreSQL computes the same in SQL
    (liaptui.command_checksum), so either side checks what the other wrote."""
    h = hashlib.md5(usedforsecurity=False)
    for part in (stream_id.encode(), command_id.encode(), command, digest or b""):
        h.update(struct.pack(">i", len(part)))
        h.update(part)
    h.update(struct.pack(">dqqqq", at, first_version, last_version, first_position, last_position))
    return int.from_bytes(h.digest()[:8], "big", signed=True)


def command_from_row(row: Sequence[Any]) -> tuple[RecordedCommand, int, int, bytes | None]:
    """A stored commands row (stream_id, command_id, command, at, first_version,
    last_version, first_position, last_position, digest, checksum), checked against its
    checksum: the command, its first and last positions and its digest."""
    (stream_id, command_id, command, at, first_v, last_v, first_p, last_p, digest, checksum) = row
    where = stream_id if isinstance(stream_id, str) else None
    if not (
        isinstance(stream_id, str)
        and isinstance(command_id, str)
        and isinstance(command, bytes)
        and isinstance(at, float | int)
        and all(isinstance(n, int) for n in (first_v, last_v, first_p, last_p))
        and (digest is None or isinstance(digest, bytes))
        and isinstance(checksum, int)
    ):
        raise CorruptData(where, None, "a recorded command has a column of the wrong type")
    expected = command_checksum(
        stream_id, command_id, command, float(at), first_v, last_v, first_p, last_p, digest
    )
    if expected != checksum:
        raise CorruptData(
            stream_id, first_v, f"recorded command {command_id!r} fails its checksum"
        )
    recorded = RecordedCommand(stream_id, command_id, command, float(at), first_v, last_v)
    return recorded, first_p, last_p, digest


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
