"""Forking a match in the pure core: the source's first N events, then ForkedFrom, live from N."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from msgspec.structs import replace

from engine.commands import Command
from engine.decider import execute, next_due
from engine.events import Event, ForkedFrom
from engine.evolve import fold
from engine.forking import ForkRefusal, ForkRefused, plan_fork, provenance
from engine.rejections import Rejection
from engine.settings import RoomSettings
from engine.simulation import MatchRecord, run_match
from engine.state import Phase, RoomState

# Real pauses and a redeal deadline, so that there is something for a fork to move.
TIMED = replace(RoomSettings(), abandon_after=None, target_score=20)
SHIFTED = ("dealt_at", "turn_since", "lead_not_before", "due_at", "abandon_at")
FORK_AT = 100_000.0


def timed_match(seed: int) -> MatchRecord:
    return run_match(seed, room_id="SRC001", settings=TIMED)


def states(events: tuple[Event, ...]) -> list[RoomState]:
    """The state after each event: states[n - 1] is the state at version n."""
    out, state = [], RoomState()
    for event in events:
        state = fold((event,), state)
        out.append(state)
    return out


def mid_trick(s: RoomState) -> bool:
    return s.phase is Phase.TURN and 0 < len(s.plays) < 4


def redeal_decision(s: RoomState) -> bool:
    return (
        s.phase is Phase.PREPARATION
        and not s.needs_deal
        and any(seat.weak and seat.redeal is None for seat in s.seats)
    )


def between_rounds(s: RoomState) -> bool:
    return s.phase is Phase.SCORING


POINTS: dict[str, Callable[[RoomState], bool]] = {
    "mid-trick": mid_trick,
    "redeal decision": redeal_decision,
    "between rounds": between_rounds,
}


def first_point(kind: str) -> tuple[MatchRecord, int]:
    """A recorded match and a version N at which its state is of the kind named."""
    for seed in range(200):
        record = timed_match(seed)
        for version, state in enumerate(states(record.events), start=1):
            if POINTS[kind](state):
                return record, version
    raise AssertionError(f"no {kind} point in 200 matches")


@pytest.mark.parametrize("kind", sorted(POINTS))
def test_the_forks_state_is_the_sources_at_n_with_its_deadlines_moved(kind: str) -> None:
    record, n = first_point(kind)
    fork = plan_fork("SRC001", record.events, n, "FRK001", FORK_AT)
    source = fold(record.events[:n])
    shift = FORK_AT - record.events[n - 1].at
    assert fork.events[:n] == record.events[:n]
    assert fork.events[n:] == (
        ForkedFrom(
            at=FORK_AT,
            room_id="FRK001",
            source_room="SRC001",
            source_version=n,
            source_at=record.events[n - 1].at,
        ),
    )
    assert fork.state == fold(fork.events)
    for field in msgspec.structs.fields(RoomState):
        mine, theirs = getattr(fork.state, field.name), getattr(source, field.name)
        if field.name == "version":
            assert mine == n + 1
        elif field.name == "room_id":
            assert (mine, theirs) == ("FRK001", "SRC001")
        elif field.name in SHIFTED and theirs is not None:
            assert mine == theirs + shift, field.name
        else:
            assert mine == theirs, field.name
    # Each seen at its own moment: the source at event N, the fork when it was made.
    source_due = next_due(source, record.events[n - 1].at)
    fork_due = next_due(fork.state, FORK_AT)
    assert (fork_due is None) == (source_due is None)
    if source_due is not None and fork_due is not None:
        assert fork_due == pytest.approx(source_due + shift)


def replay(state: RoomState, commands: list[Command]) -> list[Event]:
    events: list[Event] = []
    for command in commands:
        result = execute(state, command)
        assert not isinstance(result, Rejection), result
        events.extend(result[0])
        state = result[1]
    return events


@pytest.mark.parametrize("seed", [3, 11])
def test_the_sources_own_moves_replayed_on_a_fork_give_the_sources_events_moved_in_time(
    seed: int,
) -> None:
    record = timed_match(seed)
    # The command boundaries: where the source's commands would go on from the same state.
    ends, version = [], 0
    for command in record.commands:
        version += len(replay(fold(record.events[:version]), [command]))
        ends.append(version)
    for i in range(3, len(ends) - 1, max(1, len(ends) // 5)):
        n = ends[i]
        if fold(record.events[:n]).phase is Phase.GAME_OVER:
            continue
        fork = plan_fork("SRC001", record.events, n, "FRK001", FORK_AT)
        shift = FORK_AT - record.events[n - 1].at
        later = [replace(c, at=c.at + shift) for c in record.commands[i + 1 :]]
        played = replay(fork.state, later)
        assert played == [replace(e, at=e.at + shift) for e in record.events[n:]]


def test_a_fork_at_game_over_is_refused() -> None:
    record = timed_match(1)
    with pytest.raises(ForkRefused) as refused:
        plan_fork("SRC001", record.events, len(record.events), "FRK001", FORK_AT)
    assert refused.value.code is ForkRefusal.MATCH_OVER


@pytest.mark.parametrize("version", [0, -1, 10_000])
def test_a_fork_outside_the_stream_is_refused(version: int) -> None:
    record = timed_match(1)
    with pytest.raises(ForkRefused) as refused:
        plan_fork("SRC001", record.events, version, "FRK001", FORK_AT)
    assert refused.value.code is ForkRefusal.VERSION_OUT_OF_RANGE


def test_a_fork_of_a_fork_names_its_own_source() -> None:
    record = timed_match(1)
    first = plan_fork("SRC001", record.events, 30, "FRK001", FORK_AT)
    second = plan_fork("FRK001", first.events, 31, "FRK002", FORK_AT + 5)
    assert provenance(record.events) is None
    found = provenance(second.events)
    assert found is not None
    assert (found.room_id, found.source_room, found.source_version) == ("FRK002", "FRK001", 31)
    assert second.state.room_id == "FRK002"
