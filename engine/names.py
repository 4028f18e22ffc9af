"""When two player names read alike: the skeleton a name is compared by.

Two names with one skeleton may not sit in one room, and a name whose skeleton reads like
a bot's ("B0t 2", "Ｂｏｔ 2", Cyrillic "Вот 2") is reserved. The skeleton is:

1. NFKC: compatibility forms become their plain letters (fullwidth "Ａｎｎ" is "Ann",
   the ligature "ﬁ" is "fi", superscripts are digits);
2. accents dropped (NFD, combining marks removed): "Zoë" reads as "Zoe";
3. Cyrillic and Greek letters that look like Latin ones become those (`LOOKALIKES`),
   upper and lower case each by its own look (Cyrillic "В" is "B", but "в" is not "b");
4. casefold: case does not tell names apart;
5. letters and digits that look alike become one (`SAME_LOOK`: 0/o, 1/l/i/|, rn/m, vv/w);
6. runs of white space become one space.

It over-matches on purpose: in a four-seat room a refused name costs a player a moment
to pick another, while a lookalike beside a seated name lets one pass for the other.
docs/rules-decisions.md states the rule.
"""

from __future__ import annotations

import re
import unicodedata

# Cyrillic and Greek letters drawn like a Latin letter in common fonts (a subset of the
# Unicode confusables list: the letters a name is likely to be spoofed with).
LOOKALIKES = str.maketrans(
    {
        # Cyrillic capitals
        "А": "A", "В": "B", "Е": "E", "Ѕ": "S", "І": "I", "Ј": "J", "К": "K", "М": "M",
        "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "Ү": "Y",
        "Ԁ": "D", "Ԍ": "G", "Ԛ": "Q", "Ԝ": "W", "Ӏ": "I",
        # Cyrillic small letters
        "а": "a", "е": "e", "ѕ": "s", "і": "i", "ј": "j", "о": "o", "р": "p", "с": "c",
        "у": "y", "х": "x", "ү": "y", "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "l",
        "т": "t", "к": "k", "м": "m", "н": "h", "ь": "b", "п": "n", "г": "r",  # small caps
        "ɡ": "g",
        # Greek capitals
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M",
        "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
        # Greek small letters
        "α": "a", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u",
        "χ": "x", "ϳ": "j",
    }
)  # fmt: skip

# After casefolding: the groups that read alike become their first member.
SAME_LOOK = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("|", "l"))

_SPACES = re.compile(r"\s+")
_BOT_LIKE = re.compile(r"bot\s*[0-9ol]+")  # "bot<digits>" in skeleton form (0 -> o, 1 -> l)


def skeleton(name: str) -> str:
    """The form `name` is compared by (the module's docstring lists the steps)."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    text = text.translate(LOOKALIKES).casefold()
    for group, same in SAME_LOOK:
        text = text.replace(group, same)
    return _SPACES.sub(" ", text).strip()


def reads_like_a_bot(name: str) -> bool:
    """Whether `name` reads like a bot's name ("Bot 2", "bot3", "B0t 2", "Ｂｏｔ ２")."""
    return _BOT_LIKE.fullmatch(skeleton(name)) is not None


def confusable(a: str, b: str) -> bool:
    """Whether names `a` and `b` read alike (one skeleton)."""
    return skeleton(a) == skeleton(b)
