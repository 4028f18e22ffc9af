"""RULES.md §4 "Declaration": order, range, the total-of-8 rule and the zero streak."""

from engine.commands import Deal
from engine.events import Declared
from engine.rejections import Code
from engine.state import Phase
from engine.views import view
from tests.domain.support import (
    EVERYONE_STRONG,
    GR,
    Table,
    all_strong_to,
    deal,
    one,
    seated,
)


def declaring(*script: Deal) -> Table:
    """Four humans; the first deal has no weak hand and Ann (P1) starts, so Ann declares first."""
    table = seated(script or (EVERYONE_STRONG,))
    assert table.state.phase is Phase.DECLARATION
    return table


def declare_in_turn(table: Table, *piles: int) -> None:
    for n in piles:
        turn = table.state.turn
        assert turn is not None
        table.send(table.declare(table.name(turn), n))


def test_players_declare_in_play_order_from_the_starter() -> None:
    # Cat holds GENERAL_RED and starts: Cat, Dan, Ann, Ben.
    table = seated((deal([], [], [GR]),))
    table.decline_all_redeals()
    assert table.refuse(table.declare("Ann", 1)) is Code.NOT_YOUR_TURN
    order = []
    for _ in range(4):
        turn = table.state.turn
        assert turn is not None
        order.append(one(table.send(table.declare(table.name(turn), 1)), Declared).seat)
    assert order == [2, 3, 0, 1]


def test_declaring_out_of_turn_is_refused() -> None:
    table = declaring()
    assert table.refuse(table.declare("Ben", 2)) is Code.NOT_YOUR_TURN


def test_more_than_eight_piles_is_out_of_range() -> None:
    table = declaring()
    assert table.refuse(table.declare("Ann", 9)) is Code.DECLARATION_OUT_OF_RANGE


def test_a_negative_declaration_is_out_of_range() -> None:
    table = declaring()
    assert table.refuse(table.declare("Ann", -1)) is Code.DECLARATION_OUT_OF_RANGE


def test_an_earlier_declarer_may_declare_all_eight_piles() -> None:
    table = declaring()
    declare_in_turn(table, 8)
    assert table.state.seats[0].declared == 8


def test_an_earlier_declarer_may_bring_the_total_to_eight() -> None:
    table = declaring()
    declare_in_turn(table, 4, 4)
    assert table.state.seats[1].declared == 4


def test_the_last_declarer_may_not_bring_the_total_to_eight() -> None:
    table = declaring()
    declare_in_turn(table, 3, 2, 1)
    assert table.refuse(table.declare("Dan", 2)) is Code.DECLARATION_MAKES_EIGHT


def test_the_last_declarer_may_not_declare_zero_when_the_others_made_eight() -> None:
    table = declaring()
    declare_in_turn(table, 8, 0, 0)
    assert table.refuse(table.declare("Dan", 0)) is Code.DECLARATION_MAKES_EIGHT


def test_the_last_declarer_may_go_over_or_under_eight() -> None:
    over, under = declaring(), declaring()
    declare_in_turn(over, 3, 2, 1)
    declare_in_turn(under, 3, 2, 1)
    over.send(over.declare("Dan", 3))
    under.send(under.declare("Dan", 1))
    assert over.state.phase is under.state.phase is Phase.TURN


def test_a_declaration_of_zero_is_a_value_not_a_missing_declaration() -> None:
    table = declaring()
    declare_in_turn(table, 0)
    seats = view(table.state, "Ben").seats
    assert seats[0].declared == 0
    assert seats[1].declared is None


def test_when_everyone_has_declared_the_starter_leads_the_first_trick() -> None:
    table = declaring()
    declare_in_turn(table, 1, 1, 1, 1)
    assert table.state.phase is Phase.TURN
    assert table.state.turn == table.state.starter == 0


# --- the zero streak, across rounds ----------------------------------------------------------


def until_turn_of(table: Table, seat: int) -> None:
    """Others declare 1 each until it is `seat`'s turn (1s never make a total of 8 here)."""
    while table.state.turn != seat:
        declare_in_turn(table, 1)


def play_round_declaring(table: Table, ben: int) -> None:
    """Ben declares `ben`, the others 1; the round is played out and scored."""
    table.declare_all((1, ben, 1, 1))
    table.finish_round()


def test_after_two_zero_declarations_a_player_must_declare_at_least_one() -> None:
    table = declaring(*(EVERYONE_STRONG,) * 3)
    play_round_declaring(table, 0)
    play_round_declaring(table, 0)
    assert table.state.round == 3
    until_turn_of(table, 1)
    assert table.refuse(table.declare("Ben", 0)) is Code.ZERO_STREAK
    table.send(table.declare("Ben", 1))


def test_one_zero_declaration_does_not_restrict_the_next() -> None:
    table = declaring(*(EVERYONE_STRONG,) * 2)
    play_round_declaring(table, 0)
    until_turn_of(table, 1)
    table.send(table.declare("Ben", 0))


def test_a_non_zero_declaration_resets_the_zero_streak() -> None:
    table = declaring(*(EVERYONE_STRONG,) * 4)
    play_round_declaring(table, 0)
    play_round_declaring(table, 1)
    play_round_declaring(table, 0)
    assert table.state.round == 4
    until_turn_of(table, 1)
    # 0, 1, 0: only one zero in a row, so 0 is allowed again.
    table.send(table.declare("Ben", 0))


def test_the_zero_streak_outlasts_a_redeal() -> None:
    # Round 1 and 2 have Ben declaring 0; round 3 starts with a redeal, which is not a
    # declaration and so does not reset the streak.
    script = (EVERYONE_STRONG, EVERYONE_STRONG, all_strong_to(0), EVERYONE_STRONG)
    table = declaring(*script)
    play_round_declaring(table, 0)
    play_round_declaring(table, 0)
    table.send(table.redeal("Ben", True))
    table.decline_all_redeals()
    assert table.state.multiplier == 2
    until_turn_of(table, 1)
    assert table.refuse(table.declare("Ben", 0)) is Code.ZERO_STREAK
