"""An engine on PostgreSQL whose server is stopped mid-match and started again: commands
meanwhile get `unavailable`, nothing acknowledged is lost, and play resumes by itself."""

from __future__ import annotations

import asyncio

from msgspec.structs import replace

from actors.config import EngineConfig
from actors.facade import Accepted, Engine
from engine.rejections import Code, Rejection
from engine.state import Phase
from engine.store.postgres.devserver import ThrowawayCluster
from tests.reliability.harness import next_human_move, open_human_room, play_to_end
from tests.reliability.test_faults import SHORT, assert_consistent


def test_commands_while_postgresql_is_down_are_unavailable_and_the_match_then_finishes(
    pg_cluster: ThrowawayCluster,
) -> None:
    async def scenario() -> None:
        url = pg_cluster.url
        config = replace(
            EngineConfig.fast(url, room_settings=SHORT, archive_after=None, bot_delay=0.0),
            projections=False,
        )
        async with Engine.open(url, config) as engine:
            await open_human_room(engine, "HUMANS", seed=5)
            for _ in range(6):  # some moves before the outage
                _, command = await next_human_move(engine, "HUMANS")
                if command is not None:
                    assert isinstance(await engine.send("HUMANS", command), Accepted)
            command = None
            while command is None:
                await asyncio.sleep(0.01)
                _, command = await next_human_move(engine, "HUMANS")
            before = await assert_consistent(engine, "HUMANS")
            pg_cluster.stop()
            refused = await engine.send("HUMANS", command, rate_limited=False)
            assert isinstance(refused, Rejection) and refused.code is Code.UNAVAILABLE
            pg_cluster.start()
            outcome: object = refused
            for _ in range(100):  # the same command again, until the store is back
                outcome = await engine.send("HUMANS", command, rate_limited=False)
                if isinstance(outcome, Accepted):
                    break
                assert isinstance(outcome, Rejection) and outcome.code is Code.UNAVAILABLE
                await asyncio.sleep(0.1)
            assert isinstance(outcome, Accepted), outcome
            after = await assert_consistent(engine, "HUMANS")
            assert after.version > before.version
            final = await play_to_end(engine, "HUMANS")
            assert final.phase is Phase.GAME_OVER
            await assert_consistent(engine, "HUMANS")
            assert engine.metrics().get("room_crash", 0) == 0

    asyncio.run(scenario())
