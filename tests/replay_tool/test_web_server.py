"""`replay-tool serve`: the web replay viewer over HTTP from a read-only store, as a real
process on a free 127.0.0.1 port."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from engine.events import GameOver
from tests.replay_tool.conftest import ROOT
from tests.replay_tool.matches import PlayedStore, run_match


def get(url: str, data: bytes | None = None) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, data=data, timeout=20) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_serve_shows_every_match_of_a_store_it_never_writes(
    played: PlayedStore, tool_env: dict[str, str]
) -> None:
    before = (digest(played.db), digest(played.archive))
    command = [sys.executable, "-m", "replay_tool", "--db", str(played.db), "serve", "--port", "0"]
    proc = subprocess.Popen(command, cwd=ROOT, env=tool_env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("replay viewer on http://127.0.0.1:"), line
        base = line.split()[3].rstrip("/")
        status, index = get(base + "/")
        assert status == 200
        for room in (played.plain_room, played.archived_room):
            assert f'href="/replay/{room}"'.encode() in index
        status, page = get(f"{base}/replay/{played.plain_room}")
        assert status == 200 and b'src="/replay.js"' in page
        assert get(base + "/replay.js")[0] == get(base + "/pieces.js")[0] == 200
        status, body = get(f"{base}/api/replay/{played.plain_room.lower()}")
        assert status == 200
        document = json.loads(body)
        events = run_match(played.plain_seed).events
        assert len(document["frames"]) == len(events) + 1
        assert document["frames"][-1]["event_type"] == type(events[-1]).__name__
        assert isinstance(events[-1], GameOver)
        assert all(c["status"] != "fail" for c in document["verification"]["checks"])
        status, body = get(f"{base}/api/replay/{played.archived_room}")
        assert status == 200 and json.loads(body)["status"] == "archived"
        assert get(base + "/api/replay/NOPE00")[0] == 404
        assert get(base + "/api/replay/%2e%2e")[0] == 404
        assert get(base + "/../pyproject.toml")[0] == 404
        assert get(base + "/", data=b"x")[0] == 405  # a POST
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)  # a loaded machine is slow to wind down
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 130  # Ctrl-C, as every command reports it
    assert (digest(played.db), digest(played.archive)) == before
