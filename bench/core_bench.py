"""Pure-core figures: decide+evolve cost per command, bot matches per second, bot strength.

    python bench/core_bench.py [--quick]

No actors, no I/O. Bot strength: two policy bots against two random-legal-move bots,
seats alternating between matches; the policy's share of wins should be well above 50 %.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.bots import bot_command  # noqa: E402
from engine.decider import execute  # noqa: E402
from engine.rejections import Rejection  # noqa: E402
from engine.simulation import random_policy, run_match  # noqa: E402


def command_cost(matches: int) -> float:
    """Median µs of execute() (decide + evolve, cascade included) over every command of `matches`."""
    costs: list[float] = []
    for seed in range(matches):
        record = run_match(seed)
        state = None
        from engine.state import RoomState

        state = RoomState()
        for command in record.commands:
            started = time.perf_counter()
            result = execute(state, command)
            costs.append(time.perf_counter() - started)
            assert not isinstance(result, Rejection)
            state = result[1]
    return statistics.median(costs) * 1e6


def matches_per_second(matches: int) -> float:
    started = time.perf_counter()
    for seed in range(matches):
        run_match(seed)
    return matches / (time.perf_counter() - started)


def bot_strength(matches: int) -> tuple[float, int, int]:
    """Share of wins taken by the policy bots (2 seats) against random bots (2 seats)."""
    policy_wins = random_wins = 0
    for seed in range(matches):
        smart_seats = (0, 2) if seed % 2 == 0 else (1, 3)
        policies = [
            bot_command if seat in smart_seats else random_policy(seed * 4 + seat)
            for seat in range(4)
        ]
        record = run_match(seed, policies=policies)
        for winner in record.state.winners:
            if winner in smart_seats:
                policy_wins += 1
            else:
                random_wins += 1
    return policy_wins / max(1, policy_wins + random_wins), policy_wins, random_wins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few seconds, for smoke tests")
    args = parser.parse_args()
    n_cost, n_rate, n_strength = (5, 20, 40) if args.quick else (50, 500, 1000)
    run_match(0)  # warm caches
    cost = command_cost(n_cost)
    rate = matches_per_second(n_rate)
    share, won, lost = bot_strength(n_strength)
    print(f"{'figure':44} value")
    print(f"{'decide+evolve per command (median)':44} {cost:.1f} µs")
    print(f"{'complete 4-bot matches/s (pure core, 1 core)':44} {rate:.0f}  (goal >= 250)")
    print(
        f"{'policy bots vs random bots, share of wins':44} {share:.1%}  ({won} vs {lost} over {n_strength} matches)"
    )


if __name__ == "__main__":
    main()
