"""The `replay-tool` command line: parse arguments, open the store, run one command.

Exit codes: 0 success, 1 a verification failed or a diff found a divergence, 2 an error
(missing store, unknown room, corrupt data, bad arguments), reported in one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, cast

from engine.forking import ForkRefused, write_fork
from engine.store import EventStore, backend_of, open_store
from engine.store.errors import CorruptData, StoreError
from engine.store.records import StreamStatus
from engine.store.url import sqlite_path
from replay_tool.comparison import first_divergence
from replay_tool.errors import PROG, ToolError, warn
from replay_tool.exchange import ExportFormat, export_text, import_match, read_export
from replay_tool.interrupts import ctrl_c_interrupts_the_prompt
from replay_tool.listing import MatchQuery, SortKey, list_matches, parse_date
from replay_tool.output import Output
from replay_tool.recording import MatchRecording, load_match, normalise_room
from replay_tool.report_view import show_divergence, show_page, show_report, show_summary
from replay_tool.state_view import show_step, step_json
from replay_tool.stepping import HELP, Stepper
from replay_tool.store_access import reading, writing
from replay_tool.timeline import build_timeline
from replay_tool.timeline_view import show_match
from replay_tool.verification import Report, Unreadable
from replay_tool.web_server import serve_viewer
from replay_tool.web_view import verified_match, viewer_link

Command = Callable[[argparse.Namespace, Output], Coroutine[Any, Any, int]]


# --- commands ---------------------------------------------------------------------------------


async def run_list(args: argparse.Namespace, out: Output) -> int:
    query = MatchQuery(
        status=cast(StreamStatus | None, args.status),
        player=args.player,
        since=None if args.since is None else parse_date(args.since),
        until=None if args.until is None else parse_date(args.until, end_of_day=True),
        prefix=None if args.room is None else normalise_room(args.room),
        sort=cast(SortKey, args.sort),
        limit=args.limit,
        offset=args.offset,
    )
    async with reading(args.db, args.archive) as store:
        page = await list_matches(store, query)
    show_page(out, page, query, str(args.db))
    return 0


async def _recording(args: argparse.Namespace) -> MatchRecording:
    async with reading(args.db, args.archive) as store:
        return await load_match(store, normalise_room(args.room), str(args.db))


async def run_show(args: argparse.Namespace, out: Output) -> int:
    recording = await _recording(args)
    if args.round is not None:
        rounds = [r.number for r in build_timeline(recording.decoded).rounds]
        if args.round not in rounds:
            played = f"rounds 1-{max(rounds)}" if rounds else "no round yet"
            raise ToolError(f"{recording.room_id} has {played}; there is no round {args.round}")
    show_match(out, recording, args.round)
    out.line("")
    out.line(
        f"replay viewer: {viewer_link(args.web, recording.room_id)}"
        f"  (served by replay-tool --db {args.db} serve)"
    )
    return 0


async def run_step(args: argparse.Namespace, out: Output) -> int:
    recording = await _recording(args)
    stepper = Stepper(recording.decoded)
    if stepper.failure is not None:
        warn(f"{recording.room_id}: states stop at v{stepper.last}: {stepper.failure}")
    position = stepper.last if args.at is None else args.at
    try:
        stepper.check(position)
    except ValueError as exc:
        raise ToolError(f"{recording.room_id}: {exc}") from None
    if not args.interactive:
        _print_step(out, recording, stepper, position, as_json=args.json)
        return 0
    out.line(f"stepping through {recording.room_id}: h for help, q (or Ctrl-C, Ctrl-D) to quit")
    # Line editing and history at the prompt; Ctrl-C quits at once (asyncio's own SIGINT
    # handler would only cancel the task after the blocking prompt returned).
    import readline  # noqa: F401

    with ctrl_c_interrupts_the_prompt():
        return _step_interactively(out, recording, stepper, position, as_json=args.json)


def _step_interactively(
    out: Output, recording: MatchRecording, stepper: Stepper, position: int, *, as_json: bool
) -> int:
    while True:
        _print_step(out, recording, stepper, position, as_json=as_json)
        move = None
        while move is None or (move.position == position and not move.quit):
            try:
                line = input(f"{recording.room_id} v{position}> ")
            except (EOFError, KeyboardInterrupt):
                out.line("")
                return 0
            move = stepper.handle(position, line)
            if move.quit:
                return 0
            if move.message is not None:
                out.line(move.message)
        position = move.position


def _print_step(
    out: Output, recording: MatchRecording, stepper: Stepper, position: int, *, as_json: bool
) -> None:
    state = stepper.state_at(position)
    if as_json:
        out.console.print(step_json(recording, position, state), soft_wrap=True)
    else:
        show_step(out, recording, position, state)


async def _verify_one(store: EventStore, room_id: str, origin: str) -> Report:
    return (await verified_match(store, room_id, origin))[1]


async def run_verify(args: argparse.Namespace, out: Output) -> int:
    if (args.room is None) == (not args.all):
        raise ToolError("verify takes either a ROOM or --all")
    origin = str(args.db)
    async with reading(args.db, args.archive) as store:
        if args.room is not None:
            report = await _verify_one(store, normalise_room(args.room), origin)
            show_report(out, report)
            return 0 if report.ok else 1
        # Imported here: the progress bar is the slowest import and only --all needs it.
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        rooms = await _all_rooms(store)
        outcomes: list[Report | Unreadable] = []
        progress = Progress(
            TextColumn("verifying"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            console=out.console,
            disable=out.plain,
            transient=True,
        )
        with progress:
            task = progress.add_task("", total=len(rooms))
            for room_id in rooms:
                progress.update(task, description=room_id)
                try:
                    outcomes.append(await _verify_one(store, room_id, origin))
                except (ToolError, StoreError) as exc:
                    outcomes.append(Unreadable(room_id, _error_text(exc)))
                progress.advance(task)
    for outcome in outcomes:
        if isinstance(outcome, Report) and not outcome.ok:
            show_report(out, outcome)
    show_summary(out, outcomes)
    return 0 if all(isinstance(o, Report) and o.ok for o in outcomes) else 1


async def _all_rooms(store: EventStore) -> list[str]:
    rooms: dict[str, None] = {}
    offset = 0
    while True:
        page = await store.list_streams(limit=1000, offset=offset)
        rooms.update((info.stream_id, None) for info in page)
        if len(page) < 1000:
            return sorted(rooms)
        offset += 1000


async def _side(args: argparse.Namespace, which: str, db: str) -> MatchRecording:
    """A diff side: an export file when such a file exists, else a room in a store."""
    path = Path(which)
    if path.is_file() or which.endswith((".json", ".jsonl")):
        return read_export(path)
    async with reading(db, args.archive if db == args.db else None) as store:
        return await load_match(store, normalise_room(which), str(db))


async def run_diff(args: argparse.Namespace, out: Output) -> int:
    left = await _side(args, args.a, args.db)
    right = await _side(args, args.b, args.other_db or args.db)
    divergence = first_divergence(left, right, exact=args.exact)
    show_divergence(out, left, right, divergence, args.exact)
    return 0 if divergence is None else 1


async def run_serve(args: argparse.Namespace, out: Output) -> int:
    async with reading(args.db, args.archive) as store:
        await serve_viewer(store, str(args.db), args.host, args.port)
    return 0


async def run_export(args: argparse.Namespace, out: Output) -> int:
    recording = await _recording(args)
    fmt = cast(ExportFormat, args.format)
    text = export_text(recording, fmt)
    if args.output is None or str(args.output) == "-":
        sys.stdout.write(text)
        return 0
    target: Path = args.output
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)
    print(
        f"exported {recording.room_id}: {len(recording.events)} events, "
        f"{len(recording.commands)} commands to {target} ({fmt})",
        file=sys.stderr,
    )
    return 0


async def run_fork(args: argparse.Namespace, out: Output) -> int:
    db: str = args.db
    if backend_of(db) == "sqlite" and not sqlite_path(db).is_file():
        raise ToolError(f"store not found: {db}")  # a fork needs its source: never create
    room = normalise_room(args.room)
    new_code = None if args.new_code is None else normalise_room(args.new_code)
    # Imported here: the engine's facade brings the actor system, which only fork needs.
    from actors.facade import new_room_code

    store = await open_store(db, archive_path=args.archive)
    try:
        fork = await write_fork(store, room, args.at, time.time(), new_room_code, new_code)
    except ForkRefused as exc:
        raise ToolError(f"cannot fork {room} at v{args.at}: {exc}") from None
    finally:
        await store.close()
    out.line(
        f"forked {room} at v{args.at} into {fork.room_id} "
        f"(phase {fork.state.phase.value}, v{fork.state.version}); "
        f"an engine on {db} resumes it when it starts or the room is next used"
    )
    return 0


async def run_import(args: argparse.Namespace, out: Output) -> int:
    recording = read_export(args.file)
    target: str = args.into
    async with writing(target) as store:
        appends = await import_match(store, recording, str(target))
    out.line(
        f"imported {recording.room_id}: {len(recording.events)} events, "
        f"{len(recording.commands)} commands ({appends} appends) into {target}"
    )
    return 0


# --- arguments -----------------------------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _store_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    # On the main parser they set the defaults; on each command they override only if given.
    default: object = argparse.SUPPRESS
    parser.add_argument(
        "--db",
        default="games.db" if top else default,
        help="the event store: a SQLite file (default games.db) or sqlite:///…, "
        "postgresql://…; never created",
    )
    parser.add_argument(
        "--archive",
        type=Path,
        default=None if top else default,
        help="the store's archive file (default: <db>.archive.db, else the store's default)",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        default=False if top else default,
        help="no colours or live progress, even on a terminal",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Debug recorded Liap Tui matches: list, show, step, verify, serve, diff, "
        "export, import and fork.",
    )
    _store_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, run: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _store_options(sub, top=False)
        sub.set_defaults(run=run)
        return sub

    list_ = command("list", run_list, "list the matches in a store")
    list_.add_argument("--status", choices=["active", "completed", "archived"])
    list_.add_argument("--player", help="a name in the lobby or the seats (any case)")
    list_.add_argument("--since", help="last activity at or after this date (UTC)")
    list_.add_argument("--until", help="last activity before the end of this date (UTC)")
    list_.add_argument("--room", help="room code prefix")
    list_.add_argument("--sort", choices=["updated", "created", "room"], default="updated")
    list_.add_argument("--limit", type=_positive, default=50)
    list_.add_argument("--offset", type=_not_negative, default=0)

    show = command("show", run_show, "print a match as a timeline")
    show.add_argument("room")
    show.add_argument("--round", type=_positive, help="only this round")
    show.add_argument(
        "--web",
        default=os.environ.get("LIAPTUI_WEB_URL", "http://127.0.0.1:8765"),
        help="the example server the viewer link points at (default $LIAPTUI_WEB_URL, "
        "else http://127.0.0.1:8765)",
    )

    step = command("step", run_step, "the state and every view after an event")
    step.add_argument("room")
    step.add_argument("--at", type=_not_negative, help="event version (default: the last)")
    step.add_argument(
        "--interactive", "-i", action="store_true", help="step with commands (h for help)"
    )
    step.add_argument("--json", action="store_true", help="print state and views as JSON")
    step.epilog = HELP

    verify_ = command("verify", run_verify, "re-decide, recover and check a match")
    verify_.add_argument("room", nargs="?")
    verify_.add_argument("--all", action="store_true", help="every match in the store")

    diff = command("diff", run_diff, "the first divergence between two matches")
    diff.add_argument("a", help="room code, or an export file")
    diff.add_argument("b", help="room code, or an export file")
    diff.add_argument("--other-db", help="the store of B (default: --db)")
    diff.add_argument("--exact", action="store_true", help="compare times and room codes too")

    serve = command("serve", run_serve, "the web replay viewer for every match (Ctrl-C stops)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=_not_negative, default=8765, help="0 picks a free port")

    export = command("export", run_export, "write a match to a file")
    export.add_argument("room")
    export.add_argument("--format", choices=["jsonl", "json"], default="jsonl")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")

    fork = command("fork", run_fork, "make a new playable room from a match at an event")
    fork.add_argument("room")
    fork.add_argument("--at", type=_positive, required=True, help="the event version to fork at")
    fork.add_argument("--as", dest="new_code", metavar="CODE", help="the new room's code")

    import_ = command("import", run_import, "write an exported match into a scratch store")
    import_.add_argument("file", type=Path)
    import_.add_argument("--into", required=True, metavar="SCRATCH.db")
    return parser


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, CorruptData):
        return f"corrupt data: {exc.message}"
    if isinstance(exc, ToolError | StoreError):
        return exc.message
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the tool; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(format=f"{PROG}: warning: %(message)s", level=logging.WARNING)
    out = Output(plain=True if args.plain else None)
    run = cast(Command, args.run)
    try:
        return asyncio.run(run(args, out))
    except (ToolError, StoreError) as exc:
        print(f"{PROG}: error: {_error_text(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
