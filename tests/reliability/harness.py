"""A real engine on a private event loop that a test drives step by step, and the checks
every reliability test shares: streams are contiguous, commands tile them, rooms equal a
fold of their stream.

The harness owns the clock (a `FakeClock`), so time only moves when a test says so: bots
(with `bot_delay > 0`) move, deadlines fire and idle rooms passivate exactly then. It can
also crash the engine: the loop stops running and the store's files are dropped without
any of the engine's shutdown steps, as if the process had died at that instant. It runs
without the projection runner (read models have their own checkpoint tests; process-kill
tests in this folder run the engine whole, projections included).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Awaitable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite.core
from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.bots import bot_command
from engine.codec import decode_records
from engine.commands import Command, JoinRoom, RemovePlayer, StartGame
from engine.events import Event
from engine.evolve import fold
from engine.rejections import Rejection
from engine.settings import RoomSettings
from engine.state import FINISHED, Phase, RoomState
from engine.store.records import RecordedCommand, RecordedEvent
from engine.store.sqlite import SqliteEventStore
from engine.views import view

T = TypeVar("T")
# LIAPTUI_LONG=1 runs the long versions (1,000 kills, ~10x the examples); CI runs the short ones.
LONG = os.environ.get("LIAPTUI_LONG") == "1"


class FakeClock:
    """Engine time that moves only when the test moves it."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class EngineHarness:
    """One `Engine` on a loop of its own: run a step, let the engine settle, crash, reopen."""

    def __init__(self, path: Path, config: EngineConfig, clock: FakeClock) -> None:
        self.path = path
        self.config = replace(config, path=str(path), projections=False)
        self.clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine: Engine | None = None
        self._ids = itertools.count(1)

    # --- lifecycle ------------------------------------------------------------------------

    def open(self) -> Engine:
        self.loop = asyncio.new_event_loop()
        self.engine = Engine(self.config, self.clock)
        self.run(self.engine.start())
        self.settle()
        return self.engine

    def close(self) -> None:
        """A clean shutdown: in-flight work finishes, the store closes."""
        if self.engine is not None and self.loop is not None:
            self.run(self.engine.close())
            self.loop.close()
        self.engine = self.loop = None

    def crash(self) -> None:
        """Abandon the engine mid-flight: no quiesce, no commit drain, no actor shutdown.

        Whatever the store's thread was already given runs to its end (a commit in
        progress completes, as it would inside SQLite); nothing the loop would have done
        next happens. Both database files are then closed, as the OS does for a dead process.
        """
        assert self.engine is not None and self.loop is not None
        store = self.engine._store
        if isinstance(store, SqliteEventStore):
            db = store._db
            archive_db = store._archive.db

            def drop_files() -> object:
                archive_db.close()
                if db._connection is not None:
                    db._connection.close()
                    db._connection = None
                return aiosqlite.core._STOP_RUNNING_SENTINEL

            db._running = False
            db._tx.put_nowait((None, drop_files))
            db._thread.join(timeout=30)
            if store._checkpointer is not None:
                store._checkpointer.stop()
        # Tasks of the dead engine are never run again; silence their "destroyed" notices.
        self.loop.set_exception_handler(lambda loop, context: None)
        self.loop.close()
        self.engine = self.loop = None

    # --- driving --------------------------------------------------------------------------

    def run(self, awaitable: Awaitable[T]) -> T:
        assert self.loop is not None

        async def wrapped() -> T:
            return await awaitable

        return self.loop.run_until_complete(wrapped())

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        assert self.loop is not None
        return self.loop.create_task(coro)

    def send(self, room_id: str, command: Command) -> Accepted | Rejection:
        assert self.engine is not None
        return self.run(self.engine.send(room_id, command, redact=False))

    def fresh_id(self, prefix: str = "c") -> str:
        return f"{prefix}-{next(self._ids)}"

    def advance(self, seconds: float) -> None:
        """Move engine time forward and let every timer that falls due fire."""
        self.clock.advance(seconds)
        self.settle()

    def settle(self, timeout: float = 30.0) -> None:
        self.run(self._settle(timeout))

    async def _settle(self, timeout: float) -> None:
        # Quiet = no I/O task, no commit in flight, no timer due at the current fake time,
        # seen several loop turns in a row (work hands itself on through call_soon).
        assert self.engine is not None
        driver = self.engine.driver
        driver.timer_changed.set()
        deadline = time.monotonic() + timeout
        calm = 0
        while calm < 4:
            due = bool(driver.timers) and driver.timers[0][0] <= self.clock()
            busy = bool(driver.tasks) or not driver.commits_idle.is_set() or due
            calm = 0 if busy else calm + 1
            await asyncio.sleep(0.0005 if busy else 0)
            if time.monotonic() > deadline:
                raise AssertionError("the engine did not settle")

    # --- reading the truth ------------------------------------------------------------------

    @property
    def store(self) -> SqliteEventStore:
        assert self.engine is not None
        store = self.engine.store
        assert isinstance(store, SqliteEventStore)
        return store

    def records(self, room_id: str) -> list[RecordedEvent]:
        return self.run(self.store.read_stream(room_id))

    def events(self, room_id: str) -> list[Event]:
        return decode_records(self.records(room_id))

    def state(self, room_id: str) -> RoomState:
        """The room as a fresh fold of its stored events."""
        return fold(self.events(room_id))

    def commands(self, room_id: str) -> list[RecordedCommand]:
        return self.run(self.store.read_commands(room_id))


# --- the checks every test shares --------------------------------------------------------


def check_stream(
    room_id: str, records: list[RecordedEvent], commands: list[RecordedCommand]
) -> None:
    """Versions are 1..n; every event belongs to exactly one recorded command (none partial)."""
    assert [r.version for r in records] == list(range(1, len(records) + 1)), room_id
    assert all(r.stream_id == room_id for r in records)
    expected_first = 1
    for command in commands:
        assert command.first_version == expected_first, (room_id, command.command_id)
        assert command.last_version >= command.first_version, (room_id, command.command_id)
        expected_first = command.last_version + 1
    assert expected_first == len(records) + 1, f"{room_id}: commands do not cover the stream"
    ids = [c.command_id for c in commands]
    assert len(ids) == len(set(ids)), f"{room_id}: a command id recorded twice"


def check_room_matches_fold(harness: EngineHarness, room_id: str, players: list[str]) -> RoomState:
    """The live room, its recovery (snapshot + tail) and every view equal a fold of the store."""
    assert harness.engine is not None
    records = harness.records(room_id)
    check_stream(room_id, records, harness.commands(room_id))
    state = fold(decode_records(records))
    recovered, _ = harness.run(harness.engine.driver._recover_state(room_id))
    assert recovered == state, f"{room_id}: snapshot + tail differs from a full replay"
    for player in [*players, None]:
        live = harness.run(harness.engine.view(room_id, player))
        assert live == view(state, player), f"{room_id}: {player}'s view differs from the fold"
    return state


# --- humans played by the bot policy --------------------------------------------------------


def humans_to_move(state: RoomState, now: float) -> list[int]:
    """Seats of connected humans the game is waiting for at `now`."""
    seats = state.seats
    if state.phase is Phase.PREPARATION and not state.needs_deal:
        return [
            i
            for i, s in enumerate(seats)
            if s.weak and s.redeal is None and s.is_human and s.connected
        ]
    turn = state.turn
    if state.phase not in (Phase.DECLARATION, Phase.TURN) or turn is None:
        return []
    if not (seats[turn].is_human and seats[turn].connected):
        return []
    if state.phase is Phase.TURN and not state.plays and now < state.lead_not_before:
        return []
    return [turn]


def human_command(state: RoomState, seat: int, command_id: str) -> Command:
    """The bot policy's move for a human's seat, sent under the human's own name."""
    name = state.seats[seat].name
    assert name is not None
    return replace(bot_command(state, seat, 0.0, command_id), player=name)


# --- rooms of humans on a real-time engine ----------------------------------------------------


async def stored_state(engine: Engine, room_id: str) -> RoomState:
    """The room as a fresh fold of the store (what a client that reloads would see)."""
    return fold(decode_records(await engine.store.read_stream(room_id)))


async def open_human_room(
    engine: Engine,
    room_id: str,
    seed: int,
    settings: RoomSettings | None = None,
    humans: tuple[str, ...] = ("ann", "bob", "cat"),
) -> None:
    """A started room: `humans[0]` hosts in P1, the others join P2.., bots fill the rest."""
    host = humans[0]
    created = await engine.create_room(host, seed=seed, room_id=room_id, settings=settings)
    assert isinstance(created, Accepted), created
    commands: list[Command] = [RemovePlayer(player=host, seat=s) for s in range(1, len(humans))]
    commands += [JoinRoom(player=name) for name in humans[1:]]
    for command in [*commands, StartGame(player=host)]:
        outcome = await engine.send(room_id, command, rate_limited=False, redact=False)
        assert isinstance(outcome, Accepted), (command, outcome)


async def next_human_move(engine: Engine, room_id: str) -> tuple[RoomState, Command | None]:
    """The store's state of the room and the policy's move for the human it waits for, if any."""
    state = await stored_state(engine, room_id)
    movers = humans_to_move(state, engine.clock())
    if not movers:
        return state, None
    return state, human_command(state, movers[0], f"{room_id}:{state.version}:{movers[0]}")


async def play_to_end(engine: Engine, room_id: str, timeout: float = 60.0) -> RoomState:
    """Humans move by the policy (bots and timers do the rest) until the match is over."""
    deadline = time.monotonic() + timeout
    while True:
        state, command = await next_human_move(engine, room_id)
        if state.phase in FINISHED:
            return state
        if time.monotonic() > deadline:
            raise TimeoutError(f"{room_id} did not finish; stuck in {state.phase}")
        if command is None:
            await asyncio.sleep(0.002)
            continue
        outcome = await engine.send(room_id, command, rate_limited=False, redact=False)
        assert isinstance(outcome, Accepted), (command, outcome)
