"""Test support: a `Table` that sends commands to the pure decider, and scripted deals.

Piece shorthand used by the scenario tests (red / black):

    GR GB  general (14 / 13)      CHR CHB  chariot (8 / 7)
    AR AB  advisor (12 / 11)      HR  HB   horse   (6 / 5)
    ER EB  elephant (10 / 9)      CNR CNB  cannon  (4 / 3)
                                  SR  SB   soldier (2 / 1)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import TypeVar

from engine.bots import choose_play
from engine.commands import (
    AddBot,
    Command,
    CreateRoom,
    Deal,
    DecideRedeal,
    Declare,
    Disconnect,
    JoinRoom,
    LeaveRoom,
    Play,
    Reconnect,
    RemovePlayer,
    StartGame,
    Tick,
)
from engine.decider import decide, execute
from engine.events import Event
from engine.pieces import DECK, Piece
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from engine.state import Phase, RoomState, bot_name

GR, GB = Piece.GENERAL_RED, Piece.GENERAL_BLACK
AR, AB = Piece.ADVISOR_RED, Piece.ADVISOR_BLACK
ER, EB = Piece.ELEPHANT_RED, Piece.ELEPHANT_BLACK
CHR, CHB = Piece.CHARIOT_RED, Piece.CHARIOT_BLACK
HR, HB = Piece.HORSE_RED, Piece.HORSE_BLACK
CNR, CNB = Piece.CANNON_RED, Piece.CANNON_BLACK
SR, SB = Piece.SOLDIER_RED, Piece.SOLDIER_BLACK

NAMES = ("Ann", "Ben", "Cat", "Dan")
ROOM = "ROOM01"
FAST = RoomSettings.fast()

E = TypeVar("E", bound=Event)


def deal(*hands: Sequence[Piece]) -> Deal:
    """A full deal from explicit hands, each completed from the rest of the deck.

    Missing pieces are handed out in the deck's canonical order (GENERAL_RED first), seat by
    seat, so a seat that is not given GENERAL_RED explicitly gets it only if seat 0 has room.
    """
    given = [list(h) for h in hands] + [[] for _ in range(4 - len(hands))]
    rest = Counter(DECK)
    rest.subtract(Counter(p for h in given for p in h))
    assert all(n >= 0 for n in rest.values()), f"more pieces than the deck holds: {rest}"
    spare = [p for p in Piece for _ in range(rest[p])]
    for hand in given:
        assert len(hand) <= 8, hand
        while len(hand) < 8:
            hand.append(spare.pop(0))
    return tuple(tuple(h) for h in given)


STRONG = (GR, GB, AR, AR, AB, AB, ER, ER)
"""The eight pieces worth more than 9: a hand without any of them is weak."""


def weak_deal(*weak_seats: int) -> Deal:
    """A deal where exactly `weak_seats` are weak: the strong pieces go round the others."""
    strong_seats = [s for s in range(4) if s not in weak_seats]
    hands: list[list[Piece]] = [[] for _ in range(4)]
    for i, piece in enumerate(STRONG):
        hands[strong_seats[i % len(strong_seats)]].append(piece)
    return deal(*hands)


def all_strong_to(seat: int) -> Deal:
    """A deal where `seat` holds the eight strong pieces and wins every trick it leads.

    Its lowest single (10), pair (20) and straight or extended straight (36) beat the best
    anyone else can play of that type (9, 18, 18). Holding GENERAL_RED, it starts round 1;
    the other three hands are weak.
    """
    hands: list[list[Piece]] = [[] for _ in range(4)]
    hands[seat] = list(STRONG)
    return deal(*hands)


EVERYONE_STRONG = deal([GR, AB], [GB, ER], [AR, ER], [AR, AB])
"""No weak hand; Ann holds GENERAL_RED."""


def of_type(events: Iterable[Event], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]


def one(events: Iterable[Event], cls: type[E]) -> E:
    found = of_type(events, cls)
    assert len(found) == 1, f"expected one {cls.__name__}, got {found}"
    return found[0]


def types(events: Iterable[Event]) -> list[str]:
    return [type(e).__name__ for e in events]


class Table:
    """A room driven through `engine.decider.execute`, one command at a time.

    Command builders stamp `at=self.now` and a fresh command id; `send` insists the command
    is accepted, `refuse` insists it is rejected and that nothing changed.
    """

    def __init__(self) -> None:
        self.state = RoomState()
        self.events: list[Event] = []
        self.now = 0.0
        self._ids = 0

    # --- sending ---------------------------------------------------------------------------

    def send(self, command: Command) -> list[Event]:
        result = execute(self.state, command)
        if isinstance(result, Rejection):
            raise AssertionError(f"{command!r} refused: {result.code.value} {result.message}")
        events, state = result
        self.events += events
        self.state = state
        return events

    def refuse(self, command: Command) -> Code:
        before = self.state
        result = execute(before, command)
        assert isinstance(result, Rejection), f"{command!r} was accepted: {result[0]}"
        assert decide(before, command) == result
        assert self.state is before
        return result.code

    # --- command builders -----------------------------------------------------------------

    def _id(self) -> str:
        self._ids += 1
        return f"cmd-{self._ids}"

    def create(
        self,
        host: str = "Ann",
        *,
        room_id: str = ROOM,
        seed: int = 1,
        settings: RoomSettings = FAST,
        script: tuple[Deal, ...] = (),
    ) -> CreateRoom:
        return CreateRoom(
            command_id=self._id(),
            player=host,
            at=self.now,
            room_id=room_id,
            seed=seed,
            settings=settings,
            script=script,
        )

    def join(self, player: str) -> JoinRoom:
        return JoinRoom(command_id=self._id(), player=player, at=self.now)

    def leave(self, player: str) -> LeaveRoom:
        return LeaveRoom(command_id=self._id(), player=player, at=self.now)

    def add_bot(self, player: str, seat: int) -> AddBot:
        return AddBot(command_id=self._id(), player=player, at=self.now, seat=seat)

    def remove(self, player: str, seat: int) -> RemovePlayer:
        return RemovePlayer(command_id=self._id(), player=player, at=self.now, seat=seat)

    def start(self, player: str = "Ann") -> StartGame:
        return StartGame(command_id=self._id(), player=player, at=self.now)

    def redeal(self, player: str, accept: bool) -> DecideRedeal:
        return DecideRedeal(command_id=self._id(), player=player, at=self.now, accept=accept)

    def declare(self, player: str, piles: int) -> Declare:
        return Declare(command_id=self._id(), player=player, at=self.now, piles=piles)

    def play(self, player: str, *pieces: Piece) -> Play:
        return Play(command_id=self._id(), player=player, at=self.now, pieces=pieces)

    def play_indices(self, player: str, *indices: int) -> Play:
        return Play(command_id=self._id(), player=player, at=self.now, indices=indices)

    def disconnect(self, player: str) -> Disconnect:
        return Disconnect(command_id=self._id(), player=player, at=self.now)

    def reconnect(self, player: str) -> Reconnect:
        return Reconnect(command_id=self._id(), player=player, at=self.now)

    def tick(self, at: float | None = None) -> Tick:
        if at is not None:
            self.now = at
        return Tick(command_id=self._id(), player="", at=self.now)

    # --- reading ---------------------------------------------------------------------------

    def name(self, seat: int) -> str:
        """Who may act for `seat` now: its human if connected, else its bot."""
        s = self.state.seats[seat]
        return s.name if s.is_human and s.connected and s.name else bot_name(seat)

    def hand(self, seat: int) -> tuple[Piece, ...]:
        return self.state.seats[seat].hand

    # --- scenario steps --------------------------------------------------------------------

    def decline_all_redeals(self) -> list[Event]:
        """Every weak player still undecided declines (in seat order) for the current deal."""
        events: list[Event] = []
        deals = self.state.deals
        while self.state.phase is Phase.PREPARATION and self.state.deals == deals:
            undecided = [i for i, s in enumerate(self.state.seats) if s.weak and s.redeal is None]
            if not undecided:
                break
            events += self.send(self.redeal(self.name(undecided[0]), False))
        return events

    def declare_all(self, piles: Sequence[int] = (1, 1, 1, 1)) -> list[Event]:
        """Everyone declares, in play order from the starter; `piles` is indexed by seat."""
        events: list[Event] = []
        while self.state.phase is Phase.DECLARATION:
            turn = self.state.turn
            assert turn is not None
            events += self.send(self.declare(self.name(turn), piles[turn]))
        return events

    def play_out_tricks(self) -> list[Event]:
        """Play the round's remaining tricks with the bot policy, each seat under its own name."""
        events: list[Event] = []
        while self.state.phase is Phase.TURN and self.state.turn is not None:
            turn = self.state.turn
            self.now = max(self.now, self.state.lead_not_before)
            pieces = choose_play(self.state, turn)
            events += self.send(self.play(self.name(turn), *pieces))
        return events

    def finish_round(self) -> list[Event]:
        """Play out the tricks, then let the round-end pause pass so the round is scored."""
        events = self.play_out_tricks()
        if self.state.phase is Phase.TURN and self.state.due_at is not None:
            events += self.send(self.tick(max(self.now, self.state.due_at)))
        return events


def seated(
    script: tuple[Deal, ...] = (),
    *,
    settings: RoomSettings = FAST,
    seed: int = 1,
    names: Sequence[str] = NAMES,
    start: bool = True,
) -> Table:
    """A room of four humans (Ann hosts in P1; Ben, Cat, Dan replaced the bots), started."""
    table = Table()
    table.send(table.create(names[0], seed=seed, settings=settings, script=script))
    for seat in (1, 2, 3):
        table.send(table.remove(names[0], seat))
    for name in names[1:]:
        table.send(table.join(name))
    if start:
        table.send(table.start(names[0]))
    return table


def at_first_lead(
    hands: Deal, *, settings: RoomSettings = FAST, piles: Sequence[int] = (1, 1, 1, 1)
) -> Table:
    """Four humans, the given deal, redeals declined, everyone declared: the starter leads."""
    table = seated((hands,), settings=settings)
    table.decline_all_redeals()
    table.declare_all(piles)
    assert table.state.phase is Phase.TURN
    return table
