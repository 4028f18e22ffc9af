"""A process for the crash tests to SIGKILL: it plays matches through the `Engine` facade.

    python crash_worker.py life DB LOG MODE     # one life in this process
    python crash_worker.py serve DB LOG         # a fork server: each stdin line "MODE" forks
                                                # a life and reports "spawned PID", the life
                                                # prints "ready PID", the server "exit PID CODE"

Matches are rooms M00000, M00001, ... hosted by "h" with humans "p1" and "p2" in P2/P3
and a bot in P4. The humans' moves come from the bot policy and go through `engine.send`
with explicit command ids; right after each acknowledgement the worker appends
"ROOM COMMAND_ID" to LOG and fsyncs it, so the log never names an unacknowledged command.
A refused command is logged as "! ROOM COMMAND_ID CODE" (none is expected).

MODE "play" keeps CONCURRENCY matches going, starting a new one whenever one ends, until
the process is killed. MODE "backup" plays too and, a moment in, backs the running store
up to BACKUP beside DB, writing "# backup-begin" and "# backup-end" around it to LOG and
printing "backup PID" when done. MODE "rival" is a second engine process on the same
store: it plays rooms R00000, ... (read models in a file of its own) and logs to
LOG.rival; the server line "pair" forks a "play" life and a "rival" life at once. MODE
"finish" plays every unfinished match (M and R) to its end, waits for the finished ones
to be archived and for the read models to reach the log's end, prints
"readmodels ROOM ROOM ..." (every match the match history holds), and exits 0. A life resumes whatever the previous one
left: the engine reopens the same file and wakes its rooms; the worker refolds each
unfinished match from the store and carries on.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from msgspec.structs import replace  # noqa: E402

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Engine  # noqa: E402
from engine.codec import decode_records  # noqa: E402
from engine.commands import Command, JoinRoom, RemovePlayer, StartGame  # noqa: E402
from engine.evolve import fold  # noqa: E402
from engine.rejections import Rejection  # noqa: E402
from engine.settings import RoomSettings  # noqa: E402
from engine.state import Phase, RoomState  # noqa: E402
from engine.store import backend_of  # noqa: E402
from tests.reliability.harness import FINISHED, human_command, humans_to_move  # noqa: E402

CONCURRENCY = 4
PREFIX = "M"
RIVAL_PREFIX = "R"
BACKUP = "backups/games-2026-11-29.db"  # the path docs/operations.md's restore block names
HUMAN_SEATS = (1, 2)
LIFE_LIMIT = 120.0  # seconds: a "play" life nobody kills stops by itself


def config(db: str, projections_path: str | None = None) -> EngineConfig:
    return EngineConfig.fast(
        db,
        projections_path=projections_path,
        room_settings=replace(RoomSettings.fast(), round_cap=2),
        snapshot_every=16,
        archive_after=0.0,
        rate_per_second=1e6,
        rate_burst=1e6,
        rooms_burst=1e6,  # one host name opens every room of the campaign
    )


def say(*words: object) -> None:
    """One line to stdout in one write: the server and its lives (two at once, in a pair)
    share the pipe, and lines written piecemeal would interleave."""
    os.write(1, (" ".join(map(str, words)) + "\n").encode())


def room_id(index: int, prefix: str = PREFIX) -> str:
    return f"{prefix}{index:05d}"


class Log:
    """The side file: one line per acknowledged command, durable before the next command."""

    def __init__(self, path: str) -> None:
        self.file: IO[str] = open(path, "a", encoding="ascii")  # noqa: SIM115

    def write(self, line: str) -> None:
        self.file.write(line + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())


async def stored_state(engine: Engine, room: str, state: RoomState | None = None) -> RoomState:
    """`state` brought up to date with the store (from scratch when None)."""
    base = state or RoomState()
    records = await engine.store.read_stream(room, base.version)
    return fold(decode_records(records), base)


def lobby_command(state: RoomState, room: str) -> Command:
    host = "h"
    cid = f"{room}:{state.version}:lobby"
    for seat in HUMAN_SEATS:
        if state.seats[seat].is_bot:
            return RemovePlayer(player=host, seat=seat, command_id=cid)
    for seat in HUMAN_SEATS:
        if state.seats[seat].name is None:
            return JoinRoom(player=f"p{seat}", command_id=cid)
    return StartGame(player=host, command_id=cid)


async def drive(engine: Engine, room: str, index: int, log: Log) -> None:
    """Play room `room` to its end, from whatever the store holds."""
    state = await stored_state(engine, room)
    while state.phase not in FINISHED:
        if state.phase is Phase.NEW:
            cid = f"{room}:create"
            outcome = await engine.create_room("h", seed=index, room_id=room, command_id=cid)
        else:
            if state.phase is Phase.WAITING:
                command: Command | None = lobby_command(state, room)
            else:
                movers = humans_to_move(state, engine.clock())
                command = (
                    human_command(state, movers[0], f"{room}:{state.version}:{movers[0]}")
                    if movers
                    else None
                )
            if command is None:  # the bot or a timer moves next
                await asyncio.sleep(0.002)
                state = await stored_state(engine, room, state)
                continue
            cid = command.command_id
            outcome = await engine.send(room, command, redact=False)
        if isinstance(outcome, Rejection):
            log.write(f"! {room} {cid} {outcome.code.value}")
            state = await stored_state(engine, room)
            continue
        log.write(f"{room} {cid}")
        if not outcome.duplicate and outcome.first_version == state.version + 1:
            state = fold(outcome.events, state)
        else:
            state = await stored_state(engine, room, state)


async def unfinished(engine: Engine, prefix: str = PREFIX) -> tuple[list[str], int]:
    """Rooms whose match may still be going, and the next free room index."""
    streams = []
    offset = 0
    while True:
        page = await engine.store.list_streams(prefix=prefix, limit=500, offset=offset)
        streams += page
        if len(page) < 500:
            break
        offset += len(page)
    count = max((int(s.stream_id[len(prefix) :]) + 1 for s in streams), default=0)
    return sorted(s.stream_id for s in streams if s.status == "active"), count


async def life(db: str, log_path: str, mode: str) -> None:
    rival = mode == "rival"
    log = Log(f"{log_path}.rival" if rival else log_path)
    # A server store keeps its read models in a file beside the log (a SQLite store: beside
    # it); a rival engine process keeps its own.
    projections = None if backend_of(db) == "sqlite" else f"{log_path}.projections.db"
    if rival:
        projections = f"{log_path}.rival.projections.db"
    prefixes = (RIVAL_PREFIX,) if rival else (PREFIX, RIVAL_PREFIX) if mode == "finish" else (PREFIX,)
    async with Engine.open(db, config(db, projections)) as engine:
        say("ready", os.getpid())
        tasks: set[asyncio.Task[None]] = set()
        for prefix in prefixes:
            rooms, next_index = await unfinished(engine, prefix)
            tasks |= {
                asyncio.create_task(drive(engine, r, int(r[len(prefix) :]), log)) for r in rooms
            }
        if mode == "backup":
            tasks.add(asyncio.create_task(back_up(engine, db, log)))
        playing = mode != "finish"
        started = time.monotonic()
        while tasks or (playing and time.monotonic() - started < LIFE_LIMIT):
            while playing and len(tasks) < CONCURRENCY:
                room = room_id(next_index, prefixes[0])
                tasks.add(asyncio.create_task(drive(engine, room, next_index, log)))
                next_index += 1
            done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        if mode == "finish":
            await wait_for_archival(engine)
            say("readmodels", *await caught_up_matches(engine))


async def back_up(engine: Engine, db: str, log: Log) -> None:
    """A moment into the life, back the running store up (as docs/operations.md says)."""
    await asyncio.sleep(0.15)
    log.write("# backup-begin")
    await engine.backup(Path(db).parent / BACKUP)
    log.write("# backup-end")
    say("backup", os.getpid())


async def caught_up_matches(engine: Engine, timeout: float = 60.0) -> list[str]:
    """The rooms of the match history once every read model has folded the whole log
    (a rebuild after a restore included) without a fault."""
    deadline = time.monotonic() + timeout
    while True:
        head = await engine.store.last_position()
        status = await engine.read_models.status()
        faults = [p.fault for p in status.projections if p.fault is not None]
        if faults or status.error:
            raise AssertionError(f"read models failed: {status.error} {faults}")
        if all(p.position >= head and p.rebuild is None for p in status.projections):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"read models did not reach position {head}: {status}")
        await asyncio.sleep(0.05)
    rooms: list[str] = []
    while True:
        page = await engine.read_models.match_history(limit=500, offset=len(rooms))
        rooms += [m.room_id for m in page.items]
        if len(page.items) < 500:
            return sorted(rooms)


async def wait_for_archival(engine: Engine, timeout: float = 60.0) -> None:
    """Wait until every match is archived.

    A stream only moves on (active, completed, archived), and a match's stream is marked
    completed a moment after its last command's acknowledgement: so look for active
    streams first, then for completed ones. In the other order a stream marked completed
    between the two looks is seen in neither, and the life closes before archiving it.
    """
    deadline = time.monotonic() + timeout
    while await engine.store.list_streams(status="active", limit=1) or (
        await engine.store.list_streams(status="completed", limit=1)
    ):
        if time.monotonic() > deadline:
            raise TimeoutError("finished matches were not archived")
        await asyncio.sleep(0.02)


def run_life(db: str, log_path: str, mode: str) -> int:
    try:
        asyncio.run(life(db, log_path, mode))
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def serve(db: str, log_path: str) -> None:
    """Fork a life per stdin line: the imports are paid once, and each life dies alone."""
    for line in sys.stdin:
        request = line.strip()
        pids = []
        for mode in ("play", "rival") if request == "pair" else (request,):
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                os._exit(run_life(db, log_path, mode))
            say("spawned", pid)
            pids.append(pid)
        for _ in pids:  # in the order they end
            pid, status = os.waitpid(-1, 0)
            say("exit", pid, os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    command, db_path, log_file = sys.argv[1:4]
    if command == "serve":
        serve(db_path, log_file)
    else:
        sys.exit(run_life(db_path, log_file, sys.argv[4]))
