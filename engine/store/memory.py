"""An in-process event store for tests and tools that need no durability."""

from __future__ import annotations

import bisect
import logging
import os
import time
from collections.abc import Callable, Collection, Sequence
from itertools import islice
from pathlib import Path

import msgspec

from engine.store.batch import StreamHead, plan_batch, validate_requests
from engine.store.bundle import decode_bundle, encode_bundle, split_bundle
from engine.store.errors import (
    ConcurrencyConflict,
    OperationRefused,
    StoreUnavailable,
    StreamNotFound,
)
from engine.store.notify import PositionWaiters
from engine.store.records import (
    STREAM_STATUSES,
    AppendRequest,
    AppendResult,
    RecordedCommand,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    StreamStatus,
)

log = logging.getLogger("liaptui.store")


class MemoryEventStore:
    """The EventStore protocol held in Python lists and dicts; lost when the process ends."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._events: list[RecordedEvent] = []
        self._positions: list[int] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._info: dict[str, StreamInfo] = {}
        self._applied: dict[tuple[str, str], tuple[AppendResult, bytes | None]] = {}
        self._commands: dict[str, list[RecordedCommand]] = {}
        self._snapshots: dict[str, Snapshot] = {}
        self._archived_at: dict[str, float] = {}
        self._retired: set[str] = set()  # ids retention forgot: never started again
        self._last_position = 0  # kept past retention: positions are never reused
        self._waiters = PositionWaiters()
        self._closed = False

    async def append(self, req: AppendRequest) -> AppendResult:
        """Append one request's events atomically; raises ConcurrencyConflict on a mismatch."""
        (result,) = await self.append_batch([req])
        if isinstance(result, ConcurrencyConflict):
            raise result
        return result

    async def append_batch(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict]:
        """Append many requests at once; a conflicting one fails alone in its slot."""
        self._check_open()
        validate_requests(reqs)
        heads = {
            info.stream_id: StreamHead(info.last_version, info.status, info.created_at)
            for req in reqs
            if (info := self._info.get(req.stream_id)) is not None
        }
        now = self._clock()
        plan = plan_batch(reqs, heads, self._applied, self._head_position(), now, self._retired)
        for position, stream_id, version, type_, schema_version, data, _, at in plan.events:
            event = RecordedEvent(stream_id, version, position, type_, schema_version, data, at)
            self._events.append(event)
            self._positions.append(position)
            self._streams.setdefault(stream_id, []).append(event)
        for stream_id, head in plan.heads.items():
            self._info[stream_id] = StreamInfo(
                stream_id, head.status, head.last_version, head.created_at, now
            )
        for row in plan.commands:
            stream_id, command_id, command, at, first, last, first_pos, last_pos, digest, _ = row
            self._applied[(stream_id, command_id)] = (
                AppendResult(stream_id, first, last, first_pos, last_pos),
                digest,
            )
            self._commands.setdefault(stream_id, []).append(
                RecordedCommand(stream_id, command_id, command, at, first, last)
            )
        self._last_position = max(self._last_position, plan.last_position)
        self._waiters.notify(plan.last_position)
        return plan.results

    async def read_stream(
        self, stream_id: str, from_version: int = 0, to_version: int | None = None
    ) -> list[RecordedEvent]:
        """Read a stream's events with from_version < version <= to_version."""
        self._check_open()
        events = self._streams.get(stream_id, [])
        stop = len(events) if to_version is None else max(0, min(len(events), to_version))
        return events[max(0, from_version) : stop]

    async def read_all(
        self, from_position: int = 0, limit: int = 1000, *, types: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        """Read up to `limit` events of every stream with position > from_position, in order
        (only those of `types`, when given)."""
        self._check_open()
        if limit <= 0:
            raise ValueError("limit must be positive")
        start = bisect.bisect_right(self._positions, from_position)
        if types is None:
            return self._events[start : start + limit]
        return list(islice((e for e in self._events[start:] if e.type in types), limit))

    async def last_position(self) -> int:
        """Return the global position of the newest event (0 when empty)."""
        self._check_open()
        return self._head_position()

    async def stream_info(self, stream_id: str) -> StreamInfo | None:
        """Return what the store knows about a stream, or None for an unknown stream."""
        self._check_open()
        return self._info.get(stream_id)

    async def list_streams(
        self,
        status: StreamStatus | None = None,
        updated_after: float | None = None,
        updated_before: float | None = None,
        prefix: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[StreamInfo]:
        """List streams matching every given filter, most recently updated first."""
        self._check_open()
        found = [
            info
            for info in self._info.values()
            if (status is None or info.status == status)
            and (updated_after is None or info.updated_at > updated_after)
            and (updated_before is None or info.updated_at < updated_before)
            and (prefix is None or info.stream_id.startswith(prefix))
        ]
        found.sort(key=lambda info: info.stream_id)
        found.sort(key=lambda info: info.updated_at, reverse=True)
        return found[offset : offset + limit]

    async def set_status(self, stream_id: str, status: StreamStatus) -> None:
        """Mark a stream "active" or "completed"; this store never archives."""
        self._check_open()
        if status not in STREAM_STATUSES:
            raise ValueError(f"unknown stream status {status!r}")
        info = self._info.get(stream_id)
        if info is None:
            raise StreamNotFound(stream_id)
        if status == "archived":
            raise OperationRefused(stream_id, "only archive_stream archives a stream")
        self._info[stream_id] = msgspec.structs.replace(
            info, status=status, updated_at=self._clock()
        )

    async def read_commands(self, stream_id: str) -> list[RecordedCommand]:
        """Read the commands recorded for a stream, in version order."""
        self._check_open()
        return list(self._commands.get(stream_id, []))

    async def wait_for_position(self, position: int, timeout: float | None) -> int:
        """Wait until last_position() >= position or the timeout passes; return last_position()."""
        self._check_open()
        await self._waiters.wait(position, timeout, self._current_position)
        return self._head_position()

    async def save_snapshot(self, snap: Snapshot) -> None:
        """Store a stream's snapshot, replacing the previous one."""
        self._check_open()
        info = self._info.get(snap.stream_id)
        if info is None:
            raise StreamNotFound(snap.stream_id)
        if info.status == "archived":
            raise OperationRefused(snap.stream_id, "an archived stream takes no snapshots")
        if not 0 < snap.version <= info.last_version:
            raise OperationRefused(
                snap.stream_id, f"snapshot version {snap.version} is not a stored version"
            )
        self._snapshots[snap.stream_id] = snap

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        """Return the stream's snapshot if it was saved at `schema_version`, else None."""
        self._check_open()
        snap = self._snapshots.get(stream_id)
        if snap is not None and snap.schema_version != schema_version:
            log.warning(
                "snapshot of %r has schema version %d, wanted %d: ignored",
                stream_id,
                snap.schema_version,
                schema_version,
            )
            return None
        return snap

    async def load_latest(
        self, stream_id: str, schema_version: int
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        """The stream's usable snapshot (or None) and every event after it."""
        snap = await self.load_snapshot(stream_id, schema_version)
        return snap, await self.read_stream(stream_id, snap.version if snap else 0)

    # -- archive: a status change, since nothing here is hot or cold ----------------

    async def archive_stream(self, stream_id: str) -> None:
        """Mark a completed stream archived: it takes no more events or snapshots."""
        self._check_open()
        info = self._info.get(stream_id)
        if info is None:
            raise StreamNotFound(stream_id)
        if info.status == "archived":
            return
        if info.status != "completed":
            raise OperationRefused(
                stream_id, f"only a completed stream is archived, not {info.status}"
            )
        now = self._clock()
        self._info[stream_id] = msgspec.structs.replace(info, status="archived", updated_at=now)
        self._archived_at[stream_id] = now
        self._snapshots.pop(stream_id, None)

    async def apply_retention(self, older_than_days: float | None = None) -> list[str]:
        """Forget streams archived more than `older_than_days` ago (None: keep all)."""
        self._check_open()
        if older_than_days is None:
            return []
        cutoff = self._clock() - older_than_days * 86_400.0
        gone = sorted(s for s, at in self._archived_at.items() if at < cutoff)
        self._retired.update(gone)
        for stream_id in gone:
            del self._archived_at[stream_id], self._info[stream_id]
            self._streams.pop(stream_id, None)
            self._commands.pop(stream_id, None)
            self._applied = {k: v for k, v in self._applied.items() if k[0] != stream_id}
        if gone:
            dropped = set(gone)
            self._events = [e for e in self._events if e.stream_id not in dropped]
            self._positions = [e.position for e in self._events]
        return gone

    @property
    def missing_bundles(self) -> tuple[str, ...]:
        """Always empty: an archived stream's events never leave memory."""
        return ()

    async def forget_missing_bundles(self) -> list[str]:
        """Nothing to forget (see `missing_bundles`)."""
        self._check_open()
        return []

    async def export_bundle(self, stream_id: str, path: str | os.PathLike[str]) -> None:
        """Write a stream's events as a bundle file."""
        self._check_open()
        if stream_id not in self._info:
            raise StreamNotFound(stream_id)
        raw = encode_bundle(self._streams.get(stream_id, []), self._clock()).to_bytes()
        Path(path).write_bytes(raw)

    async def import_bundle(self, path: str | os.PathLike[str]) -> str:
        """Add a bundle file as an archived stream, if its id and positions are free here."""
        self._check_open()
        header, events = decode_bundle(*split_bundle(Path(path).read_bytes()))
        stream_id = header.stream_id
        if stream_id in self._info:
            raise OperationRefused(stream_id, "a stream with this id already exists here")
        used = set(self._positions)
        for event in events:
            if event.position in used:
                raise OperationRefused(stream_id, f"position {event.position} is already used here")
        now = self._clock()
        self._streams[stream_id] = list(events)
        self._events = sorted([*self._events, *events], key=lambda e: e.position)
        self._positions = [e.position for e in self._events]
        last = events[-1].version if events else 0
        self._info[stream_id] = StreamInfo(stream_id, "archived", last, header.created_at, now)
        self._archived_at[stream_id] = now
        self._last_position = max(self._last_position, header.last_position)
        self._waiters.notify(self._head_position())
        return stream_id

    async def backup(self, target: str | os.PathLike[str]) -> tuple[Path, ...]:
        """Refused: an in-memory store has no files to copy."""
        raise OperationRefused(None, "an in-memory store has nothing to back up")

    async def close(self) -> None:
        """Mark the store closed and wake any waiting readers."""
        self._closed = True
        self._waiters.wake_all()

    async def _current_position(self) -> int:
        return self._head_position()

    def _head_position(self) -> int:
        return self._last_position

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the store is closed")
