"""RULES.md §3 "Round starter": redeal accepter, GENERAL_RED holder, last trick winner."""

from engine.events import RoundStarted, StarterReason
from tests.domain.support import (
    EVERYONE_STRONG,
    GR,
    all_strong_to,
    deal,
    of_type,
    one,
    seated,
    weak_deal,
)


def test_in_round_one_the_holder_of_the_red_general_starts() -> None:
    table = seated((deal([], [], [GR]),))
    table.decline_all_redeals()
    started = one(table.events, RoundStarted)
    assert (started.starter, started.reason) == (2, StarterReason.GENERAL_RED)
    assert table.state.turn == 2


def test_in_later_rounds_the_winner_of_the_last_trick_starts() -> None:
    # Round 1: Cat holds all strong pieces and wins every trick, the last one included.
    # Round 2: Ann holds GENERAL_RED, which no longer matters.
    table = seated((all_strong_to(2), EVERYONE_STRONG))
    table.decline_all_redeals()
    table.declare_all()
    table.finish_round()
    second = of_type(table.events, RoundStarted)[1]
    assert (second.round, second.starter, second.reason) == (
        2,
        2,
        StarterReason.LAST_TRICK_WINNER,
    )


def test_a_redeal_accepter_starts_before_the_red_general_holder() -> None:
    # Dan is the only weak player; after his redeal Ann holds GENERAL_RED.
    table = seated((weak_deal(3), EVERYONE_STRONG))
    table.send(table.redeal("Dan", True))
    started = one(table.events, RoundStarted)
    assert table.state.seats[0].hand[0] is GR
    assert (started.starter, started.reason) == (3, StarterReason.REDEAL_ACCEPTED)


def test_a_redeal_accepter_starts_before_the_last_trick_winner() -> None:
    # Cat wins round 1's last trick; in round 2 only Ben is weak and accepts.
    table = seated((all_strong_to(2), weak_deal(1), EVERYONE_STRONG))
    table.decline_all_redeals()
    table.declare_all()
    table.finish_round()
    table.send(table.redeal("Ben", True))
    second = of_type(table.events, RoundStarted)[1]
    assert (second.starter, second.reason) == (1, StarterReason.REDEAL_ACCEPTED)
