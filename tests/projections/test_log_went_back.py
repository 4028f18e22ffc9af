"""Read models folded past the log's end (the store put back from a backup) are rebuilt."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from engine.store import SqliteEventStore
from engine.store.sqlite import default_archive_path
from projections import ProjectionRunner, default_projections
from tests.projections.support import Appender, dump, fold_to_end, matches


async def _play_then_back_up(store_path: Path, projections_path: Path, backup: Path) -> None:
    store = await SqliteEventStore.open(store_path)
    try:
        async with ProjectionRunner(store, default_projections(), projections_path) as runner:
            await Appender(store).append(matches(3, 500))
            await store.backup(backup)
            await Appender(store).append(matches(3, 600))
            assert await runner.wait_caught_up(timeout=60)
    finally:
        await store.close()


def test_read_models_ahead_of_a_restored_log_are_rebuilt_from_it(tmp_path: Path) -> None:
    store_path = tmp_path / "games.db"
    projections_path = tmp_path / "games.projections.db"
    backup = tmp_path / "backup" / "games.db"
    asyncio.run(_play_then_back_up(store_path, projections_path, backup))
    ahead = dump(projections_path)
    # Both store files put back from the backup; the read-model file left as it was.
    for suffix in ("-wal", "-shm"):
        Path(f"{store_path}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, store_path)
    shutil.copy(default_archive_path(backup), default_archive_path(store_path))

    asyncio.run(fold_to_end(store_path, projections_path))
    rebuilt = tmp_path / "rebuilt.db"
    asyncio.run(fold_to_end(store_path, rebuilt))
    assert dump(projections_path) == dump(rebuilt) != ahead
