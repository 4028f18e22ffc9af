"""Per-player token buckets with bounded memory."""

from __future__ import annotations

from collections import OrderedDict


class RateLimiter:
    """Allows `rate` commands per second per key with bursts up to `burst`.

    At most `max_keys` buckets are kept; the least recently used one is dropped first, so a
    flood of distinct keys costs bounded memory (a dropped key simply starts full again).
    """

    def __init__(self, rate: float, burst: float, max_keys: int) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def allow(self, key: tuple[str, str], now: float) -> bool:
        tokens, last = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1.0
        self.buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self.buckets) > self.max_keys:
            self.buckets.popitem(last=False)
        return allowed
