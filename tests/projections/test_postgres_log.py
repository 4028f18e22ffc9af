"""Read models folded from a PostgreSQL log that two writers append to at once equal a
rebuild from zero and the figures counted from the events, archived matches included."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from engine.store.postgres import PostgresEventStore
from projections import ProjectionRunner, SyncReadModels, default_projections
from tests.projections.support import Appender, dump, expected_careers, matches


async def _build(pg_url: str, live: Path, rebuilt: Path) -> list[Appender]:
    """Read models built live while two stores append, then rebuilt from zero with some
    matches archived meanwhile; the appenders, holding what each appended."""
    writers = [await PostgresEventStore.open(pg_url) for _ in range(2)]
    follower = await PostgresEventStore.open(pg_url)
    try:
        runner = ProjectionRunner(follower, default_projections(), live, batch_size=200)
        await runner.start()
        games = matches(12)
        appenders = [Appender(w, random.Random(i)) for i, w in enumerate(writers)]
        # Two "engine processes" append interleaved commits; the runner follows by NOTIFY.
        await asyncio.gather(
            appenders[0].append(games[::2], streams_per_commit=4, pause_every=2),
            appenders[1].append(games[1::2], streams_per_commit=4, pause_every=2),
        )
        assert await runner.wait_caught_up(timeout=60)
        await runner.close()
        for room, _ in games[:4]:
            await writers[0].set_status(room, "completed")
            await writers[0].archive_stream(room)
        async with ProjectionRunner(follower, default_projections(), rebuilt) as rebuild:
            assert await rebuild.wait_caught_up(timeout=60)
    finally:
        for store in (*writers, follower):
            await store.close()
    return appenders


def test_read_models_of_a_shared_postgresql_log_equal_a_rebuild_and_the_events(
    pg_url: str, tmp_path: Path
) -> None:
    live, rebuilt = tmp_path / "live.db", tmp_path / "rebuilt.db"
    appenders = asyncio.run(_build(pg_url, live, rebuilt))
    live_rows = dump(live)
    assert live_rows["leaderboard_players"] and live_rows["lobby_rooms"]
    assert dump(rebuilt) == live_rows
    events = sorted(appenders[0].recorded + appenders[1].recorded)
    careers = expected_careers(events)
    models = SyncReadModels(live)
    for name, career in careers.items():
        stats = models.player_stats(name)
        assert stats is not None, name
        for figure, value in vars(career).items():
            assert getattr(stats, figure) == value, (name, figure)
