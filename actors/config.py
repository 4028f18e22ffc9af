"""The engine's configuration: one typed object, with defaults for a real server."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct
from msgspec.structs import replace

from engine.settings import RoomSettings


class EngineConfig(Struct, frozen=True, kw_only=True):
    """Paths, durability, timing and limits of one engine; see docs/operations.md."""

    path: str = "games.db"
    archive_path: str | None = None  # default: "<path>.archive.db" beside the store
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"  # FULL: fsync every commit
    group_commit: bool = True  # False commits every append on its own (for comparison)
    commit_pipeline: int = 2  # group-commit batches in flight at once
    overlap_min: int = 8  # server stores: appends a batch needs to commit beside one in flight
    inline_commits: int = 8  # batches of at most this many appends commit on the loop's thread
    gather_above: float = 3000.0  # appends/s above which a batch waits commit_delay, then inline
    commit_delay: float = 0.002  # seconds such a batch waits for others to share its commit
    inline_reads: bool = True  # a recovering room reads its snapshot + tail on the loop's thread
    room_settings: RoomSettings = RoomSettings()
    bot_delay: float = 1.0  # seconds a bot "thinks" before moving; 0 moves at once
    snapshot_every: int = 50  # events between snapshots of a room
    passivate_after: float = 120.0  # idle seconds before a room is snapshotted and stopped
    sweep_interval: float = 5.0  # how often idle rooms are looked for
    max_recoveries: int = 16  # rooms recovering from the store at the same time
    stash_limit: int = 64  # commands waiting behind a room's in-flight one
    dedupe_window: int = 64  # recent command ids a room answers from memory
    rate_per_second: float = 20.0  # per-player token bucket refill
    rate_burst: float = 40.0  # per-player token bucket size
    rate_limit_players: int = 100_000  # buckets kept before the oldest are dropped
    rooms_per_minute: float = 10.0  # rooms one host name may open, refilled per minute
    rooms_burst: float = 10.0  # ...and at once
    archive_after: float | None = 60.0  # seconds after a match ends; None = never archive
    archive_retry: float = 5.0  # first wait after a failed archival; doubles, up to 10 min
    retention_days: float | None = None  # delete archived bundles older than this; None = keep
    projections: bool = True  # keep the read models (lobby, leaderboard, ...) up to date
    projections_path: str | None = None  # default: "<path>.projections.db"
    count_forks: bool = False  # forks count in the leaderboard and player statistics
    spectator_flush: float = 0.1  # seconds between wake-ups of a room's spectators
    spectator_share: float = 0.05  # of the loop's time all spectator wake-up rounds may take
    spectator_max_lag: int = 256  # commits a spectator may leave unread before it is dropped
    projections_gather: float = 0.05  # seconds new events gather before the read models fold them
    max_slice: float = 0.0002  # seconds of actor work per event-loop turn before yielding

    @classmethod
    def fast(cls, path: str = "games.db", **changes: object) -> EngineConfig:
        """Zero pauses and bot delays, no abandonment: for simulations and tests."""
        base = cls(path=path, room_settings=RoomSettings.fast(), bot_delay=0.0)
        return replace(base, **changes)
