"""When a room's waits end: the redeal deadline, the pause after a deal, the pause before a lead.

Each wait is stated once here; the decider enforces it, the views show it, and `next_due`
tells a timer (or an outside driver) when it ends.
"""

from __future__ import annotations

from engine.state import Phase, RoomState

# Enum members read through their class cost a metaclass hook in Python 3.11.
_PREPARATION, _TURN = Phase.PREPARATION, Phase.TURN


def redeal_deadline(state: RoomState) -> float | None:
    """When undecided weak hands are declined for their players; None when nobody is undecided."""
    if state.phase is not _PREPARATION or state.needs_deal:
        return None
    if not any(s.weak and s.redeal is None for s in state.seats):
        return None
    return state.dealt_at + state.settings.redeal_timeout


def deal_pause_end(state: RoomState) -> float:
    """When the round may start after the last deal: a redeal is shown for longer."""
    settings = state.settings
    return state.dealt_at + (settings.redeal_pause if state.multiplier > 1 else settings.deal_pause)


def lead_opens_at(state: RoomState) -> float | None:
    """From when the awaited lead is accepted (earlier it is `too_early`); None if no lead is due."""
    if state.phase is not _TURN or state.plays or state.turn is None:
        return None
    return state.lead_not_before
