"""A runner that dies mid-batch neither double-counts nor skips anything."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from engine.store import SqliteEventStore
from projections import ProjectionRunner, database, default_projections
from tests.projections.conftest import LiveBuild
from tests.projections.support import TruncatedStore, checkpoints, dump

ROOT = Path(__file__).resolve().parents[2]


class InjectedCrash(Exception):
    pass


async def _build(store_path: Path, target: Path, end: int | None = None) -> None:
    store = await SqliteEventStore.open(store_path)
    try:
        source = store if end is None else TruncatedStore(store, end)
        runner = ProjectionRunner(source, default_projections(), target)
        async with runner:
            assert await runner.wait_caught_up(timeout=60)
    finally:
        await store.close()


async def _position_of(store_path: Path, nth: int) -> int:
    """The position of the nth event of the log that some read model folds."""
    store = await SqliteEventStore.open(store_path)
    try:
        folded = database.handled_by(default_projections())
        return (await store.read_all(0, nth, types=folded))[-1].position
    finally:
        await store.close()


def _clean_build(store_path: Path, directory: Path, end: int | None = None) -> dict[str, list[Any]]:
    target = directory / f"clean-{end}.db"
    asyncio.run(_build(store_path, target, end))
    return dump(target)


def test_a_crash_between_fold_and_commit_keeps_the_last_committed_state(
    live_build: LiveBuild, tmp_path: Path
) -> None:
    path = tmp_path / "crashed.db"

    async def crash_in_fifth_batch() -> None:
        store = await SqliteEventStore.open(live_build.store_path)
        runner = ProjectionRunner(store, default_projections(), path, batch_size=1000)
        commits = 0

        def before_commit() -> None:
            nonlocal commits
            commits += 1
            if commits == 5:
                raise InjectedCrash("between fold and commit")

        runner.before_commit = before_commit
        try:
            with pytest.raises(InjectedCrash):
                await runner.run()
            assert runner.status().error == "InjectedCrash: between fold and commit"
        finally:
            await runner.close()
            await store.close()

    asyncio.run(crash_in_fifth_batch())
    # Four batches committed: the 4,000 events the read models fold that come first.
    committed = asyncio.run(_position_of(live_build.store_path, 4000))
    assert set(checkpoints(path).values()) == {committed}
    assert dump(path) == _clean_build(live_build.store_path, tmp_path, committed)
    # Restarted, it folds on from there: nothing counted twice, nothing missed.
    asyncio.run(_build(live_build.store_path, path))
    assert dump(path) == dump(live_build.projections_path)


def _kill_mid_run(live_build: LiveBuild, path: Path, *args: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.projections.runner_process"]
        + [str(live_build.store_path), str(path), "100", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"started"
        deadline = time.monotonic() + 60
        lane = "shadow" if args else "live"
        while time.monotonic() < deadline:
            conn = sqlite3.connect(path)
            try:
                row = conn.execute(
                    "SELECT MIN(position) FROM checkpoints WHERE lane = ?", (lane,)
                ).fetchone()
            finally:
                conn.close()
            if row[0] is not None and row[0] >= live_build.last_position // 3:
                break
            time.sleep(0.005)
        assert child.poll() is None, "the runner finished before it could be killed"
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def test_a_runner_killed_while_catching_up_resumes_without_double_counting(
    live_build: LiveBuild, tmp_path: Path
) -> None:
    path = tmp_path / "killed.db"
    _kill_mid_run(live_build, path)
    reached = checkpoints(path)
    assert 0 < min(reached.values()) < live_build.last_position
    (position,) = set(reached.values())  # every lane commits in the same transaction
    assert dump(path) == _clean_build(live_build.store_path, tmp_path, position)
    asyncio.run(_build(live_build.store_path, path))
    assert dump(path) == dump(live_build.projections_path)


def test_a_runner_killed_while_rebuilding_resumes_the_rebuild(
    live_build: LiveBuild, tmp_path: Path
) -> None:
    path = tmp_path / "rebuilding.db"
    shutil.copy(live_build.projections_path, path)
    _kill_mid_run(live_build, path, "rebuild")
    conn = sqlite3.connect(path)
    try:
        shadows = conn.execute("SELECT COUNT(*) FROM checkpoints WHERE lane = 'shadow'").fetchone()
    finally:
        conn.close()
    assert shadows == (4,)
    # The live tables were serving, untouched, all along.
    assert dump(path) == dump(live_build.projections_path)
    asyncio.run(_build(live_build.store_path, path))
    assert dump(path) == dump(live_build.projections_path)
    assert checkpoints(path) == dict.fromkeys(checkpoints(path), live_build.last_position)
