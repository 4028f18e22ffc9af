"""An actor that answers every text with itself: the floor of a thespian round trip."""

from __future__ import annotations

from typing import Any

from thespian.actors import Actor


class Echo(Actor):  # type: ignore[misc]
    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, str):
            self.send(sender, msg)
