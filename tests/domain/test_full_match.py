"""A whole two-round match with a scripted dealer, every result worked out by hand.

Ann hosts (P1); Ben, Cat and Dan replace the bots (P2-P4). round_cap=2 ends the game after
round 2; the target is out of reach. Piece shorthand is explained in tests/domain/support.py.
"""

from collections.abc import Sequence

from msgspec.structs import replace

from engine.events import (
    EndReason,
    GameOver,
    HandsDealt,
    RedealGranted,
    RoundScored,
    RoundStarted,
    StarterReason,
    TrickWon,
)
from engine.evolve import fold
from engine.pieces import Piece
from engine.rejections import Code
from engine.state import Phase
from tests.domain.support import (
    AB,
    AR,
    CHB,
    CHR,
    CNB,
    CNR,
    EB,
    ER,
    FAST,
    GB,
    GR,
    HB,
    HR,
    SB,
    SR,
    Table,
    of_type,
    one,
    seated,
)

SETTINGS = replace(FAST, round_cap=2, target_score=1000)

# Round 1. Nobody is weak (Ann 12, Ben 13, Cat 14, Dan 11 at best). Cat holds GENERAL_RED.
ROUND_1 = (
    (AR, ER, CHR, CHR, HR, HR, CNR, CNR),  # Ann
    (GB, AB, EB, EB, CHB, CHB, HB, HB),  # Ben
    (GR, AR, ER, SR, SR, SR, SR, SR),  # Cat
    (AB, CNB, CNB, SB, SB, SB, SB, SB),  # Dan
)
# Round 2, first deal. Ann (best 9) and Cat (best 7) are weak; Ben and Dan are not.
ROUND_2_WEAK = (
    (EB, EB, CHR, CHR, HR, HR, CNR, CNR),  # Ann
    (GR, AR, AR, ER, ER, SR, SR, SR),  # Ben
    (CHB, CHB, HB, HB, CNB, CNB, SR, SR),  # Cat
    (GB, AB, AB, SB, SB, SB, SB, SB),  # Dan
)
# Round 2 after the redeal. Nobody is weak (Ann 11, Ben 14, Cat 11, Dan 13 at best).
ROUND_2 = (
    (AB, CHB, HB, HB, CNB, CNB, SB, SB),  # Ann
    (GR, AR, AR, ER, ER, SR, SR, SB),  # Ben
    (AB, HR, HR, CNR, CNR, SR, SR, SR),  # Cat
    (GB, CHR, CHR, EB, EB, CHB, SB, SB),  # Dan
)


def trick(table: Table, *plays: tuple[str, Sequence[Piece]]) -> TrickWon:
    """The named players play, in the order given; the trick's result."""
    events = []
    for name, pieces in plays:
        events += table.send(table.play(name, *pieces))
    return one(events, TrickWon)


def declare(table: Table, *declarations: tuple[str, int]) -> None:
    for name, piles in declarations:
        table.send(table.declare(name, piles))


def test_a_scripted_two_round_match_plays_out_as_worked_out_by_hand() -> None:
    table = seated((ROUND_1, ROUND_2_WEAK, ROUND_2), settings=SETTINGS)

    # --- Round 1 ---------------------------------------------------------------------------
    # Cat holds GENERAL_RED and starts: play order Cat, Dan, Ann, Ben.
    started = one(table.events, RoundStarted)
    assert (started.round, started.starter, started.reason, started.multiplier) == (
        1,
        2,
        StarterReason.GENERAL_RED,
        1,
    )
    # Cat 4, Dan 0, Ann 0 make 4, so Ben (last) may not declare 4.
    declare(table, ("Cat", 4), ("Dan", 0), ("Ann", 0))
    assert table.refuse(table.declare("Ben", 4)) is Code.DECLARATION_MAKES_EIGHT
    declare(table, ("Ben", 3))

    # Trick 1: three soldiers (6) lead; Dan's three black soldiers (3) are lower; Ann's
    # straight (18) and Ben's invalid three are other types. Cat keeps it: 3 piles.
    won = trick(
        table,
        ("Cat", [SR, SR, SR]),
        ("Dan", [SB, SB, SB]),
        ("Ann", [CHR, HR, CNR]),
        ("Ben", [EB, EB, CHB]),
    )
    assert (won.trick, won.seat, won.piles) == (1, 2, 3)
    # Trick 2: pair SR (4); Dan's pair CNB (6) takes over; Ann's HR+CNR is invalid; Ben's
    # pair HB (10) takes over. Ben: 2 piles.
    won = trick(
        table,
        ("Cat", [SR, SR]),
        ("Dan", [CNB, CNB]),
        ("Ann", [HR, CNR]),
        ("Ben", [HB, HB]),
    )
    assert (won.trick, won.seat, won.piles) == (2, 1, 2)
    # Trick 3 (Ben leads; Ben, Cat, Dan, Ann): CHB 7; GR 14 takes over; SB 1; CHR 8. Cat: 1.
    won = trick(table, ("Ben", [CHB]), ("Cat", [GR]), ("Dan", [SB]), ("Ann", [CHR]))
    assert (won.trick, won.seat, won.piles) == (3, 2, 1)
    # Trick 4 (Cat leads): ER 10; AB 11 takes over; ER 10; Ben's AB 11 only ties. Dan: 1.
    won = trick(table, ("Cat", [ER]), ("Dan", [AB]), ("Ann", [ER]), ("Ben", [AB]))
    assert (won.trick, won.seat, won.piles) == (4, 3, 1)
    # Trick 5 (Dan leads; Dan, Ann, Ben, Cat): SB 1; AR 12 takes over; GB 13 takes over;
    # AR 12 does not. Ben wins the last trick: 1 pile.
    won = trick(table, ("Dan", [SB]), ("Ann", [AR]), ("Ben", [GB]), ("Cat", [AR]))
    assert (won.trick, won.seat, won.piles) == (5, 1, 1)

    # Captured: Ann 0, Ben 2+1 = 3, Cat 3+1 = 4, Dan 1 (8 in all).
    # Ann 0/0 -> +3; Ben 3/3 -> 3+5 = 8; Cat 4/4 -> 4+5 = 9; Dan 0/1 -> -1. Multiplier 1.
    first = of_type(table.events, RoundScored)[0]
    assert (first.declared, first.captured, first.multiplier) == ((0, 3, 4, 0), (0, 3, 4, 1), 1)
    assert first.scores == first.totals == (3, 8, 9, -1)

    # --- Round 2 ---------------------------------------------------------------------------
    # The first deal leaves Ann and Cat weak. Dan may not answer; Cat may answer only once.
    dealt = of_type(table.events, HandsDealt)[-1]
    assert (dealt.round, dealt.deal) == (2, 2)
    assert table.refuse(table.redeal("Dan", True)) is Code.NOT_WEAK
    table.send(table.redeal("Cat", True))
    assert table.refuse(table.redeal("Cat", False)) is Code.ALREADY_DECIDED
    events = table.send(table.redeal("Ann", True))
    # Both accepted. Counted from Ben, who won round 1's last trick (Ben, Cat, Dan, Ann),
    # Cat comes first; counted from P1 it would have been Ann.
    granted = one(events, RedealGranted)
    assert (granted.seat, granted.multiplier) == (2, 2)
    assert one(events, HandsDealt).deal == 3
    started = one(events, RoundStarted)
    assert (started.round, started.starter, started.reason, started.multiplier) == (
        2,
        2,
        StarterReason.REDEAL_ACCEPTED,
        2,
    )
    # Play order Cat, Dan, Ann, Ben. Cat 0 + Dan 2 + Ann 1 = 3, Ben may declare anything but 5.
    declare(table, ("Cat", 0), ("Dan", 2), ("Ann", 1), ("Ben", 4))

    # Trick 1: pair SR (4); pair CHR (16) takes over; pair SB (2); SR+SB mixes colours,
    # invalid. Dan: 2 piles.
    won = trick(
        table,
        ("Cat", [SR, SR]),
        ("Dan", [CHR, CHR]),
        ("Ann", [SB, SB]),
        ("Ben", [SR, SB]),
    )
    assert (won.trick, won.seat, won.piles) == (1, 3, 2)
    # Trick 2 (Dan leads; Dan, Ann, Ben, Cat): SB 1; AB 11 takes over; SR 2; Cat's AB 11
    # ties. Ann: 1 pile.
    won = trick(table, ("Dan", [SB]), ("Ann", [AB]), ("Ben", [SR]), ("Cat", [AB]))
    assert (won.trick, won.seat, won.piles) == (2, 0, 1)
    # Trick 3 (Ann leads; Ann, Ben, Cat, Dan): black extended straight 5 worth 7+5+3 = 15;
    # Ben's red one is worth 14+12+10 = 36 and takes over; Cat's and Dan's are invalid.
    # Ben: 5 piles.
    won = trick(
        table,
        ("Ann", [CHB, HB, HB, CNB, CNB]),
        ("Ben", [GR, AR, AR, ER, ER]),
        ("Cat", [HR, HR, CNR, CNR, SR]),
        ("Dan", [GB, EB, EB, CHB, SB]),
    )
    assert (won.trick, won.seat, won.piles) == (3, 1, 5)

    # Captured: Ann 1, Ben 5, Cat 0, Dan 2 (8 in all). Multiplier 2:
    # Ann 1/1 -> (1+5)*2 = 12; Ben 4/5 -> -1*2 = -2; Cat 0/0 -> 3*2 = 6; Dan 2/2 -> 7*2 = 14.
    # Totals: Ann 3+12 = 15, Ben 8-2 = 6, Cat 9+6 = 15, Dan -1+14 = 13.
    second = of_type(table.events, RoundScored)[1]
    assert (second.declared, second.captured, second.multiplier) == ((1, 4, 0, 2), (1, 5, 0, 2), 2)
    assert second.scores == (12, -2, 6, 14)
    assert second.totals == (15, 6, 15, 13)

    # --- The end ---------------------------------------------------------------------------
    # Round 2 was the last (round_cap=2). Ann and Cat tie at the top: both win.
    over = one(table.events, GameOver)
    assert (over.reason, over.winners, over.totals) == (
        EndReason.ROUND_CAP,
        (0, 2),
        (15, 6, 15, 13),
    )
    assert table.state.phase is Phase.GAME_OVER
    assert [s.score for s in table.state.seats] == [15, 6, 15, 13]
    assert table.state.redeals == 1

    # The recorded events alone rebuild the final room.
    assert fold(table.events) == table.state
