"""Counters and histograms the engine keeps, readable as a dict or in Prometheus text format."""

from __future__ import annotations

import bisect
import random
from collections import Counter
from typing import Protocol


class Backlog(Protocol):
    """A subscription's queue of unread commits (an asyncio.Queue)."""

    def qsize(self) -> int: ...


LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


class Histogram:
    """A cumulative-bucket histogram (Prometheus style) plus a bounded uniform sample for quantiles."""

    SAMPLE = 100_000

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0
        self.n = 0
        self.sample: list[float] = []
        self._rng = random.Random(0)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1
        if len(self.sample) < self.SAMPLE:
            self.sample.append(value)
        else:
            # Reservoir sampling keeps every observation equally likely to be in the sample.
            slot = self._rng.randrange(self.n)
            if slot < self.SAMPLE:
                self.sample[slot] = value

    def quantile(self, q: float) -> float:
        """The q-quantile of the observations (from the sample once there are very many)."""
        if not self.sample:
            return 0.0
        ordered = sorted(self.sample)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Metrics:
    """Everything the engine counts: commands, rejections by code, commits, rooms, recoveries."""

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.latency = Histogram(LATENCY_BUCKETS)
        self.durable_latency = Histogram(LATENCY_BUCKETS)
        self.batch_size = Histogram(BATCH_BUCKETS)
        self.commit_seconds = Histogram(LATENCY_BUCKETS)
        self.recovery_seconds = Histogram(LATENCY_BUCKETS)
        # How long after its due time a timer fired (a room's bot move, a deadline): the
        # event loop's lag, which a command of a paced player waits on top of its commit.
        self.timer_lateness = Histogram(LATENCY_BUCKETS)
        self.live_rooms = 0
        self.subscriber_queues: set[Backlog] = set()  # live subscriptions' queues

    @property
    def subscriber_queue_max(self) -> int:
        """The longest queue of unread commits of any live subscription now."""
        return max((q.qsize() for q in self.subscriber_queues), default=0)

    def snapshot(self) -> dict[str, object]:
        return {
            **self.counters,
            "rejections": dict(self.rejections),
            "live_rooms": self.live_rooms,
            "subscriber_queue_max": self.subscriber_queue_max,
            "latency_p50": self.latency.quantile(0.5),
            "latency_p99": self.latency.quantile(0.99),
            "durable_p50": self.durable_latency.quantile(0.5),
            "durable_p99": self.durable_latency.quantile(0.99),
            "batch_mean": self.batch_size.total / self.batch_size.n if self.batch_size.n else 0.0,
        }

    def prometheus(self) -> str:
        """The metrics in Prometheus text exposition format, each family with HELP and TYPE."""
        lines: list[str] = []
        for name, value in sorted(self.counters.items()):
            what = COUNTER_HELP.get(name, name.replace("_", " "))
            lines += family(f"liaptui_{name}_total", "counter", f"Total {what}.")
            lines.append(f"liaptui_{name}_total {value}")
        lines += family("liaptui_rejections_total", "counter", "Commands refused, by code.")
        lines += [
            f'liaptui_rejections_total{{code="{c}"}} {n}'
            for c, n in sorted(self.rejections.items())
        ]
        lines += family("liaptui_live_rooms", "gauge", "Room actors live in memory now.")
        lines.append(f"liaptui_live_rooms {self.live_rooms}")
        lines += family(
            "liaptui_subscriber_queue_max",
            "gauge",
            "Longest queue of unread commits of any live subscription.",
        )
        lines.append(f"liaptui_subscriber_queue_max {self.subscriber_queue_max}")
        for name, hist, what in (
            ("command_latency_seconds", self.latency, "Time from send to answer of a command."),
            ("durable_latency_seconds", self.durable_latency, "Time from decision to commit."),
            ("commit_batch_size", self.batch_size, "Appends in one group commit."),
            ("commit_seconds", self.commit_seconds, "Time one group commit took."),
            ("room_recovery_seconds", self.recovery_seconds, "Time to load a room from the store."),
            ("timer_lateness_seconds", self.timer_lateness, "Time from due to fired of a timer."),
        ):
            lines += family(f"liaptui_{name}", "histogram", what)
            cumulative = 0
            for bound, count in zip((*hist.buckets, float("inf")), hist.counts, strict=True):
                cumulative += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'liaptui_{name}_bucket{{le="{le}"}} {cumulative}')
            lines += [f"liaptui_{name}_sum {hist.total}", f"liaptui_{name}_count {hist.n}"]
        return "\n".join(lines) + "\n"


COUNTER_HELP = {
    "commands": "commands answered",
    "commits": "group commits",
    "append_failures": "appends a commit did not write",
    "snapshots": "room snapshots saved",
    "matches_completed": "matches marked completed",
    "archived": "matches moved into the archive",
    "archive_failed": "failed archival attempts",
    "subscribers_cut": "subscribers cut for leaving max_queue commits unread",
}
"""What each counter counts, for its HELP line (others are named by their key)."""


def family(name: str, kind: str, help_text: str) -> list[str]:
    """The HELP and TYPE lines that open a metric family."""
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
