"""Actors with DirectReceive get their messages from thespian without its wrapper."""

from __future__ import annotations

import logging
from typing import Any

from thespian.actors import Actor, ActorSystem

from actors.receive import DirectReceive


class Echo(Actor):  # type: ignore[misc]
    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, str):
            self.send(sender, msg)


class DirectEcho(DirectReceive, Echo):
    pass


def received_by(records: list[logging.LogRecord], actor_class: type) -> list[logging.LogRecord]:
    """The wrapper's lines for messages that an actor of `actor_class` received."""
    return [
        r
        for r in records
        if "got message" in str(r.msg)
        and isinstance(r.args, tuple)
        and r.args
        and isinstance(r.args[0], actor_class)
    ]


def test_a_direct_receive_actor_gets_its_messages_past_thespians_wrapper() -> None:
    # thespian's wrapper logs every message it hands on at DEBUG ("... got message ...").
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[assignment]
    system = ActorSystem("simpleSystemBase", transientUnique=True)
    thespian_log = logging.getLogger("Thespian")
    level = thespian_log.level
    thespian_log.setLevel(logging.DEBUG)
    thespian_log.addHandler(handler)
    try:
        plain, direct = system.createActor(Echo), system.createActor(DirectEcho)
        assert system.ask(plain, "plain", 2) == "plain"
        assert received_by(seen, Echo), "thespian's wrapper no longer logs: this test sees nothing"
        seen.clear()
        assert system.ask(direct, "direct", 2) == "direct"
        assert not received_by(seen, DirectEcho)
    finally:
        thespian_log.removeHandler(handler)
        thespian_log.setLevel(level)
        system.shutdown()
