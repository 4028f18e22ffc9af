"""Per-room rule settings: targets, caps, deadlines and display pauses (seconds)."""

from __future__ import annotations

from msgspec import Struct


class RoomSettings(Struct, frozen=True, kw_only=True, gc=False):
    """Everything about a room's rules and timing that a server may choose; recorded at creation.

    Display pauses are presentation, not rules: set them to 0 for simulations and tests.
    `None` disables an optional deadline. `sort_scripted_hands` False deals a script's hands
    in the order given, so a recording from elsewhere replays with its hand indices.
    """

    target_score: int = 50
    round_cap: int = 20
    redeal_timeout: float = 30.0
    move_timeout: float | None = None
    abandon_after: float | None = 30.0
    deal_pause: float = 2.0
    redeal_pause: float = 4.0
    round_start_pause: float = 5.0
    trick_pause: float = 5.0
    round_end_pause: float = 7.0
    scoring_pause: float = 7.0
    # True, as rooms recorded before the setting existed were dealt: their replays verify.
    sort_scripted_hands: bool = True

    @classmethod
    def fast(cls) -> RoomSettings:
        """Zero display pauses and no abandonment: for simulations, bots and tests."""
        return cls(
            deal_pause=0.0,
            redeal_pause=0.0,
            round_start_pause=0.0,
            trick_pause=0.0,
            round_end_pause=0.0,
            scoring_pause=0.0,
            abandon_after=None,
        )
