"""Output of `list`, `verify` and `diff`: tables and one-line verdicts."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from replay_tool.comparison import Divergence
from replay_tool.errors import warn
from replay_tool.fields import compact, differences_text
from replay_tool.listing import MatchPage, MatchQuery
from replay_tool.narration import format_time
from replay_tool.output import Output, status_text
from replay_tool.recording import MatchRecording
from replay_tool.verification import Report, Unreadable


def show_page(out: Output, page: MatchPage, query: MatchQuery, origin: str) -> None:
    table = out.table("room", "status", "events", "created (UTC)", "updated (UTC)", "players")
    for summary in page.matches:
        info = summary.info
        table.add_row(
            info.stream_id,
            status_text(info.status),
            str(info.last_version),
            format_time(info.created_at),
            format_time(info.updated_at),
            ", ".join(summary.players) if summary.problem is None else "?",
        )
    out.print(table)
    for summary in page.matches:
        if summary.problem is not None:
            warn(f"{summary.info.stream_id}: {summary.problem}")
    first = query.offset + 1
    last = query.offset + len(page.matches)
    if not page.matches:
        out.line(f"no matches in {origin} match these filters")
    elif page.total is None:
        out.line(f"matches {first}-{last} of {origin}, newest activity first")
    else:
        out.line(f"matches {first}-{last} of {page.total} in {origin}")


def show_report(out: Output, report: Report) -> None:
    verdict = "pass" if report.ok else "fail"
    out.line(
        (report.room_id, "bold"),
        "  ",
        status_text(verdict),
        f"  {report.events} events, {report.commands} commands ({report.origin})",
    )
    for check in report.checks:
        out.line(f"  {check.name:<11} ", status_text(check.status), f"  {check.summary}")
        if check.status == "fail" and check.problems != (check.summary,):
            for problem in check.problems:
                out.line("      ", (problem, "red"))


def show_summary(out: Output, outcomes: Sequence[Report | Unreadable]) -> None:
    """One row per match, in the order verified, then the counts."""
    table = out.table("room", "result", "first problem", title="verification summary")
    for outcome in outcomes:
        if isinstance(outcome, Unreadable):
            table.add_row(outcome.room_id, Text("ERROR", style="bold red"), outcome.message)
        else:
            table.add_row(
                outcome.room_id,
                status_text("pass" if outcome.ok else "fail"),
                outcome.first_problem or "",
            )
    out.print(table)
    reports = [o for o in outcomes if isinstance(o, Report)]
    failed = sum(1 for r in reports if not r.ok)
    out.line(
        f"{len(outcomes)} matches verified: {len(reports) - failed} passed, {failed} failed, "
        f"{len(outcomes) - len(reports)} unreadable"
    )


def show_divergence(
    out: Output,
    left: MatchRecording,
    right: MatchRecording,
    divergence: Divergence | None,
    exact: bool,
) -> None:
    out.line(f"A: {left.room_id} ({left.origin}), {len(left.events)} events")
    out.line(f"B: {right.room_id} ({right.origin}), {len(right.events)} events")
    ignoring = "" if exact else " (ignoring event times and the room code)"
    if divergence is None:
        out.line(("identical", "bold green"), f": {len(left.events)} events{ignoring}")
        return
    longest = max(len(left.events), len(right.events))
    out.line(
        ("first divergence at v" + str(divergence.version), "bold red"),
        f"{ignoring}; {divergence.differing} of {longest} versions differ",
    )
    a, b = divergence.left, divergence.right
    out.line("  A: " + ("(ends before this version)" if a is None else compact(a.event)))
    out.line("  B: " + ("(ends before this version)" if b is None else compact(b.event)))
    if divergence.differences:
        out.line("  " + differences_text(list(divergence.differences), "A", "B"))
