"""The ceiling of this engine's shape: what one command costs at the least, on this machine.

    python bench/ceiling.py [--quick]

Every command of the engine is decided by the pure core inside a room actor that a
thespian message reaches, its events are encoded, and they are inserted into SQLite.
Each of those parts is timed here alone, at its cheapest, on the same recorded bot
matches the benchmark table uses:

  * decide + evolve of every recorded command (the pure core, no bot choosing a move);
  * encoding the events (msgspec, as stored);
  * one message into one of 1,000 in-process actors and its reply collected by the
    caller (thespian simpleSystemBase with the driver's shortcuts: no per-message logger
    lookup, no wakeup scan, replies taken from the outbox; the least a command can cost
    the actor shell);
  * inserting the events with raw sqlite3 `executemany`, 1,000 rows a transaction
    (the physical reference of the table).

Their sum is a floor under any engine of this shape, with nothing else at all: no
journal, no group commit bookkeeping, no asyncio, no bots, snapshots or read models.
Its inverse is a ceiling on durable commands/s for one process (the rooms of one
process share one thread, simpleSystemBase being single-threaded), set beside the
peer's rate and the raw insert rate of the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from msgspec import Struct
from thespian.actors import Actor, ActorSystem

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.driver import outbox, skip_delivery_log, skip_idle_wakeups  # noqa: E402
from engine.codec import encode_event  # noqa: E402
from engine.decider import execute  # noqa: E402
from engine.rejections import Rejection  # noqa: E402
from engine.simulation import MatchRecord  # noqa: E402
from engine.state import RoomState  # noqa: E402

ACTORS = 1000


class Floor(Struct, frozen=True):
    """Microseconds per command of each part, and what they allow together."""

    core_us: float
    encode_us: float
    actor_us: float
    insert_us: float
    events_per_command: float

    @property
    def total_us(self) -> float:
        return self.core_us + self.encode_us + self.actor_us + self.insert_us

    @property
    def commands_per_s(self) -> float:
        return 1e6 / self.total_us

    @property
    def events_per_s(self) -> float:
        return self.commands_per_s * self.events_per_command


class Echo(Actor):  # type: ignore[misc]
    """Answers each message to its sender, as a room answers a command."""

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, tuple):
            self.send(sender, msg)


def core_us(records: list[MatchRecord], work: list[tuple[int, Any]], repeat: int) -> float:
    """Mean µs of execute() over the recorded commands, rooms interleaved (best of `repeat`)."""
    best = float("inf")
    for _ in range(repeat):
        states = [RoomState() for _ in records]
        started = time.perf_counter()
        for i, command in work:
            result = execute(states[i], command)
            assert not isinstance(result, Rejection), result
            states[i] = result[1]
        best = min(best, (time.perf_counter() - started) / len(work))
    return best * 1e6


def encode_us(records: list[MatchRecord], commands: int, repeat: int) -> float:
    """Mean µs per command of encoding its events (best of `repeat`)."""
    events = [e for r in records for e in r.events]
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for event in events:
            encode_event(event)
        best = min(best, time.perf_counter() - started)
    return best / commands * 1e6


def actor_us(messages: int, repeat: int) -> float:
    """Mean µs of one message into one of ACTORS in-process actors and its reply collected
    (replies collected every 8 messages, as a driver collects them; best of `repeat`)."""
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        skip_idle_wakeups(system)
        skip_delivery_log(system)
        replies = outbox(system)
        assert replies is not None, "thespian's internals are not the expected ones"
        actors = [system.createActor(Echo) for _ in range(ACTORS)]
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            for k in range(messages):
                system.tell(actors[k % ACTORS], (k,))
                if k % 8 == 7:
                    replies.clear()
            replies.clear()
            best = min(best, (time.perf_counter() - started) / messages)
        return best * 1e6
    finally:
        system.shutdown()


def measure(
    records: list[MatchRecord], work: list[tuple[int, Any]], raw_events_per_s: float, repeat: int
) -> Floor:
    """The floor of one command, its parts measured now; raw inserts as given (same run)."""
    events_per_command = sum(len(r.events) for r in records) / len(work)
    return Floor(
        core_us=core_us(records, work, repeat),
        encode_us=encode_us(records, len(work), repeat),
        actor_us=actor_us(min(50_000, 10 * len(work)), repeat),
        insert_us=events_per_command / raw_events_per_s * 1e6,
        events_per_command=events_per_command,
    )


def rows(floor: Floor, peer: float, raw: float) -> list[tuple[str, str]]:
    """The table rows for a floor, beside the peer's and raw rates of the same run."""
    return [
        (
            "ceiling of this shape, one process: floor per command",
            f"{floor.total_us:.1f} µs = core {floor.core_us:.1f} + encode {floor.encode_us:.1f}"
            f" + actor message and reply {floor.actor_us:.1f} + raw insert {floor.insert_us:.1f}",
        ),
        (
            "  at most, with nothing else: commands/s",
            f"{floor.commands_per_s:,.0f} = {floor.commands_per_s / peer:.1f}x the peer,"
            f" {floor.events_per_s / raw:.0%} of raw",
        ),
    ]


def main() -> None:
    from bench.run import interleaved, peer_rate, raw_rate, recorded

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds")
    args = parser.parse_args()
    matches, repeat, peer_commands = (20, 1, 500) if args.quick else (200, 3, 5000)
    records = recorded(matches)
    work = interleaved(records)
    with tempfile.TemporaryDirectory() as tmp:
        peer = peer_rate(records, tmp, peer_commands)
        raws = []
        for k in range(repeat):
            folder = Path(tmp) / str(k)
            folder.mkdir()
            raws.append(raw_rate(records, str(folder)))
        raw = max(raws)
    floor = measure(records, work, raw, repeat)
    print(f"peer: eventsourcing, SQLite WAL FULL          {peer:,.0f} commands/s")
    print(f"raw sqlite3 executemany, 1,000 rows a batch   {raw:,.0f} events/s")
    for key, value in rows(floor, peer, raw):
        print(f"{key:<54} {value}")
    print(
        f"goals: 20x the peer = {20 * peer:,.0f} commands/s; 50 % of raw = {raw / 2:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
