"""The room's state: everything the decider needs, folded from events."""

from __future__ import annotations

import re
from enum import StrEnum

from msgspec import Struct

from engine.commands import Deal
from engine.events import EndReason, StarterReason
from engine.names import reads_like_a_bot
from engine.pieces import Piece
from engine.plays import PlayType
from engine.settings import RoomSettings


class Phase(StrEnum):
    NEW = "NEW"
    WAITING = "WAITING"
    PREPARATION = "PREPARATION"
    ROUND_START = "ROUND_START"
    DECLARATION = "DECLARATION"
    TURN = "TURN"
    SCORING = "SCORING"
    GAME_OVER = "GAME_OVER"
    CLOSED = "CLOSED"


IN_GAME = frozenset(
    {Phase.PREPARATION, Phase.ROUND_START, Phase.DECLARATION, Phase.TURN, Phase.SCORING}
)


# A room's life has ended in these phases: its game is over, or the room closed.
FINISHED = frozenset({Phase.GAME_OVER, Phase.CLOSED})
_BOT_LIKE = re.compile(r"bot\s*\d+", re.IGNORECASE)


def bot_name(seat: int) -> str:
    """The name a bot in `seat` plays under (also when it stands in for a disconnected human)."""
    return f"Bot {seat + 1}"


def bot_like(name: str) -> bool:
    """Whether `name` is of a bot's form, `bot<digits>` in any case ("Bot 2", "bot3"): no
    human has sat under such a name, so a recorded one is a bot's."""
    return _BOT_LIKE.fullmatch(name) is not None


def reserved_for_bots(name: str) -> bool:
    """Whether `name` reads like a bot's ("Bot 2", "bot3", "B0t 2", fullwidth or Cyrillic
    lookalikes: `engine.names`): no human may take it."""
    return bot_like(name) or reads_like_a_bot(name)


class Seat(Struct, frozen=True, kw_only=True, gc=False):
    """One of the four seats; `name is None` means empty."""

    name: str | None = None
    is_bot: bool = False
    connected: bool = True
    hand: tuple[Piece, ...] = ()
    score: int = 0
    declared: int | None = None
    piles: int = 0
    zero_streak: int = 0
    weak: bool = False
    redeal: bool | None = None

    @property
    def is_human(self) -> bool:
        return self.name is not None and not self.is_bot

    @property
    def bot_controlled(self) -> bool:
        """A bot moves for this seat: a bot seat, or a human who is disconnected."""
        return self.name is not None and (self.is_bot or not self.connected)


EMPTY_SEAT = Seat()


class TrickPlay(Struct, frozen=True, gc=False):
    seat: int
    pieces: tuple[Piece, ...]
    play_type: PlayType
    value: int


class RoomState(Struct, frozen=True, kw_only=True, gc=False):
    """A room at one point of its history; `version` counts the events folded into it."""

    version: int = 0
    room_id: str = ""
    phase: Phase = Phase.NEW
    settings: RoomSettings = RoomSettings()
    seed: int = 0
    script: tuple[Deal, ...] = ()
    created_at: float = 0.0
    host: int = 0
    seats: tuple[Seat, ...] = (EMPTY_SEAT,) * 4
    round: int = 0
    deals: int = 0
    needs_deal: bool = False
    dealt_at: float = 0.0
    multiplier: int = 1
    redeal_starter: int | None = None
    starter: int = 0
    starter_reason: StarterReason = StarterReason.DEFAULT
    turn: int | None = None
    turn_since: float = 0.0
    trick: int = 0
    leader: int = 0
    required: int = 0
    plays: tuple[TrickPlay, ...] = ()
    best: int | None = None
    last_trick: tuple[TrickPlay, ...] = ()
    last_trick_winner: int | None = None
    lead_not_before: float = 0.0
    due_at: float | None = None
    abandon_at: float | None = None
    started_at: float | None = None
    ended_at: float | None = None
    end_reason: EndReason | None = None
    winners: tuple[int, ...] = ()
    redeals: int = 0

    @property
    def finished(self) -> bool:
        """Whether the room's life has ended (game over or closed): nothing more happens in it."""
        return self.phase in FINISHED

    def seat_of(self, name: str) -> int | None:
        """The seat of a human named `name`, if seated."""
        for i, seat in enumerate(self.seats):
            if seat.name == name and not seat.is_bot:
                return i
        return None
