"""`evolve(state, event) -> state`: how each fact changes a room. Pure and total."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from operator import attrgetter
from typing import Any

from msgspec.structs import replace

from engine.events import (
    BotAdded,
    DeclarationStarted,
    Declared,
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
    TrickWon,
)
from engine.pieces import SEATS, is_weak, remove
from engine.state import EMPTY_SEAT, IN_GAME, Phase, RoomState, Seat, TrickPlay, bot_name


def evolve(state: RoomState, event: Event) -> RoomState:
    """The room after `event`; every event advances `version` by one."""
    # Each evolver copies the (large) state once, its changes and the new version together.
    return _EVOLVERS[type(event)](state, event)


def fold(events: Iterable[Event], state: RoomState | None = None) -> RoomState:
    """The room after all `events`, from `state` (default: before creation)."""
    state = state if state is not None else RoomState()
    for event in events:
        state = evolve(state, event)
    return state


_hand_of = attrgetter("hand")  # a seat's hand, to map over seats


def _set_seat(state: RoomState, index: int, seat: Seat) -> tuple[Seat, ...]:
    seats = list(state.seats)
    seats[index] = seat
    return tuple(seats)


def _room_created(state: RoomState, e: RoomCreated) -> RoomState:
    seats = (Seat(name=e.host),) + tuple(
        Seat(name=bot_name(i), is_bot=True) for i in range(1, SEATS)
    )
    return replace(
        state,
        version=state.version + 1,
        room_id=e.room_id,
        phase=Phase.WAITING,
        settings=e.settings,
        seed=e.seed,
        script=e.script,
        created_at=e.at,
        host=0,
        seats=seats,
    )


def _player_joined(state: RoomState, e: PlayerJoined) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        seats=_set_seat(state, e.seat, Seat(name=e.name)),
    )


def _seat_freed(state: RoomState, e: PlayerLeft | PlayerRemoved) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        seats=_set_seat(state, e.seat, EMPTY_SEAT),
    )


def _bot_added(state: RoomState, e: BotAdded) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        seats=_set_seat(state, e.seat, Seat(name=e.name, is_bot=True)),
    )


def _host_changed(state: RoomState, e: HostChanged) -> RoomState:
    return replace(state, version=state.version + 1, host=e.seat)


def _room_closed(state: RoomState, e: RoomClosed) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        phase=Phase.CLOSED,
        ended_at=e.at,
        turn=None,
        due_at=None,
        abandon_at=None,
    )


def _game_started(state: RoomState, e: GameStarted) -> RoomState:
    return replace(
        state, version=state.version + 1, phase=Phase.PREPARATION, needs_deal=True, started_at=e.at
    )


def _hands_dealt(state: RoomState, e: HandsDealt) -> RoomState:
    new_round = e.round != state.round
    seats = tuple(
        replace(
            seat,
            hand=hand,
            weak=is_weak(hand),
            redeal=None,
            declared=None if new_round else seat.declared,
            piles=0,
        )
        for seat, hand in zip(state.seats, e.hands, strict=True)
    )
    changes: dict[str, Any] = {}
    if new_round:
        changes = {"multiplier": 1, "redeal_starter": None, "last_trick": (), "trick": 0}
    return replace(
        state,
        version=state.version + 1,
        phase=Phase.PREPARATION,
        round=e.round,
        seats=seats,
        deals=state.deals + 1,
        needs_deal=False,
        dealt_at=e.at,
        turn=None,
        plays=(),
        best=None,
        due_at=None,
        **changes,
    )


def _redeal_decided(state: RoomState, e: RedealDecided) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        seats=_set_seat(state, e.seat, replace(state.seats[e.seat], redeal=e.accept)),
    )


def _redeal_granted(state: RoomState, e: RedealGranted) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        redeal_starter=e.seat,
        multiplier=e.multiplier,
        needs_deal=True,
        redeals=state.redeals + 1,
    )


def _round_started(state: RoomState, e: RoundStarted) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        phase=Phase.ROUND_START,
        starter=e.starter,
        starter_reason=e.reason,
        multiplier=e.multiplier,
        due_at=e.at + state.settings.round_start_pause,
    )


def _declaration_started(state: RoomState, e: DeclarationStarted) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        phase=Phase.DECLARATION,
        turn=state.starter,
        turn_since=e.at,
        due_at=None,
    )


def _declared(state: RoomState, e: Declared) -> RoomState:
    seat = state.seats[e.seat]
    streak = seat.zero_streak + 1 if e.piles == 0 else 0
    seats = _set_seat(state, e.seat, replace(seat, declared=e.piles, zero_streak=streak))
    if all(s.declared is not None for s in seats):
        return replace(
            state,
            version=state.version + 1,
            seats=seats,
            phase=Phase.TURN,
            trick=1,
            leader=state.starter,
            turn=state.starter,
            turn_since=e.at,
            lead_not_before=e.at,
        )
    return replace(
        state, version=state.version + 1, seats=seats, turn=(e.seat + 1) % SEATS, turn_since=e.at
    )


def _pieces_played(state: RoomState, e: PiecesPlayed) -> RoomState:
    mine = state.seats[e.seat]
    seats = _set_seat(state, e.seat, replace(mine, hand=remove(mine.hand, e.pieces)))
    play = TrickPlay(seat=e.seat, pieces=e.pieces, play_type=e.play_type, value=e.value)
    plays = state.plays + (play,)
    if not state.plays:
        return replace(
            state,
            version=state.version + 1,
            seats=seats,
            plays=plays,
            leader=e.seat,
            required=len(e.pieces),
            best=0,
            turn=(e.seat + 1) % SEATS,
            turn_since=e.at,
        )
    best = state.best
    assert best is not None
    top = state.plays[best]
    if e.play_type is top.play_type and e.value > top.value:
        best = len(state.plays)
    turn = (e.seat + 1) % SEATS if len(plays) < SEATS else None
    return replace(
        state,
        version=state.version + 1,
        seats=seats,
        plays=plays,
        best=best,
        turn=turn,
        turn_since=e.at,
    )


def _trick_won(state: RoomState, e: TrickWon) -> RoomState:
    winner = state.seats[e.seat]
    seats = _set_seat(state, e.seat, replace(winner, piles=winner.piles + e.piles))
    round_over = not any(map(_hand_of, seats))
    pause_end = e.at + state.settings.trick_pause
    return replace(
        state,
        version=state.version + 1,
        seats=seats,
        last_trick=state.plays,
        plays=(),
        best=None,
        required=0,
        last_trick_winner=e.seat,
        leader=e.seat,
        trick=state.trick + (0 if round_over else 1),
        turn=None if round_over else e.seat,
        turn_since=pause_end,
        lead_not_before=pause_end,
        due_at=e.at + state.settings.round_end_pause if round_over else None,
    )


def _round_scored(state: RoomState, e: RoundScored) -> RoomState:
    seats = tuple(replace(s, score=t) for s, t in zip(state.seats, e.totals, strict=True))
    return replace(
        state,
        version=state.version + 1,
        seats=seats,
        phase=Phase.SCORING,
        turn=None,
        due_at=e.at + state.settings.scoring_pause,
    )


def _game_over(state: RoomState, e: GameOver) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        phase=Phase.GAME_OVER,
        winners=e.winners,
        end_reason=e.reason,
        ended_at=e.at,
        turn=None,
        due_at=None,
        abandon_at=None,
    )


def _player_disconnected(state: RoomState, e: PlayerDisconnected) -> RoomState:
    seats = _set_seat(state, e.seat, replace(state.seats[e.seat], connected=False))
    abandon_at = state.abandon_at
    nobody_left = not any(s.is_human and s.connected for s in seats)
    after = state.settings.abandon_after
    if state.phase in IN_GAME and nobody_left and after is not None and abandon_at is None:
        abandon_at = e.at + after
    return replace(state, version=state.version + 1, seats=seats, abandon_at=abandon_at)


def _player_reconnected(state: RoomState, e: PlayerReconnected) -> RoomState:
    return replace(
        state,
        version=state.version + 1,
        seats=_set_seat(state, e.seat, replace(state.seats[e.seat], connected=True)),
        abandon_at=None,
    )


def _forked_from(state: RoomState, e: ForkedFrom) -> RoomState:
    # Every time a deadline or pause is counted from moves by the same amount, so what was
    # due k seconds after the source's event is due k seconds after the fork.
    shift = e.at - e.source_at
    return replace(
        state,
        version=state.version + 1,
        room_id=e.room_id,
        dealt_at=state.dealt_at + shift,
        turn_since=state.turn_since + shift,
        lead_not_before=state.lead_not_before + shift,
        due_at=None if state.due_at is None else state.due_at + shift,
        abandon_at=None if state.abandon_at is None else state.abandon_at + shift,
    )


_EVOLVERS: dict[type[Event], Callable[[RoomState, Any], RoomState]] = {
    RoomCreated: _room_created,
    PlayerJoined: _player_joined,
    PlayerLeft: _seat_freed,
    PlayerRemoved: _seat_freed,
    BotAdded: _bot_added,
    HostChanged: _host_changed,
    RoomClosed: _room_closed,
    GameStarted: _game_started,
    HandsDealt: _hands_dealt,
    RedealDecided: _redeal_decided,
    RedealGranted: _redeal_granted,
    RoundStarted: _round_started,
    DeclarationStarted: _declaration_started,
    Declared: _declared,
    PiecesPlayed: _pieces_played,
    TrickWon: _trick_won,
    RoundScored: _round_scored,
    GameOver: _game_over,
    PlayerDisconnected: _player_disconnected,
    PlayerReconnected: _player_reconnected,
    ForkedFrom: _forked_from,
}
