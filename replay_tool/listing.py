"""`list`: the matches in a store, filtered by status, player, dates and room code, paged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from msgspec import Struct

from engine.events import GameStarted, PlayerJoined, RoomCreated
from engine.store.errors import CorruptData
from engine.store.protocol import EventStore
from engine.store.records import StreamInfo, StreamStatus
from replay_tool.errors import ToolError
from replay_tool.recording import decode_stored

SortKey = Literal["updated", "created", "room"]
PAGE = 1000
HEAD_CHUNK = 64
# The only events that name the people in a match; all come before or at GameStarted.
_NAMING = {cls.__name__ for cls in (RoomCreated, PlayerJoined, GameStarted)}


class MatchQuery(Struct, frozen=True, kw_only=True):
    """What `list` asks for; dates are UTC timestamps on the match's last activity."""

    status: StreamStatus | None = None
    player: str | None = None
    since: float | None = None
    until: float | None = None
    prefix: str | None = None
    sort: SortKey = "updated"
    limit: int = 50
    offset: int = 0


class MatchSummary(Struct, frozen=True):
    """A listed match: what the store knows, the names of the people in it, and whether
    its events could not be read (then `players` is empty and `problem` says why)."""

    info: StreamInfo
    players: tuple[str, ...]
    problem: str | None = None


class MatchPage(Struct, frozen=True):
    """One page of matches; `total` is None when the store paged for us and did not count."""

    matches: list[MatchSummary]
    total: int | None


def parse_date(text: str, *, end_of_day: bool = False) -> float:
    """A date or date-time (ISO 8601, UTC unless it has an offset) as a timestamp.

    With `end_of_day`, a bare date means the end of that day, so `--until 2025-03-01`
    includes the 1st.
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ToolError(f"not a date: {text!r} (use YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if end_of_day and len(text.strip()) == 10:
        moment += timedelta(days=1)
    return moment.timestamp()


async def players_of(store: EventStore, info: StreamInfo) -> tuple[str, ...]:
    """Every name in the room: the seats at the start (or the host), then anyone who left."""
    names: dict[str, str] = {}
    seen = 0
    while seen < info.last_version:
        records = await store.read_stream(info.stream_id, seen, seen + HEAD_CHUNK)
        if not records:
            break
        for record in records:
            if record.type not in _NAMING:
                continue
            event = decode_stored(info.stream_id, record).event
            if isinstance(event, GameStarted):
                seated = {name.casefold(): name for name in event.seats}
                return tuple(seated.values()) + tuple(
                    name for key, name in names.items() if key not in seated
                )
            if isinstance(event, RoomCreated):
                names.setdefault(event.host.casefold(), event.host)
            elif isinstance(event, PlayerJoined):
                names.setdefault(event.name.casefold(), event.name)
        seen = records[-1].version
    return tuple(names.values())


async def summarise(store: EventStore, info: StreamInfo) -> MatchSummary:
    """A match's listing; one whose events are corrupt is listed with the problem."""
    try:
        return MatchSummary(info, await players_of(store, info))
    except CorruptData as exc:
        return MatchSummary(info, (), f"corrupt data: {exc.message}")


async def list_matches(store: EventStore, query: MatchQuery) -> MatchPage:
    """The page of matches `query` asks for."""
    if query.limit < 1 or query.offset < 0:
        raise ToolError("--limit must be at least 1 and --offset at least 0")
    if query.sort == "updated" and query.player is None:
        # The store's own order: let it page.
        infos = await _streams(store, query, query.limit, query.offset)
        return MatchPage([await summarise(store, info) for info in infos], None)
    candidates: dict[str, StreamInfo] = {}
    offset = 0
    while True:
        page = await _streams(store, query, PAGE, offset)
        for info in page:
            candidates.setdefault(info.stream_id, info)
        if len(page) < PAGE:
            break
        offset += PAGE
    ordered = sorted(candidates.values(), key=lambda info: _sort_key(query.sort, info))
    summaries: list[MatchSummary] = []
    wanted = query.player.casefold() if query.player is not None else None
    for info in ordered:
        summary = await summarise(store, info)
        if wanted is None or any(p.casefold() == wanted for p in summary.players):
            summaries.append(summary)
    return MatchPage(summaries[query.offset : query.offset + query.limit], len(summaries))


async def _streams(
    store: EventStore, query: MatchQuery, limit: int, offset: int
) -> list[StreamInfo]:
    return await store.list_streams(
        status=query.status,
        updated_after=query.since,
        updated_before=query.until,
        prefix=query.prefix or None,
        limit=limit,
        offset=offset,
    )


def _sort_key(sort: SortKey, info: StreamInfo) -> tuple[float, str]:
    """Rooms alphabetically; times newest first."""
    if sort == "room":
        return (0.0, info.stream_id)
    if sort == "created":
        return (-info.created_at, info.stream_id)
    return (-info.updated_at, info.stream_id)
