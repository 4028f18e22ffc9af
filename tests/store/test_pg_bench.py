"""The PostgreSQL benchmark still runs and prints every row of its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.pg import PostgresServer

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pg_bench.py"


def test_pg_bench_smoke_mode_prints_every_measure(pg_server: PostgresServer) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--url", pg_server.url],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    for measure in (
        "our store append_batch (asyncpg)",
        "asyncpg / psycopg",
        "raw COPY, one a batch",
        "our store / raw INSERT",
        "peer: eventsourcing 9.5.6, PostgreSQL",
        "engine on PostgreSQL, 4 live rooms, paced 250/s",
        "floor: a bare one-row INSERT a commit, paced 250/s",
        "our store alone: one command's append_batch, paced 250/s",
    ):
        assert measure in done.stdout, done.stdout
