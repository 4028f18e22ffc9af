"""Read models and forks: match history marks a fork; leaderboards count one only if asked."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from actors.facade import Engine
from engine.codec import decode_records
from engine.evolve import fold
from engine.state import Phase
from tests.actors.conftest import fast_config, start_bot_match, wait_for_game_over


def mid_round_version(events: list[object]) -> int:
    """A version in the last round's tricks: forking there replays most of the match."""
    state = fold(events)  # type: ignore[arg-type]
    assert state.phase is Phase.GAME_OVER
    return len(events) - 20


@pytest.mark.parametrize("count_forks", [False, True])
def test_a_fork_is_marked_in_match_history_and_counts_only_when_configured(
    tmp_path: Path, count_forks: bool
) -> None:
    async def scenario() -> None:
        config = fast_config(tmp_path, archive_after=None, count_forks=count_forks)
        async with Engine.open(tmp_path / "games.db", config) as engine:
            source = await start_bot_match(engine, "ann", seed=5)
            await wait_for_game_over(engine, [source])
            events = decode_records(await engine.store.read_stream(source))
            n = mid_round_version(events)
            fork_id = await engine.fork(source, n)
            await wait_for_game_over(engine, [fork_id])
            assert await engine.projections.wait_caught_up(timeout=30)
            models = engine.read_models
            history = {m.room_id: m for m in (await models.match_history(limit=10)).items}
            assert set(history) == {source, fork_id}
            assert (history[fork_id].forked_from, history[fork_id].forked_at) == (source, n)
            assert (history[source].forked_from, history[source].forked_at) == (None, None)
            assert history[fork_id].outcome == "finished"
            games = 2 if count_forks else 1
            board = {e.name: e for e in (await models.leaderboard(include_bots=True)).items}
            assert board["ann"].games == games
            stats = await models.player_stats("ann")
            assert stats is not None and stats.games == games
            # The source's own record is the same either way: its result counts once.
            source_rounds = fold(events).round
            assert history[source].rounds == source_rounds

    asyncio.run(scenario())
