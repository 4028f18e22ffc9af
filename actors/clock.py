"""The engine's clock: a heap of typed timers, fired on the event loop a slice at a time,
and the steady time they are due on.

thespian's simpleSystemBase fires no timers by itself, so the engine keeps its own: a
room asks to be woken (`WakeRoom`), the directory sweeps idle rooms (`SweepRooms`), a
finished match is archived later (`ArchiveMatch`). Whoever owns the timers decides what
firing one means (`fire`).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Callable

from msgspec import Struct


class WakeRoom(Struct, frozen=True, tag=True):
    """A room's own next step is due (a bot move, a deadline, the end of a pause)."""

    room_id: str


class SweepRooms(Struct, frozen=True, tag=True):
    """Look for idle rooms to passivate (and apply retention)."""


class ArchiveMatch(Struct, frozen=True, tag=True):
    """Move a finished match into the archive."""

    room_id: str


Timer = WakeRoom | SweepRooms | ArchiveMatch


class Timers:
    """Timers by due time on `clock`; `run` fires each once it is due, through `fire`."""

    def __init__(
        self,
        clock: Callable[[], float],
        max_slice: float,
        fire: Callable[[Timer, float], None],
        late: Callable[[float], None] | None = None,
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.max_slice = max_slice
        self.fire = fire
        self.late = late  # told how many seconds after its due time each timer fired
        self.settle = settle  # called after each slice of fired timers
        self.heap: list[tuple[float, int, Timer]] = []
        self.changed = asyncio.Event()
        self.stopped = False
        self._seq = itertools.count()

    def add(self, at: float, timer: Timer) -> None:
        """Fire `timer` once `clock()` reaches `at`."""
        first = self.heap[0][0] if self.heap else None
        heapq.heappush(self.heap, (at, next(self._seq), timer))
        if first is None or at < first:
            self.changed.set()

    async def run(self) -> None:
        """Fire due timers until `stop`."""
        # Stopped by `stopped` plus a wake-up, not by cancellation alone: Python 3.11's
        # asyncio.wait_for can swallow a cancel that arrives as its inner wait completes,
        # and the loop would run on, so the engine's stop would never return.
        # asyncio.timeout has no such race.
        while not self.stopped:
            now = self.clock()
            if self.fire_due(now):
                # More is due than one slice of the loop's time: let commits and callers in.
                await asyncio.sleep(0)
                continue
            self.changed.clear()
            delay = self.heap[0][0] - now if self.heap else 3600.0
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(delay, 0.0)):
                    await self.changed.wait()

    def fire_due(self, now: float) -> bool:
        """Fire the timers due at `now` for at most about `max_slice` of actor work; True
        when some are still due (1,000 rooms' bot timers bunch up: fired in one go, they
        hold the loop for ~10 ms while commits and callers wait)."""
        started = time.perf_counter()
        try:
            while self.heap and self.heap[0][0] <= now:
                at, _, timer = heapq.heappop(self.heap)
                if self.late is not None:
                    self.late(now - at + (time.perf_counter() - started))
                self.fire(timer, now)
                if time.perf_counter() - started > self.max_slice:
                    return bool(self.heap) and self.heap[0][0] <= now
            return False
        finally:
            if self.settle is not None:
                self.settle()

    def stop(self) -> None:
        """End `run` at its next turn."""
        self.stopped = True
        self.changed.set()


Clock = Callable[[], float]


class SteadyClock:
    """Seconds since the epoch as the engine counts them: the wall clock read at start,
    then advanced by a monotonic clock, so a step of the system clock (back or forward)
    moves no timer, rate limit or deadline. The recorded `at` of commands is this time,
    which stays within the wall clock's slew of the wall time."""

    def __init__(self, wall: Clock = time.time, monotonic: Clock = time.monotonic) -> None:
        self._base = wall()
        self._started = monotonic()
        self._monotonic = monotonic

    def __call__(self) -> float:
        return self._base + (self._monotonic() - self._started)


def engine_clock(clock: Clock | None, monotonic: Clock | None) -> Clock:
    """The clock an engine runs on: steady by default; a `clock` given alone is used as it
    is (tests that move time by hand); with `monotonic`, `clock` is only read at start."""
    if monotonic is None and clock is not None:
        return clock
    return SteadyClock(clock or time.time, monotonic or time.monotonic)
