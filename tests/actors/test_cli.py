"""`liaptui`'s command line as a user meets it: bad arguments, and counts of one run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def liaptui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actors.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


def figure(out: str, label: str) -> int:
    """The number on the summary table's row `label`."""
    found = re.search(rf"{re.escape(label)}\W+(\d+)", out)
    assert found is not None, out
    return int(found.group(1))


def test_a_bad_room_count_is_a_usage_error_not_a_crash(tmp_path: Path) -> None:
    for rooms in ("0", "-3", "many"):
        done = liaptui("simulate", "--rooms", rooms, "--db", str(tmp_path / "games.db"))
        assert done.returncode == 2
        assert "--rooms" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "games.db").exists()


def test_a_rerun_on_an_existing_store_counts_only_its_own_events(tmp_path: Path) -> None:
    db = str(tmp_path / "games.db")
    first = liaptui("simulate", "--rooms", "2", "--db", db, "--seed", "7")
    assert first.returncode == 0, first.stderr
    second = liaptui("simulate", "--rooms", "2", "--db", db, "--seed", "7")
    assert second.returncode == 0, second.stderr
    first_events, second_events = figure(first.stdout, "events"), figure(second.stdout, "events")
    # The same seeds play the same two matches: the rerun counts its own events only.
    assert second_events == first_events > 0
    assert figure(second.stdout, "matches") == 2
