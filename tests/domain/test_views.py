"""RULES.md "Hidden information": per-player views and per-player event redaction."""

import pytest

from engine.events import HandsDealt, PiecesPlayed, RoomCreated
from engine.views import NoSuchSeat, redact, seat_view, view
from tests.domain.support import (
    EVERYONE_STRONG,
    SR,
    Table,
    at_first_lead,
    deal,
    one,
    seated,
    weak_deal,
)


def test_a_player_sees_their_own_hand() -> None:
    table = seated((EVERYONE_STRONG,))
    mine = view(table.state, "Cat")
    assert mine.my_seat == 2
    assert mine.hand == table.hand(2)


def test_a_player_sees_only_the_size_of_the_other_hands() -> None:
    table = at_first_lead(deal([SR, SR]))
    table.send(table.play("Ann", SR, SR))
    seats = view(table.state, "Cat").seats
    assert [s.hand_size for s in seats] == [6, 8, 8, 8]
    assert not hasattr(seats[0], "hand")


def test_a_spectator_sees_no_hand() -> None:
    table = seated((EVERYONE_STRONG,))
    watching = view(table.state, None)
    assert (watching.my_seat, watching.hand) == (None, ())


def test_someone_not_in_the_room_sees_what_a_spectator_sees() -> None:
    table = seated((EVERYONE_STRONG,))
    assert view(table.state, "Zed").hand == ()


def with_bots() -> Table:
    """Ann hosts; the bots the room created sit in P2-P4; the game has started."""
    table = Table()
    table.send(table.create("Ann", script=(EVERYONE_STRONG,)))
    table.send(table.start("Ann"))
    return table


def test_a_bot_seen_by_its_name_sees_its_own_hand() -> None:
    table = with_bots()
    seen = view(table.state, "Bot 2")
    assert (seen.my_seat, seen.hand) == (1, table.hand(1))
    assert seen.hand != ()


def test_a_bot_name_with_no_seat_here_sees_what_a_spectator_sees() -> None:
    table = seated((EVERYONE_STRONG,))
    assert (view(table.state, "Bot 2").my_seat, view(table.state, "Bot 2").hand) == (None, ())


def test_a_seat_view_is_what_the_seats_occupant_sees_human_or_bot() -> None:
    table = with_bots()
    for seat in range(4):
        name = table.state.seats[seat].name
        assert seat_view(table.state, seat) == view(table.state, name)
        assert seat_view(table.state, seat).hand == table.hand(seat)


def test_a_seat_view_is_offered_the_declarations_its_seat_may_make() -> None:
    table = with_bots()
    table.decline_all_redeals()
    turn = table.state.turn
    assert turn is not None
    assert seat_view(table.state, turn).legal_declarations != ()
    assert seat_view(table.state, (turn + 1) % 4).legal_declarations == ()


def test_a_seat_view_of_a_seat_that_does_not_exist_is_refused() -> None:
    table = with_bots()
    with pytest.raises(NoSuchSeat):
        seat_view(table.state, 4)
    with pytest.raises(NoSuchSeat):
        seat_view(table.state, -1)


def test_the_public_table_is_visible_to_everyone() -> None:
    table = at_first_lead(deal([SR, SR]))
    table.send(table.play("Ann", SR, SR))
    for player in ("Ann", "Ben", None):
        seen = view(table.state, player)
        assert [p.pieces for p in seen.plays] == [(SR, SR)]
        assert [s.declared for s in seen.seats] == [1, 1, 1, 1]


def test_whether_another_hand_is_weak_shows_only_once_its_player_has_answered() -> None:
    table = seated((weak_deal(1, 3), EVERYONE_STRONG))
    assert view(table.state, "Ann").seats[1].weak is None
    assert view(table.state, "Ben").seats[1].weak is True
    table.send(table.redeal("Ben", False))
    assert view(table.state, "Ann").seats[1].weak is True
    assert view(table.state, "Ann").seats[3].weak is None


def test_dealt_hands_are_redacted_to_the_viewers_own_hand() -> None:
    table = seated((EVERYONE_STRONG,))
    dealt = one(table.events, HandsDealt)
    mine = redact(dealt, 2)
    assert isinstance(mine, HandsDealt)
    assert mine.hands == ((), (), dealt.hands[2], ())


def test_a_spectator_sees_no_dealt_hand() -> None:
    table = seated((EVERYONE_STRONG,))
    seen = redact(one(table.events, HandsDealt), None)
    assert isinstance(seen, HandsDealt)
    assert seen.hands == ((), (), (), ())


def test_a_scripted_dealer_does_not_reveal_the_deals_to_the_players() -> None:
    table = seated((EVERYONE_STRONG,))
    created = one(table.events, RoomCreated)
    assert created.script
    for seat in (0, 1, 2, 3, None):
        seen = redact(created, seat)
        assert isinstance(seen, RoomCreated)
        assert seen.script == ()


def test_plays_are_public_and_not_redacted() -> None:
    table = at_first_lead(deal([SR, SR]))
    played = one(table.send(table.play("Ann", SR, SR)), PiecesPlayed)
    assert redact(played, 3) == played
