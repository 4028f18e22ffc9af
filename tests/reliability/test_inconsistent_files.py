"""A store file whose metadata disagrees with its events: every caller is answered, typed."""

from __future__ import annotations

import asyncio
import sqlite3
import zlib
from pathlib import Path

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.commands import AddBot, RemovePlayer
from engine.rejections import Code, Rejection


def add_stray_event(db: Path, room_id: str) -> None:
    """An event row past the room's last version, as a lowered streams row leaves one."""
    conn = sqlite3.connect(db)
    try:
        (last,) = conn.execute(
            "SELECT last_version FROM streams WHERE stream_id = ?", (room_id,)
        ).fetchone()
        (head,) = conn.execute("SELECT max(position) FROM events").fetchone()
        conn.execute(
            "INSERT INTO events VALUES (?, ?, ?, 'SeatFreed', 1, ?, ?, 1.0)",
            (head + 1, room_id, last + 1, b"x", zlib.crc32(b"x")),
        )
        conn.commit()
    finally:
        conn.close()


def test_a_commit_clashing_with_stray_rows_answers_its_caller(tmp_path: Path) -> None:
    db = tmp_path / "games.db"
    config = EngineConfig.fast(str(db), projections=False)

    async def scenario() -> None:
        async with Engine.open(db, config) as engine:
            assert isinstance(await engine.create_room("ann", room_id="META01"), Accepted)
            add_stray_event(db, "META01")  # while the room is live, at its version
            refused = await asyncio.wait_for(
                engine.send("META01", RemovePlayer(player="ann", seat=1)), timeout=10
            )
            assert isinstance(refused, Rejection) and refused.code is Code.UNAVAILABLE
        async with Engine.open(db, config) as engine:
            # Reloaded, the room notices the row its streams row does not count.
            refused = await asyncio.wait_for(
                engine.send("META01", AddBot(player="ann", seat=1)), timeout=10
            )
            assert isinstance(refused, Rejection) and refused.code is Code.UNAVAILABLE

    asyncio.run(scenario())
