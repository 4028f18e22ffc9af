"""The example server's HTTP side on its WebSocket port: the web client's files and the replay
viewer's document, fetched over real HTTP from 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import tomllib
import urllib.error
import urllib.request
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from actors.config import EngineConfig
from actors.facade import Engine
from engine.codec import decode_records
from engine.events import HandsDealt, PiecesPlayed, TrickWon
from engine.pieces import DECK
from examples.http_routes import PAGES, VIEWER_PAGE
from examples.server import serving
from tests.actors.conftest import start_bot_match, wait_for_archived, wait_for_game_over
from tests.examples.test_server import running_server


async def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    def get() -> tuple[int, dict[str, str], bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    return await asyncio.to_thread(get)  # the server runs on this loop: never block it


def http_of(ws_url: str) -> str:
    return ws_url.replace("ws://", "http://")


def test_the_pages_are_served_beside_the_websocket(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (_, url):
            base = http_of(url)
            status, headers, body = await fetch(base + "/")
            assert status == 200 and headers["Content-Type"].startswith("text/html")
            assert b'src="/app.js"' in body
            assert "default-src 'self'" in headers["Content-Security-Policy"]
            for name in ("app.js", "pieces.js", "replay.js"):
                status, headers, body = await fetch(f"{base}/{name}")
                assert status == 200 and headers["Content-Type"].startswith("text/javascript")
                assert b"http://" not in body and b"https://" not in body  # nothing fetched away
            status, _, body = await fetch(base + "/replay/ABCDEF")
            assert status == 200 and b'src="/replay.js"' in body
            for missing in ("/nothing", "/../pyproject.toml", "/api/replay/ABCDEF", "/api/replay/x"):
                status, _, _ = await fetch(base + missing)
                assert status == 404, missing

    asyncio.run(scenario())


def test_the_replay_document_has_every_position_and_every_hand(tmp_path: Path) -> None:
    async def scenario() -> dict[str, Any]:
        async with running_server(tmp_path) as (engine, url):
            room = await start_bot_match(engine, "Ann", seed=7)
            await wait_for_game_over(engine, [room])
            status, _, body = await fetch(f"{http_of(url)}/api/replay/{room.lower()}")
            assert status == 200
            document: dict[str, Any] = json.loads(body)
            events = list(decode_records(await engine.store.read_stream(room)))
            document["_events"] = events
            return document

    document = asyncio.run(scenario())
    events = document.pop("_events")
    frames = document["frames"]
    assert document["last_version"] == len(events) and len(frames) == len(events) + 1
    assert [f["version"] for f in frames] == list(range(len(events) + 1))
    assert [f["event_type"] for f in frames[1:]] == [type(e).__name__ for e in events]
    dealt = next(i for i, e in enumerate(events, 1) if isinstance(e, HandsDealt))
    assert sorted(p for hand in frames[dealt]["hands"] for p in hand) == sorted(DECK)
    assert all(frame["table"]["hand"] == [] for frame in frames)  # the table is a spectator's
    # Each trick mark points at its TrickWon, after which that trick's pieces left the hands.
    played = 0
    marks = [t for r in document["rounds"] for t in r["tricks"]]
    assert len(marks) == sum(isinstance(e, TrickWon) for e in events)
    for mark in marks:
        won = events[mark["version"] - 1]
        assert isinstance(won, TrickWon) and won.seat == mark["winner"]
    for version, event in enumerate(events, 1):
        if isinstance(event, HandsDealt):
            played = 0
        elif isinstance(event, PiecesPlayed):
            played += len(event.pieces)
        if played and isinstance(event, PiecesPlayed):
            assert sum(len(h) for h in frames[version]["hands"]) == 32 - played
    checks = document["verification"]["checks"]
    assert checks and all(c["status"] != "fail" for c in checks)


def test_every_web_file_is_package_data_so_a_wheel_carries_it() -> None:
    """`pip wheel .` ships what pyproject's package-data names; every served file must be."""
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert "examples*" in packages
    globs = config["tool"]["setuptools"]["package-data"]["examples"]
    web = root / "examples" / "web"
    files = sorted(p.relative_to(web.parent).as_posix() for p in web.iterdir() if p.is_file())
    assert files and all(any(fnmatch(f, g) for g in globs) for f in files), (files, globs)
    served = set(PAGES.values()) | {VIEWER_PAGE}
    assert {Path(f).name for f in files} == served  # and every file is served


def test_an_archived_match_replays_from_the_archive(tmp_path: Path) -> None:
    async def scenario() -> None:
        config = EngineConfig.fast(str(tmp_path / "games.db"), bot_delay=0.0, archive_after=0.0)
        async with (
            Engine.open(config.path, config) as engine,
            serving(engine, "127.0.0.1", 0) as server,
        ):
            port = server.sockets[0].getsockname()[1]
            room = await start_bot_match(engine, "Ann", seed=11)
            await wait_for_archived(engine, [room])
            status, _, body = await fetch(f"http://127.0.0.1:{port}/api/replay/{room}")
            assert status == 200
            document = json.loads(body)
            assert document["status"] == "archived"
            assert len(document["frames"]) == document["last_version"] + 1 > 100
            assert document["frames"][-1]["event_type"] == "GameOver"
            assert all(c["status"] != "fail" for c in document["verification"]["checks"])

    asyncio.run(scenario())
