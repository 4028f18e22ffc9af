"""Spectators: watchers of a room who see no hand, optionally some seconds or events behind.

What a spectator may see of each commit (the events with every dealt hand emptied, and
the room's view with no seat's hand) is the same for every spectator of the room, so a
room's `SpectatorChannel` computes it once as a `Frame` and keeps the frames in one
shared log; each spectator only holds a cursor into it. A commit costs the room's turn
one list append, however many watch: the frames are made later, off the command's path,
when the spectators are next woken. Spectators are woken in rounds, a few at a time, at
most every `flush_every` seconds and less often when the rounds of all watched rooms
would take more than `share` of the loop's time, and take everything due in one
coalesced update, so a thousand of them do not queue in front of the room's commands. A spectator that does not come back
for `max_lag` frames is dropped (`SpectatorDropped`); nobody waits for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from itertools import groupby
from typing import Generic, TypeVar

from msgspec import Struct

from actors.driver import Driver
from actors.messages import Published, WatchRoom
from engine.events import Event
from engine.evolve import evolve
from engine.state import RoomState
from engine.views import PlayerView, redact, view


class Seconds(Struct, frozen=True):
    """Show each event `seconds` after its time (`at`, the engine clock), never sooner."""

    seconds: float


class Events(Struct, frozen=True):
    """Stay `events` events behind the room's latest committed version, never closer."""

    events: int


Delay = Seconds | Events
U = TypeVar("U")
MakeUpdate = Callable[[str, int, tuple[Event, ...], PlayerView], U]
"""How a batch (room, first version, events, view after them) becomes what a spectator gets."""


class SpectatorDropped(Exception):
    """The spectator did not read for too long and was dropped; subscribe again to resume
    from the last version it saw."""


class Frame(Struct, frozen=True, gc=False):
    """One commit as every spectator sees it: redacted events, the view after them, their time."""

    first_version: int
    events: tuple[Event, ...]
    view: PlayerView
    at: float

    @property
    def last_version(self) -> int:
        return self.first_version + len(self.events) - 1


def spectator_frames(
    events: Iterable[Event], state: RoomState | None = None
) -> tuple[list[Frame], RoomState]:
    """The frames of `events` (grouped by their time, as one command's events share it)
    after `state`, and the state after them. Pure: what a spectator sees of a history."""
    state = state if state is not None else RoomState()
    frames: list[Frame] = []
    for at, group in groupby(events, key=lambda e: e.at):
        first = state.version + 1
        shown = []
        for event in group:
            state = evolve(state, event)
            shown.append(redact(event, None))
        frames.append(Frame(first, tuple(shown), view(state, None), at))
    return frames, state


class Spectator:
    """One watcher's place in its room's frames."""

    def __init__(self, delay: Delay | None, cursor: int) -> None:
        self.delay = delay
        self.cursor = cursor  # index of the next frame to deliver
        self.waiting: asyncio.Future[None] | None = None
        self.timed = False  # waiting on a timer of its own (its next frame's due time)
        self.dropped = False
        self.delivered_at = float("-inf")  # engine time of the last delivery


class SpectatorChannel(Generic[U]):
    """One room's shared spectator feed: the frames of its whole history and its spectators."""

    def __init__(
        self,
        room_id: str,
        clock: Callable[[], float],
        make_update: MakeUpdate[U],
        *,
        flush_every: float,
        max_lag: int,
        share: float = 0.05,
        wake_slice: int = 16,
        channels: Callable[[], int] = lambda: 1,
    ) -> None:
        self.room_id = room_id
        self.channels = channels  # how many rooms' channels share the loop (and `share`)
        self.clock = clock
        self.make_update = make_update
        # Spectators woken together mostly take the same frames: one update serves them all.
        self.batches: dict[tuple[int, int], U] = {}
        self.flush_every = flush_every
        self.interval = flush_every  # between two rounds: stretched when a round ran long
        self.share = share
        self.max_lag = max_lag
        self.wake_slice = wake_slice
        self.frames: list[Frame] = []
        self.unfolded: list[Published] = []  # commits not made into frames yet
        self.state = RoomState()
        self.spectators: set[Spectator] = set()
        self.ready = asyncio.Event()
        self.flush_task: asyncio.Task[None] | None = None
        self.early: list[Published] = []  # commits seen while the stored history is read
        self.failure: BaseException | None = None  # why the stored history could not be read

    # --- the room's side ------------------------------------------------------------------

    async def load(self, read_history: Callable[[], Awaitable[list[Event]]]) -> None:
        """Fold the stored history into frames; commits published meanwhile follow it."""
        try:
            frames, self.state = spectator_frames(await read_history())
        except BaseException as exc:
            self.failure = exc
            self.ready.set()
            raise
        self.frames = frames
        early, self.early = self.early, []
        self.ready.set()
        for pub in early:
            self.publish(pub)

    def publish(self, pub: Published) -> None:
        """A durable commit of the room (called by the driver, synchronously, inside the
        command's turn): kept as it is, made into frames by the next round or reader."""
        if not self.ready.is_set():
            self.early.append(pub)
            return
        self.unfolded.append(pub)
        if len(self.unfolded) > self.max_lag:
            self._fold()  # nobody folded for long (no spectator yet): keep this list short
        if self.spectators and (self.flush_task is None or self.flush_task.done()):
            self.flush_task = asyncio.get_running_loop().create_task(self._flush())

    def _fold(self) -> None:
        """Make the commits published since the last fold into frames."""
        unfolded, self.unfolded = self.unfolded, []
        for pub in unfolded:
            fresh = [
                e for i, e in enumerate(pub.events) if pub.first_version + i > self.state.version
            ]
            skipped = len(pub.events) - len(fresh)
            if not fresh or pub.first_version + skipped != self.state.version + 1:
                continue  # already folded (read from the store), or not the next version
            frames, self.state = spectator_frames(fresh, self.state)
            self.frames.extend(frames)
            self.batches.clear()

    async def _flush(self) -> None:
        """Wake the waiting spectators a slice at a time; drop those who stopped reading.

        Runs again while commits arrived during a round: a spectator woken early in a round
        may be waiting again before the round ends, and must not miss the last commit. A
        round that took long (many spectators, or a busy loop: the time is wall time, the
        room's commands in between included) stretches the pause before the next one, so
        that the rounds of all the engine's channels together take at most about `share`
        of the loop (each channel keeps to `share` / the number of channels).
        """
        while True:
            await asyncio.sleep(self.interval)
            started = time.perf_counter()
            self._fold()
            head = len(self.frames)
            for i, spectator in enumerate(list(self.spectators)):
                waiting = spectator.waiting
                if waiting is not None and not waiting.done():
                    # A spectator seconds behind wakes on its own timer, when its frame is due.
                    if not spectator.timed:
                        waiting.set_result(None)
                elif waiting is None and head - spectator.cursor > self.max_lag:
                    spectator.dropped = True
                    self.spectators.discard(spectator)
                if (i + 1) % self.wake_slice == 0:
                    await asyncio.sleep(0)  # let the room's commands in between slices
            await asyncio.sleep(0)  # the last slice runs before the round is timed
            spent = time.perf_counter() - started
            rest = spent * self.channels() * (1 / self.share - 1)
            self.interval = max(self.flush_every, rest)
            self._fold()
            if len(self.frames) == head:
                return

    # --- a spectator's side ---------------------------------------------------------------

    def _released(self, spectator: Spectator, now: float) -> int:
        """The index after the last frame `spectator` may see at `now`."""
        delay = spectator.delay
        end = len(self.frames)
        if delay is None:
            return end
        if isinstance(delay, Events):
            # Once the match is over nothing is left to hide: its end is shown, not held back.
            over = self.state.finished
            limit = self.state.version - (0 if over else delay.events)
            while end > spectator.cursor and self.frames[end - 1].last_version > limit:
                end -= 1
            return end
        released = spectator.cursor
        while released < end and self.frames[released].at + delay.seconds <= now:
            released += 1
        return released

    def _next_release(self, spectator: Spectator) -> float | None:
        """The engine time at which a seconds-delayed spectator's next frame is due."""
        if isinstance(spectator.delay, Seconds) and spectator.cursor < len(self.frames):
            return self.frames[spectator.cursor].at + spectator.delay.seconds
        return None

    async def watch(self, delay: Delay | None, from_version: int) -> AsyncGenerator[U, None]:
        """The updates of one spectator after `from_version`, each only once it is due.
        Without a delay, the first comes at once (the current view, even with no events)."""
        await self.ready.wait()
        if self.failure is not None:
            raise self.failure
        self._fold()
        cursor = 0
        while cursor < len(self.frames) and self.frames[cursor].last_version <= from_version:
            cursor += 1
        spectator = Spectator(delay, cursor)
        self.spectators.add(spectator)
        seen = from_version
        try:
            if delay is None and cursor == len(self.frames):
                yield self.make_update(self.room_id, seen + 1, (), view(self.state, None))
            while True:
                self._fold()
                if spectator.dropped:
                    raise SpectatorDropped(
                        f"a spectator of {self.room_id} stopped reading and was dropped "
                        f"after v{seen}"
                    )
                now = self.clock()
                end = self._released(spectator, now)
                if end == spectator.cursor:
                    await self._wait(spectator, now)
                    continue
                batch = self._batch(seen, spectator.cursor, end)
                spectator.cursor = end
                spectator.delivered_at = now
                seen = self.frames[end - 1].last_version
                yield batch
        finally:
            self.spectators.discard(spectator)

    def _batch(self, seen: int, start: int, end: int) -> U:
        """The update of frames[start:end] for a spectator who has seen up to `seen`."""
        batch = self.batches.get((seen, end))
        if batch is None:
            frames = self.frames[start:end]
            events = tuple(
                e for f in frames for i, e in enumerate(f.events) if f.first_version + i > seen
            )
            batch = self.make_update(self.room_id, seen + 1, events, frames[-1].view)
            self.batches[(seen, end)] = batch
        return batch

    async def _wait(self, spectator: Spectator, now: float) -> None:
        """Until a round wakes the spectator, or its next frame is due (not sooner than one
        round's interval after its last delivery, so that it wakes a bounded number of
        times)."""
        loop = asyncio.get_running_loop()
        waiting = spectator.waiting = loop.create_future()
        due = self._next_release(spectator)
        timer = None
        if due is not None:
            timeout = max(due - now, spectator.delivered_at + self.interval - now, 0.0)
            timer = loop.call_later(timeout, _wake, waiting)
        spectator.timed = timer is not None
        try:
            await waiting
        finally:
            if timer is not None:
                timer.cancel()
            spectator.waiting = None
            spectator.timed = False


def _wake(waiting: asyncio.Future[None]) -> None:
    if not waiting.done():
        waiting.set_result(None)


class SpectatorRooms(Generic[U]):
    """The engine's spectator channels: one per watched room, made when its first spectator
    comes and dropped after its last one leaves."""

    def __init__(
        self,
        driver: Driver,
        read_history: Callable[[str], Awaitable[list[Event]]],
        make_update: MakeUpdate[U],
        *,
        flush_every: float,
        max_lag: int,
        share: float = 0.05,
    ) -> None:
        self.driver = driver
        self.read_history = read_history
        self.make_update = make_update
        self.flush_every = flush_every
        self.share = share
        self.max_lag = max_lag
        self.channels: dict[str, SpectatorChannel[U]] = {}
        self.users: dict[str, int] = {}

    async def watch(
        self, room_id: str, delay: Delay | None, from_version: int
    ) -> AsyncGenerator[U, None]:
        """A spectator's updates of `room_id` (see SpectatorChannel.watch)."""
        channel = self.channels.get(room_id)
        self.users[room_id] = self.users.get(room_id, 0) + 1
        try:
            if channel is None:
                channel = SpectatorChannel(
                    room_id,
                    self.driver.clock,
                    self.make_update,
                    flush_every=self.flush_every,
                    max_lag=self.max_lag,
                    share=self.share,
                    channels=lambda: len(self.channels),
                )
                self.channels[room_id] = channel
                self._listen(room_id, channel)
                await channel.load(lambda: self.read_history(room_id))
            async for batch in channel.watch(delay, from_version):
                yield batch
        finally:
            self.users[room_id] -= 1
            if not self.users[room_id]:
                del self.users[room_id]
                gone = self.channels.pop(room_id, None)
                if gone is not None:
                    self._unlisten(room_id, gone)

    def _listen(self, room_id: str, channel: SpectatorChannel[U]) -> None:
        driver = self.driver
        listeners = driver.subscribers.setdefault(room_id, set())
        if not listeners:
            driver.tell(driver.directory, WatchRoom(room_id, True))
        listeners.add(channel.publish)

    def _unlisten(self, room_id: str, channel: SpectatorChannel[U]) -> None:
        driver = self.driver
        listeners = driver.subscribers.get(room_id)
        if listeners is None:
            return
        listeners.discard(channel.publish)
        if not listeners and driver.asys is not None:
            driver.subscribers.pop(room_id, None)
            driver.tell(driver.directory, WatchRoom(room_id, False))
