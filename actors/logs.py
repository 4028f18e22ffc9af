"""Structured logs: every logger of the engine is under `liaptui`, and `log_json` writes
them as one JSON object per line, with the ids a line is about.

A line's ids come from `extra=` (`log.info("...", extra={"room_id": ...})`): `room_id`,
`player`, `command_id`, `command` (its type), `event` (what happened, e.g.
`room.recover`), `peer` (a connection's address) and `code` (a rejection's).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import IO, Any

ROOT = "liaptui"
"""The one logger hierarchy: liaptui.store, liaptui.lifecycle, liaptui.room, ..."""

IDS = ("event", "room_id", "player", "command_id", "command", "peer", "code")


class JsonLines(logging.Formatter):
    """A log record as one JSON object: time, level, logger, message, ids, error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in IDS:
            value = record.__dict__.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def log_json(stream: IO[str] | None = None, level: int = logging.INFO) -> logging.Handler:
    """Send the engine's logs (and the embedding program's under `liaptui.`) to `stream`
    (default stderr) as JSON lines; returns the handler, to remove it again."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLines())
    logger = logging.getLogger(ROOT)
    logger.addHandler(handler)
    logger.setLevel(level)
    # Not again through the root logger's handlers (thespian installs a plain-text one).
    logger.propagate = False
    return handler
