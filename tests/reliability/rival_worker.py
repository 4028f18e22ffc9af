"""One of two engine processes driving the same room on the same SQLite file.

    python rival_worker.py DB ROOM NAME

It opens an engine on DB, loads ROOM, prints "ready VERSION", then obeys stdin lines:

    move      the humans' next move, computed from what this client last saw, id NAME:v:seat
    shared    the same, under an id both processes compute alike (shared:v:seat)
    race SEED moves as fast as it can (small random pauses) until the match is over
    quit      close the engine and exit

After each command it prints one JSON line. Every acknowledgement is reported with its
command id, first version, duplicate flag and the msgpack bytes of its events, so the
parent can check them against the one history in the store. A refused command makes the
client reload the room from the store, as a real client would after "conflict".
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from actors.config import EngineConfig  # noqa: E402
from actors.facade import Engine  # noqa: E402
from engine.codec import encode_event  # noqa: E402
from engine.evolve import fold  # noqa: E402
from engine.rejections import Rejection  # noqa: E402
from engine.state import RoomState  # noqa: E402
from tests.reliability.harness import (  # noqa: E402
    FINISHED,
    human_command,
    humans_to_move,
    stored_state,
)


class Client:
    def __init__(self, engine: Engine, room: str, name: str) -> None:
        self.engine = engine
        self.room = room
        self.name = name
        self.known = RoomState()
        self.acks: list[dict[str, Any]] = []
        self.codes: dict[str, int] = {}

    async def reload(self) -> None:
        self.known = await stored_state(self.engine, self.room)

    async def move(self, prefix: str) -> dict[str, Any]:
        movers = humans_to_move(self.known, self.engine.clock())
        if not movers:
            await self.reload()
            return {"idle": True}
        seat = movers[0]
        cid = f"{prefix}:{self.known.version}:{seat}"
        command = human_command(self.known, seat, cid)
        outcome = await self.engine.send(self.room, command, rate_limited=False, redact=False)
        if isinstance(outcome, Rejection):
            self.codes[outcome.code.value] = self.codes.get(outcome.code.value, 0) + 1
            await self.reload()
            return {"cid": cid, "code": outcome.code.value}
        ack = {
            "cid": cid,
            "first": outcome.first_version,
            "dup": outcome.duplicate,
            "events": [encode_event(e)[2].hex() for e in outcome.events],
        }
        self.acks.append(ack)
        if not outcome.duplicate and outcome.first_version == self.known.version + 1:
            self.known = fold(outcome.events, self.known)
        else:
            await self.reload()
        return ack

    async def race(self, seed: int) -> dict[str, Any]:
        rng = random.Random(seed)
        while self.known.phase not in FINISHED:
            reply = await self.move(self.name)
            await asyncio.sleep(rng.uniform(0.0, 0.003) if "idle" not in reply else 0.002)
        return {"acks": self.acks, "codes": self.codes, "version": self.known.version}


async def main(db: str, room: str, name: str) -> None:
    config = EngineConfig.fast(db, archive_after=None, projections=False)
    async with Engine.open(db, config) as engine:
        client = Client(engine, room, name)
        seen = await engine.view(room)  # the room is now live in this engine
        assert not isinstance(seen, Rejection), seen
        await client.reload()
        print("ready", client.known.version, flush=True)
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            words = line.split()
            if words[0] == "move":
                reply = await client.move(name)
            elif words[0] == "shared":
                reply = await client.move("shared")
            elif words[0] == "race":
                reply = await client.race(int(words[1]))
            else:
                break
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
