"""A small WebSocket game server that embeds the engine: the embedding guide in code.

    python -m examples.server --db games.db --port 8765

One JSON object per WebSocket text message; docs/protocol.md describes every message.
The same port serves the web client at / and the replay viewer at /replay/ROOM
(examples/http_routes.py).

The engine does the game: rules, bots in empty and disconnected seats, timers, durability
and per-player redaction. This server only
  * names each connection (`hello`) and remembers the rooms it created (the lobby),
  * hands each seated player a secret seat token, without which nobody returns to that seat,
  * turns client messages into engine commands and answers `ok` or `error`,
  * pushes each connection its player's updates from `engine.subscribe`, in version order,
  * tells the engine when a socket drops (`Disconnect`: a bot takes the seat over).
Names are public (the lobby lists them); a seat is claimed back only with its token.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import secrets
import signal
import socket
from itertools import combinations
from typing import Annotated, cast

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType
from msgspec.structs import replace
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.protocol import State

from actors.config import EngineConfig
from actors.facade import Accepted, Engine, SubscriptionLost, Update
from actors.logs import log_json
from actors.spectators import Delay, Events, Seconds, SpectatorDropped
from engine import commands as cmd
from engine.events import AnyEvent
from engine.pieces import Piece
from engine.plays import valid_plays
from engine.rejections import Code, Rejection
from engine.state import Phase, reserved_for_bots
from engine.views import PlayerView
from examples.cluster_front import ClusterFront
from examples.lobby_pages import LOBBY_REFRESH, LobbyPages
from examples.ops_routes import OpsRoutes
from examples.rate_limit import DEFAULT_RATE_LIMIT, RateLimit, TokenBucket
from projections.lobby import LobbyProjection, LobbyRoom

log = logging.getLogger("liaptui.server")

DEFAULT_MOVE_TIMEOUT = 30.0  # seconds a player may take per move before a bot plays it
MAX_PAGE = 100  # rooms in one `list_rooms` page at most
LOBBY_CATCH_UP = 2.0  # seconds list_rooms waits for the lobby to fold the caller's commands
MESSAGE_LIMIT = 64 * 1024  # bytes: the largest client message read (game messages are < 1 KiB)
FRAME_CAP = 4 * 1024 * 1024  # bytes: beyond this websockets closes (1009) without reading
RATE_LIMITED = "too many messages on this connection: wait and resend"
FLOODING = "this connection keeps sending faster than its limit: closing it"
RECEIVE_BUFFER = 8 * 1024  # bytes: each socket's kernel receive buffer (SO_RCVBUF)

Ref = Annotated[str, Meta(max_length=60)]
Token = Annotated[str, Meta(max_length=100)]

# --- client -> server ------------------------------------------------------------------------


class ClientMessage(Struct, frozen=True, kw_only=True, tag_field="type"):
    ref: Ref | None = None  # any string; echoed in the reply to this message


class Hello(ClientMessage, frozen=True, kw_only=True, tag="hello"):
    name: Annotated[str, Meta(min_length=1, max_length=64)]  # the engine checks it further
    room: str | None = None  # set when coming back to a room: catch up after last_version
    token: Token | None = None  # the seat token from create_room/join_room; needed with room
    last_version: Annotated[int, Meta(ge=0)] = 0


class ListRooms(ClientMessage, frozen=True, kw_only=True, tag="list_rooms"):
    offset: Annotated[int, Meta(ge=0)] = 0  # skip this many rooms (oldest first)
    limit: Annotated[int, Meta(ge=1, le=MAX_PAGE)] = MAX_PAGE
    joinable: bool = False  # only rooms not started with an empty seat


class CreateRoom(ClientMessage, frozen=True, kw_only=True, tag="create_room"):
    pass


class JoinRoom(ClientMessage, frozen=True, kw_only=True, tag="join_room"):
    room: str


class AddBot(ClientMessage, frozen=True, kw_only=True, tag="add_bot"):
    seat: cmd.SeatIndex


class RemovePlayer(ClientMessage, frozen=True, kw_only=True, tag="remove_player"):
    seat: cmd.SeatIndex  # a bot, or a human (a kick)


class Start(ClientMessage, frozen=True, kw_only=True, tag="start"):
    pass


class Redeal(ClientMessage, frozen=True, kw_only=True, tag="redeal"):
    accept: bool


class Declare(ClientMessage, frozen=True, kw_only=True, tag="declare"):
    piles: int


class Play(ClientMessage, frozen=True, kw_only=True, tag="play"):
    indices: tuple[int, ...] | None = None  # either positions in the hand...
    pieces: tuple[Piece, ...] | None = None  # ...or piece kinds


class Rejoin(ClientMessage, frozen=True, kw_only=True, tag="rejoin"):
    """From the lobby, back to a match this name has a seat in (after `leave`, say)."""

    room: str
    token: Token  # the seat token from create_room/join_room
    last_version: Annotated[int, Meta(ge=0)] = 0


class Reconnect(ClientMessage, frozen=True, kw_only=True, tag="reconnect"):
    pass


class Leave(ClientMessage, frozen=True, kw_only=True, tag="leave"):
    pass


# --- spectators: `watch` (one handler, `GameServer.watch`; docs/protocol.md) ---------------


class Watch(ClientMessage, frozen=True, kw_only=True, tag="watch"):
    room: str
    delay_seconds: Annotated[float, Meta(ge=0, le=86_400)] | None = None  # at most one delay
    delay_events: Annotated[int, Meta(ge=0, le=100_000)] | None = None
    last_version: Annotated[int, Meta(ge=0)] = 0  # watching again: catch up after it


# --- end of spectators ----------------------------------------------------------------------

AnyClientMessage = (
    Hello | ListRooms | CreateRoom | JoinRoom | AddBot | RemovePlayer | Start | Redeal
    | Declare | Play | Rejoin | Reconnect | Leave | Watch
)  # fmt: skip

# --- server -> client ------------------------------------------------------------------------


class ServerMessage(Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class Welcome(ServerMessage, frozen=True, kw_only=True, tag="welcome"):
    ref: str | None
    name: str
    room: str | None


class RoomInfo(Struct, frozen=True, kw_only=True):
    room: str
    phase: Phase
    host: str | None
    seats: tuple[str | None, ...]  # names by seat; None is an empty seat
    joinable: bool  # not started, and a seat is empty


class Rooms(ServerMessage, frozen=True, kw_only=True, tag="rooms"):
    ref: str | None
    rooms: tuple[RoomInfo, ...]  # open rooms only, oldest first
    offset: int
    limit: int  # fewer rooms than `limit`: this is the last page
    as_of: int  # the lobby read model's position in the event log


class Ok(ServerMessage, frozen=True, kw_only=True, tag="ok"):
    ref: str | None
    room: str
    first_version: int  # the command's events are versions first_version..last_version
    last_version: int
    token: str | UnsetType = UNSET  # only after create_room/join_room: this seat's secret


class Left(ServerMessage, frozen=True, kw_only=True, tag="left"):
    ref: str | None
    room: str


class Error(ServerMessage, frozen=True, kw_only=True, tag="error"):
    ref: str | None
    code: str  # the engine's rejection code, or one of the server's own (docs/protocol.md)
    message: str


class UpdateMessage(ServerMessage, frozen=True, kw_only=True, tag="update"):
    room: str
    first_version: int
    last_version: int  # first_version - 1 when there are no events (a bare view)
    events: tuple[AnyEvent, ...]  # already redacted for this player
    view: PlayerView
    legal_plays: tuple[tuple[Piece, ...], ...] = ()  # what this player may play now


def legal_plays(seen: PlayerView) -> tuple[tuple[Piece, ...], ...]:
    """Every distinct play (sorted pieces) the viewer may make now; empty when not their move.

    A lead is any valid play type; a follow is any `required` pieces of the hand.
    """
    me = seen.my_seat
    if seen.phase is not Phase.TURN or me is None or seen.turn != me:
        return ()
    if not seen.seats[me].connected:
        return ()  # a bot plays this seat until the player reconnects
    if not seen.plays:
        return tuple(valid_plays(seen.hand))
    return tuple(sorted(set(combinations(sorted(seen.hand), seen.required))))


class Watching(ServerMessage, frozen=True, kw_only=True, tag="watching"):
    """Reply to `watch`: spectator updates of `room` follow (spectators, docs/protocol.md)."""

    ref: str | None
    room: str


DECODER = msgspec.json.Decoder(AnyClientMessage)
ENCODER = msgspec.json.Encoder()  # structs as objects, enums as their string values
SPECTATOR_FRAMES = 64  # encoded spectator updates kept for the spectators woken with them


def cost_of(msg: ClientMessage | None, limit: RateLimit) -> float:
    """What a message (None: one that did not decode) costs from its connection's bucket."""
    if isinstance(msg, ListRooms):
        return limit.lobby_cost
    return limit.room_cost if isinstance(msg, CreateRoom) else 1.0


class _RefOnly(Struct):
    ref: str | None = None


def ref_of(raw: str | bytes) -> str | None:
    """The ref of a message that is otherwise invalid, so its error can still echo it."""
    try:
        return msgspec.json.decode(raw, type=_RefOnly).ref
    except msgspec.MsgspecError:
        return None


def to_command(msg: ClientMessage, player: str) -> cmd.Command | None:
    """The engine command for a game message (None for lobby and connection messages)."""
    match msg:
        case AddBot(seat=seat):
            return cmd.AddBot(player=player, seat=seat)
        case RemovePlayer(seat=seat):
            return cmd.RemovePlayer(player=player, seat=seat)
        case Start():
            return cmd.StartGame(player=player)
        case Redeal(accept=accept):
            return cmd.DecideRedeal(player=player, accept=accept)
        case Declare(piles=piles):
            return cmd.Declare(player=player, piles=piles)
        case Play(indices=indices, pieces=pieces):
            return cmd.Play(player=player, indices=indices, pieces=pieces)
        case Reconnect():
            return cmd.Reconnect(player=player)
    return None


TOO_LARGE = f"a message may be at most {MESSAGE_LIMIT} bytes; closing this connection"
BAD_TOKEN = "no seat in that room for that name and token"


def ok_of(ref: str | None, outcome: Accepted, token: str | UnsetType = UNSET) -> Ok:
    return Ok(
        ref=ref,
        room=outcome.room_id,
        first_version=outcome.first_version,
        last_version=outcome.last_version,
        token=token,
    )


class SeatTokens:
    """The secret this server handed out for each seat: only its holder returns to the seat.

    Kept in this process's memory (like the lobby list): after a restart nobody can reclaim a
    seat through this server. A real server would tie seats to its own logins instead.
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], bytes] = {}  # (room, name) -> token

    def issue(self, room: str, name: str) -> str:
        """A fresh token for `name`'s seat in `room`; any earlier one for it stops working."""
        token = secrets.token_urlsafe(32)  # 256 random bits
        self._tokens[(room, name)] = token.encode()
        return token

    def check(self, room: str, name: str, token: str | None) -> bool:
        """True only for the token last issued for that seat (compared in constant time)."""
        expected = self._tokens.get((room, name), b"")
        given = (token or "").encode()
        # Compared even when no token is known, so the time taken does not tell which case.
        return hmac.compare_digest(expected, given) and bool(expected)


class Session:
    """One WebSocket connection: who it speaks for and the room it is attached to."""

    def __init__(self, ws: ServerConnection, bucket: TokenBucket) -> None:
        self.ws = ws
        self.bucket = bucket
        self.wrote = False  # a command since the last list_rooms: read your own writes
        self.name: str | None = None
        self.room: str | None = None
        self.pump: asyncio.Task[None] | None = None

    async def send(self, message: ServerMessage) -> None:
        await self.send_encoded(ENCODER.encode(message))

    async def send_encoded(self, data: bytes) -> None:
        # Whole-message sends from the pump and the handler never interleave.
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(data, text=True)

    async def error(self, ref: str | None, code: str, message: str) -> None:
        log.info(
            "refused: %s",
            message,
            extra={"event": "message.refused", "code": code, "player": self.name,
                   "room_id": self.room, "peer": self.peer},
        )  # fmt: skip
        await self.send(Error(ref=ref, code=code, message=message))

    @property
    def peer(self) -> str:
        """The client's address, for logs."""
        address = self.ws.remote_address
        return f"{address[0]}:{address[1]}" if address else "?"


class GameServer:
    def __init__(
        self,
        engine: Engine,
        *,
        rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
        move_timeout: float | None = DEFAULT_MOVE_TIMEOUT,
        lobby_refresh: float = LOBBY_REFRESH,
    ) -> None:
        self.engine = engine
        self.rate_limit = rate_limit
        # Rooms created here get the turn timer: a bot plays the move of a player who stalls.
        self.settings = replace(engine.config.room_settings, move_timeout=move_timeout)
        self.tokens = SeatTokens()
        self.sessions: dict[tuple[str, str], Session] = {}  # (room, name) -> live connection
        self.closing: set[asyncio.Task[None]] = set()  # replaced sockets being closed
        self.lobby = LobbyPages(
            lambda: engine.read_models,
            lambda: engine.projections.position(LobbyProjection.name),
            room_info,
            lobby_refresh,
        )
        self._frames: dict[int, tuple[Update, bytes]] = {}  # encoded spectator updates

    async def handle(self, ws: ServerConnection) -> None:
        """A connection's life: read messages one by one; on close, Disconnect its player."""
        session = Session(ws, TokenBucket(self.rate_limit))
        log.info("connection opened", extra={"event": "connection.open", "peer": session.peer})
        try:
            async for raw in ws:
                if len(raw) > MESSAGE_LIMIT:
                    # Said before the close, so the client knows why its socket went away.
                    await session.error(None, "message_too_large", TOO_LARGE)
                    await ws.close(CloseCode.MESSAGE_TOO_BIG, "message_too_large")
                    break
                msg: ClientMessage | None = None
                problem = ""
                try:
                    msg = DECODER.decode(raw)
                except msgspec.MsgspecError as exc:
                    problem = str(exc)
                # Every message pays, a bad one too; one the bucket cannot pay does nothing.
                cost = cost_of(msg, self.rate_limit)
                if not session.bucket.take(cost):
                    if session.bucket.flooding():
                        await self.drop_flood(session, ref_of(raw))
                        break
                    wait = session.bucket.wait_for(cost)
                    await session.error(
                        ref_of(raw), "rate_limited", f"{RATE_LIMITED} (this message costs "
                        f"{cost:g} tokens: there in {wait:.2f} s)",
                    )  # fmt: skip
                    await asyncio.sleep(wait)
                    if ws.state is not State.OPEN:
                        break  # a flood still buffered from a socket already gone: drop it
                elif msg is None:
                    await session.error(ref_of(raw), "bad_message", problem)
                else:
                    await self.dispatch(session, msg)
        except ConnectionClosed:
            pass
        finally:
            log.info(
                "connection closed",
                extra={"event": "connection.close", "peer": session.peer, "player": session.name},
            )
            await self.detach(session, disconnect=True)

    async def drop_flood(self, s: Session, ref: str | None) -> None:
        """Close a flooding socket: one last `rate_limited`, then the transport closes
        without a close handshake, so what the client queued behind is never read (the
        handshake would parse all of it on this event loop first)."""
        log.warning(
            "closing a flooding connection",
            extra={"event": "connection.flood", "player": s.name, "room_id": s.room,
                   "peer": s.peer},
        )  # fmt: skip
        await s.error(ref, "rate_limited", FLOODING)
        s.ws.transport.close()  # the reply is flushed first; nothing more is read

    async def dispatch(self, s: Session, msg: ClientMessage) -> None:
        if isinstance(msg, Hello):
            return await self.hello(s, msg)
        if s.name is None:
            return await s.error(msg.ref, "hello_first", "send hello before anything else")
        if isinstance(msg, ListRooms):
            return await self.list_rooms(s, msg)
        if isinstance(msg, Watch):
            return await self.watch(s, msg)
        if isinstance(msg, CreateRoom | JoinRoom):
            return await self.take_seat(s, msg)
        if isinstance(msg, Rejoin):
            return await self.rejoin(s, msg)
        if s.room is None:
            return await s.error(msg.ref, "no_room", "create or join a room first")
        if isinstance(msg, Leave):  # back to the lobby; the events say what the room made of it
            room = s.room
            await self.detach(s, disconnect=True)
            return await s.send(Left(ref=msg.ref, room=room))
        if (s.room, s.name) not in self.sessions:  # a spectator (`watch`) has no seat to play
            return await s.error(msg.ref, "watching", f"{s.name} watches {s.room}: leave first")
        command = to_command(msg, s.name)
        assert command is not None
        s.wrote = True
        outcome = await self.engine.send(s.room, command)
        log.info(
            "command %s: %s",
            type(command).__name__,
            "refused" if isinstance(outcome, Rejection) else "accepted",
            extra={"event": "command", "room_id": s.room, "player": s.name,
                   "command": type(command).__name__, "command_id": command.command_id or None,
                   "code": outcome.code.value if isinstance(outcome, Rejection) else None},
        )  # fmt: skip
        return await self.reply(s, msg.ref, outcome)

    async def take_seat(self, s: Session, msg: CreateRoom | JoinRoom) -> None:
        """Create or join a room; the `ok` carries the new seat's token, then updates follow."""
        assert s.name is not None
        if s.room is not None:
            return await s.error(msg.ref, "already_in_room", f"leave {s.room} first")
        s.wrote = True
        if isinstance(msg, CreateRoom):
            outcome = await self.engine.create_room(s.name, settings=self.settings)
        else:
            outcome = await self.engine.send(msg.room, cmd.JoinRoom(player=s.name))
        log.info(
            "command %s: %s",
            "CreateRoom" if isinstance(msg, CreateRoom) else "JoinRoom",
            "refused" if isinstance(outcome, Rejection) else "accepted",
            extra={"event": "command", "player": s.name,
                   "room_id": msg.room if isinstance(msg, JoinRoom) else (
                       None if isinstance(outcome, Rejection) else outcome.room_id),
                   "command": "CreateRoom" if isinstance(msg, CreateRoom) else "JoinRoom",
                   "code": outcome.code.value if isinstance(outcome, Rejection) else None},
        )  # fmt: skip
        if isinstance(outcome, Rejection):
            return await s.error(msg.ref, outcome.code, outcome.message)
        token = self.tokens.issue(outcome.room_id, s.name)
        await s.send(ok_of(msg.ref, outcome, token))
        await self.attach(s, outcome.room_id, 0)  # the whole history, from version 1
        return None

    async def rejoin(self, s: Session, msg: Rejoin) -> None:
        """Back to a seat on the same socket: the engine's Reconnect takes it from the bot,
        its `ok` is the reply, then updates follow from `last_version`."""
        assert s.name is not None
        if s.room is not None:
            return await s.error(msg.ref, "already_in_room", f"leave {s.room} first")
        if not self.tokens.check(msg.room, s.name, msg.token):
            return await s.error(msg.ref, "bad_token", BAD_TOKEN)
        seen = await self.engine.view(msg.room, s.name)
        if isinstance(seen, Rejection):
            return await s.error(msg.ref, seen.code, seen.message)
        if msg.last_version > seen.version:
            return await s.error(msg.ref, "bad_version", f"the room is at v{seen.version}")
        s.wrote = True
        outcome = await self.engine.send(msg.room, cmd.Reconnect(player=s.name))
        if isinstance(outcome, Rejection):
            return await s.error(msg.ref, outcome.code, outcome.message)
        await s.send(ok_of(msg.ref, outcome))
        await self.attach(s, msg.room, msg.last_version)
        return None

    async def hello(self, s: Session, msg: Hello) -> None:
        if s.name is not None:
            return await s.error(msg.ref, "already_greeted", f"this connection is {s.name}")
        if reserved_for_bots(msg.name):  # a bot's name would see and move for a bot's seat
            return await s.error(msg.ref, Code.NAME_RESERVED, f"{msg.name!r} is a bot's name")
        if msg.room is not None:
            if not self.tokens.check(msg.room, msg.name, msg.token):
                return await s.error(msg.ref, "bad_token", BAD_TOKEN)
            seen = await self.engine.view(msg.room, msg.name)
            if isinstance(seen, Rejection):
                return await s.error(msg.ref, seen.code, seen.message)
            if seen.my_seat is None:
                return await s.error(msg.ref, Code.NOT_IN_ROOM, f"{msg.name} has no seat here")
            if msg.last_version > seen.version:
                return await s.error(msg.ref, "bad_version", f"the room is at v{seen.version}")
        s.name = msg.name
        await s.send(Welcome(ref=msg.ref, name=msg.name, room=msg.room))
        if msg.room is not None:
            # Catch up from last_version. If the seat shows disconnected (view.seats[my_seat]
            # .connected), the client sends `reconnect` to take it back from the bot.
            await self.attach(s, msg.room, msg.last_version)
        return None

    async def reply(self, s: Session, ref: str | None, outcome: Accepted | Rejection) -> None:
        if isinstance(outcome, Rejection):
            return await s.error(ref, outcome.code, outcome.message)
        return await s.send(ok_of(ref, outcome))

    async def list_rooms(self, s: Session, msg: ListRooms) -> None:
        """A page of the lobby read model, at most `LOBBY_REFRESH` old (examples/lobby_pages.py);
        after this connection's own commands, it first waits (briefly) for the read model
        to fold them and reads the page anew, so a client sees its own writes."""
        fresh = s.wrote
        if s.wrote:
            s.wrote = False
            await self.engine.projections.wait_caught_up(timeout=LOBBY_CATCH_UP)
        page = await self.lobby.page(msg.joinable, msg.offset, msg.limit, fresh)
        return await s.send(
            Rooms(
                ref=msg.ref, rooms=page.rooms, offset=page.offset, limit=page.limit,
                as_of=page.as_of,
            )
        )  # fmt: skip

    async def attach(self, s: Session, room: str, from_version: int) -> None:
        """Make `s` the connection of its player in `room` and start pushing updates."""
        assert s.name is not None
        old = self.sessions.get((room, s.name))
        self.sessions[(room, s.name)] = s
        s.room = room
        s.pump = asyncio.create_task(self.pump(s, room, from_version))
        if old is not None and old is not s:
            # The player came back on a new socket before the old one was noticed dead: drop
            # the old one without a Disconnect, and without waiting for its close handshake.
            await self.detach(old, disconnect=False)
            closing = asyncio.create_task(old.ws.close(reason="replaced by a newer connection"))
            self.closing.add(closing)
            closing.add_done_callback(self.closing.discard)

    async def detach(self, s: Session, disconnect: bool) -> None:
        """Stop pushing the room to `s`; with `disconnect`, tell the engine the player is gone:
        before the game that is leaving the seat (the host leaving closes the room), during
        the game a bot plays the seat until the player sends `reconnect`."""
        room, pump, s.room, s.pump = s.room, s.pump, None, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        if room is None or s.name is None or self.sessions.get((room, s.name)) is not s:
            return  # not attached, or replaced by a newer connection of the same player
        del self.sessions[(room, s.name)]
        if disconnect:
            s.wrote = True
            # Refusals are fine here (already disconnected, game over, kicked): nothing to undo.
            # Not rate limited: a lost Disconnect would leave a ghost in the seat.
            await self.engine.send(room, cmd.Disconnect(player=s.name), rate_limited=False)

    async def pump(self, s: Session, room: str, version: int) -> None:
        """Push the player's updates after `version`: in version order, each event once."""
        assert s.name is not None
        while True:
            try:
                async for update in self.engine.subscribe(room, s.name, version):
                    last = update.first_version + len(update.events) - 1
                    await s.send(
                        UpdateMessage(
                            room=room,
                            first_version=update.first_version,
                            last_version=last,
                            # Every Event is one of AnyEvent's kinds (the schema lists them).
                            events=cast(tuple[AnyEvent, ...], update.events),
                            view=update.view,
                            legal_plays=legal_plays(update.view),
                        )
                    )
                    version = last
                return
            except SubscriptionLost:
                continue  # this socket fell far behind: resubscribe from the last version sent

    # --- spectators: `watch` -------------------------------------------------------------------

    async def watch(self, s: Session, msg: Watch) -> None:
        """Attach `s` to a room as a spectator: it is pushed the room with no hand in it, the
        given delay behind; `leave` (or closing the socket) stops it. It has no seat, so
        it sends no game commands and its leaving is no Disconnect."""
        if s.room is not None:
            return await s.error(msg.ref, "already_in_room", f"leave {s.room} first")
        if msg.delay_seconds is not None and msg.delay_events is not None:
            return await s.error(msg.ref, "bad_message", "give delay_seconds or delay_events")
        seen = await self.engine.view(msg.room)
        if isinstance(seen, Rejection):
            return await s.error(msg.ref, seen.code, seen.message)
        if msg.last_version > seen.version:
            return await s.error(msg.ref, "bad_version", f"the room is at v{seen.version}")
        delay: Delay | None = None
        if msg.delay_seconds is not None:
            delay = Seconds(msg.delay_seconds)
        elif msg.delay_events is not None:
            delay = Events(msg.delay_events)
        await s.send(Watching(ref=msg.ref, room=msg.room))
        s.room = msg.room
        s.pump = asyncio.create_task(self.spectate(s, msg.room, delay, msg.last_version))
        return None

    async def spectate(self, s: Session, room: str, delay: Delay | None, version: int) -> None:
        """Push the room as a spectator sees it after `version`, `delay` behind. Spectators
        woken together get the same `Update` object: it is encoded once for all of them."""
        while True:
            try:
                async for update in self.engine.subscribe(
                    room, from_version=version, spectator=True, delay=delay
                ):
                    await s.send_encoded(self.spectator_frame(room, update))
                    version = update.first_version + len(update.events) - 1
                return
            except SpectatorDropped:
                continue  # this socket stopped reading for long: watch again from its last

    def spectator_frame(self, room: str, update: Update) -> bytes:
        """The encoded `update` message, from a small cache by update object."""
        cached = self._frames.get(id(update))
        if cached is not None and cached[0] is update:
            return cached[1]
        data = ENCODER.encode(
            UpdateMessage(
                room=room,
                first_version=update.first_version,
                last_version=update.first_version + len(update.events) - 1,
                events=cast(tuple[AnyEvent, ...], update.events),
                view=update.view,
            )
        )
        self._frames[id(update)] = (update, data)  # the update is held: its id stays its own
        while len(self._frames) > SPECTATOR_FRAMES:
            del self._frames[next(iter(self._frames))]
        return data

    # --- end of spectators -----------------------------------------------------------------


def room_info(room: LobbyRoom) -> RoomInfo:
    names = tuple(seat.name for seat in room.seats)
    return RoomInfo(
        room=room.room_id,
        phase=Phase(room.phase),
        host=room.host,
        seats=names,
        joinable=room.joinable,
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on `host`'s first address (IPv4 or IPv6; "" is every IPv4
    address), whose connections get a `RECEIVE_BUFFER`-byte receive buffer."""
    family, _, _, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.create_server(address[:2], family=family)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)  # accepted inherit it
    return sock


def serving(
    engine: Engine,
    host: str,
    port: int,
    *,
    rate_limit: RateLimit = DEFAULT_RATE_LIMIT,
    move_timeout: float | None = DEFAULT_MOVE_TIMEOUT,
    lobby_refresh: float = LOBBY_REFRESH,
) -> Server:
    """The game's WebSocket and, on the same port, the web pages (`async with` it)."""
    game = GameServer(
        engine, rate_limit=rate_limit, move_timeout=move_timeout, lobby_refresh=lobby_refresh
    )
    # A small receive buffer bounds what one read of a socket hands websockets to parse
    # on this event loop (a flood of tiny frames: about 8 ms per 16 KiB); games send
    # messages under 1 KiB, and larger ones still arrive, a window at a time.
    sock = listening_socket(host, port)
    # websockets' own cap sits above MESSAGE_LIMIT, so an oversized message is answered.
    return serve(game.handle, sock=sock, process_request=OpsRoutes(engine), max_size=FRAME_CAP)


def cluster_ports(text: str) -> list[int]:
    """`--cluster 1901,1902`: the admin ports of cluster nodes on this host."""
    try:
        ports = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected admin ports like 1901,1902, not {text!r}"
        ) from None
    if not ports or not all(0 < p < 65536 for p in ports):
        raise argparse.ArgumentTypeError(f"expected admin ports like 1901,1902, not {text!r}")
    return ports


async def run(
    host: str,
    port: int,
    config: EngineConfig,
    move_timeout: float | None = DEFAULT_MOVE_TIMEOUT,
    cluster: list[int] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM; with `cluster`, in front of those nodes
    (examples/cluster_front.py) instead of an engine of its own."""
    loop = asyncio.get_running_loop()
    stop: asyncio.Future[None] = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: None if stop.done() else stop.set_result(None))
    # Exits in reverse: the sockets close first (each sends Disconnect), then the engine.
    engine = Engine(config) if not cluster else ClusterFront(config, cluster)
    async with (
        engine,
        serving(engine, host, port, move_timeout=move_timeout) as server,
    ):
        bound = server.sockets[0].getsockname()[1]
        print(f"listening on ws://{host}:{bound} (store {config.path})")
        print(f"play in a browser: http://{host}:{bound}/", flush=True)
        await stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Liap Tui WebSocket server (example)")
    parser.add_argument("--db", default="games.db", help="the event store: a SQLite file or URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    parser.add_argument("--fast", action="store_true", help="no display pauses; quick bots")
    parser.add_argument(
        "--move-timeout",
        type=float,
        default=DEFAULT_MOVE_TIMEOUT,
        metavar="SECONDS",
        help="a bot plays the move of a player who takes longer (0: no timer); "
        f"default {DEFAULT_MOVE_TIMEOUT:g}",
    )
    parser.add_argument(
        "--cluster",
        type=cluster_ports,
        default=None,
        metavar="PORT[,PORT...]",
        help="serve in front of a cluster: the admin ports of its nodes on this host "
        "(--db is then the cluster's postgresql:// store; docs/cluster.md)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="JSON log lines on stderr from this level (default INFO)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    log_json(level=getattr(logging, args.log_level))
    if args.move_timeout < 0:
        parser.error("--move-timeout must be 0 (off) or a number of seconds")
    config = EngineConfig.fast(args.db, bot_delay=0.2) if args.fast else EngineConfig(path=args.db)
    if args.cluster and not str(args.db).startswith(("postgresql://", "postgres://")):
        parser.error("--cluster needs --db postgresql://... (the cluster's store)")
    asyncio.run(run(args.host, args.port, config, args.move_timeout or None, args.cluster))


if __name__ == "__main__":
    main()
