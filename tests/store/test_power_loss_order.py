"""Archival is ordered for a power cut: the bundle reaches the disk before its hot rows go.

Traced with strace on a real process: the archive file's log must be synced after the
bundle's last write and before the first write of the hot file's deletion.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import asyncio, sys
from engine.store import AppendRequest, NewEvent, open_store

async def main(path, step):
    store = await open_store(path)
    if step == "play":
        await store.append(AppendRequest("match-a", 0, (NewEvent("Played", 1, b"x"),)))
        await store.set_status("match-a", "completed")
    else:
        sys.stderr.write("ARCHIVING\\n"); sys.stderr.flush()
        await store.archive_stream("match-a")
        sys.stderr.write("ARCHIVED\\n"); sys.stderr.flush()
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

CALL = re.compile(r"^\d+ +(\w+)\(\d+<([^>]*)>")


def run(db: Path, step: str, *trace: str) -> None:
    subprocess.run([*trace, sys.executable, "-c", SCRIPT, str(db), step], check=True, timeout=60)


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_the_bundle_is_synced_before_the_hot_rows_are_deleted(tmp_path: Path) -> None:
    db = tmp_path / "games.db"
    run(db, "play")
    trace = tmp_path / "trace"
    run(
        db,
        "archive",
        "strace",
        "-f",
        "-y",
        "-o",
        str(trace),
        "-e",
        "trace=fsync,fdatasync,pwrite64,write",
    )
    lines = trace.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if '"ARCHIVING\\n"' in line)
    end = next(i for i, line in enumerate(lines) if '"ARCHIVED\\n"' in line)
    calls = [m.groups() for line in lines[start:end] if (m := CALL.match(line))]
    archive_log, hot_log = f"{db}.archive.db-wal", f"{db}-wal"
    first_hot = next(i for i, (call, path) in enumerate(calls) if path == hot_log)
    last_bundle = max(
        i
        for i, (call, path) in enumerate(calls[:first_hot])
        if call == "pwrite64" and path == archive_log
    )
    synced = [path for call, path in calls[last_bundle:first_hot] if call in ("fsync", "fdatasync")]
    assert archive_log in synced, calls[: first_hot + 1]
