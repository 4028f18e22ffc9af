"""`verify` (re-deciding commands, recovery from snapshots, invariants) and the failures of
every command: one clear line on stderr with exit code 2; reading never writes."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from actors.config import EngineConfig
from actors.facade import Engine
from engine.commands import Disconnect, StartGame
from engine.state import IN_GAME
from engine.views import PlayerView
from tests.replay_tool.conftest import ROOT, Tool
from tests.replay_tool.matches import PlayedStore, first_event_data, rewrite_event


def test_verify_passes_a_recorded_match_with_redeals(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "verify", played.redeal_room)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "REDEAL  PASS" in out
    assert "re-decide   PASS" in out and "identical events" in out
    assert "recovery    PASS  snapshot at v" in out  # the engine snapshots every 50 events
    assert "invariants  PASS" in out


def test_verify_passes_an_archived_match(tool: Tool, played: PlayedStore) -> None:
    result = tool("--db", played.db, "verify", played.archived_room)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ARCHIV  PASS" in result.stdout
    assert "recovery    SKIP  no usable snapshot" in result.stdout  # archival drops snapshots


def test_verify_all_shows_a_summary_and_passes_a_clean_store(
    tool: Tool, played: PlayedStore
) -> None:
    result = tool("--db", played.db, "verify", "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "6 matches verified: 6 passed, 0 failed, 0 unreadable" in result.stdout


def test_verify_names_the_version_of_a_tampered_declaration(
    tool: Tool, store_copy: PlayedStore
) -> None:
    room = store_copy.plain_room
    original = first_event_data(store_copy.db, room, "Declared")["piles"]
    assert isinstance(original, int)
    version = rewrite_event(store_copy.db, room, "Declared", 0, {"piles": (original + 1) % 9})
    result = tool("--db", store_copy.db, "verify", room)
    assert result.returncode == 1
    out = result.stdout
    assert "PLAIN1  FAIL" in out
    assert f"re-decide   FAIL  first divergence at v{version} Declared" in out
    assert f"piles: recorded {(original + 1) % 9}, re-decided {original}" in out
    assert "RoundScored: declared" in out  # the scoring no longer matches the declarations


def test_verify_checks_scores_against_the_formula(tool: Tool, store_copy: PlayedStore) -> None:
    room = store_copy.plain_room
    scored = first_event_data(store_copy.db, room, "RoundScored")
    scores = list(scored["scores"])
    totals = list(scored["totals"])
    scores[0] += 1
    totals[0] += 1
    version = rewrite_event(
        store_copy.db, room, "RoundScored", 0, {"scores": scores, "totals": totals}
    )
    out = tool("--db", store_copy.db, "verify", room).stdout
    assert (
        f"v{version} RoundScored: P1 scores {scores[0]}, the formula gives {scores[0] - 1}" in out
    )


def test_verify_all_fails_when_any_match_fails(tool: Tool, store_copy: PlayedStore) -> None:
    rewrite_event(store_copy.db, store_copy.twin_room, "TrickWon", 3, {"seat": 0, "piles": 5})
    result = tool("--db", store_copy.db, "verify", "--all")
    assert result.returncode == 1
    assert "6 matches verified: 5 passed, 1 failed" in result.stdout
    assert "TWIN01  FAIL" in result.stdout


def test_verify_reads_a_store_while_the_engine_is_writing_to_it(
    store_copy: PlayedStore, tool_env: dict[str, str]
) -> None:
    async def scenario() -> tuple[int, str]:
        config = EngineConfig.fast(str(store_copy.db), archive_after=None, bot_delay=0.01)
        async with Engine.open(store_copy.db, config) as engine:
            await engine.create_room("zoe", seed=3, room_id="LIVE01")
            await engine.send("LIVE01", StartGame(player="zoe"))
            await engine.send("LIVE01", Disconnect(player="zoe"))
            await asyncio.sleep(0.3)
            # A plain subprocess on a worker thread, with a deadline: the tool must finish on
            # its own while the engine keeps writing, and a hang must fail the test, not CI.
            process = await asyncio.to_thread(
                subprocess.run,
                [
                    sys.executable,
                    "-m",
                    "replay_tool",
                    "--db",
                    str(store_copy.db),
                    "verify",
                    "LIVE01",
                ],
                cwd=ROOT,
                env=tool_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
            view = await engine.view("LIVE01", None)
            assert isinstance(view, PlayerView) and view.phase in IN_GAME, "not mid-match"
        return process.returncode, process.stdout.decode()

    code, output = asyncio.run(scenario())
    assert code == 0, output
    assert "LIVE01  PASS" in output


# --- errors and read-only access ------------------------------------------------------------


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("replay-tool: error: ")
    return lines[0]


def test_a_missing_store_is_an_error_and_is_not_created(tool: Tool, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    for command in (["list"], ["verify", "--all"]):
        result = tool("--db", missing, *command)
        assert result.returncode == 2
        assert one_error_line(result.stderr) == f"replay-tool: error: store not found: {missing}"
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_room_is_an_error(tool: Tool, played: PlayedStore) -> None:
    for command in ("show", "verify"):
        result = tool("--db", played.db, command, "NOPE99")
        assert result.returncode == 2
        assert one_error_line(result.stderr).endswith(f"no match NOPE99 in {played.db}")


def test_a_corrupt_bundle_is_an_error(tool: Tool, store_copy: PlayedStore) -> None:
    with closing(sqlite3.connect(store_copy.archive)) as conn:
        (body,) = conn.execute(
            "SELECT body FROM bundles WHERE stream_id = ?", (store_copy.archived_room,)
        ).fetchone()
        damaged = bytearray(body)
        damaged[len(damaged) // 2] ^= 0xFF
        conn.execute(
            "UPDATE bundles SET body = ? WHERE stream_id = ?",
            (bytes(damaged), store_copy.archived_room),
        )
        conn.commit()
    shown = tool("--db", store_copy.db, "show", store_copy.archived_room)
    assert shown.returncode == 2
    assert one_error_line(shown.stderr) == (
        "replay-tool: error: corrupt data: stream 'ARCHIV': bundle body fails its checksum"
    )
    every = tool("--db", store_copy.db, "verify", "--all")
    assert every.returncode == 1
    assert "ARCHIV | ERROR  | corrupt data" in every.stdout
    assert "1 unreadable" in every.stdout


def test_an_event_row_failing_its_checksum_is_an_error(tool: Tool, store_copy: PlayedStore) -> None:
    with closing(sqlite3.connect(store_copy.db)) as conn:
        conn.execute(
            "UPDATE events SET checksum = checksum + 1 WHERE stream_id = ? AND version = 3",
            (store_copy.plain_room,),
        )
        conn.commit()
    result = tool("--db", store_copy.db, "verify", store_copy.plain_room)
    assert result.returncode == 2
    assert one_error_line(result.stderr) == (
        "replay-tool: error: corrupt data: stream 'PLAIN1' version 3: event data fails its checksum"
    )


def test_a_file_that_is_not_a_store_is_an_error(tool: Tool, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_text("not a database")
    result = tool("--db", bogus, "list")
    assert result.returncode == 2
    assert "is not a readable event store" in one_error_line(result.stderr)


def test_a_missing_archive_makes_archived_matches_unreadable(
    tool: Tool, store_copy: PlayedStore
) -> None:
    store_copy.archive.unlink()
    result = tool("--db", store_copy.db, "show", store_copy.archived_room)
    assert result.returncode == 2
    assert "archived stream has no bundle in the archive" in one_error_line(result.stderr)


def test_bad_arguments_are_errors(tool: Tool, played: PlayedStore) -> None:
    both = tool("--db", played.db, "verify", played.plain_room, "--all")
    date = tool("--db", played.db, "list", "--since", "last tuesday")
    assert both.returncode == date.returncode == 2
    assert "verify takes either a ROOM or --all" in one_error_line(both.stderr)
    assert "not a date: 'last tuesday'" in one_error_line(date.stderr)


def test_reading_commands_leave_the_store_files_unchanged(
    tool: Tool, store_copy: PlayedStore, tmp_path: Path
) -> None:
    def digests() -> tuple[str, str]:
        return (
            hashlib.sha256(store_copy.db.read_bytes()).hexdigest(),
            hashlib.sha256(store_copy.archive.read_bytes()).hexdigest(),
        )

    before = digests()
    for command in (
        ["list", "--player", "carol"],
        ["step", store_copy.plain_room, "--at", "5"],
        ["verify", "--all"],
        ["diff", store_copy.plain_room, store_copy.archived_room],
    ):
        assert tool("--db", store_copy.db, *command).returncode in (0, 1)
    assert digests() == before
