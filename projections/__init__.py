"""Read models folded from the global event log, with checkpoints, rebuilds and queries."""

from projections.database import default_path
from projections.instructions import (
    Instruction,
    MarkArchived,
    Pause,
    Rebuild,
    Refusal,
    Reset,
    Resume,
    Skip,
    StatusRequest,
)
from projections.leaderboard import Leaderboard
from projections.lobby import Lobby
from projections.match_history import MatchHistory
from projections.player_stats import PlayerStats
from projections.protocol import SHADOW, FoldError, Projection, ReadModelsDamaged
from projections.queries import ReadModels, SyncReadModels, default_projections
from projections.runner import ProjectionRunner
from projections.status import Fault, ProjectionStatus, RunnerStatus, SkippedEvent

__all__ = [
    "SHADOW",
    "Fault",
    "FoldError",
    "Instruction",
    "Leaderboard",
    "Lobby",
    "MarkArchived",
    "MatchHistory",
    "Pause",
    "PlayerStats",
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "ReadModels",
    "ReadModelsDamaged",
    "Rebuild",
    "Refusal",
    "Reset",
    "Resume",
    "RunnerStatus",
    "Skip",
    "SkippedEvent",
    "StatusRequest",
    "SyncReadModels",
    "default_path",
    "default_projections",
]
