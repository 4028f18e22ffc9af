"""Test support: real bot matches with human names, appended interleaved to a real store,
plus read models computed independently from the events, and table dumps."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from engine.bots import bot_command, ready_at
from engine.codec import decode_event, encode_event
from engine.commands import (
    AddBot,
    Command,
    CreateRoom,
    Disconnect,
    JoinRoom,
    LeaveRoom,
    Reconnect,
    RemovePlayer,
    StartGame,
    Tick,
)
from engine.decider import execute, next_due
from engine.events import (
    Event,
    GameOver,
    GameStarted,
    RedealDecided,
    RedealGranted,
    RoomClosed,
    RoundScored,
    TrickWon,
)
from engine.evolve import evolve
from engine.rejections import Rejection
from engine.settings import RoomSettings
from engine.state import Phase, RoomState
from engine.store import AppendRequest, NewEvent, RecordedEvent, SqliteEventStore
from projections import ProjectionRunner, default_projections

HUMANS = (
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil",
)  # fmt: skip

FATES = ("finished",) * 16 + ("abandoned", "closed_early", "waiting", "waiting_full")


async def fold_to_end(store_path: Path, projections_path: Path, batch_size: int = 10_000) -> None:
    """Open the store at `store_path`, fold its whole log into `projections_path` with the
    default read models (`batch_size` events a step), and close both."""
    store = await SqliteEventStore.open(store_path)
    try:
        runner = ProjectionRunner(
            store, default_projections(), projections_path, batch_size=batch_size
        )
        async with runner:
            assert await runner.wait_caught_up(timeout=60)
    finally:
        await store.close()


class Stuck(RuntimeError):
    pass


def play_match(seed: int, room_id: str) -> list[Event]:
    """A real match through the decider: 1-4 humans (the others bots), lobby churn,
    disconnects and reconnects; it finishes, is abandoned, closes early, or stays open."""
    rng = random.Random(seed)
    fate = rng.choice(FATES)
    humans = rng.sample(HUMANS, rng.randint(1, 4))
    settings = RoomSettings.fast()
    if fate == "abandoned":
        settings = replace(settings, abandon_after=1.0)
    state = RoomState()
    events: list[Event] = []
    now = 0.0
    count = 0

    def do(command: Command) -> None:
        nonlocal state, count
        result = execute(state, replace(command, command_id=f"c{count}", at=now))
        count += 1
        if isinstance(result, Rejection):
            raise Stuck(f"{command!r}: {result.code.value} {result.message}")
        events.extend(result[0])
        state = result[1]

    host = humans[0]
    do(CreateRoom(player=host, room_id=room_id, seed=seed, settings=settings))
    for seat, name in enumerate(humans[1:], start=1):
        do(RemovePlayer(player=host, seat=seat))
        do(JoinRoom(player=name))
    if len(humans) > 1 and rng.random() < 0.3:
        # Someone leaves before the start; a bot takes the seat.
        seat = len(humans) - 1
        do(LeaveRoom(player=humans[seat]))
        do(AddBot(player=host, seat=seat))
        humans = humans[:-1]
    if fate == "waiting":
        do(RemovePlayer(player=host, seat=3))
        return events
    if fate in ("closed_early", "waiting_full"):
        if fate == "closed_early":
            do(LeaveRoom(player=host))
        return events
    do(StartGame(player=host))
    gone: set[str] = set()
    if fate == "abandoned" or rng.random() < 0.5:
        # The host walks away at once, as in engine.simulation: bots play the seat.
        do(Disconnect(player=host))
        gone.add(host)
    quit_at = rng.randint(20, 200) if fate == "abandoned" else None
    while state.phase not in (Phase.GAME_OVER, Phase.CLOSED):
        if count > 20_000:
            raise Stuck(f"{room_id} does not end")
        if quit_at is not None and count >= quit_at:
            for name in humans:
                if name not in gone:
                    do(Disconnect(player=name))
                    gone.add(name)
            quit_at = None
            now += settings.abandon_after or 0.0
            do(Tick(player=""))
            continue
        away = [n for n in humans if n in gone]
        here = [n for n in humans if n not in gone]
        if fate != "abandoned" and away and rng.random() < 0.02:
            name = rng.choice(away)
            do(Reconnect(player=name))
            gone.discard(name)
            continue
        if fate != "abandoned" and len(here) > 1 and rng.random() < 0.005:
            name = rng.choice(here)
            do(Disconnect(player=name))
            gone.add(name)
            continue
        movers = _movers(state)
        if movers:
            now = max(now, ready_at(state))
            for seat in movers:
                command = bot_command(state, seat, now, "")
                owner = state.seats[seat].name
                if not state.seats[seat].bot_controlled and owner is not None:
                    command = replace(command, player=owner)
                do(command)
            continue
        due = next_due(state, now)
        if due is None:
            raise Stuck(f"{room_id}: nothing to do in {state.phase}")
        now = max(now, due)
        do(Tick(player=""))
    return events


def _movers(state: RoomState) -> list[int]:
    # Every seat expected to act now; humans play the bot policy under their own names.
    if state.phase is Phase.PREPARATION and not state.needs_deal:
        return [i for i, s in enumerate(state.seats) if s.weak and s.redeal is None]
    if state.phase in (Phase.DECLARATION, Phase.TURN) and state.turn is not None:
        return [state.turn]
    return []


def room_code(index: int) -> str:
    return f"R{index:05d}"


_played: dict[int, tuple[str, tuple[Event, ...]]] = {}


def matches(count: int, first_seed: int = 0) -> tuple[tuple[str, tuple[Event, ...]], ...]:
    """`count` matches (room code, events) from `first_seed` on, each played once per session."""
    for seed in range(first_seed, first_seed + count):
        if seed not in _played:
            _played[seed] = (room_code(seed), tuple(play_match(seed, room_code(seed))))
    return tuple(_played[seed] for seed in range(first_seed, first_seed + count))


@dataclass
class Appender:
    """Appends matches to a store in small interleaved groups, several streams per commit."""

    store: SqliteEventStore
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    recorded: list[tuple[int, str, Event]] = field(default_factory=list)

    async def append(
        self,
        games: Sequence[tuple[str, Sequence[Event]]],
        *,
        streams_per_commit: int = 6,
        max_group: int = 12,
        pause_every: int = 0,
    ) -> None:
        """Append every match; positions interleave. `pause_every` yields to the loop."""
        cursors = {room: 0 for room, _ in games}
        by_room = dict(games)
        versions = dict.fromkeys(by_room, 0)
        open_rooms = [room for room, _ in games]
        commits = 0
        while open_rooms:
            chosen = self.rng.sample(open_rooms, min(streams_per_commit, len(open_rooms)))
            requests = []
            groups = []
            for room in chosen:
                start = cursors[room]
                size = self.rng.randint(1, max_group)
                group = by_room[room][start : start + size]
                cursors[room] = start + len(group)
                requests.append(
                    AppendRequest(
                        room,
                        versions[room],
                        tuple(NewEvent(*encode_event(e)) for e in group),
                    )
                )
                versions[room] += len(group)
                groups.append((room, group))
                if cursors[room] >= len(by_room[room]):
                    open_rooms.remove(room)
            results = await self.store.append_batch(requests)
            for (room, group), result in zip(groups, results, strict=True):
                assert not isinstance(result, Exception), result
                for offset, event in enumerate(group):
                    self.recorded.append((result.first_position + offset, room, event))
            commits += 1
            if pause_every and commits % pause_every == 0:
                await asyncio.sleep(0.001)

    def upto(self, position: int) -> list[tuple[int, str, Event]]:
        return sorted(r for r in self.recorded if r[0] <= position)


class TruncatedStore:
    """A store seen as if its log ended at `end` (what a clean build up to `end` reads)."""

    def __init__(self, store: SqliteEventStore, end: int) -> None:
        self.inner = store
        self.end = end

    async def read_all(
        self, from_position: int = 0, limit: int = 1000, *, types: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        records = await self.inner.read_all(from_position, limit, types=types)
        return [r for r in records if r.position <= self.end]

    async def last_position(self) -> int:
        return min(self.end, await self.inner.last_position())

    async def wait_for_position(self, position: int, timeout: float | None) -> int:
        await asyncio.sleep(0 if timeout is None else min(timeout, 0.05))
        return await self.last_position()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def dump(path: Path | str, prefix: str = "") -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every default read-model table, sorted."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        for projection in default_projections():
            for table in projection.tables:
                rows = conn.execute(f"SELECT * FROM {prefix}{table}").fetchall()
                out[table] = sorted(rows, key=repr)
        return out
    finally:
        conn.close()


def checkpoints(path: Path | str) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        return dict(
            conn.execute("SELECT name, position FROM checkpoints WHERE lane = 'live'").fetchall()
        )
    finally:
        conn.close()


async def recorded_events(store: SqliteEventStore) -> list[tuple[int, str, Event]]:
    """Every event in the store as (position, room, event), decoded."""
    out: list[tuple[int, str, Event]] = []
    position = 0
    while batch := await store.read_all(position, 5000):
        for r in batch:
            out.append((r.position, r.stream_id, decode_event(r.type, r.schema_version, r.data)))
        position = batch[-1].position
    return out


# --- read models computed independently from the events ------------------------------------


@dataclass
class Career:
    games: int = 0
    wins: int = 0
    points: int = 0
    rounds: int = 0
    tricks: int = 0
    piles: int = 0
    perfect_rounds: int = 0
    redeals_accepted: int = 0
    declarations_met: int = 0
    zero_declarations: int = 0
    abandoned: int = 0


def expected_careers(events: Sequence[tuple[int, str, Event]]) -> dict[str, Career]:
    """Career totals over finished games, straight from the events of each match."""
    per_room: dict[str, list[Event]] = defaultdict(list)
    for _, room, event in sorted(events, key=lambda r: r[0]):
        per_room[room].append(event)
    careers: dict[str, Career] = defaultdict(Career)
    for room_events in per_room.values():
        seats: tuple[str, ...] = ()
        game: dict[int, Career] = defaultdict(Career)
        ended = None
        for e in room_events:
            if isinstance(e, GameStarted):
                seats = e.seats
            elif isinstance(e, TrickWon):
                game[e.seat].tricks += 1
                game[e.seat].piles += e.piles
            elif isinstance(e, RedealDecided) and e.accept:
                game[e.seat].redeals_accepted += 1
            elif isinstance(e, RoundScored):
                for seat in range(4):
                    d, c = e.declared[seat], e.captured[seat]
                    game[seat].rounds += 1
                    game[seat].perfect_rounds += d > 0 and c == d
                    game[seat].declarations_met += c == d
                    game[seat].zero_declarations += d == 0
            elif isinstance(e, GameOver) or isinstance(e, RoomClosed) and seats:
                ended = e
        if not seats or ended is None:
            continue
        for seat, name in enumerate(seats):
            career = careers[name]
            if isinstance(ended, RoomClosed):
                career.abandoned += 1
                continue
            mine = game[seat]
            career.games += 1
            career.wins += seat in ended.winners
            career.points += ended.totals[seat]
            for figure in (
                "rounds", "tricks", "piles", "perfect_rounds", "redeals_accepted",
                "declarations_met", "zero_declarations",
            ):  # fmt: skip
                setattr(career, figure, getattr(career, figure) + getattr(mine, figure))
    return dict(careers)


def expected_rooms(events: Sequence[tuple[int, str, Event]]) -> dict[str, RoomState]:
    """Each room folded by the engine's own `evolve`."""
    rooms: dict[str, RoomState] = {}
    for _, room, event in sorted(events, key=lambda r: r[0]):
        rooms[room] = evolve(rooms.get(room, RoomState()), event)
    return rooms


@dataclass
class ExpectedMatch:
    players: tuple[str, ...]
    outcome: str
    rounds: int
    redeals: int
    final: tuple[int, ...] | None
    winners: tuple[str, ...]
    round_scores: list[RoundScored] = field(default_factory=list)


def expected_matches(events: Sequence[tuple[int, str, Event]]) -> dict[str, ExpectedMatch]:
    out: dict[str, ExpectedMatch] = {}
    for _, room, e in sorted(events, key=lambda r: r[0]):
        if isinstance(e, GameStarted):
            out[room] = ExpectedMatch(e.seats, "playing", 0, 0, None, ())
        elif room not in out:
            continue
        elif isinstance(e, RedealGranted):
            out[room].redeals += 1
        elif isinstance(e, RoundScored):
            out[room].rounds = e.round
            out[room].round_scores.append(e)
        elif isinstance(e, GameOver):
            m = out[room]
            m.outcome, m.final = "finished", e.totals
            m.winners = tuple(m.players[s] for s in sorted(e.winners))
        elif isinstance(e, RoomClosed) and out[room].outcome == "playing":
            out[room].outcome = "abandoned"
    return out
