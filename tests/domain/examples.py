"""One realistic instance of every event and command type (codec tests and docs/events.md)."""

from __future__ import annotations

from engine.commands import (
    AddBot,
    Command,
    CreateRoom,
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
from engine.dealing import shuffled_deal
from engine.events import (
    BotAdded,
    CloseReason,
    DeclarationStarted,
    Declared,
    EndReason,
    Event,
    ForkedFrom,
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
)
from engine.pieces import Piece
from engine.plays import PlayType
from engine.settings import RoomSettings

EVENTS: list[Event] = [
    RoomCreated(at=0.0, room_id="K7Q2XZ", host="Ann", seed=1174, settings=RoomSettings()),
    PlayerRemoved(at=2.0, seat=1, name="Bot 2", was_bot=True),
    PlayerJoined(at=3.5, seat=1, name="Ben"),
    PlayerLeft(at=6.0, seat=1, name="Ben"),
    BotAdded(at=8.0, seat=1, name="Bot 2"),
    GameStarted(at=10.0, seats=("Ann", "Bot 2", "Bot 3", "Bot 4")),
    HandsDealt(at=10.0, round=1, deal=1, hands=shuffled_deal(1174, 0), scripted=False),
    RedealDecided(at=14.0, seat=2, accept=True),
    RedealDecided(at=40.0, seat=3, accept=False, timed_out=True),
    RedealGranted(at=40.0, seat=2, multiplier=2),
    RoundStarted(at=44.0, round=1, starter=2, reason=StarterReason.REDEAL_ACCEPTED, multiplier=2),
    DeclarationStarted(at=49.0, round=1),
    Declared(at=52.0, seat=2, piles=3),
    PiecesPlayed(
        at=70.0,
        seat=2,
        pieces=(Piece.CHARIOT_RED, Piece.HORSE_RED, Piece.CANNON_RED, Piece.CANNON_RED),
        play_type=PlayType.EXTENDED_STRAIGHT,
        value=18,
    ),
    TrickWon(at=75.0, round=1, trick=1, seat=2, piles=4),
    # Declared 3/0/1/2, captured 4/0/1/3, multiplier 2: -1*2, +3*2, (1+5)*2, -1*2.
    RoundScored(
        at=300.0,
        round=1,
        multiplier=2,
        declared=(3, 0, 1, 2),
        captured=(4, 0, 1, 3),
        scores=(-2, 6, 12, -2),
        totals=(-2, 6, 12, -2),
    ),
    GameOver(at=2400.0, reason=EndReason.TARGET_SCORE, winners=(2,), totals=(31, 12, 53, 40)),
    PlayerDisconnected(at=90.0, seat=0, name="Ann"),
    HostChanged(at=90.0, seat=1, name="Ben"),
    PlayerReconnected(at=95.0, seat=0, name="Ann"),
    RoomClosed(at=130.0, reason=CloseReason.ABANDONED),
    ForkedFrom(
        at=5000.0, room_id="M4T8PW", source_room="K7Q2XZ", source_version=41, source_at=612.5
    ),
]

COMMANDS: list[Command] = [
    CreateRoom(
        command_id="c1",
        player="Ann",
        at=0.0,
        room_id="K7Q2XZ",
        seed=1174,
        settings=RoomSettings.fast(),
    ),
    JoinRoom(command_id="c2", player="Ben", at=3.5),
    LeaveRoom(command_id="c3", player="Ben", at=6.0),
    AddBot(command_id="c4", player="Ann", at=8.0, seat=1),
    RemovePlayer(command_id="c5", player="Ann", at=2.0, seat=1),
    StartGame(command_id="c6", player="Ann", at=10.0),
    DecideRedeal(command_id="c7", player="Cat", at=14.0, accept=True),
    Declare(command_id="c8", player="Bot 3", at=52.0, piles=3),
    Play(
        command_id="c9",
        player="Ann",
        at=70.0,
        pieces=(Piece.CHARIOT_RED, Piece.HORSE_RED, Piece.CANNON_RED, Piece.CANNON_RED),
    ),
    Play(command_id="c10", player="Ann", at=71.0, indices=(0, 3)),
    Disconnect(command_id="c11", player="Ann", at=90.0),
    Reconnect(command_id="c12", player="Ann", at=95.0),
    Tick(command_id="c13", player="", at=130.0),
]
