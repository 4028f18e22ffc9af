"""A cluster node's engine: the embedded `Engine`, whose rooms are the ones this node owns,
and whose `send` and `view` reach any room's owner (docs/cluster.md).

The node keeps its membership in the shared PostgreSQL store (`Registry`: a lease renewed
every beat plus an advisory lock on its own connection), computes each room's owner by
rendezvous hashing over the live members, claims a room in the store before loading it,
hands rooms over when the membership changes, and adopts (claims and wakes) the active
rooms no live member owns. Its appends are fenced (`FencedPostgresStore`). Messages to
other nodes go through `post`, which the gateway actor carries over the convention.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import signal
import time
import uuid
from collections.abc import AsyncGenerator, Callable
from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from actors.cluster.placement import owner
from actors.cluster.runtime import ClusterDriver, HandOver
from actors.cluster.wire import (
    ClientBotMatch,
    ClientQuery,
    ClientReply,
    ClientSend,
    ClientStatus,
    ClientSubscribe,
    ClientUnsubscribe,
    ClientUpdate,
    ClientView,
    ForwardReply,
    ForwardSend,
    ForwardView,
    NodeSettings,
    NodeStatus,
)
from actors.config import EngineConfig
from actors.facade import Accepted, Engine, Update, validated
from actors.messages import Wake
from actors.spectators import Delay
from engine.codec import decode_records
from engine.commands import Command
from engine.decider import ROOM_ID
from engine.evolve import evolve
from engine.rejections import Code, Rejection
from engine.state import RoomState
from engine.store.postgres.cluster import FencedPostgresStore, Member, Registry
from engine.views import PlayerView, view, viewer_seat
from engine.views import redact as redact_event
from projections import ProjectionRunner, ReadModels, default_projections

log = logging.getLogger("liaptui.cluster")

Post = Callable[[Any, Any], None]
"""Send a message to a thespian address (another node's gateway, or a requester)."""

QUERIES = frozenset(
    ("lobby", "joinable", "room", "leaderboard", "player_stats", "match_history", "match", "status")
)  # the read-model queries a program in front of the cluster may ask a node (ClientQuery)
FORWARD_TIMEOUT = 5.0  # seconds a forwarded request waits for its owner's answer
MOVE_PATIENCE = 8.0  # seconds a command keeps looking for its room's owner before `unavailable`
RETRY_PAUSE = 0.02  # seconds between two tries to reach a room that is moving
ADOPT_EVERY = 0.25  # seconds between two looks for rooms no live member owns


class Forwarded(Struct):
    """A request sent to another node, waiting for its reply."""

    future: asyncio.Future[ForwardReply]
    node_id: str


class ClusterEngine(Engine):
    """One node's engine: its own rooms in-process, every other room one hop away."""

    def __init__(self, settings: NodeSettings, address: bytes, post: Post) -> None:
        config = (
            EngineConfig.fast(settings.store_url)
            if settings.fast
            else EngineConfig(path=settings.store_url)
        )
        changes: dict[str, Any] = {"projections": settings.projections}
        if settings.bot_delay is not None:
            changes["bot_delay"] = settings.bot_delay
        super().__init__(replace(config, **changes))
        self.settings = settings
        self.node_id = settings.node_id
        self.address = address
        self.post = post
        self.registry: Registry | None = None
        self.fenced_store: FencedPostgresStore | None = None
        self.members: dict[str, Member] = {}
        self.member_ids: tuple[str, ...] = ()
        self.addresses: dict[tuple[str, int], Any] = {}
        self.owned: set[str] = set()  # rooms claimed in the store at this epoch
        self.handing_over: set[str] = set()
        self.forwarded: dict[int, Forwarded] = {}
        self.requests = iter(range(1, 2**62))
        self.loops: list[asyncio.Task[None]] = []
        self.subscriptions: dict[str, asyncio.Task[None]] = {}
        self.adopt_now = asyncio.Event()
        self.stopping = False
        self.counts: dict[str, int] = {"forwarded": 0, "served": 0, "adopted": 0, "handed": 0}

    # --- start and stop -----------------------------------------------------------------------

    async def _start(self) -> None:
        store = await FencedPostgresStore.open(self.config.path, pool_size=6)
        store.node_id = self.node_id
        store.on_fenced = self._fenced
        self._store = self.fenced_store = store
        if self.config.projections:
            # Every node opens the cluster's read models (the `readmodels` schema); one at a
            # time holds the fold lease and folds, the others serve queries and stand by.
            target = self._projections_path()
            self._runner = ProjectionRunner(
                store,
                default_projections(self.config.count_forks),
                target,
                gather_for=self.config.projections_gather,
            )
            await self._runner.start()
            self._read_models = ReadModels(target, runner=self._runner)
        self.registry = await Registry.connect(self.config.path, self.node_id)
        epoch = await self.registry.join(self.address, self.settings.label, self.settings.lease)
        store.epoch = epoch
        self._record("joined", epoch=epoch)
        await self._beat_once()
        driver = ClusterDriver(
            self.config,
            store,
            self.clock,
            self.admit,
            self._stopped,
            lambda room_id: self.owner_of(room_id) == self.node_id,
            self._runner,
        )
        driver.start()
        self._driver = driver
        loop = asyncio.get_running_loop()
        self.loops = [loop.create_task(self._beats()), loop.create_task(self._adoptions())]

    async def close(self) -> None:
        """Leave the cluster cleanly: finish in-flight commits, release every room, expire
        the lease (the other nodes adopt the rooms within a beat), close the store."""
        self.stopping = True
        following = [*self.loops, *self.subscriptions.values()]
        for task in following:
            task.cancel()
        await asyncio.gather(*following, return_exceptions=True)
        self.loops = []
        for request, pending in self.forwarded.items():
            if not pending.future.done():
                pending.future.set_result(ForwardReply(request, moved=True))
        if self._driver is not None:
            await self._driver.stop()
            self._driver = None
        if self.registry is not None:
            with contextlib.suppress(Exception):
                await self.registry.leave()
            self._record("left")
            await self.registry.close()
            self.registry = None
        await super().close()

    # --- membership ---------------------------------------------------------------------------

    async def _beats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.beat)
            try:
                await self._beat_once()
            except Exception:  # the store is out of reach: our lease runs out, as it should
                log.warning("membership beat failed", exc_info=True)
            self._check_supervisor()

    async def _beat_once(self) -> None:
        assert self.registry is not None
        beat = await self.registry.beat(self.settings.lease)
        if not beat.renewed:
            await self._rejoin()
            return
        self._view(beat.members)

    def _view(self, members: tuple[Member, ...]) -> None:
        ids = tuple(m.node_id for m in members)
        self.members = {m.node_id: m for m in members}
        if ids == self.member_ids:
            return
        gone = set(self.member_ids) - set(ids)
        came = set(ids) - set(self.member_ids)
        self.member_ids = ids
        self._record("members", members=list(ids), gone=sorted(gone), came=sorted(came))
        for request, pending in list(self.forwarded.items()):
            if pending.node_id in gone and not pending.future.done():
                pending.future.set_result(ForwardReply(request, moved=True))
        self._rebalance()
        self.adopt_now.set()

    def _rebalance(self) -> None:
        """Hand over every owned room that the membership now places elsewhere."""
        leaving = tuple(r for r in self.owned if self.owner_of(r) != self.node_id)
        if not leaving or self._driver is None:
            return
        self.owned.difference_update(leaving)
        self.handing_over.update(leaving)
        self.counts["handed"] += len(leaving)
        self._record("hand_over", rooms=len(leaving))
        self._driver.tell(self._driver.directory, HandOver(leaving))

    async def _rejoin(self) -> None:
        """Our lease ran out (paused, cut off): every room is another node's by now. Stop
        them all (their appends are fenced already) and join again under a new epoch."""
        assert self.registry is not None and self.fenced_store is not None
        self._record("lapsed", epoch=self.registry.epoch)
        self.fenced_store.epoch = 0
        self.handing_over.update(self.owned)
        self.owned.clear()
        if self._driver is not None:
            self._driver.tell(self._driver.directory, HandOver(None))
        epoch = await self.registry.join(self.address, self.settings.label, self.settings.lease)
        self.fenced_store.epoch = epoch
        self._record("joined", epoch=epoch)
        self.member_ids = ()
        await self._beat_once()

    def _check_supervisor(self) -> None:
        """Without its `liaptui node` process the node is nobody's: end the whole node (its
        thespian admin and actors are this process group), as if it had crashed."""
        try:
            os.kill(self.settings.supervisor_pid, 0)
        except ProcessLookupError:
            log.error("the liaptui node process is gone: ending this node")
            os.killpg(os.getpgid(0), signal.SIGKILL)
        except PermissionError:
            pass

    # --- ownership ----------------------------------------------------------------------------

    def owner_of(self, room_id: str) -> str | None:
        return owner(room_id, self.member_ids)

    async def admit(self, room_id: str) -> str | None:
        """Claim the room if the membership places it here; None when it is ours now."""
        if room_id in self.owned:
            return None
        where = self.owner_of(room_id)
        if where != self.node_id or self.registry is None or self.stopping:
            return f"room {room_id} lives on node {where}; retry"
        if room_id in await self.registry.claim([room_id]):
            self._own((room_id,))
            return None
        return f"room {room_id} is still held by another node; retry"

    def _own(self, room_ids: tuple[str, ...] | set[str]) -> None:
        self.owned.update(room_ids)
        self.handing_over.difference_update(room_ids)

    def _stopped(self, room_ids: tuple[str, ...]) -> None:
        """Rooms whose actors stopped here: those handed over are released in the store."""
        released = [r for r in room_ids if r in self.handing_over and r not in self.owned]
        if released and self.registry is not None and self._driver is not None:
            self.handing_over.difference_update(released)
            self._driver._spawn(self.registry.release(released))

    def _fenced(self, room_ids: list[str]) -> None:
        """Appends refused by the store: those rooms are not ours; stop their actors."""
        lost = tuple(r for r in room_ids if r in self.owned)
        self._record("fenced", rooms=len(room_ids))
        if lost:
            self.owned.difference_update(lost)
            self.handing_over.update(lost)
            if self._driver is not None:
                self._driver.tell(self._driver.directory, HandOver(lost))

    async def _adoptions(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.adopt_now.wait(), ADOPT_EVERY)
            self.adopt_now.clear()
            try:
                await self._adopt()
            except Exception:
                log.warning("adoption failed", exc_info=True)

    async def _adopt(self) -> None:
        """Claim the active rooms no live member owns that are placed here, and wake them
        (bots and timers resume from the store)."""
        assert self.registry is not None
        started = time.time()
        mine = [
            r
            for r in await self.registry.orphans()
            if self.owner_of(r) == self.node_id and r not in self.owned
        ]
        if not mine or self._driver is None:
            return
        claimed = await self.registry.claim(mine)
        self._own(claimed)
        now = self.clock()
        for room_id in claimed:
            self._driver.tell(self._driver.directory, Wake(room_id, now))
        self.counts["adopted"] += len(claimed)
        self._record("adopted", rooms=len(claimed), looked_at=started)

    # --- routing ------------------------------------------------------------------------------

    async def send(
        self, room_id: str, command: Command, *, rate_limited: bool = True, redact: bool = True
    ) -> Accepted | Rejection:
        """`Engine.send` for any room of the cluster: applied by the room's owner, here or
        on another node, with the same outcomes; a command that cannot find its room's
        owner for MOVE_PATIENCE is refused `unavailable` (retrying it is safe)."""
        if self._driver is None or self._driver.closing:
            return Rejection(Code.UNAVAILABLE, "the engine is not open")
        if not ROOM_ID.fullmatch(room_id):
            return Rejection(Code.INVALID_ROOM_ID, "a room id is 6 uppercase letters or digits")
        checked = validated(command)
        if isinstance(checked, Rejection):
            return checked
        now = self.clock()
        if rate_limited and not self.limiter.allow((room_id, checked.player), now):
            return Rejection(Code.RATE_LIMITED, "too many commands; slow down")
        # The id is fixed here, once: every retry on any node is the same command.
        command = replace(checked, command_id=checked.command_id or uuid.uuid4().hex)

        async def local() -> Any:
            return await Engine.send(self, room_id, command, rate_limited=False, redact=redact)

        def remote(request: int) -> Any:
            return ForwardSend(request, room_id, command, redact)

        outcome: Accepted | Rejection = await self._route(room_id, local, remote)
        return outcome

    async def view(self, room_id: str, player: str | None = None) -> PlayerView | Rejection:
        if not ROOM_ID.fullmatch(room_id):
            return Rejection(Code.INVALID_ROOM_ID, "a room id is 6 uppercase letters or digits")

        async def local() -> Any:
            return await Engine.view(self, room_id, player)

        def remote(request: int) -> Any:
            return ForwardView(request, room_id, player)

        seen: PlayerView | Rejection = await self._route(room_id, local, remote)
        return seen

    async def _route(
        self, room_id: str, local: Callable[[], Any], remote: Callable[[int], Any]
    ) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MOVE_PATIENCE
        while not self.stopping:
            where = self.owner_of(room_id)
            if where == self.node_id:
                if await self.admit(room_id) is None:
                    outcome = await local()
                    if not self._moved(room_id, outcome):
                        return outcome
            elif where is not None:
                reply = await self._forward(where, remote)
                if not reply.moved:
                    return reply.outcome
            if loop.time() > deadline:
                break
            await asyncio.sleep(RETRY_PAUSE)
        return Rejection(Code.UNAVAILABLE, f"room {room_id} is moving between nodes; retry")

    def _moved(self, room_id: str, outcome: Any) -> bool:
        """An `unavailable` answer for a room this node no longer owns: it moved meanwhile."""
        return (
            isinstance(outcome, Rejection)
            and outcome.code is Code.UNAVAILABLE
            and room_id not in self.owned
        )

    async def _forward(self, node_id: str, message_for: Callable[[int], Any]) -> ForwardReply:
        member = self.members.get(node_id)
        request = next(self.requests)
        if member is None:
            return ForwardReply(request, moved=True)
        future: asyncio.Future[ForwardReply] = asyncio.get_running_loop().create_future()
        self.forwarded[request] = Forwarded(future, node_id)
        self.counts["forwarded"] += 1
        try:
            self.post(self._address(member), message_for(request))
            return await asyncio.wait_for(future, FORWARD_TIMEOUT)
        except TimeoutError:
            return ForwardReply(request, moved=True)
        finally:
            self.forwarded.pop(request, None)

    def _address(self, member: Member) -> Any:
        key = (member.node_id, member.epoch)
        address = self.addresses.get(key)
        if address is None:
            address = self.addresses[key] = pickle.loads(member.address)
        return address

    # --- what other nodes ask (called on this loop by the gateway) ----------------------------

    def received(self, message: Any, sender: Any) -> None:
        kind = type(message)
        if kind is ForwardReply:
            pending = self.forwarded.get(message.request)
            if pending is not None and not pending.future.done():
                pending.future.set_result(message)
        elif kind is ForwardSend or kind is ForwardView:
            if self._driver is not None:
                self._driver._spawn(self._serve(message, sender))
            else:
                self.post(sender, ForwardReply(message.request, moved=True))
        elif kind is ClientSubscribe:
            task = asyncio.get_running_loop().create_task(self._follow(message, sender))
            self.subscriptions[message.subscription] = task
            task.add_done_callback(lambda _: self.subscriptions.pop(message.subscription, None))
        elif kind is ClientUnsubscribe:
            following = self.subscriptions.pop(message.subscription, None)
            if following is not None:
                following.cancel()
        elif self._driver is not None:
            self._driver._spawn(self._client(message, sender))

    async def _follow(self, message: ClientSubscribe, sender: Any) -> None:
        """Push a subscription's updates to the program that asked, until it unsubscribes."""
        error = ""
        try:
            async for update in self.subscribe(
                message.room_id, message.player, message.from_version
            ):
                self.post(sender, ClientUpdate(message.subscription, update))
        except asyncio.CancelledError:
            return
        except Exception as exc:  # the subscriber hears why, and may subscribe again
            error = f"{type(exc).__name__}: {exc}"
        self.post(sender, ClientUpdate(message.subscription, None, error))

    async def _client(self, message: Any, sender: Any) -> None:
        """A program in front of the cluster asks this node (actors/cluster/client.py)."""
        outcome: Any = Rejection(Code.MALFORMED_COMMAND, f"not a request: {type(message).__name__}")
        try:
            if isinstance(message, ClientSend):
                outcome = await self.send(message.room_id, message.command, redact=message.redact)
            elif isinstance(message, ClientView):
                outcome = await self.view(message.room_id, message.player)
            elif isinstance(message, ClientBotMatch):
                outcome = await self.start_bot_match(
                    message.host, seed=message.seed, settings=message.settings
                )
            elif isinstance(message, ClientStatus):
                outcome = self.status()
            elif isinstance(message, ClientQuery):
                outcome = await self._query(message)
        finally:
            self.post(sender, ClientReply(outcome))

    async def _query(self, message: ClientQuery) -> Any:
        if message.query not in QUERIES:
            return Rejection(Code.MALFORMED_COMMAND, f"no read-model query {message.query!r}")
        if self._read_models is None:
            return Rejection(Code.UNAVAILABLE, "this node runs without read models")
        try:
            return await getattr(self._read_models, message.query)(*message.args, **message.kwargs)
        except (TypeError, ValueError) as exc:
            return Rejection(Code.MALFORMED_COMMAND, f"{message.query}: {exc}")

    def status(self) -> NodeStatus:
        epoch = self.registry.epoch if self.registry is not None else 0
        metrics = self.driver.metrics.snapshot() if self._driver is not None else {}
        return NodeStatus(
            self.node_id, epoch, self.member_ids, len(self.owned), dict(self.counts), metrics
        )

    async def _serve(self, message: ForwardSend | ForwardView, sender: Any) -> None:
        self.counts["served"] += 1
        reply = ForwardReply(message.request, moved=True)
        try:
            if (
                self.owner_of(message.room_id) == self.node_id
                and not self.stopping
                and await self.admit(message.room_id) is None
            ):
                outcome: Any
                if isinstance(message, ForwardSend):
                    outcome = await Engine.send(
                        self,
                        message.room_id,
                        message.command,
                        rate_limited=False,
                        redact=message.redact,
                    )
                else:
                    outcome = await Engine.view(self, message.room_id, message.player)
                if not self._moved(message.room_id, outcome):
                    reply = ForwardReply(message.request, outcome)
        finally:
            self.post(sender, reply)

    # --- subscriptions: from the store, wherever the room lives -------------------------------

    async def subscribe(
        self,
        room_id: str,
        player: str | None = None,
        from_version: int = 0,
        max_queue: int = 10_000,
        *,
        spectator: bool = False,
        delay: Delay | None = None,
    ) -> AsyncGenerator[Update, None]:
        """Every event of the room after `from_version`, as `player` may see it, read from the
        shared store as commits land (any node, across handovers). Spectator delays are
        not offered on a cluster node."""
        del max_queue
        if spectator or delay is not None:
            raise ValueError("a cluster node offers player subscriptions only")
        state = RoomState()
        store = self.store
        first = True
        while True:
            seen_up_to = await store.last_position()
            records = await store.read_stream(room_id, state.version)
            fresh = []
            for event in decode_records(records):
                state = evolve(state, event)
                if state.version > from_version:
                    fresh.append((state.version, event))
            if fresh or (first and state.version == from_version):
                seat = viewer_seat(state, player)
                yield Update(
                    room_id,
                    fresh[0][0] if fresh else from_version + 1,
                    tuple(redact_event(e, seat) for _, e in fresh),
                    view(state, player),
                )
            first = False
            await store.wait_for_position(seen_up_to + 1, 1.0)

    # --- what happened, for the docs' figures -------------------------------------------------

    def _record(self, event: str, **fields: Any) -> None:
        line = {"at": time.time(), "node": self.node_id, "event": event, **fields}
        log.info("event=cluster.%s %s", event, json.dumps(fields, default=str))
        path = self.settings.events_path
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps(line, default=str) + "\n")
