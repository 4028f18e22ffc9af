"""Per-player views: what one player may see of a room, and of each event.

Nobody's hand reaches anyone else: a player sees their own hand and the sizes of the
others; a spectator (player None) sees no hand at all.
"""

from __future__ import annotations

from msgspec import Struct
from msgspec.structs import replace

from engine.events import Event, HandsDealt, RoomCreated
from engine.pieces import Piece
from engine.state import Phase, RoomState, TrickPlay


class SeatView(Struct, frozen=True, kw_only=True):
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


class PlayerView(Struct, frozen=True, kw_only=True):
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
    winning: int | None
    last_trick: tuple[TrickPlay, ...]
    seats: tuple[SeatView, ...]
    winners: tuple[int, ...]


def viewer_seat(state: RoomState, player: str | None) -> int | None:
    """The seat whose private information `player` may see (None for spectators)."""
    return None if player is None else state.seat_of(player)


def view(state: RoomState, player: str | None) -> PlayerView:
    """The room seen by `player` (a seated human's name) or by a spectator (None)."""
    mine = viewer_seat(state, player)
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
        )
        for i, s in enumerate(state.seats)
    )
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
        last_trick=state.last_trick,
        seats=seats,
        winners=state.winners,
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
