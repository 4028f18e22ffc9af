"""The room actor: owns one room's state and turns its commands into durable events.

One command at a time: decide → hand the events to the driver's group commit → when
durable, evolve, reply, publish. Commands that arrive meanwhile wait in a bounded stash. The actor never
trusts itself after a failure: it reports itself broken and the directory rebuilds it
from the store.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from typing import Any

from msgspec import Struct
from thespian.actors import Actor

from actors.config import EngineConfig
from actors.messages import (
    Append,
    Committed,
    Conflicted,
    Deliver,
    MatchOver,
    NotWritten,
    Passivate,
    Published,
    Quiesce,
    Recover,
    Refused,
    Reply,
    RoomBroken,
    RoomIdle,
    RoomInit,
    SaveSnapshot,
    Schedule,
    ViewReply,
    ViewRequest,
    Wake,
    Watch,
)
from actors.receive import DirectReceive
from engine.bots import bot_command, ready_at, seats_to_move
from engine.codec import command_append, same_command
from engine.commands import Command, Tick, idempotency_key
from engine.decider import execute, next_due
from engine.events import Event
from engine.rejections import Code, Rejection
from engine.state import Phase, RoomState
from engine.views import view, viewer_seat

log = logging.getLogger("liaptui.room")
# Seconds a room waits before its own next move after the store failed or a move of its
# own was refused: retrying at once would spin against a failing disk.
RETRY_AFTER = 0.25


class InFlight(Struct):
    """The command whose events are being committed, and the state they lead to."""

    request: int | None
    command: Command
    events: tuple[Event, ...]
    state: RoomState
    key: str  # the command's idempotency key and stored body, remembered once durable
    body: bytes


class RoomActor(DirectReceive, Actor):  # type: ignore[misc]
    """One game room; addressed through the RoomDirectory by room id."""

    def __init__(self) -> None:
        super().__init__()
        self.room_id = ""
        self.state = RoomState()
        self.ready = False
        self.broken = False
        self.in_flight: InFlight | None = None
        self.stash: deque[tuple[int | None, Command]] = deque()
        # Recent commands' versions and stored bodies, by idempotency key.
        self.recent: OrderedDict[str, tuple[int, int, bytes]] = OrderedDict()
        self.snapshot_version = 0
        self.watched = False
        self.now = 0.0
        self.changed_at = 0.0
        self.scheduled: float | None = None
        self.config = EngineConfig()
        self.links: RoomInit | None = None
        self.quiet = False
        self.hold_until = 0.0
        self.handing_over = False

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        handler = _HANDLERS.get(type(msg))
        if handler is None:
            return
        try:
            handler(self, msg)
        except Exception as exc:  # the room is no longer trusted: rebuild it from the store
            log.exception("room %s handler raised", self.room_id, extra={"room_id": self.room_id})
            self._break(f"{type(exc).__name__}: {exc}")

    # --- lifecycle -----------------------------------------------------------------------

    def _init(self, msg: RoomInit) -> None:
        self.links = msg
        self.room_id = msg.room_id
        self.config = msg.config

    def _recover(self, msg: Recover) -> None:
        assert self.links is not None
        self.state = msg.state
        self.snapshot_version = msg.snapshot_version
        self.now = self.changed_at = msg.now
        for command_id, first, last, body in msg.recent_commands:
            self._remember(command_id, first, last, body)
        self.ready = True
        if self.state.finished:
            # Completion may not have been recorded before a crash; marking it again is harmless.
            self.send(
                self.links.archive_scheduler, MatchOver(self.room_id, self.state.ended_at or self.now)
            )
        self._plan()

    def _break(self, reason: str) -> None:
        if self.broken or self.links is None:
            return
        self.broken = True
        pending = list(self.stash)
        self.stash.clear()
        if self.in_flight is not None:
            pending.insert(0, (self.in_flight.request, self.in_flight.command))
        for request, _ in pending:
            self._reply(request, Rejection(Code.UNAVAILABLE, "the room restarted; retry"))
        self.send(self.links.directory, RoomBroken(self.room_id, reason))

    def _passivate(self, msg: Passivate) -> None:
        assert self.links is not None
        if msg.hand_over:
            self.quiet = self.handing_over = True
            if self.in_flight is None:
                self._hand_over()
            return
        idle = self.in_flight is None and not self.stash and not self._has_work()
        if (
            idle
            and self.state.version > self.snapshot_version
            and self.state.phase is not Phase.NEW
        ):
            self.send(
                self.links.snapshot_relay, SaveSnapshot(self.room_id, self.state.version, self.state)
            )
        self.send(self.links.directory, RoomIdle(self.room_id, idle))

    def _hand_over(self) -> None:
        """Stop for another node to take over: waiting commands are refused (retry there),
        the state is snapshotted, and the directory stops this actor."""
        assert self.links is not None
        pending, self.stash = list(self.stash), deque()
        for request, _ in pending:
            self._reply(request, Rejection(Code.UNAVAILABLE, "the room is moving; retry"))
        if self.state.version > self.snapshot_version and self.state.phase is not Phase.NEW:
            self.snapshot_version = self.state.version
            self.send(
                self.links.snapshot_relay, SaveSnapshot(self.room_id, self.state.version, self.state)
            )
        self.send(self.links.directory, RoomIdle(self.room_id, True))

    def _has_work(self) -> bool:
        return bool(seats_to_move(self.state)) or next_due(self.state, self.now) is not None

    # --- commands ------------------------------------------------------------------------

    def _deliver(self, msg: Deliver) -> None:
        self.now = max(self.now, msg.command.at)
        self._submit(msg.request, msg.command)

    def _submit(self, request: int | None, command: Command) -> None:
        if self.broken:
            self._reply(request, Rejection(Code.UNAVAILABLE, "the room is restarting; retry"))
        elif self.handing_over:
            self._reply(request, Rejection(Code.UNAVAILABLE, "the room is moving; retry"))
        elif self.in_flight is not None or not self.ready:
            if len(self.stash) >= self.config.stash_limit:
                self._reply(request, Rejection(Code.OVERLOADED, "too many commands for this room"))
            else:
                self.stash.append((request, command))
        else:
            self._run(request, command)

    def _run(self, request: int | None, command: Command) -> None:
        try:
            answered = self._decide(request, command)
        except Exception:
            # The room is rebuilt from the store; its caller must still get an answer.
            self._reply(request, Rejection(Code.UNAVAILABLE, "the room failed and restarts; retry"))
            raise
        if answered:
            self._next()

    def _decide(self, request: int | None, command: Command) -> bool:
        """Answer `command` now (True), or hand its events to the group commit (False)."""
        assert self.links is not None
        key = idempotency_key(command)
        seen = self.recent.get(key) if request is not None else None
        if seen is not None and request is not None:
            first, last, body = seen
            if not same_command(command, body):
                reason = f"command id {command.command_id!r} was used for another command"
                self._reply(request, Rejection(Code.MALFORMED_COMMAND, reason))
                return True
            self._reply(request, (), first, True, command.player, last_version=last)
            return True
        result = execute(self.state, command)
        if isinstance(result, Rejection) or not result[0]:
            if request is None:
                # A bot move or timer step of the room's own came to nothing: planning it
                # again at once would repeat it forever, so wait before planning again.
                why = result.code.value if isinstance(result, Rejection) else "no events"
                log.warning(
                    "room %s: own %s came to nothing (%s)",
                    self.room_id,
                    command,
                    why,
                    extra={"room_id": self.room_id, "command_id": command.command_id},
                )
                self.hold_until = self.now + RETRY_AFTER
            self._reply(request, result if isinstance(result, Rejection) else ())
            return True
        events, new_state = result
        append = command_append(self.room_id, self.state.version, key, command, events)
        stored = append.command
        assert stored is not None
        self.in_flight = InFlight(request, command, tuple(events), new_state, key, stored)
        self.send(
            self.links.driver,
            Append(self.room_id, append, time.perf_counter(), self.myAddress),
        )
        return False

    def _committed(self, msg: Committed) -> None:
        assert self.links is not None and self.in_flight is not None
        flight, self.in_flight = self.in_flight, None
        result = msg.result
        if result.duplicate:
            # Applied before (e.g. a retry after a restart): the original outcome stands.
            self._reply(
                flight.request,
                msg.original or (),
                result.first_version,
                duplicate=True,
                player=flight.command.player,
            )
            return self._next()
        was_finished = self.state.finished
        self.state = flight.state
        self.now = max(self.now, msg.now)
        self.changed_at = self.now
        self._remember(flight.key, result.first_version, result.last_version, flight.body)
        self._reply(
            flight.request, flight.events, result.first_version, player=flight.command.player
        )
        if self.watched:
            names = tuple(s.name if s.is_human else None for s in self.state.seats)
            self.send(
                self.links.driver,
                Published(self.room_id, result.first_version, flight.events, names),
            )
        if self.state.version - self.snapshot_version >= self.config.snapshot_every:
            self.snapshot_version = self.state.version
            self.send(
                self.links.snapshot_relay, SaveSnapshot(self.room_id, self.state.version, self.state)
            )
        if self.state.finished and not was_finished:
            self.send(self.links.archive_scheduler, MatchOver(self.room_id, flight.command.at))
        self._next()

    def _conflicted(self, msg: Conflicted) -> None:
        assert self.in_flight is not None
        flight, self.in_flight = self.in_flight, None
        if msg.retired:
            # Nothing moved: the room stays as empty as it was, and its id stays taken.
            self._reply(flight.request, Rejection(Code.ROOM_EXISTS, msg.reason))
            return self._next()
        self._reply(flight.request, Rejection(Code.CONFLICT, msg.reason))
        self._break(f"stream moved: {msg.reason}")

    def _not_written(self, msg: NotWritten) -> None:
        assert self.in_flight is not None
        flight, self.in_flight = self.in_flight, None
        self._reply(flight.request, Rejection(Code.UNAVAILABLE, msg.reason))
        self.hold_until = self.now + RETRY_AFTER  # the store failed: no own moves for a while
        self._next()

    def _refused(self, msg: Refused) -> None:
        assert self.in_flight is not None
        flight, self.in_flight = self.in_flight, None
        command_id = flight.command.command_id
        reason = f"command id {command_id!r} was used for another command"
        log.warning(
            "room %s: %s",
            self.room_id,
            msg.reason,
            extra={"room_id": self.room_id, "command_id": command_id},
        )
        self._reply(flight.request, Rejection(Code.MALFORMED_COMMAND, reason))
        if flight.request is None:
            # The room's own move under an id another writer used at this version: the
            # room is behind the store, so it rebuilds rather than plan the move again.
            return self._break(f"stream moved: {msg.reason}")
        self._next()

    def _remember(self, command_id: str, first: int, last: int, body: bytes) -> None:
        self.recent[command_id] = (first, last, body)
        while len(self.recent) > self.config.dedupe_window:
            self.recent.popitem(last=False)

    def _reply(
        self,
        request: int | None,
        outcome: Rejection | tuple[Event, ...],
        first_version: int = 0,
        duplicate: bool = False,
        player: str = "",
        last_version: int = 0,
    ) -> None:
        """Answer the caller; events go out as `player`'s seat may see them (the facade
        redacts by it). A duplicate answered from memory names its versions only, and the
        driver reads them (`last_version`)."""
        if request is not None and self.links is not None:
            first = first_version or self.state.version + 1
            seat = viewer_seat(self.state, player) if player else None
            reply = Reply(request, self.room_id, outcome, first, duplicate, last_version, seat)
            self.send(self.links.driver, reply)

    # --- what next: stashed commands, bots, timers ----------------------------------------

    def _next(self) -> None:
        if self.in_flight is not None or self.broken:
            return
        if self.handing_over:
            return self._hand_over()
        if self.stash:
            request, command = self.stash.popleft()
            return self._run(request, command)
        self._plan()

    def _plan(self) -> None:
        """Fire due deadlines, else move a bot if one is due, else ask to be woken when one is."""
        if not self.ready or self.in_flight is not None or self.quiet:
            return
        if self.now < self.hold_until:
            return self._schedule(self.hold_until)
        # Deadlines come first, as in the decider: a bot answering after a deadline would
        # be refused, since the deadline decided for it.
        due = next_due(self.state, self.now)
        if due is not None and due <= self.now:
            return self._run(
                None, Tick(command_id=f"tick:{self.state.version}", player="", at=self.now)
            )
        wake = self._bot_time()
        if wake is not None and wake <= self.now:
            return self._bot_move()
        times = [t for t in (wake, due) if t is not None]
        if times:
            self._schedule(min(times))

    def _bot_time(self) -> float | None:
        if not seats_to_move(self.state):
            return None
        # A bot "thinks" for bot_delay after the room last changed, and waits out trick displays.
        return max(self.changed_at + self.config.bot_delay, ready_at(self.state))

    def _bot_move(self) -> None:
        seat = seats_to_move(self.state)[0]
        command = bot_command(self.state, seat, self.now, f"bot:{self.state.version}:{seat}")
        self._run(None, command)

    def _schedule(self, at: float) -> None:
        assert self.links is not None
        if self.scheduled is not None and self.scheduled <= at and self.scheduled >= self.now:
            return
        self.scheduled = at
        self.send(self.links.driver, Schedule(self.room_id, at))

    def _wake(self, msg: Wake) -> None:
        self.now = max(self.now, msg.now)
        if self.scheduled is not None and self.scheduled <= self.now:
            self.scheduled = None
        self._next()

    # --- views and subscriptions -----------------------------------------------------------

    def _view(self, msg: ViewRequest) -> None:
        assert self.links is not None
        if self.state.phase is Phase.NEW:
            outcome: Any = Rejection(Code.ROOM_NOT_FOUND, "this room does not exist")
        else:
            outcome = view(self.state, msg.player)
        self.send(self.links.driver, ViewReply(msg.request, outcome))

    def _watch(self, msg: Watch) -> None:
        self.watched = msg.watched

    def _quiesce(self, msg: Quiesce) -> None:
        self.quiet = True


_HANDLERS: dict[type, Any] = {
    RoomInit: RoomActor._init,
    Recover: RoomActor._recover,
    Deliver: RoomActor._deliver,
    Committed: RoomActor._committed,
    Conflicted: RoomActor._conflicted,
    NotWritten: RoomActor._not_written,
    Refused: RoomActor._refused,
    Wake: RoomActor._wake,
    Passivate: RoomActor._passivate,
    ViewRequest: RoomActor._view,
    Watch: RoomActor._watch,
    Quiesce: RoomActor._quiesce,
}
