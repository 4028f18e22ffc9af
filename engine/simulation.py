"""Whole matches in the pure core: bots on every seat, no actors, no I/O.

Used by tests, benchmarks and the bot-strength measurement. The host creates the room,
starts it and disconnects, so a bot plays every seat through ordinary commands.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from msgspec import Struct

from engine.bots import RandomBot, bot_command, ready_at, seats_to_move
from engine.commands import Command, CreateRoom, Deal, Disconnect, StartGame, Tick
from engine.decider import execute, next_due
from engine.events import Event
from engine.rejections import Rejection
from engine.settings import RoomSettings
from engine.state import RoomState

Policy = Callable[[RoomState, int, float, str], Command]
HOST = "Host"


class MatchRecord(Struct, frozen=True):
    """A finished simulated match: every command accepted, every event, the final state."""

    commands: tuple[Command, ...]
    events: tuple[Event, ...]
    state: RoomState


class SimulationStuck(RuntimeError):
    """The match stopped progressing: a rule or bot bug, never expected."""


def run_match(
    seed: int,
    *,
    room_id: str = "SIM001",
    settings: RoomSettings | None = None,
    script: tuple[Deal, ...] = (),
    policies: Sequence[Policy] | None = None,
    max_commands: int = 100_000,
) -> MatchRecord:
    """Play one match to its end with the given per-seat policies (default: the bot policy)."""
    chosen: Sequence[Policy] = policies or [bot_command] * 4
    settings = settings or RoomSettings.fast()
    now = 0.0
    state = RoomState()
    commands: list[Command] = []
    events: list[Event] = []
    counter = 0

    def apply(command: Command) -> None:
        nonlocal state
        result = execute(state, command)
        if isinstance(result, Rejection):
            raise SimulationStuck(f"{command!r} rejected: {result.code.value} {result.message}")
        commands.append(command)
        events.extend(result[0])
        state = result[1]

    apply(
        CreateRoom(
            command_id="c0",
            player=HOST,
            at=now,
            room_id=room_id,
            seed=seed,
            settings=settings,
            script=script,
        )
    )
    apply(StartGame(command_id="c1", player=HOST, at=now))
    apply(Disconnect(command_id="c2", player=HOST, at=now))
    counter = 3
    while not state.finished:
        if counter > max_commands:
            raise SimulationStuck(f"no end after {max_commands} commands")
        movers = seats_to_move(state)
        if movers:
            now = max(now, ready_at(state))
            for seat in movers:
                apply(chosen[seat](state, seat, now, f"c{counter}"))
                counter += 1
            continue
        due = next_due(state, now)
        if due is None:
            raise SimulationStuck(f"nothing to do in phase {state.phase.value}")
        now = max(now, due)
        apply(Tick(command_id=f"c{counter}", player="", at=now))
        counter += 1
    return MatchRecord(commands=tuple(commands), events=tuple(events), state=state)


def random_policy(seed: int) -> Policy:
    """A seeded random-legal-move policy for one seat."""
    return RandomBot(seed).command
