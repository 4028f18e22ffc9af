"""The benchmark table: our engine against a peer library and raw SQLite, in one run.

    python bench/run.py            # full: 1,000 live rooms, ~5-6 minutes
    python bench/run.py --quick    # small sizes, well under a minute
    python bench/run.py --smoke    # tiny sizes, for the test suite

Workload: 4-bot Liap Tui matches. Ours runs them live through the engine (room actors,
group-commit journal, SQLite WAL). The peer (the `eventsourcing` library, SQLite
persistence, one aggregate per room, one save per command) decides the same recorded
commands with our pure core and stores the same events. The physical reference inserts
the same events with raw sqlite3 `executemany` in batches; the ceiling of this engine's
shape is the sum of its parts' least costs, timed alone (bench/ceiling.py). Whether the
engine stays flat as match history grows: the saturated and paced loads again on a store
that already holds 1,000,000 events of finished matches (stored as the engine stores
them), whose read models are first rebuilt from zero (the projection rebuild rate).
Ratios are taken in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ceiling, live_rooms_bench  # noqa: E402
from bench.actor_bench import grow_history, memory_per_room, recovery, run_load  # noqa: E402
from bench.core_bench import command_cost, matches_per_second  # noqa: E402
from engine.codec import encode_event  # noqa: E402
from engine.decider import execute  # noqa: E402
from engine.rejections import Rejection  # noqa: E402
from engine.simulation import MatchRecord, run_match  # noqa: E402
from engine.state import RoomState  # noqa: E402


def recorded(matches: int) -> list[MatchRecord]:
    return [run_match(seed, room_id=f"R{seed:05d}"[:6]) for seed in range(matches)]


def interleaved(records: list[MatchRecord]) -> list[tuple[int, Any]]:
    """(room index, command) in round-robin order over the rooms, as live rooms would send."""
    queues = [list(r.commands) for r in records]
    out: list[tuple[int, Any]] = []
    step = 0
    while any(step < len(q) for q in queues):
        out += [(i, q[step]) for i, q in enumerate(queues) if step < len(q)]
        step += 1
    return out


def peer_rate(
    records: list[MatchRecord], folder: str, commands: int, env: dict[str, str] | None = None
) -> float:
    """Durable commands/s of the eventsourcing library storing the same events (in SQLite
    in `folder`, or in the persistence `env` names)."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Room(Aggregate):
        @event("Opened")
        def __init__(self, code: str) -> None:
            self.code = code

        @event("Happened")
        def happened(self, kind: str, data: dict[str, Any]) -> None:
            pass

    if env is None:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": f"{folder}/peer.db"}
    app: Application[Any] = Application(env=env)
    rooms = [Room(code=f"R{i}") for i in range(len(records))]
    states = [RoomState() for _ in records]
    app.save(*rooms)
    work = interleaved(records)[:commands]
    started = time.perf_counter()
    for i, command in work:
        result = execute(states[i], command)
        assert not isinstance(result, Rejection)
        events, states[i] = result
        for e in events:
            rooms[i].happened(type(e).__name__, msgspec.to_builtins(e))
        app.save(rooms[i])
    return len(work) / (time.perf_counter() - started)


def raw_rate(records: list[MatchRecord], folder: str, batch: int = 1000) -> float:
    """Events/s inserted with raw sqlite3 executemany (WAL, NORMAL), `batch` rows a transaction."""
    rows = []
    position = 0
    for i, record in enumerate(records):
        for v, e in enumerate(record.events, 1):
            position += 1
            t, sv, data = encode_event(e)
            rows.append((position, f"{record.state.room_id}-{i}", v, t, sv, data))
    conn = sqlite3.connect(f"{folder}/raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT, version INTEGER,"
        " type TEXT, schema_version INTEGER, data BLOB, UNIQUE (stream, version))"
    )
    started = time.perf_counter()
    for k in range(0, len(rows), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", rows[k : k + batch])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def archive_bytes(db: str) -> int:
    """Bytes of the archived bundles (header + compressed body) in the store's archive file."""
    archive = sqlite3.connect(f"file:{db}.archive.db?mode=ro", uri=True)
    total = sum(len(h) + len(b) for h, b in archive.execute("SELECT header, body FROM bundles"))
    archive.close()
    return total


def simulate_wall(rooms: int, folder: str) -> tuple[float, str]:
    db = f"{folder}/sim.db"
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "actors.cli", "simulate", "--rooms", str(rooms), "--db", db],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started, db


def json_size_of_store(db: str) -> int:
    """The archived matches' events as JSON, for the archive size comparison."""
    from engine.codec import decode_event
    from engine.store import open_store

    async def read() -> int:
        store = await open_store(db)
        try:
            total = 0
            for info in await store.list_streams(status="archived", limit=100_000):
                for r in await store.read_stream(info.stream_id):
                    total += (
                        len(
                            json.dumps(
                                msgspec.to_builtins(decode_event(r.type, r.schema_version, r.data))
                            )
                        )
                        + 1
                    )
            return total
        finally:
            await store.close()

    return asyncio.run(read())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    # Live rooms at human pace: the sizes, the bots' think time, the window.
    live_sizes: tuple[int, ...]
    if args.smoke:
        live_sizes, think, live_seconds = (20,), 0.2, 0.5
    elif args.quick:
        live_sizes, think, live_seconds = (250, 1000), 1.0, 3.0
    else:
        live_sizes, think, live_seconds = live_rooms_bench.SIZES, 1.0, 10.0
    if args.smoke:
        rooms, seconds, peer_commands, sim_rooms, core_n, history = 20, 1.0, 300, 10, 5, 5_000
    elif args.quick:
        rooms, seconds, peer_commands, sim_rooms, core_n, history = 200, 4.0, 2000, 100, 30, 100_000
    else:
        rooms, seconds, peer_commands, sim_rooms, core_n, history = (
            1000,
            10.0,
            5000,
            1000,
            200,
            1_000_000,
        )
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        records = recorded(min(rooms, 200))
        normal = asyncio.run(run_load(f"{tmp}/n.db", rooms, seconds))
        # Before the other runs fill the page cache with files of their own.
        recovered = asyncio.run(recovery(f"{tmp}/n.db", min(rooms, 300)))
        full = asyncio.run(run_load(f"{tmp}/f.db", rooms, seconds, synchronous="FULL"))
        single = asyncio.run(run_load(f"{tmp}/s.db", rooms, seconds, group_commit=False))
        # Offered well below capacity, so latency is one command's cost, not queueing.
        paced = asyncio.run(run_load(f"{tmp}/p.db", rooms, seconds, bot_delay=rooms / 250.0))
        paced_1000 = asyncio.run(run_load(f"{tmp}/q.db", rooms, seconds, bot_delay=rooms / 1000.0))
        # The same loads on a store that already holds `history` events of finished matches
        # (a copy each: the first run leaves live rooms that the second would resume).
        stored, rebuild = asyncio.run(grow_history(f"{tmp}/h.db", history))
        for suffix in (".archive.db", ".projections.db", ""):
            shutil.copyfile(f"{tmp}/h.db{suffix}", f"{tmp}/h2.db{suffix}")
        grown = asyncio.run(run_load(f"{tmp}/h.db", rooms, seconds))
        grown_paced = asyncio.run(run_load(f"{tmp}/h2.db", rooms, seconds, bot_delay=rooms / 250.0))
        peer = peer_rate(records, tmp, peer_commands)
        raw = raw_rate(records, tmp)
        # The least a command of this shape costs, its parts timed alone (bench/ceiling.py).
        floor = ceiling.measure(records, interleaved(records), raw, 1 if args.smoke else 3)
        events_per_command = sum(len(r.events) for r in records) / sum(
            len(r.commands) for r in records
        )
        per_room = asyncio.run(memory_per_room(f"{tmp}/m.db", min(rooms, 500)))
        wall, sim_db = simulate_wall(sim_rooms, tmp)
        bundles = archive_bytes(sim_db)
        as_json = json_size_of_store(sim_db)
        cost = command_cost(core_n // 5 or 1)
        rate = matches_per_second(core_n)
    # Rooms at a person's pace, each size in a process of its own, until one is far over.
    live = []
    for size in live_sizes:
        live.append(live_rooms_bench.measure(size, think, live_seconds))
        if live[-1]["command_p99_ms"] > 4 * live_rooms_bench.BUDGET_MS:
            break
    ours_events = normal["commands_per_s"] * events_per_command
    rows += [
        ("durable commands/s, WAL NORMAL, group commit", f"{normal['commands_per_s']:,.0f}"),
        ("  latency p50 / p99 (saturated)", f"{normal['p50_ms']:.2f} / {normal['p99_ms']:.2f} ms"),
        (
            f"  latency p50 / p99 (paced, ~{paced['commands_per_s']:,.0f} commands/s)",
            f"{paced['p50_ms']:.2f} / {paced['p99_ms']:.2f} ms",
        ),
        (
            f"  latency p50 / p99 (paced, ~{paced_1000['commands_per_s']:,.0f} commands/s)",
            f"{paced_1000['p50_ms']:.2f} / {paced_1000['p99_ms']:.2f} ms",
        ),
        (
            "  vs one commit per append",
            f"{normal['commands_per_s'] / max(single['commands_per_s'], 1e-9):.1f}x",
        ),
        (
            f"with {stored:,} events of finished matches stored before: commands/s",
            f"{grown['commands_per_s']:,.0f} ({grown['commands_per_s'] / normal['commands_per_s']:.2f}x the empty store's)",
        ),
        (
            "  latency p50 / p99 (paced)",
            f"{grown_paced['p50_ms']:.2f} / {grown_paced['p99_ms']:.2f} ms",
        ),
        (
            f"projection rebuild from 0 ({stored:,} events, 4 read models)",
            f"{rebuild:,.0f} events/s",
        ),
        ("durable commands/s, WAL FULL (peer's durability)", f"{full['commands_per_s']:,.0f}"),
        ("peer: eventsourcing 9.5.6, SQLite WAL FULL", f"{peer:,.0f} commands/s"),
        ("  ours / peer at equal durability (FULL)", f"{full['commands_per_s'] / peer:.1f}x"),
        ("raw sqlite3 executemany, 1,000 rows a batch", f"{raw:,.0f} events/s"),
        ("  ours (events/s, NORMAL) / raw", f"{ours_events / raw:.0%}"),
        *ceiling.rows(floor, peer, raw),
        (
            "room recovery (snapshot + tail) p50 / p99",
            f"{recovered['p50_ms']:.2f} / {recovered['p99_ms']:.2f} ms",
        ),
        ("memory per live mid-match room", f"{per_room / 1024:.1f} KiB"),
        (
            f"archive bundles vs JSON ({sim_rooms} matches)",
            f"{bundles / 1e6:.2f} MB vs {as_json / 1e6:.2f} MB ({1 - bundles / max(as_json, 1):.0%} smaller)",
        ),
        (f"{sim_rooms} bot matches end-to-end (liaptui simulate)", f"{wall:.1f} s"),
        ("pure core: decide+evolve per command (median)", f"{cost:.1f} µs"),
        ("pure core: complete 4-bot matches/s", f"{rate:.0f}"),
        *live_rooms_bench.rows(live),
    ]
    width = max(len(k) for k, _ in rows)
    print(
        f"liaptui-engine benchmarks, {date.today()}, {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {rooms} live rooms"
    )
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
