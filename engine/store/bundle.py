"""The bundle: a finished stream's events in one checksummed, lz4-compressed blob.

The portable format of `export_bundle`/`import_bundle`, and how every backend keeps an
archived stream.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import lz4.frame
import msgspec

from engine.store.errors import CorruptData
from engine.store.records import RecordedEvent

MAGIC = b"LTEVBNDL"
FORMAT_VERSION = 1
# magic, format version, length of the msgpack header, crc32 of the msgpack header
_PREFIX = struct.Struct(">8sHII")
# High-compression lz4: a bundle is written once and read many times.
_COMPRESSION_LEVEL = 9


class BundleHeader(msgspec.Struct, frozen=True):
    """What a bundle holds, readable without decompressing its body."""

    format_version: int
    stream_id: str
    first_version: int
    last_version: int
    first_position: int
    last_position: int
    event_count: int
    kinds: tuple[tuple[str, int], ...]
    created_at: float
    body_crc32: int


class BundledEvent(msgspec.Struct, frozen=True, array_like=True):
    """One event inside a bundle body; the stream id is the header's."""

    version: int
    position: int
    type: str
    schema_version: int
    data: bytes
    recorded_at: float


_encode = msgspec.msgpack.Encoder().encode
_decode_header = msgspec.msgpack.Decoder(BundleHeader).decode
_decode_body = msgspec.msgpack.Decoder(list[BundledEvent]).decode


class Bundle(msgspec.Struct, frozen=True):
    """A stream's events as a checksummed header and a compressed body."""

    header: BundleHeader
    header_bytes: bytes
    body: bytes

    def to_bytes(self) -> bytes:
        """Return the bundle as one file's contents."""
        return self.header_bytes + self.body


def encode_bundle(events: Sequence[RecordedEvent], created_at: float) -> Bundle:
    """Pack a whole stream's events, in version order, into a bundle."""
    if not events:
        raise ValueError("a bundle needs at least one event")
    rows = [
        BundledEvent(e.version, e.position, e.type, e.schema_version, e.data, e.recorded_at)
        for e in events
    ]
    body = lz4.frame.compress(_encode(rows), compression_level=_COMPRESSION_LEVEL)
    header = BundleHeader(
        format_version=FORMAT_VERSION,
        stream_id=events[0].stream_id,
        first_version=events[0].version,
        last_version=events[-1].version,
        first_position=events[0].position,
        last_position=events[-1].position,
        event_count=len(events),
        kinds=tuple(sorted({(e.type, e.schema_version) for e in events})),
        created_at=created_at,
        body_crc32=zlib.crc32(body),
    )
    packed = _encode(header)
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, len(packed), zlib.crc32(packed))
    return Bundle(header, prefix + packed, body)


def split_bundle(raw: bytes) -> tuple[bytes, bytes]:
    """Split a bundle file's contents into its header bytes and body bytes."""
    if len(raw) < _PREFIX.size:
        raise CorruptData(None, None, "bundle is truncated")
    magic, _, length, _ = _PREFIX.unpack_from(raw)
    if magic != MAGIC:
        raise CorruptData(None, None, "not an event bundle (bad magic)")
    end = _PREFIX.size + length
    if len(raw) < end:
        raise CorruptData(None, None, "bundle header is truncated")
    return raw[:end], raw[end:]


def read_header(header_bytes: bytes) -> BundleHeader:
    """Decode and check a bundle's header."""
    if len(header_bytes) < _PREFIX.size:
        raise CorruptData(None, None, "bundle header is truncated")
    magic, format_version, length, crc = _PREFIX.unpack_from(header_bytes)
    if magic != MAGIC:
        raise CorruptData(None, None, "not an event bundle (bad magic)")
    if format_version != FORMAT_VERSION:
        raise CorruptData(None, None, f"unknown bundle format version {format_version}")
    packed = header_bytes[_PREFIX.size :]
    if len(packed) != length or zlib.crc32(packed) != crc:
        raise CorruptData(None, None, "bundle header fails its checksum")
    try:
        header = _decode_header(packed)
    except msgspec.DecodeError as exc:
        raise CorruptData(None, None, f"bundle header does not decode: {exc}") from exc
    if header.format_version != format_version:
        raise CorruptData(header.stream_id, None, "bundle header disagrees on its format")
    return header


def decode_bundle(header_bytes: bytes, body: bytes) -> tuple[BundleHeader, list[RecordedEvent]]:
    """Decode a bundle, checking its checksums and that the body matches the header."""
    header = read_header(header_bytes)
    stream_id = header.stream_id
    if zlib.crc32(body) != header.body_crc32:
        raise CorruptData(stream_id, None, "bundle body fails its checksum")
    try:
        rows = _decode_body(lz4.frame.decompress(body))
    except Exception as exc:  # lz4 raises RuntimeError, msgspec DecodeError
        raise CorruptData(stream_id, None, f"bundle body does not decode: {exc}") from exc
    if not rows or len(rows) != header.event_count:
        raise CorruptData(stream_id, None, "bundle event count disagrees with its header")
    events: list[RecordedEvent] = []
    version = header.first_version
    position = header.first_position - 1
    for row in rows:
        if row.version != version or row.position <= position:
            raise CorruptData(stream_id, version, "bundle events are out of order")
        version += 1
        position = row.position
        events.append(
            RecordedEvent(
                stream_id,
                row.version,
                row.position,
                row.type,
                row.schema_version,
                row.data,
                row.recorded_at,
            )
        )
    if (
        events[-1].version != header.last_version
        or events[0].position != header.first_position
        or events[-1].position != header.last_position
        or {(e.type, e.schema_version) for e in events} != set(header.kinds)
    ):
        raise CorruptData(stream_id, None, "bundle events disagree with its header")
    return header, events


class BundleCache:
    """Recently decoded bundles, so paging read_all through archived streams stays cheap."""

    def __init__(self, capacity: int = 64) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, list[RecordedEvent]] = OrderedDict()

    def get(self, stream_id: str) -> list[RecordedEvent] | None:
        """Return a cached bundle's events, marking it recently used."""
        events = self._entries.get(stream_id)
        if events is not None:
            self._entries.move_to_end(stream_id)
        return events

    def put(self, stream_id: str, events: list[RecordedEvent]) -> None:
        """Remember a decoded bundle, evicting the least recently used."""
        self._entries[stream_id] = events
        self._entries.move_to_end(stream_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def forget(self, stream_id: str) -> None:
        """Drop a bundle that was replaced or deleted."""
        self._entries.pop(stream_id, None)


def decode_stored(
    stream_id: str, header_bytes: bytes, body: bytes
) -> tuple[BundleHeader, list[RecordedEvent]]:
    # A damaged header cannot say whose bundle it is; the row it was read from can.
    try:
        header, events = decode_bundle(header_bytes, body)
    except CorruptData as exc:
        if exc.stream_id is None:
            raise CorruptData(stream_id, exc.version, exc.what) from exc
        raise
    if header.stream_id != stream_id:
        raise CorruptData(stream_id, None, f"bundle holds stream {header.stream_id!r}")
    return header, events


def write_file_atomically(path: Path, raw: bytes) -> None:
    """Write `raw` to `path` so that a reader sees the old file or the whole new one."""
    # Write beside, fsync, then rename: a reader never sees half a bundle.
    partial_path = path.with_name(path.name + ".partial")
    with open(partial_path, "wb") as file:
        file.write(raw)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial_path, path)
