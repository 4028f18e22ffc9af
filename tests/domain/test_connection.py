"""RULES.md "Seats and rooms" during the game: bots stand in, reconnecting, host, abandonment."""

from msgspec.structs import replace

from engine.events import (
    CloseReason,
    Declared,
    HostChanged,
    PlayerDisconnected,
    PlayerReconnected,
    RoomClosed,
)
from engine.rejections import Code
from engine.settings import RoomSettings
from engine.state import Phase
from tests.domain.support import EVERYONE_STRONG, FAST, Table, of_type, one, seated

ABANDON_30 = replace(FAST, abandon_after=30.0)


def declaring() -> Table:
    """Four humans in round 1's declaration; Ann starts, so Ben declares second."""
    table = seated((EVERYONE_STRONG,))
    assert table.state.phase is Phase.DECLARATION and table.state.turn == 0
    return table


def ann_and_bots(settings: RoomSettings = ABANDON_30) -> Table:
    """Ann hosts a game against three bots, started at t=0 and waiting for declarations."""
    table = Table()
    table.send(table.create("Ann", settings=settings, script=(EVERYONE_STRONG,)))
    table.send(table.start())
    return table


# --- a bot stands in -------------------------------------------------------------------------


def test_a_disconnect_hands_the_seat_to_its_bot() -> None:
    table = declaring()
    table.send(table.declare("Ann", 1))
    gone = one(table.send(table.disconnect("Ben")), PlayerDisconnected)
    assert (gone.seat, gone.name) == (1, "Ben")
    assert table.state.seats[1].bot_controlled
    assert one(table.send(table.declare("Bot 2", 2)), Declared).seat == 1


def test_a_disconnected_human_cannot_move_until_they_reconnect() -> None:
    table = declaring()
    table.send(table.declare("Ann", 1))
    table.send(table.disconnect("Ben"))
    assert table.refuse(table.declare("Ben", 2)) is Code.NOT_CONNECTED


def test_a_bot_cannot_move_for_a_connected_human() -> None:
    table = declaring()
    table.send(table.declare("Ann", 1))
    assert table.refuse(table.declare("Bot 2", 2)) is Code.NOT_IN_ROOM


def test_leaving_during_the_game_is_a_disconnect_that_keeps_the_seat() -> None:
    table = declaring()
    one(table.send(table.leave("Ben")), PlayerDisconnected)
    assert table.state.seats[1].name == "Ben"
    assert not table.state.seats[1].connected


def test_disconnecting_twice_is_refused() -> None:
    table = declaring()
    table.send(table.disconnect("Ben"))
    assert table.refuse(table.disconnect("Ben")) is Code.NOT_CONNECTED


# --- reconnecting ----------------------------------------------------------------------------


def test_reconnecting_under_the_same_name_gives_the_seat_back() -> None:
    table = declaring()
    table.send(table.declare("Ann", 1))
    table.send(table.disconnect("Ben"))
    back = one(table.send(table.reconnect("Ben")), PlayerReconnected)
    assert (back.seat, back.name) == (1, "Ben")
    assert table.refuse(table.declare("Bot 2", 2)) is Code.NOT_IN_ROOM
    assert one(table.send(table.declare("Ben", 2)), Declared).seat == 1


def test_a_disconnected_human_comes_back_by_reconnecting_not_by_joining() -> None:
    table = declaring()
    table.send(table.disconnect("Ben"))
    assert table.refuse(table.join("Ben")) is Code.GAME_STARTED


def test_reconnecting_while_connected_is_refused() -> None:
    table = declaring()
    assert table.refuse(table.reconnect("Ben")) is Code.ALREADY_CONNECTED


def test_reconnecting_under_an_unknown_name_is_refused() -> None:
    table = declaring()
    assert table.refuse(table.reconnect("Zed")) is Code.NOT_IN_ROOM


def test_reconnecting_is_only_for_games_in_progress() -> None:
    table = seated(start=False)
    assert table.refuse(table.reconnect("Ben")) is Code.WRONG_PHASE


# --- the host --------------------------------------------------------------------------------


def test_when_the_host_disconnects_hosting_passes_to_the_next_human_in_seat_order() -> None:
    table = declaring()
    changed = one(table.send(table.disconnect("Ann")), HostChanged)
    assert (changed.seat, changed.name) == (1, "Ben")
    assert table.state.host == 1


def test_hosting_skips_humans_who_are_disconnected() -> None:
    table = declaring()
    table.send(table.disconnect("Ben"))
    assert one(table.send(table.disconnect("Ann")), HostChanged).seat == 2


def test_hosting_passes_on_from_the_hosts_seat_round_the_table() -> None:
    table = declaring()
    table.send(table.disconnect("Ann"))  # Ben hosts
    table.send(table.disconnect("Cat"))
    # After Ben (P2) come Cat (gone), Dan, then Ann (gone).
    assert one(table.send(table.disconnect("Ben")), HostChanged).seat == 3


def test_with_no_other_human_connected_hosting_stays_with_the_seat() -> None:
    table = ann_and_bots()
    assert not of_type(table.send(table.disconnect("Ann")), HostChanged)
    assert table.state.host == 0


def test_a_human_reconnecting_while_the_host_is_away_becomes_host() -> None:
    table = declaring()
    for name in ("Ben", "Cat", "Dan", "Ann"):
        table.send(table.disconnect(name))
    assert table.state.host == 0
    changed = one(table.send(table.reconnect("Cat")), HostChanged)
    assert (changed.seat, table.state.host) == (2, 2)


# --- abandonment -----------------------------------------------------------------------------


def test_a_game_with_no_human_connected_is_abandoned_after_abandon_after() -> None:
    table = ann_and_bots()
    table.now = 100.0
    table.send(table.disconnect("Ann"))
    assert table.send(table.tick(129.9)) == []
    closed = one(table.send(table.tick(130.0)), RoomClosed)
    assert closed.reason is CloseReason.ABANDONED
    assert table.state.phase is Phase.CLOSED


def test_an_abandoned_room_refuses_everything_but_the_clock() -> None:
    table = ann_and_bots()
    table.send(table.disconnect("Ann"))
    table.send(table.tick(30.0))
    assert table.refuse(table.reconnect("Ann")) is Code.ROOM_CLOSED
    assert table.refuse(table.declare("Bot 2", 1)) is Code.ROOM_CLOSED
    assert table.send(table.tick(1000.0)) == []


def test_a_human_reconnecting_in_time_saves_the_game() -> None:
    table = ann_and_bots()
    table.now = 100.0
    table.send(table.disconnect("Ann"))
    table.now = 129.0
    table.send(table.reconnect("Ann"))
    assert table.send(table.tick(130.0)) == []
    assert table.send(table.tick(1000.0)) == []
    assert table.state.phase is Phase.DECLARATION


def test_the_abandon_clock_starts_when_the_last_human_disconnects() -> None:
    table = seated((EVERYONE_STRONG,), settings=ABANDON_30)
    for at, name in ((100.0, "Ann"), (105.0, "Ben"), (110.0, "Cat")):
        table.now = at
        table.send(table.disconnect(name))
    # 30 s after Ann left, but Dan is still here.
    assert table.send(table.tick(119.0)) == []
    table.now = 120.0
    table.send(table.disconnect("Dan"))
    assert table.send(table.tick(149.9)) == []
    one(table.send(table.tick(150.0)), RoomClosed)


def test_without_abandon_after_a_game_is_never_abandoned() -> None:
    table = ann_and_bots(settings=FAST)
    table.send(table.disconnect("Ann"))
    assert table.send(table.tick(10.0**6)) == []
    assert table.state.phase is Phase.DECLARATION


def test_reconnecting_after_abandon_after_comes_too_late() -> None:
    table = ann_and_bots()
    table.now = 100.0
    table.send(table.disconnect("Ann"))
    table.now = 131.0
    assert table.refuse(table.reconnect("Ann")) is Code.ROOM_CLOSED
