"""`step`: the room after any event, and the moves of the interactive stepper."""

from __future__ import annotations

from collections.abc import Sequence

from msgspec import Struct

from engine.events import Event, HandsDealt, TrickWon
from engine.state import RoomState
from replay_tool.folding import states

HELP = """commands:
  n [K]     next event (K events on); an empty line is n
  p [K]     previous event (K back)
  j N       jump to the state after event N (0 = before the first)
  r N       jump to the first deal of round N
  t N       jump to the end of trick N of the current round
  / TYPE    search forward for the next event of a type (e.g. / TrickWon, / redeal)
  h         this help
  q         quit"""


class Move(Struct, frozen=True):
    """What one stepper command did: where it went, a message, whether to stop."""

    position: int
    message: str | None = None
    quit: bool = False


class Stepper:
    """A match's events and every state between them, for moving back and forth cheaply.

    When an event cannot be applied, the stepper stops before it: `failure` says which,
    and `last` is the last position that has a state.
    """

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)
        self.states, self.failure = states(self.events)

    @property
    def last(self) -> int:
        return len(self.states) - 1

    def state_at(self, position: int) -> RoomState:
        """The room after event `position` (0: before any event)."""
        return self.states[position]

    def check(self, position: int) -> int:
        if 0 <= position <= self.last:
            return position
        if self.failure is not None and position <= len(self.events):
            raise ValueError(f"no state after v{position}: {self.failure}")
        raise ValueError(f"there is no event {position} (events are 1-{self.last})")

    def handle(self, position: int, line: str) -> Move:
        """Apply one interactive command at `position`."""
        word, _, rest = line.strip().partition(" ")
        word = word.lower()
        arg = rest.strip()
        if word.startswith("/") and len(word) > 1:
            word, arg = "/", (word[1:] + " " + arg).strip()
        try:
            if word in ("", "n", "next"):
                return self._relative(position, _count(arg))
            if word in ("p", "prev", "previous"):
                return self._relative(position, -_count(arg))
            if word in ("j", "jump"):
                return Move(self.check(_number(arg)))
            if word in ("r", "round"):
                return self._round(position, _number(arg))
            if word in ("t", "trick"):
                return self._trick(position, _number(arg))
            if word == "/":
                return self._search(position, arg)
            if word in ("q", "quit", "exit"):
                return Move(position, quit=True)
            if word in ("h", "help", "?"):
                return Move(position, HELP)
        except ValueError as exc:
            return Move(position, str(exc))
        return Move(position, f"unknown command {line.strip()!r}; h for help")

    def _relative(self, position: int, delta: int) -> Move:
        target = min(max(position + delta, 0), self.last)
        if target == position:
            edge = "last" if delta > 0 else "first"
            return Move(position, f"already at the {edge} position (v{position})")
        return Move(target)

    def _round(self, position: int, number: int) -> Move:
        for index, event in enumerate(self.events):
            if isinstance(event, HandsDealt) and event.round == number:
                return Move(index + 1)
        return Move(position, f"round {number} was never dealt")

    def _trick(self, position: int, number: int) -> Move:
        round_number = self.state_at(position).round
        if round_number == 0:
            return Move(position, "no round has started yet")
        for index, event in enumerate(self.events):
            if isinstance(event, TrickWon) and (event.round, event.trick) == (round_number, number):
                return Move(index + 1)
        return Move(position, f"round {round_number} has no completed trick {number}")

    def _search(self, position: int, wanted: str) -> Move:
        if not wanted:
            raise ValueError("name an event type: / TrickWon")
        key = wanted.lower()
        for index in range(position, self.last):
            name = type(self.events[index]).__name__.lower()
            if key in name:
                return Move(index + 1)
        return Move(position, f"no {wanted} event after v{position}")


def _number(arg: str) -> int:
    try:
        return int(arg)
    except ValueError:
        raise ValueError(f"expected a number, not {arg!r}") from None


def _count(arg: str) -> int:
    return 1 if not arg else _number(arg)
