"""Per-connection rate limits of the example server: one token bucket per socket.

Every message a client sends costs tokens (`list_rooms` and `create_room` more, since one
reads the lobby and the other opens a room);
a message the bucket cannot pay for is answered `rate_limited` and does nothing else. A
socket refused `flood_refusals` times within `flood_window` seconds is a flood, not a
client that went a little fast: the server closes it without reading what it queued.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from msgspec import Struct


class RateLimit(Struct, frozen=True, kw_only=True):
    """How fast one connection may send: `per_second` tokens refill, up to `burst`."""

    per_second: float = 20.0
    burst: float = 40.0
    lobby_cost: float = 5.0  # a `list_rooms` reads the lobby; other messages cost 1
    room_cost: float = 20.0  # a `create_room` opens a stream, an actor and a lobby row
    # After a refusal the socket is not read until the bucket could pay again (at most this
    # long): a flood then waits in TCP buffers instead of costing one answer per message.
    max_pause: float = 1.0
    flood_refusals: int = 20  # refusals within flood_window that close the socket
    flood_window: float = 10.0  # seconds


class TokenBucket:
    """Tokens that refill at `limit.per_second` up to `limit.burst`; `take` spends them."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.tokens = limit.burst
        self.checked = clock()
        self.refusals: deque[float] = deque()  # when the latest refusals were, oldest first

    def wait_for(self, cost: float) -> float:
        """Seconds until `cost` tokens will be there (0: now), at most `limit.max_pause`."""
        missing = cost - self.tokens
        if missing <= 0:
            return 0.0
        if self.limit.per_second <= 0:
            return self.limit.max_pause
        return min(missing / self.limit.per_second, self.limit.max_pause)

    def flooding(self) -> bool:
        """Count a refusal; True once `limit.flood_refusals` fell within `flood_window`."""
        now = self.clock()
        self.refusals.append(now)
        while self.refusals and self.refusals[0] <= now - self.limit.flood_window:
            self.refusals.popleft()
        return len(self.refusals) >= self.limit.flood_refusals

    def take(self, cost: float) -> bool:
        """Spend `cost` tokens if there are that many; False (nothing spent) if not."""
        now = self.clock()
        refill = (now - self.checked) * self.limit.per_second
        self.tokens = min(self.limit.burst, self.tokens + refill)
        self.checked = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


DEFAULT_RATE_LIMIT = RateLimit()
