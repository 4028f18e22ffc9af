"""The engine's time: wall time read once, then moved on by a monotonic clock."""

from __future__ import annotations

import time
from collections.abc import Callable

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
