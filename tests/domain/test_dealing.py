"""RULES.md §1 "Deal" and the engine's dealing choices (docs/rules-decisions.md "Dealing")."""

from collections import Counter

from msgspec.structs import replace

from engine.commands import Deal
from engine.dealing import hand_order, next_deal, shuffled_deal
from engine.events import HandsDealt, PiecesPlayed
from engine.pieces import DECK
from tests.domain.support import (
    EVERYONE_STRONG,
    FAST,
    GB,
    GR,
    SB,
    SR,
    all_strong_to,
    of_type,
    one,
    seated,
)


def test_a_seeded_deal_gives_each_seat_8_of_the_32_pieces() -> None:
    hands = shuffled_deal(seed=7, deal_number=0)
    assert [len(h) for h in hands] == [8, 8, 8, 8]
    assert Counter(p for h in hands for p in h) == Counter(DECK)


def test_the_same_seed_and_deal_number_always_give_the_same_hands() -> None:
    assert shuffled_deal(7, 3) == shuffled_deal(7, 3)


def test_another_deal_number_or_seed_gives_another_shuffle() -> None:
    assert shuffled_deal(7, 3) != shuffled_deal(7, 4)
    assert shuffled_deal(7, 3) != shuffled_deal(8, 3)


def test_hands_are_sorted_strongest_first() -> None:
    assert hand_order([SB, GB, SR, GR]) == (GR, GB, SR, SB)


def test_a_script_supplies_the_deals_in_order_then_the_seeded_shuffle_takes_over() -> None:
    script = (EVERYONE_STRONG, all_strong_to(1))
    assert next_deal(5, script, 1) == (tuple(hand_order(h) for h in script[1]), True)
    assert next_deal(5, script, 2) == (shuffled_deal(5, 2), False)


def test_the_dealt_hands_are_recorded_in_the_event() -> None:
    table = seated((EVERYONE_STRONG,), seed=11)
    table.declare_all()
    table.finish_round()
    first, second = of_type(table.events, HandsDealt)[:2]
    assert (first.scripted, first.hands) == (True, tuple(hand_order(h) for h in EVERYONE_STRONG))
    assert (second.round, second.deal, second.scripted) == (2, 2, False)
    assert second.hands == shuffled_deal(11, 1)


def weakest_first(deal: Deal) -> Deal:
    return tuple(tuple(reversed(hand_order(h))) for h in deal)


def test_a_script_s_hands_are_sorted_unless_the_room_keeps_them_as_given() -> None:
    script = (weakest_first(EVERYONE_STRONG),)
    assert next_deal(5, script, 0) == (tuple(hand_order(h) for h in script[0]), True)
    assert next_deal(5, script, 0, sort_scripted=False) == (script[0], True)


def test_a_room_that_keeps_scripted_order_deals_and_plays_by_the_given_indices() -> None:
    script = (weakest_first(all_strong_to(0)),)
    table = seated(script, settings=replace(FAST, sort_scripted_hands=False))
    dealt = of_type(table.events, HandsDealt)[0]
    assert dealt.hands == script[0]
    assert table.hand(0) == script[0][0]
    table.decline_all_redeals()
    table.declare_all((8, 0, 0, 1))
    last = len(table.hand(0)) - 1
    played = one(table.send(table.play_indices("Ann", last)), PiecesPlayed)
    assert played.pieces == (script[0][0][last],)
