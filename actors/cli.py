"""`liaptui`: the engine's command line. The main job is `liaptui simulate`."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from actors.cluster.cli import add_commands as add_cluster_commands
from actors.cluster.cli import run_convention, run_node
from actors.config import EngineConfig
from actors.facade import Engine
from engine.rejections import Rejection
from engine.state import Phase
from engine.store import EventStore, StoreError, backend_of, open_store
from engine.store.url import redacted_url, sqlite_path
from engine.views import PlayerView


class SimulationFailed(RuntimeError):
    pass


def _size(path: str) -> int:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))


async def simulate(rooms: int, db: str, seed: int, console: Console) -> int:
    """Play `rooms` 4-bot matches concurrently through the full engine and print a summary.

    The progress shows from the first moment (opening the store, starting the matches,
    finishing them) on one clock, the same one the summary's wall time is read from.
    Counts are this run's: a rerun on an existing store reports only what it added.
    """
    if rooms < 1:
        raise SimulationFailed(f"--rooms must be at least 1, not {rooms}")
    # On a PostgreSQL store the read models live in its `readmodels` schema.
    config = EngineConfig.fast(db, archive_after=0.0, sweep_interval=1.0)
    return await _simulate(rooms, db, seed, console, config)


async def _simulate(rooms: int, db: str, seed: int, console: Console, config: EngineConfig) -> int:
    started = time.perf_counter()
    columns = (
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=not console.is_terminal) as progress:
        opening = progress.add_task("opening", total=1)
        async with Engine.open(db, config) as engine:
            progress.update(opening, completed=1, visible=False)
            first_position = await engine.store.last_position()
            starting = progress.add_task("started", total=rooms)
            playing = progress.add_task("finished", total=rooms)
            room_ids: list[str] = []

            async def start_all() -> None:
                for n in range(rooms):
                    match = await engine.start_bot_match(
                        f"host-{seed}-{n}", seed=seed * 1_000_003 + n
                    )
                    if isinstance(match, Rejection):
                        raise SimulationFailed(f"a bot match could not start: {match}")
                    room_ids.append(match.room_id)
                    progress.update(starting, completed=len(room_ids))

            starter = asyncio.create_task(start_all())
            finished = 0
            while finished < rooms or not starter.done():
                await asyncio.sleep(0.1)
                if starter.done():
                    starter.result()  # a failed start ends the run with its reason
                # The counters alone: the full metrics sort every latency sample.
                finished = engine.driver.metrics.counters["matches_completed"]
                progress.update(playing, completed=finished)
            # Archival runs right after each match ends; wait for the last ones to land.
            for _ in range(200):
                if engine.driver.metrics.counters["archived"] >= rooms:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            views: list[PlayerView] = []
            for room_id in room_ids:
                seen = await engine.view(room_id)
                if isinstance(seen, Rejection) or seen.phase is not Phase.GAME_OVER:
                    raise SimulationFailed(f"room {room_id} did not finish: {seen}")
                views.append(seen)
            metrics = engine.driver.metrics
            events = await engine.store.last_position() - first_position
            commits = metrics.counters["commits"]
            durable = metrics.durable_latency
            await engine.projections.wait_caught_up(timeout=60)
            board = await engine.read_models.leaderboard("wins", include_bots=True, limit=5)
            leaders = [(e.name, e.wins, e.points, e.games) for e in board.items]
    _summary(
        console,
        rooms,
        views,
        leaders,
        durable.n,
        events,
        commits,
        elapsed,
        durable.quantile(0.5),
        durable.quantile(0.99),
        db,
    )
    return 0


def _summary(
    console: Console,
    rooms: int,
    views: list[PlayerView],
    leaders: list[tuple[str, int, int, int]],
    commands: int,
    events: int,
    commits: int,
    elapsed: float,
    p50: float,
    p99: float,
    db: str,
) -> None:
    table = Table(title="liaptui simulate", show_header=False)
    table.add_row("matches", f"{rooms}")
    table.add_row("commands (durable)", f"{commands}")
    table.add_row("events", f"{events}")
    table.add_row(
        "commits (group)", f"{commits} (mean {commands / max(commits, 1):.1f} commands each)"
    )
    table.add_row("durable commands/s", f"{commands / elapsed:,.0f}")
    table.add_row("command latency p50 / p99", f"{p50 * 1000:.2f} ms / {p99 * 1000:.2f} ms")
    table.add_row("wall time", f"{elapsed:.1f} s")
    if backend_of(db) == "sqlite":
        path = str(sqlite_path(db))
        archive = f"{path}.archive.db"
        table.add_row("database", f"{path} ({_size(path) / 1e6:.1f} MB)")
        table.add_row("archive", f"{archive} ({_size(archive) / 1e6:.1f} MB)")
    else:
        table.add_row("store", redacted_url(db))
    console.print(table)
    top = Table(title="leaderboard (top 5 by wins, from the projections)")
    for column in ("player", "wins", "points", "games"):
        top.add_column(column)
    for name, wins, points, games in leaders:
        top.add_row(name, str(wins), str(points), str(games))
    console.print(top)
    # One line however narrow the terminal: the command is meant to be copied whole.
    console.print(
        f"open a match:  {_sibling('replay-tool')} --db {db} show {views[0].room_id}",
        soft_wrap=True,
    )


def _sibling(script: str) -> str:
    """How to run another of this package's scripts: beside this one (a venv's bin/) when
    it is there, else by name from PATH."""
    beside = Path(sys.argv[0]).resolve().parent / script
    return str(beside) if beside.is_file() and shutil.which(script) != str(beside) else script


async def _open_existing(db: str) -> EventStore | None:
    """The store `db` names, or None after saying why it cannot be opened."""
    try:
        if backend_of(db) == "sqlite" and not sqlite_path(db).is_file():
            print(f"liaptui: no store at {db}", file=sys.stderr)
            return None
        return await open_store(db)
    except StoreError as exc:
        print(f"liaptui: {exc}", file=sys.stderr)
        return None


async def check_archive(db: str, forget: bool) -> int:
    """Report archived matches whose bundles the archive file lacks; with `forget`, give
    them up so the global log reads whole again. Exit status 1 while any are missing."""
    store = await _open_existing(db)
    if store is None:
        return 2
    try:
        missing = store.missing_bundles
        if not missing:
            print(f"{db}: every archived match has its bundle")
            return 0
        if not forget:
            print(f"{db}: {len(missing)} archived match(es) have no bundle:")
            print("\n".join(f"  {stream_id}" for stream_id in missing))
            print("restore the archive file from a backup, or give them up with --forget")
            return 1
        gone = await store.forget_missing_bundles()
        print(f"{db}: forgot {len(gone)} archived match(es): {', '.join(gone)}")
        return 0
    finally:
        await store.close()


async def backup(db: str, target: str) -> int:
    """Copy a store (engine stopped; a running one: Engine.backup) and its archive file."""
    store = await _open_existing(db)
    if store is None:
        return 2
    try:
        started = time.perf_counter()
        copies = await store.backup(target)
    except (FileExistsError, StoreError) as exc:
        print(f"liaptui: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    size = sum(p.stat().st_size for p in copies) / 1e6
    print(
        f"{db} backed up to {' and '.join(map(str, copies))} "
        f"({size:.1f} MB, {time.perf_counter() - started:.2f} s)"
    )
    return 0


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


STORE_HELP = "the event store: a SQLite file or sqlite:///…, postgresql://…, memory:"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="liaptui", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sim = sub.add_parser("simulate", help="play 4-bot matches through the full engine")
    sim.add_argument("--rooms", type=_at_least_one, default=100, help="matches played concurrently")
    sim.add_argument("--db", default="games.db", help=STORE_HELP)
    sim.add_argument("--seed", type=int, default=1)
    check = sub.add_parser(
        "check-archive", help="find archived matches whose bundles the archive file lacks"
    )
    check.add_argument("--db", default="games.db", help=STORE_HELP)
    check.add_argument(
        "--forget", action="store_true", help="give those matches up (removes their hot rows)"
    )
    copy = sub.add_parser(
        "backup", help="copy a stopped engine's store and archive files, consistent together"
    )
    copy.add_argument("--db", default="games.db", help=STORE_HELP)
    copy.add_argument("--to", required=True, help="the copy's store file (must not exist)")
    add_cluster_commands(sub)
    args = parser.parse_args(argv)
    if args.command == "node":
        sys.exit(run_node(args))
    if args.command == "convention":
        sys.exit(run_convention(args))
    if args.command == "backup":
        sys.exit(asyncio.run(backup(args.db, args.to)))
    if args.command == "check-archive":
        sys.exit(asyncio.run(check_archive(args.db, args.forget)))
    if args.command == "simulate":
        try:
            if backend_of(args.db) == "sqlite":
                sqlite_path(args.db).parent.mkdir(parents=True, exist_ok=True)
            sys.exit(asyncio.run(simulate(args.rooms, args.db, args.seed, Console())))
        except (SimulationFailed, StoreError) as exc:
            print(f"liaptui: {exc}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
