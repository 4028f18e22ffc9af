"""SIGKILL an engine process at random moments, restart it, repeat; then audit the store.

Used by tests/reliability/test_process_crash.py (CI and LIAPTUI_LONG=1 sizes) and by
bench/reliability_bench.py. The worker is `crash_worker.py`; see its docstring.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.codec import decode_command, decode_records
from engine.evolve import fold
from engine.state import Phase
from engine.store import open_store
from engine.store.records import StreamInfo
from tests.reliability.harness import check_stream

WORKER = Path(__file__).with_name("crash_worker.py")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class CampaignResult:
    kills: int
    matches: int = 0
    lost: int = 0
    acknowledged: int = 0
    events: int = 0
    early_kills: int = 0
    refused: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return f"kills={self.kills} matches={self.matches} lost={self.lost}"


class Lines:
    """Lines a child writes to its stdout, read by a thread so waits can time out."""

    def __init__(self, stream: object) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            self.queue.put(line.strip())

    def wait_for(self, prefix: str, pid: int | None = None, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.seen):
                words = line.split()
                if words and words[0] == prefix and (pid is None or words[1] == str(pid)):
                    del self.seen[i]
                    return words
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {prefix!r} line from the worker (pid {pid})")
            try:
                self.seen.append(self.queue.get(timeout=remaining))
            except queue.Empty:
                continue


def run_campaign(
    folder: Path,
    kills: int,
    seed: int,
    *,
    early_every: int = 5,
    progress: bool = False,
    url: str | None = None,
) -> CampaignResult:
    """`kills` lives of the worker, each SIGKILLed; then a last life finishes every match.

    `url`: the store the worker plays on (default: a SQLite file in `folder`)."""
    db, log = url or str(folder / "games.db"), folder / "acks.log"
    errors = open(folder / "worker.err", "w")  # noqa: SIM115
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rng = random.Random(seed)
    result = CampaignResult(kills=0)
    started = time.monotonic()
    server = subprocess.Popen(
        [sys.executable, str(WORKER), "serve", str(db), str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        bufsize=1,
        cwd=ROOT,
        env=env,
    )
    assert server.stdin is not None
    lines = Lines(server.stdout)
    try:
        for k in range(kills):
            server.stdin.write("play\n")
            server.stdin.flush()
            pid = int(lines.wait_for("spawned")[1])
            if early_every and k % early_every == early_every - 1:
                # Killed while opening the store, resuming rooms or recovering archivals.
                time.sleep(rng.uniform(0.0, 0.08))
                result.early_kills += 1
            else:
                lines.wait_for("ready", pid)
                time.sleep(rng.uniform(0.05, 0.5))
            with contextlib.suppress(ProcessLookupError):  # it died by itself: see below
                os.kill(pid, signal.SIGKILL)
            try:
                code = int(lines.wait_for("exit", pid, timeout=180.0)[2])
            except TimeoutError:
                raise AssertionError(f"life {k} outlived SIGKILL: {_process_state(pid)}") from None
            if code != -signal.SIGKILL:
                raise AssertionError(f"life {k} ended by itself ({code}): {_tail(folder)}")
            result.kills += 1
            if progress and result.kills % 100 == 0:
                print(f"  {result.kills} kills, {time.monotonic() - started:.0f} s", flush=True)
    finally:
        server.stdin.close()
        server.wait(timeout=60)
        errors.close()
    finish = subprocess.run(
        [sys.executable, str(WORKER), "life", str(db), str(log), "finish"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finish.returncode == 0, f"the finishing life failed:\n{finish.stderr[-4000:]}"
    asyncio.run(audit(db, log, result))
    result.seconds = time.monotonic() - started
    return result


async def audit(db: str, log: Path, result: CampaignResult) -> None:
    """Every logged id is stored; every stream is contiguous, complete, finished, archived."""
    # A line cut by the kill has no newline yet: only whole lines were acknowledged.
    whole = log.read_text(encoding="ascii").split("\n")[:-1]
    acknowledged: dict[str, set[str]] = {}
    for line in whole:
        if line.startswith("!"):
            result.refused.append(line)
            continue
        room, command_id = line.split()
        acknowledged.setdefault(room, set()).add(command_id)
    result.acknowledged = sum(len(ids) for ids in acknowledged.values())
    store = await open_store(db)
    try:
        streams: list[StreamInfo] = []
        while page := await store.list_streams(limit=500, offset=len(streams)):
            streams += page
        for info in streams:
            room = info.stream_id
            records = await store.read_stream(room)
            commands = await store.read_commands(room)
            check_stream(room, records, commands)
            state = fold(decode_records(records))
            assert state.phase is Phase.GAME_OVER, f"{room} ended in {state.phase}"
            assert info.status == "archived", f"{room} is {info.status}, not archived"
            stored = {decode_command(c.command).command_id for c in commands}
            result.lost += len(acknowledged.pop(room, set()) - stored)
            result.events += len(records)
        result.lost += sum(len(ids) for ids in acknowledged.values())  # rooms never stored
        result.matches = len(streams)
    finally:
        await store.close()


def _process_state(pid: int) -> str:
    """What the kernel says of a process that should be dead (state, wait channel)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        wchan = Path(f"/proc/{pid}/wchan").read_text()
    except OSError as exc:
        return f"no /proc entry ({exc})"
    return f"{[line for line in status if line.startswith(('State', 'PPid'))]} wchan={wchan}"


def _tail(folder: Path) -> str:
    text = (folder / "worker.err").read_text(errors="replace")
    return text[-4000:]
