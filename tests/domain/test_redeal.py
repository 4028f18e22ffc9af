"""RULES.md §2 "Weak hands and redeal": simultaneous answers, who starts, the multiplier."""

from msgspec.structs import replace

from engine.dealing import hand_order
from engine.decider import execute
from engine.events import (
    HandsDealt,
    RedealDecided,
    RedealGranted,
    RoundStarted,
    StarterReason,
)
from engine.rejections import Code, Rejection
from engine.state import Phase
from tests.domain.support import (
    AB,
    AR,
    CHB,
    CHR,
    CNB,
    CNR,
    EB,
    ER,
    EVERYONE_STRONG,
    FAST,
    GB,
    GR,
    HB,
    HR,
    SB,
    SR,
    all_strong_to,
    deal,
    of_type,
    one,
    seated,
    types,
    weak_deal,
)

BEN_AND_DAN_WEAK = weak_deal(1, 3)


def test_a_weak_deal_waits_for_the_weak_players_answers() -> None:
    table = seated((BEN_AND_DAN_WEAK,))
    assert table.state.phase is Phase.PREPARATION
    assert [s.weak for s in table.state.seats] == [False, True, False, True]
    assert not of_type(table.events, RoundStarted)


def test_a_hand_whose_best_piece_is_the_black_elephant_may_ask_for_a_redeal() -> None:
    ben = [EB, EB, CHR, CHR, CHB, CHB, HR, HR]  # best piece: ELEPHANT_BLACK, 9 points
    table = seated((deal([GR, GB, AR, AR, AB, AB, ER, SB], ben),))
    table.send(table.redeal("Ben", True))
    assert table.state.seats[1].redeal is True


def test_a_hand_whose_best_piece_is_the_red_elephant_may_not_ask_for_a_redeal() -> None:
    cat = [ER, HB, HB, CNR, CNR, CNB, CNB, SR]  # best piece: ELEPHANT_RED, 10 points
    table = seated((deal([GR, GB, AR, AR, AB, AB, ER, SB], [], cat),))
    assert table.refuse(table.redeal("Cat", True)) is Code.NOT_WEAK


def test_a_player_without_a_weak_hand_may_not_answer() -> None:
    table = seated((BEN_AND_DAN_WEAK,))
    assert table.refuse(table.redeal("Ann", True)) is Code.NOT_WEAK
    assert table.refuse(table.redeal("Ann", False)) is Code.NOT_WEAK


def test_nothing_is_decided_until_every_weak_player_has_answered() -> None:
    table = seated((BEN_AND_DAN_WEAK, EVERYONE_STRONG))
    assert types(table.send(table.redeal("Ben", True))) == ["RedealDecided"]
    events = table.send(table.redeal("Dan", False))
    assert types(events)[:3] == ["RedealDecided", "RedealGranted", "HandsDealt"]


def test_a_second_answer_from_the_same_player_is_refused() -> None:
    table = seated((BEN_AND_DAN_WEAK,))
    table.send(table.redeal("Ben", False))
    assert table.refuse(table.redeal("Ben", True)) is Code.ALREADY_DECIDED


def test_the_first_accepter_in_play_order_starts_not_the_first_to_answer() -> None:
    # Round 1 counts from P1: Ben (P2) comes before Dan (P4), though Dan answered first.
    table = seated((BEN_AND_DAN_WEAK, EVERYONE_STRONG))
    table.send(table.redeal("Dan", True))
    events = table.send(table.redeal("Ben", True))
    assert one(events, RedealGranted).seat == 1
    started = one(events, RoundStarted)
    assert (started.starter, started.reason) == (1, StarterReason.REDEAL_ACCEPTED)


def test_a_redeal_raises_the_round_multiplier_to_two() -> None:
    table = seated((BEN_AND_DAN_WEAK, EVERYONE_STRONG))
    table.send(table.redeal("Ben", True))
    events = table.send(table.redeal("Dan", False))
    assert one(events, RedealGranted).multiplier == 2
    assert one(events, RoundStarted).multiplier == 2


def test_a_redeal_deals_all_four_hands_again() -> None:
    table = seated((BEN_AND_DAN_WEAK, EVERYONE_STRONG))
    table.send(table.redeal("Ben", True))
    redealt = one(table.send(table.redeal("Dan", False)), HandsDealt)
    assert (redealt.round, redealt.deal) == (1, 2)
    assert redealt.hands == tuple(hand_order(h) for h in EVERYONE_STRONG)
    assert [s.hand for s in table.state.seats] == list(redealt.hands)


def test_a_redealt_hand_is_checked_again_and_the_multiplier_has_no_limit() -> None:
    script = (weak_deal(1), weak_deal(2), weak_deal(3), EVERYONE_STRONG)
    table = seated(script)
    for name in ("Ben", "Cat", "Dan"):
        table.send(table.redeal(name, True))
    assert [g.multiplier for g in of_type(table.events, RedealGranted)] == [2, 3, 4]
    started = one(table.events, RoundStarted)
    # Each accepter started the count for the next one; Dan accepted last.
    assert (started.starter, started.multiplier) == (3, 4)


def test_when_every_weak_player_declines_the_hands_stand() -> None:
    table = seated((BEN_AND_DAN_WEAK,))
    table.send(table.redeal("Ben", False))
    events = table.send(table.redeal("Dan", False))
    assert not of_type(events, RedealGranted)
    assert one(events, RoundStarted).multiplier == 1
    assert [s.hand for s in table.state.seats] == [hand_order(h) for h in BEN_AND_DAN_WEAK]


def test_an_unanswered_question_is_declined_at_the_deadline() -> None:
    table = seated((BEN_AND_DAN_WEAK,), settings=replace(FAST, redeal_timeout=30.0))
    assert table.send(table.tick(29.9)) == []
    events = table.send(table.tick(30.0))
    declined = of_type(events, RedealDecided)
    assert [(d.seat, d.accept, d.timed_out) for d in declined] == [
        (1, False, True),
        (3, False, True),
    ]
    assert one(events, RoundStarted).multiplier == 1


def test_at_the_deadline_an_earlier_acceptance_still_wins_the_redeal() -> None:
    table = seated((BEN_AND_DAN_WEAK, EVERYONE_STRONG), settings=replace(FAST, redeal_timeout=30.0))
    table.now = 10.0
    table.send(table.redeal("Dan", True))
    events = table.send(table.tick(30.0))
    assert one(events, RedealDecided).seat == 1
    assert one(events, RedealGranted).seat == 3


def test_a_zero_deadline_declines_at_once() -> None:
    table = seated((BEN_AND_DAN_WEAK,), settings=replace(FAST, redeal_timeout=0.0))
    assert [d.timed_out for d in of_type(table.events, RedealDecided)] == [True, True]
    assert table.state.phase is Phase.DECLARATION


def test_disconnecting_while_undecided_counts_as_a_decline() -> None:
    table = seated((BEN_AND_DAN_WEAK,))
    declined = one(table.send(table.disconnect("Dan")), RedealDecided)
    assert (declined.seat, declined.accept) == (3, False)
    assert table.refuse(table.redeal("Bot 4", True)) is Code.ALREADY_DECIDED


def test_the_multiplier_returns_to_one_in_the_next_round() -> None:
    table = seated((BEN_AND_DAN_WEAK, EVERYONE_STRONG, EVERYONE_STRONG))
    table.send(table.redeal("Ben", True))
    table.send(table.redeal("Dan", False))
    assert table.state.multiplier == 2
    table.declare_all()
    table.finish_round()
    assert table.state.round == 2
    assert [r.multiplier for r in of_type(table.events, RoundStarted)] == [2, 1]


def test_in_later_rounds_the_first_accepter_is_counted_from_the_last_trick_winner() -> None:
    # Round 1: Cat holds every strong piece, so Cat wins the last trick. Round 2: Ben and
    # Dan are weak and both accept; counted from Cat (P3) the order is Cat, Dan, Ann, Ben,
    # so Dan starts (counted from P1 it would have been Ben).
    table = seated((all_strong_to(2), BEN_AND_DAN_WEAK, EVERYONE_STRONG))
    table.decline_all_redeals()
    table.declare_all()
    table.finish_round()
    assert table.state.last_trick_winner == 2
    table.send(table.redeal("Ben", True))
    events = table.send(table.redeal("Dan", True))
    assert one(events, RedealGranted).seat == 3
    assert one(events, RoundStarted).starter == 3


def test_an_answer_after_the_deadline_comes_too_late() -> None:
    table = seated((BEN_AND_DAN_WEAK, EVERYONE_STRONG), settings=replace(FAST, redeal_timeout=30.0))
    table.now = 45.0
    # Whether the late answer is refused or overtaken by the deadline, it must not count.
    result = execute(table.state, table.redeal("Ben", True))
    assert isinstance(result, Rejection) or not of_type(result[0], RedealGranted)
