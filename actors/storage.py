"""The store I/O the actors ask the driver for, besides commits: loading a room, saving
its snapshots, marking a finished match completed and archiving it later.

Each job reads or writes the store and reports back as a message to the directory (or
as a timer), never by calling into an actor.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from actors.clock import ArchiveMatch, Timer
from actors.config import EngineConfig
from actors.messages import ArchiveLater, Loaded, LoadFailed, SaveSnapshot
from actors.metrics import Metrics
from engine.codec import STATE_SCHEMA_VERSION, decode_records, decode_state, encode_state
from engine.events import Event
from engine.evolve import evolve
from engine.state import RoomState
from engine.store.errors import OperationRefused, StoreError
from engine.store.protocol import EventStore
from engine.store.records import Snapshot
from projections import MarkArchived, ProjectionRunner

log = logging.getLogger("liaptui.lifecycle")

ARCHIVE_RETRY_MAX = 600.0  # seconds: the longest wait between two archival attempts


async def recover_room(store: EventStore, room_id: str) -> tuple[RoomState, int]:
    """A room's state from its latest usable snapshot plus the tail of its stream.

    Returns the state and the version of the snapshot used (0: folded from the start).
    """
    state = RoomState()
    snapshot_version = 0
    snap, records = await store.load_latest(room_id, STATE_SCHEMA_VERSION)
    if snap is not None:
        restored = decode_state(snap.schema_version, snap.payload)
        if restored is not None and restored.version == snap.version:
            state, snapshot_version = restored, snap.version
        else:
            records = await store.read_stream(room_id, 0)  # unusable: replay it all
    for event in decode_records(records):
        state = evolve(state, event)
    return state, snapshot_version


async def original_events(
    store: EventStore, room_id: str, first_version: int, last_version: int
) -> tuple[Event, ...]:
    """The events a command produced when it was first applied: what its retry is told."""
    records = await store.read_stream(room_id, first_version - 1, last_version)
    return tuple(decode_records(records))


class RoomStorage:
    """Loads rooms, saves snapshots, completes and archives matches, with retries."""

    def __init__(
        self,
        store: EventStore,
        config: EngineConfig,
        clock: Callable[[], float],
        metrics: Metrics,
        tell_directory: Callable[[Any], None],
        add_timer: Callable[[float, Timer], None],
        runner: ProjectionRunner | None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.tell_directory = tell_directory
        self.add_timer = add_timer
        self.runner = runner
        self.archive_failures: dict[str, int] = {}  # room id -> failed archivals in a row
        self.closing = False

    async def load(self, room_id: str) -> None:
        """Recover a room and hand it to the directory (`Loaded`, or `LoadFailed`)."""
        started = time.perf_counter()
        try:
            state, snapshot_version = await recover_room(self.store, room_id)
            # The room answers retries of its latest commands from memory, as before the restart.
            commands = await self.store.read_commands(room_id) if state.version else []
        except Exception as exc:  # a store or decoding failure: the room stays unavailable
            log.exception("room %s could not be loaded", room_id, extra={"room_id": room_id})
            self.tell_directory(LoadFailed(room_id, f"{type(exc).__name__}: {exc}"))
            return
        recent = tuple(
            (c.command_id, c.first_version, c.last_version, c.command)
            for c in commands[-self.config.dedupe_window :]
        )
        self.metrics.recovery_seconds.observe(time.perf_counter() - started)
        self.tell_directory(Loaded(room_id, state, recent, snapshot_version, self.clock()))

    async def save_snapshot(self, msg: SaveSnapshot) -> None:
        version, payload = encode_state(msg.state)
        try:
            await self.store.save_snapshot(Snapshot(msg.room_id, msg.version, version, payload))
            self.metrics.counters["snapshots"] += 1
        except OperationRefused as exc:
            # e.g. the match was archived meanwhile: a snapshot is only an optimisation.
            log.debug("snapshot of %s at v%d not taken: %s", msg.room_id, msg.version, exc)
        except StoreError:
            log.warning("snapshot of %s at v%d not saved", msg.room_id, msg.version, exc_info=True)

    async def complete(self, msg: ArchiveLater) -> None:
        """Mark a finished match completed, and archive it at `msg.at` (None: never)."""
        try:
            info = await self.store.stream_info(msg.room_id)
            if info is None or info.status != "active":
                return  # already completed (and perhaps archived) before a restart
            await self.store.set_status(msg.room_id, "completed")
        except StoreError:
            log.warning("could not mark %s completed", msg.room_id, exc_info=True)
            return
        self.metrics.counters["matches_completed"] += 1
        if msg.at is not None:
            self.add_timer(msg.at, ArchiveMatch(msg.room_id))

    async def archive(self, room_id: str) -> bool:
        """Archive a completed match; on failure, try again later, less often each time.
        True when it was archived by this call."""
        try:
            info = await self.store.stream_info(room_id)
            if info is None or info.status != "completed":
                self.archive_failures.pop(room_id, None)
                return False  # archived already (two timers may name one match after a restart)
            await self.store.archive_stream(room_id)
        except StoreError:
            # The match stays whole in the hot store; try again later, less often each time.
            failures = self.archive_failures.get(room_id, 0) + 1
            self.archive_failures[room_id] = failures
            delay = min(self.config.archive_retry * 2 ** (failures - 1), ARCHIVE_RETRY_MAX)
            self.metrics.counters["archive_failed"] += 1
            log.warning(
                "archival of %s failed (%d in a row); the match stays in the hot store, "
                "retrying in %.1f s",
                room_id,
                failures,
                delay,
                exc_info=True,
            )
            if not self.closing:
                self.add_timer(self.clock() + delay, ArchiveMatch(room_id))
            return False
        self.archive_failures.pop(room_id, None)
        self.metrics.counters["archived"] += 1
        if self.runner is not None:
            try:
                await self.runner.instruct(MarkArchived(room_id))
            except Exception:  # the runner derives the flag from the store later
                log.warning("match %s archived but not yet marked so", room_id, exc_info=True)
        return True
