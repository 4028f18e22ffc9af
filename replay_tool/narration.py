"""Events, seats, pieces and times in words: the one-line text every command prints."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from engine.events import (
    BotAdded,
    DeclarationStarted,
    Declared,
    Event,
    ForkedFrom,
    GameOver,
    GameStarted,
    HandsDealt,
    HostChanged,
    PiecesPlayed,
    PlayerDisconnected,
    PlayerJoined,
    PlayerLeft,
    PlayerReconnected,
    PlayerRemoved,
    RedealDecided,
    RedealGranted,
    RoomClosed,
    RoomCreated,
    RoundScored,
    RoundStarted,
    TrickWon,
)
from engine.pieces import Piece

Names = Sequence[str | None]
"""The occupant of each seat (None when empty), for labels like `P2 Bot 2`."""


def seat_label(seat: int, names: Names) -> str:
    """`P2 Bot 2`: the people-facing seat number and who sits there."""
    name = names[seat] if 0 <= seat < len(names) else None
    return f"P{seat + 1}" if name is None else f"P{seat + 1} {name}"


def pieces_text(pieces: Sequence[Piece]) -> str:
    return " ".join(p.value for p in pieces) if pieces else "-"


def signed(value: int) -> str:
    return f"{value:+d}"


def format_time(timestamp: float) -> str:
    """A store or engine timestamp as UTC date and time."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def describe(event: Event, names: Names) -> str:
    """What `event` says, in one line, with seats labelled by `names`."""
    describer = _DESCRIBERS.get(type(event))
    return describer(event, names) if describer is not None else type(event).__name__


def _room_created(e: RoomCreated, names: Names) -> str:
    scripted = f", {len(e.script)} scripted deals" if e.script else ""
    return f"{e.host} created room {e.room_id} (seed {e.seed}{scripted})"


def _game_started(e: GameStarted, names: Names) -> str:
    return "game started: " + ", ".join(seat_label(i, e.seats) for i in range(len(e.seats)))


def _hands_dealt(e: HandsDealt, names: Names) -> str:
    kind = "scripted deal" if e.scripted else "deal"
    return f"round {e.round}: {kind} {e.deal} dealt"


def _redeal_decided(e: RedealDecided, names: Names) -> str:
    answer = "accepts" if e.accept else "declines"
    late = " (timed out)" if e.timed_out else ""
    return f"{seat_label(e.seat, names)} {answer} a redeal{late}"


def _redeal_granted(e: RedealGranted, names: Names) -> str:
    return f"redeal granted to {seat_label(e.seat, names)}, multiplier x{e.multiplier}"


def _round_started(e: RoundStarted, names: Names) -> str:
    return (
        f"round {e.round} starts: {seat_label(e.starter, names)} leads "
        f"({e.reason.value}), multiplier x{e.multiplier}"
    )


def _pieces_played(e: PiecesPlayed, names: Names) -> str:
    return (
        f"{seat_label(e.seat, names)} plays {pieces_text(e.pieces)} ({e.play_type.value} {e.value})"
    )


def _trick_won(e: TrickWon, names: Names) -> str:
    piles = "pile" if e.piles == 1 else "piles"
    return f"round {e.round} trick {e.trick} won by {seat_label(e.seat, names)}: {e.piles} {piles}"


def _round_scored(e: RoundScored, names: Names) -> str:
    parts = [
        f"{seat_label(i, names)} {signed(s)}={t}"
        for i, (s, t) in enumerate(zip(e.scores, e.totals, strict=False))
    ]
    return f"round {e.round} scored (x{e.multiplier}): " + ", ".join(parts)


def _game_over(e: GameOver, names: Names) -> str:
    winners = ", ".join(seat_label(s, names) for s in e.winners)
    totals = "/".join(str(t) for t in e.totals)
    return f"game over ({e.reason.value}): won by {winners}; totals {totals}"


def _player_joined(e: PlayerJoined, names: Names) -> str:
    return f"{e.name} joined in P{e.seat + 1}"


def _player_left(e: PlayerLeft, names: Names) -> str:
    return f"{e.name} left P{e.seat + 1}"


def _bot_added(e: BotAdded, names: Names) -> str:
    return f"{e.name} added in P{e.seat + 1}"


def _player_removed(e: PlayerRemoved, names: Names) -> str:
    who = "bot" if e.was_bot else "player"
    return f"{who} {e.name} removed from P{e.seat + 1}"


def _host_changed(e: HostChanged, names: Names) -> str:
    return f"host is now P{e.seat + 1} {e.name}"


def _room_closed(e: RoomClosed, names: Names) -> str:
    return f"room closed ({e.reason.value})"


def _declaration_started(e: DeclarationStarted, names: Names) -> str:
    return f"round {e.round}: declarations open"


def _declared(e: Declared, names: Names) -> str:
    return f"{seat_label(e.seat, names)} declares {e.piles}"


def _disconnected(e: PlayerDisconnected, names: Names) -> str:
    return f"P{e.seat + 1} {e.name} disconnected"


def _reconnected(e: PlayerReconnected, names: Names) -> str:
    return f"P{e.seat + 1} {e.name} reconnected"


def _forked_from(e: ForkedFrom, names: Names) -> str:
    return (
        f"forked as {e.room_id} from {e.source_room} at v{e.source_version}: "
        f"the events before are {e.source_room}'s, the room lives on from here "
        f"(deadlines moved {e.at - e.source_at:+.1f} s)"
    )


_DESCRIBERS: dict[type[Event], Callable[[Any, Names], str]] = {
    RoomCreated: _room_created,
    PlayerJoined: _player_joined,
    PlayerLeft: _player_left,
    BotAdded: _bot_added,
    PlayerRemoved: _player_removed,
    HostChanged: _host_changed,
    RoomClosed: _room_closed,
    GameStarted: _game_started,
    HandsDealt: _hands_dealt,
    RedealDecided: _redeal_decided,
    RedealGranted: _redeal_granted,
    RoundStarted: _round_started,
    DeclarationStarted: _declaration_started,
    Declared: _declared,
    PiecesPlayed: _pieces_played,
    TrickWon: _trick_won,
    RoundScored: _round_scored,
    GameOver: _game_over,
    PlayerDisconnected: _disconnected,
    PlayerReconnected: _reconnected,
    ForkedFrom: _forked_from,
}
