"""The room directory: the supervisor that owns every room actor.

It creates rooms on first use (lazily, from the store), routes commands by room id,
passivates idle rooms, rebuilds rooms that broke, and limits how many rooms recover at
once. It also starts the snapshot relay and archive scheduler, and hands each room the outcome of
its append when a group commit is acknowledged.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

from msgspec import Struct
from thespian.actors import Actor, ActorExitRequest, ChildActorExited, PoisonMessage

from actors.config import EngineConfig
from actors.messages import (
    Acknowledge,
    AskView,
    Boot,
    Booted,
    Deliver,
    Lifecycle,
    Load,
    Loaded,
    LoadFailed,
    Passivate,
    Quiesce,
    Recover,
    Reload,
    Reply,
    RoomBroken,
    RoomIdle,
    RoomInit,
    Route,
    ServiceInit,
    Sweep,
    ViewReply,
    ViewRequest,
    Wake,
    Watch,
    WatchRoom,
)
from actors.projection_supervisor import ProjectionSupervisor, SupervisorInit
from actors.receive import DirectReceive
from actors.room import RoomActor
from actors.services import ArchiveScheduler, SnapshotRelay
from engine.commands import CreateRoom
from engine.rejections import Code, Rejection

log = logging.getLogger("liaptui.directory")


class RoomEntry(Struct):
    address: Any
    ready: bool = False
    passivating: bool = False
    pending: list[Any] = []
    last_active: float = 0.0
    watched: bool = False


def _creates(message: Any) -> bool:
    return isinstance(message, Deliver) and isinstance(message.command, CreateRoom)


class RoomDirectory(DirectReceive, Actor):  # type: ignore[misc]
    """Routes by room id to live room actors, activating and passivating them."""

    def __init__(self) -> None:
        super().__init__()
        self.config = EngineConfig()
        self.driver: Any = None
        self.snapshot_relay: Any = None
        self.archive_scheduler: Any = None
        self.rooms: dict[str, RoomEntry] = {}
        self.loading = 0
        self.load_queue: deque[str] = deque()
        self.watched: set[str] = set()
        self.now = 0.0

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        kind = type(msg)
        if kind is Acknowledge:
            # One message from the driver acknowledges a whole commit slice.
            for room, outcome in msg.outcomes:
                self.send(room, outcome)
        elif kind is Route:
            self._route(msg.room_id, Deliver(msg.request, msg.command), msg.command.at)
        elif kind is Wake:
            self._route(msg.room_id, msg, msg.now)
        elif kind is AskView:
            entry = self.rooms.get(msg.room_id)
            if entry is None:
                # Activating a room just to show it is fine: it is then live and cached.
                self._route(msg.room_id, ViewRequest(msg.request, msg.player), 0.0)
            else:
                self._deliver(entry, ViewRequest(msg.request, msg.player))
        elif kind is Loaded:
            self._loaded(msg)
        elif kind is LoadFailed:
            self._load_failed(msg)
        elif kind is RoomBroken:
            self._broken(msg)
        elif kind is RoomIdle:
            self._idle(msg)
        elif kind is Sweep:
            self._sweep(msg.now)
        elif kind is WatchRoom:
            self._watch(msg)
        elif kind is Reload:
            self._reload(msg)
        elif kind is Quiesce:
            for entry in self.rooms.values():
                self._deliver(entry, msg)
        elif kind is Boot:
            self._boot(msg, sender)
        elif isinstance(msg, PoisonMessage):
            self._poisoned(msg)
        elif isinstance(msg, ChildActorExited | ActorExitRequest):
            pass

    def _boot(self, msg: Boot, sender: Any) -> None:
        self.config = msg.config
        self.driver = sender
        self.snapshot_relay = self.createActor(SnapshotRelay)
        self.archive_scheduler = self.createActor(ArchiveScheduler)
        for service in (self.snapshot_relay, self.archive_scheduler):
            self.send(service, ServiceInit(self.driver, self.config))
        # The projection runner does I/O on the driver's loop; its supervisor is its home here.
        projections = self.createActor(ProjectionSupervisor)
        self.send(projections, SupervisorInit(self.driver))
        self.send(self.driver, Booted(projections))

    # --- routing and activation -------------------------------------------------------------

    def _route(self, room_id: str, message: Any, now: float) -> None:
        entry = self.rooms.get(room_id)
        if entry is None:
            entry = self._activate(room_id)
        entry.last_active = max(entry.last_active, now)
        self._deliver(entry, message)

    def _deliver(self, entry: RoomEntry, message: Any) -> None:
        if entry.ready and not entry.passivating:
            self.send(entry.address, message)
        else:
            entry.pending.append(message)

    def _activate(self, room_id: str) -> RoomEntry:
        address = self.createActor(RoomActor)
        self.send(
            address,
            RoomInit(
                room_id,
                self.myAddress,
                self.snapshot_relay,
                self.archive_scheduler,
                self.driver,
                self.config,
            ),
        )
        entry = RoomEntry(address=address, pending=[], watched=room_id in self.watched)
        self.rooms[room_id] = entry
        self.load_queue.append(room_id)
        self._start_loads()
        return entry

    def _start_loads(self) -> None:
        # Recovery reads the store; bounding it keeps a thundering herd from starving commits.
        while self.load_queue and self.loading < self.config.max_recoveries:
            room_id = self.load_queue.popleft()
            if room_id in self.rooms:
                self.loading += 1
                self.send(self.driver, Load(room_id))

    def _loaded(self, msg: Loaded) -> None:
        self.loading -= 1
        self._start_loads()
        entry = self.rooms.get(msg.room_id)
        if entry is None:
            return
        self.send(
            entry.address, Recover(msg.state, msg.recent_commands, msg.snapshot_version, msg.now)
        )
        if entry.watched:
            self.send(entry.address, Watch(True))
        entry.ready = True
        pending, entry.pending = entry.pending, []
        for message in pending:
            self.send(entry.address, message)
        kind = "recover" if msg.state.version else "start"
        self.send(
            self.driver,
            Lifecycle(
                kind, msg.room_id, {"version": msg.state.version, "snapshot": msg.snapshot_version}
            ),
        )
        if not msg.state.version and not entry.watched and not any(map(_creates, pending)):
            # No such room: the room refuses what came for it (room_not_found), then it goes
            # at once, not after `passivate_after`, so that probing ids holds no memory.
            entry.passivating = True
            self.send(entry.address, Passivate())

    def _load_failed(self, msg: LoadFailed) -> None:
        self.loading -= 1
        self._start_loads()
        entry = self.rooms.pop(msg.room_id, None)
        if entry is None:
            return
        self.send(entry.address, ActorExitRequest())
        for message in entry.pending:
            self._refuse(
                message, Rejection(Code.UNAVAILABLE, f"room could not be loaded: {msg.reason}")
            )
        self.send(self.driver, Lifecycle("load_failed", msg.room_id, {"reason": msg.reason}))

    def _refuse(self, message: Any, rejection: Rejection) -> None:
        if isinstance(message, Deliver):
            self.send(self.driver, Reply(message.request, "", rejection, 0))
        elif isinstance(message, ViewRequest):
            self.send(self.driver, ViewReply(message.request, rejection))

    # --- failures ------------------------------------------------------------------------------

    def _broken(self, msg: RoomBroken) -> None:
        entry = self.rooms.pop(msg.room_id, None)
        if entry is None:
            return
        self.send(entry.address, ActorExitRequest())
        self.send(self.driver, Lifecycle("crash", msg.room_id, {"reason": msg.reason}))
        # Rebuild at once from the store: timers and bots of a live match must keep going.
        fresh = self._activate(msg.room_id)
        fresh.pending.extend(entry.pending)
        fresh.last_active = entry.last_active

    def _poisoned(self, msg: PoisonMessage) -> None:
        # Rooms catch their own failures; a poison message here means a bug outside them.
        log.warning("undeliverable message %r", msg.poisonMessage)

    # --- passivation --------------------------------------------------------------------------

    def _sweep(self, now: float) -> None:
        self.now = now
        horizon = now - self.config.passivate_after
        for entry in self.rooms.values():
            if (
                entry.ready
                and not entry.passivating
                and not entry.watched
                and entry.last_active < horizon
            ):
                entry.passivating = True
                self.send(entry.address, Passivate())

    def _idle(self, msg: RoomIdle) -> None:
        entry = self.rooms.get(msg.room_id)
        if entry is None:
            return
        if not msg.idle:
            # Bots or deadlines still have work to do: look again after another idle period.
            entry.passivating = False
            entry.last_active = max(entry.last_active, self.now)
            self._flush_pending(entry)
            return
        del self.rooms[msg.room_id]
        self.send(entry.address, ActorExitRequest())
        self.send(self.driver, Lifecycle("passivate", msg.room_id, {}))
        if entry.pending:
            fresh = self._activate(msg.room_id)
            fresh.pending.extend(entry.pending)

    def _flush_pending(self, entry: RoomEntry) -> None:
        pending, entry.pending = entry.pending, []
        for message in pending:
            self.send(entry.address, message)

    def _reload(self, msg: Reload) -> None:
        entry = self.rooms.get(msg.room_id)
        if entry is None or not entry.ready:
            return  # no actor, or one whose load reads the stream as it is now
        del self.rooms[msg.room_id]
        self.send(entry.address, ActorExitRequest())
        self.send(self.driver, Lifecycle("passivate", msg.room_id, {"reason": "reload"}))
        fresh = self._activate(msg.room_id)
        fresh.pending.extend(entry.pending)
        fresh.last_active = entry.last_active

    def _watch(self, msg: WatchRoom) -> None:
        if msg.watched:
            self.watched.add(msg.room_id)
        else:
            self.watched.discard(msg.room_id)
        entry = self.rooms.get(msg.room_id)
        if entry is not None:
            entry.watched = msg.watched
            self._deliver(entry, Watch(msg.watched))
