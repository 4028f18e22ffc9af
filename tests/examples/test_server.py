"""End to end: real WebSocket clients play whole matches through examples/server.py.

The clients know only what the server pushes them (events and views as JSON), like a
browser would; the test then checks what they saw against the event store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path
from typing import Any

import msgspec
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from actors.config import EngineConfig
from actors.facade import Engine
from engine.codec import decode_records
from engine.events import (
    AnyEvent,
    Declared,
    Event,
    GameOver,
    HandsDealt,
    PiecesPlayed,
    PlayerDisconnected,
    PlayerReconnected,
    PlayerRemoved,
    RoomClosed,
    RoomCreated,
    TrickWon,
)
from engine.pieces import POINTS
from engine.plays import evaluate, valid_plays
from engine.rules import legal_declarations
from engine.state import Phase
from engine.views import PlayerView, redact
from examples.server import serving

Message = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def running_server(tmp_path: Path, **options: Any) -> AsyncIterator[tuple[Engine, str]]:
    """The example server on a free 127.0.0.1 port, over an engine with no display pauses;
    `options` go to `serving` (rate_limit, move_timeout)."""
    config = EngineConfig.fast(str(tmp_path / "games.db"), bot_delay=0.01, archive_after=None)
    async with (
        Engine.open(config.path, config) as engine,
        serving(engine, "127.0.0.1", 0, **options) as server,
    ):
        port = server.sockets[0].getsockname()[1]
        yield engine, f"ws://127.0.0.1:{port}"


async def store_events(engine: Engine, room: str) -> list[Event]:
    return list(decode_records(await engine.store.read_stream(room)))


class Client:
    """One player's socket: keeps every pushed event and view, and plays legal moves."""

    def __init__(self, ws: ClientConnection, name: str) -> None:
        self.ws = ws
        self.name = name
        self.events: list[Event] = []  # every event pushed, in order (what an app would keep)
        self.version = 0  # the last version received
        self.view: PlayerView | None = None
        self.updates: list[tuple[int, int, PlayerView]] = []  # (first, last, view) per update
        self.problems: list[str] = []
        self.replies: asyncio.Queue[Message] = asyncio.Queue()
        self.changed = asyncio.Event()
        self.refs = count(1)
        self.token: str | None = None  # the seat token of the last create_room/join_room
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):  # the socket went away: stop reading
            async for raw in self.ws:
                msg = json.loads(raw)
                if msg["type"] == "update":
                    self._apply(msg)
                else:
                    self.replies.put_nowait(msg)

    def _apply(self, msg: Message) -> None:
        if msg["first_version"] != self.version + 1:
            self.problems.append(f"v{msg['first_version']} after v{self.version}")
        events = [msgspec.convert(e, AnyEvent) for e in msg["events"]]
        if msg["last_version"] != msg["first_version"] + len(events) - 1:
            self.problems.append(f"bad range in {msg['first_version']}..{msg['last_version']}")
        self.view = msgspec.convert(msg["view"], PlayerView)
        self.events.extend(events)
        self.version = msg["last_version"]
        self.updates.append((msg["first_version"], msg["last_version"], self.view))
        if self.view.version != self.version:
            self.problems.append(f"view v{self.view.version} with events to v{self.version}")
        self.changed.set()

    async def request(self, kind: str, **fields: Any) -> Message:
        """Send one message and wait for its reply (every reply echoes the ref)."""
        ref = f"{self.name}-{next(self.refs)}"
        await self.ws.send(json.dumps({"type": kind, "ref": ref, **fields}))
        reply = await asyncio.wait_for(self.replies.get(), 10)
        assert reply["ref"] == ref, reply
        return reply

    async def ok(self, kind: str, **fields: Any) -> Message:
        reply = await self.request(kind, **fields)
        assert reply["type"] == "ok", reply
        if kind in ("create_room", "join_room"):
            self.token = reply["token"]
        else:
            assert "token" not in reply, reply
        return reply

    async def wait_for(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while not check():
                self.changed.clear()
                await self.changed.wait()

    @property
    def finished(self) -> bool:
        return self.view is not None and self.view.phase in (Phase.GAME_OVER, Phase.CLOSED)

    def zero_streak(self) -> int:
        """My declarations of 0 in a row, from the Declared events I was sent."""
        assert self.view is not None
        mine = [
            e.piles for e in self.events if isinstance(e, Declared) and e.seat == self.view.my_seat
        ]
        streak = 0
        for piles in reversed(mine):
            if piles:
                break
            streak += 1
        return streak

    def move(self) -> Message | None:
        """A legal move chosen from the pushed view alone, or None when it is not my move."""
        v = self.view
        if v is None or v.my_seat is None or not v.seats[v.my_seat].connected:
            return None
        me = v.seats[v.my_seat]
        if v.phase is Phase.PREPARATION and me.weak and me.redeal is None and v.hand:
            return {"kind": "redeal", "accept": v.multiplier == 1}
        if v.turn != v.my_seat:
            return None
        if v.phase is Phase.DECLARATION:
            earlier = [s.declared for s in v.seats if s.declared is not None]
            legal = legal_declarations(earlier, self.zero_streak())
            strong = sum(POINTS[p] >= 11 for p in v.hand)  # often 0: exercises the streak rule
            return {"kind": "declare", "piles": min(legal, key=lambda n: abs(n - strong))}
        if v.phase is Phase.TURN and not v.plays:  # lead by kinds: the longest, strongest play
            lead = max(valid_plays(v.hand), key=lambda p: (len(p), evaluate(p)[1]))
            return {"kind": "play", "pieces": list(lead)}
        if v.phase is Phase.TURN:  # follow by indices: the hand is sorted strongest first
            return {"kind": "play", "indices": list(range(len(v.hand) - v.required, len(v.hand)))}
        return None

    async def play(self, stop: Callable[[], bool] = lambda: False) -> None:
        """Answer every move until the game is over (or `stop()`)."""
        while True:
            await self.wait_for(lambda: self.finished or stop() or self.move() is not None)
            move = self.move()
            if self.finished or stop() or move is None:
                return
            reply = await self.request(move.pop("kind"), **move)
            if reply["type"] == "ok":  # act again only on a view that includes this move
                done = reply["last_version"]
                await self.wait_for(lambda: self.version >= done)  # noqa: B023 (awaited here)
            elif reply["code"] == "rate_limited":
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"{self.name}: {move} refused: {reply}")


async def greet(url: str, name: str, **hello: Any) -> Client:
    client = Client(await connect(url), name)
    reply = await client.request("hello", name=name, **hello)
    assert reply["type"] == "welcome", reply
    return client


def assert_saw_exactly(client: Client, history: list[Event], seat: int) -> None:
    """The client saw every event once, in order, redacted for its seat, never another hand."""
    assert client.problems == []
    assert client.events == [redact(e, seat) for e in history]
    for dealt in (e for e in client.events if isinstance(e, HandsDealt)):
        assert len(dealt.hands[seat]) == 8
        assert all(hand == () for i, hand in enumerate(dealt.hands) if i != seat)


def assert_final_result(client: Client, history: list[Event]) -> None:
    over = history[-1]
    assert isinstance(over, GameOver)
    assert client.view is not None and client.view.phase is Phase.GAME_OVER
    assert client.view.winners == over.winners
    assert tuple(s.score for s in client.view.seats) == over.totals


async def open_match(url: str) -> tuple[Client, Client, str]:
    """Ann hosts, frees seat P2 for Ben, and starts; the bots keep P3 and P4."""
    ann, ben = await greet(url, "Ann"), await greet(url, "Ben")
    room = (await ann.ok("create_room"))["room"]
    await ann.ok("remove_player", seat=1)
    await ben.ok("join_room", room=room)
    await ann.ok("start")
    return ann, ben, room


def test_two_humans_play_a_full_match_against_bots(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, url):
            ann, ben, cat = [await greet(url, n) for n in ("Ann", "Ben", "Cat")]
            created = await ann.ok("create_room")
            room = created["room"]
            assert created["first_version"] == created["last_version"] == 1
            await engine.projections.wait_caught_up()  # the lobby folds Ann's room (Ben wrote nothing)
            listed = await ben.request("list_rooms")
            assert listed["rooms"] == [
                {
                    "room": room,
                    "phase": "WAITING",
                    "host": "Ann",
                    "seats": ["Ann", "Bot 2", "Bot 3", "Bot 4"],
                    "joinable": False,
                }
            ]
            # Errors carry the engine's rejection code and message.
            full = await ben.request("join_room", room=room)
            assert (full["type"], full["code"]) == ("error", "room_full")
            assert full["message"]
            for seat in (1, 2):
                await ann.ok("remove_player", seat=seat)  # remove two bots
            await ben.ok("join_room", room=room)
            await cat.ok("join_room", room=room)
            assert (await ben.request("start"))["code"] == "not_host"
            await ann.ok("remove_player", seat=2)  # kick Cat
            await ann.ok("add_bot", seat=2)
            await cat.wait_for(lambda: any(isinstance(e, PlayerRemoved) for e in cat.events))
            left = await cat.request("leave")  # Cat has no seat any more: back to the lobby
            assert left == {"type": "left", "ref": left["ref"], "room": room}
            assert (await cat.request("list_rooms"))["rooms"][0]["seats"][1:3] == ["Ben", "Bot 3"]
            await cat.ws.close()
            await ann.ok("start")

            await asyncio.wait_for(asyncio.gather(ann.play(), ben.play()), 30)

            history = await store_events(engine, room)
            assert_saw_exactly(ann, history, seat=0)
            assert_saw_exactly(ben, history, seat=1)
            assert_final_result(ann, history)
            assert_final_result(ben, history)
            assert ann.view is not None and ben.view is not None
            names = [s.name for s in ann.view.seats]
            assert names == [s.name for s in ben.view.seats] == ["Ann", "Ben", "Bot 3", "Bot 4"]
            for client in (ann, ben):
                await client.ws.close()

    asyncio.run(scenario())


def test_a_dropped_player_catches_up_exactly_and_takes_the_seat_back(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, url):
            ann, ben, room = await open_match(url)
            ann_playing = asyncio.create_task(ann.play())
            # Ben plays until the first trick is won, then his network fails (no close frame).
            await ben.play(stop=lambda: any(isinstance(e, TrickWon) for e in ben.events))
            last_seen = ben.version
            ben.ws.transport.abort()
            await ben.reader

            async def bot_moved_for_ben() -> bool:
                missed = (await store_events(engine, room))[last_seen:]
                dropped = [i for i, e in enumerate(missed) if isinstance(e, PlayerDisconnected)]
                return bool(dropped) and any(
                    isinstance(e, Declared | PiecesPlayed) and e.seat == 1
                    for e in missed[dropped[0] :]
                )

            async with asyncio.timeout(20):
                while not await bot_moved_for_ben():
                    await asyncio.sleep(0.01)

            # Back on a new socket: the app kept its events and the last version it saw.
            again = Client(await connect(url), "Ben")
            again.events, again.version = list(ben.events), last_seen
            welcome = await again.request(
                "hello", name="Ben", room=room, token=ben.token, last_version=last_seen
            )
            assert welcome == {
                "type": "welcome",
                "ref": welcome["ref"],
                "name": "Ben",
                "room": room,
            }
            await again.wait_for(lambda: bool(again.updates))
            first, last, seen = again.updates[0]
            assert first == last_seen + 1 and last >= first
            history = await store_events(engine, room)
            missed = again.events[last_seen:last]
            assert missed == [redact(e, 1) for e in history[last_seen:last]]
            dropped = [e for e in missed if isinstance(e, PlayerDisconnected)]
            assert [(e.seat, e.name) for e in dropped] == [(1, "Ben")]
            assert not seen.seats[1].connected  # the bot still has the seat

            await again.ok("reconnect")
            await asyncio.wait_for(again.play(), 30)
            await asyncio.wait_for(ann_playing, 30)

            history = await store_events(engine, room)
            assert sum(isinstance(e, PlayerReconnected) for e in history) == 1
            assert_saw_exactly(ann, history, seat=0)
            assert_saw_exactly(again, history, seat=1)
            assert_final_result(ann, history)
            assert_final_result(again, history)
            for client in (ann, again):
                await client.ws.close()

    asyncio.run(scenario())


def test_a_second_socket_for_the_same_player_replaces_the_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, url):
            ann = await greet(url, "Ann")
            room = (await ann.ok("create_room"))["room"]
            await ann.wait_for(lambda: ann.version == 1)
            # A refresh before the server noticed the old socket die: no Disconnect is sent
            # for the old one (in the lobby it would close the host's room).
            again = await greet(url, "Ann", room=room, token=ann.token, last_version=1)
            await ann.reader
            assert ann.ws.close_reason == "replaced by a newer connection"
            await again.ok("remove_player", seat=3)
            assert [type(e) for e in await store_events(engine, room)] == [
                RoomCreated,
                PlayerRemoved,
            ]
            bad = await greet(url, "Ben")
            assert (await bad.request("hello", name="Ben"))["code"] == "already_greeted"
            refused = await bad.request("declare", piles=1)
            assert refused["code"] == "no_room"
            assert (await bad.request("play", indices="x"))["code"] == "bad_message"

    asyncio.run(scenario())


def test_nobody_greets_the_server_under_a_bots_name(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, url):
            ann = await greet(url, "Ann")
            room = (await ann.ok("create_room"))["room"]
            # "Bot 2" sits in P2: as that name a socket would see the bot's hand and move for it.
            impostor = Client(await connect(url), "Bot 2")
            refused = await impostor.request("hello", name="Bot 2", room=room)
            assert refused["code"] == "name_reserved"
            assert (await impostor.request("declare", piles=1))["code"] == "hello_first"

    asyncio.run(scenario())


def test_the_command_line_server_closes_sockets_before_the_engine(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"

    async def scenario() -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "examples.server",
            "--db",
            str(db),
            "--port",
            "0",
            "--fast",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            assert proc.stdout is not None
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            url = line.split()[2]
            assert url.startswith("ws://127.0.0.1:")
            ann = await greet(url, "Ann")
            room: str = (await ann.ok("create_room"))["room"]
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 20) == 0
            return room
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    room = asyncio.run(scenario())

    async def check() -> None:
        # The host's socket was closed first, so its Disconnect closed the lobby room.
        async with Engine.open(db, EngineConfig.fast(str(db))) as engine:
            events = await store_events(engine, room)
            assert [type(e) for e in events] == [RoomCreated, RoomClosed]

    asyncio.run(check())


def test_a_spectator_watches_with_no_hand_and_a_delay_and_cannot_play(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, url):
            ann, ben, room = await open_match(url)
            eve = await greet(url, "Eve")
            watching = await eve.request("watch", room=room, delay_events=4)
            assert watching == {"type": "watching", "ref": watching["ref"], "room": room}
            refused = await eve.request("declare", piles=1)
            assert (refused["type"], refused["code"]) == ("error", "watching")
            both = await eve.request("watch", room=room)
            assert both["code"] == "already_in_room"
            await asyncio.wait_for(asyncio.gather(ann.play(), ben.play()), 30)
            await eve.wait_for(lambda: eve.finished)
            history = await store_events(engine, room)
            assert eve.problems == []
            assert eve.events == [redact(e, None) for e in history]
            assert all(view.hand == () and view.my_seat is None for _, _, view in eve.updates)
            for dealt in (e for e in eve.events if isinstance(e, HandsDealt)):
                assert all(hand == () for hand in dealt.hands)
            left = await eve.request("leave")
            assert left["type"] == "left"
            assert not any(isinstance(e, PlayerDisconnected) and e.name == "Eve" for e in history)
            for client in (ann, ben, eve):
                await client.ws.close()

    asyncio.run(scenario())
