"""Deterministic dealing: a seeded shuffle, or the next deal of a room's script."""

from __future__ import annotations

import random
from collections import Counter

from engine.commands import Deal
from engine.pieces import DECK, HAND_SIZE, POINTS, SEATS, Piece


def hand_order(hand: list[Piece] | tuple[Piece, ...]) -> tuple[Piece, ...]:
    """A hand sorted strongest first, so that hand indices are stable and readable.

    Every kind has its own point value, so sorting by points orders kinds completely.
    """
    return tuple(sorted(hand, key=POINTS.__getitem__, reverse=True))


def shuffled_deal(seed: int, deal_number: int) -> Deal:
    """Deal `deal_number` of a room seeded with `seed`; the same inputs give the same hands."""
    deck = list(DECK)
    # A string seed is hashed with SHA-512 by `random`, independent of PYTHONHASHSEED.
    random.Random(f"liaptui:{seed}:{deal_number}").shuffle(deck)
    return tuple(hand_order(deck[i * HAND_SIZE : (i + 1) * HAND_SIZE]) for i in range(SEATS))


def next_deal(
    seed: int, script: tuple[Deal, ...], deal_number: int, sort_scripted: bool = True
) -> tuple[Deal, bool]:
    """The hands for the room's `deal_number`-th deal (0-based) and whether they were scripted.

    A scripted hand is sorted like a shuffled one unless `sort_scripted` is False; then it
    keeps the order the script gives it.
    """
    if deal_number < len(script):
        given = script[deal_number]
        return (tuple(hand_order(h) for h in given) if sort_scripted else given), True
    return shuffled_deal(seed, deal_number), False


def script_problem(script: tuple[Deal, ...]) -> str | None:
    """Why a scripted dealer is unusable, or None when every deal is a full, fair deck."""
    full = Counter(DECK)
    for n, deal in enumerate(script):
        if len(deal) != SEATS or any(len(hand) != HAND_SIZE for hand in deal):
            return f"deal {n}: needs {SEATS} hands of {HAND_SIZE} pieces"
        if Counter(p for hand in deal for p in hand) != full:
            return f"deal {n}: the hands are not exactly the 32 pieces"
    return None
