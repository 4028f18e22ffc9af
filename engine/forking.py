"""Forking a match: a new room whose history is another room's first N events, live from there.

The fork's stream is the source's events 1..N, copied unchanged (the same facts, the same
versions), followed by one `ForkedFrom` at version N+1 that names the source and moves every
deadline to the fork's clock. Pure: the caller reads the source and appends the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from msgspec import Struct

from engine.events import Event, ForkedFrom
from engine.evolve import fold
from engine.state import Phase, RoomState


class ForkRefusal(StrEnum):
    INVALID_ROOM_ID = "invalid_room_id"
    ROOM_NOT_FOUND = "room_not_found"
    VERSION_OUT_OF_RANGE = "version_out_of_range"
    MATCH_OVER = "match_over"
    ROOM_EXISTS = "room_exists"


class ForkRefused(Exception):
    """A fork that cannot be made; `code` says why. Nothing was written."""

    def __init__(self, code: ForkRefusal, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


class Fork(Struct, frozen=True):
    """The events that start a fork's stream, and the fork's state after them."""

    room_id: str
    events: tuple[Event, ...]
    state: RoomState


# A fork plays on from its point: a room that can take no more commands is no place to go on.
_ENDED = (Phase.GAME_OVER, Phase.CLOSED)


def plan_fork(
    source_room: str, source_events: Sequence[Event], at_version: int, room_id: str, now: float
) -> Fork:
    """The fork `room_id` of `source_room` at `at_version`, made at engine time `now`.

    `source_events` are the source's events from version 1, at least `at_version` of them.
    """
    if not 1 <= at_version <= len(source_events):
        raise ForkRefused(
            ForkRefusal.VERSION_OUT_OF_RANGE,
            f"{source_room} has versions 1-{len(source_events)}, not {at_version}",
        )
    copied = tuple(source_events[:at_version])
    state = fold(copied)
    if state.phase in _ENDED:
        raise ForkRefused(
            ForkRefusal.MATCH_OVER,
            f"{source_room} is {state.phase.value.lower().replace('_', ' ')} at v{at_version}",
        )
    provenance = ForkedFrom(
        at=now,
        room_id=room_id,
        source_room=source_room,
        source_version=at_version,
        source_at=copied[-1].at,
    )
    return Fork(room_id, copied + (provenance,), fold((provenance,), state))


def provenance(events: Sequence[Event]) -> ForkedFrom | None:
    """The `ForkedFrom` that made a stream a fork (the last one: a fork of a fork copies its
    source's), or None for a stream that is not a fork."""
    for event in reversed(events):
        if isinstance(event, ForkedFrom):
            return event
    return None
