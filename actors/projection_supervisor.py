"""The projection supervisor: where the projection runner lives in the actor tree.

The runner itself runs on the asyncio loop (it does I/O); the supervisor only takes
instructions from actors or operators, forwards them to the driver, and routes each
outcome back to whoever asked. Wiring, in the driver's dispatch:

    elif kind is ProjectionOrder:
        self._spawn(self._projection_order(out))   # tell(supervisor, await carry_out(...))
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from thespian.actors import Actor

from projections.instructions import (
    Instruction,
    MarkArchived,
    Pause,
    Rebuild,
    Refusal,
    Reset,
    Resume,
    Skip,
    StatusRequest,
)
from projections.runner import Outcome, ProjectionRunner

INSTRUCTIONS = (Pause, Resume, Reset, Rebuild, Skip, MarkArchived, StatusRequest)


class SupervisorInit(Struct):
    """Driver → supervisor: where the driver is (the sender of this message, if None)."""

    driver: Any = None


class ProjectionOrder(Struct):
    """Supervisor → driver: carry out `instruction` on the runner and answer with `request`."""

    request: int
    instruction: Instruction


class ProjectionOrderDone(Struct):
    """Driver → supervisor: the outcome of a ProjectionOrder."""

    request: int
    outcome: Outcome


class ProjectionSupervisor(Actor):  # type: ignore[misc]
    """Forwards projection instructions to the driver and their outcomes to the asker."""

    def __init__(self) -> None:
        super().__init__()
        self.driver: Any = None
        self.next_request = 1
        self.askers: dict[int, Any] = {}

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, SupervisorInit):
            self.driver = sender if msg.driver is None else msg.driver
        elif isinstance(msg, INSTRUCTIONS):
            if self.driver is None:
                self.send(sender, Refusal("not_ready", "the projection runner is not attached"))
                return
            request = self.next_request
            self.next_request += 1
            self.askers[request] = sender
            self.send(self.driver, ProjectionOrder(request, msg))
        elif isinstance(msg, ProjectionOrderDone):
            asker = self.askers.pop(msg.request, None)
            if asker is not None:
                self.send(asker, msg.outcome)


async def carry_out(runner: ProjectionRunner, order: ProjectionOrder) -> ProjectionOrderDone:
    """The driver's half: run the order on the runner; failures come back as a Refusal."""
    try:
        outcome = await runner.instruct(order.instruction)
    except Exception as exc:  # the asker gets an answer whatever happens
        outcome = Refusal("failed", f"{type(exc).__name__}: {exc}")
    return ProjectionOrderDone(order.request, outcome)
