"""Messages handed straight to an actor's `receiveMessage`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class DirectReceive:
    """A thespian actor whose messages reach `receiveMessage` without thespian's wrapper.

    `simpleSystemBase` sets each actor's `_receive` to `actor_base_receive`, which calls
    `logging.getLogger("Thespian").debug(...)` before every message: a lookup under the
    logging module's lock and a level check for a line that is off unless DEBUG logging
    is enabled for "Thespian". A property on the class takes precedence over the instance
    attribute thespian sets, so thespian runs unpatched and calls `receiveMessage` itself;
    only that debug line is gone. In a chain of self-sends on simpleSystemBase a message
    costs ~0.7x (docs/performance.md).
    """

    @property
    def _receive(self) -> Callable[[Any, Any], None]:
        handler: Callable[[Any, Any], None] = getattr(self, "receiveMessage")  # noqa: B009
        return handler

    @_receive.setter
    def _receive(self, wrapper: object) -> None:
        del wrapper  # thespian's logging wrapper is not kept
