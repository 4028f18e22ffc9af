"""The projection runner: folds the global event log into read models, on the asyncio loop.

It catches each projection up from its checkpoint with `store.read_all` in batches, then
follows the log live with `store.wait_for_position` (no polling). Folding and committing
run on one database thread, one transaction per batch holding every lane's rows and
checkpoint. Instructions (pause, resume, reset, rebuild, skip...) are carried out by the
loop between batches, so they never race a fold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from engine.store.errors import StoreError
from engine.store.protocol import EventStore
from engine.store.records import RecordedEvent
from engine.store.sqlite import is_damaged_file
from projections import archived, database
from projections.database import CheckpointMoved, Lane, Stored
from projections.instructions import (
    Instruction,
    MarkArchived,
    Pause,
    Rebuild,
    Refusal,
    Reset,
    Resume,
    Skip,
    StatusRequest,
)
from projections.lease import FoldLease
from projections.protocol import Connection, Projection, ReadModelsDamaged
from projections.status import (
    ProjectionStatus,
    RebuildStatus,
    RunnerStatus,
    SkippedEvent,
)

log = logging.getLogger("liaptui.projections")

T = TypeVar("T")
Outcome = RunnerStatus | Refusal

_MAX_BACKOFF_S = 30.0
_STOPPED = "this runner stopped on an error and let the fold lease go"


@dataclass(eq=False)
class Slot:
    """A projection as the runner tracks it: its live lane, a rebuild in progress, its skips."""

    projection: Projection
    live: Lane
    shadow: Lane | None
    paused: bool
    skipped: dict[int, SkippedEvent] = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        """The live tables were built by another version: they serve but are not folded."""
        return self.live.version != self.projection.version

    @property
    def folding(self) -> bool:
        return not self.paused and self.live.fault is None and not self.stale


class ProjectionRunner:
    """Keeps read models in their own SQLite file up to date with an event store.

    async with ProjectionRunner(store, default_projections(), "games.projections.db") as r:
        await r.wait_caught_up()
    """

    def __init__(
        self,
        store: EventStore,
        projections: Sequence[Projection],
        path: database.Target,
        *,
        batch_size: int = 10_000,
        idle_timeout: float = 5.0,
        gather_for: float = 0.0,
        clock: Callable[[], float] = time.time,
        takeover_interval: float = 0.5,
        lease: FoldLease | None = None,
    ) -> None:
        names = [p.name for p in projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique: {names}")
        if batch_size <= 0:
            raise ValueError("batch_size must be positive")
        self.store = store
        self.projections = tuple(projections)
        self.path = path
        self.batch_size = batch_size
        # A fallback for commits made by another store object (another process): the
        # store only notifies waiters of commits made through the same object.
        self.idle_timeout = idle_timeout
        # Seconds to let new events gather after the log grows before folding them: one
        # read and one read-model commit per interval instead of one per engine commit,
        # which keeps the runner's work off the engine's commit path (they share the GIL
        # and the store's thread). The read models trail the log by about this much more.
        self.gather_for = gather_for
        self.clock = clock
        # How often a runner that stands by reads the holder's checkpoints and tries the lease.
        self.takeover_interval = takeover_interval
        self._lease = lease
        self._own_lease = lease is None
        self.before_commit: Callable[[], None] | None = None
        """Test hook: called on the database thread after a batch is folded, before COMMIT."""
        self._executor: ThreadPoolExecutor | None = None
        self._conn: Connection | None = None
        self._slots: dict[str, Slot] = {}
        self._head = 0
        self._pending: list[tuple[Instruction, asyncio.Future[Outcome]]] = []
        self._wake = asyncio.Event()
        self._progress: asyncio.Future[None] | None = None
        self._running = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._error: str | None = None
        # None while this runner holds the fold lease; else why it stands by.
        self._standby: str | None = None
        self._recheck_lease = False
        # Match history's archived flags are derived from the store once caught up.
        self._archived_due = True

    # --- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> ProjectionRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the read-model file, create what is missing, start rebuilds of bumped versions."""
        if self._conn is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="projections")
        try:
            self._conn = await self._db(database.open_connection, self.path)
            stored = await self._db(database.prepare, self._conn, self.projections, self.clock())
        except sqlite3.DatabaseError as exc:
            if not is_damaged_file(exc):
                raise
            await self.close()
            raise ReadModelsDamaged(database.describe(self.path), exc) from exc
        head = await self.store.last_position()
        self._head = head
        if await self._db(self.lease.try_acquire):
            await self._adopt(stored, head)
        else:
            await self._stand_by(stored)

    async def _stand_by(self, stored: dict[str, Stored]) -> None:
        """Follow another runner's checkpoints: serve, fold nothing, wait for the lease."""
        if self._standby is None or self._standby == _STOPPED:
            holder = await self._db(self.lease.holder)
            self._standby = (
                f"{holder} folds these read models; this runner serves queries and "
                "takes over when it stops"
            )
            log.warning("projection runner stands by: %s", self._standby)
        self._slots = {
            name: Slot(found.live.projection, found.live, found.shadow, found.paused, found.skipped)
            for name, found in stored.items()
        }
        self._head = max([self._head, *(slot.live.position for slot in self._slots.values())])
        self._notify()

    async def _reload(self) -> None:
        """Read the stored checkpoints again (another runner moved them)."""
        stored = await self._db(database.load, self._connection(), self.projections)
        if self._standby is None:
            await self._adopt(stored, await self.store.last_position())
        else:
            await self._stand_by(stored)

    async def _adopt(self, stored: dict[str, Stored], head: int) -> None:
        """Fold from the stored checkpoints; start the rebuilds that opening calls for."""
        if self._standby is not None:
            log.warning("projection runner takes over folding from %d", head)
            self._standby = None
        self._slots = {}
        for projection in self.projections:
            found = stored[projection.name]
            slot = Slot(projection, found.live, found.shadow, found.paused, found.skipped)
            self._slots[projection.name] = slot
            shadow = slot.shadow
            if shadow is not None and shadow.version != projection.version:
                shadow = None
            went_back = slot.live.position > head or (shadow is not None and shadow.position > head)
            if went_back:
                # Folded past the log's end: the log went back (a restore, a lost tail),
                # so these rows may hold matches that no longer exist.
                log.warning(
                    "projection %s: folded to %d but the log ends at %d; rebuilding",
                    projection.name,
                    max(slot.live.position, shadow.position if shadow else 0),
                    head,
                )
                shadow = await self._db(
                    database.start_shadow, self._conn, projection, None, self.clock()
                )
                await self._db(archived.forget, self._conn)
            elif shadow is None and slot.stale:
                log.info(
                    "projection %s: version %d -> %d, rebuilding",
                    projection.name,
                    slot.live.version,
                    projection.version,
                )
                shadow = await self._db(
                    database.start_shadow, self._conn, projection, None, self.clock()
                )
            slot.shadow = shadow
        self._head = max(self._head, head)
        self._archived_due = True
        self._notify()

    async def start(self) -> None:
        """Open, then run the loop in a task of its own."""
        await self.open()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        """Fold until `stop()`; a failure of the store or of the read-model file that may
        pass (a full disk) is retried with back-off, and raises only on damage."""
        await self.open()
        if self._running:
            raise RuntimeError("the runner is already running")
        self._running = True
        self._error = None
        try:
            await self._loop()
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._error = f"{type(exc).__name__}: {exc}"
                log.exception("projection runner stopped")
                await self._let_go()
            raise
        finally:
            self._running = False
            self._stopping = False
            self._notify()
            await self._answer_pending()

    async def _let_go(self) -> None:
        """Stopped on an error: let the fold lease go, so that another runner can fold.
        Started again (or instructed), this one takes it back if it is still free."""
        if self._standby is not None or self._lease is None:
            return
        with contextlib.suppress(Exception):
            await self._db(self._lease.release)
        self._standby = _STOPPED

    async def stop(self) -> None:
        """Stop the loop after the batch in flight; the file stays open for queries."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        """Stop, and close the read-model file (letting the fold lease go)."""
        await self.stop()
        if self._lease is not None and self._executor is not None:
            with contextlib.suppress(StoreError):
                await self._db(self._lease.release)
        if self._own_lease:
            self._lease = None  # the next open takes one on its new connection
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._db(conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    # --- instructions ----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the loop is running (or about to, after `start`)."""
        return self._running or (self._task is not None and not self._task.done())

    async def instruct(self, instruction: Instruction) -> Outcome:
        """Carry out an instruction between batches; the status after it, or a refusal."""
        if not self.running:
            return await self._carry_out(instruction)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._pending.append((instruction, future))
        self._wake.set()
        return await future

    async def _answer_pending(self) -> None:
        pending, self._pending = self._pending, []
        for instruction, future in pending:
            if future.done():
                continue
            try:
                future.set_result(await self._carry_out(instruction))
            except Exception as exc:
                future.set_exception(exc)

    async def _carry_out(self, instruction: Instruction) -> Outcome:
        conn = self._connection()
        now = self.clock()
        if isinstance(instruction, StatusRequest):
            return self.status()
        if isinstance(instruction, MarkArchived):
            at = now if instruction.at is None else instruction.at
            try:
                await self._db(database.mark_archived, conn, instruction.room_id, at)
            except sqlite3.Error:
                self._archived_due = True  # derived from the store once the file takes it
                raise
            return self.status()
        if instruction.name not in self._slots:
            return Refusal("unknown_projection", f"no projection called {instruction.name!r}")
        if self._standby is not None and not await self._take_lease():
            return Refusal("not_folding", f"{self._standby}; instruct that runner")
        slot = self._slots[instruction.name]
        if isinstance(instruction, Pause):
            await self._db(database.set_paused, conn, slot.projection.name, True, now)
            slot.paused = True
        elif isinstance(instruction, Resume):
            await self._db(database.set_paused, conn, slot.projection.name, False, now)
            await self._db(database.clear_faults, conn, slot.projection.name, now)
            slot.paused = False
            slot.live.fault = None
            if slot.shadow is not None:
                slot.shadow.fault = None
        elif isinstance(instruction, Rebuild):
            slot.shadow = await self._db(database.start_shadow, conn, slot.projection, None, now)
        elif isinstance(instruction, Reset):
            head = await self.store.last_position()
            if not 0 <= instruction.position <= head:
                return Refusal(
                    "bad_position", f"reset to {instruction.position}: the log ends at {head}"
                )
            slot.shadow = await self._db(
                database.start_shadow, conn, slot.projection, instruction.position, now
            )
        elif isinstance(instruction, Skip):
            refusal = await self._skip(slot, instruction, now)
            if refusal is not None:
                return refusal
        self._notify()
        return self.status()

    async def _skip(self, slot: Slot, skip: Skip, now: float) -> Refusal | None:
        lanes = [lane for lane in (slot.live, slot.shadow) if lane is not None]
        if all(skip.position <= lane.position for lane in lanes):
            return Refusal(
                "already_folded",
                f"{slot.projection.name} has folded position {skip.position}; reset it instead",
            )
        head = await self.store.last_position()
        if skip.position > head:
            return Refusal("bad_position", f"no event at {skip.position}: the log ends at {head}")
        faults = [lane.fault for lane in lanes if lane.fault is not None]
        error = next((f.error for f in faults if f.position == skip.position), None)
        skipped = SkippedEvent(
            slot.projection.name, skip.position, slot.projection.version, skip.reason, error, now
        )
        await self._db(database.record_skip, self._connection(), skipped)
        # Copied, not changed in place: status() may be read from another thread.
        slot.skipped = {**slot.skipped, skip.position: skipped}
        for lane in lanes:
            if lane.fault is not None and lane.fault.position == skip.position:
                lane.fault = None
        return None

    # --- status ----------------------------------------------------------------------------

    def status(self) -> RunnerStatus:
        """Checkpoints, lag, pauses, faults, rebuilds and skipped events, from memory."""
        now = self.clock()
        head = self._head
        projections = []
        for slot in self._slots.values():
            live = slot.live
            behind = max(0, head - live.position)
            lag: float | None = 0.0
            if behind:
                lag = None if live.newest_recorded_at is None else now - live.newest_recorded_at
            shadow = slot.shadow
            rebuild = None
            if shadow is not None:
                rebuild = RebuildStatus(
                    shadow.version, shadow.position, shadow.target, shadow.fault
                )
            projections.append(
                ProjectionStatus(
                    name=slot.projection.name,
                    version=live.version,
                    position=live.position,
                    behind=behind,
                    lag_seconds=lag,
                    newest_recorded_at=live.newest_recorded_at,
                    paused=slot.paused,
                    fault=live.fault,
                    stale=slot.stale,
                    rebuild=rebuild,
                    skipped=tuple(sorted(slot.skipped.values(), key=_position)),
                )
            )
        return RunnerStatus(
            self.running, head, self._error, tuple(projections), standby=self._standby
        )

    def position(self, name: str) -> int | None:
        """Projection `name`'s live checkpoint, from memory (None: no projection of that name).

        It moves only once a fold is committed, so a read-model answer stamped with this
        `as_of` is still the read model's state while this returns the same figure.
        """
        slot = self._slots.get(name)
        return None if slot is None else slot.live.position

    async def wait_caught_up(
        self, position: int | None = None, timeout: float | None = None
    ) -> bool:
        """Wait until every projection that is folding has reached `position` (default: the
        log's end now) and no rebuild is in progress; False on timeout or if the runner stops.

        Paused projections and projections stopped by a poison event are not waited for.
        """
        target = await self.store.last_position() if position is None else position
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._caught_up(target):
            if not self.running:
                return False
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            if self._progress is None or self._progress.done():
                self._progress = loop.create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._progress), remaining)
        return True

    def _caught_up(self, target: int) -> bool:
        for slot in self._slots.values():
            shadow = slot.shadow
            if shadow is not None and shadow.fault is None:
                return False
            if slot.folding and slot.live.position < target:
                return False
        # The archived flags are derived by the runner that folds.
        return not (self._archived_due and self.running and self._standby is None)

    def _notify(self) -> None:
        progress, self._progress = self._progress, None
        if progress is not None and not progress.done():
            progress.set_result(None)

    # --- the loop --------------------------------------------------------------------------

    async def _loop(self) -> None:
        backoff = 0.0
        while not self._stopping:
            self._wake.clear()
            await self._answer_pending()
            try:
                if self._standby is not None:
                    await self._follow()
                    continue
                if self._recheck_lease:
                    # A lost connection may have taken a server-side lease with it.
                    self._recheck_lease = False
                    if not await self._db(self.lease.try_acquire):
                        await self._stand_by(
                            await self._db(database.load, self._connection(), self.projections)
                        )
                        continue
                worked = await self._step()
            except CheckpointMoved as exc:
                log.warning("projection runner reloads its checkpoints: %s", exc)
                with contextlib.suppress(StoreError):  # else the next fold finds it again
                    await self._reload()
                continue
            except StoreError as exc:
                # The store (or a read-model server) may come back: report, retry later.
                backoff = min(_MAX_BACKOFF_S, max(0.1, backoff * 2))
                self._error = f"store: {type(exc).__name__}: {exc}"
                self._recheck_lease = True
                log.warning("projection runner cannot read the store: %s", exc)
                await self._idle(backoff)
                continue
            except sqlite3.Error as exc:
                if not database.is_passing_failure(exc):
                    raise
                # The batch rolled back whole (a full disk, I/O): wait, as archival does,
                # without spinning on every commit of the log meanwhile.
                backoff = min(_MAX_BACKOFF_S, max(0.1, backoff * 2))
                self._error = f"read models: {type(exc).__name__}: {exc}"
                log.warning("projection runner cannot write the read models: %s", exc)
                await self._pause(backoff)
                continue
            if backoff:
                backoff = 0.0
                self._error = None
            if not worked:
                await self._idle(self.idle_timeout)

    async def _take_lease(self) -> bool:
        """Standing by: take the lease if it is free, and fold on from the stored checkpoints."""
        if not await self._db(self.lease.try_acquire):
            return False
        await self._adopt(
            await self._db(database.load, self._connection(), self.projections),
            await self.store.last_position(),
        )
        return True

    async def _follow(self) -> None:
        """Standing by: take the lease if it is free, else follow the holder's checkpoints."""
        if await self._take_lease():
            return
        # The head first: the holder's checkpoints read after it are never beyond it.
        self._head = max(self._head, await self.store.last_position())
        await self._stand_by(
            await self._db(database.load, self._connection(), self.projections)
        )
        await self._idle(self.takeover_interval)

    async def _step(self) -> bool:
        """One batch for the live lanes and one for the rebuilds; False when nothing was due.

        Live lanes and rebuilds read apart, so that a long rebuild never holds back the
        live tables; the rebuilds share their reads.
        """
        head = await self.store.last_position()
        self._head = max(self._head, head)
        worked = False
        live = [s.live for s in self._slots.values() if s.folding and s.live.position < head]
        if live:
            await self._fold(live, head)
            worked = True
        rebuilding = [
            s.shadow
            for s in self._slots.values()
            if s.shadow is not None
            and s.shadow.fault is None
            and s.shadow.position < _goal(s.shadow, head)
        ]
        if rebuilding and not self._stopping:
            await self._fold(rebuilding, head)
            worked = True
        for slot in self._slots.values():
            shadow = slot.shadow
            if shadow is None or shadow.fault is not None or shadow.position < _goal(shadow, head):
                continue
            await self._db(database.swap, self._connection(), shadow, self.clock())
            slot.live = Lane(
                slot.projection,
                "live",
                shadow.version,
                shadow.position,
                newest_recorded_at=shadow.newest_recorded_at,
            )
            slot.shadow = None
            log.info("projection %s: rebuilt to %d", slot.projection.name, shadow.position)
            self._archived_due = True
            self._notify()
            worked = True
        # Not while a rebuild runs: the live rows may hold matches the log no longer has.
        if self._archived_due and all(
            (s.live.position >= head or not s.folding)
            and (s.shadow is None or s.shadow.fault is not None)
            for s in self._slots.values()
        ):
            await self._derive_archived()
        return worked

    async def _derive_archived(self) -> None:
        """Mark archived the ended matches the store archived (or forgot) that no
        MarkArchived recorded: a process killed between the two, a rebuilt file."""
        conn = self._connection()
        rooms = await self._db(archived.unflagged, conn)
        since = await self._db(archived.listed_since, conn)
        found = await archived.archived_among(self.store, rooms, since) if rooms else []
        if found:
            await self._db(archived.mark, conn, found, self.clock())
            log.info("match history: %d archived match(es) marked from the store", len(found))
        self._archived_due = False
        self._notify()

    async def _fold(self, lanes: list[Lane], head: int) -> None:
        start = min(lane.position for lane in lanes)
        # Only the events these lanes fold: most of the log (every PiecesPlayed) is never
        # read into Python. A short page still holds every such event up to `head`.
        wanted = database.handled_by(lane.projection for lane in lanes)
        records = await self.store.read_all(start, self.batch_size, types=wanted)
        end = _end_of(records, self.batch_size, head)
        self._head = max(self._head, end)
        skips = {lane.projection.name: self._slots[lane.projection.name].skipped for lane in lanes}
        folded = await self._db(
            database.fold_batch,
            self._connection(),
            lanes,
            records,
            end,
            skips,
            self.clock(),
            self.before_commit,
        )
        for lane, result in zip(lanes, folded, strict=True):
            lane.position = result.position
            lane.newest_recorded_at = result.newest_recorded_at
            if result.fault is not None and lane.fault is None:
                log.error(
                    "projection %s (%s) stopped at position %d: %s",
                    lane.projection.name,
                    lane.kind,
                    result.fault.position,
                    result.fault.error,
                )
            lane.fault = result.fault
        self._notify()

    async def _idle(self, timeout: float) -> None:
        """Sleep until the log grows, an instruction arrives, or `timeout` passes."""
        if self._stopping or self._pending:
            return
        grown = asyncio.ensure_future(self.store.wait_for_position(self._head + 1, timeout))
        woken = asyncio.ensure_future(self._wake.wait())
        try:
            done, _ = await asyncio.wait({grown, woken}, return_when=asyncio.FIRST_COMPLETED)
            if grown in done and grown.exception() is None:
                self._head = max(self._head, grown.result())
                if self.gather_for > 0 and woken not in done:
                    await asyncio.wait({woken}, timeout=self.gather_for)
        finally:
            for task in (grown, woken):
                task.cancel()
            await asyncio.gather(grown, woken, return_exceptions=True)

    async def _pause(self, timeout: float) -> None:
        """Sleep for `timeout`, or until an instruction or `stop()` arrives."""
        if self._stopping or self._pending:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    # --- plumbing --------------------------------------------------------------------------

    @property
    def lease(self) -> FoldLease:
        """Who folds: this runner's hold on the fold lease (projections/lease.py)."""
        if self._lease is None:
            self._lease = database.lease_for(self.path, self._connection())
        return self._lease

    def _connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the projection runner is not open")
        return self._conn

    async def _db(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            raise RuntimeError("the projection runner is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))


def _position(skipped: SkippedEvent) -> int:
    return skipped.position


def _goal(shadow: Lane, head: int) -> int:
    """Where a rebuild stops and swaps: its reset position, else the head."""
    return head if shadow.target is None else shadow.target


def _end_of(records: Sequence[RecordedEvent], batch_size: int, head: int) -> int:
    """The position up to which `records` hold every event of the log the lanes fold.

    `head` was read before the batch, so a short batch holds every such event up to it,
    even where positions have gaps (expired archives) or hold events of other types; a full
    batch ends at its last event.
    """
    last = records[-1].position if records else 0
    return last if len(records) >= batch_size else max(head, last)
