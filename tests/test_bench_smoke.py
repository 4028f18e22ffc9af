"""The benchmarks' quick modes still run (figures are printed, not asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def output_of(*args: str, timeout: float) -> str:
    """What `python args...` prints, run from the checkout; it must exit 0."""
    done = subprocess.run(
        [sys.executable, *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return done.stdout


def test_core_bench_quick_mode_prints_its_figures() -> None:
    out = output_of(str(ROOT / "bench" / "core_bench.py"), "--quick", timeout=120)
    assert "matches/s" in out and "share of wins" in out


def test_the_main_job_plays_its_matches_and_names_one_to_replay(tmp_path: Path) -> None:
    """`liaptui simulate`, the README's first command, end to end on a real file."""
    db = tmp_path / "games.db"
    out = output_of("-m", "actors.cli", "simulate", "--rooms", "3", "--db", str(db), timeout=120)
    assert "matches" in out and "durable commands/s" in out and "leaderboard" in out
    assert f"replay-tool --db {db} show " in out  # on one line, to be copied whole
    assert db.is_file() and Path(f"{db}.archive.db").is_file()


def test_the_benchmark_table_prints_every_row_in_smoke_mode() -> None:
    """`bench/run.py --smoke`: every figure of docs/performance.md's table is produced."""
    out = output_of(str(ROOT / "bench" / "run.py"), "--smoke", timeout=240)
    for row in (
        "durable commands/s, WAL NORMAL",
        "events of finished matches stored before",
        "projection rebuild from 0",
        "ours / peer at equal durability",
        "ours (events/s, NORMAL) / raw",
        "ceiling of this shape, one process",
        "at most, with nothing else",
        "room recovery",
        "memory per live mid-match room",
        "archive bundles vs JSON",
        "pure core: complete 4-bot matches/s",
        "live rooms at human pace",
    ):
        assert row in out, f"missing row {row!r} in:\n{out}"


def test_the_spectator_bench_quick_mode_prints_the_p99_ratio() -> None:
    out = output_of(str(ROOT / "bench" / "spectator_bench.py"), "--quick", timeout=180)
    assert "p99 ratio, 200 spectators / none:" in out
    assert "events delivered to the spectators: 0" not in out


def test_the_amplification_bench_quick_mode_prints_its_three_ratios() -> None:
    out = output_of(str(ROOT / "bench" / "amplification_bench.py"), "--quick", timeout=180)
    assert "live room actors after / before: 1 / 1 = 1.00" in out
    assert "spectators on 4 bot rooms / none:" in out
    assert "longest queue / max_queue = 200 / 200 = 1.00" in out
    assert "SubscriptionLost('fell_behind')" in out
