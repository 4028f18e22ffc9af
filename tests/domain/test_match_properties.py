"""Properties of whole matches, over random seeds, settings, deals and moves.

Each match is played by a seeded random player that mostly makes legal moves (answers
redeal questions, declares, leads valid plays, follows with any pieces, lets the clock
run) and now and then sends a random command, usually illegal: wrong player, wrong phase,
pieces not in hand, bad indices, a disconnect or a reconnect. Each test watches every
command of its matches for one property.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from engine.codec import decode_command, decode_event, encode_command, encode_event
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
from engine.decider import automatic_steps, decide, execute, next_due
from engine.events import (
    Declared,
    EndReason,
    Event,
    GameOver,
    HandsDealt,
    PiecesPlayed,
    RoomCreated,
    RoundScored,
    TrickWon,
)
from engine.evolve import fold
from engine.pieces import DECK, Piece
from engine.plays import PlayType, evaluate, valid_plays
from engine.rejections import Rejection
from engine.rules import legal_declarations
from engine.settings import RoomSettings
from engine.simulation import run_match
from engine.state import IN_GAME, Phase, RoomState, bot_name
from engine.views import redact, view

NAMES = ("Ann", "Ben", "Cat", "Dan")
STRANGERS = ("Zed", "Bot 1", "Bot 2", "Bot 3", "Bot 4", "bot2", "", "ann")
MAX_COMMANDS = 20_000
PAUSES = (
    "deal_pause",
    "redeal_pause",
    "round_start_pause",
    "trick_pause",
    "round_end_pause",
    "scoring_pause",
)


# --- one match -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """Everything random about a match."""

    seed: int
    humans: int
    settings: RoomSettings
    script: tuple[Deal, ...]
    illegal_rate: float


@dataclass(frozen=True)
class Step:
    """One command sent to the room, the room before it and what the decider made of it."""

    before: RoomState
    encoded_before: bytes
    command: Command
    outcome: tuple[list[Event], RoomState] | Rejection


Watch = Callable[[Step], None]
C = TypeVar("C", bound=Command)


@dataclass
class Match:
    plan: Plan
    watch: Watch
    rng: random.Random = field(init=False)
    state: RoomState = field(default_factory=RoomState)
    events: list[Event] = field(default_factory=list)
    now: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.plan.seed)

    def send(self, command: Command) -> bool:
        """Let the room decide `command`; True when it was accepted."""
        before = self.state
        outcome = execute(before, command)
        self.watch(Step(before, msgspec.msgpack.encode(before), command, outcome))
        if isinstance(outcome, Rejection):
            return False
        self.events += outcome[0]
        self.state = outcome[1]
        return True

    def new(self, cls: type[C], player: str, **fields: Any) -> C:
        """A command from `player` now, with a fresh id."""
        self.count += 1
        assert self.count < MAX_COMMANDS, "the match does not end"
        return cls(command_id=f"c{self.count}", player=player, at=self.now, **fields)

    def actor(self, seat: int) -> str:
        s = self.state.seats[seat]
        return s.name if s.is_human and s.connected and s.name else bot_name(seat)

    def play(self) -> RoomState:
        plan, rng = self.plan, self.rng
        room = self.new(
            CreateRoom,
            "Ann",
            room_id="PROP01",
            seed=rng.randrange(2**32),
            settings=plan.settings,
            script=plan.script,
        )
        assert self.send(room)
        for seat, name in enumerate(NAMES[1 : plan.humans], start=1):
            assert self.send(self.new(RemovePlayer, "Ann", seat=seat))
            assert self.send(self.new(JoinRoom, name))
        assert self.send(self.new(StartGame, "Ann"))
        while self.state.phase in IN_GAME:
            if rng.random() < plan.illegal_rate:
                self.send(self.random_command())
            elif not self.move():
                self.tick()
        return self.state

    def tick(self) -> None:
        due = next_due(self.state, self.now)
        assert due is not None, f"nothing is due in {self.state.phase}: the match is stuck"
        self.now = max(self.now, due)
        assert self.send(self.new(Tick, ""))

    def move(self) -> bool:
        """One legal move, if anyone is to move (now and then the clock runs instead)."""
        state, rng = self.state, self.rng
        if rng.random() < 0.03 and next_due(state, self.now) is not None:
            return False
        command: Command
        if state.phase is Phase.PREPARATION and not state.needs_deal:
            undecided = [i for i, s in enumerate(state.seats) if s.weak and s.redeal is None]
            if not undecided:
                return False
            seat = rng.choice(undecided)
            accept = rng.random() < 0.5
            command = self.new(DecideRedeal, self.actor(seat), accept=accept)
        elif state.phase is Phase.DECLARATION and state.turn is not None:
            seat = state.turn
            # Any count first, so the engine's own checks decide; then a legal one if refused.
            if self.send(self.new(Declare, self.actor(seat), piles=rng.randint(0, 8))):
                return True
            earlier = [s.declared for s in state.seats if s.declared is not None]
            piles = rng.choice(legal_declarations(earlier, state.seats[seat].zero_streak))
            command = self.new(Declare, self.actor(seat), piles=piles)
        elif state.phase is Phase.TURN and state.turn is not None:
            seat = state.turn
            hand = state.seats[seat].hand
            if state.plays:
                chosen = rng.sample(range(len(hand)), state.required)
            else:
                self.now = max(self.now, state.lead_not_before)
                if automatic_steps(state, self.now):
                    return False  # a deadline ran out while waiting: the clock goes first
                # Sometimes any pieces first, so the engine's own checks decide.
                guess = rng.sample(range(len(hand)), rng.randint(1, len(hand)))
                if rng.random() < 0.3 and self.send(
                    self.new(Play, self.actor(seat), indices=tuple(guess))
                ):
                    return True
                chosen = indices_of(hand, rng.choice(valid_plays(hand)))
            if rng.random() < 0.5:
                command = self.new(Play, self.actor(seat), pieces=tuple(hand[i] for i in chosen))
            else:
                command = self.new(Play, self.actor(seat), indices=tuple(chosen))
        else:
            return False
        assert self.send(command), f"a legal move was refused: {command!r}"
        return True

    def random_command(self) -> Command:
        """A random command, usually illegal here and now."""
        rng = self.rng
        who = rng.choice(NAMES + STRANGERS)
        some_pieces = tuple(rng.choices(list(Piece), k=rng.randint(0, 7)))
        some_indices = tuple(rng.randint(-1, 8) for _ in range(rng.randint(0, 7)))
        choices: list[Callable[[], Command]] = [
            lambda: self.new(Declare, who, piles=rng.randint(-1, 9)),
            lambda: self.new(Play, who, pieces=some_pieces),
            lambda: self.new(Play, who, indices=some_indices),
            lambda: self.new(Play, who, pieces=some_pieces[:1], indices=some_indices[:1]),
            lambda: self.new(DecideRedeal, who, accept=rng.random() < 0.5),
            lambda: self.new(StartGame, who),
            lambda: self.new(JoinRoom, who),
            lambda: self.new(AddBot, who, seat=rng.randrange(4)),
            lambda: self.new(RemovePlayer, who, seat=rng.randrange(4)),
            lambda: self.new(Reconnect, who),
            lambda: self.new(CreateRoom, who, room_id="PROP01", seed=1),
        ]
        if rng.random() < 0.1:
            choices += [lambda: self.new(Disconnect, who), lambda: self.new(LeaveRoom, who)]
        return rng.choice(choices)()


def indices_of(hand: tuple[Piece, ...], pieces: tuple[Piece, ...]) -> list[int]:
    """Distinct positions in `hand` holding `pieces`."""
    free = list(range(len(hand)))
    chosen = []
    for piece in pieces:
        i = next(i for i in free if hand[i] is piece)
        free.remove(i)
        chosen.append(i)
    return chosen


def accepted(step: Step) -> tuple[list[Event], RoomState] | None:
    return None if isinstance(step.outcome, Rejection) else step.outcome


# --- strategies ------------------------------------------------------------------------------

decks = st.permutations(list(DECK)).map(
    lambda deck: tuple(tuple(deck[i * 8 : (i + 1) * 8]) for i in range(4))
)
room_settings = st.builds(
    lambda cap, target, pauses, redeal_timeout, move_timeout, abandon: replace(
        RoomSettings.fast(),
        round_cap=cap,
        target_score=target,
        redeal_timeout=redeal_timeout,
        move_timeout=move_timeout,
        abandon_after=abandon,
        **({p: 1.5 for p in PAUSES} if pauses else {}),
    ),
    cap=st.integers(1, 20),
    target=st.sampled_from([10, 20, 50]),
    pauses=st.booleans(),
    redeal_timeout=st.sampled_from([0.0, 30.0]),
    move_timeout=st.sampled_from([None, 10.0]),
    abandon=st.sampled_from([None, None, 30.0]),
)
plans = st.builds(
    Plan,
    seed=st.integers(0, 2**32),
    humans=st.integers(1, 4),
    settings=room_settings,
    script=st.lists(decks, max_size=2).map(tuple),
    illegal_rate=st.sampled_from([0.0, 0.1, 0.3]),
)
matches = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- properties ------------------------------------------------------------------------------


@matches
@given(plan=plans)
def test_every_match_ends_in_game_over_or_abandonment(plan: Plan) -> None:
    final = Match(plan, lambda step: None).play()
    assert final.phase is Phase.GAME_OVER or (
        final.phase is Phase.CLOSED and plan.settings.abandon_after is not None
    )


@matches
@given(plan=plans)
def test_the_32_pieces_are_always_in_hands_or_played_this_round(plan: Plan) -> None:
    played: Counter[Piece] = Counter()

    def watch(step: Step) -> None:
        result = accepted(step)
        if result is None:
            return
        for event in result[0]:
            if isinstance(event, HandsDealt):
                played.clear()
            elif isinstance(event, PiecesPlayed):
                played.update(event.pieces)
        state = result[1]
        if state.phase in IN_GAME and state.deals and not state.needs_deal:
            held = Counter(p for s in state.seats for p in s.hand)
            assert held + played == Counter(DECK)

    Match(plan, watch).play()


@matches
@given(plan=plans)
def test_every_round_captures_8_piles_and_never_declares_8(plan: Plan) -> None:
    piles: Counter[int] = Counter()

    def watch(step: Step) -> None:
        result = accepted(step)
        for event in result[0] if result else []:
            if isinstance(event, TrickWon):
                piles[event.round] += event.piles
            elif isinstance(event, RoundScored):
                assert piles[event.round] == sum(event.captured) == 8
                assert sum(event.declared) != 8
            elif isinstance(event, Declared) and result:
                declared = [s.declared for s in result[1].seats if s.declared is not None]
                assert len(declared) < 4 or sum(declared) != 8

    Match(plan, watch).play()


@matches
@given(plan=plans)
def test_every_trick_goes_to_the_first_highest_play_of_the_leads_type(plan: Plan) -> None:
    trick: list[PiecesPlayed] = []

    def watch(step: Step) -> None:
        result = accepted(step)
        for event in result[0] if result else []:
            if isinstance(event, PiecesPlayed):
                assert (event.play_type, event.value) == evaluate(event.pieces)
                trick.append(event)
            elif isinstance(event, TrickWon):
                lead_type = trick[0].play_type
                assert lead_type is not PlayType.INVALID
                same_type = [p for p in trick if p.play_type is lead_type]
                best = max(p.value for p in same_type)
                winner = next(p for p in same_type if p.value == best)
                assert (event.seat, event.piles) == (winner.seat, len(trick[0].pieces))
                trick.clear()

    Match(plan, watch).play()


@matches
@given(plan=plans)
def test_a_refused_command_changes_nothing(plan: Plan) -> None:
    def watch(step: Step) -> None:
        if isinstance(step.outcome, Rejection):
            assert msgspec.msgpack.encode(step.before) == step.encoded_before
            assert decide(step.before, step.command) == step.outcome

    Match(plan, watch).play()


@matches
@given(plan=plans)
def test_folding_the_emitted_events_gives_the_deciders_state(plan: Plan) -> None:
    def watch(step: Step) -> None:
        result = accepted(step)
        if result is not None:
            events, after = result
            assert fold(events, step.before) == after
            assert after.version == step.before.version + len(events)

    match = Match(plan, watch)
    final = match.play()
    assert fold(match.events) == final


@matches
@given(plan=plans)
def test_no_view_or_event_shows_anyone_another_players_hand(plan: Plan) -> None:
    humans = (*NAMES[: plan.humans], None)

    def watch(step: Step) -> None:
        result = accepted(step)
        if result is None:
            return
        for event in result[0]:
            for seat in (0, 1, 2, 3, None):
                check_redaction(event, seat)
        for player in humans:
            check_view(result[1], player)

    Match(plan, watch).play()


@matches
@given(plan=plans)
def test_every_event_and_command_of_a_match_survives_the_codec(plan: Plan) -> None:
    def watch(step: Step) -> None:
        assert decode_command(encode_command(step.command)) == step.command
        result = accepted(step)
        for event in result[0] if result else []:
            assert decode_event(*encode_event(event)) == event

    Match(plan, watch).play()


@matches
@given(plan=plans)
def test_the_game_ends_for_the_right_reason_with_every_top_scorer_winning(plan: Plan) -> None:
    final = Match(plan, lambda step: None).play()
    if final.phase is not Phase.GAME_OVER:
        return
    totals = [s.score for s in final.seats]
    assert final.winners == tuple(i for i, t in enumerate(totals) if t == max(totals))
    if max(totals) >= plan.settings.target_score:
        assert final.end_reason is EndReason.TARGET_SCORE
    else:
        assert (final.end_reason, final.round) == (EndReason.ROUND_CAP, plan.settings.round_cap)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_the_bot_policy_finishes_a_default_match_with_legal_moves_only(seed: int) -> None:
    # run_match raises on any refused bot command.
    record = run_match(seed)
    assert record.state.phase is Phase.GAME_OVER
    game_over = [e for e in record.events if isinstance(e, GameOver)]
    assert len(game_over) == 1 and record.events[-1] is game_over[0]


# --- hidden information checks ---------------------------------------------------------------

FILLER = (Piece.SOLDIER_BLACK,) * 8


def scrambled(state: RoomState, keep: int | None) -> RoomState:
    """`state` with every hand but `keep`'s replaced by as many other pieces, and no script."""
    seats = tuple(
        s if i == keep else replace(s, hand=FILLER[: len(s.hand)])
        for i, s in enumerate(state.seats)
    )
    return replace(state, seats=seats, script=())


def check_view(state: RoomState, player: str | None) -> None:
    seen = view(state, player)
    mine = seen.my_seat
    assert seen.hand == (state.seats[mine].hand if mine is not None else ())
    # Nothing in the view depends on anyone else's hand beyond its size.
    assert view(scrambled(state, mine), player) == seen


def check_redaction(event: Event, seat: int | None) -> None:
    seen = redact(event, seat)
    if isinstance(event, HandsDealt):
        assert isinstance(seen, HandsDealt)
        assert all(h == () for i, h in enumerate(seen.hands) if i != seat)
        assert seat is None or seen.hands[seat] == event.hands[seat]
        others = tuple(h if i == seat else FILLER for i, h in enumerate(event.hands))
        assert redact(replace(event, hands=others), seat) == seen
    elif isinstance(event, RoomCreated):
        assert redact(replace(event, script=((FILLER,) * 4,)), seat) == seen
    else:
        assert seen == event
