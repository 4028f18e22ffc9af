"""RULES.md "Hidden information": per-player views and per-player event redaction."""

from engine.events import HandsDealt, PiecesPlayed, RoomCreated
from engine.views import redact, view
from tests.domain.support import (
    EVERYONE_STRONG,
    SR,
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
