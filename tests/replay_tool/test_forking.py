"""`replay-tool fork`: a new room from a recorded match, which `verify` and `show` know."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from tests.replay_tool.conftest import Tool
from tests.replay_tool.matches import PlayedStore


def stored_rows(db: Path) -> tuple[int, int]:
    """(events, streams) in the hot file."""
    with closing(sqlite3.connect(db)) as conn:
        (events,) = conn.execute("SELECT count(*) FROM events").fetchone()
        (streams,) = conn.execute("SELECT count(*) FROM streams").fetchone()
    return events, streams


def test_a_fork_of_an_archived_match_verifies_and_shows_its_source(
    store_copy: PlayedStore, tool: Tool
) -> None:
    source = store_copy.archived_room
    forked = tool("fork", source, "--at", "40", "--as", "frk001", "--db", store_copy.db)
    assert forked.returncode == 0, forked.stderr
    assert "into FRK001" in forked.stdout
    verified = tool("verify", "FRK001", "--db", store_copy.db)
    assert verified.returncode == 0, verified.stdout
    assert f"v1-v40 are {source} at v40, unchanged" in verified.stdout
    shown = tool("show", "FRK001", "--db", store_copy.db)
    assert f"fork of {source} at v40" in shown.stdout
    assert f"v41 forked as FRK001 from {source}" in shown.stdout
    original = tool("verify", source, "--db", store_copy.db)
    assert original.returncode == 0 and "not a fork" in original.stdout


def test_a_fork_at_game_over_or_past_the_end_fails_and_writes_nothing(
    store_copy: PlayedStore, tool: Tool
) -> None:
    room = store_copy.plain_room
    before = stored_rows(store_copy.db)
    with closing(sqlite3.connect(store_copy.db)) as conn:
        (last,) = conn.execute(
            "SELECT max(version) FROM events WHERE stream_id = ?", (room,)
        ).fetchone()
    over = tool("fork", room, "--at", str(last), "--db", store_copy.db)
    assert over.returncode == 2 and "match_over" in over.stderr, over.stderr
    beyond = tool("fork", room, "--at", str(last + 1), "--db", store_copy.db)
    assert beyond.returncode == 2 and "version_out_of_range" in beyond.stderr
    unknown = tool("fork", "NOSUCH", "--at", "3", "--db", store_copy.db)
    assert unknown.returncode == 2 and "room_not_found" in unknown.stderr
    assert stored_rows(store_copy.db) == before
