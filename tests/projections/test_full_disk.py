"""A full disk under the read-model file pauses the read models; they catch up once it frees,
without a restart, and hold what a clean build holds."""

from __future__ import annotations

import asyncio
from pathlib import Path

from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Engine
from engine.settings import RoomSettings
from engine.store import SqliteEventStore
from projections import ProjectionRunner, default_projections
from tests.actors.conftest import start_bot_match, wait_for_archived, wait_for_game_over
from tests.projections.support import Appender, dump, matches


async def _clean_build(store: SqliteEventStore, target: Path) -> None:
    async with ProjectionRunner(store, default_projections(), target) as runner:
        assert await runner.wait_caught_up(timeout=60)


def test_read_models_stopped_by_a_full_disk_catch_up_when_it_frees_without_a_restart(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        store = await SqliteEventStore.open(tmp_path / "games.db")
        path = tmp_path / "games.projections.db"
        runner = ProjectionRunner(store, default_projections(), path, batch_size=200)
        try:
            await runner.start()
            appender = Appender(store)
            await appender.append(matches(4))
            assert await runner.wait_caught_up(timeout=30)

            def limit_pages(pages: int | None) -> None:
                conn = runner._connection()
                if pages is None:
                    (pages,) = conn.execute("PRAGMA page_count").fetchone()
                conn.execute(f"PRAGMA max_page_count = {pages}")

            # The read-model file may not grow by a page: SQLite answers SQLITE_FULL, as
            # on a full disk.
            await runner._db(limit_pages, None)
            await appender.append(matches(30, first_seed=4))
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while "full" not in (runner.status().error or ""):
                assert loop.time() < deadline, runner.status()
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)  # a few tries meet the full disk
            assert runner.running, runner.status().error
            assert "full" in (runner.status().error or "")
            behind = {p.name: p.behind for p in runner.status().projections}
            assert any(behind.values()), behind
            # The disk frees: the same runner folds on, from where its last commit left it.
            await runner._db(limit_pages, 1_073_741_823)
            assert await runner.wait_caught_up(timeout=60), runner.status()
            assert runner.status().error is None
            assert all(p.fault is None for p in runner.status().projections)
        finally:
            await runner.close()
        try:
            await _clean_build(store, tmp_path / "clean.db")
        finally:
            await store.close()
        assert dump(path) == dump(tmp_path / "clean.db")

    asyncio.run(scenario())


def test_a_match_archived_while_the_read_model_file_takes_no_writes_shows_archived_after(
    tmp_path: Path,
) -> None:
    # A full disk fails only the writes that need a new page; a file that takes no writes
    # at all fails every one, the archived mark included, which is what this checks.
    db = tmp_path / "games.db"
    config = EngineConfig.fast(
        str(db), room_settings=replace(RoomSettings.fast(), round_cap=1), archive_after=0.0
    )

    async def scenario() -> None:
        async with Engine.open(db, config) as engine:
            runner = engine.projections

            def writable(yes: bool) -> None:
                runner._connection().execute(f"PRAGMA query_only = {int(not yes)}")

            await runner._db(writable, False)
            room = await start_bot_match(engine, "host", seed=11)
            await wait_for_game_over(engine, [room])
            # The store's own file takes writes: the match is archived, and not marked so.
            await wait_for_archived(engine, [room])
            await asyncio.sleep(0.3)
            assert "readonly" in (runner.status().error or ""), runner.status()
            assert runner.running
            await runner._db(writable, True)
            assert await runner.wait_caught_up(timeout=60), runner.status()
            found = await engine.read_models.match(room)
            assert found is not None and found.summary.outcome == "finished"
            assert found.summary.archived

    asyncio.run(scenario())
