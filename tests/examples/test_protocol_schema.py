"""docs/protocol.md and the shipped JSON Schema say exactly what the server's types say."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from examples import server
from examples.schema import SCHEMA_FILE, message_kinds, schema_text

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
CLIENT = message_kinds(server.ClientMessage)
SERVER = message_kinds(server.ServerMessage)


def tag(kind: type[msgspec.Struct]) -> str:
    return str(kind.__struct_config__.tag)


def examples() -> list[dict[str, Any]]:
    """Every message of the doc's ```json blocks (one per line, or one per block)."""
    found: list[dict[str, Any]] = []
    for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S):
        try:
            found += [json.loads(line) for line in block.splitlines() if line.strip()]
        except json.JSONDecodeError:
            found.append(json.loads(block))
    return found


def key_paths(value: Any, at: str = "") -> set[str]:
    """Every key of a JSON value, as dotted paths (list items share one path)."""
    if isinstance(value, dict):
        return {p for k, v in value.items() for p in {f"{at}{k}", *key_paths(v, f"{at}{k}.")}}
    if isinstance(value, list):
        return {p for item in value for p in key_paths(item, at)}
    return set()


def test_the_shipped_schema_is_generated_from_the_types() -> None:
    assert SCHEMA_FILE.read_text() == schema_text(), "run: python -m examples.schema > " + str(
        SCHEMA_FILE
    )


def test_every_message_kind_is_documented() -> None:
    text = DOC.read_text()
    for kind in CLIENT:
        assert f"| `{tag(kind)}` |" in text, f"client message {tag(kind)} is not in the table"
    for kind in SERVER:
        assert f"### `{tag(kind)}`" in text, f"server message {tag(kind)} has no section"


@pytest.mark.parametrize("message", examples(), ids=lambda m: str(m.get("type")))
def test_every_example_is_a_message_the_server_reads_or_sends_field_by_field(
    message: dict[str, Any],
) -> None:
    kinds = {tag(k): k for k in CLIENT} | {tag(k): k for k in SERVER}
    kind = kinds.get(message["type"])
    assert kind is not None, f"unknown message type {message['type']!r}"
    decoded = msgspec.json.decode(json.dumps(message), type=kind)
    full = json.loads(msgspec.json.encode(decoded))
    if kind in CLIENT:
        # A client may leave optional fields out, never add unknown ones.
        assert key_paths(message) <= key_paths(full)
    else:
        # The server sends every field: the example shows them all, and nothing else.
        assert key_paths(message) == key_paths(full)
