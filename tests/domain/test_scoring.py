"""RULES.md §6 "Scoring": the base-score table, the redeal multiplier, accumulation."""

import pytest

from engine.events import RedealGranted, RoundScored
from engine.rules import base_score, is_perfect, round_score
from engine.state import Phase
from tests.domain.support import Table, all_strong_to, of_type, one, seated


@pytest.mark.parametrize(
    ("declared", "captured", "score"),
    [
        (0, 0, 3),  # declared 0, captured 0: +3
        (0, 1, -1),  # declared 0, captured a > 0: -a
        (0, 5, -5),
        (1, 1, 6),  # declared d > 0, captured d: d + 5
        (4, 4, 9),
        (8, 8, 13),
        (3, 1, -2),  # declared d > 0, captured a != d: -|d - a|
        (2, 5, -3),
        (5, 0, -5),
    ],
)
def test_the_base_score_follows_the_rules_table(declared: int, captured: int, score: int) -> None:
    assert base_score(declared, captured) == score


@pytest.mark.parametrize(
    ("declared", "captured", "multiplier", "score"),
    [
        (3, 3, 1, 8),
        (3, 3, 2, 16),  # bonus doubled
        (0, 0, 3, 9),  # +3 tripled
        (3, 1, 2, -4),  # penalty doubled
        (0, 2, 3, -6),  # penalty tripled
    ],
)
def test_the_redeal_multiplier_scales_bonuses_and_penalties_alike(
    declared: int, captured: int, multiplier: int, score: int
) -> None:
    assert round_score(declared, captured, multiplier) == score


def test_a_perfect_round_is_a_met_non_zero_declaration() -> None:
    assert is_perfect(3, 3)
    assert not is_perfect(0, 0)
    assert not is_perfect(3, 2)


# --- through the engine ----------------------------------------------------------------------
#
# Ann holds the eight strong pieces and captures all 8 piles; Ben, Cat and Dan capture none.
# Declarations by seat: Ann 8, Ben 0, Cat 0, Dan 1 (never a total of 8 whoever is last).
# Base scores by hand: Ann 8+5 = 13, Ben +3, Cat +3, Dan -|1-0| = -1.
DECLARED = (8, 0, 0, 1)
BASE = (13, 3, 3, -1)


def play_round_ann_takes_all(table: Table, accepters: list[str]) -> RoundScored:
    """Weak players named in `accepters` accept a redeal (one per deal), then the round is played.

    Every trick is singles: Ann plays her strongest piece (10 or more), everyone else their
    weakest (9 at most), so Ann wins all eight tricks whoever leads the first.
    """
    for name in accepters:
        table.send(table.redeal(name, True))
        table.decline_all_redeals()
    table.decline_all_redeals()
    table.declare_all(DECLARED)
    events = []
    while (turn := table.state.turn) is not None and table.state.phase is Phase.TURN:
        hand = table.hand(turn)
        events += table.send(table.play(table.name(turn), hand[0] if turn == 0 else hand[-1]))
    return one(events + table.finish_round(), RoundScored)


@pytest.mark.parametrize("redeals", [0, 1, 2])
def test_round_scores_are_the_base_scores_times_the_redeal_multiplier(redeals: int) -> None:
    table = seated((all_strong_to(0),) * 3)
    scored = play_round_ann_takes_all(table, ["Ben", "Cat"][:redeals])
    multiplier = redeals + 1
    assert [g.multiplier for g in of_type(table.events, RedealGranted)] == list(
        range(2, multiplier + 1)
    )
    assert scored.declared == DECLARED
    assert scored.captured == (8, 0, 0, 0)
    assert scored.multiplier == multiplier
    assert scored.scores == tuple(b * multiplier for b in BASE)


def test_scores_accumulate_over_rounds_and_may_go_negative() -> None:
    table = seated((all_strong_to(0),) * 2)
    first = play_round_ann_takes_all(table, [])
    second = play_round_ann_takes_all(table, [])
    assert first.totals == (13, 3, 3, -1)
    assert second.totals == (26, 6, 6, -2)
    assert [s.score for s in table.state.seats] == [26, 6, 6, -2]
