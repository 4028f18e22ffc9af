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
from projections.leaderboard import LeaderboardEntry, LeaderboardProjection
from projections.lobby import LobbyProjection, LobbyRoom, LobbySeat
from projections.match_history import (
    MatchDetail,
    MatchHistoryProjection,
    MatchSummary,
    RoundScore,
    SeatScore,
)
from projections.pages import Page
from projections.player_stats import PlayerStats, PlayerStatsProjection
from projections.protocol import SHADOW, FoldError, Projection, ReadModelsDamaged
from projections.queries import ReadModels, SyncReadModels, default_projections
from projections.runner import ProjectionRunner
from projections.status import Fault, ProjectionStatus, RunnerStatus, SkippedEvent

__all__ = [
    "SHADOW",
    "Fault",
    "FoldError",
    "Instruction",
    "LeaderboardEntry",
    "LeaderboardProjection",
    "LobbyProjection",
    "LobbyRoom",
    "LobbySeat",
    "MarkArchived",
    "MatchDetail",
    "MatchHistoryProjection",
    "MatchSummary",
    "Page",
    "Pause",
    "PlayerStats",
    "PlayerStatsProjection",
    "Projection",
    "ProjectionRunner",
    "ProjectionStatus",
    "ReadModels",
    "ReadModelsDamaged",
    "Rebuild",
    "Refusal",
    "Reset",
    "Resume",
    "RoundScore",
    "RunnerStatus",
    "SeatScore",
    "Skip",
    "SkippedEvent",
    "StatusRequest",
    "SyncReadModels",
    "default_path",
    "default_projections",
]
