"""The journal actor: group commit of every room's appends.

Appends that arrive while commits are in flight wait and go into the next single
transaction. Up to `commit_pipeline` batches may be in flight, so that the next batch is
already committing on the database thread while the rooms digest the previous outcome.
The driver performs the commit (aiosqlite) and tells the journal the outcome, which the
journal passes to each room. A room has at most one append outstanding, so pipelined
batches never hold two appends of one stream.
"""

from __future__ import annotations

from typing import Any

from thespian.actors import Actor

from actors.messages import Append, AppendFailed, Durable, Flush, Flushed, ServiceInit
from engine.store.errors import ConcurrencyConflict


class Journal(Actor):  # type: ignore[misc]
    """Collects appends from rooms; at most one batch is being committed at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.driver: Any = None
        self.group_commit = True
        self.pending: list[tuple[Append, Any]] = []
        self.in_flight = 0
        self.pipeline = 1
        self.batch = 0
        self.senders: dict[int, Any] = {}

    def receiveMessage(self, msg: Any, sender: Any) -> None:
        if isinstance(msg, Append):
            self.pending.append((msg, sender))
            if self.in_flight < self.pipeline:
                self._flush()
        elif isinstance(msg, Flushed):
            self._settle(msg)
        elif isinstance(msg, ServiceInit):
            self.driver = msg.driver
            self.group_commit = msg.config.group_commit
            self.pipeline = msg.config.commit_pipeline if self.group_commit else 1

    def _flush(self) -> None:
        if not self.pending:
            return
        if self.group_commit:
            take, self.pending = self.pending, []
        else:
            take, self.pending = self.pending[:1], self.pending[1:]
        self.batch += 1
        self.in_flight += 1
        self.senders.update({id(a): s for a, s in take})
        self.send(self.driver, Flush(self.batch, [a for a, _ in take]))

    def _settle(self, msg: Flushed) -> None:
        for append, outcome in msg.outcomes:
            room = self.senders.pop(id(append))
            if isinstance(outcome, ConcurrencyConflict):
                self.send(room, AppendFailed(True, str(outcome)))
            elif isinstance(outcome, Exception):
                self.send(room, AppendFailed(False, str(outcome)))
            else:
                result, original, now = outcome
                self.send(room, Durable(result, original, now))
        if msg.last:
            self.in_flight -= 1
            self._flush()
