"""The event store: append-only streams with a global order, snapshots and an archive."""

from engine.store.bundle import BundleHeader
from engine.store.errors import (
    ArchiveOutOfStep,
    BadStoreUrl,
    BundlesMissing,
    CommandIdReused,
    ConcurrencyConflict,
    CorruptData,
    OperationRefused,
    OwnershipLost,
    StoreError,
    StoreNotFound,
    StoreUnavailable,
    StreamArchived,
    StreamNotFound,
    StreamRetired,
)
from engine.store.memory import MemoryEventStore
from engine.store.protocol import Archiving, Backups, EventLog, EventStore, InlineCommits, Snapshots
from engine.store.records import (
    AppendRequest,
    AppendResult,
    NewEvent,
    RecordedCommand,
    RecordedEvent,
    Snapshot,
    StreamInfo,
    StreamStatus,
)
from engine.store.sqlite import SqliteEventStore
from engine.store.sqlite.migration import MigrationReport, migrate_store
from engine.store.url import backend_of, open_store

__all__ = [
    "AppendRequest",
    "AppendResult",
    "ArchiveOutOfStep",
    "Archiving",
    "Backups",
    "BadStoreUrl",
    "BundleHeader",
    "BundlesMissing",
    "ConcurrencyConflict",
    "CorruptData",
    "EventLog",
    "EventStore",
    "InlineCommits",
    "MemoryEventStore",
    "MigrationReport",
    "NewEvent",
    "OperationRefused",
    "OwnershipLost",
    "RecordedCommand",
    "RecordedEvent",
    "Snapshot",
    "Snapshots",
    "SqliteEventStore",
    "StoreError",
    "StoreNotFound",
    "StoreUnavailable",
    "CommandIdReused",
    "StreamArchived",
    "StreamInfo",
    "StreamNotFound",
    "StreamRetired",
    "StreamStatus",
    "backend_of",
    "migrate_store",
    "open_store",
]
