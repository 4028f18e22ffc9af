"""`show`: a match as a readable timeline of rounds, deals, declarations, tricks and scores."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from rich.text import Text

from engine.events import GameOver, RoomClosed, RoundStarted
from engine.forking import provenance
from engine.pieces import is_weak
from replay_tool.narration import Names, describe, format_time, seat_label, signed
from replay_tool.output import Output, pieces_markup, status_text
from replay_tool.recording import MatchRecording
from replay_tool.timeline import Deal, Round, Timeline, Trick, Versioned, build_timeline


def show_match(out: Output, recording: MatchRecording, only_round: int | None = None) -> None:
    """Print the whole match (or one round of it)."""
    timeline = build_timeline(recording.decoded)
    names = timeline.seats
    _header(out, recording, timeline)
    if only_round is None:
        _events(out, "Lobby", timeline.lobby, names)
    for round_ in timeline.rounds:
        if only_round is None or round_.number == only_round:
            _round(out, round_, names)
    if only_round is None:
        _ending(out, timeline, names)


def _header(out: Output, recording: MatchRecording, timeline: Timeline) -> None:
    out.line(
        ("Match ", "bold"),
        (recording.room_id, "bold cyan"),
        "  ",
        status_text(recording.status),
        f"  {len(recording.events)} events, {len(recording.commands)} commands"
        f"  ({recording.origin})",
    )
    created = timeline.created
    updated = format_time(recording.updated_at)
    if created is None:
        out.line(f"updated {updated} UTC (no RoomCreated event)")
        return
    s = created.settings
    out.line(
        f"created {format_time(created.at)} UTC by {created.host}, seed {created.seed}; "
        f"updated {updated} UTC"
    )
    out.line(
        f"settings: target {s.target_score}, round cap {s.round_cap}, "
        f"redeal timeout {s.redeal_timeout:g}s, move timeout "
        f"{'off' if s.move_timeout is None else f'{s.move_timeout:g}s'}"
        + (f", {len(created.script)} scripted deals" if created.script else "")
    )
    out.line("seats: " + ", ".join(seat_label(i, timeline.seats) for i in range(4)))
    forked = provenance(recording.decoded)
    if forked is not None:
        out.line(
            ("fork ", "bold magenta"),
            f"of {forked.source_room} at v{forked.source_version}, made "
            f"{format_time(forked.at)} UTC: v1-v{forked.source_version} are the source's",
        )


def _events(out: Output, title: str, entries: list[Versioned], names: Names) -> None:
    if not entries:
        return
    out.line("")
    out.line((title, "bold"))
    grid = out.table("v", "event", "what", grid=True)
    for entry in entries:
        grid.add_row(f"v{entry.version}", type(entry.event).__name__, describe(entry.event, names))
    out.print(grid)


def _round(out: Output, round_: Round, names: Names) -> None:
    """The round's parts in the order they happened."""
    out.line("")
    out.rule(f"Round {round_.number}")
    parts: list[tuple[int, Callable[[], None]]] = []
    for deal in round_.deals:
        parts.append((deal.version, partial(_deal, out, deal, names)))
    if round_.started is not None:
        parts.append((round_.started[0], partial(_started, out, round_.started, names)))
    if round_.declarations:
        parts.append((round_.declarations[0][0], partial(_declarations, out, round_, names)))
    for trick in round_.tricks:
        parts.append((trick.plays[0].version, partial(_trick, out, round_.number, trick, names)))
    for note in round_.notes:
        parts.append((note.version, partial(_note, out, note, names)))
    if round_.scored is not None:
        parts.append((round_.scored[0], partial(_scores, out, round_.scored[0], round_, names)))
    for _, render in sorted(parts, key=lambda part: part[0]):
        render()


def _note(out: Output, note: Versioned, names: Names) -> None:
    out.line(f"v{note.version} {describe(note.event, names)}")


def _started(out: Output, started: tuple[int, RoundStarted], names: Names) -> None:
    version, event = started
    out.line(
        f"v{version} starts: ",
        (seat_label(event.starter, names), "bold"),
        f" leads ({event.reason.value}), multiplier x{event.multiplier}",
    )


def _declarations(out: Output, round_: Round, names: Names) -> None:
    parts = [f"{seat_label(d.seat, names)} {d.piles}" for _, d in round_.declarations]
    total = sum(d.piles for _, d in round_.declarations)
    first = round_.declarations[0][0]
    out.line(f"v{first} declarations: " + ", ".join(parts) + f" (total {total})")


def _deal(out: Output, deal: Deal, names: Names) -> None:
    event = deal.event
    kind = "scripted deal" if event.scripted else "deal"
    out.line("")
    out.line((f"v{deal.version} {kind} {event.deal}", "bold"))
    grid = out.table("seat", "hand", "weak", grid=True)
    for seat, hand in enumerate(event.hands):
        grid.add_row(
            "  " + seat_label(seat, names), pieces_markup(hand), "weak" if is_weak(hand) else ""
        )
    out.print(grid)
    for version, decision in deal.decisions:
        out.line(f"  v{version} " + describe(decision, names))
    if deal.granted is not None:
        version, granted = deal.granted
        out.line(f"  v{version} ", (describe(granted, names), "bold yellow"))


def _trick(out: Output, round_number: int, trick: Trick, names: Names) -> None:
    lead = trick.plays[0].event
    count = len(lead.pieces)
    out.line("")
    out.line(
        (f"Trick {trick.number}", "bold"),
        f": {seat_label(trick.leader, names)} leads {count} piece{'s' if count != 1 else ''}",
    )
    grid = out.table("v", "seat", "pieces", "type", "best", grid=True)
    best = trick.winning_play
    for i, play in enumerate(trick.plays):
        e = play.event
        grid.add_row(
            f"  v{play.version}",
            seat_label(e.seat, names),
            pieces_markup(e.pieces),
            f"{e.play_type.value} {e.value}",
            Text("*", style="bold green") if i == best else "",
        )
    out.print(grid)
    if trick.won is not None:
        won = trick.won
        pile_word = "pile" if won.piles == 1 else "piles"
        out.line(
            f"  v{trick.won_version} won by ",
            (seat_label(won.seat, names), "bold green"),
            f": {won.piles} {pile_word} (round {round_number} trick {won.trick})",
        )


def _scores(out: Output, version: int, round_: Round, names: Names) -> None:
    assert round_.scored is not None
    scored = round_.scored[1]
    out.line("")
    table = out.table(
        "seat",
        "declared",
        "captured",
        "score",
        "total",
        title=f"v{version} round {scored.round} scores (multiplier x{scored.multiplier})",
    )
    rows = zip(scored.declared, scored.captured, scored.scores, scored.totals, strict=False)
    for seat, (declared, captured, score, total) in enumerate(rows):
        table.add_row(
            seat_label(seat, names),
            str(declared),
            str(captured),
            Text(signed(score), style="green" if score > 0 else "red"),
            str(total),
        )
    out.print(table)
    out.line(
        f"scores round {scored.round}: "
        + ", ".join(
            f"{seat_label(i, names)} {signed(s)} = {t}"
            for i, (s, t) in enumerate(zip(scored.scores, scored.totals, strict=False))
        )
    )


def _ending(out: Output, timeline: Timeline, names: Names) -> None:
    for entry in timeline.ending:
        out.line("")
        event = entry.event
        if isinstance(event, GameOver):
            out.rule("Game over")
            out.line(f"v{entry.version} ", (describe(event, names), "bold green"))
            ranked = sorted(range(len(event.totals)), key=lambda s: -event.totals[s])
            table = out.table("rank", "seat", "total", title="final totals")
            for rank, seat in enumerate(ranked, start=1):
                winner = " (winner)" if seat in event.winners else ""
                table.add_row(str(rank), seat_label(seat, names) + winner, str(event.totals[seat]))
            out.print(table)
        elif isinstance(event, RoomClosed):
            out.line(f"v{entry.version} ", (describe(event, names), "bold red"))
