"""`liaptui`: the engine's command line (the main job is `liaptui simulate`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from engine.simulation import run_match


def simulate(rooms: int, seed: int) -> None:
    started = time.perf_counter()
    commands = events = 0
    wins = [0, 0, 0, 0]
    for n in range(rooms):
        record = run_match(seed + n, room_id=f"SIM{n:03d}"[:6])
        commands += len(record.commands)
        events += len(record.events)
        for w in record.state.winners:
            wins[w] += 1
    elapsed = time.perf_counter() - started
    print(f"matches   {rooms}")
    print(f"commands  {commands}")
    print(f"events    {events}")
    print(f"wall      {elapsed:.2f} s ({rooms / elapsed:.0f} matches/s, pure core)")
    print("wins by seat  " + "  ".join(f"P{i + 1}:{w}" for i, w in enumerate(wins)))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="liaptui", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="play 4-bot matches and print a summary")
    sim.add_argument("--rooms", type=int, default=100)
    sim.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "simulate":
        simulate(args.rooms, args.seed)


if __name__ == "__main__":
    main()
