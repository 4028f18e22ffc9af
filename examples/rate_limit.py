"""Per-connection rate limits of the example server: one token bucket per socket.

Every message a client sends costs tokens (`list_rooms` more, since it reads the lobby);
a message the bucket cannot pay for is answered `rate_limited` and does nothing else.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from msgspec import Struct


class RateLimit(Struct, frozen=True, kw_only=True):
    """How fast one connection may send: `per_second` tokens refill, up to `burst`."""

    per_second: float = 20.0
    burst: float = 40.0
    lobby_cost: float = 5.0  # a `list_rooms` reads the lobby; other messages cost 1


class TokenBucket:
    """Tokens that refill at `limit.per_second` up to `limit.burst`; `take` spends them."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.tokens = limit.burst
        self.checked = clock()

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
