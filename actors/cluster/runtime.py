"""The in-process actor shell of a cluster node: the directory that hands rooms over, the
driver that tells the node about it, and room loading that asks the node first.

Rooms stay cheap in-process actors (`simpleSystemBase`), exactly as in one process; only
who may load a room, and how a room leaves, differ.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from msgspec import Struct

from actors.clock import ArchiveMatch, Timer
from actors.config import EngineConfig
from actors.directory import RoomDirectory
from actors.driver import Clock, Driver
from actors.messages import AskView, Lifecycle, LoadFailed, Passivate, Route
from actors.metrics import Metrics
from actors.storage import RoomStorage
from engine.store.protocol import EventStore
from projections import ProjectionRunner

Admit = Callable[[str], Awaitable[str | None]]
"""May this node load the room? None: yes (it owns it now); else why not."""


class HandOver(Struct):
    """Node → directory: stop these rooms for another node to take them (None: every room)."""

    room_ids: tuple[str, ...] | None


class NotLive(Struct):
    """Directory → node: rooms of a HandOver that had no actor here (nothing to stop)."""

    room_ids: tuple[str, ...]


class ClusterDirectory(RoomDirectory):
    """The room directory, which also hands rooms over to other nodes."""

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        kind = type(msg)
        if kind is HandOver:
            self._hand_over(msg)
            return
        super().receiveMessage(msg, sender)
        if kind is Route or kind is AskView:
            self._promote(msg.room_id)

    def _promote(self, room_id: str) -> None:
        """A command or view waits for a room still queued to load: load it before the
        rooms a node woke by adopting them (a dead node's thousand rooms queue up)."""
        entry = self.rooms.get(room_id)
        if entry is not None and not entry.ready and room_id in self.load_queue:
            self.load_queue.remove(room_id)
            self.load_queue.appendleft(room_id)

    def _hand_over(self, msg: HandOver) -> None:
        wanted = tuple(self.rooms) if msg.room_ids is None else msg.room_ids
        absent = []
        for room_id in wanted:
            entry = self.rooms.get(room_id)
            if entry is None:
                absent.append(room_id)
                continue
            # Commands arriving meanwhile wait in `pending`, refused once the room has stopped.
            entry.passivating = True
            self.send(entry.address, Passivate(hand_over=True))
        self.send(self.driver, NotLive(tuple(absent)))


class ClusterStorage(RoomStorage):
    """Loads a room only once the node owns it (`admit`); else the load fails, and commands
    waiting for the room are refused `unavailable` (the router retries where it lives)."""

    def __init__(
        self,
        store: EventStore,
        config: EngineConfig,
        clock: Clock,
        metrics: Metrics,
        tell_directory: Callable[[Any], None],
        add_timer: Callable[[float, Timer], None],
        admit: Admit,
        runner: ProjectionRunner | None = None,
    ) -> None:
        super().__init__(store, config, clock, metrics, tell_directory, add_timer, runner)
        self.admit = admit

    async def load(self, room_id: str) -> None:
        try:
            refusal = await self.admit(room_id)
        except Exception as exc:  # the store could not say: not ours to load now
            refusal = f"ownership unknown ({type(exc).__name__}: {exc})"
        if refusal is not None:
            self.tell_directory(LoadFailed(room_id, refusal))
            return
        await super().load(room_id)


class ClusterDriver(Driver):
    """The driver of a node: its directory hands rooms over; the node hears when they stop."""

    directory_class = ClusterDirectory
    log_defs = False

    def __init__(
        self,
        config: EngineConfig,
        store: EventStore,
        clock: Clock,
        admit: Admit,
        stopped: Callable[[tuple[str, ...]], None],
        placed_here: Callable[[str], bool],
        runner: ProjectionRunner | None = None,
    ) -> None:
        super().__init__(config, store, clock, runner)
        self.stopped = stopped
        self.placed_here = placed_here
        self.storage = ClusterStorage(
            store, config, clock, self.metrics, self._tell_directory, self.add_timer, admit, runner
        )

    async def _resume_active(self) -> None:
        """Archive later the finished matches placed on this node whose archival timer died
        with an earlier run; active rooms are woken as the node claims them (adoption)."""
        if self.config.archive_after is None:
            return
        offset = 0
        while not self.closing:
            page = await self.store.list_streams(status="completed", limit=500, offset=offset)
            for info in page:
                if self.placed_here(info.stream_id):
                    at = self.clock() + self.config.archive_after
                    self.add_timer(at, ArchiveMatch(info.stream_id))
            if len(page) < 500:
                return
            offset += len(page)

    def _dispatch(self, out: Any) -> None:
        if type(out) is NotLive:
            self.stopped(out.room_ids)
        else:
            super()._dispatch(out)

    def _lifecycle(self, msg: Lifecycle) -> None:
        super()._lifecycle(msg)
        if msg.kind in ("passivate", "load_failed", "crash"):
            self.stopped((msg.room_id,))
