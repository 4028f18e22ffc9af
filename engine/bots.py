"""Bot policies: deterministic choices for redeals, declarations and plays, always legal.

`choose_*` are pure functions of the room state. `RandomBot` picks uniformly among legal
moves from a seeded RNG; it is the baseline the policy is measured against.
"""

from __future__ import annotations

import random
from bisect import bisect_left, bisect_right
from itertools import combinations

from engine.commands import Command, DecideRedeal, Declare, Play
from engine.deadlines import lead_opens_at
from engine.pieces import POINTS, SEATS, Piece, contains, hand_points
from engine.plays import (
    EVERY_PLAY,
    MAX_PLAY,
    PlayType,
    evaluate,
    strongest_combination,
    takes_over,
    valid_plays,
)
from engine.rules import legal_declarations
from engine.state import Phase, RoomState, bot_name

# Points a piece adds to a hand's expected piles: only the top pieces win singles reliably.
_SINGLE_WEIGHT = {14: 1.0, 13: 0.9, 12: 0.7, 11: 0.5, 10: 0.25}
_WEIGHT = {p: _SINGLE_WEIGHT.get(POINTS[p], 0.0) for p in Piece}  # the same, by piece
REDEAL_BELOW = 30
_NAMES = tuple(bot_name(seat) for seat in range(SEATS))  # the name each seat's bot plays as
# Phases in which only the seat whose turn it is moves.
_ONE_MOVER = frozenset({Phase.DECLARATION, Phase.TURN})
# Enum members read through their class cost a metaclass hook in Python 3.11; the
# per-move functions below compare with these names instead.
_PREPARATION, _DECLARATION, _TURN = Phase.PREPARATION, Phase.DECLARATION, Phase.TURN


def _cheapest_first(play_type: PlayType) -> tuple[tuple[int, ...], tuple[tuple[Piece, ...], ...]]:
    """The values and the plays of one type, cheapest first; equal values in `EVERY_PLAY` order."""
    plays = sorted((p for p in EVERY_PLAY if evaluate(p)[0] is play_type), key=_value)
    return tuple(map(_value, plays)), tuple(plays)


def _value(play: tuple[Piece, ...]) -> int:
    return evaluate(play)[1]


_CHEAPEST_FIRST = {play_type: _cheapest_first(play_type) for play_type in PlayType}


def seats_to_move(state: RoomState) -> list[int]:
    """Bot-controlled seats that are expected to act now (redeal answers, declaring, playing)."""
    turn = state.turn
    if state.phase in _ONE_MOVER:
        return [turn] if turn is not None and state.seats[turn].bot_controlled else []
    if state.phase is _PREPARATION and not state.needs_deal:
        return [
            i for i, s in enumerate(state.seats) if s.weak and s.redeal is None and s.bot_controlled
        ]
    return []


def ready_at(state: RoomState) -> float:
    """The earliest time a bot's move would be accepted (a lead waits for the trick display)."""
    opens = lead_opens_at(state)
    return 0.0 if opens is None else opens


def bot_command(state: RoomState, seat: int, at: float, command_id: str) -> Command:
    """The command the bot policy sends for `seat` in the current phase."""
    player = _NAMES[seat]
    if state.phase is _PREPARATION:
        return DecideRedeal(
            command_id=command_id, player=player, at=at, accept=choose_redeal(state, seat)
        )
    if state.phase is _DECLARATION:
        return Declare(
            command_id=command_id, player=player, at=at, piles=choose_declaration(state, seat)
        )
    return Play(command_id=command_id, player=player, at=at, pieces=choose_play(state, seat))


def choose_redeal(state: RoomState, seat: int) -> bool:
    """Ask for a redeal only with a really poor hand, and not when the stakes are already high."""
    return hand_points(state.seats[seat].hand) < REDEAL_BELOW and state.multiplier < 3


def expected_piles(hand: tuple[Piece, ...], starts: bool) -> float:
    """A rough estimate of the piles a hand captures: strong singles, strong combinations."""
    estimate = sum(map(_WEIGHT.__getitem__, hand))
    best = strongest_combination(hand, MAX_PLAY)
    if best is not None and (len(best) >= 3 or evaluate(best)[1] >= 16):
        estimate += len(best) * (0.8 if starts else 0.4)
    return estimate


def choose_declaration(state: RoomState, seat: int) -> int:
    """The legal declaration closest to the hand's expected piles."""
    earlier = [s.declared for s in state.seats if s.declared is not None]
    legal = legal_declarations(earlier, state.seats[seat].zero_streak)
    target = expected_piles(state.seats[seat].hand, seat == state.starter)
    # `legal` is ascending, so the closest value is one of the two around `target`.
    around = bisect_left(legal, target)
    return min(legal[max(0, around - 1) : around + 1], key=lambda n: (abs(n - target), n))


def choose_play(state: RoomState, seat: int) -> tuple[Piece, ...]:
    """Lead strong while piles are still needed, else low; follow to win cheaply or dump low."""
    mine = state.seats[seat]
    hand = mine.hand
    need = (mine.declared or 0) - mine.piles
    if not state.plays:
        if need <= 0:
            return (min(hand, key=POINTS.__getitem__),)
        # The strongest combination that fits, else the highest piece (stronger than none).
        return strongest_combination(hand, need) or (max(hand, key=POINTS.__getitem__),)
    assert state.best is not None
    top = state.plays[state.best]
    best = (top.play_type, top.value)
    if need > 0:
        winner = _cheapest_winner(hand, state.required, best)
        if winner is not None:
            return winner
    return _dump(hand, state.required, best)


def _cheapest_winner(
    hand: tuple[Piece, ...], count: int, best: tuple[PlayType, int]
) -> tuple[Piece, ...] | None:
    """The lowest-valued valid play of `count` pieces from `hand` that takes the trick, if any.

    Ties go to the play `valid_plays` lists first. Only plays of the trick's type can take
    over, so only those are tried, cheapest first, from the first that is worth more.
    """
    values, plays = _CHEAPEST_FIRST[best[0]]
    for play in plays[bisect_right(values, best[1]) :]:
        if len(play) == count and contains(hand, play):
            return play
    return None


def _dump(hand: tuple[Piece, ...], count: int, best: tuple[PlayType, int]) -> tuple[Piece, ...]:
    """The cheapest `count` pieces that do not take the trick (when possible)."""
    if count == 1 and hand:
        # If even the lowest piece takes the trick, so does every other: it goes either way.
        return (min(hand, key=POINTS.__getitem__),)
    lowest = tuple(sorted(hand, key=POINTS.__getitem__)[:count])
    if not takes_over(best, lowest):
        return lowest
    safe = [c for c in combinations(hand, count) if not takes_over(best, c)]
    if not safe:
        return lowest
    return min(safe, key=lambda c: sum(POINTS[p] for p in c))


class RandomBot:
    """Uniformly random legal moves from a seeded RNG: the baseline opponent."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def command(self, state: RoomState, seat: int, at: float, command_id: str) -> Command:
        player = bot_name(seat)
        rng = self._rng
        if state.phase is Phase.PREPARATION:
            return DecideRedeal(
                command_id=command_id, player=player, at=at, accept=rng.random() < 0.5
            )
        if state.phase is Phase.DECLARATION:
            earlier = [s.declared for s in state.seats if s.declared is not None]
            legal = legal_declarations(earlier, state.seats[seat].zero_streak)
            return Declare(command_id=command_id, player=player, at=at, piles=rng.choice(legal))
        hand = state.seats[seat].hand
        if not state.plays:
            pieces = rng.choice(valid_plays(hand))
        else:
            pieces = tuple(rng.sample(hand, state.required))
        return Play(command_id=command_id, player=player, at=at, pieces=pieces)
