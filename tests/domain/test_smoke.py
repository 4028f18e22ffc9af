from engine.simulation import run_match
from engine.state import Phase


def test_a_bot_match_runs_to_game_over() -> None:
    record = run_match(7)
    assert record.state.phase is Phase.GAME_OVER
    assert record.state.winners
