"""Benchmark the event store against raw sqlite3: python bench/store_bench.py [--quick]."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine.store import AppendRequest, NewEvent, open_store  # noqa: E402

PIECES = [
    f"{rank}_{colour}"
    for rank in ("GENERAL", "ADVISOR", "ELEPHANT", "CHARIOT", "HORSE", "CANNON", "SOLDIER")
    for colour in ("RED", "BLACK")
]
_encode = msgspec.msgpack.Encoder().encode


class Sizes(msgspec.Struct):
    """Settings of one run, small for --quick."""

    repeats: int
    single_appends: int
    streams: int
    batches: int
    events_per_request: int
    archived_streams: int
    events_per_archived_stream: int


# Timings on a shared 2-core box are noisy: every rate is the best of `repeats` runs,
# with store and raw sqlite3 runs alternating so both see the same conditions.
FULL = Sizes(5, 2000, 1000, 4, 5, 50, 200)
QUICK = Sizes(2, 300, 1000, 2, 2, 10, 100)


def game_event(rnd: random.Random, room: str, index: int, now: float) -> NewEvent:
    """Return a realistic event: a msgpack map of 60-150 bytes with repeated keys."""
    seat = rnd.randrange(4)
    common = {"room": room, "seat": seat, "player": f"player-{seat}", "round": index // 40 + 1}
    roll = rnd.random()
    if roll < 0.5:
        pieces = rnd.sample(PIECES, rnd.randint(1, 4))
        body = {**common, "pieces": pieces, "turn": index % 40, "at": round(now, 3)}
        return NewEvent("PiecesPlayed", 1, _encode(body))
    if roll < 0.7:
        body = {**common, "declared": rnd.randrange(9), "at": round(now, 3)}
        return NewEvent("DeclarationMade", 1, _encode(body))
    if roll < 0.9:
        body = {**common, "pile": rnd.randint(1, 6), "score": rnd.randint(-20, 40)}
        return NewEvent("TurnWon", 1, _encode(body))
    body = {"room": room, "now": round(now, 3), "deadline": round(now + 30, 3), "seat": seat}
    return NewEvent("ClockTicked", 1, _encode(body))


def group_batches(
    sizes: Sizes, rnd: random.Random, with_commands: bool
) -> list[list[AppendRequest]]:
    """Return batches, each with one request from every stream."""
    batches: list[list[AppendRequest]] = []
    now = 1.7e9
    for batch in range(sizes.batches):
        requests = []
        for stream in range(sizes.streams):
            room = f"room-{stream:05d}"
            expected = batch * sizes.events_per_request
            events = tuple(
                game_event(rnd, room, expected + i, now + expected + i)
                for i in range(sizes.events_per_request)
            )
            command_id = f"cmd-{stream}-{batch}" if with_commands else None
            requests.append(AppendRequest(room, expected, events, command_id=command_id))
        batches.append(requests)
    return batches


async def bench_single(path: Path, count: int, rnd: random.Random) -> float:
    """Return appends/s of one event per durable transaction."""
    store = await open_store(path)
    try:
        versions = [0] * 100
        start = time.perf_counter()
        for index in range(count):
            stream = index % 100
            room = f"single-{stream:03d}"
            event = game_event(rnd, room, versions[stream], 1.7e9 + index)
            await store.append(AppendRequest(room, versions[stream], (event,)))
            versions[stream] += 1
        return count / (time.perf_counter() - start)
    finally:
        await store.close()


async def bench_group(path: Path, batches: list[list[AppendRequest]]) -> tuple[float, float]:
    """Return events/s and mean ms per batch of append_batch over many streams."""
    store = await open_store(path)
    try:
        events = sum(len(r.events) for batch in batches for r in batch)
        start = time.perf_counter()
        for batch in batches:
            results = await store.append_batch(batch)
            assert all(not isinstance(r, Exception) for r in results)
        elapsed = time.perf_counter() - start
        return events / elapsed, elapsed / len(batches) * 1000
    finally:
        await store.close()


def bench_raw(path: Path, batches: list[list[AppendRequest]]) -> tuple[float, float]:
    """Return rows/s of the same events put in with sqlite3 executemany (WAL, NORMAL)."""
    # The first rate counts turning the events into rows (as any appender must), the
    # second only the executemany and commit.
    crc32 = zlib.crc32
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, stream_id TEXT NOT NULL, "
            "version INTEGER NOT NULL, type TEXT NOT NULL, schema_version INTEGER NOT NULL, "
            "data BLOB NOT NULL, checksum INTEGER NOT NULL, recorded_at REAL NOT NULL, "
            "UNIQUE (stream_id, version))"
        )
        building = inserting = 0.0
        position = 0
        count = 0
        for batch in batches:
            start = time.perf_counter()
            now = time.time()
            rows: list[tuple[object, ...]] = []
            for req in batch:
                first = req.expected_version + 1
                rows += [
                    (
                        position + i + 1,
                        req.stream_id,
                        first + i,
                        e.type,
                        e.schema_version,
                        e.data,
                        crc32(e.data),
                        now,
                    )
                    for i, e in enumerate(req.events)
                ]
                position += len(req.events)
            built = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?,?,?)", rows)
            conn.execute("COMMIT")
            building += built - start
            inserting += time.perf_counter() - built
            count += len(rows)
        return count / (building + inserting), count / inserting
    finally:
        conn.close()


async def bench_read_all(path: Path) -> float:
    """Return events/s of paging through the whole global log."""
    store = await open_store(path)
    try:
        start = time.perf_counter()
        position, count = 0, 0
        while page := await store.read_all(position, 1000):
            position = page[-1].position
            count += len(page)
        return count / (time.perf_counter() - start)
    finally:
        await store.close()


async def bench_archive(folder: Path, sizes: Sizes, rnd: random.Random) -> tuple[int, int, float]:
    """Return bundle bytes, JSON bytes of the same events, and read_all events/s after."""
    store = await open_store(folder / "archive.db")
    try:
        rooms = [f"match-{i:04d}" for i in range(sizes.archived_streams)]
        # Matches run at the same time, so their events interleave in the global order.
        for turn in range(0, sizes.events_per_archived_stream, 10):
            await store.append_batch(
                [
                    AppendRequest(
                        room,
                        turn,
                        tuple(game_event(rnd, room, turn + i, 1.7e9 + turn + i) for i in range(10)),
                    )
                    for room in rooms
                ]
            )
        as_json = 0
        bundle_bytes = 0
        for room in rooms:
            events = await store.read_stream(room)
            as_json += len(
                json.dumps(
                    [
                        {
                            "stream_id": e.stream_id,
                            "version": e.version,
                            "position": e.position,
                            "type": e.type,
                            "schema_version": e.schema_version,
                            "data": msgspec.msgpack.decode(e.data),
                            "recorded_at": e.recorded_at,
                        }
                        for e in events
                    ]
                ).encode()
            )
            await store.set_status(room, "completed")
            await store.archive_stream(room)
            bundle_file = folder / f"{room}.bundle"
            await store.export_bundle(room, bundle_file)
            bundle_bytes += bundle_file.stat().st_size
        start = time.perf_counter()
        position, count = 0, 0
        while page := await store.read_all(position, 1000):
            position = page[-1].position
            count += len(page)
        return bundle_bytes, as_json, count / (time.perf_counter() - start)
    finally:
        await store.close()


def print_table(rows: Sequence[tuple[str, str]]) -> None:
    """Print two aligned columns."""
    width = max(len(name) for name, _ in rows)
    print(f"{'measure'.ljust(width)}  value")
    print(f"{'-' * width}  {'-' * 28}")
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


async def main(quick: bool) -> None:
    """Run every measurement in a scratch folder and print the table."""
    sizes = QUICK if quick else FULL
    rnd = random.Random(20240601)
    plain = group_batches(sizes, rnd, with_commands=False)
    # The same events again, each request carrying a command id as rooms send them.
    commanded = [
        [msgspec.structs.replace(r, command_id=f"cmd-{i}-{b}") for i, r in enumerate(batch)]
        for b, batch in enumerate(plain)
    ]
    events = sum(len(r.events) for batch in plain for r in batch)
    singles, groups, with_ids, raws, reads = [], [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for run in range(sizes.repeats):
            singles.append(
                await bench_single(folder / f"single{run}.db", sizes.single_appends, rnd)
            )
            groups.append(await bench_group(folder / f"group{run}.db", plain))
            raws.append(bench_raw(folder / f"raw{run}.db", plain))
            with_ids.append(await bench_group(folder / f"commands{run}.db", commanded))
            reads.append(await bench_read_all(folder / f"group{run}.db"))
        bundle, as_json, archived_read = await bench_archive(folder, sizes, rnd)
    raw = max(rate for rate, _ in raws)
    raw_insert = max(rate for _, rate in raws)
    (group, group_ms), (ids, ids_ms) = max(groups), max(with_ids)
    per_batch = sizes.streams * sizes.events_per_request
    archived_events = sizes.archived_streams * sizes.events_per_archived_stream
    print(
        f"best of {sizes.repeats} runs each, store and raw runs alternating; group commit: "
        f"{sizes.streams:,} streams x {sizes.batches} batches of {sizes.events_per_request} "
        f"events ({per_batch:,} events/batch, {events:,} in all)"
    )
    print_table(
        [
            ("durable appends, 1 event/transaction", f"{max(singles):,.0f} appends/s"),
            ("group commit", f"{group:,.0f} events/s ({group_ms:.1f} ms/batch)"),
            (
                "group commit, every request with a command id",
                f"{ids:,.0f} events/s ({ids_ms:.1f} ms/batch)",
            ),
            ("raw sqlite3 executemany, rows built from the events", f"{raw:,.0f} rows/s"),
            ("raw sqlite3 executemany alone, rows prebuilt", f"{raw_insert:,.0f} rows/s"),
            ("group commit / raw sqlite3", f"{group / raw:.0%} (alone: {group / raw_insert:.0%})"),
            ("with command ids / raw sqlite3", f"{ids / raw:.0%} (alone: {ids / raw_insert:.0%})"),
            ("read_all (hot)", f"{max(reads):,.0f} events/s"),
            (f"read_all ({archived_events:,} archived events)", f"{archived_read:,.0f} events/s"),
            (
                f"archive bundles vs JSON ({archived_events:,} events)",
                f"{bundle:,} B vs {as_json:,} B: {1 - bundle / as_json:.0%} smaller",
            ),
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    asyncio.run(main(parser.parse_args().quick))
