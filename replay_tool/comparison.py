"""`diff`: where two recorded matches (from stores or export files) first part ways."""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from engine.events import RoomCreated
from replay_tool.fields import field_differences, field_map
from replay_tool.recording import MatchRecording, StoredEvent

# Two plays of the same seed differ in when they happened and in their room code only.
LOOSE_IGNORED = ("at",)


class Divergence(Struct, frozen=True, kw_only=True):
    """The first version at which the matches differ; a missing side ended earlier.

    `differing` counts every version at which they differ, so a lone changed fact stands
    out from two matches that went separate ways.
    """

    version: int
    left: StoredEvent | None
    right: StoredEvent | None
    differences: tuple[tuple[str, Any, Any], ...] = ()
    differing: int = 1


def comparable(stored: StoredEvent, exact: bool) -> dict[str, Any]:
    """The fields of an event that take part in the comparison."""
    fields = {"type": stored.type, **field_map(stored.event)}
    if not exact:
        for name in LOOSE_IGNORED:
            fields.pop(name, None)
        if isinstance(stored.event, RoomCreated):
            fields.pop("room_id", None)
    return fields


def first_divergence(
    left: MatchRecording, right: MatchRecording, *, exact: bool = False
) -> Divergence | None:
    """The first differing event, or None when both hold the same events."""
    first: Divergence | None = None
    differing = 0
    for index in range(max(len(left.events), len(right.events))):
        a = left.events[index] if index < len(left.events) else None
        b = right.events[index] if index < len(right.events) else None
        differences = (
            []
            if a is None or b is None
            else field_differences(comparable(a, exact), comparable(b, exact))
        )
        if a is not None and b is not None and not differences:
            continue
        differing += 1
        if first is None:
            first = Divergence(version=index + 1, left=a, right=b, differences=tuple(differences))
    return None if first is None else replace(first, differing=differing)
