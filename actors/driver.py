"""The driver: runs the actor system on the embedding asyncio loop and performs its I/O.

thespian's simpleSystemBase runs actors synchronously inside `tell`, on the calling
thread, and fires no timers by itself. The driver therefore owns the clock (a timer heap
that sends `Wake`s), drains what actors send to the outside after every `tell`, performs
the store I/O actors ask for (group commits, recoveries, snapshots, archival) with
aiosqlite, and reports outcomes back as messages. Work handed to actors is sliced so that
the event loop is never held for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections.abc import Callable
from typing import Any

from thespian.actors import ActorSystem

from actors.config import EngineConfig
from actors.directory import RoomDirectory
from actors.messages import (
    Append,
    ArchiveLater,
    Boot,
    Booted,
    Flush,
    Flushed,
    Lifecycle,
    Load,
    Loaded,
    LoadFailed,
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
from engine.codec import STATE_SCHEMA_VERSION, decode_records, decode_state, encode_state
from engine.evolve import evolve
from engine.rejections import Code, Rejection
from engine.state import RoomState
from engine.store.errors import OperationRefused, StoreError, StoreUnavailable
from engine.store.protocol import EventStore, InlineCommits
from engine.store.records import AppendResult, Snapshot
from projections import MarkArchived, ProjectionRunner, Refusal
from projections.supervisor import ProjectionOrder, ProjectionOrderDone, carry_out

log = logging.getLogger("actors.lifecycle")
# Outcomes told to the journal at once: enough to amortize a tell, few enough to stay short.
SETTLE_CHUNK = 4
Clock = Callable[[], float]


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


ARCHIVE_RETRY_MAX = 600.0  # seconds: the longest wait between two archival attempts


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


class Driver:
    """Owns the actor system, the store, the timers and the pending requests of one engine."""

    def __init__(
        self,
        config: EngineConfig,
        store: EventStore,
        clock: Clock,
        runner: ProjectionRunner | None = None,
    ) -> None:
        self.config = config
        self.store = store
        # The embedded backend's commit on this thread (see `_commit_now`); None elsewhere.
        self.inline: InlineCommits | None = store if isinstance(store, InlineCommits) else None
        self.runner = runner
        self.projection_supervisor: Any = None
        self.clock = clock
        self.metrics = Metrics()
        self.asys: Any = None
        self.directory: Any = None
        self.journal: Any = None
        self.requests: dict[int, asyncio.Future[Any]] = {}
        self.request_ids = itertools.count(1)
        self.timers: list[tuple[float, int, str, str]] = []
        self.archive_failures: dict[str, int] = {}  # room id -> failed archivals in a row
        self.timer_seq = itertools.count()
        self.timer_changed = asyncio.Event()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.subscribers: dict[str, set[Callable[[Published], None]]] = {}
        self.commits_idle = asyncio.Event()
        self.commits_idle.set()
        self.commits_in_flight = 0
        self.committing_now = False  # a batch is being settled by `_commit_now`
        self.closing = False
        self.clock_task: asyncio.Task[None] | None = None
        self.clock_stopped = False

    # --- start and stop ----------------------------------------------------------------------

    def start(self) -> None:
        self.asys = ActorSystem("simpleSystemBase", transientUnique=True)
        skip_idle_wakeups(self.asys)
        self.directory = self.asys.createActor(RoomDirectory)
        self.tell(self.directory, Boot(self.config))
        self.clock_task = asyncio.get_running_loop().create_task(self._run_clock())
        self.add_timer(self.clock() + self.config.sweep_interval, "sweep", "")
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
                        self.add_timer(at, "archive", info.stream_id)
                if len(page) < 500:
                    break
                offset += len(page)

    async def stop(self) -> None:
        """Finish in-flight commits and I/O, then stop the actors; nothing acknowledged is lost."""
        self.closing = True
        self.tell(self.directory, Quiesce())
        # Commands already with the rooms still finish; nothing new starts by itself.
        while self.tasks or not self.commits_idle.is_set():
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
            await self.commits_idle.wait()
        if self.clock_task is not None:
            self.clock_stopped = True
            self.timer_changed.set()
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
        """Deliver `message` (actors run now, synchronously) and handle what they send out."""
        self.asys.tell(address, message)
        while (out := self.asys.listen(0)) is not None:
            self._dispatch(out)

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
        elif kind is Flush:
            if not self._commit_now(out):
                self._spawn(self._commit(out))
        elif kind is Schedule:
            self.add_timer(out.at, "wake", out.room_id)
        elif kind is Published:
            for deliver in list(self.subscribers.get(out.room_id, ())):
                deliver(out)
        elif kind is ViewReply:
            self._resolve(out.request, out.view)
        elif kind is Load:
            self._spawn(self._load(out.room_id))
        elif kind is SaveSnapshot:
            self._spawn(self._save_snapshot(out))
        elif kind is ArchiveLater:
            self._spawn(self._complete(out))
        elif kind is Lifecycle:
            self._lifecycle(out)
        elif kind is Booted:
            self.journal = out.journal
            self.projection_supervisor = out.projection_supervisor
        elif kind is ProjectionOrder:
            self._spawn(self._projection_order(out))

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
            records = await self.store.read_stream(
                out.room_id, out.first_version - 1, out.last_version
            )
            events = tuple(decode_records(records))
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

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("engine task failed", exc_info=task.exception())

    # --- group commit ------------------------------------------------------------------------

    def _commit_now(self, flush: Flush) -> bool:
        """Commit a small batch at once, on this thread, and settle it, if the store can do
        it without waiting (an inline commit: see docs/store.md); False if the batch must
        take the asynchronous way (`_commit`).

        Spares the batch its wait for a task of its own behind whatever else the loop has
        queued. Not while another batch settles this way: the rooms it wakes may append
        again, and their batch takes the asynchronous way rather than nesting deeper.
        """
        if self.committing_now or self.inline is None:
            return False
        started = time.perf_counter()
        requests = [a.request for a in flush.appends]
        done: list[Any] | None
        try:
            done = self.inline.append_batch_now(requests)
        except Exception as exc:  # every caller in the batch gets an answer, whatever failed
            done = [commit_failure(exc)] * len(requests)
        if done is None:
            return False
        outcomes = self._committed(flush, list(done), started)
        if any(isinstance(o, tuple) and o[0].duplicate for _, o in outcomes):
            self._spawn(self._settle(flush.batch, outcomes))  # originals are read first
            return True
        self.committing_now = True
        try:
            self.tell(self.journal, Flushed(flush.batch, outcomes, True))
        finally:
            self.committing_now = False
        return True

    async def _commit(self, flush: Flush) -> None:
        self.commits_in_flight += 1
        self.commits_idle.clear()
        try:
            started = time.perf_counter()
            requests = [a.request for a in flush.appends]
            try:
                results: list[Any] = list(await self.store.append_batch(requests))
            except Exception as exc:  # every caller in the batch gets an answer, whatever failed
                results = [commit_failure(exc)] * len(requests)
            await self._settle(flush.batch, self._committed(flush, results, started))
        finally:
            self.commits_in_flight -= 1
            if not self.commits_in_flight:
                self.commits_idle.set()

    def _committed(
        self, flush: Flush, results: list[Any], started: float
    ) -> list[tuple[Append, Any]]:
        """Count a finished commit in the metrics; each append's outcome: (result, None,
        now) when it is durable (`_settle` reads a duplicate's original events), or the
        failure."""
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(results))
        self.metrics.counters["commits"] += 1
        now = self.clock()
        durable_at = time.perf_counter()
        outcomes: list[tuple[Append, Any]] = []
        for append, result in zip(flush.appends, results, strict=True):
            if isinstance(result, AppendResult):
                self.metrics.durable_latency.observe(durable_at - append.queued_at)
                outcomes.append((append, (result, None, now)))
            else:
                self.metrics.counters["append_failures"] += 1
                outcomes.append((append, result))
        return outcomes

    async def _settle(self, batch: int, outcomes: list[tuple[Append, Any]]) -> None:
        """Tell the journal the outcome a few rooms at a time, yielding to the loop whenever
        about `max_slice` of actor work has run, so the loop stays responsive. A retried
        command's outcome carries its original events, read from the store first."""
        for i, (append, outcome) in enumerate(outcomes):
            if isinstance(outcome, tuple) and outcome[0].duplicate:
                result, _, now = outcome
                try:
                    records = await self.store.read_stream(
                        append.room_id, result.first_version - 1, result.last_version
                    )
                    outcomes[i] = (append, (result, tuple(decode_records(records)), now))
                except Exception as exc:  # the caller must get an answer, never wait forever
                    outcomes[i] = (append, commit_failure(exc))
        slice_started = time.perf_counter()
        i = 0
        while i < len(outcomes):
            part = outcomes[i : i + SETTLE_CHUNK]
            i += len(part)
            self.tell(self.journal, Flushed(batch, part, i >= len(outcomes)))
            if i < len(outcomes) and time.perf_counter() - slice_started > self.config.max_slice:
                await asyncio.sleep(0)
                slice_started = time.perf_counter()

    # --- recovery, snapshots, archival --------------------------------------------------------

    async def _load(self, room_id: str) -> None:
        started = time.perf_counter()
        try:
            state, snapshot_version = await self._recover_state(room_id)
            # The room answers retries of its latest commands from memory, as before the restart.
            commands = await self.store.read_commands(room_id) if state.version else []
        except Exception as exc:  # a store or decoding failure: the room stays unavailable
            log.exception("room %s could not be loaded", room_id)
            self.tell(self.directory, LoadFailed(room_id, f"{type(exc).__name__}: {exc}"))
            return
        recent = tuple(
            (c.command_id, c.first_version, c.last_version, c.command)
            for c in commands[-self.config.dedupe_window :]
        )
        self.metrics.recovery_seconds.observe(time.perf_counter() - started)
        self.tell(self.directory, Loaded(room_id, state, recent, snapshot_version, self.clock()))

    async def _recover_state(self, room_id: str) -> tuple[RoomState, int]:
        return await recover_room(self.store, room_id)

    async def _save_snapshot(self, msg: SaveSnapshot) -> None:
        version, payload = encode_state(msg.state)
        try:
            await self.store.save_snapshot(Snapshot(msg.room_id, msg.version, version, payload))
            self.metrics.counters["snapshots"] += 1
        except OperationRefused as exc:
            # e.g. the match was archived meanwhile: a snapshot is only an optimisation.
            log.debug("snapshot of %s at v%d not taken: %s", msg.room_id, msg.version, exc)
        except StoreError:
            log.warning("snapshot of %s at v%d not saved", msg.room_id, msg.version, exc_info=True)

    async def _complete(self, msg: ArchiveLater) -> None:
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
            self.add_timer(msg.at, "archive", msg.room_id)

    async def _archive(self, room_id: str) -> None:
        try:
            info = await self.store.stream_info(room_id)
            if info is None or info.status != "completed":
                self.archive_failures.pop(room_id, None)
                return  # archived already (two timers may name one match after a restart)
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
                self.add_timer(self.clock() + delay, "archive", room_id)
            return
        self.archive_failures.pop(room_id, None)
        self.metrics.counters["archived"] += 1
        self._log("archive", room_id, {})
        if self.runner is not None:
            await self.runner.execute(MarkArchived(room_id))

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
        log.info("event=room.%s room=%s %s", kind, room_id, extra)

    # --- the clock ----------------------------------------------------------------------------

    def add_timer(self, at: float, kind: str, key: str) -> None:
        first = self.timers[0][0] if self.timers else None
        heapq.heappush(self.timers, (at, next(self.timer_seq), kind, key))
        if first is None or at < first:
            self.timer_changed.set()

    async def _run_clock(self) -> None:
        # Stopped by `clock_stopped` plus a wake-up, not by cancellation alone: Python
        # 3.11's asyncio.wait_for can swallow a cancel that arrives as its inner wait
        # completes, and the loop then ran on forever, so `stop()` never returned (seen
        # in the SIGKILL campaign's finishing life). asyncio.timeout has no such race.
        while not self.clock_stopped:
            now = self.clock()
            if self._fire_due(now):
                # More is due than one slice of the loop's time: let commits and callers in.
                await asyncio.sleep(0)
                continue
            self.timer_changed.clear()
            delay = self.timers[0][0] - now if self.timers else 3600.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0)):
                    await self.timer_changed.wait()

    def _fire_due(self, now: float) -> bool:
        """Fire the timers due at `now` for at most about `max_slice` of actor work; True
        when some are still due (1,000 rooms' bot timers bunch up: fired in one go, they
        held the loop for ~10 ms while commits and callers waited)."""
        started = time.perf_counter()
        while self.timers and self.timers[0][0] <= now:
            _, _, kind, key = heapq.heappop(self.timers)
            self._fire(kind, key, now)
            if time.perf_counter() - started > self.config.max_slice:
                return bool(self.timers) and self.timers[0][0] <= now
        return False

    def _fire(self, kind: str, key: str, now: float) -> None:
        if kind == "wake":
            self.tell(self.directory, Wake(key, now))
        elif kind == "sweep":
            self.tell(self.directory, Sweep(now))
            self.add_timer(now + self.config.sweep_interval, "sweep", "")
            if self.config.retention_days is not None:
                self._spawn(self.store.apply_retention(self.config.retention_days))
        elif kind == "archive" and not self.closing:
            self._spawn(self._archive(key))


def commit_failure(exc: Exception) -> StoreError:
    """A failed commit as the typed error its callers get; what the store did not type
    (a bug, a database error it does not expect) is logged with its trace."""
    if isinstance(exc, StoreError):
        return exc
    log.error("commit failed unexpectedly", exc_info=exc)
    return StoreUnavailable(f"{type(exc).__name__}: {exc}")
