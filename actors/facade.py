"""The embedding facade: `Engine` (asyncio) and `SyncEngine` (a private loop in a thread).

async with Engine.open("games.db") as engine:
    room = await engine.create_room("alice")
    outcome = await engine.send(room.room_id, StartGame(player="alice"))
"""

from __future__ import annotations

import asyncio
import gc
import os
import secrets
import string
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, TypeVar

from msgspec import Struct
from msgspec.structs import replace

from actors.clock import engine_clock
from actors.config import EngineConfig
from actors.driver import Clock, Driver
from actors.messages import AskView, Published, Reload, Reply, Route, Wake, WatchRoom
from actors.metrics import family
from actors.ratelimit import RateLimiter
from actors.spectators import Delay, SpectatorRooms
from engine.codec import MalformedCommand, decode_command, decode_records, encode_command
from engine.commands import Command, CreateRoom, Deal, Disconnect, StartGame
from engine.decider import ROOM_ID
from engine.events import Event
from engine.evolve import evolve
from engine.forking import write_fork
from engine.names import skeleton
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from engine.state import RoomState
from engine.store import EventStore, backend_of, open_store
from engine.store.url import sqlite_path
from engine.views import PlayerView, view, viewer_seat
from engine.views import redact as redact_event
from projections import (
    ProjectionRunner,
    ReadModels,
    SyncReadModels,
    default_path,
    default_projections,
)
from projections.database import Target, resolve
from projections.postgres import PostgresTarget

T = TypeVar("T")
CODE_ALPHABET = string.ascii_uppercase + string.digits


class Accepted(Struct, frozen=True):
    """A command's durable outcome: its events, the first of which has `first_version`.

    The events are as the command's player may see them (another seat's dealt hand is empty),
    so an outcome can be forwarded to that player's client as it is; `send(..., redact=False)`
    gives the full events to a trusted caller.
    """

    room_id: str
    events: tuple[Event, ...]
    first_version: int
    duplicate: bool = False

    @property
    def last_version(self) -> int:
        return self.first_version + len(self.events) - 1


class Update(Struct, frozen=True, gc=False):
    """What a subscriber receives: events as this player may see them, and the view after them.
    Immutable data only (no cycles): untracked by the garbage collector, as many are alive."""

    room_id: str
    first_version: int
    events: tuple[Event, ...]
    view: PlayerView


LostReason = Literal["fell_behind", "gap"]


class SubscriptionLost(Exception):
    """The subscription ended; resubscribe from the last version it saw. `reason`:
    "fell_behind" (more than `max_queue` commits unread: the subscriber was cut then and
    what it held was freed) or "gap" (a commit it did not get)."""

    def __init__(self, message: str, reason: LostReason) -> None:
        super().__init__(message)
        self.reason: LostReason = reason


def validated(command: Command) -> Command | Rejection:
    """`command` as the wire codec would decode it: types and bounds are checked here, once.

    Structs do not check their fields when built in Python, so a command from an embedder
    could carry a wrong type or an out-of-range value into a room.
    """
    try:
        return decode_command(encode_command(command))
    except MalformedCommand as exc:
        return Rejection(Code.MALFORMED_COMMAND, exc.message)
    except (TypeError, ValueError, OverflowError) as exc:
        return Rejection(Code.MALFORMED_COMMAND, f"the command does not encode: {exc}")


def new_room_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))


_heap_frozen = False

SWEEP_EVERY = 600.0
"""Seconds between full collections that scan the whole heap, frozen part included."""


def freeze_heap_once() -> None:
    """Move what the process holds once the first engine has started (the modules, the
    store, the actor system: ~30 K objects) out of the garbage collector's reach, and from
    then on what survives each full collection, once per process. A full collection then
    scans only what came after: without it one lands in a paced window now and then and
    holds the loop for 40-150 ms (docs/performance.md), and with thousands of live rooms
    it scanned their every object each few seconds. Objects that die are still freed by
    their refcount; a cycle of frozen objects is freed by the sweep that scans the whole
    heap every SWEEP_EVERY seconds."""
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()
        gc.callbacks.append(_HeapFreezer(time.monotonic).after_collection)


class _HeapFreezer:
    """After each full collection, freeze its survivors, except once every SWEEP_EVERY
    seconds, when everything is unfrozen so the next full collection scans it all."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.swept_at = clock()

    def after_collection(self, phase: str, info: dict[str, int]) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        if self.clock() - self.swept_at >= SWEEP_EVERY:
            self.swept_at = self.clock()
            gc.unfreeze()
        else:
            gc.freeze()


class Engine:
    """One embedded engine: rooms as actors over an SQLite event store."""

    def __init__(
        self, config: EngineConfig, clock: Clock | None = None, monotonic: Clock | None = None
    ) -> None:
        self.config = config
        # Timers, rate limits and deadlines run on a steady clock (actors/clock.py).
        self.clock: Clock = engine_clock(clock, monotonic)
        self.limiter = RateLimiter(
            config.rate_per_second, config.rate_burst, config.rate_limit_players
        )
        # Each room costs a stream, an actor and a lobby row: one host opens only so many.
        self.room_limiter = RateLimiter(
            config.rooms_per_minute / 60.0, config.rooms_burst, config.rate_limit_players
        )
        self._driver: Driver | None = None
        self._store: EventStore | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._runner: ProjectionRunner | None = None
        self._read_models: ReadModels | None = None
        self._spectator_rooms: SpectatorRooms[Update] | None = None

    @classmethod
    def open(
        cls,
        url: str | Path = "games.db",
        config: EngineConfig | None = None,
        clock: Clock | None = None,
        monotonic: Clock | None = None,
    ) -> Engine:
        """An engine on the store `url` names (a SQLite path or `sqlite:///games.db`,
        `postgresql://...`, `memory:`); use as `async with Engine.open(...) as engine`.
        `clock` (wall time) and `monotonic`: see `actors.clock.engine_clock`."""
        config = replace(config or EngineConfig(), path=str(url))
        return cls(config, clock, monotonic)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        """Open the store, the projections and the actor system (all or nothing)."""
        try:
            await self._start()
        except BaseException:
            await self.close()
            raise

    async def _start(self) -> None:
        self._store = await open_store(
            self.config.path,
            synchronous=self.config.synchronous,
            archive_path=self.config.archive_path,
            inline_batch=self.config.inline_commits,
            inline_reads=self.config.inline_reads,
        )
        if self.config.projections:
            path = self._projections_path()
            self._runner = ProjectionRunner(
                self._store,
                default_projections(self.config.count_forks),
                path,
                gather_for=self.config.projections_gather,
            )
            await self._runner.start()
            self._read_models = ReadModels(path, runner=self._runner)
        self._driver = Driver(self.config, self._store, self.clock, self._runner)
        self._driver.start()
        freeze_heap_once()

    def _projections_path(self) -> Target:
        """Where the read models live: configured (a SQLite path or a `postgresql://` URL),
        else beside a SQLite store, in the `readmodels` schema of a PostgreSQL store, or
        (a store in memory) in a scratch file removed when the engine closes."""
        if self.config.projections_path is not None:
            return resolve(self.config.projections_path)
        backend = backend_of(self.config.path)
        if backend == "sqlite":
            return default_path(sqlite_path(self.config.path))
        if backend == "postgresql":
            return PostgresTarget(str(self.config.path))
        self._scratch = tempfile.TemporaryDirectory(prefix="liaptui-read-models-")
        return Path(self._scratch.name) / "projections.db"

    async def close(self) -> None:
        """Stop cleanly: in-flight commits finish, actors stop, the store closes."""
        if self._driver is not None:
            await self._driver.stop()
            self._driver = None
        if self._read_models is not None:
            self._read_models.close()
            self._read_models = None
        if self._runner is not None:
            await self._runner.close()
            self._runner = None
        if self._store is not None:
            await self._store.close()
            self._store = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    @property
    def driver(self) -> Driver:
        if self._driver is None:
            raise RuntimeError("the engine is not open")
        return self._driver

    @property
    def read_models(self) -> ReadModels:
        """Queries over the projections: lobby, leaderboard, player stats, match history."""
        if self._read_models is None:
            raise RuntimeError("the engine is not open, or runs without projections")
        return self._read_models

    @property
    def projections(self) -> ProjectionRunner:
        """The projection runner: status, pause/resume/reset/skip/rebuild via `instruct`."""
        if self._runner is None:
            raise RuntimeError("the engine is not open, or runs without projections")
        return self._runner

    @property
    def store(self) -> EventStore:
        if self._store is None:
            raise RuntimeError("the engine is not open")
        return self._store

    # --- commands ------------------------------------------------------------------------------

    async def create_room(
        self,
        host: str,
        *,
        settings: RoomSettings | None = None,
        script: tuple[Deal, ...] = (),
        seed: int | None = None,
        room_id: str | None = None,
        command_id: str = "",
        rate_limited: bool = True,
    ) -> Accepted | Rejection:
        """Open a room hosted by `host`, with a fresh unique code unless `room_id` is given.

        A host opens at most `rooms_burst` rooms at once and `rooms_per_minute` after that
        (`too_many_rooms`, nothing written); `rate_limited=False` lifts it for a trusted
        caller (simulations, benchmarks)."""
        if self._driver is None or self._driver.closing:
            return Rejection(Code.UNAVAILABLE, "the engine is not open")
        # Keyed by the name's skeleton: "Mallory" and "MaIlory" draw on one budget.
        if rate_limited and not self.room_limiter.allow(("", skeleton(host)), self.clock()):
            self.driver.metrics.rejections[Code.TOO_MANY_ROOMS.value] += 1
            return Rejection(
                Code.TOO_MANY_ROOMS,
                f"{host} opened {self.config.rooms_burst:g} rooms lately; "
                f"{self.config.rooms_per_minute:g} a minute at most",
            )
        return await self._open_room(
            host, settings, script, seed, room_id, command_id, rate_limited=False
        )

    async def _open_room(
        self,
        host: str,
        settings: RoomSettings | None,
        script: tuple[Deal, ...],
        seed: int | None,
        room_id: str | None,
        command_id: str,
        *,
        rate_limited: bool,
    ) -> Accepted | Rejection:
        """Send `CreateRoom` under `room_id`, or under fresh codes until one is free."""
        for _ in range(20):
            code = room_id or new_room_code()
            command = CreateRoom(
                command_id=command_id or uuid.uuid4().hex,
                player=host,
                room_id=code,
                seed=seed if seed is not None else secrets.randbits(63),
                settings=settings or self.config.room_settings,
                script=script,
            )
            outcome = await self.send(code, command, rate_limited=rate_limited)
            # A code already taken in the store is refused by that room: draw another.
            if room_id or not (isinstance(outcome, Rejection) and outcome.code is Code.ROOM_EXISTS):
                return outcome
        return Rejection(Code.ROOM_EXISTS, "no free room code found")

    async def start_bot_match(
        self,
        host: str,
        *,
        seed: int | None = None,
        settings: RoomSettings | None = None,
        rate_limited: bool = True,
    ) -> Accepted | Rejection:
        """Open a room that bots play to its end: `host` creates it (bots take seats 2-4),
        starts the game and disconnects, so a bot plays the host's seat too. For
        simulations, load tests and demos. The outcome is that of the first refused
        step, else the disconnect's, whose `room_id` names the room."""
        created = await self.create_room(
            host, seed=seed, settings=settings, rate_limited=rate_limited
        )
        if isinstance(created, Rejection):
            return created
        outcome: Accepted | Rejection = created
        for command in (StartGame(player=host), Disconnect(player=host)):
            outcome = await self.send(created.room_id, command, rate_limited=False)
            if isinstance(outcome, Rejection):
                break
        return outcome

    async def send(
        self, room_id: str, command: Command, *, rate_limited: bool = True, redact: bool = True
    ) -> Accepted | Rejection:
        """Apply `command` to room `room_id`: its durable events, or a typed rejection.

        The engine stamps the command's time from its own clock and gives it an id if it
        has none; the same player resending the same `command_id` gets the original outcome
        (ids are per player: another player's equal id is another command). The events are
        redacted for the player's seat unless `redact=False`.
        """
        now = self.clock()
        if self._driver is None or self._driver.closing:
            return Rejection(Code.UNAVAILABLE, "the engine is not open")
        if not ROOM_ID.fullmatch(room_id):
            return Rejection(Code.INVALID_ROOM_ID, "a room id is 6 uppercase letters or digits")
        checked = validated(command)
        if isinstance(checked, Rejection):
            self.driver.metrics.rejections[checked.code.value] += 1
            return checked
        command = checked
        if rate_limited and not self.limiter.allow((room_id, command.player), now):
            self.driver.metrics.rejections[Code.RATE_LIMITED.value] += 1
            return Rejection(Code.RATE_LIMITED, "too many commands; slow down")
        command = replace(command, at=now, command_id=command.command_id or uuid.uuid4().hex)
        started = time.perf_counter()
        reply: Reply = await self.driver.request(lambda r: Route(r, room_id, command))
        metrics = self.driver.metrics
        metrics.latency.observe(time.perf_counter() - started)
        metrics.counters["commands"] += 1
        if isinstance(reply.outcome, Rejection):
            metrics.rejections[reply.outcome.code.value] += 1
            return reply.outcome
        events = reply.outcome
        if redact:
            events = tuple(redact_event(event, reply.seat) for event in events)
        return Accepted(room_id, events, reply.first_version, reply.duplicate)

    async def fork(self, room_id: str, at_version: int, *, new_code: str | None = None) -> str:
        """Open a new room whose history is `room_id`'s first `at_version` events, live from
        there, and return its id (`new_code`, or a fresh code). See docs/embedding.md.

        The source, live or archived, is only read. Raises ForkRefused (nothing written) for
        an unknown room, a version outside 1..its last, a match over or closed at that
        version, or a `new_code` that is taken or malformed.
        """
        if self._driver is None or self._driver.closing:
            raise RuntimeError("the engine is not open")
        fork = await write_fork(
            self.store, room_id, at_version, self.clock(), new_room_code, new_code
        )
        self.driver.metrics.counters["forks"] += 1
        # A live actor of that id (someone looked at the free code) still holds version 0.
        self.driver.tell(self.driver.directory, Reload(fork.room_id))
        # Bots, timers and deadlines resume from the fork's state as the room loads.
        self.driver.tell(self.driver.directory, Wake(fork.room_id, self.clock()))
        return fork.room_id

    async def view(self, room_id: str, player: str | None = None) -> PlayerView | Rejection:
        """The room as `player` sees it (None: a spectator)."""
        if not ROOM_ID.fullmatch(room_id):
            return Rejection(Code.INVALID_ROOM_ID, "a room id is 6 uppercase letters or digits")
        result: PlayerView | Rejection = await self.driver.request(
            lambda r: AskView(r, room_id, player)
        )
        return result

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
        """Every event of the room after `from_version`, in order, as `player` may see it.

        Starts with one catch-up update from the store, then follows live commits. A
        subscriber that leaves more than `max_queue` commits unread is cut at once (its
        queue never holds more) and its next read raises SubscriptionLost("fell_behind").
        A spectator (`spectator=True`, or any `delay`) sees no hand, `delay` behind the
        room (`Seconds(s)` or `Events(n)`); see `_spectate`.
        """
        if spectator or delay is not None:
            if player is not None:
                raise ValueError("a spectator watches as nobody: pass player=None")
            async for update in self._spectate(room_id, delay, from_version):
                yield update
            return
        driver = self.driver
        queue: asyncio.Queue[Published | None] = asyncio.Queue()
        cut = False

        def deliver(pub: Published) -> None:
            nonlocal cut
            if cut:
                return
            if queue.qsize() < max_queue:
                queue.put_nowait(pub)
                return
            # It stopped reading: cut it now, free what it holds, and let it learn why.
            cut = True
            while not queue.empty():
                queue.get_nowait()
            queue.put_nowait(None)
            driver.metrics.counters["subscribers_cut"] += 1
            asyncio.get_running_loop().call_soon(self._unlisten, room_id, listeners, deliver)

        listeners = driver.subscribers.setdefault(room_id, set())
        if not listeners:
            driver.tell(driver.directory, WatchRoom(room_id, True))
        listeners.add(deliver)
        driver.metrics.subscriber_queues.add(queue)
        try:
            records = await self.store.read_stream(room_id)
            state = RoomState()
            caught_up: list[Event] = []
            for event in decode_records(records):
                state = evolve(state, event)
                if state.version > from_version:
                    caught_up.append(event)
            seat = viewer_seat(state, player)
            if caught_up or state.version == from_version:
                yield Update(
                    room_id,
                    from_version + 1,
                    tuple(redact_event(e, seat) for e in caught_up),
                    view(state, player),
                )
            while True:
                pub = await queue.get()
                if pub is None:
                    raise SubscriptionLost(
                        f"subscriber of {room_id} left more than {max_queue} commits unread "
                        f"after v{state.version} and was cut",
                        "fell_behind",
                    )
                fresh = [
                    (pub.first_version + i, e)
                    for i, e in enumerate(pub.events)
                    if pub.first_version + i > state.version
                ]
                if not fresh:
                    continue
                if fresh[0][0] != state.version + 1:
                    raise SubscriptionLost(f"gap in {room_id} after v{state.version}", "gap")
                for _, event in fresh:
                    state = evolve(state, event)
                seat = viewer_seat(state, player)
                yield Update(
                    room_id,
                    fresh[0][0],
                    tuple(redact_event(e, seat) for _, e in fresh),
                    view(state, player),
                )
        finally:
            driver.metrics.subscriber_queues.discard(queue)
            self._unlisten(room_id, listeners, deliver)

    def _unlisten(
        self, room_id: str, listeners: set[Callable[[Published], None]], deliver: Any
    ) -> None:
        """Stop delivering to `deliver`; the room is unwatched once nobody listens."""
        listeners.discard(deliver)
        driver = self._driver
        if listeners or driver is None or driver.subscribers.get(room_id) is not listeners:
            return
        driver.subscribers.pop(room_id, None)
        driver.tell(driver.directory, WatchRoom(room_id, False))

    def _spectate(
        self, room_id: str, delay: Delay | None, from_version: int
    ) -> AsyncGenerator[Update, None]:
        """The room as a spectator sees it (no seat's hand; docs/embedding.md, "Spectators"),
        each update only once `delay` has passed. Updates coalesce every commit due since
        the last one and are shared by the spectators who take the same commits; a
        spectator that leaves `spectator_max_lag` commits unread gets SpectatorDropped."""
        if not ROOM_ID.fullmatch(room_id):
            raise ValueError("a room id is 6 uppercase letters or digits")
        if self._spectator_rooms is None:

            async def history(room: str) -> list[Event]:
                return decode_records(await self.store.read_stream(room))

            self._spectator_rooms = SpectatorRooms(
                self.driver,
                history,
                Update,
                flush_every=self.config.spectator_flush,
                max_lag=self.config.spectator_max_lag,
                share=self.config.spectator_share,
            )
        return self._spectator_rooms.watch(room_id, delay, from_version)

    # --- operations ----------------------------------------------------------------------------

    async def backup(self, target: str | os.PathLike[str]) -> tuple[Path, ...]:
        """Copy the event store, while the engine runs, to files at `target` (SQLite:
        `target` and `<target>.archive.db`, consistent with each other); the files
        written. A server backend refuses (OperationRefused): back it up with its own
        tools. The read models are not copied: they rebuild."""
        return await self.store.backup(target)

    # --- observability -------------------------------------------------------------------------

    def metrics(self) -> dict[str, object]:
        """The engine's counters and quantiles, and the health of its store and read models:
        `missing_bundles` (archived matches the archive file lacks), `projections_error`
        (why the read models stopped, or None) and each read model's `behind` count."""
        snapshot = self.driver.metrics.snapshot()
        snapshot["missing_bundles"] = len(self.store.missing_bundles)
        if self._runner is not None:
            status = self._runner.status()
            snapshot["projections_error"] = status.error
            snapshot["projections_behind"] = {p.name: p.behind for p in status.projections}
        return snapshot

    def prometheus(self) -> str:
        """The metrics in Prometheus text format, with gauges for the store and read models
        to alert on: missing bundles, and read models stopped or falling behind."""
        lines = [
            *family(
                "liaptui_store_missing_bundles",
                "gauge",
                "Archived matches whose bundle the archive lacks.",
            ),
            f"liaptui_store_missing_bundles {len(self.store.missing_bundles)}",
        ]
        if self._runner is not None:
            status = self._runner.status()
            ok = status.running and status.error is None
            lines += [
                *family("liaptui_projections_running", "gauge", "1 while the read models fold."),
                f"liaptui_projections_running {int(ok)}",
            ]
            gauges: dict[str, list[str]] = {"behind_events": [], "folding": [], "lag_seconds": []}
            for p in status.projections:
                label = f'{{projection="{p.name}"}}'
                folding = ok and not (p.paused or p.stale or p.fault is not None)
                gauges["behind_events"].append(
                    f"liaptui_projection_behind_events{label} {p.behind}"
                )
                gauges["folding"].append(f"liaptui_projection_folding{label} {int(folding)}")
                if p.lag_seconds is not None:
                    gauges["lag_seconds"].append(
                        f"liaptui_projection_lag_seconds{label} {p.lag_seconds}"
                    )
            helps = {
                "behind_events": "Events of the log a read model has not folded yet.",
                "folding": "1 while a read model folds (not paused, stale or failed).",
                "lag_seconds": "Age of the newest event a read model folded.",
            }
            for name, samples in gauges.items():
                lines += [*family(f"liaptui_projection_{name}", "gauge", helps[name]), *samples]
        return self.driver.metrics.prometheus() + "\n".join(lines) + "\n"


class SyncEngine:
    """The same operations for scripts and tests: an Engine on a private loop in a thread."""

    def __init__(
        self, config: EngineConfig, clock: Clock | None = None, monotonic: Clock | None = None
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="liaptui-engine", daemon=True
        )
        self._thread.start()
        self.engine = Engine(config, clock, monotonic)
        self._call(self.engine.start())

    @classmethod
    def open(
        cls,
        url: str | Path = "games.db",
        config: EngineConfig | None = None,
        clock: Clock | None = None,
        monotonic: Clock | None = None,
    ) -> SyncEngine:
        """A SyncEngine on the store `url` names (see `Engine.open`)."""
        return cls(replace(config or EngineConfig(), path=str(url)), clock, monotonic)

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, awaitable: Awaitable[T]) -> T:
        async def run() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def create_room(self, host: str, **kwargs: Any) -> Accepted | Rejection:
        return self._call(self.engine.create_room(host, **kwargs))

    def start_bot_match(self, host: str, **kwargs: Any) -> Accepted | Rejection:
        return self._call(self.engine.start_bot_match(host, **kwargs))

    def send(self, room_id: str, command: Command, **kwargs: Any) -> Accepted | Rejection:
        return self._call(self.engine.send(room_id, command, **kwargs))

    def fork(self, room_id: str, at_version: int, *, new_code: str | None = None) -> str:
        return self._call(self.engine.fork(room_id, at_version, new_code=new_code))

    def view(self, room_id: str, player: str | None = None) -> PlayerView | Rejection:
        return self._call(self.engine.view(room_id, player))

    def subscribe(
        self,
        room_id: str,
        player: str | None = None,
        from_version: int = 0,
        *,
        spectator: bool = False,
        delay: Delay | None = None,
    ) -> Iterator[Update]:
        """A blocking iterator over the room's updates (closing it ends the subscription)."""
        agen = self.engine.subscribe(
            room_id, player, from_version, spectator=spectator, delay=delay
        )
        try:
            while True:
                try:
                    yield self._call(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self._call(agen.aclose())

    @property
    def read_models(self) -> SyncReadModels:
        """Blocking queries over the projections (the sync twin of Engine.read_models)."""
        return self.engine.read_models.sync

    def backup(self, target: str | os.PathLike[str]) -> tuple[Path, ...]:
        return self._call(self.engine.backup(target))

    def metrics(self) -> dict[str, object]:
        return self._call(_wrap(self.engine.metrics))

    def prometheus(self) -> str:
        return self._call(_wrap(self.engine.prometheus))

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self.engine.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


async def _wrap(fn: Callable[[], T]) -> T:
    return fn()
