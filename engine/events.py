"""The event catalogue: facts about a room, in the order they happened.

Every event is a frozen msgspec Struct tagged with its class name and carrying `at`, the
engine time in seconds. `SCHEMA_VERSION` is the current schema of each type; stored older
versions are lifted by the upcasters in `engine.upcasting`. Seats are 0-based (P1 = 0).
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from msgspec import Struct

from engine.pieces import Piece
from engine.plays import PlayType
from engine.settings import RoomSettings


class StarterReason(StrEnum):
    REDEAL_ACCEPTED = "redeal_accepted"
    GENERAL_RED = "general_red"
    LAST_TRICK_WINNER = "last_trick_winner"
    DEFAULT = "default"


class CloseReason(StrEnum):
    HOST_LEFT = "host_left"
    ABANDONED = "abandoned"


class EndReason(StrEnum):
    TARGET_SCORE = "target_score"
    ROUND_CAP = "round_cap"


class Event(Struct, frozen=True, kw_only=True, tag_field="type", tag=True, gc=False):
    SCHEMA_VERSION: ClassVar[int] = 1
    at: float


class RoomCreated(Event, frozen=True, kw_only=True):
    room_id: str
    host: str
    seed: int
    settings: RoomSettings
    script: tuple[tuple[tuple[Piece, ...], ...], ...] = ()


class PlayerJoined(Event, frozen=True, kw_only=True):
    seat: int
    name: str


class PlayerLeft(Event, frozen=True, kw_only=True):
    seat: int
    name: str


class BotAdded(Event, frozen=True, kw_only=True):
    seat: int
    name: str


class PlayerRemoved(Event, frozen=True, kw_only=True):
    seat: int
    name: str
    was_bot: bool


class HostChanged(Event, frozen=True, kw_only=True):
    seat: int
    name: str


class RoomClosed(Event, frozen=True, kw_only=True):
    reason: CloseReason


class GameStarted(Event, frozen=True, kw_only=True):
    seats: tuple[str, ...]


class HandsDealt(Event, frozen=True, kw_only=True):
    round: int
    deal: int
    hands: tuple[tuple[Piece, ...], ...]
    scripted: bool


class RedealDecided(Event, frozen=True, kw_only=True):
    seat: int
    accept: bool
    timed_out: bool = False


class RedealGranted(Event, frozen=True, kw_only=True):
    seat: int
    multiplier: int


class RoundStarted(Event, frozen=True, kw_only=True):
    round: int
    starter: int
    reason: StarterReason
    multiplier: int


class DeclarationStarted(Event, frozen=True, kw_only=True):
    round: int


class Declared(Event, frozen=True, kw_only=True):
    seat: int
    piles: int


class PiecesPlayed(Event, frozen=True, kw_only=True):
    """A seat's play in the current trick (V2 added `play_type`, V3 added `value`)."""

    SCHEMA_VERSION: ClassVar[int] = 3
    seat: int
    pieces: tuple[Piece, ...]
    play_type: PlayType
    value: int


class TrickWon(Event, frozen=True, kw_only=True):
    round: int
    trick: int
    seat: int
    piles: int


class RoundScored(Event, frozen=True, kw_only=True):
    round: int
    multiplier: int
    declared: tuple[int, ...]
    captured: tuple[int, ...]
    scores: tuple[int, ...]
    totals: tuple[int, ...]


class GameOver(Event, frozen=True, kw_only=True):
    reason: EndReason
    winners: tuple[int, ...]
    totals: tuple[int, ...]


class PlayerDisconnected(Event, frozen=True, kw_only=True):
    seat: int
    name: str


class PlayerReconnected(Event, frozen=True, kw_only=True):
    seat: int
    name: str


class ForkedFrom(Event, frozen=True, kw_only=True):
    """This stream's events so far are `source_room`'s first `source_version`, copied; the
    room lives on from here as `room_id`, its deadlines moved by `at - source_at`."""

    room_id: str
    source_room: str
    source_version: int
    source_at: float


AnyEvent = (
    RoomCreated
    | PlayerJoined
    | PlayerLeft
    | BotAdded
    | PlayerRemoved
    | HostChanged
    | RoomClosed
    | GameStarted
    | HandsDealt
    | RedealDecided
    | RedealGranted
    | RoundStarted
    | DeclarationStarted
    | Declared
    | PiecesPlayed
    | TrickWon
    | RoundScored
    | GameOver
    | PlayerDisconnected
    | PlayerReconnected
    | ForkedFrom
)

EVENT_TYPES: dict[str, type[Event]] = {cls.__name__: cls for cls in AnyEvent.__args__}


def ends_room(event: Event) -> bool:
    """Whether `event` ends the room's life (its state is then `finished`): nothing follows it."""
    return isinstance(event, GameOver | RoomClosed)
