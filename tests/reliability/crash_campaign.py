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
from typing import Any

from engine.codec import decode_command, decode_records
from engine.evolve import fold
from engine.state import Phase
from engine.store import open_store
from engine.store.records import StreamInfo
from tests.procedures import run_procedure
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
    restores: int = 0
    # Acknowledged after the backup began, so not promised back by the restore.
    given_up: int = 0
    pairs: int = 0  # lives with a second engine process on the same store
    rival_acknowledged: int = 0
    # Refusals a room gave while another process's copy of it had moved its stream on
    # (conflict, wrong_phase, not_your_turn, ...): only while two engine processes run.
    stale_refusals: int = 0
    pair_lines: list[tuple[int, int]] = field(default_factory=list)  # of acks.log
    read_models: list[str] = field(default_factory=list)  # rooms in the match history
    rooms: list[str] = field(default_factory=list)  # streams in the store
    verified: bool = False

    def summary(self) -> str:
        return (
            f"kills={self.kills} matches={self.matches} lost={self.lost} "
            f"restores={self.restores} given_up={self.given_up} pairs={self.pairs}"
        )


class Lines:
    """Lines a child writes to its stdout, read by a thread so waits can time out."""

    def __init__(self, stream: object) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.live: set[int] = set()  # lives spawned and not yet reported ended
        self.history: list[str] = []  # every line, for the message of a failure
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            words = line.split()
            if words[:1] == ["spawned"]:
                self.live.add(int(words[1]))
            elif words[:1] == ["exit"]:
                self.live.discard(int(words[1]))
            self.history.append(line.strip())
            self.queue.put(line.strip())

    def stop_lives(self) -> None:
        """SIGKILL every life still running (after a failure), so none outlives the test."""
        for pid in list(self.live):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

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
                raise TimeoutError(
                    f"no {prefix!r} line from the worker (pid {pid}); last lines: "
                    f"{self.history[-12:]}"
                )
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
    restore_at: int | None = None,
    pairs_at: tuple[int, ...] = (),
    verify: bool = False,
) -> CampaignResult:
    """`kills` lives of the worker, each SIGKILLed; then a last life finishes every match.

    `url`: the store the worker plays on (default: a SQLite file in `folder`).
    `restore_at`: that life backs the running store up, plays on, is killed, and the
    store is put back from the backup by docs/operations.md's procedure, run as written;
    the acknowledgements from the backup's start on are given up (the procedure does not
    promise them), every earlier one must be there at the end. `pairs_at`: those lives
    run a second engine process (its own rooms and read models) on the same store, the
    two killed at different moments. `verify`: `replay-tool verify --all` must pass at
    the end. The finishing life's read models must hold every match the store holds."""
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
            if k == restore_at:
                back_up_and_restore(server.stdin, lines, rng, folder, log, result)
                continue
            if k in pairs_at:
                play_a_pair(server.stdin, lines, rng, log, result)
                continue
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
    except BaseException:
        lines.stop_lives()
        raise
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
    (models,) = [line for line in finish.stdout.splitlines() if line.startswith("readmodels")]
    result.read_models = models.split()[1:]
    asyncio.run(audit(db, log, result))
    if verify:
        checked = subprocess.run(
            [sys.executable, "-m", "replay_tool", "--db", db, "verify", "--all"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert checked.returncode == 0, f"verify failed:\n{checked.stdout[-3000:]}"
        result.verified = True
    result.seconds = time.monotonic() - started
    return result


def _kill_and_reap(pid: int, lines: Lines, what: str, folder: Path | None = None) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    try:
        code = int(lines.wait_for("exit", pid, timeout=180.0)[2])
    except TimeoutError:
        raise AssertionError(f"{what} outlived SIGKILL: {_process_state(pid)}") from None
    if code != -signal.SIGKILL:
        raise AssertionError(f"{what} ended by itself ({code}): {_tail(folder) if folder else ''}")


def back_up_and_restore(
    stdin: Any, lines: Lines, rng: random.Random, folder: Path, log: Path, result: CampaignResult
) -> None:
    """Back up a running engine, play on, kill it, and put the backup back as the docs say."""
    stdin.write("backup\n")
    stdin.flush()
    pid = int(lines.wait_for("spawned")[1])
    lines.wait_for("ready", pid)
    lines.wait_for("backup", pid)
    time.sleep(rng.uniform(0.2, 0.5))  # keep playing past the backup
    _kill_and_reap(pid, lines, "the backing-up life", folder)
    result.kills += 1
    run_procedure("restore-backup", folder)
    # Only whole lines were acknowledged; those from the backup's start on are given up.
    whole = _whole_lines(log)
    begin = whole.index("# backup-begin")
    assert "# backup-end" in whole[begin:], "the backup did not finish"
    result.given_up += sum(1 for line in whole[begin:] if not line.startswith("#"))
    log.write_text("".join(f"{line}\n" for line in whole[:begin]), encoding="ascii")
    result.restores += 1


def play_a_pair(
    stdin: Any, lines: Lines, rng: random.Random, log: Path, result: CampaignResult
) -> None:
    """Two engine processes on the one store, killed one after the other once the second
    has had a command acknowledged."""
    rival = Path(f"{log}.rival")
    before = rival.stat().st_size if rival.exists() else 0
    first_line = len(_whole_lines(log))
    stdin.write("pair\n")
    stdin.flush()
    pids = [int(lines.wait_for("spawned")[1]) for _ in range(2)]
    for pid in pids:
        lines.wait_for("ready", pid)
    deadline = time.monotonic() + 60.0
    while not rival.exists() or rival.stat().st_size == before:
        if time.monotonic() > deadline:
            raise AssertionError("the second engine process had no command acknowledged")
        time.sleep(0.01)
    rng.shuffle(pids)
    time.sleep(rng.uniform(0.1, 0.5))
    _kill_and_reap(pids[0], lines, "one of a pair")
    time.sleep(rng.uniform(0.05, 0.3))  # the other plays on alone a while
    _kill_and_reap(pids[1], lines, "one of a pair")
    result.kills += 1
    result.pairs += 1
    result.pair_lines.append((first_line, len(_whole_lines(log))))


def _whole_lines(log: Path) -> list[str]:
    """The acknowledgement log's whole lines: a line cut by a kill has no newline yet."""
    return log.read_text(encoding="ascii").split("\n")[:-1] if log.exists() else []


# What a room answers only when the engine itself failed, never for a stale view.
_ENGINE_FAILURES = {"unavailable", "overloaded", "malformed_command"}


async def audit(db: str, log: Path, result: CampaignResult) -> None:
    """Every logged id is stored; every stream is contiguous, complete, finished, archived."""
    # A line cut by the kill has no newline yet: only whole lines were acknowledged.
    whole = _whole_lines(log)
    rival_lines = _whole_lines(Path(f"{log}.rival"))
    beside = {i for start, end in result.pair_lines for i in range(start, end)}
    beside |= set(range(len(whole), len(whole) + len(rival_lines)))
    acknowledged: dict[str, set[str]] = {}
    for index, line in enumerate(whole + rival_lines):
        if line.startswith("!"):
            if index in beside and line.split()[3] not in _ENGINE_FAILURES:
                result.stale_refusals += 1
            else:
                result.refused.append(line)
            continue
        if line.startswith("#"):
            continue
        room, command_id = line.split()
        acknowledged.setdefault(room, set()).add(command_id)
    result.acknowledged = sum(len(ids) for ids in acknowledged.values())
    result.rival_acknowledged = sum(1 for line in rival_lines if not line.startswith(("!", "#")))
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
        result.rooms = sorted(info.stream_id for info in streams)
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
