"""What an operator (or the actor tree) can ask of the projection runner, and its refusals."""

from __future__ import annotations

from msgspec import Struct


class Pause(Struct, frozen=True):
    """Stop folding a projection's live tables; it keeps serving what it has (survives restarts)."""

    name: str


class Resume(Struct, frozen=True):
    """Fold again after a pause, and retry a projection stopped by a poison event."""

    name: str


class Reset(Struct, frozen=True):
    """Rebuild a projection from 0 up to `position` in shadow tables, then swap it in there.

    The live tables serve until the swap; afterwards the projection folds on from
    `position` (unless it is paused, which makes Reset a way to look at an old state).
    """

    name: str
    position: int


class Rebuild(Struct, frozen=True):
    """Rebuild a projection from 0 in shadow tables up to the head, then swap it in."""

    name: str


class Skip(Struct, frozen=True):
    """Never fold the event at `position` into this projection (recorded with the reason)."""

    name: str
    position: int
    reason: str


class MarkArchived(Struct, frozen=True):
    """Record that a match's stream was archived (archival is not an event)."""

    room_id: str
    at: float | None = None


class StatusRequest(Struct, frozen=True):
    """Ask for the runner's status."""


Instruction = Pause | Resume | Reset | Rebuild | Skip | MarkArchived | StatusRequest


class Refusal(Struct, frozen=True):
    """Why an instruction was not carried out: a code and a human message."""

    code: str
    message: str
