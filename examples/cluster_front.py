"""The example server in front of a cluster (docs/cluster.md): an `Engine` whose rooms are
the cluster's, reached through the nodes' gateways (`NodeClient`), and whose read models are
the cluster's shared ones in PostgreSQL.

`send`, `view`, `create_room` and `subscribe` go to one node (the first of `nodes` that
answers; any node reaches any room's owner). A node that does not answer is left for the
next one, and the request is asked again there with the same command id, so it is applied
once. The read models are queried straight from the `readmodels` schema, through a
projection runner that never folds (`ServeOnly`): it follows the folding node's checkpoints,
so the lobby's read-your-writes wait works as on one engine. Spectator subscriptions are
not offered (a cluster node offers player subscriptions only).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from msgspec.structs import replace

from actors.cluster.client import NodeClient
from actors.cluster.wire import ClientSend, ClientStatus, ClientView
from actors.config import EngineConfig
from actors.facade import Accepted, Engine, SubscriptionLost, Update
from actors.spectators import Delay
from engine.commands import Command
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from engine.store import open_store
from engine.views import PlayerView
from projections import ProjectionRunner, ReadModels, default_projections

# Seconds one node may take to answer before the next node is asked, with the same command
# id. Shorter than a node's own patience for a moving room (8 s): a killed node answers
# nothing, and the player should not wait out that patience before another node is tried.
ASK_WAIT = 4.0
IDLE = 3.0  # seconds a subscription may hear nothing before it is asked again (any node)


class ServeOnly:
    """A fold lease never taken: the runner stands by, following the nodes' folding."""

    def try_acquire(self) -> bool:
        return False

    def holder(self) -> str:
        return "a node of the cluster"

    def release(self) -> None:
        pass


class ClusterFront(Engine):
    """The cluster, as the example server's engine (admin ports of nodes on this host)."""

    def __init__(self, config: EngineConfig, nodes: list[int]) -> None:
        if not nodes:
            raise ValueError("name at least one node's admin port")
        super().__init__(config)
        self.ports = list(nodes)
        self.clients: dict[int, NodeClient] = {}
        self.current = 0
        self.serving = False

    async def _start(self) -> None:
        self._store = await open_store(self.config.path)
        target = self._projections_path()
        self._runner = ProjectionRunner(
            self._store, default_projections(self.config.count_forks), target, lease=ServeOnly()
        )
        await self._runner.start()
        self._read_models = ReadModels(target, runner=self._runner)
        self.clients = {
            port: await asyncio.to_thread(NodeClient, port, ASK_WAIT) for port in self.ports
        }
        self.serving = True

    async def close(self) -> None:
        self.serving = False
        await super().close()

    # --- asking a node ----------------------------------------------------------------------

    def _node(self) -> NodeClient:
        return self.clients[self.ports[self.current % len(self.ports)]]

    def _ask(self, message: Any) -> Any:
        """The first answer of a node, trying each in turn (a blocking call)."""
        for _ in range(2 * len(self.ports)):
            index = self.current
            reply = self.clients[self.ports[index % len(self.ports)]].ask(message)
            if reply is not None:
                return reply.outcome
            if self.current == index:
                self.current = index + 1  # silent: the next request starts at the next node
        return Rejection(Code.UNAVAILABLE, "no node of the cluster answers; retry")

    async def send(
        self, room_id: str, command: Command, *, rate_limited: bool = True, redact: bool = True
    ) -> Accepted | Rejection:
        """`Engine.send` on the cluster: checked and rate-limited by the node that takes it;
        the command id is fixed here, so asking another node again applies it once."""
        if not self.serving:
            return Rejection(Code.UNAVAILABLE, "the engine is not open")
        del rate_limited  # the node limits each player's rate
        command = replace(command, command_id=command.command_id or uuid.uuid4().hex)
        outcome: Accepted | Rejection = await asyncio.to_thread(
            self._ask, ClientSend(room_id, command, redact)
        )
        return outcome

    async def view(self, room_id: str, player: str | None = None) -> PlayerView | Rejection:
        seen: PlayerView | Rejection = await asyncio.to_thread(
            self._ask, ClientView(room_id, player)
        )
        return seen

    async def create_room(
        self,
        host: str,
        *,
        settings: RoomSettings | None = None,
        script: tuple[Any, ...] = (),
        seed: int | None = None,
        room_id: str | None = None,
        command_id: str = "",
        rate_limited: bool = True,
    ) -> Accepted | Rejection:
        return await self._open_room(
            host, settings, script, seed, room_id, command_id, rate_limited=rate_limited
        )

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
        """The room's updates through a node, followed on a thread of its own. A node silent
        for `IDLE` seconds ends it (`SubscriptionLost`: subscribe again, from any node)."""
        del max_queue
        if spectator or delay is not None:
            raise ValueError("a cluster offers player subscriptions only")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Update | BaseException] = asyncio.Queue()
        done = threading.Event()
        node = self._node()

        def follow() -> None:
            updates = node.subscribe(room_id, player, from_version, idle=IDLE)
            try:
                for update in updates:
                    if done.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, update)
            except BaseException as exc:  # SubscriptionLost, or the node's error
                silent = isinstance(exc, SubscriptionLost) and node.ask(ClientStatus(), 2.0) is None
                if silent and self._node() is node:
                    self.current += 1  # that node is gone: subscribe again at the next one
                with contextlib.suppress(RuntimeError):  # the loop is closed
                    loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                updates.close()

        thread = threading.Thread(target=follow, name=f"follow-{room_id}", daemon=True)
        thread.start()
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            done.set()
