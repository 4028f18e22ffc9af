"""Schema evolution: upcasters lift a stored event of an old schema version to the current one.

Upcasters work on the decoded msgpack map, one version step at a time, and are applied
lazily whenever an old event is read, so old data always decodes to today's classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.events import EVENT_TYPES
from engine.pieces import Piece
from engine.plays import evaluate

RawEvent = dict[str, Any]
Upcaster = Callable[[RawEvent], RawEvent]


class UpcasterRegistry:
    """Upcasters keyed by (event type, from_version); each returns the next version's map."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def add(step: Upcaster) -> Upcaster:
            self._steps[(event_type, from_version)] = step
            return step

        return add

    def can_upcast(self, event_type: str, version: int, target: int) -> bool:
        return all((event_type, v) in self._steps for v in range(version, target))

    def upcast(self, event_type: str, version: int, target: int, raw: RawEvent) -> RawEvent:
        """`raw` lifted from `version` to `target`, step by step."""
        for v in range(version, target):
            raw = self._steps[(event_type, v)](raw)
        return raw


UPCASTERS = UpcasterRegistry()


# PiecesPlayed V1 recorded only the seat and the pieces. V2 added the play type so that the
# timeline, the replay tool and the statistics read what a play was without re-running the
# rules; V3 added the play's value so that folding a trick needs no rules code at all (the
# winner follows from recorded facts, which keeps old matches stable if scoring tables move).
@UPCASTERS.register("PiecesPlayed", 1)
def _pieces_played_v1_to_v2(raw: RawEvent) -> RawEvent:
    play_type, _ = evaluate([Piece(p) for p in raw["pieces"]])
    return {**raw, "play_type": play_type.value}


@UPCASTERS.register("PiecesPlayed", 2)
def _pieces_played_v2_to_v3(raw: RawEvent) -> RawEvent:
    _, value = evaluate([Piece(p) for p in raw["pieces"]])
    return {**raw, "value": value}


def latest_version(event_type: str) -> int | None:
    cls = EVENT_TYPES.get(event_type)
    return None if cls is None else cls.SCHEMA_VERSION
