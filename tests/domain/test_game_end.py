"""RULES.md §7 "End of game": 50 points, ties, and the engine's round cap."""

from msgspec.structs import replace

from engine.events import EndReason, GameOver, RoundScored, ends_room
from engine.evolve import evolve
from engine.rejections import Code
from engine.rules import game_end, winners
from engine.settings import RoomSettings
from engine.simulation import run_match
from engine.state import Phase, RoomState
from tests.domain.support import (
    EVERYONE_STRONG,
    FAST,
    Table,
    all_strong_to,
    of_type,
    one,
    seated,
    types,
)


def test_the_game_ends_when_a_player_reaches_exactly_50() -> None:
    assert game_end([50, 10, 0, -4], round_number=3, target=50, round_cap=20) is (
        EndReason.TARGET_SCORE
    )


def test_the_game_goes_on_at_49() -> None:
    assert game_end([49, 10, 0, -4], round_number=3, target=50, round_cap=20) is None


def test_the_round_cap_ends_the_game_after_its_last_round() -> None:
    assert game_end([10, 0, 0, 0], round_number=20, target=50, round_cap=20) is EndReason.ROUND_CAP
    assert game_end([10, 0, 0, 0], round_number=19, target=50, round_cap=20) is None


def test_reaching_the_target_in_the_capped_round_counts_as_reaching_the_target() -> None:
    assert game_end([55, 0, 0, 0], round_number=20, target=50, round_cap=20) is (
        EndReason.TARGET_SCORE
    )


def test_the_highest_total_wins() -> None:
    assert winners([12, 51, 30, 49]) == (1,)


def test_every_player_tied_at_the_top_wins() -> None:
    assert winners([52, 10, 52, 52]) == (0, 2, 3)


def test_the_top_score_wins_even_when_it_is_negative() -> None:
    assert winners([-3, -1, -1, -5]) == (1, 2)


def test_the_default_target_is_50_points_and_the_default_cap_20_rounds() -> None:
    settings = RoomSettings()
    assert (settings.target_score, settings.round_cap) == (50, 20)


# --- through the engine ----------------------------------------------------------------------

PAUSES = (
    "deal_pause",
    "redeal_pause",
    "round_start_pause",
    "trick_pause",
    "round_end_pause",
    "scoring_pause",
)


def play_round(table: Table, others: int = 0) -> None:
    """Redeals declined; Ann declares 8, Ben and Cat `others`, Dan 1; played out and scored."""
    table.decline_all_redeals()
    table.declare_all((8, others, others, 1))
    table.finish_round()


def test_with_the_default_target_the_game_ends_in_the_round_a_player_passes_50() -> None:
    # Ann captures all 8 piles as declared each round: 13, 26, 39, 52 points. Ben and Cat
    # alternate 0 (+3) and 1 (-1) to stay clear of the zero streak; Dan misses 1 (-1) each time.
    settings = replace(RoomSettings(), **{f: 0.0 for f in PAUSES}, abandon_after=None)
    table = seated((all_strong_to(0),) * 5, settings=settings)
    for others in (0, 1, 0, 1):
        play_round(table, others)
    assert [s.totals[0] for s in of_type(table.events, RoundScored)] == [13, 26, 39, 52]
    over = one(table.events, GameOver)
    assert (over.reason, over.winners, over.totals) == (
        EndReason.TARGET_SCORE,
        (0,),
        (52, 4, 4, -4),
    )
    assert table.state.phase is Phase.GAME_OVER


def test_the_game_ends_at_the_round_cap_with_the_top_score_winning() -> None:
    table = seated((all_strong_to(0),), settings=replace(FAST, round_cap=1))
    play_round(table)
    over = one(table.events, GameOver)
    assert (over.reason, over.winners, over.totals) == (EndReason.ROUND_CAP, (0,), (13, 3, 3, -1))


def test_game_over_follows_the_round_scoring_at_once() -> None:
    table = seated((all_strong_to(0),), settings=replace(FAST, round_cap=1, scoring_pause=7.0))
    play_round(table)
    assert types(table.events)[-2:] == ["RoundScored", "GameOver"]


def test_after_game_over_every_command_but_tick_is_refused() -> None:
    table = seated((EVERYONE_STRONG,), settings=replace(FAST, round_cap=1))
    table.declare_all()
    table.finish_round()
    assert table.state.phase is Phase.GAME_OVER
    assert table.refuse(table.declare("Ann", 1)) is Code.GAME_OVER
    assert table.refuse(table.disconnect("Ann")) is Code.GAME_OVER
    assert table.refuse(table.reconnect("Ann")) is Code.GAME_OVER
    assert table.refuse(table.join("Eve")) is Code.GAME_OVER
    assert table.send(table.tick(1000.0)) == []


def test_a_room_is_finished_from_the_event_that_ends_it_on() -> None:
    record = run_match(7, settings=replace(RoomSettings.fast(), round_cap=2))
    state = RoomState()
    for event in record.events:
        was_finished = state.finished
        state = evolve(state, event)
        assert state.finished == (was_finished or ends_room(event))
    assert state.finished and ends_room(record.events[-1])


def test_a_room_closed_in_the_lobby_is_finished() -> None:
    table = Table()
    table.send(table.create("Ann"))
    assert not table.state.finished
    closed = table.send(table.leave("Ann"))
    assert ends_room(closed[-1]) and table.state.finished
