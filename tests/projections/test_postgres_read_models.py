"""Read models in PostgreSQL tables: folded with their checkpoint in one transaction,
rebuilt and swapped in place, folded by one process at a time, taken over on its death.

Each test folds a real log into schemas of a real server and compares them with a
rebuild from zero (and with the same log folded into a SQLite file).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import asyncpg

from engine.events import Event
from engine.forking import plan_fork
from engine.store.postgres import PostgresEventStore
from engine.store.postgres.devserver import ThrowawayCluster
from projections import (
    ProjectionRunner,
    Rebuild,
    SyncReadModels,
    database,
    default_projections,
)
from projections.postgres import PostgresTarget
from tests.projections.support import Appender, TruncatedStore, dump, matches
from tests.projections.test_shared_read_models import Unfenced, fold_once_then_take_over

ROOT = Path(__file__).resolve().parents[2]


async def pg_dump(target: PostgresTarget) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every default read-model table in the target's schema, sorted."""
    conn = await asyncpg.connect(target.url, server_settings={"search_path": target.schema})
    try:
        out = {}
        for projection in default_projections():
            for table in projection.tables:
                rows = [tuple(r) for r in await conn.fetch(f"SELECT * FROM {table}")]
                out[table] = sorted(rows, key=repr)
        return out
    finally:
        await conn.close()


async def pg_checkpoints(target: PostgresTarget) -> dict[str, int]:
    conn = await asyncpg.connect(target.url, server_settings={"search_path": target.schema})
    try:
        rows = await conn.fetch("SELECT name, position FROM checkpoints WHERE lane = 'live'")
        return {row[0]: row[1] for row in rows}
    finally:
        await conn.close()


def games(count: int = 4) -> tuple[tuple[str, tuple[Event, ...]], ...]:
    """Finished matches, two cut short (still in the lobby), and two forks."""
    rng = random.Random(3)
    cut = [(room, events[: rng.randint(1, len(events))]) for room, events in matches(2, 10_000)]
    forks = [
        (f"F{i:05d}", plan_fork(room, events, at, f"F{i:05d}", 50_000.0).events)
        for i, ((room, events), at) in enumerate(zip(matches(2), (1, 60), strict=True))
    ]
    return matches(count) + tuple(cut) + tuple(forks)


async def fold(store: Any, target: database.Target, batch_size: int = 10_000) -> None:
    async with ProjectionRunner(store, default_projections(), target, batch_size=batch_size) as r:
        assert await r.wait_caught_up(timeout=60)
        assert all(p.fault is None for p in r.status().projections), r.status()


def test_postgresql_read_models_equal_a_rebuild_and_the_sqlite_ones(
    pg_url: str, tmp_path: Path
) -> None:
    live = PostgresTarget(pg_url, "live")
    sqlite_file = tmp_path / "models.db"
    dumps = []

    async def run() -> None:
        store = await PostgresEventStore.open(pg_url)
        try:
            runner = ProjectionRunner(store, default_projections(), live, batch_size=150)
            await runner.start()
            # The runner folds while the log grows, in batches of whatever has arrived.
            await Appender(store).append(games(2), streams_per_commit=4, pause_every=2)
            assert await runner.wait_caught_up(timeout=60)
            dumps.append(await pg_dump(live))
            # Rebuilt from zero in shadow tables and swapped in, twice: the second shadow's
            # tables and indexes must not collide with what the first swap renamed.
            for _ in range(2):
                for projection in runner.projections:
                    await runner.instruct(Rebuild(projection.name))
                assert await runner.wait_caught_up(timeout=60)
                status = runner.status()
                assert all(p.rebuild is None and p.fault is None for p in status.projections)
                dumps.append(await pg_dump(live))
            await runner.close()
            await fold(store, sqlite_file)
        finally:
            await store.close()

    asyncio.run(run())
    rows = dumps[0]
    assert rows["leaderboard_players"] and rows["lobby_rooms"] and rows["history_forks"]
    assert dumps[1] == dumps[2] == rows
    assert dump(sqlite_file) == rows
    # Every query answers the same from either backend.
    on_pg, on_sqlite = SyncReadModels(live), SyncReadModels(sqlite_file)
    try:
        for board in ("wins", "points", "win_rate"):
            for bots in (False, True):
                assert on_pg.leaderboard(board, include_bots=bots) == on_sqlite.leaderboard(
                    board, include_bots=bots
                )
        assert on_pg.lobby() == on_sqlite.lobby() and on_pg.lobby().items
        assert on_pg.joinable() == on_sqlite.joinable()
        history = on_pg.match_history(limit=100)
        assert history == on_sqlite.match_history(limit=100) and history.items
        for summary in history.items:
            assert on_pg.match(summary.room_id) == on_sqlite.match(summary.room_id)
            for name in summary.players:
                assert on_pg.player_stats(name) == on_sqlite.player_stats(name)
        assert on_pg.status() == on_sqlite.status()
    finally:
        on_pg.close()
        on_sqlite.close()


def test_two_engines_on_postgresql_fold_once_and_the_survivor_takes_over(pg_url: str) -> None:
    # The folding engine dies mid-match; the server drops its advisory lock.
    fold_once_then_take_over(pg_url, 1, 1)
    models = PostgresTarget(pg_url)
    clean = PostgresTarget(pg_url, "clean")

    async def rebuild() -> None:
        store = await PostgresEventStore.open(pg_url)
        try:
            await fold(store, clean)
        finally:
            await store.close()

    asyncio.run(rebuild())
    assert asyncio.run(pg_dump(models)) == asyncio.run(pg_dump(clean))


def test_a_crash_between_fold_and_commit_on_postgresql_folds_each_event_once(
    pg_url: str,
) -> None:
    crashed = PostgresTarget(pg_url, "crashed")

    async def append() -> int:
        store = await PostgresEventStore.open(pg_url)
        try:
            await Appender(store).append(games(2), streams_per_commit=4)
            # The position of the 150th event some read model folds: where 3 batches end.
            wanted = database.handled_by(default_projections())
            return (await store.read_all(0, 150, types=wanted))[-1].position
        finally:
            await store.close()

    committed = asyncio.run(append())
    child = subprocess.run(
        [sys.executable, "-m", "tests.projections.runner_process", pg_url, pg_url, "50"]
        + ["die=4", "schema=crashed"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    # The fourth batch was folded, not committed: its rows went with its checkpoint.
    assert set(asyncio.run(pg_checkpoints(crashed)).values()) == {committed}

    async def builds() -> None:
        store = await PostgresEventStore.open(pg_url)
        try:
            await fold(TruncatedStore(store, committed), PostgresTarget(pg_url, "upto"))
            # Restarted, it folds on from there; the dead one's lease is free again.
            async with ProjectionRunner(store, default_projections(), crashed) as runner:
                assert runner.status().standby is None
                assert await runner.wait_caught_up(timeout=60)
            await fold(store, PostgresTarget(pg_url, "full"))
        finally:
            await store.close()

    before = asyncio.run(pg_dump(crashed))
    asyncio.run(builds())
    assert before == asyncio.run(pg_dump(PostgresTarget(pg_url, "upto")))
    assert asyncio.run(pg_dump(crashed)) == asyncio.run(pg_dump(PostgresTarget(pg_url, "full")))


def test_read_models_fold_on_by_themselves_after_the_server_restarts(
    pg_cluster: ThrowawayCluster,
) -> None:
    url = pg_cluster.url
    live = PostgresTarget(url, "live")

    async def run() -> None:
        store = await PostgresEventStore.open(url)
        runner = ProjectionRunner(store, default_projections(), live, batch_size=100)
        try:
            await runner.start()
            played = games(2)
            await Appender(store).append(played[:2], streams_per_commit=2)
            assert await runner.wait_caught_up(timeout=30)
            pg_cluster.stop()
            await asyncio.sleep(1.0)  # the runner meets the outage: it retries, it does not stop
            pg_cluster.start()
            await Appender(store).append(played[2:], streams_per_commit=2)
            assert await runner.wait_caught_up(timeout=60)
            status = runner.status()
            assert status.running and status.error is None and status.standby is None, status
            await runner.close()
            await fold(store, PostgresTarget(url, "clean"))
        finally:
            await runner.close()
            await store.close()

    asyncio.run(run())
    assert asyncio.run(pg_dump(live)) == asyncio.run(pg_dump(PostgresTarget(url, "clean")))


def test_two_runners_holding_the_lease_at_once_on_postgresql_fold_each_event_once(
    pg_url: str,
) -> None:
    shared = PostgresTarget(pg_url, "shared")

    async def race() -> None:
        store = await PostgresEventStore.open(pg_url)
        runners = [
            ProjectionRunner(store, default_projections(), shared, batch_size=60, lease=Unfenced())
            for _ in range(2)
        ]
        try:
            await Appender(store).append(games(2), streams_per_commit=4)
            for runner in runners:
                await runner.start()
            for runner in runners:
                assert await runner.wait_caught_up(timeout=60)
                assert all(p.fault is None for p in runner.status().projections)
            for runner in runners:
                await runner.close()
            await fold(store, PostgresTarget(pg_url, "clean"))
        finally:
            for runner in runners:
                await runner.close()
            await store.close()

    asyncio.run(race())
    assert asyncio.run(pg_dump(shared)) == asyncio.run(pg_dump(PostgresTarget(pg_url, "clean")))
