"""The decision of what an append batch writes, shared by every backend."""

from __future__ import annotations

import zlib
from collections.abc import Collection, Mapping, Sequence

import msgspec

from engine.store.errors import (
    CommandIdReused,
    ConcurrencyConflict,
    StreamArchived,
    StreamRetired,
)
from engine.store.records import (
    AppendRequest,
    AppendResult,
    StreamStatus,
    command_checksum,
    command_digest,
)

# (position, stream_id, version, type, schema_version, data, checksum, recorded_at):
# the column order of the events table, so SQLite can take these rows as they are.
EventRow = tuple[int, str, int, str, int, bytes, int, float]
# (stream_id, command_id, command, at, first_version, last_version, first_position,
# last_position, digest, checksum): the column order of the commands table.
CommandRow = tuple[str, str, bytes, float, int, int, int, int, bytes | None, int]
# A recorded command's result and its digest (None: recorded before digests were kept).
Applied = tuple[AppendResult, bytes | None]


class StreamHead(msgspec.Struct):
    """The part of a stream's state an append is checked against."""

    last_version: int
    status: StreamStatus
    created_at: float


class BatchPlan(msgspec.Struct):
    """The rows one append batch writes and the result of each request."""

    results: list[AppendResult | ConcurrencyConflict]
    events: list[EventRow]
    # Final head of every stream the batch appended to; new streams have created_at == now.
    heads: dict[str, StreamHead]
    commands: list[CommandRow]
    last_position: int


def validate_requests(reqs: Sequence[AppendRequest]) -> None:
    """Reject malformed requests before anything is written."""
    for req in reqs:
        if not req.events:
            raise ValueError(f"append to {req.stream_id!r} carries no events")
        if req.expected_version < 0:
            raise ValueError(f"append to {req.stream_id!r}: expected_version < 0")
        if req.command_id is None and (req.command is not None or req.command_at is not None):
            raise ValueError(f"append to {req.stream_id!r}: a command needs a command_id")


def plan_batch(
    reqs: Sequence[AppendRequest],
    heads: Mapping[str, StreamHead],
    applied: Mapping[tuple[str, str], Applied],
    last_position: int,
    now: float,
    retired: Collection[str] = (),
) -> BatchPlan:
    """Check each request on its own, in order, against the stream heads it sees;
    `retired` holds ids among them that retention forgot (never started again)."""
    current = dict(heads)
    touched: dict[str, StreamHead] = {}
    applied_now: dict[tuple[str, str], Applied] = {}
    results: list[AppendResult | ConcurrencyConflict] = []
    events: list[EventRow] = []
    commands: list[CommandRow] = []
    crc32 = zlib.crc32
    position = last_position
    for req in reqs:
        stream_id = req.stream_id
        key = None if req.command_id is None else (stream_id, req.command_id)
        head = current.get(stream_id)
        actual = 0 if head is None else head.last_version
        # A retried command returns its original result before any version check,
        # because the retry's expected version is naturally stale; the same id for
        # another command is refused.
        digest = None if key is None else command_digest(req)
        if key is not None:
            earlier = applied.get(key) or applied_now.get(key)
            if earlier is not None:
                result, stored_digest = earlier
                if None not in (digest, stored_digest) and stored_digest != digest:
                    results.append(
                        CommandIdReused(stream_id, key[1], req.expected_version, actual)
                    )
                else:
                    results.append(msgspec.structs.replace(result, duplicate=True))
                continue
        if head is not None and head.status == "archived":
            results.append(StreamArchived(stream_id, req.expected_version, actual))
            continue
        if head is None and stream_id in retired:
            results.append(StreamRetired(stream_id, req.expected_version))
            continue
        if req.expected_version != actual:
            results.append(ConcurrencyConflict(stream_id, req.expected_version, actual))
            continue
        first_position = position + 1
        first_version = actual + 1
        events += [
            (
                first_position + i,
                stream_id,
                first_version + i,
                e.type,
                e.schema_version,
                e.data,
                crc32(e.data),
                now,
            )
            for i, e in enumerate(req.events)
        ]
        position += len(req.events)
        version = actual + len(req.events)
        result = AppendResult(stream_id, first_version, version, first_position, position)
        results.append(result)
        new_head = StreamHead(
            version,
            "active" if head is None else head.status,
            now if head is None else head.created_at,
        )
        current[stream_id] = touched[stream_id] = new_head
        if key is not None:
            applied_now[key] = (result, digest)
            body = req.command if req.command is not None else b""
            at = float(req.command_at) if req.command_at is not None else now
            fields = (stream_id, key[1], body, at, first_version, version, first_position, position)
            commands.append((*fields, digest, command_checksum(*fields, digest)))
    return BatchPlan(results, events, touched, commands, position)
