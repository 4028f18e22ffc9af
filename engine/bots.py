"""Bot policies: deterministic choices for redeals, declarations and plays, always legal.

`choose_*` are pure functions of the room state. `RandomBot` picks uniformly among legal
moves from a seeded RNG; it is the baseline the policy is measured against.
"""

from __future__ import annotations

import random
from itertools import combinations

from engine.commands import Command, DecideRedeal, Declare, Play
from engine.pieces import POINTS, Piece, hand_points
from engine.plays import PlayType, evaluate, takes_over, valid_plays
from engine.rules import legal_declarations
from engine.state import Phase, RoomState, bot_name

# Points a piece adds to a hand's expected piles: only the top pieces win singles reliably.
_SINGLE_WEIGHT = {14: 1.0, 13: 0.9, 12: 0.7, 11: 0.5, 10: 0.25}
REDEAL_BELOW = 30


def seats_to_move(state: RoomState) -> list[int]:
    """Bot-controlled seats that are expected to act now (redeal answers, declaring, playing)."""
    if state.phase is Phase.PREPARATION and not state.needs_deal:
        return [
            i for i, s in enumerate(state.seats) if s.weak and s.redeal is None and s.bot_controlled
        ]
    turn = state.turn
    if (
        state.phase in (Phase.DECLARATION, Phase.TURN)
        and turn is not None
        and state.seats[turn].bot_controlled
    ):
        return [turn]
    return []


def ready_at(state: RoomState) -> float:
    """The earliest time a bot's move would be accepted (a lead waits for the trick display)."""
    if state.phase is Phase.TURN and not state.plays:
        return state.lead_not_before
    return 0.0


def bot_command(state: RoomState, seat: int, at: float, command_id: str) -> Command:
    """The command the bot policy sends for `seat` in the current phase."""
    player = bot_name(seat)
    if state.phase is Phase.PREPARATION:
        return DecideRedeal(
            command_id=command_id, player=player, at=at, accept=choose_redeal(state, seat)
        )
    if state.phase is Phase.DECLARATION:
        return Declare(
            command_id=command_id, player=player, at=at, piles=choose_declaration(state, seat)
        )
    return Play(command_id=command_id, player=player, at=at, pieces=choose_play(state, seat))


def choose_redeal(state: RoomState, seat: int) -> bool:
    """Ask for a redeal only with a really poor hand, and not when the stakes are already high."""
    return hand_points(state.seats[seat].hand) < REDEAL_BELOW and state.multiplier < 3


def expected_piles(hand: tuple[Piece, ...], starts: bool) -> float:
    """A rough estimate of the piles a hand captures: strong singles, strong combinations."""
    estimate = sum(_SINGLE_WEIGHT.get(POINTS[p], 0.0) for p in hand)
    multi = [p for p in valid_plays(hand) if len(p) >= 2]
    if multi:
        best = max(multi, key=lambda p: (len(p), evaluate(p)[1]))
        if len(best) >= 3 or evaluate(best)[1] >= 16:
            estimate += len(best) * (0.8 if starts else 0.4)
    return estimate


def choose_declaration(state: RoomState, seat: int) -> int:
    """The legal declaration closest to the hand's expected piles."""
    earlier = [s.declared for s in state.seats if s.declared is not None]
    legal = legal_declarations(earlier, state.seats[seat].zero_streak)
    target = expected_piles(state.seats[seat].hand, seat == state.starter)
    return min(legal, key=lambda n: (abs(n - target), n))


def _need(state: RoomState, seat: int) -> int:
    mine = state.seats[seat]
    return (mine.declared or 0) - mine.piles


def choose_play(state: RoomState, seat: int) -> tuple[Piece, ...]:
    """Lead strong while piles are still needed, else low; follow to win cheaply or dump low."""
    hand = state.seats[seat].hand
    need = _need(state, seat)
    if not state.plays:
        if need <= 0:
            return (min(hand, key=POINTS.__getitem__),)
        fitting = [p for p in valid_plays(hand) if len(p) <= need] or [
            (max(hand, key=lambda p: POINTS[p]),)
        ]
        return max(fitting, key=lambda p: (len(p), evaluate(p)[1]))
    assert state.best is not None
    top = state.plays[state.best]
    if need > 0:
        winners = [
            p
            for p in valid_plays(hand)
            if len(p) == state.required and takes_over((top.play_type, top.value), p)
        ]
        if winners:
            return min(winners, key=lambda p: evaluate(p)[1])
    return _dump(hand, state.required, (top.play_type, top.value))


def _dump(hand: tuple[Piece, ...], count: int, best: tuple[PlayType, int]) -> tuple[Piece, ...]:
    """The cheapest `count` pieces that do not take the trick (when possible)."""
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
