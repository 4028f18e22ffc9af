"""`list`, `show` and `step` on a store of real matches, read as plain text (not a TTY)."""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

from engine.events import GameOver, HandsDealt, RedealGranted, RoundScored, TrickWon
from engine.simulation import run_match
from tests.replay_tool.conftest import Tool
from tests.replay_tool.matches import PlayedStore, recorded_events


def rooms_listed(stdout: str) -> list[str]:
    """The room codes in `list` output, in order."""
    rooms = []
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) > 1 and len(cells[0]) == 6 and cells[0].isupper():
            rooms.append(cells[0])
    return rooms


# --- list ----------------------------------------------------------------------------------


def test_list_shows_every_match_with_status_and_players(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "list")
    assert result.returncode == 0, result.stderr
    assert sorted(rooms_listed(result.stdout)) == sorted(
        ["REDEAL", "PLAIN1", "TWIN01", "JOINED", "ARCHIV", "LOBBY1"]
    )
    assert "archived" in result.stdout and "active" in result.stdout
    assert "bob, Bot 2, carol, Bot 4" in result.stdout
    assert "\x1b[" not in result.stdout  # plain text when stdout is not a terminal


def test_list_filters_by_status(tool: Tool, played: PlayedStore) -> None:
    archived = tool("--db", played.db, "list", "--status", "archived")
    active = tool("list", "--status", "active", "--db", played.db)
    assert rooms_listed(archived.stdout) == ["ARCHIV"]
    assert rooms_listed(active.stdout) == ["LOBBY1"]


def test_list_filters_by_a_player_in_host_joins_or_seats(tool: Tool, played: PlayedStore) -> None:
    joined = tool("--db", played.db, "list", "--player", "CAROL")  # names match in any case
    host = tool("--db", played.db, "list", "--player", "erin")  # LOBBY1 never started
    seated_bot = tool("--db", played.db, "list", "--player", "bot 3", "--sort", "room")
    assert rooms_listed(joined.stdout) == ["JOINED"]
    assert rooms_listed(host.stdout) == ["LOBBY1"]
    # JOINED replaced Bot 3 by carol, and LOBBY1's bots were never seated in a game.
    assert rooms_listed(seated_bot.stdout) == ["ARCHIV", "PLAIN1", "REDEAL", "TWIN01"]


def test_list_filters_by_room_code_prefix(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "list", "--room", "tw")
    assert rooms_listed(result.stdout) == ["TWIN01"]


def test_list_filters_by_dates_of_last_activity(tool: Tool, played: PlayedStore) -> None:
    with closing(sqlite3.connect(played.db)) as conn:
        (first,) = conn.execute("SELECT min(updated_at) FROM streams").fetchone()
    day = datetime.fromtimestamp(first, UTC).date()
    before = (day - timedelta(days=1)).isoformat()
    after = (day + timedelta(days=1)).isoformat()
    window = tool("--db", played.db, "list", "--since", before, "--until", after)
    past = tool("--db", played.db, "list", "--until", before)
    assert len(rooms_listed(window.stdout)) == 6
    assert rooms_listed(past.stdout) == [] and "no matches" in past.stdout


def test_list_sorts_and_pages(tool: Tool, played: PlayedStore) -> None:
    page = tool("--db", played.db, "list", "--sort", "room", "--limit", "2", "--offset", "1")
    by_created = rooms_listed(tool("--db", played.db, "list", "--sort", "created").stdout)
    # ARCHIV, JOINED, LOBBY1, PLAIN1, REDEAL, TWIN01: the second page of two from offset 1.
    assert rooms_listed(page.stdout) == ["JOINED", "LOBBY1"]
    assert "matches 2-3 of 6" in page.stdout
    assert by_created[0] == "LOBBY1" and by_created[-1] == "REDEAL"  # newest first


# --- show ----------------------------------------------------------------------------------


def test_show_prints_tricks_with_winners_and_scores(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "show", played.plain_room)
    assert result.returncode == 0, result.stderr
    events = run_match(played.plain_seed).events
    tricks = [e for e in events if isinstance(e, TrickWon)]
    scored = [e for e in events if isinstance(e, RoundScored)]
    over = next(e for e in events if isinstance(e, GameOver))
    out = result.stdout
    winners = [line for line in out.splitlines() if re.match(r"\s+v\d+ won by P\d", line)]
    assert len(winners) == len(tricks)
    last = tricks[-1]
    assert f"round {last.round} trick {last.trick}" in out
    for score in scored:
        assert f"round {score.round} scores (multiplier x{score.multiplier})" in out
    totals = "/".join(str(t) for t in over.totals)
    assert f"game over ({over.reason.value})" in out and f"totals {totals}" in out
    assert "\x1b[" not in out


def test_show_prints_deals_with_hands_and_redeals(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "show", "redeal")  # room codes in any case
    out = result.stdout
    granted = [e for e in run_match(played.redeal_seed).events if isinstance(e, RedealGranted)]
    assert out.count("redeal granted to") == len(granted) > 0
    assert "accepts a redeal" in out
    assert "deal 2" in out and "GENERAL_RED" in out and "weak" in out


def test_show_links_the_match_in_the_replay_viewer(tool: Tool, played: PlayedStore) -> None:
    out = tool("--db", played.db, "show", played.plain_room).stdout
    assert f"replay viewer: http://127.0.0.1:8765/replay/{played.plain_room}" in out
    elsewhere = tool("--db", played.db, "show", played.plain_room, "--web", "http://h:1/").stdout
    assert f"replay viewer: http://h:1/replay/{played.plain_room}" in elsewhere


def test_show_round_prints_only_that_round(tool: Tool, played: PlayedStore) -> None:
    out = tool("--db", played.db, "show", played.plain_room, "--round", "2").stdout
    assert "Round 2" in out and "Round 1 " not in out and "Round 3" not in out
    assert "round 2 scores" in out


def test_show_reads_an_archived_match(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "show", played.archived_room)
    assert result.returncode == 0, result.stderr
    assert "ARCHIV  archived" in result.stdout and "game over" in result.stdout


# --- step ----------------------------------------------------------------------------------


def test_step_at_prints_the_event_the_state_and_every_view(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "step", played.joined_room, "--at", "70")
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert out.startswith("JOINED v70/")
    assert "State (version 70)" in out and "phase" in out
    assert "Views" in out
    for viewer in ("bob", "carol", "spectator"):
        assert f"| {viewer} " in out


def test_step_json_holds_the_state_and_each_players_private_view(
    tool: Tool, played: PlayedStore
) -> None:
    events = recorded_events(played.db, played.joined_room)
    dealt = next(i + 1 for i, e in enumerate(events) if isinstance(e, HandsDealt))
    result = tool("--db", played.db, "step", played.joined_room, "--at", str(dealt), "--json")
    document = json.loads(result.stdout)
    assert document["version"] == dealt and document["state"]["version"] == dealt
    assert document["event"]["type"] == "HandsDealt"
    views = {v["viewer"]: v for v in document["views"]}
    hands = [seat["hand"] for seat in document["state"]["seats"]]
    assert views["bob"]["view"]["hand"] == hands[0]
    assert views["carol"]["view"]["hand"] == hands[2]
    assert views[None]["view"]["hand"] == []
    assert views["bob"]["event"]["hands"] == [hands[0], [], [], []]
    assert views["carol"]["event"]["hands"] == [[], [], hands[2], []]
    assert views[None]["event"]["hands"] == [[], [], [], []]


def test_step_interactive_moves_by_event_round_trick_and_search(
    tool: Tool, played: PlayedStore
) -> None:
    events = recorded_events(played.db, played.redeal_room)
    round_2 = next(
        i + 1 for i, e in enumerate(events) if isinstance(e, HandsDealt) and e.round == 2
    )
    trick_3 = next(
        i + 1
        for i, e in enumerate(events)
        if isinstance(e, TrickWon) and (e.round, e.trick) == (2, 3)
    )
    next_redeal = next(
        i + 1 for i, e in enumerate(events) if isinstance(e, RedealGranted) and i + 1 > trick_3
    )
    script = "n\np\nj 10\nr 2\nt 3\n/ redealgranted\n/ nosuch\nj 99999\nq\n"
    result = tool(
        "--db", played.db, "step", played.redeal_room, "--at", "1", "--interactive", stdin=script
    )
    assert result.returncode == 0, result.stderr
    visited = [int(v) for v in re.findall(r"REDEAL v(\d+)/\d+  ", result.stdout)]
    assert visited == [1, 2, 1, 10, round_2, trick_3, next_redeal]
    assert f"no nosuch event after v{next_redeal}" in result.stdout
    assert "there is no event 99999" in result.stdout


def test_step_at_zero_is_the_room_before_any_event(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "step", played.plain_room, "--at", "0")
    assert result.returncode == 0
    assert "before any event" in result.stdout and "NEW" in result.stdout
