"""Per-player views: what one player may see of a room, and of each event.

Nobody's hand reaches anyone else: a player sees their own hand and the sizes of the
others; a spectator (player None) sees no hand at all. A name is seen as the seat it sits
in, a human's or a bot's ("Bot 2"); `seat_view` is the same view addressed by seat number,
for drivers that act for any seat (an oracle, a bot farm, a replay).
"""

from __future__ import annotations

from msgspec import Struct
from msgspec.structs import replace

from engine.deadlines import redeal_deadline
from engine.events import Event, HandsDealt, RoomCreated
from engine.pieces import SEATS, Piece
from engine.rules import legal_declarations
from engine.state import Phase, RoomState, TrickPlay


class SeatView(Struct, frozen=True, kw_only=True, gc=False):
    seat: int
    name: str | None
    is_bot: bool
    connected: bool
    hand_size: int
    score: int
    declared: int | None
    piles: int
    weak: bool | None
    redeal: bool | None
    zero_streak: int


class PlayerView(Struct, frozen=True, kw_only=True, gc=False):
    """The room as `player` sees it; `hand` is empty for spectators and empty seats."""

    room_id: str
    version: int
    phase: Phase
    player: str | None
    my_seat: int | None
    hand: tuple[Piece, ...]
    host: int
    round: int
    multiplier: int
    starter: int
    turn: int | None
    trick: int
    required: int
    plays: tuple[TrickPlay, ...]
    winning: int | None  # index into `plays` of the provisional winner
    winning_seat: int | None
    last_trick: tuple[TrickPlay, ...]
    seats: tuple[SeatView, ...]
    winners: tuple[int, ...]
    lead_not_before: float  # a lead sent earlier is refused (`too_early`)
    redeal_deadline: float | None  # undecided weak hands decline at this time
    legal_declarations: tuple[int, ...]  # what the viewer may declare now (empty if not asked)


class NoSuchSeat(ValueError):
    """A seat number outside 0-3 was asked for."""


def viewer_seat(state: RoomState, player: str | None) -> int | None:
    """The seat whose private information `player` may see: the seat that name sits in,
    a human's or a bot's; None for spectators and for names with no seat here."""
    if player is None:
        return None
    for i, seat in enumerate(state.seats):
        if seat.name == player:
            return i
    return None


def view(state: RoomState, player: str | None) -> PlayerView:
    """The room seen by `player` (the name of a seated human or bot) or by a spectator (None)."""
    return _view(state, player, viewer_seat(state, player))


def seat_view(state: RoomState, seat: int) -> PlayerView:
    """The room as the occupant of `seat` sees it, whoever sits there (a trusted view)."""
    if not 0 <= seat < SEATS:
        raise NoSuchSeat(f"seat {seat} is not one of 0-{SEATS - 1}")
    return _view(state, state.seats[seat].name, seat)


def _view(state: RoomState, player: str | None, mine: int | None) -> PlayerView:
    seats = tuple(
        SeatView(
            seat=i,
            name=s.name,
            is_bot=s.is_bot,
            connected=s.connected,
            hand_size=len(s.hand),
            score=s.score,
            declared=s.declared,
            piles=s.piles,
            # Only the player themself learns whether their hand is weak before they answer.
            weak=s.weak if i == mine or s.redeal is not None else None,
            redeal=s.redeal,
            zero_streak=s.zero_streak,
        )
        for i, s in enumerate(state.seats)
    )
    asked = state.phase is Phase.DECLARATION and mine is not None and state.turn == mine
    legal: tuple[int, ...] = ()
    if asked and mine is not None:
        earlier = [s.declared for s in state.seats if s.declared is not None]
        legal = tuple(legal_declarations(earlier, state.seats[mine].zero_streak))
    return PlayerView(
        room_id=state.room_id,
        version=state.version,
        phase=state.phase,
        player=player,
        my_seat=mine,
        hand=state.seats[mine].hand if mine is not None else (),
        host=state.host,
        round=state.round,
        multiplier=state.multiplier,
        starter=state.starter,
        turn=state.turn,
        trick=state.trick,
        required=state.required,
        plays=state.plays,
        winning=state.best,
        winning_seat=state.plays[state.best].seat if state.best is not None else None,
        last_trick=state.last_trick,
        seats=seats,
        winners=state.winners,
        lead_not_before=state.lead_not_before,
        redeal_deadline=redeal_deadline(state),
        legal_declarations=legal,
    )


def redact(event: Event, seat: int | None) -> Event:
    """`event` as the player in `seat` may see it: other seats' dealt hands are emptied."""
    if isinstance(event, HandsDealt):
        hands = tuple(h if i == seat else () for i, h in enumerate(event.hands))
        return replace(event, hands=hands)
    if isinstance(event, RoomCreated) and event.script:
        # A scripted dealer holds every seat's future hands; nobody may read them.
        return replace(event, script=())
    return event
