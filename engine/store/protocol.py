"""The interface every event store backend implements."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from engine.store.errors import ConcurrencyConflict
from engine.store.records import (
    AppendRequest,
    AppendResult,
    RecordedCommand,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    StreamStatus,
)


class EventStore(Protocol):
    """An append-only store of event streams with a global order, commands and snapshots."""

    async def append(self, req: AppendRequest) -> AppendResult:
        """Append one request's events atomically; raises ConcurrencyConflict on a mismatch."""
        ...

    async def append_batch(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict]:
        """Append many requests in one transaction; a conflicting one fails alone in its slot."""
        ...

    async def read_stream(
        self, stream_id: str, from_version: int = 0, to_version: int | None = None
    ) -> list[RecordedEvent]:
        """Read a stream's events with from_version < version <= to_version."""
        ...

    async def read_all(
        self, from_position: int = 0, limit: int = 1000, *, types: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        """Read up to `limit` events of every stream with position > from_position, in order.

        With `types`, only events of those types: a page shorter than `limit` then holds
        every such event up to the log's end when it was read.
        """
        ...

    async def last_position(self) -> int:
        """Return the global position of the newest event (0 when empty)."""
        ...

    async def stream_info(self, stream_id: str) -> StreamInfo | None:
        """Return what the store knows about a stream, or None for an unknown stream."""
        ...

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
        ...

    async def set_status(self, stream_id: str, status: StreamStatus) -> None:
        """Mark a stream "active" or "completed" (archiving is archive_stream's job)."""
        ...

    async def read_commands(self, stream_id: str) -> list[RecordedCommand]:
        """Read the commands recorded for a stream, in version order."""
        ...

    async def wait_for_position(self, position: int, timeout: float | None) -> int:
        """Wait until last_position() >= position or the timeout passes; return last_position()."""
        ...

    async def save_snapshot(self, snap: Snapshot) -> None:
        """Store a stream's snapshot, replacing the previous one."""
        ...

    async def load_snapshot(self, stream_id: str, schema_version: int) -> Snapshot | None:
        """Return the stream's snapshot if it is usable at `schema_version`, else None."""
        ...

    async def load_latest(
        self, stream_id: str, schema_version: int
    ) -> tuple[Snapshot | None, list[RecordedEvent]]:
        """load_snapshot, then read_stream from the snapshot's version (0 without one)."""
        ...

    async def close(self) -> None:
        """Release the store's resources; the object is unusable afterwards."""
        ...
