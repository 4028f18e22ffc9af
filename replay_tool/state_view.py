"""`step` output: the full room state after an event, and what every player sees of it."""

from __future__ import annotations

import msgspec
from msgspec import Struct
from rich.text import Text

from engine.events import Event, HandsDealt
from engine.state import RoomState, TrickPlay
from engine.views import PlayerView, redact, view, viewer_seat
from replay_tool.fields import compact
from replay_tool.narration import Names, describe, format_time, seat_label
from replay_tool.output import Output, pieces_markup
from replay_tool.recording import MatchRecording


def viewers(state: RoomState) -> list[str | None]:
    """Whose views `step` shows: every seated human by name, then a spectator (None).

    Bots have no view of their own (they act on the full state), so their seats appear
    only in the state.
    """
    humans: list[str | None] = [s.name for s in state.seats if s.is_human and s.name is not None]
    return [*humans, None]


class ViewerStep(Struct, frozen=True):
    """What one viewer is sent: the view after the event, and the event as redacted for them."""

    viewer: str | None
    view: PlayerView
    event: Event | None


class StepDocument(Struct, frozen=True, kw_only=True):
    """`step --json`: the event at `version`, the full state after it, and every view."""

    room_id: str
    version: int
    last_version: int
    event: Event | None
    state: RoomState
    views: list[ViewerStep]


def step_json(recording: MatchRecording, position: int, state: RoomState) -> str:
    event = recording.events[position - 1].event if position else None
    views = [
        ViewerStep(
            viewer,
            view(state, viewer),
            None if event is None else redact(event, viewer_seat(state, viewer)),
        )
        for viewer in viewers(state)
    ]
    document = StepDocument(
        room_id=recording.room_id,
        version=position,
        last_version=recording.last_version,
        event=event,
        state=state,
        views=views,
    )
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode()


def show_step(out: Output, recording: MatchRecording, position: int, state: RoomState) -> None:
    """Print the event at `position`, the state after it, and each viewer's view."""
    names: Names = tuple(s.name for s in state.seats)
    if position == 0:
        out.line((f"{recording.room_id} v0/{recording.last_version}", "bold"), "  before any event")
    else:
        stored = recording.events[position - 1]
        out.line(
            (f"{recording.room_id} v{position}/{recording.last_version}", "bold"),
            "  ",
            (stored.type, "bold cyan"),
            f"  {describe(stored.event, names)}",
        )
        out.line(
            f"recorded {format_time(stored.recorded_at)} UTC, schema v{stored.schema_version}, "
            f"position {stored.position}"
        )
        out.line(compact(stored.event))
    out.line("")
    _state(out, state, names)
    out.line("")
    event = recording.events[position - 1].event if position else None
    _views(out, state, event, names)


def _optional_time(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _state(out: Output, state: RoomState, names: Names) -> None:
    out.line(("State", "bold"), f" (version {state.version})")
    grid = out.table("field", "value", grid=True)
    turn = "-" if state.turn is None else seat_label(state.turn, names)
    rows = [
        ("phase", state.phase.value),
        ("room", f"{state.room_id or '-'} seed {state.seed}, host {seat_label(state.host, names)}"),
        ("round", f"{state.round}, deals so far {state.deals}, redeals {state.redeals}"),
        ("multiplier", f"x{state.multiplier}"),
        ("starter", f"{seat_label(state.starter, names)} ({state.starter_reason.value})"),
        ("turn", turn),
        (
            "trick",
            f"{state.trick}, leader {seat_label(state.leader, names)}, required {state.required}",
        ),
        (
            "timers",
            f"due_at {_optional_time(state.due_at)}, "
            f"abandon_at {_optional_time(state.abandon_at)}, "
            f"lead_not_before {_optional_time(state.lead_not_before)}",
        ),
    ]
    if state.winners or state.end_reason is not None:
        winners = ", ".join(seat_label(s, names) for s in state.winners)
        reason = state.end_reason.value if state.end_reason is not None else "-"
        rows.append(("ended", f"{reason}; winners {winners or '-'}"))
    for field, value in rows:
        grid.add_row("  " + field, value)
    out.print(grid)
    table = out.table(
        "seat",
        "kind",
        "connected",
        "hand",
        "score",
        "declared",
        "piles",
        "0-streak",
        "weak",
        "redeal",
    )
    for i, seat in enumerate(state.seats):
        if seat.name is None:
            table.add_row(f"P{i + 1}", "empty", "", "", "", "", "", "", "", "")
            continue
        table.add_row(
            seat_label(i, names),
            "bot" if seat.is_bot else "human",
            "yes" if seat.connected else "no",
            pieces_markup(seat.hand),
            str(seat.score),
            "-" if seat.declared is None else str(seat.declared),
            str(seat.piles),
            str(seat.zero_streak),
            "yes" if seat.weak else "",
            "-" if seat.redeal is None else ("accept" if seat.redeal else "decline"),
        )
    out.print(table)
    if state.plays:
        _plays(out, "current trick", state.plays, state.best, names)
    if state.last_trick:
        winner = state.last_trick_winner
        _plays(out, "last trick", state.last_trick, None, names, winner)


def _plays(
    out: Output,
    title: str,
    plays: tuple[TrickPlay, ...],
    best: int | None,
    names: Names,
    winner: int | None = None,
) -> None:
    out.line((title, "bold"))
    grid = out.table("seat", "pieces", "type", "mark", grid=True)
    for i, play in enumerate(plays):
        mark = "best so far" if i == best else ("won" if play.seat == winner else "")
        grid.add_row(
            "  " + seat_label(play.seat, names),
            pieces_markup(play.pieces),
            f"{play.play_type.value} {play.value}",
            Text(mark, style="bold green"),
        )
    out.print(grid)


def _views(out: Output, state: RoomState, event: Event | None, names: Names) -> None:
    out.line(("Views", "bold"), " (what each viewer is sent; bots act on the full state)")
    table = out.table("viewer", "seat", "own hand", "hand sizes", "weak P1-P4", "event as sent")
    for viewer in viewers(state):
        seen = view(state, viewer)
        table.add_row(
            "spectator" if viewer is None else viewer,
            "-" if seen.my_seat is None else f"P{seen.my_seat + 1}",
            pieces_markup(seen.hand),
            " ".join(str(s.hand_size) for s in seen.seats),
            _weak_seen(seen),
            _event_as_sent(event, seen.my_seat, names),
        )
    out.print(table)


def _weak_seen(seen: PlayerView) -> str:
    """Each seat's weak flag as this viewer sees it: y, n, or ? when hidden."""
    return " ".join("?" if s.weak is None else ("y" if s.weak else "n") for s in seen.seats)


def _event_as_sent(event: Event | None, seat: int | None, names: Names) -> str:
    if event is None:
        return "-"
    sent = redact(event, seat)
    if isinstance(sent, HandsDealt):
        shown = [f"P{i + 1}" for i, hand in enumerate(sent.hands) if hand]
        return "hands of " + (", ".join(shown) if shown else "nobody")
    return "as recorded" if sent == event else describe(sent, names)
