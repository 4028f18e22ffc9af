"""The store benchmark still runs and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "store_bench.py"


def test_quick_bench_prints_every_measure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for measure in (
        "durable appends, 1 event/transaction",
        "group commit",
        "raw sqlite3 executemany",
        "group commit / raw sqlite3",
        "read_all (hot)",
        "archive bundles vs JSON",
    ):
        assert measure in done.stdout
