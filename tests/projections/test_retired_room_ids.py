"""A room id retention forgot is never given to a new room, so the read models never take
a new match for the one they hold under that id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.commands import Disconnect, StartGame
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from projections import ProjectionRunner, default_path, default_projections
from tests.actors.conftest import wait_for_archived, wait_for_game_over
from tests.projections.support import dump

ROOM = "REUSED"


def config(db: Path) -> EngineConfig:
    return EngineConfig.fast(
        str(db), room_settings=replace(RoomSettings.fast(), round_cap=1), archive_after=0.0
    )


async def _bot_match(engine: Engine, room_id: str | None) -> Accepted | Rejection:
    created = await engine.create_room("host", room_id=room_id, seed=3)
    if isinstance(created, Rejection):
        return created
    for command in (StartGame(player="host"), Disconnect(player="host")):
        outcome = await engine.send(created.room_id, command, rate_limited=False)
        assert isinstance(outcome, Accepted), outcome
    return created


async def _clean_build(engine: Engine, target: Path) -> dict[str, list[object]]:
    async with ProjectionRunner(engine.store, default_projections(), target) as runner:
        assert await runner.wait_caught_up(timeout=60)
    return dump(target)


def test_a_room_id_forgotten_by_retention_is_refused_at_create_and_counted_once(
    tmp_path: Path,
) -> None:
    db = tmp_path / "games.db"

    async def scenario() -> None:
        async with Engine.open(db, config(db)) as engine:
            assert isinstance(await _bot_match(engine, ROOM), Accepted)
            await wait_for_game_over(engine, [ROOM])
            await wait_for_archived(engine, [ROOM])
            assert await engine.projections.wait_caught_up(timeout=30)
            held = dump(default_path(db))
            assert held == await _clean_build(engine, tmp_path / "before.db")
            assert await engine.store.apply_retention(0) == [ROOM]

        # Later (the room long gone from memory), a new room asks for the same id.
        async with Engine.open(db, config(db)) as engine:
            again = await _bot_match(engine, ROOM)
            assert isinstance(again, Rejection) and again.code is Code.ROOM_EXISTS, again
            assert "retention" in again.message
            assert await engine.store.stream_info(ROOM) is None  # nothing written
            # A drawn code still opens a room: only the forgotten id is taken.
            other = await engine.create_room("host", seed=4)
            assert isinstance(other, Accepted) and other.room_id != ROOM
            assert await engine.projections.wait_caught_up(timeout=30)
            status = engine.projections.status()
            assert all(p.fault is None for p in status.projections), status
            page = await engine.read_models.match_history(limit=10)
            assert [m.room_id for m in page.items] == [ROOM]  # one match, counted once
            now = dump(default_path(db))
            # The lobby and the leaderboard's seats hold the new room; the rest is as before.
            for table in set(held) - {"lobby_rooms", "lobby_seats", "leaderboard_seats"}:
                assert now[table] == held[table], table

    asyncio.run(scenario())
