"""The 32 Liap Tui pieces: kinds, names, colours and points."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum


class Colour(StrEnum):
    RED = "RED"
    BLACK = "BLACK"


class Name(StrEnum):
    GENERAL = "GENERAL"
    ADVISOR = "ADVISOR"
    ELEPHANT = "ELEPHANT"
    CHARIOT = "CHARIOT"
    HORSE = "HORSE"
    CANNON = "CANNON"
    SOLDIER = "SOLDIER"


class Piece(StrEnum):
    """A piece kind, `NAME_COLOUR`; identical pieces are interchangeable."""

    GENERAL_RED = "GENERAL_RED"
    GENERAL_BLACK = "GENERAL_BLACK"
    ADVISOR_RED = "ADVISOR_RED"
    ADVISOR_BLACK = "ADVISOR_BLACK"
    ELEPHANT_RED = "ELEPHANT_RED"
    ELEPHANT_BLACK = "ELEPHANT_BLACK"
    CHARIOT_RED = "CHARIOT_RED"
    CHARIOT_BLACK = "CHARIOT_BLACK"
    HORSE_RED = "HORSE_RED"
    HORSE_BLACK = "HORSE_BLACK"
    CANNON_RED = "CANNON_RED"
    CANNON_BLACK = "CANNON_BLACK"
    SOLDIER_RED = "SOLDIER_RED"
    SOLDIER_BLACK = "SOLDIER_BLACK"

    @property
    def name_(self) -> Name:
        return NAME_OF[self]

    @property
    def colour(self) -> Colour:
        return COLOUR_OF[self]

    @property
    def points(self) -> int:
        return POINTS[self]


_RED_POINTS = {
    Name.GENERAL: 14,
    Name.ADVISOR: 12,
    Name.ELEPHANT: 10,
    Name.CHARIOT: 8,
    Name.HORSE: 6,
    Name.CANNON: 4,
    Name.SOLDIER: 2,
}
_COPIES = {
    Name.GENERAL: 1,
    Name.ADVISOR: 2,
    Name.ELEPHANT: 2,
    Name.CHARIOT: 2,
    Name.HORSE: 2,
    Name.CANNON: 2,
    Name.SOLDIER: 5,
}

NAME_OF: dict[Piece, Name] = {p: Name(p.value.rsplit("_", 1)[0]) for p in Piece}
COLOUR_OF: dict[Piece, Colour] = {p: Colour(p.value.rsplit("_", 1)[1]) for p in Piece}
# Black pieces are worth one point less than their red twins.
POINTS: dict[Piece, int] = {
    p: _RED_POINTS[NAME_OF[p]] - (0 if COLOUR_OF[p] is Colour.RED else 1) for p in Piece
}
PIECE_OF: dict[tuple[Name, Colour], Piece] = {(NAME_OF[p], COLOUR_OF[p]): p for p in Piece}

# The full deck in a fixed canonical order; a shuffle permutes this list.
DECK: tuple[Piece, ...] = tuple(p for p in Piece for _ in range(_COPIES[NAME_OF[p]]))
TOTAL_POINTS = sum(POINTS[p] for p in DECK)
HAND_SIZE = 8
SEATS = 4

STRAIGHT_GROUPS: tuple[tuple[Name, Name, Name], ...] = (
    (Name.GENERAL, Name.ADVISOR, Name.ELEPHANT),
    (Name.CHARIOT, Name.HORSE, Name.CANNON),
)

# A hand is weak when no piece in it is worth more than this.
WEAK_THRESHOLD = 9


_STRONG = frozenset(p for p in Piece if POINTS[p] > WEAK_THRESHOLD)


def is_weak(hand: Iterable[Piece]) -> bool:
    """True when no piece in the hand is worth more than 9 points."""
    return _STRONG.isdisjoint(hand)


def hand_points(hand: Iterable[Piece]) -> int:
    return sum(POINTS[p] for p in hand)


def contains(hand: Sequence[Piece], pieces: Sequence[Piece]) -> bool:
    """True when `pieces` (as a multiset) can be taken from `hand`."""
    if len(pieces) == 1:  # the usual case, a single piece: no copy of the hand needed
        return pieces[0] in hand
    rest = list(hand)
    for p in pieces:
        if p not in rest:
            return False
        rest.remove(p)
    return True


def remove(hand: tuple[Piece, ...], pieces: Iterable[Piece]) -> tuple[Piece, ...]:
    """The hand without `pieces` (each removed once, multiset semantics)."""
    rest = list(hand)
    for p in pieces:
        rest.remove(p)
    return tuple(rest)
