"""Small supervisor-side actors: the snapshot relay and the archive scheduler.

Neither writes: the relay passes room states on to be saved, the scheduler decides when a
finished match is archived; the driver, which owns the store, does the I/O.
"""

from __future__ import annotations

from typing import Any

from thespian.actors import Actor

from actors.messages import ArchiveLater, MatchOver, SaveSnapshot, ServiceInit


class SnapshotRelay(Actor):  # type: ignore[misc]
    """Receives room states every N events (and on passivation) and has them saved."""

    def __init__(self) -> None:
        super().__init__()
        self.driver: Any = None
        self.saved = 0

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, ServiceInit):
            self.driver = msg.driver
        elif isinstance(msg, SaveSnapshot):
            self.saved += 1
            self.send(self.driver, msg)


class ArchiveScheduler(Actor):  # type: ignore[misc]
    """Learns that matches are over and has them archived after the configured delay."""

    def __init__(self) -> None:
        super().__init__()
        self.driver: Any = None
        self.delay: float | None = None

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, ServiceInit):
            self.driver = msg.driver
            self.delay = msg.config.archive_after
        elif isinstance(msg, MatchOver):
            at = None if self.delay is None else msg.at + self.delay
            self.send(self.driver, ArchiveLater(msg.room_id, at))
