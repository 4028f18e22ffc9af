"""Play types: classifying a set of pieces, its value, and which plays a hand can make."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from functools import lru_cache

from engine.pieces import (
    COLOUR_OF,
    NAME_OF,
    PIECE_OF,
    POINTS,
    STRAIGHT_GROUPS,
    Colour,
    Name,
    Piece,
)


class PlayType(StrEnum):
    SINGLE = "SINGLE"
    PAIR = "PAIR"
    THREE_OF_A_KIND = "THREE_OF_A_KIND"
    STRAIGHT = "STRAIGHT"
    FOUR_OF_A_KIND = "FOUR_OF_A_KIND"
    EXTENDED_STRAIGHT = "EXTENDED_STRAIGHT"
    EXTENDED_STRAIGHT_5 = "EXTENDED_STRAIGHT_5"
    FIVE_OF_A_KIND = "FIVE_OF_A_KIND"
    DOUBLE_STRAIGHT = "DOUBLE_STRAIGHT"
    INVALID = "INVALID"


MAX_PLAY = 6
_SOLDIER_SETS = {
    3: PlayType.THREE_OF_A_KIND,
    4: PlayType.FOUR_OF_A_KIND,
    5: PlayType.FIVE_OF_A_KIND,
}
_GROUP_OF: dict[Name, tuple[Name, Name, Name]] = {n: g for g in STRAIGHT_GROUPS for n in g}
_COLOURS = tuple(Colour)


def classify(pieces: Sequence[Piece]) -> PlayType:
    """The play type of `pieces` (INVALID when they form none)."""
    return evaluate(pieces)[0]


def evaluate(pieces: Sequence[Piece]) -> tuple[PlayType, int]:
    """The play type and value of `pieces`; INVALID plays are worth 0."""
    key = tuple(pieces)
    known = _EVALUATED.get(key)
    if known is None:
        # Bounded by the number of distinct piece tuples of up to 8 pieces seen in practice.
        known = _EVALUATED[key] = _evaluate_sorted(tuple(sorted(key)))
    return known


_EVALUATED: dict[tuple[Piece, ...], tuple[PlayType, int]] = {}


@lru_cache(maxsize=4096)
def _evaluate_sorted(pieces: tuple[Piece, ...]) -> tuple[PlayType, int]:
    play_type = _classify(pieces)
    if play_type is PlayType.INVALID:
        return play_type, 0
    if play_type in (PlayType.EXTENDED_STRAIGHT, PlayType.EXTENDED_STRAIGHT_5):
        # An extended straight is worth one piece of each of its three names.
        return play_type, sum(POINTS[p] for p in set(pieces))
    return play_type, sum(POINTS[p] for p in pieces)


def _classify(pieces: tuple[Piece, ...]) -> PlayType:
    size = len(pieces)
    if size == 1:
        return PlayType.SINGLE
    if size == 0 or size > MAX_PLAY:
        return PlayType.INVALID
    if len({COLOUR_OF[p] for p in pieces}) != 1:
        return PlayType.INVALID
    names = Counter(NAME_OF[p] for p in pieces)
    if size == 2:
        return PlayType.PAIR if len(names) == 1 else PlayType.INVALID
    if set(names) == {Name.SOLDIER}:
        return _SOLDIER_SETS.get(size, PlayType.INVALID)
    group = _GROUP_OF.get(next(iter(names)))
    if group is None or set(names) != set(group):
        return PlayType.INVALID
    counts = sorted(names.values())
    if counts == [1, 1, 1]:
        return PlayType.STRAIGHT
    if counts == [1, 1, 2]:
        return PlayType.EXTENDED_STRAIGHT
    if counts == [1, 2, 2]:
        return PlayType.EXTENDED_STRAIGHT_5
    if counts == [2, 2, 2] and group[0] is Name.CHARIOT:
        return PlayType.DOUBLE_STRAIGHT
    return PlayType.INVALID


def is_valid(pieces: Sequence[Piece]) -> bool:
    return classify(pieces) is not PlayType.INVALID


def takes_over(best: tuple[PlayType, int], challenger: Sequence[Piece]) -> bool:
    """True when `challenger` beats the provisional winner: same type, strictly higher value."""
    play_type, value = evaluate(challenger)
    return play_type is best[0] and play_type is not PlayType.INVALID and value > best[1]


def valid_plays(hand: Iterable[Piece]) -> tuple[tuple[Piece, ...], ...]:
    """Every distinct valid play that can be made from `hand` (as sorted piece tuples)."""
    return _valid_plays(tuple(sorted(hand)))


@lru_cache(maxsize=65536)
def _valid_plays(hand: tuple[Piece, ...]) -> tuple[tuple[Piece, ...], ...]:
    have = Counter(hand)
    plays: list[tuple[Piece, ...]] = [(p,) for p in sorted(have)]
    plays += [(p, p) for p in sorted(have) if have[p] >= 2]
    for colour in _COLOURS:
        soldier = PIECE_OF[(Name.SOLDIER, colour)]
        plays += [(soldier,) * k for k in (3, 4, 5) if have[soldier] >= k]
        for group in STRAIGHT_GROUPS:
            kinds = [PIECE_OF[(name, colour)] for name in group]
            counts = [have[k] for k in kinds]
            if min(counts) == 0:
                continue
            plays.append(tuple(sorted(kinds)))
            doubled = [k for k, c in zip(kinds, counts, strict=True) if c >= 2]
            plays += [tuple(sorted([*kinds, d])) for d in doubled]
            plays += [
                tuple(sorted([*kinds, a, b]))
                for i, a in enumerate(doubled)
                for b in doubled[i + 1 :]
            ]
            if len(doubled) == 3 and group[0] is Name.CHARIOT:
                plays.append(tuple(sorted(kinds * 2)))
    return tuple(plays)
