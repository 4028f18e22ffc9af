"""Forking a match: a new room whose history is another room's first N events, live from there.

The fork's stream is the source's events 1..N, copied unchanged (the same facts, the same
versions), followed by one `ForkedFrom` at version N+1 that names the source and moves every
deadline to the fork's clock. Pure: the caller reads the source and appends the result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from enum import StrEnum

from msgspec import Struct

from engine.codec import command_append, decode_records, encode_event
from engine.commands import Tick, idempotency_key
from engine.decider import ROOM_ID, execute
from engine.events import Event, ForkedFrom
from engine.evolve import fold
from engine.rejections import Rejection
from engine.state import Phase, RoomState
from engine.store.errors import ConcurrencyConflict
from engine.store.protocol import EventStore
from engine.store.records import AppendRequest, NewEvent


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


def settling_tick(fork: Fork, now: float) -> tuple[Tick, list[Event]] | None:
    """The Tick that takes the steps due at a fork's first instant, with its events, or None.

    A fork at an instant the source passed through inside one command (a trick's fourth
    play before its TrickWon, say) owes the steps that command went on to take; no timer
    would ask for them, so the fork records them at once as an ordinary Tick.
    """
    tick = Tick(command_id=f"fork:{fork.state.version}", player="", at=now)
    result = execute(fork.state, tick)
    if isinstance(result, Rejection) or not result[0]:
        return None
    return tick, result[0]


async def write_fork(
    store: EventStore,
    source_room: str,
    at_version: int,
    now: float,
    draw_code: Callable[[], str],
    new_code: str | None = None,
) -> Fork:
    """Write the fork of `source_room` at `at_version` into `store` as a new stream, and its
    settling Tick, in one transaction; `new_code` names it, else `draw_code` draws codes
    until one is free. The source is only read. Raises ForkRefused, having written nothing.
    """
    for code in (source_room, new_code):
        if code is not None and not ROOM_ID.fullmatch(code):
            raise ForkRefused(
                ForkRefusal.INVALID_ROOM_ID, "a room id is 6 uppercase letters or digits"
            )
    if await store.stream_info(source_room) is None:
        raise ForkRefused(ForkRefusal.ROOM_NOT_FOUND, f"there is no room {source_room}")
    records = await store.read_stream(source_room, 0, max(at_version, 0))
    source_events = decode_records(records)
    # The copy keeps the source's stored bytes and schema versions: the same facts.
    copied = tuple(NewEvent(r.type, r.schema_version, r.data) for r in records)
    for _ in range(20):
        code = new_code or draw_code()
        fork = plan_fork(source_room, source_events, at_version, code, now)
        requests = [AppendRequest(code, 0, copied + (NewEvent(*encode_event(fork.events[-1])),))]
        settling = settling_tick(fork, now)
        if settling is not None:
            tick, events = settling
            key = idempotency_key(tick)
            requests.append(command_append(code, fork.state.version, key, tick, events))
        results = await store.append_batch(requests)
        if not any(isinstance(r, ConcurrencyConflict) for r in results):
            return fork
        if new_code is not None:
            raise ForkRefused(ForkRefusal.ROOM_EXISTS, f"room {code} exists")
    raise ForkRefused(ForkRefusal.ROOM_EXISTS, "no free room code found")
