"""The projection benchmark's quick mode still runs and prints every figure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "projection_bench.py"


def test_quick_bench_prints_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    for figure in (
        "store read_all + decode (baseline)",
        "rebuild from 0",
        "rebuild in shadow tables + swap",
        "fold only",
        "rebuild / baseline",
    ):
        assert figure in done.stdout
