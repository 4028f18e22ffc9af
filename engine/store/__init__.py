"""The event store: append-only streams with a global order, snapshots and an archive."""

from engine.store.archive import BundleHeader
from engine.store.errors import (
    BundlesMissing,
    ConcurrencyConflict,
    CorruptData,
    OperationRefused,
    StoreError,
    StoreUnavailable,
    StreamArchived,
    StreamNotFound,
)
from engine.store.memory import MemoryEventStore
from engine.store.migration import MigrationReport, migrate_store
from engine.store.protocol import EventStore
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

__all__ = [
    "AppendRequest",
    "AppendResult",
    "BundleHeader",
    "BundlesMissing",
    "ConcurrencyConflict",
    "CorruptData",
    "EventStore",
    "MemoryEventStore",
    "MigrationReport",
    "NewEvent",
    "OperationRefused",
    "RecordedCommand",
    "RecordedEvent",
    "Snapshot",
    "SqliteEventStore",
    "StoreError",
    "StoreUnavailable",
    "StreamArchived",
    "StreamInfo",
    "StreamNotFound",
    "StreamStatus",
    "migrate_store",
]
