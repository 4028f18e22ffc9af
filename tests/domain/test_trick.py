"""RULES.md §5 "Tricks": who wins a trick, and what the winner gets.

Each scenario deals Ann (P1) the GENERAL_RED, so Ann starts round 1 and the trick is
played Ann, Ben, Cat, Dan. Hands are completed from the rest of the deck (see `deal`).
"""

from collections.abc import Sequence

import pytest
from msgspec.structs import replace

from engine.events import PiecesPlayed, TrickWon
from engine.pieces import Piece
from engine.plays import PlayType
from engine.rejections import Code
from tests.domain.support import (
    AB,
    AR,
    CHB,
    CHR,
    CNB,
    CNR,
    EB,
    ER,
    FAST,
    GB,
    GR,
    HB,
    HR,
    NAMES,
    SB,
    SR,
    Table,
    at_first_lead,
    deal,
    of_type,
    one,
)


def play_trick(table: Table, *plays: Sequence[Piece]) -> TrickWon:
    """Ann, Ben, Cat and Dan play `plays` in that order; the trick's result."""
    assert table.state.turn == 0
    events = []
    for name, pieces in zip(NAMES, plays, strict=True):
        events += table.send(table.play(name, *pieces))
    return one(events, TrickWon)


def test_the_lead_wins_when_nobody_beats_it() -> None:
    table = at_first_lead(deal([GR], [GB], [AR], [SB]))
    won = play_trick(table, [GR], [GB], [AR], [SB])
    assert won.seat == 0


def test_a_play_of_the_same_type_and_strictly_higher_value_takes_over() -> None:
    table = at_first_lead(deal([GR, SB], [CNB], [SR], [HR]))
    # SB 1 leads; CNB 3 takes over; SR 2 does not; HR 6 takes over again.
    won = play_trick(table, [SB], [CNB], [SR], [HR])
    assert won.seat == 3


def test_a_follower_equal_to_the_lead_does_not_take_it() -> None:
    table = at_first_lead(deal([GR, AR], [AR], [SB], [SB]))
    won = play_trick(table, [AR], [AR], [SB], [SB])
    assert won.seat == 0


def test_an_equal_value_leaves_the_trick_with_the_earlier_play() -> None:
    table = at_first_lead(deal([GR, SB], [CNR], [CNR], [SR]))
    # SB 1 leads; Ben's CNR 4 takes over; Cat's CNR 4 only ties Ben.
    won = play_trick(table, [SB], [CNR], [CNR], [SR])
    assert won.seat == 1


@pytest.mark.parametrize(
    ("lead", "ben", "cat", "dan"),
    [
        # THREE_OF_A_KIND worth 3 against a STRAIGHT worth 18.
        ([SB] * 3, [CHR, HR, CNR], [AB, EB, CHB], [HB, HB, CNB]),
        # FOUR_OF_A_KIND worth 4 against an EXTENDED_STRAIGHT worth 18.
        ([SB] * 4, [CHR, HR, CNR, CNR], [AB, EB, EB, CHB], [HB, HB, CNB, CNB]),
        # FIVE_OF_A_KIND worth 5 against an EXTENDED_STRAIGHT_5 worth 18.
        ([SB] * 5, [CHR, HR, HR, CNR, CNR], [AB, AB, EB, EB, CHB], [HB, HB, CNB, CNB, ER]),
    ],
    ids=["three", "four", "five"],
)
def test_a_different_play_type_with_a_higher_value_never_takes_over(
    lead: list[Piece], ben: list[Piece], cat: list[Piece], dan: list[Piece]
) -> None:
    table = at_first_lead(deal([GR, *lead], ben, cat, dan))
    won = play_trick(table, lead, ben, cat, dan)
    assert won.seat == 0


def test_an_invalid_follow_never_wins_whatever_its_points() -> None:
    table = at_first_lead(deal([GR, SR, SR], [GB, AB], [SB, SB], [HB, CNB]))
    # SR+SR is a PAIR worth 4; GB+AB are 24 points but no play type.
    won = play_trick(table, [SR, SR], [GB, AB], [SB, SB], [HB, CNB])
    assert won.seat == 0


def test_a_follow_need_not_be_a_valid_play() -> None:
    table = at_first_lead(deal([GR, SR, SR], [GB, AB]))
    table.send(table.play("Ann", SR, SR))
    played = one(table.send(table.play("Ben", GB, AB)), PiecesPlayed)
    assert (played.play_type, played.value) == (PlayType.INVALID, 0)


def test_extended_straights_compare_one_piece_of_each_name() -> None:
    table = at_first_lead(deal([GR, CHB, CHB, HB, CNB], [CHR, HR, CNR, CNR], [SR] * 4, [SB] * 4))
    # Both plays add up to 22 pieces' points, but Ann's is worth 7+5+3 = 15 and Ben's
    # 8+6+4 = 18: Ben's is strictly higher and takes over.
    won = play_trick(table, [CHB, CHB, HB, CNB], [CHR, HR, CNR, CNR], [SR] * 4, [SB] * 4)
    assert won.seat == 1


def test_the_winner_captures_as_many_piles_as_the_lead_had_pieces() -> None:
    table = at_first_lead(deal([GR, SR, SR, SR]))
    won = play_trick(table, [SR, SR, SR], *(table.hand(s)[:3] for s in (1, 2, 3)))
    assert won.piles == 3
    assert table.state.seats[won.seat].piles == 3


def test_followers_play_in_seat_order_after_the_leader() -> None:
    table = at_first_lead(deal([GR], [GB], [AR]))
    table.send(table.play("Ann", GR))
    assert table.refuse(table.play("Cat", AR)) is Code.NOT_YOUR_TURN
    table.send(table.play("Ben", GB))
    assert table.state.turn == 2


def test_the_trick_winner_leads_the_next_trick() -> None:
    table = at_first_lead(deal([GR, SB], [CNB], [SR], [HR, SB]))
    won = play_trick(table, [SB], [CNB], [SR], [HR])
    assert won.seat == 3
    assert table.state.turn == 3
    assert table.refuse(table.play("Ann", GR)) is Code.NOT_YOUR_TURN
    table.send(table.play("Dan", SB))


def test_a_play_leaves_the_hand_at_once() -> None:
    table = at_first_lead(deal([GR, SR, SR]))
    table.send(table.play("Ann", SR, SR))
    assert len(table.hand(0)) == 6
    assert SR not in table.hand(0)


def test_the_round_ends_when_every_hand_is_empty_with_eight_piles_captured() -> None:
    # A round-end pause keeps the finished round on the table long enough to look at it.
    table = at_first_lead(deal(), settings=replace(FAST, round_end_pause=7.0))
    events = table.play_out_tricks()
    assert all(not s.hand for s in table.state.seats)
    assert table.state.turn is None
    assert sum(s.piles for s in table.state.seats) == 8
    assert sum(e.piles for e in of_type(events, TrickWon)) == 8
