"""Export files of a match (JSON or JSON lines) and importing them into a scratch store.

An export holds every event as stored (type, schema version, the msgpack bytes in base64)
next to its readable decoding, and every command with its bytes, time and versions, so an
import writes back exactly what was recorded. The readable fields are checked against the
bytes on import; the bytes are what counts.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import msgspec
from msgspec import Struct

from engine.codec import CodecError, decode_command
from engine.store.errors import ConcurrencyConflict
from engine.store.protocol import EventStore
from engine.store.records import AppendRequest, NewEvent, RecordedCommand, RecordedEvent
from replay_tool.errors import ToolError
from replay_tool.fields import field_map
from replay_tool.recording import MatchRecording, StoredEvent, decode_stored

FORMAT = "liaptui-match"
FORMAT_VERSION = 1
ExportFormat = Literal["jsonl", "json"]


class MatchHeader(Struct, kw_only=True, tag="match", tag_field="record"):
    """The first record of an export: which match, its status and where it came from."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    room_id: str
    status: str
    last_version: int
    created_at: float
    updated_at: float
    exported_at: float
    exported_from: str


class EventRecord(Struct, kw_only=True, tag="event", tag_field="record"):
    """One stored event: `data` is authoritative, `event` is its readable current-schema form."""

    version: int
    position: int
    type: str
    schema_version: int
    recorded_at: float
    data: bytes
    event: dict[str, Any]


class CommandRecord(Struct, kw_only=True, tag="command", tag_field="record"):
    """One recorded command: its bytes, engine time and the versions of its events."""

    command_id: str
    at: float
    first_version: int
    last_version: int
    data: bytes
    command: dict[str, Any]


AnyRecord = MatchHeader | EventRecord | CommandRecord


class MatchDocument(Struct, kw_only=True):
    """The `json` export format: the same records as the JSON lines, in one document."""

    match: MatchHeader
    events: list[EventRecord]
    commands: list[CommandRecord]


def to_document(recording: MatchRecording) -> MatchDocument:
    header = MatchHeader(
        room_id=recording.room_id,
        status=recording.status,
        last_version=recording.last_version,
        created_at=recording.created_at,
        updated_at=recording.updated_at,
        exported_at=time.time(),
        exported_from=recording.origin,
    )
    events = [
        EventRecord(
            version=e.version,
            position=e.position,
            type=e.type,
            schema_version=e.schema_version,
            recorded_at=e.recorded_at,
            data=e.data,
            event={"type": e.type, **field_map(e.event)},
        )
        for e in recording.events
    ]
    commands = [
        CommandRecord(
            command_id=c.command_id,
            at=c.at,
            first_version=c.first_version,
            last_version=c.last_version,
            data=c.command,
            command=_readable_command(recording.room_id, c),
        )
        for c in recording.commands
    ]
    return MatchDocument(match=header, events=events, commands=commands)


def export_text(recording: MatchRecording, fmt: ExportFormat) -> str:
    """The export file's contents in `fmt`."""
    document = to_document(recording)
    if fmt == "json":
        return msgspec.json.format(msgspec.json.encode(document), indent=2).decode() + "\n"
    records: list[AnyRecord] = [document.match, *document.events, *document.commands]
    return "".join(msgspec.json.encode(r).decode() + "\n" for r in records)


def _readable_command(room_id: str, command: RecordedCommand) -> dict[str, Any]:
    try:
        decoded = decode_command(command.command)
    except CodecError as exc:
        raise ToolError(
            f"{room_id}: command {command.command_id!r} does not decode: {exc}"
        ) from None
    return {"type": type(decoded).__name__, **field_map(decoded)}


# --- reading an export -----------------------------------------------------------------


def read_export(path: Path) -> MatchRecording:
    """The match in an export file, checked; a bad file is a ToolError naming what is wrong."""
    if not path.is_file():
        raise ToolError(f"export file not found: {path}")
    raw = path.read_bytes()
    document = _parse(path, raw)
    return _recording(path, document)


def _parse(path: Path, raw: bytes) -> MatchDocument:
    try:
        return msgspec.json.decode(raw, type=MatchDocument)
    except msgspec.DecodeError:
        pass
    header: MatchHeader | None = None
    events: list[EventRecord] = []
    commands: list[CommandRecord] = []
    decoder = msgspec.json.Decoder(AnyRecord)
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise ToolError(f"{path} line {number}: not a match export record: {exc}") from None
        if isinstance(record, MatchHeader):
            if header is not None:
                raise ToolError(f"{path} line {number}: a second match header")
            header = record
        elif header is None:
            raise ToolError(f"{path} line {number}: records before the match header")
        elif isinstance(record, EventRecord):
            events.append(record)
        else:
            commands.append(record)
    if header is None:
        raise ToolError(f"{path}: no match header; not a match export")
    return MatchDocument(match=header, events=events, commands=commands)


def _recording(path: Path, document: MatchDocument) -> MatchRecording:
    header = document.match
    if header.format != FORMAT or header.format_version != FORMAT_VERSION:
        raise ToolError(
            f"{path}: unsupported export format {header.format} v{header.format_version}"
        )
    room_id = header.room_id
    stored = []
    for index, record in enumerate(document.events):
        if record.version != index + 1:
            raise ToolError(f"{path}: event {index + 1} is recorded as version {record.version}")
        event = decode_stored(
            room_id,
            RecordedEvent(
                room_id,
                record.version,
                record.position,
                record.type,
                record.schema_version,
                record.data,
                record.recorded_at,
            ),
        )
        if {"type": event.type, **field_map(event.event)} != record.event:
            raise ToolError(
                f"{path}: v{record.version} {record.type}: the readable event disagrees with its data"
            )
        stored.append(event)
    if header.last_version != len(stored):
        raise ToolError(
            f"{path}: the header says {header.last_version} events, the file holds {len(stored)}"
        )
    commands = tuple(
        RecordedCommand(room_id, c.command_id, c.data, c.at, c.first_version, c.last_version)
        for c in document.commands
    )
    for command, command_record in zip(commands, document.commands, strict=True):
        if _readable_command(room_id, command) != command_record.command:
            raise ToolError(
                f"{path}: command {command.command_id!r}: the readable command disagrees "
                "with its data"
            )
    return MatchRecording(
        room_id=room_id,
        status=header.status,
        origin=str(path),
        created_at=header.created_at,
        updated_at=header.updated_at,
        events=tuple(stored),
        commands=commands,
    )


# --- importing into a store --------------------------------------------------------------


def append_requests(recording: MatchRecording) -> list[AppendRequest]:
    """The appends that rebuild the match: one per recorded command, with its bytes and time.

    Versions no command produced (a stream imported without commands) are appended bare.
    """
    events = recording.events
    requests: list[AppendRequest] = []
    next_version = 1

    def bare(up_to: int) -> None:
        nonlocal next_version
        if up_to >= next_version:
            requests.append(
                AppendRequest(
                    recording.room_id,
                    next_version - 1,
                    tuple(_new(e) for e in events[next_version - 1 : up_to]),
                )
            )
            next_version = up_to + 1

    for command in recording.commands:
        if command.first_version < next_version or command.last_version > len(events):
            raise ToolError(
                f"{recording.origin}: command {command.command_id!r} covers "
                f"v{command.first_version}-v{command.last_version}, which do not follow on"
            )
        bare(command.first_version - 1)
        requests.append(
            AppendRequest(
                recording.room_id,
                command.first_version - 1,
                tuple(_new(e) for e in events[command.first_version - 1 : command.last_version]),
                command_id=command.command_id,
                command=command.command,
                command_at=command.at,
            )
        )
        next_version = command.last_version + 1
    bare(len(events))
    return requests


def _new(stored: StoredEvent) -> NewEvent:
    return NewEvent(stored.type, stored.schema_version, stored.data)


async def import_match(store: EventStore, recording: MatchRecording, target: str) -> int:
    """Write the match into `store` in one batch; returns how many appends were made."""
    if not recording.events:
        raise ToolError(f"{recording.origin}: the match has no events to import")
    if await store.stream_info(recording.room_id) is not None:
        raise ToolError(f"{target} already holds a match {recording.room_id}")
    requests = append_requests(recording)
    results = await store.append_batch(requests)
    for request, result in zip(requests, results, strict=True):
        if isinstance(result, ConcurrencyConflict):
            raise ToolError(
                f"import into {target} conflicted at v{request.expected_version + 1}: {result}"
            )
    if recording.status in ("completed", "archived"):
        await store.set_status(recording.room_id, "completed")
    return len(requests)
