"""RULES.md "Seats and rooms" before the game: creating, joining, bots, kicking, starting."""

import pytest
from msgspec.structs import replace

from engine.commands import Command
from engine.events import (
    BotAdded,
    CloseReason,
    GameStarted,
    HandsDealt,
    PlayerJoined,
    PlayerLeft,
    PlayerRemoved,
    RoomClosed,
    RoomCreated,
)
from engine.rejections import Code
from engine.state import Phase
from tests.domain.support import EVERYONE_STRONG, FAST, Table, one, seated


def lobby(host: str = "Ann") -> Table:
    table = Table()
    table.send(table.create(host))
    return table


def with_free_seat() -> Table:
    """Ann's new room with the bot in P3 removed."""
    table = lobby()
    table.send(table.remove("Ann", 2))
    return table


# --- creating --------------------------------------------------------------------------------


def test_a_new_room_seats_the_host_in_p1_and_bots_in_p2_to_p4() -> None:
    table = lobby()
    created = one(table.events, RoomCreated)
    assert (created.room_id, created.host) == ("ROOM01", "Ann")
    seats = table.state.seats
    assert [s.name for s in seats] == ["Ann", "Bot 2", "Bot 3", "Bot 4"]
    assert [s.is_bot for s in seats] == [False, True, True, True]
    assert table.state.host == 0
    assert table.state.phase is Phase.WAITING


@pytest.mark.parametrize("room_id", ["ABC123", "000000", "ZZZZZZ", "7K2Q9X"])
def test_a_room_id_of_six_uppercase_letters_or_digits_is_accepted(room_id: str) -> None:
    table = Table()
    table.send(table.create(room_id=room_id))
    assert table.state.room_id == room_id


@pytest.mark.parametrize(
    "room_id", ["abc123", "ABC12", "ABC1234", "ABC 12", "ABC-12", "", "ÀBC123", "ABC12\n"]
)
def test_any_other_room_id_is_refused(room_id: str) -> None:
    table = Table()
    assert table.refuse(table.create(room_id=room_id)) is Code.INVALID_ROOM_ID


def test_a_room_cannot_be_created_twice() -> None:
    table = lobby()
    assert table.refuse(table.create("Ben")) is Code.ROOM_EXISTS


def test_commands_to_a_room_that_does_not_exist_are_refused() -> None:
    table = Table()
    assert table.refuse(table.join("Ann")) is Code.ROOM_NOT_FOUND
    assert table.refuse(table.tick(5.0)) is Code.ROOM_NOT_FOUND


def test_room_settings_with_a_negative_time_are_refused() -> None:
    table = Table()
    bad = table.create(settings=replace(FAST, trick_pause=-1.0))
    assert table.refuse(bad) is Code.INVALID_SETTINGS


def test_room_settings_without_a_positive_target_are_refused() -> None:
    table = Table()
    assert table.refuse(table.create(settings=replace(FAST, target_score=0))) is (
        Code.INVALID_SETTINGS
    )


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", " Ann", "Ann ", "A" * 33, "Ann\n", "Ann\x00"])
def test_a_name_must_be_1_to_32_printable_characters_without_outer_spaces(name: str) -> None:
    table = with_free_seat()
    assert table.refuse(table.join(name)) is Code.INVALID_NAME


def test_a_name_of_32_characters_is_accepted() -> None:
    table = with_free_seat()
    table.send(table.join("B" * 32))


@pytest.mark.parametrize("name", ["Bot 3", "bot3", "BOT 12", "Bot7"])
def test_bot_names_are_reserved(name: str) -> None:
    table = with_free_seat()
    assert table.refuse(table.join(name)) is Code.NAME_RESERVED


def test_a_name_merely_containing_bot_is_allowed() -> None:
    table = with_free_seat()
    table.send(table.join("Robot 2"))


def test_the_host_name_is_checked_too() -> None:
    table = Table()
    assert table.refuse(table.create("Bot 1")) is Code.NAME_RESERVED


def test_a_name_already_in_the_room_is_refused_ignoring_case() -> None:
    table = with_free_seat()
    assert table.refuse(table.join("ANN")) is Code.NAME_TAKEN


# --- joining and leaving ---------------------------------------------------------------------


def test_a_new_room_is_full() -> None:
    table = lobby()
    assert table.refuse(table.join("Ben")) is Code.ROOM_FULL


def test_after_the_host_removes_a_bot_a_human_can_join_that_seat() -> None:
    table = lobby()
    removed = one(table.send(table.remove("Ann", 2)), PlayerRemoved)
    assert (removed.seat, removed.name, removed.was_bot) == (2, "Bot 3", True)
    joined = one(table.send(table.join("Ben")), PlayerJoined)
    assert (joined.seat, joined.name) == (2, "Ben")
    assert not table.state.seats[2].is_bot


def test_a_human_joins_the_first_empty_seat() -> None:
    table = lobby()
    table.send(table.remove("Ann", 3))
    table.send(table.remove("Ann", 1))
    assert one(table.send(table.join("Ben")), PlayerJoined).seat == 1
    assert one(table.send(table.join("Cat")), PlayerJoined).seat == 3


def test_joining_a_started_game_is_refused() -> None:
    table = lobby()
    table.send(table.start())
    assert table.refuse(table.join("Ben")) is Code.GAME_STARTED


def test_a_player_other_than_the_host_leaving_frees_the_seat() -> None:
    table = with_free_seat()
    table.send(table.join("Ben"))
    left = one(table.send(table.leave("Ben")), PlayerLeft)
    assert (left.seat, left.name) == (2, "Ben")
    assert table.state.seats[2].name is None


def test_disconnecting_before_the_game_is_leaving() -> None:
    table = with_free_seat()
    table.send(table.join("Ben"))
    one(table.send(table.disconnect("Ben")), PlayerLeft)
    assert table.state.seats[2].name is None


def test_the_host_leaving_before_the_game_closes_the_room() -> None:
    table = with_free_seat()
    table.send(table.join("Ben"))
    closed = one(table.send(table.leave("Ann")), RoomClosed)
    assert closed.reason is CloseReason.HOST_LEFT
    assert table.state.phase is Phase.CLOSED
    assert table.refuse(table.join("Cat")) is Code.ROOM_CLOSED


def test_someone_not_in_the_room_cannot_leave_it() -> None:
    table = lobby()
    assert table.refuse(table.leave("Zed")) is Code.NOT_IN_ROOM


# --- bots and kicking ------------------------------------------------------------------------


def test_the_host_can_add_a_bot_to_an_empty_seat() -> None:
    table = with_free_seat()
    added = one(table.send(table.add_bot("Ann", 2)), BotAdded)
    assert (added.seat, added.name) == (2, "Bot 3")
    assert table.state.seats[2].is_bot


def test_a_bot_cannot_be_added_to_a_taken_seat() -> None:
    table = lobby()
    assert table.refuse(table.add_bot("Ann", 1)) is Code.SEAT_OCCUPIED


def test_only_the_host_can_add_a_bot() -> None:
    table = with_free_seat()
    table.send(table.join("Ben"))
    table.send(table.remove("Ann", 3))
    assert table.refuse(table.add_bot("Ben", 3)) is Code.NOT_HOST


def test_the_host_can_kick_a_player() -> None:
    table = with_free_seat()
    table.send(table.join("Ben"))
    kicked = one(table.send(table.remove("Ann", 2)), PlayerRemoved)
    assert (kicked.seat, kicked.name, kicked.was_bot) == (2, "Ben", False)
    assert table.state.seats[2].name is None


def test_only_the_host_can_kick() -> None:
    table = with_free_seat()
    table.send(table.join("Ben"))
    assert table.refuse(table.remove("Ben", 1)) is Code.NOT_HOST


def test_the_host_cannot_kick_themself() -> None:
    table = lobby()
    assert table.refuse(table.remove("Ann", 0)) is Code.CANNOT_REMOVE_SELF


def test_an_empty_seat_cannot_be_kicked() -> None:
    table = with_free_seat()
    assert table.refuse(table.remove("Ann", 2)) is Code.SEAT_EMPTY


def test_kicking_is_refused_once_the_game_has_started() -> None:
    table = seated()
    assert table.refuse(table.remove("Ann", 1)) is Code.GAME_STARTED


def test_adding_a_bot_is_refused_once_the_game_has_started() -> None:
    table = seated()
    assert table.refuse(table.add_bot("Ann", 1)) is Code.GAME_STARTED


# --- starting --------------------------------------------------------------------------------


def test_the_game_starts_with_four_filled_seats_and_deals_round_one() -> None:
    table = lobby()
    events = table.send(table.start())
    assert one(events, GameStarted).seats == ("Ann", "Bot 2", "Bot 3", "Bot 4")
    dealt = one(events, HandsDealt)
    assert (dealt.round, dealt.deal) == (1, 1)
    assert all(len(s.hand) == 8 for s in table.state.seats)


def test_the_game_does_not_start_with_an_empty_seat() -> None:
    table = with_free_seat()
    assert table.refuse(table.start()) is Code.NOT_ENOUGH_PLAYERS


def test_only_the_host_can_start_the_game() -> None:
    table = seated(start=False)
    assert table.refuse(table.start("Ben")) is Code.NOT_HOST


def test_a_game_cannot_be_started_twice() -> None:
    table = seated()
    assert table.refuse(table.start()) is Code.GAME_STARTED


# --- scripted dealers and unknown commands ---------------------------------------------------


def test_a_scripted_deal_with_a_short_hand_is_refused() -> None:
    good = EVERYONE_STRONG
    short = (good[0][:7], good[1], good[2], good[3] + good[0][7:])
    table = Table()
    assert table.refuse(table.create(script=(good, short))) is Code.INVALID_SCRIPT


def test_a_scripted_deal_that_is_not_the_32_pieces_is_refused() -> None:
    good = EVERYONE_STRONG
    doubled = (good[0], good[0], good[2], good[3])
    table = Table()
    assert table.refuse(table.create(script=(doubled,))) is Code.INVALID_SCRIPT


def test_a_command_type_the_room_does_not_know_is_malformed() -> None:
    table = lobby()
    unknown = Command(command_id="x", player="Ann", at=0.0)
    assert table.refuse(unknown) is Code.MALFORMED_COMMAND
