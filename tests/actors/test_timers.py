"""A live room times its waits from `next_due`: it wakes when a lead opens, and never spins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from msgspec.structs import replace

from actors.clock import WakeRoom
from actors.config import EngineConfig
from actors.facade import Accepted
from engine.commands import StartGame
from engine.deadlines import lead_opens_at
from engine.events import PiecesPlayed, TrickWon
from engine.rejections import Code, Rejection
from engine.settings import RoomSettings
from tests.reliability.harness import EngineHarness, FakeClock, human_command, humans_to_move

ROOM = "LEADER"
TRICK_PAUSE = 5.0


def test_a_room_wakes_when_a_lead_opens_and_bots_lead_only_after_the_trick_display(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="liaptui.room")
    clock = FakeClock()
    config = EngineConfig.fast("games.db", bot_delay=1.0, rate_per_second=1e9, rate_burst=1e9)
    h = EngineHarness(tmp_path / "games.db", config, clock)
    engine = h.open()
    human_waits = 0
    try:
        settings = replace(RoomSettings.fast(), trick_pause=TRICK_PAUSE, round_cap=2)
        created = h.run(engine.create_room("ann", settings=settings, seed=11, room_id=ROOM))
        assert isinstance(created, Accepted)
        assert isinstance(h.send(ROOM, StartGame(player="ann")), Accepted)
        while not (state := h.state(ROOM)).finished:
            movers = humans_to_move(state, clock())
            if movers:
                assert isinstance(h.send(ROOM, human_command(state, movers[0], "")), Accepted)
                h.settle()
                continue
            lead = lead_opens_at(state)
            if lead is not None and lead > clock() and state.seats[state.turn or 0].is_human:
                human_waits += 1
                # The room asked to be woken when the lead opens, and refuses it until then.
                wakes = [at for at, _, t in engine.driver.timers if isinstance(t, WakeRoom)]
                assert lead in wakes
                early = h.send(ROOM, human_command(state, state.turn or 0, ""))
                assert isinstance(early, Rejection) and early.code is Code.TOO_EARLY
            h.advance(1.0)  # settles: a room that spun on a past time would never settle
        events = h.events(ROOM)
    finally:
        h.close()
    assert human_waits > 0, "the seed gave ann no trick to win: pick another"
    for before, after in zip(events, events[1:], strict=False):
        if isinstance(before, TrickWon) and isinstance(after, PiecesPlayed):
            assert after.at >= before.at + TRICK_PAUSE
    assert not [r for r in caplog.records if "came to nothing" in r.getMessage()]
