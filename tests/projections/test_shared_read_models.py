"""Two engine processes on one store and one read-model file fold each event once.

Both engines play; one runner holds the fold lease and folds, the other stands by and
serves queries from the same file. SIGKILL the folding engine mid-match: the other takes
the lease over and folds on from the dead one's checkpoints. The read models must equal
a rebuild from the log, with no projection stopped on a FoldError.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from engine.store import SqliteEventStore
from projections import (
    MarkArchived,
    Pause,
    ProjectionRunner,
    Refusal,
    RunnerStatus,
    default_path,
    default_projections,
)
from tests.projections.conftest import LiveBuild
from tests.projections.support import dump, fold_to_end

ROOT = Path(__file__).resolve().parents[2]


class EngineProcess:
    def __init__(self, url: str, projections: str = "-") -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.projections.engine_process", url, projections],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        words = self.line().split()
        assert words[0] == "ready", words
        self.standby = words[2] == "1"

    def line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the engine process exited: {self.process.wait()}"
        return line

    def tell(self, request: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()

    def caught_up(self) -> dict[str, Any]:
        self.tell("caught")
        caught, status = msgspec.json.decode(self.line())
        assert caught, status
        return dict(status)

    def quit(self) -> None:
        self.tell("quit")
        assert self.process.wait(timeout=30) == 0

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def assert_folded_once(status: dict[str, Any]) -> None:
    """Every projection caught up with the log, none stopped on a poison event."""
    for projection in status["projections"]:
        assert projection["fault"] is None, projection
        assert projection["position"] == status["last_position"], projection


def test_engines_started_at_the_same_moment_on_a_new_file_all_open(tmp_path: Path) -> None:
    # Two processes creating one store's files at once: SQLite can answer "database is
    # locked" at once, without waiting out the busy timeout, to one of them (it failed
    # about one pair in six before the open retried).
    for attempt in range(6):
        db = tmp_path / f"games{attempt}.db"
        starting = [
            subprocess.Popen(
                [sys.executable, "-m", "tests.projections.engine_process", str(db), "-"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            for _ in range(2)
        ]
        try:
            for process in starting:
                assert process.stdout is not None and process.stdin is not None
                ready = process.stdout.readline()
                assert ready.startswith("ready"), process.communicate(timeout=30)[1]
            for process in starting:
                assert process.stdin is not None
                process.stdin.write("quit\n")
                process.stdin.flush()
                assert process.wait(timeout=30) == 0
        finally:
            for process in starting:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=30)


def fold_once_then_take_over(url: str, matches: int, then: int) -> None:
    """Two engine processes on the store at `url` play `matches` bot matches each at once:
    one folds the read models, the other stands by, both caught up. Then both play
    `then` more and the folding one dies mid-match; the other takes over and catches up."""
    first = EngineProcess(url)
    second = EngineProcess(url)
    engines = [first, second]
    try:
        # Both play at once; the bots of both commit while the read models fold.
        first.tell(f"play {matches} 1")
        second.tell(f"play {matches} 2")
        assert first.line().strip() == second.line().strip() == "played"
        for engine in engines:
            assert_folded_once(engine.caught_up())
        assert not first.standby and second.standby
        # The folding engine dies mid-match; the one standing by takes over.
        first.tell(f"play {then} 3")
        second.tell(f"play {then} 4")
        assert second.line().strip() == "played"
        first.kill()
        status = second.caught_up()
        assert status["standby"] is None, status
        assert_folded_once(status)
        second.quit()
    finally:
        for engine in engines:
            engine.stop()


def test_two_engines_fold_once_and_the_survivor_takes_over(tmp_path: Path) -> None:
    db = tmp_path / "games.db"
    fold_once_then_take_over(str(db), 4, 3)
    clean = tmp_path / "rebuilt.db"
    asyncio.run(fold_to_end(db, clean))
    assert dump(default_path(db)) == dump(clean)


class Unfenced:
    """A lease every runner gets: two holders at once, as after a lost lease."""

    def try_acquire(self) -> bool:
        return True

    def holder(self) -> str:
        return "everyone"

    def release(self) -> None:
        pass


def test_two_runners_holding_the_lease_at_once_still_fold_each_event_once(
    live_build: LiveBuild, tmp_path: Path
) -> None:
    path = tmp_path / "shared.db"

    async def race() -> None:
        store = await SqliteEventStore.open(live_build.store_path)
        runners = [
            ProjectionRunner(store, default_projections(), path, batch_size=300, lease=Unfenced())
            for _ in range(2)
        ]
        try:
            for runner in runners:
                await runner.start()
            for runner in runners:
                assert await runner.wait_caught_up(timeout=60)
                assert all(p.fault is None for p in runner.status().projections)
        finally:
            for runner in runners:
                await runner.close()
            await store.close()

    asyncio.run(race())
    # Each fold compared the stored checkpoint with its own: the loser reloaded instead.
    assert dump(path) == dump(live_build.projections_path)


def test_a_runner_standing_by_serves_refuses_fold_orders_and_takes_over_on_close(
    live_build: LiveBuild, tmp_path: Path
) -> None:
    path = tmp_path / "models.db"

    async def run() -> None:
        store = await SqliteEventStore.open(live_build.store_path)
        holder = ProjectionRunner(store, default_projections(), path, takeover_interval=0.05)
        other = ProjectionRunner(store, default_projections(), path, takeover_interval=0.05)
        try:
            await holder.start()
            await other.start()
            assert holder.status().standby is None
            standby = other.status().standby
            assert standby is not None and f"process {os.getpid()}" in standby, standby
            # It follows the holder's checkpoints; it does not fold.
            assert await other.wait_caught_up(timeout=60)
            assert other.status().of("lobby").position == live_build.last_position
            refusal = await other.instruct(Pause("lobby"))
            assert isinstance(refusal, Refusal) and refusal.code == "not_folding", refusal
            assert not isinstance(await other.instruct(MarkArchived("R00001")), Refusal)
            await holder.close()
            for _ in range(200):
                if other.status().standby is None:
                    break
                await asyncio.sleep(0.01)
            assert other.status().standby is None
            assert isinstance(await other.instruct(Pause("lobby")), RunnerStatus)
        finally:
            await holder.close()
            await other.close()
            await store.close()

    asyncio.run(run())
    assert dump(path) == dump(live_build.projections_path)


class Broken(Exception):
    pass


def test_a_runner_that_stops_on_an_error_lets_another_fold(
    live_build: LiveBuild, tmp_path: Path
) -> None:
    path = tmp_path / "models.db"

    async def run() -> None:
        store = await SqliteEventStore.open(live_build.store_path)
        failing = ProjectionRunner(store, default_projections(), path, batch_size=500)
        other = ProjectionRunner(store, default_projections(), path, takeover_interval=0.05)

        def broken() -> None:
            raise Broken("the read-model file failed")

        failing.before_commit = broken
        try:
            await failing.open()
            await other.start()
            assert other.status().standby is not None
            with pytest.raises(Broken):
                await failing.run()
            assert failing.status().standby is not None
            # The lease is free: the other runner takes over and folds everything.
            assert await other.wait_caught_up(timeout=60)
            assert other.status().standby is None
            refusal = await failing.instruct(Pause("lobby"))
            assert isinstance(refusal, Refusal) and refusal.code == "not_folding", refusal
            await other.close()
            # Instructed once the lease is free again, it takes the lease back.
            failing.before_commit = None
            assert isinstance(await failing.instruct(Pause("lobby")), RunnerStatus)
            assert failing.status().standby is None
        finally:
            await failing.close()
            await other.close()
            await store.close()

    asyncio.run(run())
    assert dump(path) == dump(live_build.projections_path)
