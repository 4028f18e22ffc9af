"""Real matches for the replay tool's tests: bots play through the Engine into an SQLite file."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import zlib
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.codec import decode_event
from engine.commands import Disconnect, JoinRoom, RemovePlayer, StartGame
from engine.events import Event, RedealGranted
from engine.rejections import Rejection
from engine.simulation import run_match
from engine.store.sqlite import SqliteEventStore


@dataclass(frozen=True)
class PlayedStore:
    """A store holding one match of each kind the tests need, by room code."""

    db: Path
    archive: Path
    redeal_seed: int
    plain_seed: int
    redeal_room: str = "REDEAL"
    plain_room: str = "PLAIN1"
    twin_room: str = "TWIN01"
    joined_room: str = "JOINED"
    archived_room: str = "ARCHIV"
    lobby_room: str = "LOBBY1"


@functools.cache
def first_seed(*, redeal: bool) -> int:
    """The first seed whose bot match has (or has not) a RedealGranted event."""
    for seed in range(200):
        events = run_match(seed).events
        if any(isinstance(e, RedealGranted) for e in events) == redeal:
            return seed
    raise AssertionError("no such seed below 200")


def _accepted(outcome: Accepted | Rejection) -> Accepted:
    assert isinstance(outcome, Accepted), outcome
    return outcome


async def _play_out(engine: Engine, room: str) -> None:
    for _ in range(1000):
        view = await engine.view(room, None)
        assert not isinstance(view, Rejection), view
        if view.phase == "GAME_OVER":
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{room} did not finish")


async def _bot_match(engine: Engine, room: str, host: str, seed: int) -> None:
    _accepted(await engine.create_room(host, seed=seed, room_id=room))
    _accepted(await engine.send(room, StartGame(player=host)))
    _accepted(await engine.send(room, Disconnect(player=host)))
    await _play_out(engine, room)


async def _joined_match(engine: Engine, room: str, seed: int) -> None:
    _accepted(await engine.create_room("bob", seed=seed, room_id=room))
    _accepted(await engine.send(room, RemovePlayer(player="bob", seat=2)))
    _accepted(await engine.send(room, JoinRoom(player="carol")))
    _accepted(await engine.send(room, StartGame(player="bob")))
    _accepted(await engine.send(room, Disconnect(player="carol")))
    _accepted(await engine.send(room, Disconnect(player="bob")))
    await _play_out(engine, room)


async def build_store(directory: Path) -> PlayedStore:
    """Play the matches into `directory/games.db` and archive one of them."""
    db = directory / "games.db"
    played = PlayedStore(
        db=db,
        archive=Path(f"{db}.archive.db"),
        redeal_seed=first_seed(redeal=True),
        plain_seed=first_seed(redeal=False),
    )
    config = EngineConfig.fast(str(db), archive_after=None)
    async with Engine.open(db, config) as engine:
        await _bot_match(engine, played.redeal_room, "alice", played.redeal_seed)
        await _bot_match(engine, played.plain_room, "alice", played.plain_seed)
        await _bot_match(engine, played.twin_room, "alice", played.plain_seed)
        await _joined_match(engine, played.joined_room, played.plain_seed + 1)
        await _bot_match(engine, played.archived_room, "dave", played.redeal_seed)
        _accepted(await engine.create_room("erin", seed=1, room_id=played.lobby_room))
    store = await SqliteEventStore.open(db, archive_path=played.archive)
    try:
        # The engine marks a finished match completed itself; archiving requires it.
        await store.set_status(played.archived_room, "completed")
        await store.archive_stream(played.archived_room)
        info = await store.stream_info(played.archived_room)
        assert info is not None and info.status == "archived", info
    finally:
        await store.close()
    return played


def recorded_events(db: Path, room: str) -> list[Event]:
    """A hot match's events straight from the SQLite file (index i is version i + 1)."""
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT type, schema_version, data FROM events WHERE stream_id = ? ORDER BY version",
            (room,),
        ).fetchall()
    return [decode_event(t, v, d) for t, v, d in rows]


def rewrite_event(db: Path, room: str, event_type: str, nth: int, change: dict[str, object]) -> int:
    """Change fields of the `nth` (0-based) `event_type` event of a hot match in the SQLite
    file, recomputing its checksum so that the store itself cannot notice; returns its version."""
    with closing(sqlite3.connect(db)) as conn:
        position, version, data = conn.execute(
            "SELECT position, version, data FROM events WHERE stream_id = ? AND type = ? "
            "ORDER BY version LIMIT 1 OFFSET ?",
            (room, event_type, nth),
        ).fetchone()
        fields = msgspec.msgpack.decode(data)
        fields.update(change)
        tampered = msgspec.msgpack.encode(fields)
        conn.execute(
            "UPDATE events SET data = ?, checksum = ? WHERE position = ?",
            (tampered, zlib.crc32(tampered), position),
        )
        conn.commit()
    return int(version)


def first_event_data(db: Path, room: str, event_type: str) -> dict[str, Any]:
    """The stored fields of a hot match's first `event_type` event."""
    with closing(sqlite3.connect(db)) as conn:
        (data,) = conn.execute(
            "SELECT data FROM events WHERE stream_id = ? AND type = ? ORDER BY version LIMIT 1",
            (room, event_type),
        ).fetchone()
    fields = msgspec.msgpack.decode(data)
    assert isinstance(fields, dict)
    return fields
