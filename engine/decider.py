"""`decide(state, command) -> events | Rejection`: every rule of a room, as one state machine.

A command is first checked and turned into its own events; then the room's automatic steps
that are due at the command's time (dealing, redeal resolution, trick completion, scoring,
pauses, deadlines) follow as further events. No I/O, no clock, no global randomness.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.bots import choose_declaration, choose_play
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
from engine.deadlines import deal_pause_end, lead_opens_at, redeal_deadline
from engine.dealing import next_deal, script_problem
from engine.events import (
    BotAdded,
    CloseReason,
    DeclarationStarted,
    Declared,
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
)
from engine.evolve import evolve
from engine.names import confusable
from engine.pieces import SEATS, Piece, contains
from engine.plays import MAX_PLAY, PlayType, evaluate
from engine.rejections import Code, Rejection
from engine.rules import (
    ZERO_STREAK_LIMIT,
    first_in_play_order,
    game_end,
    legal_declarations,
    play_order,
    round_score,
    winners,
)
from engine.settings import RoomSettings
from engine.state import IN_GAME, Phase, RoomState, bot_name, reserved_for_bots

ROOM_ID = re.compile(r"[A-Z0-9]{6}")
MAX_NAME = 32
# The names bots act under ("Bot 1".."Bot 4"); checked on every move, so a dict, not a regex.
_BOT_SEATS = {bot_name(seat): seat for seat in range(SEATS)}
# Phases in which every command goes on to its handler.
_OPEN = IN_GAME | {Phase.WAITING}
# Enum members read through their class cost a metaclass hook in Python 3.11; the
# per-move paths compare with these names instead.
_DECLARATION, _TURN, _INVALID = Phase.DECLARATION, Phase.TURN, PlayType.INVALID

Decision = tuple[list[Event], RoomState]


def decide(state: RoomState, command: Command) -> list[Event] | Rejection:
    """The events `command` causes in `state`, or why it is refused."""
    result = execute(state, command)
    return result if isinstance(result, Rejection) else result[0]


def execute(state: RoomState, command: Command) -> Decision | Rejection:
    """Decide and fold in one pass: the events and the state after them (what an actor needs)."""
    handler = _HANDLERS.get(type(command))
    if handler is None:
        return Rejection(Code.MALFORMED_COMMAND, f"unknown command {type(command).__name__}")
    events: list[Event] = []
    if state.phase is not Phase.NEW:
        # Deadlines and pauses that ran out before the command take effect first: an answer
        # after the redeal deadline is too late, a move after the pause is on time.
        state = _advance(state, command.at, events)
    if state.phase not in _OPEN:
        refusal = _room_refusal(state, command)
        if refusal is not None:
            return refusal
    outcome = handler(state, command)
    if isinstance(outcome, Rejection):
        return outcome
    for event in outcome:
        state = evolve(state, event)
        events.append(event)
    return events, _advance(state, command.at, events)


def _advance(state: RoomState, now: float, events: list[Event]) -> RoomState:
    """Fold in every automatic step due at `now`, appending its events to `events`."""
    while step := automatic_steps(state, now):
        for event in step:
            state = evolve(state, event)
            events.append(event)
    return state


def _room_refusal(state: RoomState, command: Command) -> Rejection | None:
    """Refusals that depend only on the room's life stage (none while it is open)."""
    if isinstance(command, CreateRoom):
        return None
    if state.phase is Phase.NEW:
        return Rejection(Code.ROOM_NOT_FOUND, "this room does not exist")
    if isinstance(command, Tick):
        return None
    if state.phase is Phase.CLOSED:
        return Rejection(Code.ROOM_CLOSED, "this room is closed")
    if state.phase is Phase.GAME_OVER:
        return Rejection(Code.GAME_OVER, "this game is over")
    return None


# --- who is acting -------------------------------------------------------------------------


def _actor_seat(state: RoomState, player: str) -> int | Rejection:
    """The seat `player` may act for: their own if connected, or a bot-controlled seat as `Bot N`."""
    seat = _BOT_SEATS.get(player)
    if seat is not None:
        if state.seats[seat].bot_controlled:
            return seat
        return Rejection(Code.NOT_IN_ROOM, f"{player} does not control a seat here")
    human = state.seat_of(player)
    if human is None:
        return Rejection(Code.NOT_IN_ROOM, f"{player!r} is not in this room")
    if not state.seats[human].connected:
        return Rejection(Code.NOT_CONNECTED, f"{player!r} must reconnect first")
    return human


def _human_seat(state: RoomState, player: str) -> int | Rejection:
    seat = state.seat_of(player)
    if seat is None:
        return Rejection(Code.NOT_IN_ROOM, f"{player!r} is not in this room")
    return seat


def _host_seat(state: RoomState, player: str) -> int | Rejection:
    seat = _human_seat(state, player)
    if isinstance(seat, Rejection):
        return seat
    if seat != state.host:
        return Rejection(Code.NOT_HOST, "only the host may do this")
    return seat


def _name_problem(state: RoomState, name: str) -> Rejection | None:
    if not (1 <= len(name) <= MAX_NAME) or not name.isprintable() or name != name.strip():
        return Rejection(Code.INVALID_NAME, f"a name is 1-{MAX_NAME} printable characters")
    if reserved_for_bots(name):
        return Rejection(Code.NAME_RESERVED, "names like 'Bot 2' are reserved for bots")
    if any(s.name is not None and s.name.casefold() == name.casefold() for s in state.seats):
        return Rejection(Code.NAME_TAKEN, f"{name!r} is already in this room")
    alike = [s.name for s in state.seats if s.name is not None and confusable(s.name, name)]
    if alike:
        return Rejection(
            Code.NAME_CONFUSABLE, f"{name!r} reads like {alike[0]!r}, already in this room"
        )
    return None


def _waiting(state: RoomState) -> Rejection | None:
    if state.phase is not Phase.WAITING:
        return Rejection(Code.GAME_STARTED, "the game has already started")
    return None


# --- lobby ---------------------------------------------------------------------------------


def _settings_problem(settings: RoomSettings) -> str | None:
    timings = [
        settings.redeal_timeout,
        settings.deal_pause,
        settings.redeal_pause,
        settings.round_start_pause,
        settings.trick_pause,
        settings.round_end_pause,
        settings.scoring_pause,
    ]
    optional = [t for t in (settings.move_timeout, settings.abandon_after) if t is not None]
    if settings.target_score < 1 or settings.round_cap < 1:
        return "target score and round cap must be at least 1"
    if any(not (0 <= t <= 86_400) for t in timings + optional):
        return "times must be between 0 and 86400 seconds"
    return None


def _create_room(state: RoomState, c: CreateRoom) -> list[Event] | Rejection:
    if state.phase is not Phase.NEW:
        return Rejection(Code.ROOM_EXISTS, f"room {state.room_id} already exists")
    if not ROOM_ID.fullmatch(c.room_id):
        return Rejection(Code.INVALID_ROOM_ID, "a room id is 6 uppercase letters or digits")
    name_problem = _name_problem(state, c.player)
    if name_problem is not None:
        return name_problem
    problem = script_problem(c.script)
    if problem is not None:
        return Rejection(Code.INVALID_SCRIPT, problem)
    settings_problem = _settings_problem(c.settings)
    if settings_problem is not None:
        return Rejection(Code.INVALID_SETTINGS, settings_problem)
    return [
        RoomCreated(
            at=c.at,
            room_id=c.room_id,
            host=c.player,
            seed=c.seed,
            settings=c.settings,
            script=c.script,
        )
    ]


def _join(state: RoomState, c: JoinRoom) -> list[Event] | Rejection:
    refusal = _waiting(state) or _name_problem(state, c.player)
    if refusal is not None:
        return refusal
    free = [i for i, s in enumerate(state.seats) if s.name is None]
    if not free:
        return Rejection(Code.ROOM_FULL, "every seat is taken")
    return [PlayerJoined(at=c.at, seat=free[0], name=c.player)]


def _leave(state: RoomState, c: LeaveRoom) -> list[Event] | Rejection:
    if state.phase in IN_GAME:
        return _disconnect(state, Disconnect(command_id=c.command_id, player=c.player, at=c.at))
    seat = _human_seat(state, c.player)
    if isinstance(seat, Rejection):
        return seat
    if seat == state.host:
        return [RoomClosed(at=c.at, reason=CloseReason.HOST_LEFT)]
    return [PlayerLeft(at=c.at, seat=seat, name=c.player)]


def _add_bot(state: RoomState, c: AddBot) -> list[Event] | Rejection:
    host = _waiting(state) or _host_seat(state, c.player)
    if isinstance(host, Rejection):
        return host
    if state.seats[c.seat].name is not None:
        return Rejection(Code.SEAT_OCCUPIED, f"seat P{c.seat + 1} is taken")
    return [BotAdded(at=c.at, seat=c.seat, name=bot_name(c.seat))]


def _remove_player(state: RoomState, c: RemovePlayer) -> list[Event] | Rejection:
    host = _waiting(state) or _host_seat(state, c.player)
    if isinstance(host, Rejection):
        return host
    seat = state.seats[c.seat]
    if seat.name is None:
        return Rejection(Code.SEAT_EMPTY, f"seat P{c.seat + 1} is empty")
    if c.seat == host:
        return Rejection(Code.CANNOT_REMOVE_SELF, "the host leaves instead of removing themself")
    return [PlayerRemoved(at=c.at, seat=c.seat, name=seat.name, was_bot=seat.is_bot)]


def _start(state: RoomState, c: StartGame) -> list[Event] | Rejection:
    host = _waiting(state) or _host_seat(state, c.player)
    if isinstance(host, Rejection):
        return host
    names = [s.name for s in state.seats]
    if any(n is None for n in names):
        return Rejection(Code.NOT_ENOUGH_PLAYERS, "all four seats must be filled")
    return [GameStarted(at=c.at, seats=tuple(n for n in names if n is not None))]


def _disconnect(state: RoomState, c: Disconnect) -> list[Event] | Rejection:
    if state.phase is Phase.WAITING:
        return _leave(state, LeaveRoom(command_id=c.command_id, player=c.player, at=c.at))
    seat = _human_seat(state, c.player)
    if isinstance(seat, Rejection):
        return seat
    if not state.seats[seat].connected:
        return Rejection(Code.NOT_CONNECTED, f"{c.player!r} is already disconnected")
    events: list[Event] = [PlayerDisconnected(at=c.at, seat=seat, name=c.player)]
    mine = state.seats[seat]
    if state.phase is Phase.PREPARATION and mine.weak and mine.redeal is None:
        # RULES: a disconnect while undecided counts as a decline.
        events.append(RedealDecided(at=c.at, seat=seat, accept=False))
    if seat == state.host:
        heirs = [
            s for s in play_order(seat)[1:] if state.seats[s].is_human and state.seats[s].connected
        ]
        if heirs:
            heir = state.seats[heirs[0]]
            assert heir.name is not None
            events.append(HostChanged(at=c.at, seat=heirs[0], name=heir.name))
    return events


def _reconnect(state: RoomState, c: Reconnect) -> list[Event] | Rejection:
    if state.phase not in IN_GAME:
        return Rejection(Code.WRONG_PHASE, "reconnecting is for games in progress")
    seat = _human_seat(state, c.player)
    if isinstance(seat, Rejection):
        return seat
    if state.seats[seat].connected:
        return Rejection(Code.ALREADY_CONNECTED, f"{c.player!r} is connected")
    events: list[Event] = [PlayerReconnected(at=c.at, seat=seat, name=c.player)]
    if state.host != seat and not state.seats[state.host].connected:
        # Hosting passes to a connected human whenever the host is away.
        events.append(HostChanged(at=c.at, seat=seat, name=c.player))
    return events


# --- the round -----------------------------------------------------------------------------


def _decide_redeal(state: RoomState, c: DecideRedeal) -> list[Event] | Rejection:
    if state.phase is not Phase.PREPARATION or state.needs_deal:
        return Rejection(Code.WRONG_PHASE, "redeal decisions are taken right after a deal")
    seat = _actor_seat(state, c.player)
    if isinstance(seat, Rejection):
        return seat
    mine = state.seats[seat]
    if not mine.weak:
        return Rejection(Code.NOT_WEAK, "only a player with a weak hand may ask for a redeal")
    if mine.redeal is not None:
        return Rejection(Code.ALREADY_DECIDED, "this player has already decided")
    return [RedealDecided(at=c.at, seat=seat, accept=c.accept)]


def _declare(state: RoomState, c: Declare) -> list[Event] | Rejection:
    if state.phase is not _DECLARATION:
        return Rejection(Code.WRONG_PHASE, "it is not time to declare")
    seat = _actor_seat(state, c.player)
    if isinstance(seat, Rejection):
        return seat
    if seat != state.turn:
        return Rejection(Code.NOT_YOUR_TURN, f"P{(state.turn or 0) + 1} declares now")
    return _declaration(state, seat, c.piles, c.at)


def declaration_refusal(state: RoomState, seat: int, piles: int) -> Rejection | None:
    """Why `seat` may not declare `piles` now, or None when it may."""
    if not 0 <= piles <= 8:
        return Rejection(Code.DECLARATION_OUT_OF_RANGE, "declare between 0 and 8 piles")
    earlier = [s.declared for s in state.seats if s.declared is not None]
    if piles in legal_declarations(earlier, state.seats[seat].zero_streak):
        return None
    if piles == 0 and state.seats[seat].zero_streak >= ZERO_STREAK_LIMIT:
        return Rejection(
            Code.ZERO_STREAK, "after two zero declarations in a row, declare at least 1"
        )
    return Rejection(Code.DECLARATION_MAKES_EIGHT, "the last declarer may not make the total 8")


def _declaration(state: RoomState, seat: int, piles: int, at: float) -> list[Event] | Rejection:
    refusal = declaration_refusal(state, seat, piles)
    if refusal is not None:
        return refusal
    return [Declared(at=at, seat=seat, piles=piles)]


def _play(state: RoomState, c: Play) -> list[Event] | Rejection:
    if state.phase is not _TURN or state.turn is None:
        return Rejection(Code.WRONG_PHASE, "it is not time to play")
    seat = _actor_seat(state, c.player)
    if isinstance(seat, Rejection):
        return seat
    if seat != state.turn:
        return Rejection(Code.NOT_YOUR_TURN, f"P{state.turn + 1} plays now")
    opens = lead_opens_at(state)
    if opens is not None and c.at < opens:
        return Rejection(Code.TOO_EARLY, "the last trick is still on show")
    pieces = _pieces_named(state.seats[seat].hand, c)
    if isinstance(pieces, Rejection):
        return pieces
    return _play_pieces(state, seat, pieces, c.at)


def _pieces_named(hand: tuple[Piece, ...], c: Play) -> tuple[Piece, ...] | Rejection:
    if (c.pieces is None) == (c.indices is None):
        return Rejection(Code.BAD_PLAY, "name the pieces either by kind or by hand index")
    if c.indices is not None:
        if len(set(c.indices)) != len(c.indices) or not all(0 <= i < len(hand) for i in c.indices):
            return Rejection(Code.BAD_INDICES, f"indices must be distinct, 0-{len(hand) - 1}")
        return tuple(hand[i] for i in c.indices)
    assert c.pieces is not None
    if not contains(hand, c.pieces):
        return Rejection(Code.PIECES_NOT_IN_HAND, "those pieces are not in this hand")
    return c.pieces


def _play_pieces(
    state: RoomState, seat: int, pieces: tuple[Piece, ...], at: float
) -> list[Event] | Rejection:
    """`seat` plays `pieces` into the current trick, unless they cannot lead or follow it."""
    play_type, value = evaluate(pieces)
    if not state.plays:
        if not 1 <= len(pieces) <= MAX_PLAY or play_type is _INVALID:
            return Rejection(Code.INVALID_LEAD, "a lead must be a valid play of 1-6 pieces")
    elif len(pieces) != state.required:
        return Rejection(Code.WRONG_PIECE_COUNT, f"play exactly {state.required} pieces")
    return [PiecesPlayed(at=at, seat=seat, pieces=pieces, play_type=play_type, value=value)]


def _tick(state: RoomState, c: Tick) -> list[Event]:
    return []


# --- automatic steps -----------------------------------------------------------------------


def automatic_steps(state: RoomState, now: float) -> list[Event]:
    """The next events the room makes by itself at time `now` (empty when nothing is due)."""
    phase_step = _PHASE_STEPS.get(state.phase)
    if phase_step is None:  # not in a game
        return []
    if state.abandon_at is not None and now >= state.abandon_at:
        return [RoomClosed(at=now, reason=CloseReason.ABANDONED)]
    return phase_step(state, now)


def next_due(state: RoomState, now: float) -> float | None:
    """When a timer (the room's, or an outside driver's) must next act, seen at `now`.

    That is the earliest deadline of an automatic step (one already passed is due now: a
    `Tick` runs it), or, while it lasts, a wait during which a command is refused as too
    early (after it, the command goes through; no `Tick` is needed). None: only players move.
    """
    if state.phase not in IN_GAME:
        return None
    times = [t for t in (state.abandon_at, state.due_at) if t is not None]
    if state.phase is Phase.PREPARATION and not state.needs_deal:
        deadline = redeal_deadline(state)
        times.append(deal_pause_end(state) if deadline is None else deadline)
    turn = state.turn
    timeout = state.settings.move_timeout
    if timeout is not None and turn is not None and not state.seats[turn].bot_controlled:
        times.append(state.turn_since + timeout)
    lead = lead_opens_at(state)
    if lead is not None and lead > now:
        times.append(lead)
    return min(times) if times else None


def _preparation_step(state: RoomState, now: float) -> list[Event]:
    if state.needs_deal:
        # The first deal of the game opens round 1; a redeal stays in its round.
        return [_deal(state, state.round or 1, now)]
    weak = [i for i, s in enumerate(state.seats) if s.weak]
    undecided = [i for i in weak if state.seats[i].redeal is None]
    if undecided:
        deadline = redeal_deadline(state)
        if deadline is not None and now >= deadline:
            return [RedealDecided(at=now, seat=i, accept=False, timed_out=True) for i in undecided]
        return []
    accepters = [i for i in weak if state.seats[i].redeal]
    if accepters:
        counted_from = (
            state.redeal_starter
            if state.redeal_starter is not None
            else (0 if state.round == 1 else (state.last_trick_winner or 0))
        )
        first = first_in_play_order(accepters, counted_from)
        return [RedealGranted(at=now, seat=first, multiplier=state.multiplier + 1)]
    if now < deal_pause_end(state):
        return []
    starter, reason = round_starter(state)
    return [
        RoundStarted(
            at=now, round=state.round, starter=starter, reason=reason, multiplier=state.multiplier
        )
    ]


def _deal(state: RoomState, round_number: int, now: float) -> HandsDealt:
    hands, scripted = next_deal(
        state.seed, state.script, state.deals, state.settings.sort_scripted_hands
    )
    return HandsDealt(
        at=now, round=round_number, deal=state.deals + 1, hands=hands, scripted=scripted
    )


def round_starter(state: RoomState) -> tuple[int, StarterReason]:
    """Who leads the round (RULES §3): redeal accepter, GENERAL_RED holder in round 1, last trick winner, P1."""
    if state.redeal_starter is not None:
        return state.redeal_starter, StarterReason.REDEAL_ACCEPTED
    if state.round == 1:
        for i, seat in enumerate(state.seats):
            if Piece.GENERAL_RED in seat.hand:
                return i, StarterReason.GENERAL_RED
    elif state.last_trick_winner is not None:
        return state.last_trick_winner, StarterReason.LAST_TRICK_WINNER
    return 0, StarterReason.DEFAULT


def _round_start_step(state: RoomState, now: float) -> list[Event]:
    if state.due_at is not None and now >= state.due_at:
        return [DeclarationStarted(at=now, round=state.round)]
    return []


def _turn_step(state: RoomState, now: float) -> list[Event]:
    if len(state.plays) == SEATS:
        assert state.best is not None
        winner = state.plays[state.best].seat
        return [
            TrickWon(
                at=now, round=state.round, trick=state.trick, seat=winner, piles=state.required
            )
        ]
    if state.turn is None:
        if state.due_at is not None and now >= state.due_at:
            return _score_round(state, now)
        return []
    if state.settings.move_timeout is None:  # no move deadline: nothing can be due
        return []
    return _timed_out_move(state, now)


def _score_round(state: RoomState, now: float) -> list[Event]:
    declared = tuple(s.declared or 0 for s in state.seats)
    captured = tuple(s.piles for s in state.seats)
    scores = tuple(
        round_score(d, a, state.multiplier) for d, a in zip(declared, captured, strict=True)
    )
    totals = tuple(s.score + r for s, r in zip(state.seats, scores, strict=True))
    events: list[Event] = [
        RoundScored(
            at=now,
            round=state.round,
            multiplier=state.multiplier,
            declared=declared,
            captured=captured,
            scores=scores,
            totals=totals,
        )
    ]
    reason = game_end(totals, state.round, state.settings.target_score, state.settings.round_cap)
    if reason is not None:
        events.append(GameOver(at=now, reason=reason, winners=winners(totals), totals=totals))
    return events


def _scoring_step(state: RoomState, now: float) -> list[Event]:
    if state.due_at is not None and now >= state.due_at:
        return [_deal(state, state.round + 1, now)]
    return []


def _timed_out_move(state: RoomState, now: float) -> list[Event]:
    """With a move timeout set, a human who lets it pass has the bot move for them."""
    timeout = state.settings.move_timeout
    if timeout is None or state.turn is None:
        return []
    seat = state.seats[state.turn]
    if seat.bot_controlled or now < state.turn_since + timeout:
        return []
    if state.phase is Phase.DECLARATION:
        outcome = _declaration(state, state.turn, choose_declaration(state, state.turn), now)
    else:
        outcome = _play_pieces(state, state.turn, choose_play(state, state.turn), now)
    assert not isinstance(outcome, Rejection), outcome
    return outcome


_PHASE_STEPS: dict[Phase, Callable[[RoomState, float], list[Event]]] = {
    Phase.PREPARATION: _preparation_step,
    Phase.ROUND_START: _round_start_step,
    Phase.DECLARATION: _timed_out_move,
    Phase.TURN: _turn_step,
    Phase.SCORING: _scoring_step,
}
assert set(_PHASE_STEPS) == IN_GAME  # `automatic_steps` tells "in a game" by this table

_HANDLERS: dict[type[Command], Callable[[RoomState, Any], list[Event] | Rejection]] = {
    CreateRoom: _create_room,
    JoinRoom: _join,
    LeaveRoom: _leave,
    AddBot: _add_bot,
    RemovePlayer: _remove_player,
    StartGame: _start,
    DecideRedeal: _decide_redeal,
    Declare: _declare,
    Play: _play,
    Disconnect: _disconnect,
    Reconnect: _reconnect,
    Tick: _tick,
}
