"""The runner's status: checkpoints, lag, pauses, failures and skipped events."""

from __future__ import annotations

from msgspec import Struct


class Fault(Struct, frozen=True):
    """A poison event: folding it raised, so the projection stopped just before it."""

    position: int
    stream_id: str
    type: str
    error: str


class SkippedEvent(Struct, frozen=True):
    """An event an operator told a projection to leave out."""

    name: str
    position: int
    version: int
    reason: str
    error: str | None
    skipped_at: float


class RebuildStatus(Struct, frozen=True):
    """A rebuild in shadow tables: where it is, where it stops (None: the head), its fault."""

    version: int
    position: int
    target: int | None
    fault: Fault | None


class ProjectionStatus(Struct, frozen=True):
    """One projection: its checkpoint and how far behind the log it is.

    `behind` counts positions between the checkpoint and the log's last position;
    `lag_seconds` is the age of the newest folded event while behind (0 when caught up,
    None when unknown). `stale` means the live tables come from another version and wait
    for the running rebuild to replace them.
    """

    name: str
    version: int
    position: int
    behind: int
    lag_seconds: float | None
    newest_recorded_at: float | None
    paused: bool
    fault: Fault | None
    stale: bool
    rebuild: RebuildStatus | None
    skipped: tuple[SkippedEvent, ...]


class RunnerStatus(Struct, frozen=True):
    """Every projection's status; `error` is why the runner stopped or cannot read the store.

    `standby` is None while this runner folds; otherwise why it does not: another runner
    holds the fold lease, and this one serves the same read models to queries, following
    that runner's checkpoints, until the lease is free and it takes over.
    """

    running: bool
    last_position: int
    error: str | None
    projections: tuple[ProjectionStatus, ...]
    standby: str | None = None

    def of(self, name: str) -> ProjectionStatus:
        """The status of the projection called `name`."""
        for status in self.projections:
            if status.name == name:
                return status
        raise KeyError(name)
