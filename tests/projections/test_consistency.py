"""Read models built live equal a rebuild from zero, and the figures computed from the events."""

from __future__ import annotations

import asyncio
from pathlib import Path

from engine.state import Phase
from projections import SyncReadModels
from tests.projections.conftest import LiveBuild
from tests.projections.support import (
    dump,
    expected_careers,
    expected_matches,
    expected_rooms,
    fold_to_end,
)


def test_read_models_built_live_equal_a_rebuild_from_zero(
    live_build: LiveBuild, tmp_path: Path
) -> None:
    rebuilt = tmp_path / "rebuilt.db"
    asyncio.run(fold_to_end(live_build.store_path, rebuilt))
    live_rows = dump(live_build.projections_path)
    assert all(live_rows.values()), {t: len(r) for t, r in live_rows.items()}
    assert dump(rebuilt) == live_rows


def test_player_stats_equal_figures_counted_from_the_match_events(live_build: LiveBuild) -> None:
    careers = expected_careers(live_build.events)
    models = SyncReadModels(live_build.projections_path)
    humans = [name for name in careers if not name.startswith("Bot ")]
    assert len(humans) >= 10
    for name, career in careers.items():
        stats = models.player_stats(name)
        assert stats is not None, name
        assert stats.is_bot == name.startswith("Bot ")
        for figure, value in vars(career).items():
            assert getattr(stats, figure) == value, (name, figure)
        if career.games:
            assert stats.average_score == career.points / career.games
            assert stats.win_rate == career.wins / career.games
    assert models.player_stats("nobody") is None


def test_leaderboards_rank_the_players_counted_from_the_events(live_build: LiveBuild) -> None:
    careers = {n: c for n, c in expected_careers(live_build.events).items() if c.games}
    models = SyncReadModels(live_build.projections_path)
    humans = {n: c for n, c in careers.items() if not n.startswith("Bot ")}
    by_wins = models.leaderboard("wins", limit=100)
    assert [e.name for e in by_wins.items] == sorted(humans, key=lambda n: (-humans[n].wins, n))
    assert by_wins.as_of == live_build.last_position
    by_points = models.leaderboard("points", include_bots=True, limit=100)
    assert [(e.name, e.points) for e in by_points.items] == sorted(
        ((n, c.points) for n, c in careers.items()), key=lambda p: (-p[1], p[0])
    )
    by_rate = models.leaderboard("win_rate", min_games=5, limit=100)
    eligible = {n: c for n, c in humans.items() if c.games >= 5}
    assert [e.name for e in by_rate.items] == sorted(
        eligible, key=lambda n: (-eligible[n].wins / eligible[n].games, n)
    )


def test_match_history_equals_the_matches_in_the_events(live_build: LiveBuild) -> None:
    expected = expected_matches(live_build.events)
    models = SyncReadModels(live_build.projections_path)
    for room, match in expected.items():
        detail = models.match(room)
        assert detail is not None, room
        summary = detail.summary
        assert summary.players == match.players
        assert summary.outcome == match.outcome
        assert (summary.rounds, summary.redeals) == (match.rounds, match.redeals)
        assert summary.final_scores == match.final
        assert summary.winners == match.winners
        assert not summary.archived
        assert [r.round for r in detail.rounds] == [s.round for s in match.round_scores]
        for result, scored in zip(detail.rounds, match.round_scores, strict=True):
            assert result.multiplier == scored.multiplier
            assert tuple(s.declared for s in result.seats) == scored.declared
            assert tuple(s.captured for s in result.seats) == scored.captured
            assert tuple(s.score for s in result.seats) == scored.scores
            assert tuple(s.total for s in result.seats) == scored.totals
    everything = models.match_history(limit=1000)
    assert {m.room_id for m in everything.items} == set(expected)


def test_lobby_equals_the_rooms_folded_by_the_engine(live_build: LiveBuild) -> None:
    rooms = expected_rooms(live_build.events)
    open_rooms = {
        room: state
        for room, state in rooms.items()
        if state.phase not in (Phase.GAME_OVER, Phase.CLOSED)
    }
    assert any(s.phase is Phase.WAITING for s in open_rooms.values())
    assert any(s.phase is not Phase.WAITING for s in open_rooms.values())
    models = SyncReadModels(live_build.projections_path)
    lobby = models.lobby(limit=1000)
    assert {r.room_id for r in lobby.items} == set(open_rooms)
    for room in lobby.items:
        state = open_rooms[room.room_id]
        assert room.phase == state.phase.value
        assert room.started == (state.phase is not Phase.WAITING)
        assert room.host == state.seats[state.host].name
        assert room.round == state.round
        assert [(s.name, s.is_bot, s.connected) for s in room.seats] == [
            (s.name, s.is_bot, s.connected) for s in state.seats
        ]
        assert models.room(room.room_id) == room
    joinable = models.joinable(limit=1000)
    assert {r.room_id for r in joinable.items} == {
        room
        for room, state in open_rooms.items()
        if state.phase is Phase.WAITING and any(s.name is None for s in state.seats)
    }
    finished = next(room for room, s in rooms.items() if s.phase is Phase.GAME_OVER)
    assert models.room(finished) is None
