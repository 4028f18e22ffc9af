"""docs/events.md stays true to the code: every type, field, schema version and rejection code.

Each event and command has a heading `### Name (vN)` followed by a `| field | type | meaning |`
table; the field names and types must be exactly the code's (types rendered by `render`).
"""

from __future__ import annotations

import re
import types
import typing
from enum import Enum
from pathlib import Path

import msgspec
import pytest

from engine.commands import AnyCommand
from engine.events import EVENT_TYPES
from engine.rejections import Code
from engine.settings import RoomSettings
from tests.domain.examples import COMMANDS, EVENTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"
HEADING = re.compile(r"^### (\w+)(?: \(v(\d+)\))?\s*$")
ROW = re.compile(r"^\| `(\w+)` \| (.+?) \| .+\|\s*$")
COMMON_COMMAND = {"command_id", "player", "at"}


def render(tp: object) -> str:
    """A field's type as the catalogue writes it."""
    if typing.get_origin(tp) is typing.Annotated:
        inner, *metas = typing.get_args(tp)
        limits = []
        for meta in metas:
            if isinstance(meta, msgspec.Meta):
                if meta.max_length is not None:
                    limits.append(f"at most {meta.max_length}")
                if meta.ge is not None and meta.le is not None:
                    limits.append(f"{meta.ge}-{meta.le}")
        return f"{render(inner)} ({', '.join(limits)})"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else render(a) for a in typing.get_args(tp))
    if origin is tuple:
        return f"list of {render(typing.get_args(tp)[0])}"
    if isinstance(tp, type):
        return tp.__name__
    return str(tp)


def documented() -> dict[str, tuple[int | None, dict[str, str]]]:
    """Heading name -> (version, {field: type}) as written in the doc."""
    found: dict[str, tuple[int | None, dict[str, str]]] = {}
    current: dict[str, str] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = HEADING.match(line)
        if heading:
            current = {}
            version = int(heading.group(2)) if heading.group(2) else None
            found[heading.group(1)] = (version, current)
            continue
        row = ROW.match(line)
        if row and current is not None:
            current[row.group(1)] = row.group(2).strip()
    return found


def code_fields(cls: type) -> dict[str, str]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return {f.name: render(hints[f.name]) for f in msgspec.structs.fields(cls)}


@pytest.mark.parametrize("name", sorted(EVENT_TYPES))
def test_every_event_is_documented_with_its_version_and_fields(name: str) -> None:
    cls = EVENT_TYPES[name]
    doc = documented()
    assert name in doc, f"docs/events.md has no '### {name} (v{cls.SCHEMA_VERSION})'"
    version, fields = doc[name]
    assert version == cls.SCHEMA_VERSION
    assert fields == {k: v for k, v in code_fields(cls).items() if k != "at"}


def test_the_common_event_field_is_documented() -> None:
    assert documented()["Event"][1] == {"at": "float"}


@pytest.mark.parametrize("cls", AnyCommand.__args__, ids=lambda c: c.__name__)
def test_every_command_is_documented_with_its_fields(cls: type) -> None:
    doc = documented()
    assert cls.__name__ in doc
    _, fields = doc[cls.__name__]
    own = {k: v for k, v in code_fields(cls).items() if k not in COMMON_COMMAND}
    assert fields == own


def test_the_common_command_fields_are_documented() -> None:
    _, fields = documented()["Command"]
    assert fields == {
        k: v for k, v in code_fields(AnyCommand.__args__[0]).items() if k in COMMON_COMMAND
    }


def test_the_room_settings_are_documented() -> None:
    assert documented()["RoomSettings"][1] == code_fields(RoomSettings)


def test_every_rejection_code_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [c.value for c in Code if f"| `{c.value}` |" not in text]
    assert not missing


def test_every_enum_value_an_event_can_carry_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    enums = {
        hint
        for cls in EVENT_TYPES.values()
        for hint in typing.get_type_hints(cls).values()
        if isinstance(hint, type) and issubclass(hint, Enum)
    }
    missing = [f"{e.__name__}.{m.name}" for e in enums for m in e if f"`{m.value}`" not in text]
    assert not missing


def test_the_examples_are_the_codec_tested_instances() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [
        msgspec.json.encode(x).decode()
        for x in [*EVENTS, *COMMANDS]
        if msgspec.json.encode(x).decode() not in text
    ]
    assert not missing
