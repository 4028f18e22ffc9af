"""Verifying a recorded match: re-deciding its commands, recovery from its snapshot, invariants.

Each check returns a `Check` whose problems name the stream version and event type, so a
failure points at the exact fact that is wrong.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

from msgspec import Struct

from engine.codec import CodecError, decode_command, decode_state, encode_event, upgrade_event
from engine.commands import Command, idempotency_key
from engine.decider import execute
from engine.events import (
    BotAdded,
    Declared,
    Event,
    ForkedFrom,
    GameOver,
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
    RoundScored,
    RoundStarted,
    TrickWon,
)
from engine.evolve import fold
from engine.pieces import DECK, HAND_SIZE, SEATS, Piece, contains, remove
from engine.plays import evaluate
from engine.rejections import Rejection
from engine.rules import MAX_DECLARATION, round_score, winners
from engine.store.records import RecordedEvent, Snapshot
from replay_tool.fields import compact, differences_text, field_differences, field_map
from replay_tool.folding import FoldFailure, fold_checked
from replay_tool.recording import MatchRecording, StoredEvent, decode_stored

Status = Literal["pass", "fail", "skip"]
MAX_PROBLEMS = 20
PILES_PER_ROUND = MAX_DECLARATION


class Check(Struct, frozen=True, kw_only=True):
    """The outcome of one check: a one-line summary and, when it failed, what is wrong."""

    name: str
    status: Status
    summary: str
    problems: tuple[str, ...] = ()


class Report(Struct, frozen=True, kw_only=True):
    """Every check of one match."""

    room_id: str
    origin: str
    events: int
    commands: int
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(check.status != "fail" for check in self.checks)

    @property
    def first_problem(self) -> str | None:
        for check in self.checks:
            if check.problems:
                return f"{check.name}: {check.problems[0]}"
        return None


def verify(
    recording: MatchRecording,
    snapshot: Snapshot | None,
    tail: Sequence[RecordedEvent],
    source: MatchRecording | None = None,
) -> Report:
    """Run every check on a match; `snapshot` and `tail` are what recovery would read, and
    `source` is the match a fork was made from (when it is in the same store)."""
    return Report(
        room_id=recording.room_id,
        origin=recording.origin,
        events=len(recording.events),
        commands=len(recording.commands),
        checks=(
            check_redecide(recording),
            check_recovery(recording, snapshot, tail),
            check_invariants(recording.events),
            check_fork(recording, source),
        ),
    )


class Unreadable(Struct, frozen=True):
    """A match that could not even be read for verification (corrupt data, say)."""

    room_id: str
    message: str


# --- (a) re-deciding the recorded commands ------------------------------------------------


def check_redecide(recording: MatchRecording) -> Check:
    """Feed the recorded commands to the decider from an empty room: the same events must come."""
    name = "re-decide"
    events = recording.events
    # A fork's events up to its ForkedFrom were decided in its source (checked there, and
    # against the source by `check_fork`); its own commands re-decide from the copy.
    fork_version = _fork_version(recording)
    copied = f", after v1-v{fork_version} copied from the source" if fork_version else ""
    if not recording.commands and fork_version == recording.last_version and fork_version:
        return Check(name=name, status="pass", summary=f"no commands yet{copied}")
    if not recording.commands:
        return Check(name=name, status="fail", summary="no recorded commands to re-decide")
    state = fold(recording.decoded[:fork_version])
    expected = fork_version + 1
    for recorded in recording.commands:
        span = f"v{recorded.first_version}-v{recorded.last_version}"
        if recorded.first_version != expected:
            gap = (
                f"v{expected}-v{recorded.first_version - 1} have no recorded command"
                if recorded.first_version > expected
                else f"command {recorded.command_id!r} ({span}) overlaps the previous one"
            )
            return _failed(name, gap)
        try:
            command = decode_command(recorded.command)
        except CodecError as exc:
            return _failed(name, f"command {recorded.command_id!r} ({span}) does not decode: {exc}")
        who = f"command {recorded.command_id!r} ({type(command).__name__} by {command.player!r})"
        mismatch = _command_mismatch(recorded.command_id, recorded.at, command)
        if mismatch is not None:
            return _failed(name, f"{who} for {span}: {mismatch}")
        try:
            result = execute(state, command)
        except Exception as exc:  # the decider must be total: a crash is a finding
            return _failed(name, f"{who} for {span} makes the decider raise {exc!r}")
        if isinstance(result, Rejection):
            return _failed(
                name,
                f"{who} recorded for {span} is rejected on replay: "
                f"{result.code.value}: {result.message}",
            )
        decided, state = result
        recorded_events = events[recorded.first_version - 1 : recorded.last_version]
        divergence = _divergence(recorded.first_version, recorded_events, decided)
        if divergence is not None:
            return _failed(name, f"first divergence at {divergence} [{who}]")
        expected = recorded.last_version + 1
    if expected <= recording.last_version:
        return _failed(name, f"v{expected}-v{recording.last_version} have no recorded command")
    return Check(
        name=name,
        status="pass",
        summary=f"{len(recording.commands)} commands re-decided into "
        f"{len(events) - fork_version} identical events{copied}",
    )


def _fork_version(recording: MatchRecording) -> int:
    """The version of a fork's own ForkedFrom (0 when the match is not a fork)."""
    for stored in reversed(recording.events):
        if isinstance(stored.event, ForkedFrom):
            return stored.version
    return 0


def check_fork(recording: MatchRecording, source: MatchRecording | None) -> Check:
    """A fork's copied events must be its source's first N, byte for byte."""
    name = "fork"
    fork_version = _fork_version(recording)
    if not fork_version:
        return Check(name=name, status="skip", summary="not a fork")
    forked = recording.events[fork_version - 1].event
    assert isinstance(forked, ForkedFrom)
    origin = f"{forked.source_room} at v{forked.source_version}"
    if forked.source_version != fork_version - 1:
        return _failed(name, f"ForkedFrom at v{fork_version} names {origin}")
    if source is None:
        return Check(name=name, status="skip", summary=f"forked from {origin}, not in this store")
    theirs = source.events[: forked.source_version]
    if len(theirs) < forked.source_version:
        return _failed(name, f"{forked.source_room} has only {len(theirs)} events, not {origin}")
    for mine, original in zip(recording.events, theirs, strict=False):
        if (mine.type, mine.schema_version, mine.data) != (
            original.type,
            original.schema_version,
            original.data,
        ):
            return _failed(name, f"v{mine.version} {mine.type} differs from {forked.source_room}'s")
    return Check(
        name=name, status="pass", summary=f"v1-v{forked.source_version} are {origin}, unchanged"
    )


def _command_mismatch(command_id: str, at: float, command: Command) -> str | None:
    if idempotency_key(command) != command_id:
        return f"its bytes carry command id {idempotency_key(command)!r}"
    if command.at != at:
        return f"recorded at {at!r} but its bytes say at={command.at!r}"
    return None


def _divergence(
    first: int, recorded: Sequence[StoredEvent], decided: Sequence[Event]
) -> str | None:
    for i in range(max(len(recorded), len(decided))):
        version = first + i
        if i >= len(decided):
            stored = recorded[i]
            return (
                f"v{version} {stored.type}: recorded {compact(stored.event)}, "
                f"but the command re-decides only {len(decided)} events"
            )
        got = decided[i]
        if i >= len(recorded):
            return (
                f"v{version}: re-decided {compact(got)}, "
                f"but only {len(recorded)} events are recorded for the command"
            )
        stored = recorded[i]
        if stored.event != got:
            differences = field_differences(field_map(stored.event), field_map(got))
            if type(stored.event) is not type(got):
                differences = [("type", stored.type, type(got).__name__)]
            return (
                f"v{version} {stored.type}: recorded {compact(stored.event)}, "
                f"re-decided {compact(got)} "
                f"({differences_text(differences, 'recorded', 're-decided')})"
            )
        upcast_version, upcast = upgrade_event(stored.type, stored.schema_version, stored.data)
        got_type, got_version, got_bytes = encode_event(got)
        if (stored.type, upcast_version, upcast) != (got_type, got_version, got_bytes):
            return (
                f"v{version} {stored.type}: equal when decoded, but the encodings differ "
                f"(recorded v{upcast_version} {upcast.hex()}, "
                f"re-decided v{got_version} {got_bytes.hex()})"
            )
    return None


# --- (b) recovery from the stored snapshot ------------------------------------------------


def check_recovery(
    recording: MatchRecording, snapshot: Snapshot | None, tail: Sequence[RecordedEvent]
) -> Check:
    """The stored snapshot plus the events after it must equal folding the whole stream."""
    name = "recovery"
    if snapshot is None:
        return Check(name=name, status="skip", summary="no usable snapshot stored")
    last = recording.last_version
    where = f"snapshot at v{snapshot.version}"
    if snapshot.version > last:
        return Check(name=name, status="skip", summary=f"{where} is newer than the events read")
    restored = decode_state(snapshot.schema_version, snapshot.payload)
    if restored is None:
        return _failed(name, f"{where} (state schema {snapshot.schema_version}) does not decode")
    if restored.version != snapshot.version:
        return _failed(name, f"{where} holds a state of version {restored.version}")
    prefix = fold_checked(recording.decoded[: snapshot.version])
    if isinstance(prefix, FoldFailure):
        return _failed(name, str(prefix))
    if restored != prefix:
        differences = field_differences(field_map(prefix), field_map(restored))
        return _failed(
            name,
            f"{where} differs from folding v1-v{snapshot.version} "
            f"({differences_text(differences, 'folded', 'snapshot')})",
        )
    tail_events = [decode_stored(recording.room_id, r) for r in tail if r.version <= last]
    state = fold_checked([stored.event for stored in tail_events], restored)
    full = fold_checked(recording.decoded)
    if isinstance(state, FoldFailure):
        return _failed(name, f"recovering from the {where}: {state}")
    if isinstance(full, FoldFailure):
        return _failed(name, str(full))
    if state != full:
        differences = field_differences(field_map(full), field_map(state))
        return _failed(
            name,
            f"{where} + {len(tail_events)} tail events differs from the full fold "
            f"({differences_text(differences, 'full fold', 'recovered')})",
        )
    return Check(
        name=name,
        status="pass",
        summary=f"{where} + {len(tail_events)} tail events = full fold of v1-v{last}",
    )


# --- (c) invariants of the recorded facts -----------------------------------------------------


# Events about one seat, whose seat number must exist before anything else is checked.
_SEATED = (
    PlayerJoined,
    PlayerLeft,
    BotAdded,
    PlayerRemoved,
    HostChanged,
    RedealDecided,
    RedealGranted,
    Declared,
    PiecesPlayed,
    TrickWon,
    PlayerDisconnected,
    PlayerReconnected,
)


class _RoundFacts:
    """What the invariant walk remembers about the round in progress."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.hands: list[list[Piece]] = [[] for _ in range(SEATS)]
        self.deals = 0
        self.played = 0
        self.multiplier = 1
        self.redeals = 0
        self.declared: dict[int, int] = {}
        self.piles = [0] * SEATS
        self.trick: list[PiecesPlayed] = []
        self.tricks = 0


class _InvariantWalk:
    """One pass over a match's events, collecting every broken invariant."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.round: _RoundFacts | None = None
        self.deals = 0
        self.rounds_scored = 0
        self.tricks = 0
        self.totals = [0] * SEATS
        self.scored = False

    def problem(self, version: int, event: Event, text: str) -> None:
        self.problems.append(f"v{version} {type(event).__name__}: {text}")

    def walk(self, events: Sequence[StoredEvent]) -> None:
        previous_position = 0
        for index, stored in enumerate(events):
            if stored.version != index + 1:
                self.problem(stored.version, stored.event, f"expected version {index + 1}")
            if stored.position <= previous_position:
                self.problem(
                    stored.version,
                    stored.event,
                    f"position {stored.position} does not follow {previous_position}",
                )
            previous_position = stored.position
            self.see(stored.version, stored.event)

    def see(self, v: int, e: Event) -> None:
        if isinstance(e, _SEATED) and not 0 <= e.seat < SEATS:
            self.problem(v, e, f"seat {e.seat} does not exist")
            return
        if isinstance(e, HandsDealt):
            self.dealt(v, e)
            return
        facts = self.round
        if facts is None:
            if isinstance(e, RedealGranted | RoundStarted | Declared | PiecesPlayed | TrickWon):
                self.problem(v, e, "happens before any deal")
            elif isinstance(e, RoundScored):
                self.problem(v, e, "scores a round that was never dealt")
            elif isinstance(e, GameOver):
                self.game_over(v, e)
            return
        if isinstance(e, RedealGranted):
            facts.redeals += 1
            if e.multiplier != facts.redeals + 1:
                self.problem(v, e, f"multiplier x{e.multiplier} after {facts.redeals} redeals")
        elif isinstance(e, RoundStarted):
            facts.multiplier = e.multiplier
            if e.round != facts.number:
                self.problem(v, e, f"starts round {e.round} during round {facts.number}")
            if e.multiplier != facts.redeals + 1:
                self.problem(v, e, f"multiplier x{e.multiplier} after {facts.redeals} redeals")
        elif isinstance(e, Declared):
            if e.seat in facts.declared:
                self.problem(v, e, f"P{e.seat + 1} already declared this round")
            facts.declared[e.seat] = e.piles
        elif isinstance(e, PiecesPlayed):
            self.played(v, e, facts)
        elif isinstance(e, TrickWon):
            self.trick_won(v, e, facts)
        elif isinstance(e, RoundScored):
            self.round_scored(v, e, facts)
        elif isinstance(e, GameOver):
            self.game_over(v, e)

    def dealt(self, v: int, e: HandsDealt) -> None:
        self.deals += 1
        if e.deal != self.deals:
            self.problem(v, e, f"deal number {e.deal}, expected {self.deals}")
        sizes = [len(hand) for hand in e.hands]
        pieces = Counter(p for hand in e.hands for p in hand)
        if len(e.hands) != SEATS or any(size != HAND_SIZE for size in sizes):
            self.problem(v, e, f"hand sizes {sizes}, expected {SEATS} hands of {HAND_SIZE}")
        if pieces != Counter(DECK):
            extra = pieces - Counter(DECK)
            missing = Counter(DECK) - pieces
            self.problem(
                v,
                e,
                f"the hands are not the 32 pieces of the deck "
                f"(extra {dict(extra) or '-'}, missing {dict(missing) or '-'})",
            )
        facts = self.round
        if facts is not None and e.round == facts.number:
            if facts.played or facts.declared:
                self.problem(v, e, f"redeals round {e.round} after it was played")
            if facts.redeals != facts.deals:
                self.problem(v, e, f"deals round {e.round} again without a RedealGranted")
        else:
            expected = 1 if facts is None else facts.number + 1
            if e.round != expected:
                self.problem(v, e, f"round {e.round}, expected {expected}")
            if facts is not None and not self.scored:
                self.problem(v, e, f"round {facts.number} was never scored")
            facts = _RoundFacts(e.round)
            self.round = facts
            self.scored = False
        facts.deals += 1
        facts.hands = [list(hand) for hand in e.hands]

    def played(self, v: int, e: PiecesPlayed, facts: _RoundFacts) -> None:
        hand = facts.hands[e.seat]
        if not contains(hand, e.pieces):
            self.problem(v, e, f"P{e.seat + 1} does not hold {[p.value for p in e.pieces]}")
        else:
            facts.hands[e.seat] = list(remove(tuple(hand), e.pieces))
        facts.played += len(e.pieces)
        play_type, value = evaluate(e.pieces)
        if (play_type, value) != (e.play_type, e.value):
            self.problem(
                v,
                e,
                f"recorded {e.play_type.value} {e.value}, "
                f"the pieces make {play_type.value} {value}",
            )
        if facts.trick and len(e.pieces) != len(facts.trick[0].pieces):
            self.problem(
                v, e, f"{len(e.pieces)} pieces into a trick of {len(facts.trick[0].pieces)}"
            )
        if len(facts.trick) >= SEATS:
            self.problem(v, e, "a fifth play in one trick")
        facts.trick.append(e)

    def trick_won(self, v: int, e: TrickWon, facts: _RoundFacts) -> None:
        facts.tricks += 1
        self.tricks += 1
        plays = facts.trick
        facts.trick = []
        if e.round != facts.number or e.trick != facts.tricks:
            self.problem(
                v, e, f"round {e.round} trick {e.trick}, expected {facts.number}/{facts.tricks}"
            )
        if len(plays) != SEATS:
            self.problem(v, e, f"the trick has {len(plays)} plays, not {SEATS}")
        if not plays:
            return
        best = plays[0]
        for play in plays[1:]:
            if play.play_type is best.play_type and play.value > best.value:
                best = play
        if e.seat != best.seat:
            self.problem(v, e, f"won by P{e.seat + 1}, but the plays make P{best.seat + 1} win")
        if e.piles != len(plays[0].pieces):
            self.problem(v, e, f"{e.piles} piles for a trick of {len(plays[0].pieces)} pieces")
        if 0 <= e.seat < SEATS:
            facts.piles[e.seat] += e.piles

    def round_scored(self, v: int, e: RoundScored, facts: _RoundFacts) -> None:
        self.rounds_scored += 1
        self.scored = True
        if e.round != facts.number:
            self.problem(v, e, f"scores round {e.round} during round {facts.number}")
        if facts.played != len(DECK) or any(facts.hands):
            self.problem(v, e, f"{facts.played} of {len(DECK)} pieces were played this round")
        if sum(facts.piles) != PILES_PER_ROUND:
            self.problem(v, e, f"tricks gave {sum(facts.piles)} piles, not {PILES_PER_ROUND}")
        if tuple(facts.piles) != e.captured:
            self.problem(v, e, f"captured {list(e.captured)}, tricks gave {facts.piles}")
        if sum(e.captured) != PILES_PER_ROUND:
            self.problem(v, e, f"captured piles add up to {sum(e.captured)}, not 8")
        declared = tuple(facts.declared.get(seat, -1) for seat in range(SEATS))
        if declared != e.declared:
            self.problem(v, e, f"declared {list(e.declared)}, declarations were {list(declared)}")
        if e.multiplier != facts.multiplier:
            self.problem(v, e, f"multiplier x{e.multiplier}, the round started x{facts.multiplier}")
        for seat in range(min(SEATS, len(e.scores), len(e.declared), len(e.captured))):
            want = round_score(e.declared[seat], e.captured[seat], e.multiplier)
            if e.scores[seat] != want:
                self.problem(
                    v,
                    e,
                    f"P{seat + 1} scores {e.scores[seat]}, the formula gives {want} "
                    f"(declared {e.declared[seat]}, captured {e.captured[seat]}, "
                    f"x{e.multiplier})",
                )
        totals = [t + s for t, s in zip(self.totals, e.scores, strict=False)]
        if tuple(totals) != e.totals:
            self.problem(v, e, f"totals {list(e.totals)}, previous totals + scores = {totals}")
        self.totals = list(e.totals)

    def game_over(self, v: int, e: GameOver) -> None:
        if tuple(self.totals) != e.totals:
            self.problem(v, e, f"totals {list(e.totals)}, the last scoring gave {self.totals}")
        if e.totals and e.winners != winners(e.totals):
            self.problem(v, e, f"winners {list(e.winners)}, the top totals are {winners(e.totals)}")


def check_invariants(events: Sequence[StoredEvent]) -> Check:
    """Pieces, piles, scores and versions: the facts of a match must add up."""
    walk = _InvariantWalk()
    walk.walk(events)
    if walk.problems:
        shown = walk.problems[:MAX_PROBLEMS]
        if len(walk.problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(walk.problems) - MAX_PROBLEMS} more")
        return Check(
            name="invariants",
            status="fail",
            summary=f"{len(walk.problems)} broken",
            problems=tuple(shown),
        )
    return Check(
        name="invariants",
        status="pass",
        summary=f"{walk.deals} deals, {walk.rounds_scored} scored rounds, "
        f"{walk.tricks} tricks, versions 1-{len(events)} contiguous",
    )


def _failed(name: str, problem: str) -> Check:
    return Check(name=name, status="fail", summary=problem, problems=(problem,))
