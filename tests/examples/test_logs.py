"""The example server logs JSON lines on stderr, each with the ids it is about."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[2]


async def play_a_little(url: str) -> None:
    async with connect(url) as ws:

        async def ask(message: dict[str, object]) -> dict[str, object]:
            await ws.send(json.dumps(message))
            while True:
                reply = json.loads(await ws.recv())
                if reply["type"] != "update":
                    return reply

        assert (await ask({"type": "hello", "name": "Ann"}))["type"] == "welcome"
        assert (await ask({"type": "create_room"}))["type"] == "ok"
        assert (await ask({"type": "start"}))["type"] == "ok"
        assert (await ask({"type": "declare", "piles": 99}))["type"] == "error"


def test_the_server_logs_json_lines_with_room_player_and_command(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "examples.server", "--db", str(tmp_path / "games.db")]
        + ["--port", "0", "--fast"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert "listening on ws://" in line, line
        asyncio.run(play_a_little(line.split()[2]))
    finally:
        server.terminate()
        _, err = server.communicate(timeout=60)
    lines = [text for text in err.splitlines() if text.strip()]
    assert all(text.startswith("{") for text in lines), err
    records = [json.loads(text) for text in lines]
    assert records, "the server logged nothing"
    assert all({"at", "level", "logger", "message"} <= r.keys() for r in records)
    assert all(r["logger"].startswith("liaptui.") for r in records)
    events = {r.get("event") for r in records}
    assert {"connection.open", "connection.close", "command", "room.start"} <= events
    start = next(r for r in records if r.get("command") == "StartGame")
    assert start["player"] == "Ann" and len(start["room_id"]) == 6
    created = next(r for r in records if r.get("command") == "CreateRoom")
    assert (created["player"], created["room_id"]) == ("Ann", start["room_id"])
    assert any(r.get("code") for r in records if r.get("event") in ("command", "message.refused"))
