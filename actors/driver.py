"""The driver: runs the actor system on the embedding asyncio loop and performs its I/O.

thespian's simpleSystemBase runs actors synchronously inside `tell`, on the calling
thread, and fires no timers by itself. The driver is the composition root of what the
actors cannot do themselves: it drains what they send to the outside after every
`tell`, hands appends to the group commit (`actors/commits.py`) and flushes it once the
actors are quiet, keeps the clock (`actors/clock.py`), performs the other store I/O they
ask for (`actors/storage.py`) and delivers published events to subscribers. Work handed
to actors is sliced so that the event loop is never held for long.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from thespian.actors import ActorSystem

from actors.clock import ArchiveMatch, SweepRooms, Timer, Timers, WakeRoom
from actors.commits import Acknowledged, GroupCommit
from actors.config import EngineConfig
from actors.directory import RoomDirectory
from actors.messages import (
    Acknowledge,
    Append,
    ArchiveLater,
    Boot,
    Booted,
    Lifecycle,
    Load,
    Published,
    Quiesce,
    Reply,
    SaveSnapshot,
    Schedule,
    Sweep,
    ViewReply,
    Wake,
)
from actors.metrics import Metrics
from actors.projection_supervisor import ProjectionOrder, ProjectionOrderDone, carry_out
from actors.storage import RoomStorage, original_events, recover_room
from engine.rejections import Code, Rejection
from engine.state import RoomState
from engine.store.protocol import EventStore
from projections import ProjectionRunner, Refusal

log = logging.getLogger("liaptui.lifecycle")
Clock = Callable[[], float]

__all__ = [
    "Clock",
    "Driver",
    "forget_dead_actors",
    "recover_room",
    "skip_delivery_log",
    "skip_idle_wakeups",
]


def skip_idle_wakeups(asys: Any) -> bool:
    """Spare thespian's scan of its wakeup list before every message while it is empty.

    `simpleSystemBase` partitions its list of pending `wakeupAfter` timers (a fold over
    lambdas) before it delivers each message. The engine's actors never ask for wakeups
    (timers live in the driver), yet with 1,000 live rooms the empty scan took ~10 % of
    the loop thread (py-spy); skipping it gave 1-5 % more durable commands/s (the store's
    thread shares the GIL). Returns False, changing nothing, if thespian's internals are
    not the expected ones.
    """
    base: Any = getattr(asys, "_systemBase", None)
    realize = getattr(base, "_realizeWakeups", None)
    if realize is None or not isinstance(getattr(base, "_wakeUps", None), list):
        return False

    def realize_if_any() -> None:
        if base._wakeUps:
            realize()

    base._realizeWakeups = realize_if_any
    return True


def skip_delivery_log(asys: Any) -> bool:
    """Hand each message straight to its actor's `receiveMessage`.

    `simpleSystemBase` calls every actor through a wrapper that first looks up its logger
    and logs the message at debug level (`logging.getLogger` takes the logging module's
    lock each time), three to five times a command. Actors created after this call are
    handed their messages without it; nothing else about delivery changes. Returns False,
    changing nothing, if thespian's internals are not the expected ones.
    """
    base: Any = getattr(asys, "_systemBase", None)
    make = getattr(base, "_newRefAndActor", None)
    if make is None:
        return False

    def make_direct(*args: Any, **kwargs: Any) -> Any:
        ref = make(*args, **kwargs)
        actor: Any = getattr(ref, "instance", None)
        wrapper = getattr(getattr(actor, "_receive", None), "__func__", None)
        if getattr(wrapper, "__name__", "") == "actor_base_receive":
            actor._receive = actor.receiveMessage
        return ref

    base._newRefAndActor = make_direct
    return True


def outbox(asys: Any) -> list[Any] | None:
    """The list in which `simpleSystemBase` keeps what actors sent to the outside (the
    driver), or None if thespian's internals are not the expected ones.

    `tell` runs every actor to completion before it returns, so what they sent waits
    there; taking it from the list spares `listen`'s run of an empty send queue (a timer
    object and a scan) for every message and once more at the end.
    """
    base: Any = getattr(asys, "_systemBase", None)
    registry = getattr(base, "actorRegistry", None)
    external = getattr(registry, "get", lambda _: None)("System:ExternalRequester")
    actor = getattr(external, "instance", None)
    if actor is None or type(actor).__name__ != "External":
        return None
    if not isinstance(getattr(actor, "responses", None), list):
        actor.responses = []
    responses: list[Any] = actor.responses
    return responses


def forget_dead_actors(asys: Any) -> int:
    """Drop thespian's registry entries of actors that exited; how many were dropped.

    `simpleSystemBase` marks an exited actor's address `None` in its registry and never
    deletes it, so every room ever passivated or probed kept ~125 bytes for the life of
    the process (20,000 probes of rooms that do not exist: +2.5 MB). A message to a
    forgotten address is handled as to a dead one (the registry lookup finds nothing
    either way), and addresses are never reused. Returns 0, changing nothing, if
    thespian's internals are not the expected ones.
    """
    base: Any = getattr(asys, "_systemBase", None)
    registry = getattr(base, "actorRegistry", None)
    if not isinstance(registry, dict):
        return 0
    dead = [address for address, ref in registry.items() if ref is None]
    for address in dead:
        del registry[address]
    return len(dead)


class Driver:
    """Owns the actor system, the store, the timers and the pending requests of one engine."""

    directory_class: type = RoomDirectory  # a cluster node's directory also hands rooms over
    # thespian's logging set-up for the in-process actors; False inside a thespian actor
    # process (a cluster node), whose logging thespian owns already.
    log_defs: Any = None

    def __init__(
        self,
        config: EngineConfig,
        store: EventStore,
        clock: Clock,
        runner: ProjectionRunner | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.runner = runner
        self.projection_supervisor: Any = None
        self.clock = clock
        self.metrics = Metrics()
        self.asys: Any = None
        self.outbox: list[Any] | None = None
        self.directory: Any = None
        self.requests: dict[int, asyncio.Future[Any]] = {}
        self.request_ids = itertools.count(1)
        self.tasks: set[asyncio.Task[Any]] = set()
        self.subscribers: dict[str, set[Callable[[Published], None]]] = {}
        self.closing = False
        self.clock_task: asyncio.Task[None] | None = None
        self.clock_ticks = Timers(
            clock,
            config.max_slice,
            self._fire,
            self.metrics.timer_lateness.observe,
            self._settle_timers,
        )
        self.commits = GroupCommit(store, config, clock, self.metrics, self._acknowledge, self._spawn)
        self.storage = RoomStorage(
            store, config, clock, self.metrics, self._tell_directory, self.add_timer, runner
        )

    # What tests and tools watch to know the engine is quiet.

    @property
    def timers(self) -> list[tuple[float, int, Timer]]:
        """The timer heap: (due time, sequence, timer), earliest first."""
        return self.clock_ticks.heap

    @property
    def timer_changed(self) -> asyncio.Event:
        return self.clock_ticks.changed

    @property
    def commits_idle(self) -> asyncio.Event:
        return self.commits.idle

    @property
    def archive_failures(self) -> dict[str, int]:
        """Room id -> failed archivals in a row, for matches waiting to be retried."""
        return self.storage.archive_failures

    # --- start and stop ----------------------------------------------------------------------

    def start(self) -> None:
        self.asys = ActorSystem("simpleSystemBase", logDefs=self.log_defs, transientUnique=True)
        skip_idle_wakeups(self.asys)
        skip_delivery_log(self.asys)
        self.outbox = outbox(self.asys)
        self.directory = self.asys.createActor(self.directory_class)
        self.tell(self.directory, Boot(self.config))
        self.clock_task = asyncio.get_running_loop().create_task(self.clock_ticks.run())
        self.add_timer(self.clock() + self.config.sweep_interval, SweepRooms())
        self._spawn(self._resume_active())

    async def _resume_active(self) -> None:
        """Wake every room whose match was still going when the engine last stopped, and
        archive the finished matches whose archival timer died with the previous run."""
        for status in ("active", "completed"):
            offset = 0
            while not self.closing:
                page = await self.store.list_streams(status=status, limit=500, offset=offset)
                for info in page:
                    if status == "active":
                        self.tell(self.directory, Wake(info.stream_id, self.clock()))
                    elif self.config.archive_after is not None:
                        # Counted from now: the store's timestamps are not the engine's clock.
                        at = self.clock() + self.config.archive_after
                        self.add_timer(at, ArchiveMatch(info.stream_id))
                if len(page) < 500:
                    break
                offset += len(page)

    async def stop(self) -> None:
        """Finish in-flight commits and I/O, then stop the actors; nothing acknowledged is lost."""
        self.closing = True
        self.storage.closing = True
        self.commits.closing = True
        self.tell(self.directory, Quiesce())
        # Commands already with the rooms still finish; nothing new starts by itself.
        while self.tasks or not self.commits_idle.is_set() or self.commits.pending:
            self.commits.flush()
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
            await self.commits_idle.wait()
            await asyncio.sleep(0)
        if self.clock_task is not None:
            self.clock_ticks.stop()
            self.clock_task.cancel()
            await asyncio.gather(self.clock_task, return_exceptions=True)
        for future in self.requests.values():
            if not future.done():
                future.set_exception(RuntimeError("engine closed"))
        if self.asys is not None:
            self.asys.shutdown()
            self.asys = None

    # --- talking to the actors ---------------------------------------------------------------

    def tell(self, address: Any, message: Any) -> None:
        """Deliver `message` (actors run now, synchronously), handle what they send out,
        then commit the appends they made."""
        self._deliver(address, message)
        self.commits.flush()

    def _deliver(self, address: Any, message: Any) -> None:
        """`tell` without the commit: what the actors appended waits for the next flush."""
        self.asys.tell(address, message)
        if self.outbox is not None:
            outbox = self.outbox
            while outbox:
                self._dispatch(outbox.pop(0))
        else:
            while (out := self.asys.listen(0)) is not None:
                self._dispatch(out)

    def _tell_directory(self, message: Any) -> None:
        if self.asys is not None:
            self.tell(self.directory, message)

    def request(self, message_for: Callable[[int], Any]) -> asyncio.Future[Any]:
        """Send a message that expects a reply; the future resolves with the reply."""
        request = next(self.request_ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.requests[request] = future
        self.tell(self.directory, message_for(request))
        return future

    def _dispatch(self, out: Any) -> None:
        kind = type(out)
        if kind is Reply:
            self._reply(out)
        elif kind is Append:
            self.commits.add(out)
        elif kind is Schedule:
            self.add_timer(out.at, WakeRoom(out.room_id))
        elif kind is Published:
            for deliver in list(self.subscribers.get(out.room_id, ())):
                deliver(out)
        elif kind is ViewReply:
            self._resolve(out.request, out.view)
        elif kind is Load:
            self._spawn(self.storage.load(out.room_id))
        elif kind is SaveSnapshot:
            self._spawn(self.storage.save_snapshot(out))
        elif kind is ArchiveLater:
            self._spawn(self.storage.complete(out))
        elif kind is Lifecycle:
            self._lifecycle(out)
        elif kind is Booted:
            self.projection_supervisor = out.projection_supervisor
        elif kind is ProjectionOrder:
            self._spawn(self._projection_order(out))

    def _acknowledge(self, outcomes: Acknowledged) -> None:
        """One message acknowledges a slice of a commit to every room in it."""
        if self.asys is not None:
            self.tell(self.directory, Acknowledge(outcomes))

    async def _projection_order(self, order: ProjectionOrder) -> None:
        if self.runner is None:
            outcome = ProjectionOrderDone(order.request, Refusal("off", "projections are disabled"))
        else:
            outcome = await carry_out(self.runner, order)
        if self.asys is not None:
            self.tell(self.projection_supervisor, outcome)

    def _reply(self, out: Reply) -> None:
        if out.duplicate and not out.outcome and out.last_version >= out.first_version:
            # Answered from the room's memory of recent ids: fetch the original events.
            self._spawn(self._reply_duplicate(out))
            return
        self._resolve(out.request, out)

    async def _reply_duplicate(self, out: Reply) -> None:
        try:
            events = await original_events(
                self.store, out.room_id, out.first_version, out.last_version
            )
        except Exception as exc:  # the caller must get an answer, never wait forever
            log.warning("could not read the original outcome in %s", out.room_id, exc_info=True)
            reason = f"the original outcome could not be read ({type(exc).__name__}); retry"
            self._resolve(
                out.request, Reply(out.request, out.room_id, Rejection(Code.UNAVAILABLE, reason), 0)
            )
            return
        self._resolve(
            out.request,
            Reply(out.request, out.room_id, events, out.first_version, True, seat=out.seat),
        )

    def _resolve(self, request: int, value: Any) -> None:
        future = self.requests.pop(request, None)
        if future is not None and not future.done():
            future.set_result(value)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task failed", exc_info=task.exception())

    # --- rooms' lives -------------------------------------------------------------------------

    async def _recover_state(self, room_id: str) -> tuple[RoomState, int]:
        return await recover_room(self.store, room_id)

    async def _archive(self, room_id: str) -> None:
        if await self.storage.archive(room_id):
            self._log("archive", room_id, {})

    def _lifecycle(self, msg: Lifecycle) -> None:
        if msg.kind in ("start", "recover"):
            self.metrics.live_rooms += 1
        elif msg.kind in ("passivate", "crash"):
            # A room that failed to load was never counted live.
            self.metrics.live_rooms -= 1
        self.metrics.counters[f"room_{msg.kind}"] += 1
        self._log(msg.kind, msg.room_id, msg.fields)

    def _log(self, kind: str, room_id: str, fields: dict[str, Any]) -> None:
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        log.info(
            "event=room.%s room=%s %s",
            kind,
            room_id,
            extra,
            extra={"event": f"room.{kind}", "room_id": room_id},
        )

    # --- the clock ----------------------------------------------------------------------------

    def _settle_timers(self) -> None:
        if self.asys is not None:
            self.commits.flush()

    def add_timer(self, at: float, timer: Timer) -> None:
        self.clock_ticks.add(at, timer)

    def _fire(self, timer: Timer, now: float) -> None:
        if isinstance(timer, WakeRoom):
            # The rooms woken in one slice commit together (`_settle_timers`): at a
            # person's pace each wake-up would otherwise be a commit of its own.
            self._deliver(self.directory, Wake(timer.room_id, now))
        elif isinstance(timer, SweepRooms):
            self.tell(self.directory, Sweep(now))
            forget_dead_actors(self.asys)
            self.add_timer(now + self.config.sweep_interval, SweepRooms())
            if self.config.retention_days is not None:
                self._spawn(self.store.apply_retention(self.config.retention_days))
        elif isinstance(timer, ArchiveMatch) and not self.closing:
            self._spawn(self._archive(timer.room_id))
