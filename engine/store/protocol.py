"""The interface every event store backend implements, in small protocols composed.

`EventStore` is the whole of it: what `open_store` returns and what everything above
`engine/store/` names. Its parts (`EventLog`, `Snapshots`, `Archiving`, `Backups`) let a
caller that needs less say so (the projection runner reads only the log). `InlineCommits`
is an optional capability a backend may add; callers check for it and fall back.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

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


class EventLog(Protocol):
    """Event streams with optimistic concurrency and idempotent commands, and one global
    ordered log over all of them."""

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

    async def wait_for_position(self, position: int, timeout: float | None) -> int:
        """Wait until last_position() >= position or the timeout passes; return last_position()."""
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

    async def close(self) -> None:
        """Release the store's resources; the object is unusable afterwards."""
        ...


class Snapshots(Protocol):
    """One snapshot of state per stream, so recovery replays only the events after it."""

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


class Archiving(Protocol):
    """Finished streams moved out of the hot store into bundles, and forgotten by retention.

    An archived stream still reads through `read_stream` and `read_all`.
    """

    async def archive_stream(self, stream_id: str) -> None:
        """Archive a completed stream; raises StreamNotFound, OperationRefused (not
        completed) or ConcurrencyConflict (appended to meanwhile). Archived already: no-op."""
        ...

    async def apply_retention(self, older_than_days: float | None = None) -> list[str]:
        """Forget archived streams archived more than `older_than_days` ago (None: keep
        all); their ids."""
        ...

    @property
    def missing_bundles(self) -> tuple[str, ...]:
        """Archived streams whose bundle was missing when the store opened (empty when the
        archive is whole); while there are any, `read_all` refuses pages that could hold them."""
        ...

    async def forget_missing_bundles(self) -> list[str]:
        """Give up the archived streams whose bundles are lost, so the log reads whole again;
        their ids."""
        ...

    async def export_bundle(self, stream_id: str, path: str | os.PathLike[str]) -> None:
        """Write a stream's events as a bundle file (the portable format of `archive`)."""
        ...

    async def import_bundle(self, path: str | os.PathLike[str]) -> str:
        """Add a bundle file to this store as an archived stream; returns its stream id."""
        ...


class Backups(Protocol):
    """A consistent copy of a running store."""

    async def backup(self, target: str | os.PathLike[str]) -> tuple[Path, ...]:
        """Copy the store, while it runs, to files at `target`; the files written. A
        backend that backs up another way (a server's own tools) raises OperationRefused;
        refuses (FileExistsError) to write over a file."""
        ...


class EventStore(EventLog, Snapshots, Archiving, Backups, Protocol):
    """Everything a backend offers: what `open_store` returns and the engine runs on."""


@runtime_checkable
class InlineCommits(Protocol):
    """An embedded backend's fast path: commit a small batch on the caller's thread.

    SQLite commits a few appends in ~0.1-0.3 ms with the GIL released, so committing on
    the event loop's thread saves two thread hops per batch; a server backend has no such
    path (every commit is a round trip). The driver checks for it once and otherwise
    awaits `append_batch`.
    """

    def append_batch_now(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict] | None:
        """`append_batch` at once on this thread if the backend can; None, having written
        nothing, if it cannot right now."""
        ...

    def append_any_batch_now(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict] | None:
        """`append_batch_now` whatever the batch's size (the engine's gathered batches)."""
        ...
