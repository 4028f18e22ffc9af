"""The projection supervisor forwards instructions to the driver and answers the asker."""

from __future__ import annotations

import asyncio
from pathlib import Path

from thespian.actors import ActorSystem

from actors.projection_supervisor import (
    ProjectionOrder,
    ProjectionSupervisor,
    SupervisorInit,
    carry_out,
)
from engine.store import SqliteEventStore
from projections import (
    Pause,
    ProjectionRunner,
    Refusal,
    RunnerStatus,
    StatusRequest,
    default_projections,
)


def test_instructions_reach_the_runner_through_the_driver_and_come_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        store = await SqliteEventStore.open(tmp_path / "games.db")
        system = ActorSystem("simpleSystemBase", transientUnique=True)
        try:
            async with ProjectionRunner(store, default_projections(), tmp_path / "p.db") as runner:
                supervisor = system.createActor(ProjectionSupervisor)
                system.tell(supervisor, SupervisorInit())
                answers = []
                for instruction in (Pause("lobby"), Pause("nope"), StatusRequest()):
                    system.tell(supervisor, instruction)
                    order = system.listen(0)
                    assert isinstance(order, ProjectionOrder)
                    assert order.instruction == instruction
                    system.tell(supervisor, await carry_out(runner, order))
                    answers.append(system.listen(0))
                paused, refused, status = answers
                assert isinstance(paused, RunnerStatus) and paused.of("lobby").paused
                assert isinstance(refused, Refusal) and refused.code == "unknown_projection"
                assert isinstance(status, RunnerStatus) and status.of("lobby").paused
        finally:
            system.shutdown()
            await store.close()

    asyncio.run(scenario())


def test_an_instruction_before_the_driver_is_known_is_refused() -> None:
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    try:
        supervisor = system.createActor(ProjectionSupervisor)
        system.tell(supervisor, StatusRequest())
        answer = system.listen(0)
        assert isinstance(answer, Refusal) and answer.code == "not_ready"
    finally:
        system.shutdown()
