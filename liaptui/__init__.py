"""Liap Tui, the event-sourced game engine that multiplayer game servers embed.

Everything an embedding program needs, from one import::

    from liaptui import Engine, StartGame

The engine (`Engine`, `SyncEngine`, `EngineConfig`), the commands a player sends, the
events a room records, what a refusal says (`Rejection`, `Code`), what a player sees
(`PlayerView`, `view`, `seat_view`), the read models' results, the store's URL factory and errors,
and the pure core (`decide`, `evolve`, `RoomState`) for a driver of one's own.
"""

from actors.config import EngineConfig
from actors.facade import Accepted, Engine, SyncEngine
from engine.commands import (
    AddBot,
    AnyCommand,
    Command,
    CreateRoom,
    Deal,
    DecideRedeal,
    Declare,
    Disconnect,
    JoinRoom,
    LeaveRoom,
    Play,
    Reconnect,
    RemovePlayer,
    StartGame,
    Tick,
)
from engine.decider import decide, next_due
from engine.events import (
    AnyEvent,
    BotAdded,
    CloseReason,
    DeclarationStarted,
    Declared,
    EndReason,
    Event,
    GameOver,
    GameStarted,
    HandsDealt,
    HostChanged,
    PiecesPlayed,
    PlayerDisconnected,
    PlayerJoined,
    PlayerLeft,
    PlayerReconnected,
    PlayerRemoved,
    RedealDecided,
    RedealGranted,
    RoomClosed,
    RoomCreated,
    RoundScored,
    RoundStarted,
    StarterReason,
    TrickWon,
    ends_room,
)
from engine.evolve import evolve
from engine.pieces import Colour, Name, Piece
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from engine.state import Phase, RoomState
from engine.store import EventStore, StoreError, open_store
from engine.views import NoSuchSeat, PlayerView, SeatView, seat_view, view
from projections import (
    LeaderboardEntry,
    LobbyRoom,
    MatchDetail,
    MatchSummary,
    Page,
    PlayerStats,
    ReadModels,
    SyncReadModels,
)

__all__ = [
    "Accepted",
    "AddBot",
    "AnyCommand",
    "AnyEvent",
    "BotAdded",
    "CloseReason",
    "Code",
    "Colour",
    "Command",
    "CreateRoom",
    "Deal",
    "DecideRedeal",
    "DeclarationStarted",
    "Declare",
    "Declared",
    "Disconnect",
    "EndReason",
    "Engine",
    "EngineConfig",
    "Event",
    "EventStore",
    "GameOver",
    "GameStarted",
    "HandsDealt",
    "HostChanged",
    "JoinRoom",
    "LeaderboardEntry",
    "LeaveRoom",
    "LobbyRoom",
    "MatchDetail",
    "MatchSummary",
    "Name",
    "NoSuchSeat",
    "Page",
    "Phase",
    "Piece",
    "PiecesPlayed",
    "Play",
    "PlayerDisconnected",
    "PlayerJoined",
    "PlayerLeft",
    "PlayerReconnected",
    "PlayerRemoved",
    "PlayerStats",
    "PlayerView",
    "Reconnect",
    "ReadModels",
    "RedealDecided",
    "RedealGranted",
    "Rejection",
    "RemovePlayer",
    "RoomClosed",
    "RoomCreated",
    "RoomSettings",
    "RoomState",
    "RoundScored",
    "RoundStarted",
    "SeatView",
    "StarterReason",
    "StartGame",
    "StoreError",
    "SyncEngine",
    "SyncReadModels",
    "Tick",
    "TrickWon",
    "decide",
    "ends_room",
    "evolve",
    "next_due",
    "open_store",
    "seat_view",
    "view",
]
