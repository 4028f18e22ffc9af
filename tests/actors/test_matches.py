"""Whole matches through the real actor runtime on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from actors.facade import Engine
from engine.codec import decode_records
from engine.evolve import fold
from engine.state import Phase
from engine.views import view
from tests.actors.conftest import fast_config, start_bot_match, wait_for_game_over


def test_100_concurrent_bot_matches_finish_with_contiguous_streams_equal_to_a_fresh_fold(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with Engine.open(
            tmp_path / "games.db", fast_config(tmp_path, archive_after=None)
        ) as engine:
            rooms = [await start_bot_match(engine, f"host{n}", seed=n) for n in range(100)]
            live_views = await wait_for_game_over(engine, rooms, timeout=240)
            for room_id, live in zip(rooms, live_views, strict=True):
                records = await engine.store.read_stream(room_id)
                assert [r.version for r in records] == list(range(1, len(records) + 1))
                state = fold(decode_records(records))
                assert state.phase is Phase.GAME_OVER
                assert view(state, None) == live
                recovered, _ = await engine.driver._recover_state(room_id)
                assert recovered == state

    asyncio.run(scenario())


def test_shutdown_then_reopen_keeps_every_acknowledged_event(tmp_path: Path) -> None:
    acknowledged: dict[str, int] = {}

    async def play() -> None:
        async with Engine.open(
            tmp_path / "games.db", fast_config(tmp_path, archive_after=None)
        ) as engine:
            rooms = [await start_bot_match(engine, f"h{n}", seed=100 + n) for n in range(5)]
            await asyncio.sleep(0.3)  # close while the bots are mid-match
            for room_id in rooms:
                seen = await engine.view(room_id)
                assert not isinstance(seen, type(None))
                acknowledged[room_id] = seen.version  # type: ignore[union-attr]

    async def reopen() -> None:
        async with Engine.open(
            tmp_path / "games.db", fast_config(tmp_path, archive_after=None)
        ) as engine:
            for room_id, version in acknowledged.items():
                records = await engine.store.read_stream(room_id)
                assert len(records) >= version
            # The reopened engine resumes the matches (timers are rebuilt when rooms wake).
            await wait_for_game_over(engine, list(acknowledged), timeout=120)

    asyncio.run(play())
    asyncio.run(reopen())
