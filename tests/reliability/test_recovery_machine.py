"""A stateful property: whatever happens to the real engine, its rooms equal a fold of what
it acknowledged.

Hypothesis drives an engine (room actors, journal, SQLite file in a temp dir, fake clock)
through human moves, random commands (valid or not), retries, time passing (bots think for
`bot_delay`, deadlines fire, idle rooms passivate), snapshots (every few events), archival
of finished matches, crashes (with and without a command in flight) and clean restarts on
the same file, and offline schema migration between runs (old-schema rows written into the
closed store, then read as they are or rewritten by `migrate_store`).

After every step: each stream's versions are contiguous and exactly tiled by its recorded
commands; every acknowledged event is stored at its version; the live room, its recovery
(snapshot + tail) and every player's view equal a fold of the stored events; a finished
match is archived. Every command's outcome equals what the pure decider says for the state
before it, and a rejected command changed nothing.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import zlib
from pathlib import Path
from typing import Any

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import Phase as HypothesisPhase
from hypothesis import event as note_event
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)
from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Accepted
from engine.codec import is_latest, upgrade_event
from engine.commands import (
    AddBot,
    Command,
    DecideRedeal,
    Declare,
    Disconnect,
    JoinRoom,
    LeaveRoom,
    Play,
    Reconnect,
    RemovePlayer,
    StartGame,
    Tick,
    idempotency_key,
)
from engine.decider import execute
from engine.events import Event
from engine.pieces import Piece
from engine.rejections import Rejection
from engine.settings import RoomSettings
from engine.state import RoomState
from engine.store.sqlite import SqliteEventStore
from engine.store.sqlite.migration import migrate_store
from tests.reliability.harness import (
    FINISHED,
    LONG,
    EngineHarness,
    FakeClock,
    check_room_matches_fold,
    human_command,
    humans_to_move,
)

HUMANS = ["ann", "bob", "cat"]  # ann hosts in P1; bob and cat take P2 and P3; Bot 4 stays
BOT_DELAY = 1.0
ARCHIVE_AFTER = 2.0  # engine seconds after a match ends; a crash may fall in between

players = st.sampled_from([*HUMANS, "Bot 4", "Bot 1", "eve", "ANN", ""])
stray_commands = st.one_of(
    st.builds(Declare, player=players, piles=st.integers(-2, 10)),
    st.builds(
        Play,
        player=players,
        indices=st.none() | st.lists(st.integers(-1, 9), max_size=7).map(tuple),
        pieces=st.none() | st.lists(st.sampled_from(list(Piece)), max_size=7).map(tuple),
    ),
    st.builds(DecideRedeal, player=players, accept=st.booleans()),
    st.builds(JoinRoom, player=players),
    st.builds(AddBot, player=players, seat=st.integers(0, 3)),
    st.builds(RemovePlayer, player=players, seat=st.integers(0, 3)),
    st.builds(StartGame, player=players),
    st.builds(Disconnect, player=players),
    st.builds(Reconnect, player=players),
    st.builds(LeaveRoom, player=players),
    st.builds(Tick, player=st.just("")),
)
room_settings = st.builds(
    lambda cap, move_timeout, redeal_timeout, trick_pause: replace(
        RoomSettings.fast(),
        round_cap=cap,
        move_timeout=move_timeout,
        redeal_timeout=redeal_timeout,
        trick_pause=trick_pause,
    ),
    st.sampled_from([1, 1, 2]),
    st.sampled_from([None, None, 4.0]),
    st.sampled_from([2.0, 30.0]),
    st.sampled_from([0.0, 0.0, 1.5]),
)


class RecoveryMachine(RuleBasedStateMachine):
    rooms = Bundle("rooms")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="liaptui-machine-"))
        config = EngineConfig.fast(
            "games.db",
            bot_delay=BOT_DELAY,
            snapshot_every=4,
            passivate_after=3.0,
            sweep_interval=1.0,
            archive_after=ARCHIVE_AFTER,
            rate_per_second=1e9,
            rate_burst=1e9,
            rooms_burst=1e9,
            dedupe_window=64,
        )
        self.h = EngineHarness(self.folder / "games.db", config, FakeClock())
        self.h.open()
        self.opened_at = self.h.clock()
        self.room_ids: list[str] = []
        # Every acknowledged (non-duplicate) outcome: room -> version -> event.
        self.acked: dict[str, dict[int, Event]] = {}
        self.last_acked: dict[str, tuple[Command, Accepted]] = {}

    def teardown(self) -> None:
        try:
            if self.h.engine is not None:
                self.h.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def reopen(self) -> None:
        self.h.open()
        self.opened_at = self.h.clock()

    # --- the oracle ----------------------------------------------------------------------

    def submit(self, room: str, command: Command) -> Accepted | Rejection:
        """Send `command` and check its outcome against the pure decider; rejections change nothing."""
        before = self.h.state(room)
        position = self.h.run(self.h.store.last_position())
        stamped = replace(
            command, at=self.h.clock(), command_id=command.command_id or self.h.fresh_id()
        )
        expected = execute(before, stamped)
        outcome = self.h.send(room, stamped)
        self.h.settle()
        self.check_outcome(room, before, expected, outcome, stamped)
        if isinstance(outcome, Rejection):
            assert self.h.run(self.h.store.last_position()) == position
        return outcome

    def check_outcome(
        self,
        room: str,
        before: RoomState,
        expected: Any,
        outcome: Accepted | Rejection,
        command: Command,
    ) -> None:
        if isinstance(expected, Rejection):
            assert outcome == expected, (command, outcome, expected)
            assert self.h.state(room) == before, "a rejected command changed the room"
            return
        events, _ = expected
        assert isinstance(outcome, Accepted), (command, outcome)
        assert not outcome.duplicate
        assert list(outcome.events) == events, command
        assert outcome.first_version == before.version + 1
        self.acknowledge(room, command, outcome)
        # Time did not move, so nothing but this command's events was appended.
        assert self.h.state(room).version == before.version + len(events)

    def acknowledge(self, room: str, command: Command, outcome: Accepted) -> None:
        for i, event in enumerate(outcome.events):
            self.acked.setdefault(room, {})[outcome.first_version + i] = event
        if outcome.events:
            self.last_acked[room] = (command, outcome)

    # --- rules ---------------------------------------------------------------------------

    @precondition(lambda self: len(self.room_ids) < 2)
    @rule(target=rooms, settings=room_settings, seed=st.integers(0, 2**40))
    def open_room(self, settings: RoomSettings, seed: int) -> str:
        room = f"ROOM{len(self.room_ids):02d}"
        created = self.h.run(
            self.h.engine.create_room(  # type: ignore[union-attr]
                "ann", settings=settings, seed=seed, room_id=room, command_id=f"create-{room}"
            )
        )
        assert isinstance(created, Accepted), created
        self.h.settle()
        self.acked[room] = {1: created.events[0]}
        self.room_ids.append(room)
        for command in (
            RemovePlayer(player="ann", seat=1),
            RemovePlayer(player="ann", seat=2),
            JoinRoom(player="bob"),
            JoinRoom(player="cat"),
            StartGame(player="ann"),
        ):
            assert isinstance(self.submit(room, command), Accepted)
        return room

    @rule(room=rooms, steps=st.integers(1, 12))
    def humans_move(self, room: str, steps: int) -> None:
        for _ in range(steps):
            state = self.h.state(room)
            movers = humans_to_move(state, self.h.clock())
            if not movers:
                return
            command = human_command(state, movers[0], self.h.fresh_id("move"))
            assert isinstance(self.submit(room, command), Accepted), command

    @rule(room=rooms, steps=st.integers(5, 60))
    def play_on(self, room: str, steps: int) -> None:
        """Humans move when it is their turn; otherwise time passes for the bots and timers."""
        for _ in range(steps):
            state = self.h.state(room)
            if state.phase in FINISHED:
                return
            movers = humans_to_move(state, self.h.clock())
            if movers:
                command = human_command(state, movers[0], self.h.fresh_id("play"))
                assert isinstance(self.submit(room, command), Accepted), command
            else:
                self.h.advance(BOT_DELAY)

    @rule()
    def humans_move_in_every_room_at_once(self) -> None:
        """One move per room, sent concurrently, so the journal commits them together."""
        plans = []
        for room in self.room_ids:
            state = self.h.state(room)
            movers = humans_to_move(state, self.h.clock())
            if movers:
                command = human_command(state, movers[0], self.h.fresh_id("together"))
                command = replace(command, at=self.h.clock())
                plans.append((room, state, command, execute(state, command)))
        if not plans:
            return
        engine = self.h.engine
        assert engine is not None

        async def all_at_once() -> list[Accepted | Rejection]:
            return list(
                await asyncio.gather(*(engine.send(r, c, redact=False) for r, _, c, _ in plans))
            )

        outcomes = self.h.run(all_at_once())
        self.h.settle()
        for (room, before, command, expected), outcome in zip(plans, outcomes, strict=True):
            self.check_outcome(room, before, expected, outcome, command)

    @rule(room=rooms, command=stray_commands)
    def stray_command(self, room: str, command: Command) -> None:
        self.submit(room, command)

    @rule(room=rooms)
    def retry_last_command(self, room: str) -> None:
        """The same command id again: the original outcome, nothing applied twice."""
        if room not in self.last_acked:
            return
        command, original = self.last_acked[room]
        recent = [c.command_id for c in self.h.commands(room)][-64:]
        if idempotency_key(command) not in recent:
            return  # beyond the rooms' memory of recent ids (not the case this checks)
        version = self.h.state(room).version
        again = self.h.send(room, command)
        self.h.settle()
        assert isinstance(again, Accepted) and again.duplicate, again
        assert again.events == original.events
        assert again.first_version == original.first_version
        assert self.h.state(room).version == version

    @rule(seconds=st.sampled_from([0.5, 1.0, 1.0, 2.0, 5.0, 31.0]))
    def time_passes(self, seconds: float) -> None:
        """Bots move, pauses and deadlines fire, idle rooms are snapshotted and passivated."""
        self.h.advance(seconds)
        assert self.h.engine is not None
        metrics = self.h.engine.metrics()
        for kind in ("room_passivate", "snapshots", "archived"):
            if metrics.get(kind):
                note_event(f"{kind} happened")

    @rule(in_flight=st.booleans(), spins=st.integers(0, 40))
    def crash_and_restart(self, in_flight: bool, spins: int) -> None:
        pending = None
        if in_flight:
            for room in self.room_ids:
                state = self.h.state(room)
                movers = humans_to_move(state, self.h.clock())
                if movers:
                    command = human_command(state, movers[0], self.h.fresh_id("inflight"))
                    command = replace(command, at=self.h.clock())
                    expected = execute(state, command)
                    assert not isinstance(expected, Rejection)
                    task = self.h.spawn(self.h.engine.send(room, command, redact=False))  # type: ignore[union-attr]
                    pending = (room, state, command, expected[0], task)
                    break

        async def spin() -> None:
            for i in range(spins):
                await asyncio.sleep(0 if i % 3 else 0.0003)

        self.h.run(spin())
        acked = pending is not None and pending[4].done()
        self.h.crash()
        self.reopen()
        if pending is None:
            return
        room, before, command, events, task = pending
        if acked:
            outcome = task.result()
            assert isinstance(outcome, Accepted) and list(outcome.events) == events
            self.acknowledge(room, command, outcome)
        stored = {c.command_id: c for c in self.h.commands(room)}
        after = self.h.events(room)
        if idempotency_key(command) in stored:
            # Durable though perhaps never acknowledged: exactly the decided events.
            first = stored[idempotency_key(command)].first_version
            assert first == before.version + 1
            assert after[first - 1 : first - 1 + len(events)] == events
        else:
            assert not acked, "an acknowledged command is missing after a crash"
            assert len(after) == before.version, "events appeared that no command explains"
        # The client retries with the same id: applied once, whatever the crash did.
        retry = self.h.send(room, command)
        self.h.settle()
        assert isinstance(retry, Accepted), retry
        assert list(retry.events) == events
        assert retry.first_version == before.version + 1
        assert retry.duplicate == (idempotency_key(command) in stored)
        if not retry.duplicate:
            self.acknowledge(room, command, retry)

    @rule()
    def clean_restart(self) -> None:
        self.h.close()
        self.reopen()

    @rule(count=st.integers(1, 8), old_version=st.sampled_from([1, 2]), migrate=st.booleans())
    def old_schema_rows_then_migration(self, count: int, old_version: int, migrate: bool) -> None:
        """With the engine stopped, some PiecesPlayed rows are rewritten as an older schema
        would have stored them; the restarted engine reads them upcast, or `migrate_store`
        lifts them first. Either way every room is unchanged."""
        self.h.close()
        old_rows = downgrade_pieces_played(self.h.path, count, old_version)
        if migrate:
            report = asyncio.run(run_migration(self.h.path))
            assert report.verified and report.rewritten == old_rows
        self.reopen()

    # --- invariants ----------------------------------------------------------------------

    @invariant()
    def rooms_equal_a_fold_of_what_was_acknowledged(self) -> None:
        for room in self.room_ids:
            state = check_room_matches_fold(self.h, room, HUMANS)
            events = self.h.events(room)
            for version, event in self.acked.get(room, {}).items():
                assert events[version - 1] == event, f"{room} v{version} is not what was acked"
            info = self.h.run(self.h.store.stream_info(room))
            assert info is not None and info.last_version == state.version
            ended = state.ended_at
            note_event(f"phase {state.phase.value}, stream {info.status}")
            if ended is not None and self.h.clock() >= max(ended, self.opened_at) + ARCHIVE_AFTER:
                # Due archive_after after the end (or after a restart that came in between).
                assert info.status == "archived", f"{room} finished but is {info.status}"

    @invariant()
    def no_room_handler_failed(self) -> None:
        if self.h.engine is not None:
            assert self.h.engine.metrics().get("room_crash", 0) == 0


def downgrade_pieces_played(path: Path, count: int, old_version: int) -> int:
    """Rewrite the newest `count` hot PiecesPlayed rows as schema `old_version` stored them;
    returns how many hot rows are now below their latest schema."""
    dropped = {1: ("play_type", "value"), 2: ("value",)}[old_version]
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT position, data FROM events WHERE type = 'PiecesPlayed' AND schema_version = 3 "
            "ORDER BY position DESC LIMIT ?",
            (count,),
        ).fetchall()
        for position, data in rows:
            raw = msgspec.msgpack.decode(data)
            old = msgspec.msgpack.encode({k: v for k, v in raw.items() if k not in dropped})
            db.execute(
                "UPDATE events SET schema_version = ?, data = ?, checksum = ? WHERE position = ?",
                (old_version, old, zlib.crc32(old), position),
            )
        (old,) = db.execute(
            "SELECT count(*) FROM events WHERE type = 'PiecesPlayed' AND schema_version < 3"
        ).fetchone()
    db.close()
    return int(old)


async def run_migration(path: Path) -> Any:
    store = await SqliteEventStore.open(path)
    try:
        return await migrate_store(store, upgrade_event, is_latest, batch_size=7)
    finally:
        await store.close()


RecoveryMachine.TestCase.settings = settings(
    max_examples=400 if LONG else 12,
    stateful_step_count=50 if LONG else 25,
    deadline=None,
    # The explain phase traces every line run; over a whole engine that takes minutes.
    phases=[
        HypothesisPhase.explicit,
        HypothesisPhase.reuse,
        HypothesisPhase.generate,
        HypothesisPhase.shrink,
    ],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestRecoveryMachine = RecoveryMachine.TestCase
