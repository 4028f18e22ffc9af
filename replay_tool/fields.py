"""Events and states as plain field maps: for compact text, field-by-field diffs and JSON."""

from __future__ import annotations

from typing import Any

import msgspec

from engine.events import Event


def field_map(value: msgspec.Struct) -> dict[str, Any]:
    """The struct's fields as JSON-ready builtins (tuples become lists, enums their values)."""
    builtins = msgspec.json.decode(msgspec.json.encode(value))
    assert isinstance(builtins, dict)
    builtins.pop("type", None)
    return builtins


def compact(event: Event) -> str:
    """`Declared(at=12.5, seat=1, piles=3)`: an event with every field, on one line."""
    inner = ", ".join(f"{k}={_short(v)}" for k, v in field_map(event).items())
    return f"{type(event).__name__}({inner})"


def field_differences(left: dict[str, Any], right: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """The fields whose values differ, as (name, left value, right value), in field order."""
    names = list(left) + [k for k in right if k not in left]
    missing = object()
    return [
        (name, left.get(name, missing), right.get(name, missing))
        for name in names
        if left.get(name, missing) != right.get(name, missing)
    ]


def differences_text(differences: list[tuple[str, Any, Any]], left: str, right: str) -> str:
    """`piles: recorded 5, re-decided 3; seat: ...` for the output of field_differences."""
    return "; ".join(
        f"{name}: {left} {_short(a)}, {right} {_short(b)}" for name, a, b in differences
    )


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_short(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={_short(v)}" for k, v in value.items()) + "}"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, str):
        return value
    return "<missing>"
