"""Messages between the engine's actors and its driver (in-process, never serialized)."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from engine.commands import Command
from engine.events import Event
from engine.rejections import Rejection
from engine.state import RoomState
from engine.store import AppendRequest, AppendResult
from engine.views import PlayerView

# --- driver → directory --------------------------------------------------------------------


class Boot(Struct):
    """The driver starts the actor tree; `config` is an EngineConfig."""

    config: Any


class Route(Struct):
    """A command for a room; `request` identifies the caller's future in the driver."""

    request: int
    room_id: str
    command: Command


class AskView(Struct):
    request: int
    room_id: str
    player: str | None


class Wake(Struct):
    """A room's timer is due: bots may move, deadlines and pauses may fire."""

    room_id: str
    now: float


class Sweep(Struct):
    """Passivate rooms idle since before `now - passivate_after`."""

    now: float


class Loaded(Struct):
    """The driver has read a room's snapshot and tail from the store."""

    room_id: str
    state: RoomState
    recent_commands: tuple[tuple[str, int, int, bytes], ...]
    snapshot_version: int
    now: float


class LoadFailed(Struct):
    room_id: str
    reason: str


class WatchRoom(Struct):
    """Someone subscribed to (or left) a room: publish its commits to the driver or not."""

    room_id: str
    watched: bool


class Reload(Struct):
    """A room's stream was written beside its actor (a fork): a live actor of it is stale."""

    room_id: str


class MatchArchived(Struct):
    room_id: str


# --- directory → room ----------------------------------------------------------------------


class RoomInit(Struct):
    room_id: str
    directory: Any
    snapshot_relay: Any
    archive_scheduler: Any
    driver: Any
    config: Any


class Recover(Struct):
    state: RoomState
    recent_commands: tuple[tuple[str, int, int, bytes], ...]
    snapshot_version: int
    now: float


class Deliver(Struct):
    request: int
    command: Command


class ViewRequest(Struct):
    request: int
    player: str | None


class Passivate(Struct):
    """Snapshot and stop if idle; `hand_over`: stop even with bots or deadlines pending,
    once the command in flight settles (the room moves to another cluster node)."""

    hand_over: bool = False


class Watch(Struct):
    watched: bool


# --- room → directory ----------------------------------------------------------------------


class RoomBroken(Struct):
    """The room's handler raised, or its stream moved under it: rebuild it from the store."""

    room_id: str
    reason: str


class RoomIdle(Struct):
    """The room's answer to Passivate: `idle` (snapshot requested, may be stopped) or still busy."""

    room_id: str
    idle: bool


class RoomActive(Struct):
    room_id: str
    now: float


# --- room → driver (group commit) → directory → room ----------------------------------------


class Append(Struct):
    """Room → driver: commit these events; the outcome goes back to `room`."""

    room_id: str
    request: AppendRequest
    queued_at: float  # perf_counter() when the room decided: for durable-latency figures
    room: Any  # the room actor's address


class Committed(Struct, tag=True):
    """The append is durable (`original` holds a duplicate's first events)."""

    result: AppendResult
    original: tuple[Event, ...] | None
    now: float


class Conflicted(Struct, tag=True):
    """Not written: another writer moved the stream ahead; the room rebuilds from the store.
    `retired`: the room id is one retention forgot, never started again."""

    reason: str
    retired: bool = False


class NotWritten(Struct, tag=True):
    """Not written: the store failed (full disk, I/O, locked); the command may be retried."""

    reason: str


class Refused(Struct, tag=True):
    """Not written: the store refused the command itself (its id was recorded for another
    command); answered as a rejection, the room goes on."""

    reason: str


CommitOutcome = Committed | Conflicted | NotWritten | Refused
"""What became of one room's append in a group commit."""


class Acknowledge(Struct):
    """Driver → directory: a commit's outcomes, each forwarded to the room that appended."""

    outcomes: list[tuple[Any, CommitOutcome]]


# --- to the driver ----------------------------------------------------------------------------


class Reply(Struct):
    """The answer to a routed command: its events (in order, with their first version) or a rejection."""

    request: int
    room_id: str
    outcome: Rejection | tuple[Event, ...]
    first_version: int
    duplicate: bool = False
    last_version: int = 0  # a duplicate answered from memory: the driver reads these versions
    seat: int | None = None  # the command's player's seat, whose view the caller gets


class ViewReply(Struct):
    request: int
    view: PlayerView | Rejection


class Published(Struct, frozen=True, gc=False):
    """Events of a room that are now durable, for subscribers; seats names the seated humans.
    Immutable data only (no cycles), so the garbage collector need not track it: a watched
    room's spectators and subscribers hold many."""

    room_id: str
    first_version: int
    events: tuple[Event, ...]
    names: tuple[str | None, ...]


class Schedule(Struct):
    """Wake room `room_id` at `at` (the driver keeps the timer heap)."""

    room_id: str
    at: float


class Load(Struct):
    room_id: str


class SaveSnapshot(Struct):
    room_id: str
    version: int
    state: RoomState


class MatchOver(Struct):
    room_id: str
    at: float


class ArchiveNow(Struct):
    room_id: str


class Lifecycle(Struct):
    """A structured log line and metrics update about a room (start, recover, crash, ...)."""

    kind: str
    room_id: str
    fields: dict[str, Any]


class ServiceInit(Struct):
    """Directory → snapshot relay and archive scheduler: where the driver is, and the configuration."""

    driver: Any
    config: Any


class Booted(Struct):
    """Directory → driver: the actor tree is up."""

    projection_supervisor: Any


class ArchiveLater(Struct):
    """ArchiveScheduler → driver: mark the stream completed now, archive it at `at` (None: never)."""

    room_id: str
    at: float | None


class Quiesce(Struct):
    """The engine is closing: rooms start no new bot moves or timers of their own."""
