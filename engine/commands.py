"""Commands: what a player (or the engine's clock) asks a room to do.

Every command carries a `command_id` (idempotency), the acting `player` (a name; bots are
`Bot N`; the clock is "") and `at`, the engine's time in seconds. Seats are 0-based (P1 = 0).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from engine.pieces import Piece
from engine.settings import RoomSettings

Deal = tuple[tuple[Piece, ...], ...]
"""The four seats' hands, 8 piece kinds each."""

SeatIndex = Annotated[int, Meta(ge=0, le=3)]


class Command(Struct, frozen=True, kw_only=True, tag_field="type", tag=True, gc=False):
    player: Annotated[str, Meta(max_length=64)]
    command_id: Annotated[str, Meta(max_length=128)] = ""
    at: float = 0.0


def idempotency_key(command: Command) -> str:
    """The key under which a room remembers `command`'s outcome: its id in its player's namespace.

    Two players may use the same `command_id` without one receiving (or pre-empting) the
    other's outcome. The player's name is escaped so that the key names one (player, id) pair.
    """
    player = command.player.replace("\\", "\\\\").replace("/", "\\/")
    return f"{player}/{command.command_id}"


class CreateRoom(Command, frozen=True, kw_only=True):
    """The host opens a room; seats 2-4 are filled with bots."""

    room_id: Annotated[str, Meta(max_length=16)]
    seed: int
    settings: RoomSettings = RoomSettings()
    script: Annotated[tuple[Deal, ...], Meta(max_length=1000)] = ()


class JoinRoom(Command, frozen=True, kw_only=True):
    pass


class LeaveRoom(Command, frozen=True, kw_only=True):
    pass


class AddBot(Command, frozen=True, kw_only=True):
    seat: SeatIndex


class RemovePlayer(Command, frozen=True, kw_only=True):
    """The host removes a bot or kicks a player, freeing the seat."""

    seat: SeatIndex


class StartGame(Command, frozen=True, kw_only=True):
    pass


class DecideRedeal(Command, frozen=True, kw_only=True):
    accept: bool


class Declare(Command, frozen=True, kw_only=True):
    piles: int


class Play(Command, frozen=True, kw_only=True):
    """Play pieces, named either by kind or by index in the current hand (exactly one)."""

    pieces: Annotated[tuple[Piece, ...], Meta(max_length=8)] | None = None
    indices: Annotated[tuple[int, ...], Meta(max_length=8)] | None = None


class Disconnect(Command, frozen=True, kw_only=True):
    pass


class Reconnect(Command, frozen=True, kw_only=True):
    pass


class Tick(Command, frozen=True, kw_only=True):
    """The clock: lets due deadlines and pauses fire. `player` is ""."""


AnyCommand = (
    CreateRoom
    | JoinRoom
    | LeaveRoom
    | AddBot
    | RemovePlayer
    | StartGame
    | DecideRedeal
    | Declare
    | Play
    | Disconnect
    | Reconnect
    | Tick
)
