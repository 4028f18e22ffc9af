"""How the tool reports trouble: one line on stderr, prefixed with the program name."""

from __future__ import annotations

import sys

PROG = "replay-tool"


class ToolError(Exception):
    """Something the user asked for cannot be done: a missing file, an unknown room, bad input.

    Reported as `replay-tool: error: <message>` with exit code 2.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def warn(message: str) -> None:
    """Tell the user about a problem that does not stop the command."""
    print(f"{PROG}: warning: {message}", file=sys.stderr)
