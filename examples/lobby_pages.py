"""The example server's lobby pages: read from the lobby read model at most every `refresh`.

Every `list_rooms` of every connection asks for a page; most ask for the same few (the
first page, joinable or not). A page read less than `refresh` seconds ago is answered
as it is, and callers that ask while it is being read wait for that one read: however
many sockets list the lobby, the read model is read at most once per page per `refresh`.
A page whose `as_of` is still the read model's checkpoint is answered at any age: the
read model has folded nothing since, so it would read the same.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from msgspec import Struct

from projections.lobby import LobbyRoom
from projections.queries import ReadModels

LOBBY_REFRESH = 0.5  # seconds a page is answered from memory before it is read again
T = TypeVar("T")
PAGES_KEPT = 64  # distinct (joinable, offset, limit) pages held at once; the oldest go first


class LobbyPage(Struct, Generic[T], frozen=True):
    rooms: tuple[T, ...]  # each room as `LobbyPages.shape` made it, once per read
    offset: int
    limit: int
    as_of: int  # the lobby read model's position in the event log when it was read
    read_at: float  # monotonic seconds


Key = tuple[bool, int, int]  # joinable, offset, limit


class LobbyPages(Generic[T]):
    def __init__(
        self,
        models: Callable[[], ReadModels],
        checkpoint: Callable[[], int | None],
        shape: Callable[[LobbyRoom], T],
        refresh: float = LOBBY_REFRESH,
        kept: int = PAGES_KEPT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.models = models
        self.checkpoint = checkpoint  # the lobby read model's position now
        self.shape = shape  # a room as the server sends it
        self.refresh = refresh
        self.kept = kept
        self.clock = clock
        self.pages: OrderedDict[Key, LobbyPage[T]] = OrderedDict()
        self.reading: dict[Key, asyncio.Future[LobbyPage[T]]] = {}
        self.reads = 0  # read-model queries made (for tests and the bench)

    async def page(self, joinable: bool, offset: int, limit: int, fresh: bool) -> LobbyPage[T]:
        """The page, at most `refresh` old; with `fresh`, one read after this call began."""
        key = (joinable, offset, limit)
        held = self.pages.get(key)
        if not fresh and held is not None and (
            self.clock() - held.read_at < self.refresh or held.as_of == self.checkpoint()
        ):
            self.pages.move_to_end(key)
            return held
        pending = self.reading.get(key)
        if pending is not None and not fresh:
            return await asyncio.shield(pending)
        future: asyncio.Future[LobbyPage[T]] = asyncio.get_running_loop().create_future()
        if pending is None:
            self.reading[key] = future
        try:
            page = await self._read(key)
        except asyncio.CancelledError:
            future.cancel()  # those waiting for this read get CancelledError too, and retry
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # marked retrieved: nobody else may be waiting
            raise
        finally:
            if self.reading.get(key) is future:
                del self.reading[key]
        future.set_result(page)
        self.pages[key] = page
        self.pages.move_to_end(key)
        while len(self.pages) > self.kept:
            self.pages.popitem(last=False)
        return page

    async def _read(self, key: Key) -> LobbyPage[T]:
        joinable, offset, limit = key
        models = self.models()
        query = models.joinable if joinable else models.lobby
        self.reads += 1
        read_at = self.clock()
        got = await query(limit=limit, offset=offset)
        rooms = tuple(self.shape(room) for room in got.items)
        return LobbyPage(rooms, got.offset, got.limit, got.as_of, read_at)
