"""The replay viewer's document: every position of a match, its timeline and its verification.

A browser page (examples/web/replay.html) draws it; this module only decides what it holds.
Positions come from the stepper, the timeline from `build_timeline`, the checks from `verify`.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from engine.codec import STATE_SCHEMA_VERSION
from engine.forking import provenance
from engine.pieces import Piece
from engine.store.protocol import EventStore
from engine.views import PlayerView, view
from replay_tool.narration import describe
from replay_tool.recording import MatchRecording, load_match
from replay_tool.stepping import Stepper
from replay_tool.timeline import build_timeline
from replay_tool.verification import Report, verify

VIEWER_PATH = "/replay/"  # the example server's route: VIEWER_PATH + room id


class Frame(Struct, frozen=True, kw_only=True):
    """The match after event `version` (0: before any): what the event said, every hand."""

    version: int
    event_type: str | None
    text: str
    table: PlayerView  # a spectator's view: no hands in it
    hands: tuple[tuple[Piece, ...], ...]  # every seat's hand, which only a replay may show


class TrickMark(Struct, frozen=True, kw_only=True):
    number: int
    version: int  # where the trick was won (or its last play, while it is open)
    winner: int | None


class RoundMark(Struct, frozen=True, kw_only=True):
    """Where a round starts, where each of its tricks ends, and where it is scored."""

    number: int
    dealt: int
    tricks: tuple[TrickMark, ...]
    scored: int | None
    scores: tuple[int, ...] | None


class ReplayDocument(Struct, frozen=True, kw_only=True):
    room_id: str
    status: str
    last_version: int
    seats: tuple[str | None, ...]
    frames: tuple[Frame, ...]
    rounds: tuple[RoundMark, ...]
    stops_early: str | None  # why the positions stop before the last event, if they do
    verification: Report | None


def viewer_link(base_url: str, room_id: str) -> str:
    """The address of a match in the replay viewer of a server at `base_url`."""
    return base_url.rstrip("/") + VIEWER_PATH + room_id


async def verified_match(
    store: EventStore, room_id: str, origin: str
) -> tuple[MatchRecording, Report]:
    """A match read from `store` and the report of `verify` on it (with its snapshot, and
    a fork's source when the store holds it)."""
    recording = await load_match(store, room_id, origin)
    snapshot = await store.load_snapshot(room_id, STATE_SCHEMA_VERSION)
    tail = [] if snapshot is None else await store.read_stream(room_id, snapshot.version)
    forked = provenance(recording.decoded)
    source = None
    if forked is not None and await store.stream_info(forked.source_room) is not None:
        source = await load_match(store, forked.source_room, origin)
    return recording, verify(recording, snapshot, tail, source)


def replay_document(recording: MatchRecording, verification: Report | None) -> ReplayDocument:
    """Everything the viewer shows of `recording`, position by position."""
    stepper = Stepper(recording.decoded)
    frames = []
    for position in range(stepper.last + 1):
        state = stepper.state_at(position)
        event = recording.events[position - 1].event if position else None
        names = tuple(s.name for s in state.seats)
        frames.append(
            Frame(
                version=position,
                event_type=None if event is None else type(event).__name__,
                text="before any event" if event is None else describe(event, names),
                table=view(state, None),
                hands=tuple(s.hand for s in state.seats),
            )
        )
    timeline = build_timeline(recording.decoded)
    rounds = tuple(
        RoundMark(
            number=r.number,
            dealt=r.deals[0].version,
            tricks=tuple(
                TrickMark(
                    number=t.number,
                    version=t.won_version if t.won_version is not None else t.plays[-1].version,
                    winner=None if t.won is None else t.won.seat,
                )
                for t in r.tricks
            ),
            scored=None if r.scored is None else r.scored[0],
            scores=None if r.scored is None else r.scored[1].scores,
        )
        for r in timeline.rounds
    )
    return ReplayDocument(
        room_id=recording.room_id,
        status=recording.status,
        last_version=recording.last_version,
        seats=timeline.seats,
        frames=tuple(frames),
        rounds=rounds,
        stops_early=None if stepper.failure is None else str(stepper.failure),
        verification=verification,
    )


def replay_json(recording: MatchRecording, verification: Report | None) -> bytes:
    return msgspec.json.encode(replay_document(recording, verification))
