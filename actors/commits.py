"""Group commit, in one place: every room's appends that wait together commit together.

Rooms hand their appends to the driver, which adds them here; once the actors are quiet
(the end of the driver's `tell`) `flush` commits what waits. A small batch commits at
once on the loop's thread when the store can (an inline commit, docs/store.md); any
other batch commits on the store's own thread while the next one gathers, up to
`commit_pipeline` batches in flight; on a server store a batch joins one in flight only
once it holds `overlap_min` appends. On the embedded store, while appends arrive faster
than `gather_above` a second, a batch first waits `commit_delay` for others to share its
commit (as PostgreSQL's `commit_delay` does), then commits inline whatever its size: one
room's command at a time then stops costing a transaction of its own. A room has at
most one append outstanding, so two batches never hold appends of one stream. Each
append's outcome is a `CommitOutcome`, handed back a slice at a time through
`acknowledge`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from actors.config import EngineConfig
from actors.messages import Append, CommitOutcome, Committed, Conflicted, NotWritten, Refused
from actors.metrics import Metrics
from actors.storage import original_events
from engine.store.errors import (
    CommandIdReused,
    ConcurrencyConflict,
    OwnershipLost,
    StoreError,
    StreamRetired,
)
from engine.store.protocol import EventStore, InlineCommits
from engine.store.records import AppendResult

log = logging.getLogger("liaptui.commits")

GATHER_WINDOW = 0.5
"""Seconds over which the rate of arriving appends is counted."""

GATHER_MAX = 64
"""Appends that commit at once while gathering, without waiting out `commit_delay`."""

ACK_SLICE = 32
"""Outcomes acknowledged in one message: enough to amortize a tell, few enough to stay
short (the loop yields between slices once `max_slice` of actor work has run)."""

Acknowledged = list[tuple[Any, CommitOutcome]]


class GroupCommit:
    """The pending appends, the batches in flight, and what became of each append."""

    def __init__(
        self,
        store: EventStore,
        config: EngineConfig,
        clock: Callable[[], float],
        metrics: Metrics,
        acknowledge: Callable[[Acknowledged], None],
        spawn: Callable[[Coroutine[Any, Any, None]], None],
    ) -> None:
        self.store = store
        # The embedded backend's commit on this thread; None for a server backend.
        self.inline: InlineCommits | None = store if isinstance(store, InlineCommits) else None
        self.config = config
        self.clock = clock
        self.metrics = metrics
        self.acknowledge = acknowledge
        self.spawn = spawn
        self.pending: list[Append] = []
        self.pipeline = config.commit_pipeline if config.group_commit else 1
        # On a server a second batch runs beside the first and contends with it for the
        # head lock and the fsync; on the embedded store it queues on the database thread
        # and runs as the first ends, so it may go at any size.
        self.overlap_min = config.overlap_min if self.inline is None else 0
        self.in_flight = 0
        self.idle = asyncio.Event()  # set while no batch is in flight
        self.idle.set()
        self._flushing = False
        self._flush_soon = False
        # Appends a second over the last window of at least GATHER_WINDOW seconds.
        self.arrivals = 0
        self.window_started = time.perf_counter()
        self.arrival_rate = 0.0
        self.gathering: asyncio.TimerHandle | None = None
        self.gathered = False  # the wait is over: the next batch commits now, inline
        self.closing = False  # stopping: nothing waits any more

    def add(self, append: Append) -> None:
        """An append to commit with the next batch."""
        self.pending.append(append)
        self.arrivals += 1

    def flush(self) -> None:
        """Commit what waits, as far as the pipeline allows, for about `max_slice` of the
        loop's time; what is left waits for the next turn of the loop or the next commit.

        Re-entered while it acknowledges (the rooms it wakes append again), it returns at
        once: the outer call takes their appends in its next round.
        """
        if self._flushing:
            return
        self._flushing = True
        started = time.perf_counter()
        if started - self.window_started >= GATHER_WINDOW:
            self.arrival_rate = self.arrivals / (started - self.window_started)
            self.arrivals = 0
            self.window_started = started
        try:
            while self.pending and self.in_flight < self.pipeline:
                if self.in_flight and len(self.pending) < self.overlap_min:
                    # A few appends commit sooner after the batch in flight than beside it;
                    # they gather until it is done (its end calls flush) or are enough.
                    break
                if self._wait_for_company():
                    break
                gathered, self.gathered = self.gathered, False
                batch = self._take()
                if not self._commit_now(batch, gathered):
                    self.in_flight += 1
                    self.idle.clear()
                    self.spawn(self._commit(batch))
                elif self.pending and time.perf_counter() - started > self.config.max_slice:
                    # At least one batch a turn; the rest after others had the loop.
                    self._flush_next_turn()
                    return
        finally:
            self._flushing = False

    def _wait_for_company(self) -> bool:
        """True if the pending appends wait `commit_delay` for others first (the wait's end
        calls flush); False if they commit now. While appends arrive faster than
        `gather_above` a second they wait, and commit on this thread once the wait is over
        or GATHER_MAX have gathered (`gathered`)."""
        if (
            self.gathered
            or self.closing
            or self.inline is None
            or not self.config.group_commit  # each append commits on its own
            or self.arrival_rate < self.config.gather_above
        ):
            return False
        if len(self.pending) >= GATHER_MAX:
            self.gathered = True
            return False
        if self.gathering is None:
            self.metrics.counters["gathered_commits"] += 1
            self.gathering = asyncio.get_running_loop().call_later(
                self.config.commit_delay, self._gathered
            )
        return True

    def _gathered(self) -> None:
        self.gathering = None
        self.gathered = True
        try:
            self.flush()
        finally:
            self.gathered = False

    def _take(self) -> list[Append]:
        if self.config.group_commit:
            batch, self.pending = self.pending, []
        else:
            batch, self.pending = self.pending[:1], self.pending[1:]
        return batch

    def _flush_next_turn(self) -> None:
        if not self._flush_soon:
            self._flush_soon = True
            asyncio.get_running_loop().call_soon(self._flush_later)

    def _flush_later(self) -> None:
        self._flush_soon = False
        self.flush()

    def _commit_now(self, batch: list[Append], gathered: bool = False) -> bool:
        """Commit a small batch (or one that waited `commit_delay` for company, whatever it
        grew to) on this thread and acknowledge it, if the store can do it without waiting;
        False (nothing written) if the batch must take the store's thread. A gathered batch
        stays on this thread: on the database thread its Python would queue for the GIL
        behind the rooms' work, and the appends arriving meanwhile behind it."""
        if self.inline is None or (len(batch) > self.config.inline_commits and not gathered):
            return False
        started = time.perf_counter()
        done: list[Any] | None
        try:
            requests = [a.request for a in batch]
            if len(batch) > self.config.inline_commits:
                done = self.inline.append_any_batch_now(requests)  # a gathered batch
            else:
                done = self.inline.append_batch_now(requests)
        except Exception as exc:  # every failure settles every caller
            done = [exc] * len(batch)
        if done is None:
            return False
        outcomes = self._outcomes(batch, list(done), started)
        if any(isinstance(o, Committed) and o.result.duplicate for _, o in outcomes):
            self.spawn(self._acknowledge(outcomes))  # a retry's original events are read first
        else:
            self.acknowledge(outcomes)
        return True

    async def _commit(self, batch: list[Append]) -> None:
        try:
            started = time.perf_counter()
            try:
                results: list[Any] = list(await self.store.append_batch([a.request for a in batch]))
            except Exception as exc:  # every failure settles every caller
                results = [exc] * len(batch)
            await self._acknowledge(self._outcomes(batch, results, started))
        finally:
            self.in_flight -= 1
            if not self.in_flight:
                self.idle.set()
            self.flush()

    def _outcomes(self, batch: list[Append], results: Sequence[Any], started: float) -> Acknowledged:
        """Count a finished commit in the metrics, and name each append's outcome."""
        self.metrics.commit_seconds.observe(time.perf_counter() - started)
        self.metrics.batch_size.observe(len(results))
        self.metrics.counters["commits"] += 1
        now = self.clock()
        durable_at = time.perf_counter()
        outcomes: Acknowledged = []
        for append, result in zip(batch, results, strict=True):
            outcome: CommitOutcome
            if isinstance(result, AppendResult):
                self.metrics.durable_latency.observe(durable_at - append.queued_at)
                outcome = Committed(result, None, now)
            else:
                self.metrics.counters["append_failures"] += 1
                if isinstance(result, OwnershipLost):
                    # The room lives on another node now: nothing was written, retry there.
                    outcome = NotWritten(str(result))
                elif isinstance(result, CommandIdReused):
                    outcome = Refused(str(result))
                elif isinstance(result, ConcurrencyConflict):
                    outcome = Conflicted(str(result), isinstance(result, StreamRetired))
                else:
                    if not isinstance(result, StoreError):  # not a failure the store foresaw
                        log.error(
                            "commit of %s failed: %r",
                            append.room_id,
                            result,
                            extra={"room_id": append.room_id},
                        )
                    outcome = NotWritten(str(result))
            outcomes.append((append.room, outcome))
        return outcomes

    async def _acknowledge(self, outcomes: Acknowledged) -> None:
        """Acknowledge a slice at a time, yielding to the loop whenever about `max_slice`
        of actor work has run. A retried command's outcome carries its original events,
        read from the store first."""
        for i, (room, outcome) in enumerate(outcomes):
            if isinstance(outcome, Committed) and outcome.result.duplicate:
                result = outcome.result
                try:
                    original = await original_events(
                        self.store, result.stream_id, result.first_version, result.last_version
                    )
                    outcomes[i] = (room, Committed(result, original, outcome.now))
                except Exception as exc:  # the caller must get an answer, never wait forever
                    log.warning("could not read the original outcome in %s", result.stream_id)
                    outcomes[i] = (room, NotWritten(f"the original outcome is unreadable: {exc}"))
        slice_started = time.perf_counter()
        for i in range(0, len(outcomes), ACK_SLICE):
            self.acknowledge(outcomes[i : i + ACK_SLICE])
            if i + ACK_SLICE < len(outcomes) and (
                time.perf_counter() - slice_started > self.config.max_slice
            ):
                await asyncio.sleep(0)
                slice_started = time.perf_counter()
