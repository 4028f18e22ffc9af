"""Display pauses, deadlines and cascades (docs/rules-decisions.md "Time").

Pauses are configuration: each test turns on one pause (the others are zero) and checks
the step waits for exactly that long, and that `next_due` tells the timer when to tick.
"""

from msgspec.structs import replace

from engine.commands import Deal
from engine.decider import next_due
from engine.events import Declared, PiecesPlayed, RoundScored
from engine.rejections import Code
from engine.settings import RoomSettings
from engine.state import Phase
from engine.views import view
from tests.domain.support import (
    EVERYONE_STRONG,
    FAST,
    Table,
    all_strong_to,
    one,
    seated,
    types,
    weak_deal,
)


def game(settings: RoomSettings, *script: Deal) -> Table:
    """Four humans started at t=0 with `settings` (by default no weak hand; Ann starts)."""
    return seated(script or (EVERYONE_STRONG,) * 3, settings=settings)


def test_with_zero_pauses_one_command_cascades_from_the_start_to_the_declarations() -> None:
    table = seated((EVERYONE_STRONG,), start=False)
    events = table.send(table.start())
    assert types(events) == ["GameStarted", "HandsDealt", "RoundStarted", "DeclarationStarted"]


def test_the_round_starts_deal_pause_after_the_deal() -> None:
    table = game(replace(FAST, deal_pause=2.0))
    assert table.state.phase is Phase.PREPARATION
    assert next_due(table.state, table.now) == 2.0
    assert table.send(table.tick(1.9)) == []
    assert types(table.send(table.tick(2.0))) == ["RoundStarted", "DeclarationStarted"]


def test_after_a_redeal_the_round_starts_redeal_pause_after_the_new_deal() -> None:
    table = game(replace(FAST, deal_pause=2.0, redeal_pause=4.0), weak_deal(1), EVERYONE_STRONG)
    table.now = 1.0
    table.send(table.redeal("Ben", True))
    assert next_due(table.state, table.now) == 5.0
    assert table.send(table.tick(4.9)) == []
    assert types(table.send(table.tick(5.0)))[0] == "RoundStarted"


def test_declarations_open_round_start_pause_after_the_round_starts() -> None:
    table = game(replace(FAST, round_start_pause=5.0))
    assert table.state.phase is Phase.ROUND_START
    assert table.refuse(table.declare("Ann", 1)) is Code.WRONG_PHASE
    assert table.send(table.tick(4.9)) == []
    assert types(table.send(table.tick(5.0))) == ["DeclarationStarted"]
    table.send(table.declare("Ann", 1))


def test_the_redeal_deadline_is_due_redeal_timeout_after_the_deal() -> None:
    table = game(replace(FAST, redeal_timeout=30.0), weak_deal(1), EVERYONE_STRONG)
    assert next_due(table.state, table.now) == 30.0


def test_the_round_is_scored_round_end_pause_after_its_last_trick() -> None:
    table = game(replace(FAST, round_end_pause=7.0))
    table.declare_all()
    table.now = 50.0
    table.play_out_tricks()
    assert next_due(table.state, table.now) == 57.0
    assert table.send(table.tick(56.9)) == []
    one(table.send(table.tick(57.0)), RoundScored)


def test_the_next_round_is_dealt_scoring_pause_after_the_scoring() -> None:
    table = game(replace(FAST, scoring_pause=7.0))
    table.declare_all()
    table.now = 50.0
    table.finish_round()
    assert table.state.phase is Phase.SCORING
    assert table.send(table.tick(56.9)) == []
    assert types(table.send(table.tick(57.0)))[0] == "HandsDealt"
    assert table.state.round == 2


def test_a_trick_pause_delays_only_the_next_lead() -> None:
    table = game(replace(FAST, trick_pause=5.0), all_strong_to(0))
    table.decline_all_redeals()
    table.declare_all((8, 0, 0, 1))
    table.now = 10.0
    for seat in range(4):
        hand = table.hand(seat)
        table.send(table.play(table.name(seat), hand[0] if seat == 0 else hand[-1]))
    assert table.state.lead_not_before == 15.0
    assert table.refuse(table.play("Ann", table.hand(0)[0])) is Code.TOO_EARLY
    table.now = 15.0
    table.send(table.play("Ann", table.hand(0)[0]))
    # Following is not delayed.
    table.send(table.play("Ben", table.hand(1)[-1]))


def test_next_due_is_the_end_of_the_trick_display_while_a_lead_is_too_early() -> None:
    table = game(replace(FAST, trick_pause=5.0), all_strong_to(0))
    table.decline_all_redeals()
    table.declare_all((8, 0, 0, 1))
    table.now = 10.0
    for seat in range(4):
        hand = table.hand(seat)
        table.send(table.play(table.name(seat), hand[0] if seat == 0 else hand[-1]))
    assert next_due(table.state, 10.0) == 15.0
    assert next_due(table.state, 14.9) == 15.0
    # Once the lead is open nothing waits on the clock: no past time to tick at again.
    assert next_due(table.state, 15.0) is None
    assert table.send(table.tick(15.0)) == []


def test_the_redeal_deadline_a_player_is_shown_is_the_one_the_room_enforces() -> None:
    table = game(replace(FAST, redeal_timeout=30.0), weak_deal(1), EVERYONE_STRONG)
    table.now = 3.0
    shown = view(table.state, "Ben").redeal_deadline
    assert shown == next_due(table.state, table.now) == 30.0
    assert table.send(table.tick(29.9)) == []
    assert types(table.send(table.tick(30.0)))[0] == "RedealDecided"
    assert view(table.state, "Ben").redeal_deadline is None


def test_a_human_who_lets_the_move_timeout_pass_has_the_bot_declare_for_them() -> None:
    table = game(replace(FAST, move_timeout=10.0))
    assert next_due(table.state, table.now) == 10.0
    assert table.send(table.tick(9.9)) == []
    declared = one(table.send(table.tick(10.0)), Declared)
    assert declared.seat == 0
    assert table.state.turn == 1


def test_a_human_who_lets_the_move_timeout_pass_has_the_bot_play_for_them() -> None:
    table = game(replace(FAST, move_timeout=10.0))
    table.declare_all()
    table.now = 4.0
    table.send(table.play("Ann", table.hand(0)[0]))
    # Ben's turn began at 4.0.
    assert next_due(table.state, table.now) == 14.0
    assert table.send(table.tick(13.9)) == []
    played = one(table.send(table.tick(14.0)), PiecesPlayed)
    assert played.seat == 1


def test_no_move_timeout_runs_for_a_seat_a_bot_already_plays() -> None:
    table = game(replace(FAST, move_timeout=10.0))
    table.send(table.disconnect("Ann"))
    assert next_due(table.state, table.now) is None
    assert table.send(table.tick(100.0)) == []
