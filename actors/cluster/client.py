"""A program in front of the cluster (a game server, a test, a benchmark) talking to one
node: its requests go to that node's gateway (found by its global name in the node's
thespian admin), which applies them as `Engine.send` / `view` would on that node."""

from __future__ import annotations

import uuid
from collections.abc import Generator
from typing import Any

from actors.cluster.cli import GATEWAY_NAME
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
    NodeStatus,
)
from actors.facade import Accepted, SubscriptionLost, Update
from engine.commands import Command
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from engine.views import PlayerView

ASK_WAIT = 30.0


class NodeClient:
    """Requests to the node whose thespian admin listens on `admin_port` (127.0.0.1)."""

    def __init__(self, admin_port: int, timeout: float = ASK_WAIT) -> None:
        from thespian.actors import ActorSystem

        self.admin_port = admin_port
        self.timeout = timeout
        self.asys: Any = ActorSystem(
            "multiprocTCPBase", {"Admin Port": admin_port}, transientUnique=True
        )
        self.gateway: Any = self.asys.createActor(
            "actors.cluster.gateway.Gateway", globalName=GATEWAY_NAME
        )

    def ask(self, message: Any, timeout: float | None = None) -> ClientReply | None:
        """One request and its reply, or None when the node did not answer in time. Safe
        from any thread: each ask has a thespian endpoint of its own (`private`)."""
        with self.asys.private() as endpoint:
            reply = endpoint.ask(self.gateway, message, timeout or self.timeout)
        return reply if isinstance(reply, ClientReply) else None

    def _ask(self, message: Any, timeout: float | None = None) -> Any:
        reply = self.ask(message, timeout)
        if reply is None:
            return Rejection(Code.UNAVAILABLE, f"no answer from node at :{self.admin_port}")
        return reply.outcome

    def send(self, room_id: str, command: Command, *, redact: bool = True) -> Accepted | Rejection:
        outcome: Accepted | Rejection = self._ask(ClientSend(room_id, command, redact))
        return outcome

    def view(self, room_id: str, player: str | None = None) -> PlayerView | Rejection:
        seen: PlayerView | Rejection = self._ask(ClientView(room_id, player))
        return seen

    def start_bot_match(
        self, host: str, seed: int | None = None, settings: RoomSettings | None = None
    ) -> Accepted | Rejection:
        outcome: Accepted | Rejection = self._ask(ClientBotMatch(host, seed, settings))
        return outcome

    def subscribe(
        self,
        room_id: str,
        player: str | None = None,
        from_version: int = 0,
        idle: float | None = None,
    ) -> Generator[Update, None, None]:
        """`Engine.subscribe` through this node: a blocking iterator over the room's updates
        (closing it ends the subscription). Raises SubscriptionLost ("gap": resubscribe from
        the last version seen) if the node ends it or is silent for `idle` seconds (default:
        the client's timeout)."""
        idle = idle or self.timeout
        subscription = uuid.uuid4().hex
        with self.asys.private() as endpoint:
            endpoint.tell(
                self.gateway, ClientSubscribe(subscription, room_id, player, from_version)
            )
            try:
                while True:
                    message = endpoint.listen(idle)
                    if not isinstance(message, ClientUpdate):
                        raise SubscriptionLost(f"no update from the node within {idle}s", "gap")
                    if message.subscription != subscription:
                        continue
                    if message.update is None:
                        raise SubscriptionLost(
                            message.error or "the node ended the subscription", "gap"
                        )
                    yield message.update
            finally:
                endpoint.tell(self.gateway, ClientUnsubscribe(subscription))

    def query(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """A read-model query on the node (`ReadModels.<name>`: lobby, joinable, room,
        leaderboard, player_stats, match_history, match, status): its answer, or a
        Rejection. Every node answers from the cluster's shared read models."""
        return self._ask(ClientQuery(name, args, kwargs))

    def status(self, timeout: float | None = None) -> NodeStatus | Rejection:
        seen: NodeStatus | Rejection = self._ask(ClientStatus(), timeout)
        return seen
