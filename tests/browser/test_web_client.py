"""A person's flow in a real headless Chromium: open the page, create a room, fill it with
bots, play a whole match by clicking legal pieces, reload mid-match and carry on, then open
the replay viewer and step to a trick.

With LIAPTUI_SCREENSHOT_DIR set, the test also saves the page and the viewer as PNGs there
(docs/images/ holds the ones the docs show).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.codec import decode_records
from engine.events import (
    Declared,
    Event,
    GameOver,
    HandsDealt,
    PiecesPlayed,
    PlayerDisconnected,
    PlayerReconnected,
    RoundScored,
)
from engine.pieces import POINTS, Piece
from tests.browser.conftest import ServerThread

Driver = Any  # selenium's WebDriver, imported only when a browser exists
DONE = ("GAME_OVER", "CLOSED")


def by_css(driver: Driver, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, selector))


def type_into(driver: Driver, selector: str, text: str, timeout: float = 15.0) -> None:
    """Type into the element `selector` names, finding it again if the page redrew it."""
    from selenium.common.exceptions import (
        ElementNotInteractableException,
        StaleElementReferenceException,
    )

    deadline = time.monotonic() + timeout
    while True:
        try:
            by_css(driver, selector)[0].send_keys(text)
            return
        except (IndexError, StaleElementReferenceException, ElementNotInteractableException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def data(driver: Driver, name: str) -> str | None:
    value: str | None = driver.execute_script(f"return document.body.dataset.{name} ?? null")
    return value


def version(driver: Driver) -> int:
    return int(data(driver, "version") or 0)


def wait_until(driver: Driver, check: Callable[[], object], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            status = by_css(driver, "#status")
            raise AssertionError(
                f"timed out waiting for {what} (status: {status[0].text if status else '-'})"
            )
        time.sleep(0.02)


def click(driver: Driver, selector: str) -> None:
    found = by_css(driver, selector)
    assert found, f"nothing matches {selector}"
    found[0].click()


def error_shown(driver: Driver) -> str | None:
    status = by_css(driver, "#status")
    if status and status[0].get_attribute("data-kind") == "error":
        text: str = status[0].text
        return text
    return None


def make_one_move(driver: Driver) -> bool:
    """Make the move the page offers, if any, by clicking as a person would."""
    if by_css(driver, "#redeal-decline"):
        click(driver, "#redeal-decline")
        return True
    declare = by_css(driver, "#declare button.declare")
    if declare:
        hand = [Piece(p.get_attribute("data-piece")) for p in by_css(driver, "#my-hand .piece")]
        strong = sum(POINTS[p] >= 10 for p in hand)  # a plausible count keeps scores moving
        min(declare, key=lambda b: abs(int(b.get_attribute("data-piles")) - strong)).click()
        return True
    if not by_css(driver, "#play"):
        return False
    for _ in range(8):  # pick pieces until the selection is a legal play
        play = by_css(driver, "#play")
        if not play or play[0].get_attribute("data-pending") == "true":
            return False  # the view moved on meanwhile, or the page is sending a play
        if play[0].is_enabled():
            play[0].click()
            return True
        usable = by_css(driver, "#my-hand button.piece:not(.selected):not([disabled])")
        if not usable:
            return False
        usable[0].click()  # every enabled piece keeps the selection on the way to a legal play
    raise AssertionError("no legal play reached by clicking enabled pieces")


def try_one_move(driver: Driver) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return make_one_move(driver)
    except StaleElementReferenceException:
        return False  # an update redrew the page under the click: look again


def play_until(driver: Driver, stop: Callable[[], bool], timeout: float = 60) -> int:
    """Click moves until the game ends or `stop()`; returns the moves made."""
    moves = 0
    deadline = time.monotonic() + timeout
    while data(driver, "phase") not in DONE and not stop():
        assert time.monotonic() < deadline, "the match did not end in time"
        before = version(driver)
        if try_one_move(driver):
            moves += 1
            wait_until(
                driver,
                lambda: version(driver) > before or error_shown(driver),  # noqa: B023
                "the move to be applied",
            )
            refused = error_shown(driver)
            if refused and "too_early" not in refused and "rate_limited" not in refused:
                raise AssertionError(f"a move offered by the page was refused: {refused}")
        else:
            time.sleep(0.02)
    return moves


def stored(server: ServerThread, room: str) -> list[Event]:
    async def read(engine: Any, room_id: str) -> list[Event]:
        return list(decode_records(await engine.store.read_stream(room_id)))

    events: list[Event] = server.call(read, room)
    return events


def screenshot(driver: Driver, name: str) -> None:
    folder = os.environ.get("LIAPTUI_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / name))


def test_a_person_plays_a_whole_match_reloads_and_replays_it(
    server: ServerThread, browser: Driver
) -> None:
    driver = browser
    driver.get(server.url + "/")
    type_into(driver, "#name", "Ann")
    click(driver, "#enter")
    wait_until(driver, lambda: by_css(driver, "#create"), "the lobby")
    click(driver, "#create")
    wait_until(driver, lambda: data(driver, "phase") == "WAITING", "the new room")
    room = by_css(driver, "#room-code")[0].text
    assert len(room) == 6

    # The host frees a seat, then fills the room with bots again and starts.
    click(driver, "button.remove[data-seat='2']")
    wait_until(driver, lambda: by_css(driver, "#fill-bots:not([disabled])"), "a free seat")
    assert not by_css(driver, "#start")[0].is_enabled()
    click(driver, "#fill-bots")
    wait_until(driver, lambda: by_css(driver, "#start:not([disabled])"), "a full room")
    click(driver, "#start")
    wait_until(driver, lambda: data(driver, "phase") not in (None, "WAITING"), "the game")

    # Play the first round by clicking, then reload the page in the middle of the match.
    moves = play_until(driver, stop=lambda: bool(by_css(driver, "#scores")))
    moves += play_until(driver, stop=lambda: bool(by_css(driver, "#play")))
    if by_css(driver, "#play"):  # a piece picked, not yet played, for the picture
        by_css(driver, "#my-hand button.piece:not([disabled])")[0].click()
        wait_until(driver, lambda: by_css(driver, "#my-hand .piece.selected"), "a selection")
        screenshot(driver, "web-client.png")
    seen = version(driver)
    driver.refresh()
    wait_until(driver, lambda: data(driver, "resumedFrom") is not None, "the page to catch up")
    resumed = int(data(driver, "resumedFrom") or 0)
    assert resumed >= seen > 0  # from the last version seen, not from the start
    assert by_css(driver, "#scores tr"), "the round scores survive the reload"
    after_reload = play_until(driver, stop=lambda: False)
    assert after_reload > 0
    moves += after_reload

    history = stored(server, room)
    assert isinstance(history[-1], GameOver)
    assert data(driver, "phase") == "GAME_OVER"
    names = _names(history)
    winners = " and ".join(str(names[seat]) for seat in history[-1].winners)
    assert by_css(driver, "#game-over")[0].text == f"Game over: {winners} won."
    rounds = sum(isinstance(e, RoundScored) for e in history)
    assert len(by_css(driver, "#scores tr")) == rounds + 2  # a header, the rounds, the totals
    mine = [e for e in history if isinstance(e, Declared | PiecesPlayed) and e.seat == 0]
    assert moves >= rounds and len(mine) >= moves  # the bot played only while the page was away
    # If the server saw the old socket close first, the page took the seat back from the bot.
    dropped = sum(isinstance(e, PlayerDisconnected) for e in history)
    back = sum(isinstance(e, PlayerReconnected) for e in history)
    assert dropped == back <= 1

    # The replay viewer: step to round 1, trick 3, and see every hand at that moment.
    driver.get(f"{server.url}/replay/{room}")
    wait_until(driver, lambda: by_css(driver, "#verification"), "the replay viewer", timeout=30)
    assert by_css(driver, "#verification")[0].get_attribute("data-ok") == "true"
    mark = by_css(driver, ".round[data-round='1'] button.mark[data-trick='3']")[0]
    target = int(mark.get_attribute("data-version"))
    mark.click()
    wait_until(driver, lambda: data(driver, "position") == str(target), "the trick")
    assert by_css(driver, "#hands .seat .piece").__len__() == _pieces_left(history, target)
    assert "round 1 trick 3 won by" in by_css(driver, "#event")[0].text
    screenshot(driver, "replay-viewer.png")
    click(driver, "#prev")
    wait_until(driver, lambda: data(driver, "position") == str(target - 1), "a step back")
    click(driver, "#next")
    wait_until(driver, lambda: data(driver, "position") == str(target), "a step forward")
    from selenium.webdriver.common.keys import Keys

    by_css(driver, "#slider")[0].send_keys(Keys.ARROW_LEFT)
    wait_until(driver, lambda: data(driver, "position") == str(target - 1), "the slider")


def _names(history: list[Event]) -> list[str | None]:
    from engine.events import GameStarted

    started = next(e for e in history if isinstance(e, GameStarted))
    return list(started.seats)


def _pieces_left(history: list[Event], version: int) -> int:
    left = 0
    for event in history[:version]:
        if isinstance(event, HandsDealt):
            left = 32
        elif isinstance(event, PiecesPlayed):
            left -= len(event.pieces)
    return left
