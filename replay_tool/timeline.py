"""A match's events grouped the way people read a match: lobby, rounds, deals, tricks, scores."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import Struct

from engine.events import (
    BotAdded,
    Declared,
    Event,
    GameStarted,
    HandsDealt,
    PiecesPlayed,
    PlayerJoined,
    PlayerLeft,
    PlayerRemoved,
    RedealDecided,
    RedealGranted,
    RoomCreated,
    RoundScored,
    RoundStarted,
    TrickWon,
    ends_room,
)
from engine.pieces import SEATS


class Versioned(Struct, frozen=True):
    """An event and the stream version it was recorded at."""

    version: int
    event: Event


class Play(Struct, frozen=True):
    version: int
    event: PiecesPlayed


class Trick(Struct, kw_only=True):
    """One trick: the plays in order from the leader, and who won it."""

    number: int
    plays: list[Play]
    won: TrickWon | None = None
    won_version: int | None = None

    @property
    def leader(self) -> int:
        return self.plays[0].event.seat

    @property
    def winning_play(self) -> int | None:
        """The index in `plays` of the play that wins (or wins so far), by the recorded facts."""
        best: int | None = None
        for i, play in enumerate(self.plays):
            if best is None:
                best = i
                continue
            top = self.plays[best].event
            if play.event.play_type is top.play_type and play.event.value > top.value:
                best = i
        return best


class Deal(Struct, kw_only=True):
    """One deal of a round (the first, or a redeal) and the redeal answers that followed it."""

    version: int
    event: HandsDealt
    decisions: list[tuple[int, RedealDecided]]
    granted: tuple[int, RedealGranted] | None = None


class Round(Struct, kw_only=True):
    """A round from its first deal to its scoring; `notes` are the other events inside it."""

    number: int
    deals: list[Deal]
    started: tuple[int, RoundStarted] | None = None
    declarations: list[tuple[int, Declared]]
    tricks: list[Trick]
    scored: tuple[int, RoundScored] | None = None
    notes: list[Versioned]


class Timeline(Struct, kw_only=True):
    """A whole match, grouped; `seats` are the names at the start of the game (or the lobby's)."""

    created: RoomCreated | None
    seats: tuple[str | None, ...]
    lobby: list[Versioned]
    rounds: list[Round]
    ending: list[Versioned]


def build_timeline(events: Sequence[Event], first_version: int = 1) -> Timeline:
    """Group `events` (recorded from `first_version` on) into lobby, rounds and ending."""
    timeline = Timeline(created=None, seats=(None,) * SEATS, lobby=[], rounds=[], ending=[])
    lobby_names: list[str | None] = [None] * SEATS
    for offset, event in enumerate(events):
        _place(timeline, lobby_names, first_version + offset, event)
    if all(name is None for name in timeline.seats):
        timeline.seats = tuple(lobby_names)
    return timeline


def _place(timeline: Timeline, lobby_names: list[str | None], version: int, event: Event) -> None:
    rounds = timeline.rounds
    current = rounds[-1] if rounds else None
    if isinstance(event, RoomCreated):
        timeline.created = event
        lobby_names[:] = [event.host] + [f"Bot {i + 1}" for i in range(1, SEATS)]
        timeline.lobby.append(Versioned(version, event))
    elif isinstance(event, GameStarted):
        timeline.seats = event.seats
        timeline.lobby.append(Versioned(version, event))
    elif isinstance(event, HandsDealt):
        deal = Deal(version=version, event=event, decisions=[])
        if current is None or current.number != event.round:
            rounds.append(
                Round(number=event.round, deals=[deal], declarations=[], tricks=[], notes=[])
            )
        else:
            current.deals.append(deal)
    elif ends_room(event):
        timeline.ending.append(Versioned(version, event))
    elif current is None:
        _lobby_change(lobby_names, event)
        timeline.lobby.append(Versioned(version, event))
    else:
        _in_round(current, version, event)


def _lobby_change(names: list[str | None], event: Event) -> None:
    if isinstance(event, PlayerJoined | BotAdded):
        names[event.seat] = event.name
    elif isinstance(event, PlayerLeft | PlayerRemoved):
        names[event.seat] = None


def _in_round(current: Round, version: int, event: Event) -> None:
    if isinstance(event, RedealDecided):
        current.deals[-1].decisions.append((version, event))
    elif isinstance(event, RedealGranted):
        current.deals[-1].granted = (version, event)
    elif isinstance(event, RoundStarted):
        current.started = (version, event)
    elif isinstance(event, Declared):
        current.declarations.append((version, event))
    elif isinstance(event, PiecesPlayed):
        open_trick = current.tricks[-1] if current.tricks else None
        if open_trick is None or open_trick.won is not None:
            open_trick = Trick(number=len(current.tricks) + 1, plays=[])
            current.tricks.append(open_trick)
        open_trick.plays.append(Play(version, event))
    elif isinstance(event, TrickWon) and current.tricks:
        current.tricks[-1].won = event
        current.tricks[-1].won_version = version
    elif isinstance(event, RoundScored):
        current.scored = (version, event)
    else:
        current.notes.append(Versioned(version, event))
