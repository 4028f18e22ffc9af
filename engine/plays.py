"""Play types: classifying a set of pieces, its value, and which plays a hand can make."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from enum import StrEnum
from itertools import compress
from typing import NamedTuple

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
_INVALID = (PlayType.INVALID, 0)

_Play = tuple[Piece, ...]
"""A play as a sorted tuple of pieces (the order `valid_plays` lists them in)."""


def classify(pieces: Sequence[Piece]) -> PlayType:
    """The play type of `pieces` (INVALID when they form none)."""
    return evaluate(pieces)[0]


def evaluate(pieces: Sequence[Piece]) -> tuple[PlayType, int]:
    """The play type and value of `pieces`; INVALID plays are worth 0."""
    key = tuple(pieces)
    # Every valid play is in the table under its sorted pieces; those from `valid_plays`
    # already are sorted, so one lookup finds them. Whatever is not there is INVALID.
    known = _VALUE_OF.get(key) or _VALUE_OF.get(tuple(sorted(key)))
    return known or _INVALID


def _evaluate_by_rules(pieces: _Play) -> tuple[PlayType, int]:
    play_type = _classify(pieces)
    if play_type is PlayType.INVALID:
        return _INVALID
    if play_type in (PlayType.EXTENDED_STRAIGHT, PlayType.EXTENDED_STRAIGHT_5):
        # An extended straight is worth one piece of each of its three names.
        return play_type, sum(POINTS[p] for p in set(pieces))
    return play_type, sum(POINTS[p] for p in pieces)


def _classify(pieces: _Play) -> PlayType:
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


def valid_plays(hand: Iterable[Piece]) -> tuple[_Play, ...]:
    """Every distinct valid play that can be made from `hand` (as sorted piece tuples).

    Not cached: it counts the hand and picks shared, precomputed play tuples, quickly enough,
    and so keeps no per-hand objects alive (a cache of hands held ~10 tracked objects each).
    """
    counts = _counts(hand)
    return tuple(compress(_SINGLES, counts)) + _combinations(counts)  # a single per kind held


def strongest_combination(hand: Iterable[Piece], most: int) -> _Play | None:
    """The largest valid play of 2 to `most` pieces from `hand`, of those the most valuable.

    None when there is none. Of equals, the one `valid_plays` lists first. Any larger play
    beats every pair, so pairs are only looked at when there is none.
    """
    counts = _counts(hand)
    larger = [play for play in _sets_and_straights(counts) if len(play) <= most]
    if larger:
        return max(larger, key=_SIZE_AND_VALUE.__getitem__)
    if most >= 2:
        for i in _MOST_VALUABLE_FIRST:
            if counts[i] >= 2:
                return _PAIRS[i]
    return None


def _counts(hand: Iterable[Piece]) -> list[int]:
    """How many of each kind `hand` holds, indexed like `_KINDS`."""
    counts = [0] * len(_KINDS)
    for piece in hand:
        counts[_INDEX[piece]] += 1
    return counts


def _combinations(counts: list[int]) -> tuple[_Play, ...]:
    """The valid plays of two or more pieces that `counts` allow, in `valid_plays` order."""
    pairs = [pair for pair, held in zip(_PAIRS, counts, strict=True) if held >= 2]
    return (*pairs, *_sets_and_straights(counts))


def _sets_and_straights(counts: list[int]) -> list[_Play]:
    """The valid plays of three or more pieces that `counts` allow, in `valid_plays` order."""
    plays: list[_Play] = []
    for soldier, soldier_sets, groups in _COLOUR_PLAYS:
        if counts[soldier] >= 3:
            plays += soldier_sets[: counts[soldier] - 2]
        for (a, b, c), by_doubled in groups:
            if counts[a] and counts[b] and counts[c]:
                plays += by_doubled[(counts[a] >= 2) + 2 * (counts[b] >= 2) + 4 * (counts[c] >= 2)]
    return plays


def _straight_plays(kinds: tuple[Piece, Piece, Piece], doubled: list[Piece]) -> tuple[_Play, ...]:
    """The straights one group of one colour offers when the `doubled` kinds are held twice."""
    plays = [tuple(sorted(kinds))]
    plays += [tuple(sorted([*kinds, d])) for d in doubled]
    plays += [
        tuple(sorted([*kinds, a, b])) for i, a in enumerate(doubled) for b in doubled[i + 1 :]
    ]
    if len(doubled) == 3 and NAME_OF[kinds[0]] is Name.CHARIOT:
        plays.append(tuple(sorted(kinds * 2)))
    return tuple(plays)


def _straights_by_doubled(kinds: tuple[Piece, Piece, Piece]) -> tuple[tuple[_Play, ...], ...]:
    """`_straight_plays` for each set of doubled kinds, indexed by a 3-bit mask in group order."""
    return tuple(
        _straight_plays(kinds, [k for bit, k in enumerate(kinds) if mask >> bit & 1])
        for mask in range(8)
    )


class _Group(NamedTuple):
    """One straight group in one colour: its kinds' indices and its straights per doubled mask."""

    kinds: tuple[int, int, int]
    by_doubled: tuple[tuple[_Play, ...], ...]


class _ColourPlays(NamedTuple):
    """The plays of one colour beyond singles and pairs, in the order `valid_plays` lists them."""

    soldier: int
    soldier_sets: tuple[_Play, ...]
    groups: tuple[_Group, ...]


def _colour_plays(colour: Colour) -> _ColourPlays:
    soldier = PIECE_OF[(Name.SOLDIER, colour)]
    groups = []
    for group in STRAIGHT_GROUPS:
        a, b, c = (PIECE_OF[(name, colour)] for name in group)
        at = (_INDEX[a], _INDEX[b], _INDEX[c])
        groups.append(_Group(at, _straights_by_doubled((a, b, c))))
    soldier_sets = tuple((soldier,) * k for k in (3, 4, 5))
    return _ColourPlays(_INDEX[soldier], soldier_sets, tuple(groups))


# Kinds in sorted order, the order `valid_plays` lists singles and pairs in; a hand is
# counted into a list indexed like this.
_KINDS = tuple(sorted(Piece))
_INDEX = {p: i for i, p in enumerate(_KINDS)}
_SINGLES: tuple[_Play, ...] = tuple((p,) for p in _KINDS)
_PAIRS: tuple[_Play, ...] = tuple((p, p) for p in _KINDS)
_COLOUR_PLAYS = tuple(_colour_plays(colour) for colour in Colour)
EVERY_PLAY = valid_plays(list(Piece) * 5)
"""Every valid play there is: a hand holding five of each kind can make them all."""
# Every valid play's type and value, worked out once by the rules above.
_VALUE_OF: dict[_Play, tuple[PlayType, int]] = {
    play: _evaluate_by_rules(play) for play in EVERY_PLAY
}
assert _INVALID not in _VALUE_OF.values()  # the tables above build only valid plays
_SIZE_AND_VALUE = {play: (len(play), value) for play, (_, value) in _VALUE_OF.items()}
_MOST_VALUABLE_FIRST = sorted(range(len(_KINDS)), key=lambda i: -POINTS[_KINDS[i]])  # indices
