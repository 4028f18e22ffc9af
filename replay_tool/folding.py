"""Folding recorded events into room states, stopping at an event the room cannot take.

`evolve` trusts its events (they were decided by the engine); a damaged or tampered event
can make it fail, and the tool must then say where rather than crash.
"""

from __future__ import annotations

from collections.abc import Iterable

from msgspec import Struct

from engine.events import Event
from engine.evolve import evolve
from engine.state import RoomState


class FoldFailure(Struct, frozen=True):
    """The event that could not be applied, by stream version, and why."""

    version: int
    event_type: str
    reason: str

    def __str__(self) -> str:
        return f"v{self.version} {self.event_type} cannot be applied to the room: {self.reason}"


def states(
    events: Iterable[Event], start: RoomState | None = None
) -> tuple[list[RoomState], FoldFailure | None]:
    """Every state from `start` (default: an empty room) through each event, in order.

    Stops before the first event `evolve` cannot apply and reports it.
    """
    folded = [start if start is not None else RoomState()]
    for event in events:
        try:
            folded.append(evolve(folded[-1], event))
        except Exception as exc:  # any failure of evolve is the event's fault here
            return folded, FoldFailure(
                folded[-1].version + 1, type(event).__name__, f"{type(exc).__name__}: {exc}"
            )
    return folded, None


def fold_checked(
    events: Iterable[Event], start: RoomState | None = None
) -> RoomState | FoldFailure:
    """The state after every event, or the failure that stopped the fold."""
    folded, failure = states(events, start)
    return failure if failure is not None else folded[-1]
