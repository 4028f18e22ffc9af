"""The embedded backend: an event store in two SQLite files (hot streams, archived bundles).

By job: `store` (the EventStore itself), `archive` (bundles in the archive file),
`reader` (the global log on connections of its own), `backup` (both files as of one
moment), `checkpoint` (the WAL checkpointer thread), `connection` (connections and
SQLite's failures as the store's errors), `schema` (tables and row codecs),
`migration` (offline rewriting of old-schema rows).
"""

from engine.store.sqlite.connection import (
    Synchronous,
    connect_daemon,
    default_archive_path,
    is_damaged_file,
)
from engine.store.sqlite.reader import StoreReader
from engine.store.sqlite.store import ArchiveStep, SqliteEventStore

__all__ = [
    "ArchiveStep",
    "SqliteEventStore",
    "StoreReader",
    "Synchronous",
    "connect_daemon",
    "default_archive_path",
    "is_damaged_file",
]
