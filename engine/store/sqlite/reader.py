"""Reads of the global log on connections of their own, hot rows and bundles merged."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from functools import partial
from typing import cast

from engine.store.records import RecordedEvent
from engine.store.sqlite.archive import Archive
from engine.store.sqlite.connection import connect_reader, guarded
from engine.store.sqlite.schema import EVENT_COLUMNS, events_from_rows, read_transaction


class StoreReader:
    """`read_all` and `last_position` of a store on connections of their own.

    The store reads the global log through one on its database thread, without the lock
    of the connection that commits (see `SqliteEventStore._read_log`); a tool may use
    another on a thread of its own. One thread uses it at a time; the connections open
    on first use. Each page is read inside one read transaction of each file, so a
    stream archived meanwhile (by another process) is seen hot or archived, never both
    and never neither (the bundle commits before the hot rows go).
    """

    def __init__(self, path: str, archive_path: str) -> None:
        self._path = path
        self._archive_path = archive_path
        self._archive: Archive | None = None

    def read_all(
        self, from_position: int = 0, limit: int = 1000, *, types: Collection[str] | None = None
    ) -> list[RecordedEvent]:
        """Up to `limit` events with position > from_position, archived ones merged in
        (only those of `types`, when given)."""
        if limit <= 0:
            raise ValueError("limit must be positive")
        return guarded(partial(self._page, from_position, limit, types))

    def last_position(self) -> int:
        """The global position of the newest event ever appended (0 when empty)."""
        return guarded(lambda: head_position(self._open().hot))

    def close(self) -> None:
        if self._archive is not None:
            archive, self._archive = self._archive, None
            archive.hot.close()
            archive.db.close()

    def _page(
        self, from_position: int, limit: int, types: Collection[str] | None
    ) -> list[RecordedEvent]:
        archive = self._open()
        with read_transaction(archive.hot), read_transaction(archive.db):
            return read_page(archive, from_position, limit, types)

    def _open(self) -> Archive:
        if self._archive is None:
            hot = connect_reader(self._path)
            try:
                self._archive = Archive(hot, connect_reader(self._archive_path))
            except BaseException:
                hot.close()
                raise
        return self._archive


def read_page(
    archive: Archive, from_position: int, limit: int, types: Collection[str] | None = None
) -> list[RecordedEvent]:
    if types is None:
        rows = archive.hot.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?",
            (from_position, limit),
        )
    else:
        wanted = sorted(types)
        rows = archive.hot.execute(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE position > ? "
            f"AND type IN ({', '.join('?' * len(wanted))}) ORDER BY position LIMIT ?",
            (from_position, *wanted, limit),
        )
    return archive.merge_into(events_from_rows(rows), from_position, limit, types)


def head_position(hot: sqlite3.Connection) -> int:
    return cast(int, hot.execute("SELECT last_position FROM head").fetchone()[0])
