"""Names that read alike may not sit in one room (engine/names.py, docs/rules-decisions.md)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.names import LOOKALIKES, confusable, skeleton
from engine.rejections import Code
from engine.state import reserved_for_bots
from tests.domain.support import Table


def room_with(*names: str) -> Table:
    """A room hosted by the first name, with the others seated and one seat free."""
    table = Table()
    table.send(table.create(names[0]))
    for seat in range(1, 4):
        table.send(table.remove(names[0], seat))
    for name in names[1:]:
        table.send(table.join(name))
    return table


@pytest.mark.parametrize(
    ("seated", "lookalike"),
    [
        ("Ann", "Аnn"),  # Cyrillic А
        ("Ann", "Ａｎｎ"),  # fullwidth
        ("Ann", "Ann\u0301"),  # a combining accent
        ("Zoë", "Zoe"),
        ("Olga", "0lga"),  # zero for O
        ("Bill", "BiII"),  # capital I for l
        ("Bill", "Bi11"),  # one for l
        ("Kim", "Klm"),
        ("Morn", "Mom"),  # rn for m
        ("Wes", "VVes"),
        ("Paul", "Ρaul"),  # Greek Rho
        ("Mary Ann", "Mary  Ann"),  # two spaces
        ("Tom", "Тоm"),  # Cyrillic Т, о
        ("Ann2", "Ann²"),  # a superscript digit
    ],
)
def test_a_lookalike_of_a_seated_name_is_refused(seated: str, lookalike: str) -> None:
    table = room_with("Host", seated)
    assert table.refuse(table.join(lookalike)) is Code.NAME_CONFUSABLE
    # The other way round too, and for the host's own name.
    assert room_with("Host", lookalike).refuse(table.join(seated)) is Code.NAME_CONFUSABLE
    assert room_with(seated).refuse(table.join(lookalike)) is Code.NAME_CONFUSABLE


@pytest.mark.parametrize(
    ("seated", "other"),
    [("Ann", "Anna"), ("Bill", "Bell"), ("Tom", "Tim"), ("Olga", "Olya"), ("Max", "Mia")],
)
def test_names_that_read_differently_sit_side_by_side(seated: str, other: str) -> None:
    table = room_with("Host", seated)
    table.send(table.join(other))
    assert not confusable(seated, other)


@pytest.mark.parametrize(
    "name", ["Bot 2", "bot3", "B0t 2", "Ｂｏｔ ２", "Вот 2", "ВОТ 4", "Bοt 3", "B0T1"]
)
def test_a_lookalike_of_a_bot_s_name_is_reserved(name: str) -> None:
    assert reserved_for_bots(name)
    assert room_with("Host").refuse(Table().join(name)) is Code.NAME_RESERVED
    assert Table().refuse(Table().create(name)) is Code.NAME_RESERVED


@pytest.mark.parametrize("name", ["Robot 2", "Bottle", "Bo 2", "Abbot 3", "Bots"])
def test_names_that_merely_contain_bot_are_free(name: str) -> None:
    assert not reserved_for_bots(name)


def test_the_same_name_again_is_still_name_taken() -> None:
    assert room_with("Host", "Ann").refuse(Table().join("ann")) is Code.NAME_TAKEN


NAMES = st.text(
    st.characters(codec="utf-8", categories=("L", "N", "Zs", "P")), min_size=1, max_size=12
)


@given(NAMES)
def test_a_skeleton_is_stable(name: str) -> None:
    once = skeleton(name)
    assert skeleton(once) == once  # a skeleton is its own skeleton


@given(NAMES, st.sampled_from(sorted(LOOKALIKES)))
def test_swapping_in_a_lookalike_letter_keeps_the_skeleton(name: str, code: int) -> None:
    letter, latin = chr(code), str(LOOKALIKES[code])
    assert confusable(name + latin, name + letter)
    assert confusable(unicodedata.normalize("NFKD", name), name)  # decomposed forms alike


def test_every_lookalike_survives_nfkc() -> None:
    # NFKC runs first: an entry it rewrites would never be looked up.
    assert all(unicodedata.normalize("NFKC", chr(c)) == chr(c) for c in LOOKALIKES)
