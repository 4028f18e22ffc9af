"""`export`, `import` and `diff`: moving a match to a file and a scratch store, and comparing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.replay_tool.conftest import Tool
from tests.replay_tool.matches import PlayedStore, rewrite_event


def test_export_import_round_trip_verifies_in_the_scratch_store(
    tool: Tool, played: PlayedStore, tmp_path: Path
) -> None:
    exported = tmp_path / "redeal.jsonl"
    scratch = tmp_path / "scratch.db"
    export = tool("--db", played.db, "export", played.redeal_room, "-o", exported)
    assert export.returncode == 0, export.stderr
    imported = tool("import", exported, "--into", scratch)
    assert imported.returncode == 0, imported.stderr
    assert "imported REDEAL: 435 events" in imported.stdout
    verified = tool("--db", scratch, "verify", played.redeal_room)
    assert verified.returncode == 0, verified.stdout
    same = tool(
        "--db",
        played.db,
        "diff",
        played.redeal_room,
        played.redeal_room,
        "--other-db",
        scratch,
        "--exact",
    )
    assert same.returncode == 0 and "identical: 435 events" in same.stdout


def test_export_jsonl_has_a_header_then_events_then_commands(
    tool: Tool, played: PlayedStore
) -> None:
    result = tool("--db", played.db, "export", played.plain_room)
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert records[0]["record"] == "match" and records[0]["room_id"] == "PLAIN1"
    events = [r for r in records if r["record"] == "event"]
    commands = [r for r in records if r["record"] == "command"]
    assert [e["version"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["event"]["type"] == "RoomCreated" and events[0]["event"]["host"] == "alice"
    assert commands[0]["command"]["type"] == "CreateRoom"
    assert commands[-1]["last_version"] == len(events)


def test_an_archived_match_exports_as_json_and_imports(
    tool: Tool, played: PlayedStore, tmp_path: Path
) -> None:
    exported = tmp_path / "archived.json"
    scratch = tmp_path / "scratch.db"
    tool("--db", played.db, "export", played.archived_room, "--format", "json", "-o", exported)
    document = json.loads(exported.read_text())
    assert document["match"]["status"] == "archived" and len(document["events"]) == 435
    assert tool("import", exported, "--into", scratch).returncode == 0
    verified = tool("--db", scratch, "verify", played.archived_room)
    assert verified.returncode == 0 and "ARCHIV  PASS" in verified.stdout


def test_import_refuses_a_room_the_scratch_store_already_holds(
    tool: Tool, played: PlayedStore, tmp_path: Path
) -> None:
    exported = tmp_path / "plain.jsonl"
    scratch = tmp_path / "scratch.db"
    tool("--db", played.db, "export", played.plain_room, "-o", exported)
    assert tool("import", exported, "--into", scratch).returncode == 0
    again = tool("import", exported, "--into", scratch)
    assert again.returncode == 2
    assert again.stderr.strip() == f"replay-tool: error: {scratch} already holds a match PLAIN1"


def test_import_refuses_an_export_whose_readable_event_was_edited(
    tool: Tool, played: PlayedStore, tmp_path: Path
) -> None:
    exported = tmp_path / "plain.jsonl"
    tool("--db", played.db, "export", played.plain_room, "-o", exported)
    lines = exported.read_text().splitlines()
    record = json.loads(lines[1])
    record["event"]["host"] = "mallory"
    lines[1] = json.dumps(record)
    exported.write_text("\n".join(lines) + "\n")
    result = tool("import", exported, "--into", tmp_path / "scratch.db")
    assert result.returncode == 2
    assert "v1 RoomCreated: the readable event disagrees with its data" in result.stderr


def test_diff_of_two_plays_of_one_seed_is_identical(tool: Tool, played: PlayedStore) -> None:
    loose = tool("--db", played.db, "diff", played.plain_room, played.twin_room)
    exact = tool("--db", played.db, "diff", played.plain_room, played.twin_room, "--exact")
    assert loose.returncode == 0
    assert "identical: 465 events (ignoring event times and the room code)" in loose.stdout
    assert exact.returncode == 1 and "first divergence at v1" in exact.stdout


def test_diff_of_different_matches_names_the_first_divergence(
    tool: Tool, played: PlayedStore
) -> None:
    result = tool("--db", played.db, "diff", played.plain_room, played.redeal_room)
    assert result.returncode == 1
    assert "first divergence at v1" in result.stdout
    assert f"seed: A {played.plain_seed}, B {played.redeal_seed}" in result.stdout


def test_diff_of_a_match_and_its_export_finds_a_later_change(
    tool: Tool, store_copy: PlayedStore, tmp_path: Path
) -> None:
    exported = tmp_path / "twin.jsonl"
    tool("--db", store_copy.db, "export", store_copy.twin_room, "-o", exported)
    version = rewrite_event(store_copy.db, store_copy.twin_room, "Declared", 5, {"piles": 8})
    result = tool("--db", store_copy.db, "diff", store_copy.twin_room, exported)
    assert result.returncode == 1
    assert f"first divergence at v{version}" in result.stdout
    assert "1 of 465 versions differ" in result.stdout
    assert "piles: A 8, B" in result.stdout
