"""RULES.md §5 "Valid play types": classification and value of a set of pieces.

Every expected value below is added up by hand from the points table.
"""

from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.pieces import DECK, Piece
from engine.plays import PlayType, classify, evaluate, valid_plays
from tests.domain.support import (
    AB,
    AR,
    CHB,
    CHR,
    CNB,
    CNR,
    EB,
    ER,
    GB,
    GR,
    HB,
    HR,
    SB,
    SR,
)

T = PlayType


@pytest.mark.parametrize("piece", list(Piece))
def test_any_one_piece_is_a_single_worth_its_points(piece: Piece) -> None:
    assert evaluate([piece]) == (T.SINGLE, piece.points)


def test_two_of_the_same_kind_are_a_pair() -> None:
    assert evaluate([CHR, CHR]) == (T.PAIR, 16)
    assert evaluate([SB, SB]) == (T.PAIR, 2)


def test_two_of_the_same_name_in_different_colours_are_invalid() -> None:
    assert classify([AR, AB]) is T.INVALID


def test_two_different_names_are_invalid() -> None:
    assert classify([HR, CNR]) is T.INVALID


def test_three_soldiers_of_one_colour_are_three_of_a_kind() -> None:
    assert evaluate([SR, SR, SR]) == (T.THREE_OF_A_KIND, 6)


def test_four_soldiers_of_one_colour_are_four_of_a_kind() -> None:
    assert evaluate([SB, SB, SB, SB]) == (T.FOUR_OF_A_KIND, 4)


def test_five_soldiers_of_one_colour_are_five_of_a_kind() -> None:
    assert evaluate([SR] * 5) == (T.FIVE_OF_A_KIND, 10)


def test_a_pair_plus_another_piece_is_invalid() -> None:
    # Only soldiers come five to a colour, so only soldiers make three of a kind.
    assert classify([CHR, CHR, HR]) is T.INVALID


@pytest.mark.parametrize(
    "pieces",
    [[SR, SR, SB], [SR, SR, SB, SB], [SR, SR, SR, SB, SB]],
    ids=["three", "four", "five"],
)
def test_soldiers_of_mixed_colours_are_invalid(pieces: list[Piece]) -> None:
    assert classify(pieces) is T.INVALID


def test_general_advisor_elephant_of_one_colour_are_a_straight() -> None:
    assert evaluate([GR, AR, ER]) == (T.STRAIGHT, 14 + 12 + 10)
    assert evaluate([EB, GB, AB]) == (T.STRAIGHT, 13 + 11 + 9)


def test_chariot_horse_cannon_of_one_colour_are_a_straight() -> None:
    assert evaluate([CHR, HR, CNR]) == (T.STRAIGHT, 8 + 6 + 4)
    assert evaluate([CNB, HB, CHB]) == (T.STRAIGHT, 7 + 5 + 3)


def test_a_straight_mixing_colours_is_invalid() -> None:
    assert classify([GR, AB, ER]) is T.INVALID
    assert classify([CHR, HR, CNB]) is T.INVALID


def test_three_names_from_different_straight_groups_are_invalid() -> None:
    assert classify([GR, AR, CHR]) is T.INVALID
    assert classify([ER, CHR, HR]) is T.INVALID


def test_an_extended_straight_has_counts_one_one_two() -> None:
    assert classify([CHR, HR, CNR, CNR]) is T.EXTENDED_STRAIGHT
    assert classify([GB, AB, AB, EB]) is T.EXTENDED_STRAIGHT


def test_an_extended_straight_is_worth_one_piece_of_each_name() -> None:
    # 8 + 6 + 4, the second cannon does not count (the plain sum would be 22).
    assert evaluate([CHR, HR, CNR, CNR]) == (T.EXTENDED_STRAIGHT, 18)
    # 14 + 12 + 10, not 46.
    assert evaluate([GR, AR, ER, ER]) == (T.EXTENDED_STRAIGHT, 36)


def test_a_five_piece_extended_straight_has_counts_one_two_two() -> None:
    assert classify([CHB, HB, HB, CNB, CNB]) is T.EXTENDED_STRAIGHT_5
    assert classify([GR, AR, AR, ER, ER]) is T.EXTENDED_STRAIGHT_5


def test_a_five_piece_extended_straight_is_worth_one_piece_of_each_name() -> None:
    # 7 + 5 + 3 (plain sum 27) and 14 + 12 + 10 (plain sum 58).
    assert evaluate([CHB, CHB, HB, HB, CNB]) == (T.EXTENDED_STRAIGHT_5, 15)
    assert evaluate([GR, AR, AR, ER, ER]) == (T.EXTENDED_STRAIGHT_5, 36)


def test_an_extended_straight_mixing_colours_is_invalid() -> None:
    assert classify([CHR, HR, CNR, CNB]) is T.INVALID
    assert classify([CHR, HR, HB, CNR, CNR]) is T.INVALID


def test_a_group_missing_one_name_is_invalid() -> None:
    assert classify([CHR, CHR, HR, HR]) is T.INVALID
    assert classify([GR, AR, AR, SR]) is T.INVALID


def test_two_chariots_two_horses_two_cannons_are_a_double_straight() -> None:
    # Value is the plain sum: 2 * (8 + 6 + 4).
    assert evaluate([CHR, CHR, HR, HR, CNR, CNR]) == (T.DOUBLE_STRAIGHT, 36)
    assert evaluate([CHB, HB, CNB, CHB, HB, CNB]) == (T.DOUBLE_STRAIGHT, 30)


def test_a_double_straight_mixing_colours_is_invalid() -> None:
    assert classify([CHR, CHR, HR, HR, CNR, CNB]) is T.INVALID


def test_six_pieces_other_than_a_double_straight_are_invalid() -> None:
    assert classify([CHR, CHR, HR, HR, CNR, SR]) is T.INVALID
    assert classify([SR, SR, SR, SR, SR, CHR]) is T.INVALID


def test_seven_pieces_are_invalid_even_if_they_contain_a_valid_play() -> None:
    assert classify([CHR, CHR, HR, HR, CNR, CNR, SR]) is T.INVALID


def test_eight_pieces_are_invalid() -> None:
    assert classify([SR] * 5 + [CHR, HR, CNR]) is T.INVALID


def test_no_pieces_are_not_a_play() -> None:
    assert classify([]) is T.INVALID


def test_an_invalid_play_is_worth_nothing() -> None:
    assert evaluate([GR, GB]) == (T.INVALID, 0)


def test_the_order_of_the_pieces_does_not_matter() -> None:
    assert evaluate([CNR, HR, CNR, CHR]) == evaluate([CHR, HR, CNR, CNR])


def test_valid_plays_lists_exactly_the_valid_subsets_of_a_hand() -> None:
    hand = [CHR, CHR, HR, HR, CNR, SR, SR, SR]
    subsets = {
        tuple(sorted(c))
        for k in range(1, 7)
        for c in combinations(hand, k)
        if classify(c) is not T.INVALID
    }
    listed = valid_plays(hand)
    assert len(listed) == len(set(listed))
    assert set(listed) == subsets
    # By hand: singles CHR HR CNR SR; pairs CHR HR SR; three soldiers; straight CHR-HR-CNR;
    # extended CHR2-HR-CNR and CHR-HR2-CNR; extended-5 CHR2-HR2-CNR.
    assert len(subsets) == 4 + 3 + 1 + 1 + 2 + 1


@settings(max_examples=60, deadline=None)
@given(deck=st.permutations(list(DECK)))
def test_valid_plays_are_exactly_the_valid_subsets_of_any_hand(deck: list[Piece]) -> None:
    hand = deck[:8]
    subsets = {
        tuple(sorted(c))
        for k in range(1, 7)
        for c in combinations(hand, k)
        if classify(c) is not T.INVALID
    }
    assert set(valid_plays(hand)) == subsets
