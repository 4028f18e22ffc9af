"""Two engine processes on one SQLite file driving the same room keep one history.

Each process loads the room, so each holds a room actor that believes it is the room's
only writer. Appends carry the expected stream version: the process that moves second on
a stale room is refused with a typed "conflict", reloads, and continues; a command id both
processes send is applied once. Then both race to the end of the match (their bots race
too). The stream must be one contiguous history, tiled by commands, each id once, and
every acknowledgement either process received must be in it, exactly as acknowledged.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Engine
from engine.codec import decode_command, decode_records, encode_event
from engine.evolve import fold
from engine.settings import RoomSettings
from engine.state import Phase
from engine.store.sqlite import SqliteEventStore
from tests.reliability.harness import check_stream, open_human_room

WORKER = Path(__file__).with_name("rival_worker.py")
ROOT = Path(__file__).resolve().parents[2]
ROOM = "RIVALS"


class Rival:
    def __init__(self, db: Path, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(db), ROOM, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def line(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"{self.name} exited: {self.process.wait()}"
        return line

    def ready(self) -> int:
        words = self.line().split()
        assert words[0] == "ready", words
        return int(words[1])

    def ask(self, request: str) -> dict[str, Any]:
        self.tell(request)
        return dict(json.loads(self.line()))

    def tell(self, request: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()

    def quit(self) -> None:
        self.tell("quit")
        assert self.process.wait(timeout=30) == 0


def test_two_engine_processes_on_one_file_keep_one_history_and_the_loser_continues(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"
    settings = replace(RoomSettings.fast(), round_cap=2)

    async def create() -> None:
        config = EngineConfig.fast(str(db), archive_after=None, projections=False)
        async with Engine.open(db, config) as engine:
            await open_human_room(engine, ROOM, seed=11, settings=settings)

    asyncio.run(create())
    a, b = Rival(db, "A"), Rival(db, "B")
    try:
        assert a.ready() == b.ready()
        # A moves; B's room and B's client are now a version behind.
        first = a.ask("move")
        assert "first" in first and not first["dup"], first
        stale = b.ask("move")
        assert stale.get("code") == "conflict", stale
        # B reloaded (its room rebuilt itself from the store): its next move is accepted.
        again = b.ask("move")
        assert "first" in again and not again["dup"], again
        # Now A is behind: the same refusal, the same recovery.
        assert a.ask("move").get("code") == "conflict"
        # One id sent by both processes: applied once; the second sender gets the original.
        original = a.ask("shared")
        duplicate = b.ask("shared")
        assert duplicate["cid"] == original["cid"] and duplicate["dup"], (original, duplicate)
        assert (duplicate["first"], duplicate["events"]) == (original["first"], original["events"])
        # Both race to the end.
        a.tell("race 1")
        b.tell("race 2")
        results = [json.loads(a.line()), json.loads(b.line())]
        a.quit()
        b.quit()
    finally:
        for rival in (a, b):
            if rival.process.poll() is None:
                rival.process.kill()
    acks = [first, again, original, duplicate, *results[0]["acks"], *results[1]["acks"]]
    codes = [stale["code"], *results[0]["codes"], *results[1]["codes"]]
    asyncio.run(audit(db, acks))
    assert "conflict" in codes
    # A client acting on a stale view may be told its move no longer fits (not_your_turn,
    # wrong_piece_count, ...); the engine itself never failed or lost its footing.
    assert not {"unavailable", "overloaded", "malformed_command"} & set(codes), codes
    assert all(r["acks"] for r in results), "both processes got moves in during the race"


async def audit(db: Path, acks: list[dict[str, Any]]) -> None:
    store = await SqliteEventStore.open(db)
    try:
        records = await store.read_stream(ROOM)
        commands = await store.read_commands(ROOM)
    finally:
        await store.close()
    check_stream(ROOM, records, commands)  # one contiguous history; each command id once
    events = decode_records(records)
    assert fold(events).phase is Phase.GAME_OVER
    by_id = {decode_command(c.command).command_id: c for c in commands}
    stored = [encode_event(e)[2].hex() for e in events]
    for ack in acks:
        command = by_id[ack["cid"]]  # every acknowledged command is in the one history
        assert command.first_version == ack["first"], ack["cid"]
        first = ack["first"] - 1
        assert stored[first : first + len(ack["events"])] == ack["events"], ack["cid"]
