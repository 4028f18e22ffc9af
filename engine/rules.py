"""Round rules that are plain arithmetic: scoring, play order, declaration limits, game end."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from engine.events import EndReason
from engine.pieces import HAND_SIZE, SEATS

MAX_DECLARATION = HAND_SIZE
ZERO_STREAK_LIMIT = 2


def base_score(declared: int, captured: int) -> int:
    """A round's score before the redeal multiplier (RULES.md §6)."""
    if declared == 0:
        return 3 if captured == 0 else -captured
    if captured == declared:
        return declared + 5
    return -abs(declared - captured)


def round_score(declared: int, captured: int, multiplier: int) -> int:
    """The redeal multiplier scales bonuses and penalties alike."""
    return base_score(declared, captured) * multiplier


def is_perfect(declared: int, captured: int) -> bool:
    return declared > 0 and declared == captured


def play_order(first: int) -> list[int]:
    """The four seats clockwise, starting at `first`."""
    return [(first + i) % SEATS for i in range(SEATS)]


def first_in_play_order(seats: Iterable[int], first: int) -> int:
    """The seat among `seats` that comes first in play order from `first`."""
    chosen = set(seats)
    return next(s for s in play_order(first) if s in chosen)


def legal_declarations(declared_so_far: Sequence[int], zero_streak: int) -> list[int]:
    """The pile counts a player may declare, given the earlier declarations this round.

    The last declarer may not bring the total to exactly 8; a player whose previous two
    declarations were both 0 must declare at least 1.
    """
    legal = list(range(MAX_DECLARATION + 1))
    if zero_streak >= ZERO_STREAK_LIMIT:
        legal.remove(0)
    if len(declared_so_far) == SEATS - 1:
        forbidden = MAX_DECLARATION - sum(declared_so_far)
        if forbidden in legal:
            legal.remove(forbidden)
    return legal


def game_end(
    totals: Sequence[int], round_number: int, target: int, round_cap: int
) -> EndReason | None:
    """Why the game ends after this round's scoring, or None if it goes on."""
    if max(totals) >= target:
        return EndReason.TARGET_SCORE
    if round_number >= round_cap:
        return EndReason.ROUND_CAP
    return None


def winners(totals: Sequence[int]) -> tuple[int, ...]:
    """Every seat tied at the top score wins."""
    top = max(totals)
    return tuple(i for i, t in enumerate(totals) if t == top)
