"""Benchmark the engine on PostgreSQL against raw inserts and a peer, in one run.

    python bench/pg_bench.py            # full: 1,000 live rooms, ~2 minutes
    python bench/pg_bench.py --quick    # small sizes, well under a minute
    python bench/pg_bench.py --smoke    # tiny sizes, for the test suite
    python bench/pg_bench.py --url postgresql://...   # a server of yours (default: a
                                                      # throwaway one, fsync on)

Workload: 4-bot Liap Tui matches, stored as the engine stores them (one append per
command, with its command id). Measured on the same server in the same run:
* our store's batched appends: one `append_batch` per round, one command of each room;
* the same batches through asyncpg and through psycopg 3 (async), calling the same
  server-side append procedure (the append, then the WAL flush): the driver choice of
  docs/store.md;
* the physical reference: the same rows by one raw `INSERT ... SELECT unnest(...)` a batch,
  and by `COPY`, into a plain table with the same keys;
* the peer: the `eventsourcing` library (9.5.6) with its PostgreSQL persistence, one
  aggregate per room, one save per command, deciding the same commands with our core;
* the engine itself on PostgreSQL: durable commands/s, p50/p99 saturated and paced, beside
  the floor under a paced command on the same server (a bare one-row INSERT a commit, at
  the same 250/s) and our store alone at that pace (one command's append a call).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.actor_bench import _stored_match, run_load  # noqa: E402
from bench.run import peer_rate, recorded  # noqa: E402
from engine.store import AppendRequest, NewEvent  # noqa: E402
from engine.store.postgres import PostgresEventStore  # noqa: E402
from engine.store.postgres.devserver import server_for_bench  # noqa: E402
from engine.store.postgres.store import _APPEND, append_arguments  # noqa: E402


class Sizes(msgspec.Struct, frozen=True):
    """Settings of one run, small for --quick."""

    rooms: int  # rooms per batch in the store figures
    rounds: int  # batches in the store figures
    peer_commands: int
    live_rooms: int
    seconds: float
    driver_pairs: int


FULL = Sizes(
    rooms=100, rounds=150, peer_commands=600, live_rooms=1000, seconds=10.0, driver_pairs=5
)
QUICK = Sizes(rooms=20, rounds=15, peer_commands=60, live_rooms=50, seconds=2.0, driver_pairs=3)
SMOKE = Sizes(rooms=4, rounds=3, peer_commands=8, live_rooms=4, seconds=0.5, driver_pairs=1)


def database(url: str, name: str) -> str:
    """The same server's URL naming another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def fresh_database(url: str, name: str) -> str:
    """Drop and create database `name`; its URL."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return database(url, name)


def rounds_of(sizes: Sizes) -> list[list[AppendRequest]]:
    """`sizes.rounds` batches: batch k holds the k-th command's append of every room."""
    matches = [_stored_match(seed, f"R{seed:05d}") for seed in range(sizes.rooms)]
    out: list[list[AppendRequest]] = []
    step = 0
    while len(out) < sizes.rounds:
        batch = [m[step] for m in matches if step < len(m)]
        if not batch:
            # Every match is over: more matches on fresh rooms, as a server would start.
            base = sizes.rooms * (len(out) + 1)
            matches = [_stored_match(s, f"{base + s:06d}") for s in range(sizes.rooms)]
            step = 0
            continue
        out.append(batch)
        step += 1
    return out


def events_in(batches: Sequence[Sequence[AppendRequest]]) -> int:
    return sum(len(r.events) for b in batches for r in b)


WARM_UP = [AppendRequest("warm-up", 0, (NewEvent("WarmUp", 1, b""),))]


async def ours(url: str, batches: list[list[AppendRequest]]) -> float:
    """Events/s through PostgresEventStore.append_batch."""
    store = await PostgresEventStore.open(url, pool_size=1)
    try:
        await store.append_batch(WARM_UP)  # the server plans the function once a connection
        started = time.perf_counter()
        for batch in batches:
            for result in await store.append_batch(batch):
                assert not isinstance(result, Exception), result
        return events_in(batches) / (time.perf_counter() - started)
    finally:
        await store.close()


async def ours_concurrent(url: str, batches: list[list[AppendRequest]], writers: int) -> float:
    """Events/s of `writers` stores (engine processes) appending at once, each its own rooms:
    what serialised position assignment costs when commits could otherwise overlap."""
    stores = [await PostgresEventStore.open(url) for _ in range(writers)]
    # Each writer its own rooms, every round: as engine processes owning rooms would.
    share = [
        [[r for r in b if sum(r.stream_id.encode()) % writers == w] for b in batches]
        for w in range(writers)
    ]

    async def write(store: PostgresEventStore, mine: list[list[AppendRequest]]) -> None:
        for batch in mine:
            for result in await store.append_batch(batch):
                assert not isinstance(result, Exception), result

    try:
        started = time.perf_counter()
        await asyncio.gather(*(write(s, m) for s, m in zip(stores, share, strict=True)))
        return events_in(batches) / (time.perf_counter() - started)
    finally:
        for store in stores:
            await store.close()


_CALL_PSYCOPG = (
    "CALL liaptui.append_batch_durable(%s::text[], %s::bigint[], %s::text[], %s::bytea[], "
    "%s::float8[], %s::integer[], %s::integer[], %s::integer[], %s::text[], %s::integer[], "
    "%s::bytea[], %s::bigint[], %s::integer[], %s::float8, %s::bytea[])"
)


async def with_psycopg(url: str, batches: list[list[AppendRequest]]) -> float:
    """Events/s of the same append function called through psycopg 3 (async, prepared)."""
    import psycopg

    await (await PostgresEventStore.open(url)).close()  # creates the schema
    conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    try:
        await conn.execute(
            _CALL_PSYCOPG, append_arguments(WARM_UP, time.time()), prepare=True, binary=True
        )
        started = time.perf_counter()
        for batch in batches:
            cursor = await conn.execute(
                _CALL_PSYCOPG, append_arguments(batch, time.time()), prepare=True, binary=True
            )
            await cursor.fetchall()
        return events_in(batches) / (time.perf_counter() - started)
    finally:
        await conn.close()


async def with_asyncpg(url: str, batches: list[list[AppendRequest]]) -> float:
    """Events/s of the append function called through asyncpg on one bare connection."""
    await (await PostgresEventStore.open(url)).close()
    conn = await asyncpg.connect(url)
    try:
        statement = await conn.prepare(_APPEND)
        await statement.fetch(*append_arguments(WARM_UP, time.time()))
        started = time.perf_counter()
        for batch in batches:
            await statement.fetch(*append_arguments(batch, time.time()))
        return events_in(batches) / (time.perf_counter() - started)
    finally:
        await conn.close()


_RAW_TABLE = (
    "CREATE TABLE raw_events (position bigint PRIMARY KEY, stream_id text NOT NULL, "
    "version bigint NOT NULL, type text NOT NULL, schema_version integer NOT NULL, "
    "data bytea NOT NULL, recorded_at float8 NOT NULL, UNIQUE (stream_id, version))"
)


def raw_rows(batches: list[list[AppendRequest]]) -> list[list[tuple[Any, ...]]]:
    versions: dict[str, int] = {}
    position = 0
    out = []
    for batch in batches:
        rows = []
        for req in batch:
            for e in req.events:
                position += 1
                versions[req.stream_id] = versions.get(req.stream_id, 0) + 1
                rows.append(
                    (position, req.stream_id, versions[req.stream_id], e.type,
                     e.schema_version, e.data, 0.0)
                )  # fmt: skip
        out.append(rows)
    return out


async def raw_insert(url: str, batches: list[list[AppendRequest]], copy: bool) -> float:
    """Events/s of raw rows, one statement (or one COPY) a batch, into a plain table."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_RAW_TABLE)
        rows = raw_rows(batches)
        insert = await conn.prepare(
            "INSERT INTO raw_events SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[],"
            " $4::text[], $5::integer[], $6::bytea[], $7::float8[])"
        )
        started = time.perf_counter()
        for batch in rows:
            if copy:
                await conn.copy_records_to_table("raw_events", records=batch)
            else:
                await insert.fetch(*[list(column) for column in zip(*batch, strict=True)])
        return sum(len(b) for b in rows) / (time.perf_counter() - started)
    finally:
        await conn.close()


def quantile(sample: Sequence[float], q: float) -> float:
    """The q-quantile of `sample` in milliseconds."""
    ordered = sorted(sample)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def paced_latencies(
    call: Callable[[int], Awaitable[object]], seconds: float, rate: float
) -> list[float]:
    """Seconds each `call(i)` took, started at a steady `rate` a second for `seconds`."""
    latencies = []
    started = time.perf_counter()
    for i in range(int(seconds * rate)):
        wait = started + i / rate - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)
        began = time.perf_counter()
        await call(i)
        latencies.append(time.perf_counter() - began)
    return latencies


async def bare_insert_latency(url: str, seconds: float) -> list[float]:
    """The floor under a paced command: one one-row INSERT a call, each its own commit."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(_RAW_TABLE)
        insert = await conn.prepare(
            "INSERT INTO raw_events VALUES ($1, 'R', $1, 'T', 1, '\\x00'::bytea, 0)"
        )
        return await paced_latencies(lambda i: insert.fetch(i + 1), seconds, 250.0)
    finally:
        await conn.close()


async def store_latency(url: str, batches: list[list[AppendRequest]], seconds: float) -> list[float]:
    """One command's append a call through our store, as the engine's group commit makes
    them at this rate."""
    appends = [req for batch in batches for req in batch]
    store = await PostgresEventStore.open(url)
    try:
        await store.append_batch(WARM_UP)
        return await paced_latencies(
            lambda i: store.append_batch([appends[i % len(appends)]]), seconds, 250.0
        )
    finally:
        await store.close()


def peer_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "",
        "POSTGRES_PASSWORD": parts.password or "",
    }


def print_table(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


async def measure(url: str, sizes: Sizes) -> list[tuple[str, str]]:
    batches = rounds_of(sizes)
    events = events_in(batches)
    rooms = f"{sizes.rooms} rooms a batch, {sizes.rounds} batches, {events:,} events"
    # Our store, raw INSERT and COPY in interleaved triples, the median of each and of
    # the ratios: one pass of each is too short on a noisy box.
    ours_runs, raw_runs, copy_runs = [], [], []
    for _ in range(sizes.driver_pairs):
        ours_runs.append(await ours(await fresh_database(url, "bench_ours"), batches))
        raw_runs.append(await raw_insert(await fresh_database(url, "bench_raw"), batches, False))
        copy_runs.append(await raw_insert(await fresh_database(url, "bench_copy"), batches, True))
    ours_rate = statistics.median(ours_runs)
    raw, copy = statistics.median(raw_runs), statistics.median(copy_runs)
    to_raw = statistics.median(o / r for o, r in zip(ours_runs, raw_runs, strict=True))
    to_copy = statistics.median(o / c for o, c in zip(ours_runs, copy_runs, strict=True))
    four = await ours_concurrent(await fresh_database(url, "bench_four"), batches, 4)
    # Interleaved pairs, the median of each driver: one pass is too short on a noisy box.
    asyncpg_runs, psycopg_runs = [], []
    for _ in range(sizes.driver_pairs):
        asyncpg_runs.append(await with_asyncpg(await fresh_database(url, "bench_ap"), batches))
        psycopg_runs.append(await with_psycopg(await fresh_database(url, "bench_pg"), batches))
    asyncpg_rate, psycopg_rate = statistics.median(asyncpg_runs), statistics.median(psycopg_runs)
    bare = await bare_insert_latency(await fresh_database(url, "bench_bare"), sizes.seconds)
    alone = await store_latency(await fresh_database(url, "bench_alone"), batches, sizes.seconds)
    peer_url = await fresh_database(url, "bench_peer")
    peer = peer_rate(recorded(sizes.rooms), "", sizes.peer_commands, env=peer_env(peer_url))
    commands_per_batch = sizes.rooms
    ours_commands = ours_rate / (events / (sizes.rounds * commands_per_batch))
    with tempfile.TemporaryDirectory() as folder:
        load_url = await fresh_database(url, "bench_engine")
        projections = f"{folder}/projections.db"
        saturated = await run_load(
            load_url, sizes.live_rooms, sizes.seconds, projections_path=projections
        )
        load_url = await fresh_database(url, "bench_engine_paced")
        paced = await run_load(
            load_url,
            sizes.live_rooms,
            sizes.seconds,
            bot_delay=sizes.live_rooms / 250.0,
            projections_path=f"{folder}/paced.db",
        )
    return [
        ("workload", rooms),
        ("our store append_batch (asyncpg)", f"{ours_rate:,.0f} events/s"),
        ("our store, the same batches from 4 writers at once", f"{four:,.0f} events/s"),
        ("  4 writers / 1 writer", f"{four / ours_rate:.2f}x"),
        ("  same function, bare asyncpg", f"{asyncpg_rate:,.0f} events/s"),
        ("  same function, psycopg 3 async", f"{psycopg_rate:,.0f} events/s"),
        (
            f"  asyncpg / psycopg (median of {sizes.driver_pairs} interleaved pairs)",
            f"{asyncpg_rate / psycopg_rate:.2f}x",
        ),
        ("raw INSERT ... unnest, one a batch", f"{raw:,.0f} events/s"),
        ("raw COPY, one a batch", f"{copy:,.0f} events/s"),
        (
            f"our store / raw INSERT (median of {sizes.driver_pairs} interleaved triples)",
            f"{to_raw:.0%}",
        ),
        ("our store / COPY", f"{to_copy:.0%}"),
        ("our store, commands/s", f"{ours_commands:,.0f} commands/s"),
        ("peer: eventsourcing 9.5.6, PostgreSQL", f"{peer:,.0f} commands/s"),
        ("our store / peer (commands)", f"{ours_commands / peer:.0f}x"),
        (
            f"engine on PostgreSQL, {sizes.live_rooms} live rooms, saturated",
            f"{saturated['commands_per_s']:,.0f} commands/s, p50 {saturated['p50_ms']:.1f} ms, "
            f"p99 {saturated['p99_ms']:.1f} ms",
        ),
        (
            f"engine on PostgreSQL, {sizes.live_rooms} live rooms, paced 250/s",
            f"{paced['commands_per_s']:,.0f} commands/s, p50 {paced['p50_ms']:.1f} ms, "
            f"p99 {paced['p99_ms']:.1f} ms",
        ),
        (
            "  floor: a bare one-row INSERT a commit, paced 250/s",
            f"p50 {quantile(bare, 0.5):.1f} ms, p99 {quantile(bare, 0.99):.1f} ms",
        ),
        (
            "  our store alone: one command's append_batch, paced 250/s",
            f"p50 {quantile(alone, 0.5):.1f} ms, p99 {quantile(alone, 0.99):.1f} ms",
        ),
        ("engine / peer (commands)", f"{saturated['commands_per_s'] / peer:.0f}x"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, well under a minute")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, for the test suite")
    parser.add_argument("--url", help="a PostgreSQL server to create databases on")
    args = parser.parse_args()
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL
    with server_for_bench(args.url or os.environ.get("LIAPTUI_BENCH_PG")) as url:
        print_table(asyncio.run(measure(url, sizes)))


if __name__ == "__main__":
    main()
