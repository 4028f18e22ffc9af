"""Messages between nodes' gateway actors, and between a gateway and its `liaptui node`
command (pickled by thespian: plain structs of the engine's own types)."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from engine.commands import Command
from engine.settings import RoomSettings


class NodeSettings(Struct, frozen=True):
    """What `liaptui node` asks its gateway to run."""

    store_url: str
    node_id: str
    label: str  # host:port of the node's admin, for people
    supervisor_pid: int  # the `liaptui node` process: the node ends itself if it is gone
    fast: bool = False  # zero bot delays and pauses (tests, benchmarks)
    lease: float = 2.0  # seconds a member's lease runs without renewal
    beat: float = 0.1  # seconds between renewals and membership checks
    bot_delay: float | None = None  # seconds; None: the EngineConfig default
    events_path: str | None = None  # where membership and handover events are appended
    projections: bool = True  # run the read models' runner (one node folds, all serve)


class StartNode(Struct, frozen=True):
    settings: NodeSettings


class NodeReady(Struct, frozen=True):
    node_id: str
    epoch: int
    pid: int
    pgid: int


class NodeFailed(Struct, frozen=True):
    reason: str


class StopNode(Struct, frozen=True):
    pass


class NodeStopped(Struct, frozen=True):
    pass


class ForwardSend(Struct, frozen=True):
    """A command for a room the sending node believes this node owns."""

    request: int
    room_id: str
    command: Command
    redact: bool


class ForwardView(Struct, frozen=True):
    request: int
    room_id: str
    player: str | None


class ForwardReply(Struct, frozen=True):
    """The owner's answer; `moved`: not owned here (now), ask again where it lives."""

    request: int
    outcome: Any = None
    moved: bool = False


class ClientSend(Struct, frozen=True):
    """From a program in front of the cluster (a game server, a test): `Engine.send` on this
    node, for any room of the cluster. Answered with a ClientReply."""

    room_id: str
    command: Command
    redact: bool = True


class ClientView(Struct, frozen=True):
    room_id: str
    player: str | None = None


class ClientBotMatch(Struct, frozen=True):
    """`Engine.start_bot_match` on this node."""

    host: str
    seed: int | None = None
    settings: RoomSettings | None = None  # None: the node's default room settings


class ClientSubscribe(Struct, frozen=True):
    """`Engine.subscribe` on this node: each Update comes back as a ClientUpdate, until
    ClientUnsubscribe (or the subscription fails: a ClientUpdate whose update is None)."""

    subscription: str
    room_id: str
    player: str | None = None
    from_version: int = 0


class ClientUnsubscribe(Struct, frozen=True):
    subscription: str


class ClientUpdate(Struct, frozen=True):
    subscription: str
    update: Any  # an Update, or None when the subscription ended
    error: str = ""


class ClientQuery(Struct, frozen=True):
    """A read-model query on this node (`ReadModels.<query>(*args, **kwargs)`: lobby,
    joinable, room, leaderboard, player_stats, match_history, match, status), answered
    with a ClientReply holding its result, or a Rejection."""

    query: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}


class ClientStatus(Struct, frozen=True):
    """Ask a node for its membership view and counters."""


class ClientReply(Struct, frozen=True):
    outcome: Any


class NodeStatus(Struct, frozen=True):
    node_id: str
    epoch: int
    members: tuple[str, ...]
    owned: int
    counts: dict[str, int]
    metrics: dict[str, Any]
