"""Wake-ups for readers waiting for the global position to reach a target."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable


class PositionWaiters:
    """Futures resolved by commits, so waiting readers need no polling."""

    def __init__(self) -> None:
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []

    def notify(self, position: int) -> None:
        """Wake every waiter whose target position has been reached."""
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, future in self._waiters:
            if future.done():
                continue
            if target <= position:
                future.set_result(None)
            else:
                still.append((target, future))
        self._waiters = still

    def wake_all(self) -> None:
        """Wake every waiter, e.g. when the store closes."""
        for _, future in self._waiters:
            if not future.done():
                future.set_result(None)
        self._waiters = []

    async def wait(
        self,
        position: int,
        timeout: float | None,
        current: Callable[[], Awaitable[int]],
    ) -> None:
        """Return once `current()` reaches `position`, a commit notifies it, or on timeout."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Registered before reading the current position so a commit landing in
        # between still wakes us.
        self._waiters.append((position, future))
        try:
            if await current() >= position:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, timeout)
        finally:
            if not future.done():
                future.cancel()
            self._waiters = [w for w in self._waiters if w[1] is not future]
