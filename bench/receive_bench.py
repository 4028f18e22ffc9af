"""What thespian's per-message wrapper costs: a message's CPU time on simpleSystemBase.

    python bench/receive_bench.py            # 30,000 messages a run, 9 interleaved pairs
    python bench/receive_bench.py --quick

An actor sends itself a countdown, one message a step, inside one `tell`: once as a plain
thespian actor (each message passes `actor_base_receive`, which looks up the "Thespian"
logger and checks its level before calling `receiveMessage`), once with
`actors.receive.DirectReceive` (messages reach `receiveMessage` directly). Prints the CPU
time a message in each, and the median of the pairs' ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from thespian.actors import Actor, ActorSystem

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors.receive import DirectReceive  # noqa: E402


class Countdown(Actor):  # type: ignore[misc]
    """Sends itself n - 1 until 0."""

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        del sender
        if isinstance(msg, int) and msg > 0:
            self.send(self.myAddress, msg - 1)


class DirectCountdown(DirectReceive, Countdown):
    """The same actor, its messages handed straight to receiveMessage."""


def per_message(actor_class: type, messages: int) -> float:
    """CPU microseconds a message, over one countdown of `messages` steps."""
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        address = system.createActor(actor_class)
        system.tell(address, 100)  # warm up
        started = time.process_time()
        system.tell(address, messages)
        return (time.process_time() - started) / messages * 1e6
    finally:
        system.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 pairs of 5,000 messages")
    args = parser.parse_args()
    messages, pairs = (5_000, 3) if args.quick else (30_000, 9)
    plain, direct = [], []
    for _ in range(pairs):
        plain.append(per_message(Countdown, messages))
        direct.append(per_message(DirectCountdown, messages))
    ratio = statistics.median(d / p for p, d in zip(plain, direct, strict=True))
    print(f"thespian's wrapper (plain actor)   {statistics.median(plain):.2f} us a message")
    print(f"DirectReceive                      {statistics.median(direct):.2f} us a message")
    print(f"DirectReceive / plain (median of {pairs} interleaved pairs)  {ratio:.2f}x")


if __name__ == "__main__":
    main()
