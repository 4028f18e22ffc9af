"""What a projection is: a named, versioned, pure fold of some event types into its own tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from engine.events import Event
from engine.store.records import RecordedEvent

SHADOW = "shadow_"
"""The table prefix a rebuild folds into while the live tables keep serving."""


class Cursor(Protocol):
    """What a statement gives back: rows, or for a write the count of rows it touched."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The part of `sqlite3.Connection` the folds and queries use; `PgConnection` gives
    the same over PostgreSQL (projections/postgres.py). SQL is written in what both accept,
    with `?` placeholders; a broken constraint raises `sqlite3.IntegrityError` on both."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Cursor: ...

    def close(self) -> None: ...


class Projection(Protocol):
    """A read model folded from the global event log.

    `apply` is a pure fold: it reads and writes only the projection's own tables (named
    `prefix + table` for each of `tables`) and never commits; the runner owns the
    transaction, in which it also writes the projection's checkpoint. `apply` raises
    (ideally `FoldError`) on an event that contradicts what it has folded so far; such a
    poison event stops this projection alone until an operator skips it.
    """

    @property
    def name(self) -> str:
        """Unique among the runner's projections; names its checkpoint."""
        ...

    @property
    def version(self) -> int:
        """Bumped whenever the fold or the tables change: a new version rebuilds on start."""
        ...

    @property
    def handles(self) -> frozenset[str]:
        """The event type tags it folds; other events are not even decoded for it."""
        ...

    @property
    def tables(self) -> tuple[str, ...]:
        """Its table names without prefix, all created by `schema`."""
        ...

    def schema(self, prefix: str) -> list[str]:
        """CREATE TABLE / CREATE INDEX statements; every table and index name starts with prefix."""
        ...

    def apply(
        self, conn: Connection, prefix: str, record: RecordedEvent, event: Event
    ) -> None:
        """Fold one event (already decoded from `record`) into the tables under `prefix`."""
        ...


class FoldError(Exception):
    """An event that a projection cannot fold because it contradicts the events before it."""


class ReadModelsDamaged(Exception):
    """The read-model file is not a readable SQLite database. It holds only what the event
    log rebuilds, so moving it aside (or deleting it) and starting again heals it."""

    code = "read_models_damaged"

    def __init__(self, path: str, cause: BaseException) -> None:
        super().__init__(
            f"read-model file {path} is damaged ({cause}); it holds only what the event log "
            "rebuilds: move it aside and start again to rebuild it"
        )
        self.path = path
        self.cause = cause


def expect_rows(cursor: Cursor, count: int, what: str) -> None:
    """Raise FoldError unless a write touched exactly `count` rows."""
    if cursor.rowcount != count:
        raise FoldError(f"{what}: expected {count} row(s), touched {cursor.rowcount}")
