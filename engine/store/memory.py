"""An in-process event store for tests and tools that need no durability."""

from __future__ import annotations

import bisect
import logging
import time
from collections.abc import Callable, Collection, Sequence
from itertools import islice

import msgspec

from engine.store.batch import StreamHead, plan_batch, validate_requests
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

log = logging.getLogger("engine.store")


class MemoryEventStore:
    """The EventStore protocol held in Python lists and dicts; lost when the process ends."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._events: list[RecordedEvent] = []
        self._positions: list[int] = []
        self._streams: dict[str, list[RecordedEvent]] = {}
        self._info: dict[str, StreamInfo] = {}
        self._applied: dict[tuple[str, str], AppendResult] = {}
        self._commands: dict[str, list[RecordedCommand]] = {}
        self._snapshots: dict[str, Snapshot] = {}
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
        plan = plan_batch(reqs, heads, self._applied, self._head_position(), now)
        for position, stream_id, version, type_, schema_version, data, _, at in plan.events:
            event = RecordedEvent(stream_id, version, position, type_, schema_version, data, at)
            self._events.append(event)
            self._positions.append(position)
            self._streams.setdefault(stream_id, []).append(event)
        for stream_id, head in plan.heads.items():
            self._info[stream_id] = StreamInfo(
                stream_id, head.status, head.last_version, head.created_at, now
            )
        for stream_id, command_id, command, at, first, last, first_pos, last_pos in plan.commands:
            self._applied[(stream_id, command_id)] = AppendResult(
                stream_id, first, last, first_pos, last_pos
            )
            self._commands.setdefault(stream_id, []).append(
                RecordedCommand(stream_id, command_id, command, at, first, last)
            )
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

    async def close(self) -> None:
        """Mark the store closed and wake any waiting readers."""
        self._closed = True
        self._waiters.wake_all()

    async def _current_position(self) -> int:
        return self._head_position()

    def _head_position(self) -> int:
        return self._positions[-1] if self._positions else 0

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("the store is closed")
