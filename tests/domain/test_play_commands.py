"""The `Play` command: naming pieces by kind or by hand index, and every way it is refused.

Ann (P1) holds GENERAL_RED, so she leads the first trick, then Ben, Cat, Dan follow.
"""

from msgspec.structs import replace

from engine.commands import Play
from engine.events import PiecesPlayed, TrickWon
from engine.plays import PlayType
from engine.rejections import Code
from tests.domain.support import (
    AB,
    AR,
    CHR,
    CNB,
    FAST,
    GB,
    GR,
    SR,
    Table,
    at_first_lead,
    deal,
    one,
    seated,
)

ANN = [GR, GB, AR, SR, SR, SR, CHR, CNB]


def ann_leads() -> Table:
    return at_first_lead(deal(ANN))


def test_a_hand_is_kept_sorted_strongest_first() -> None:
    # Points 14, 13, 12, 8, 3, 2, 2, 2.
    assert ann_leads().hand(0) == (GR, GB, AR, CHR, CNB, SR, SR, SR)


def test_pieces_can_be_named_by_kind() -> None:
    table = ann_leads()
    played = one(table.send(table.play("Ann", SR, SR)), PiecesPlayed)
    assert (played.seat, played.pieces, played.play_type, played.value) == (
        0,
        (SR, SR),
        PlayType.PAIR,
        4,
    )


def test_pieces_can_be_named_by_index_in_the_sorted_hand() -> None:
    table = ann_leads()
    played = one(table.send(table.play_indices("Ann", 3)), PiecesPlayed)
    assert played.pieces == (CHR,)
    assert table.hand(0) == (GR, GB, AR, CNB, SR, SR, SR)


def test_indices_name_a_multi_piece_play() -> None:
    table = ann_leads()
    played = one(table.send(table.play_indices("Ann", 6, 5)), PiecesPlayed)
    assert (played.pieces, played.play_type) == ((SR, SR), PlayType.PAIR)


def test_playing_out_of_turn_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play("Ben", *table.hand(1)[:1])) is Code.NOT_YOUR_TURN


def test_playing_before_the_declarations_are_done_is_refused() -> None:
    table = seated((deal(ANN),))
    table.decline_all_redeals()
    assert table.refuse(table.play("Ann", GR)) is Code.WRONG_PHASE


def test_playing_in_the_lobby_is_refused() -> None:
    table = seated(start=False)
    assert table.refuse(table.play("Ann", GR)) is Code.WRONG_PHASE


def test_playing_a_kind_not_in_hand_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play("Ann", AB)) is Code.PIECES_NOT_IN_HAND


def test_playing_more_copies_than_in_hand_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play("Ann", GR, GR)) is Code.PIECES_NOT_IN_HAND


def test_leading_an_invalid_play_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play("Ann", GR, GB)) is Code.INVALID_LEAD


def test_leading_seven_pieces_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play_indices("Ann", 0, 1, 2, 3, 4, 5, 6)) is Code.INVALID_LEAD


def test_leading_no_pieces_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play("Ann")) is Code.INVALID_LEAD


def test_following_with_fewer_pieces_than_the_lead_is_refused() -> None:
    table = ann_leads()
    table.send(table.play("Ann", SR, SR))
    assert table.refuse(table.play("Ben", table.hand(1)[0])) is Code.WRONG_PIECE_COUNT


def test_following_with_more_pieces_than_the_lead_is_refused() -> None:
    table = ann_leads()
    table.send(table.play("Ann", SR, SR))
    assert table.refuse(table.play("Ben", *table.hand(1)[:3])) is Code.WRONG_PIECE_COUNT


def test_an_index_past_the_end_of_the_hand_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play_indices("Ann", 8)) is Code.BAD_INDICES


def test_a_negative_index_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play_indices("Ann", -1)) is Code.BAD_INDICES


def test_a_repeated_index_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(table.play_indices("Ann", 5, 5)) is Code.BAD_INDICES


def test_naming_pieces_both_by_kind_and_by_index_is_refused() -> None:
    table = ann_leads()
    both = Play(command_id="x", player="Ann", at=0.0, pieces=(GR,), indices=(0,))
    assert table.refuse(both) is Code.BAD_PLAY


def test_naming_no_pieces_at_all_is_refused() -> None:
    table = ann_leads()
    assert table.refuse(Play(command_id="x", player="Ann", at=0.0)) is Code.BAD_PLAY


def test_someone_outside_the_room_cannot_play() -> None:
    table = ann_leads()
    assert table.refuse(table.play("Zed", GR)) is Code.NOT_IN_ROOM


def test_a_bot_cannot_play_for_a_connected_human() -> None:
    table = ann_leads()
    assert table.refuse(table.play("Bot 1", GR)) is Code.NOT_IN_ROOM


def test_the_next_lead_is_too_early_while_the_last_trick_is_on_show() -> None:
    table = at_first_lead(deal(ANN, [AB]), settings=replace(FAST, trick_pause=5.0))
    table.now = 100.0
    table.send(table.play("Ann", GR))
    table.send(table.play("Ben", AB))
    table.send(table.play("Cat", table.hand(2)[-1]))
    won = one(table.send(table.play("Dan", table.hand(3)[-1])), TrickWon)
    assert won.seat == 0
    table.now = 104.9
    assert table.refuse(table.play("Ann", AR)) is Code.TOO_EARLY
    table.now = 105.0
    one(table.send(table.play("Ann", AR)), PiecesPlayed)
