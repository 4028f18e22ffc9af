"""RULES.md "Pieces (32)": the deck, the points table and the weak-hand threshold."""

from collections import Counter

import pytest

from engine.pieces import DECK, TOTAL_POINTS, Colour, Piece, is_weak
from tests.domain.support import AB, AR, CHR, CNB, EB, ER, GB, GR, HB, SB, SR

# Hand-copied from the RULES.md table: (red points, black points, copies per colour).
TABLE = {
    "GENERAL": (14, 13, 1),
    "ADVISOR": (12, 11, 2),
    "ELEPHANT": (10, 9, 2),
    "CHARIOT": (8, 7, 2),
    "HORSE": (6, 5, 2),
    "CANNON": (4, 3, 2),
    "SOLDIER": (2, 1, 5),
}


@pytest.mark.parametrize("name", TABLE)
def test_each_kind_is_worth_its_points_from_the_rules_table(name: str) -> None:
    red, black, _ = TABLE[name]
    assert Piece(f"{name}_RED").points == red
    assert Piece(f"{name}_BLACK").points == black


@pytest.mark.parametrize("name", TABLE)
def test_the_deck_holds_the_rules_number_of_copies_of_each_kind(name: str) -> None:
    copies = Counter(DECK)
    assert copies[Piece(f"{name}_RED")] == TABLE[name][2]
    assert copies[Piece(f"{name}_BLACK")] == TABLE[name][2]


def test_the_deck_is_16_red_and_16_black_pieces_worth_192_points() -> None:
    colours = Counter(p.colour for p in DECK)
    assert len(DECK) == 32
    assert colours[Colour.RED] == colours[Colour.BLACK] == 16
    assert sum(p.points for p in DECK) == TOTAL_POINTS == 192


def test_a_hand_whose_best_piece_is_the_black_elephant_is_weak() -> None:
    # ELEPHANT_BLACK is worth 9: "no piece worth more than 9" holds.
    assert is_weak([EB, EB, CHR, HB, CNB, SR, SB, SB])


def test_a_hand_holding_a_red_elephant_is_not_weak() -> None:
    # ELEPHANT_RED is worth 10, more than 9.
    assert not is_weak([ER, EB, CHR, HB, CNB, SR, SB, SB])


@pytest.mark.parametrize("strong", [GR, GB, AR, AB, ER])
def test_any_general_advisor_or_red_elephant_makes_a_hand_not_weak(strong: Piece) -> None:
    assert not is_weak([strong, CHR, CHR, HB, CNB, SR, SB, SB])
