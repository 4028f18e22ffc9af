"""The example server's wire protocol as JSON Schema, generated from its msgspec types.

`python -m examples.schema` prints it; the copy shipped beside this module,
`examples/protocol.schema.json`, is what a client in another language validates against
(a test keeps it equal to the types). Client messages are the members of
`AnyClientMessage`; server messages are every `ServerMessage` kind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from examples import server

SCHEMA_FILE = Path(__file__).with_name("protocol.schema.json")


def message_kinds(base: type[msgspec.Struct]) -> list[type[msgspec.Struct]]:
    """Every tagged message type deriving from `base`, in a stable order (by tag)."""
    found: list[type[msgspec.Struct]] = []
    pending = list(base.__subclasses__())
    while pending:
        kind = pending.pop()
        pending += kind.__subclasses__()
        if kind.__struct_config__.tag is not None:
            found.append(kind)
    return sorted(found, key=lambda kind: str(kind.__struct_config__.tag))


def protocol_schema() -> dict[str, Any]:
    """One JSON Schema document: `client` and `server` are each a oneOf over its messages."""
    client = message_kinds(server.ClientMessage)
    sent = message_kinds(server.ServerMessage)
    (client_refs, server_refs), components = msgspec.json.schema_components(
        (_union(client), _union(sent)),
        ref_template="#/$defs/{name}",
    )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Liap Tui example server protocol",
        "description": "One JSON object per WebSocket message; see docs/protocol.md.",
        "$defs": components,
        "properties": {"client": client_refs, "server": server_refs},
    }


def _union(kinds: list[type[msgspec.Struct]]) -> Any:
    union: Any = kinds[0]
    for kind in kinds[1:]:
        union = union | kind
    return union


def schema_text() -> str:
    """The schema as the shipped file holds it."""
    return json.dumps(protocol_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
