"""The typed failures an event store reports."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every store failure: a stable `code` plus a human message."""

    code = "store_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConcurrencyConflict(StoreError):
    """An append whose expected version is not the stream's last version; nothing written."""

    code = "concurrency_conflict"

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(
            f"stream {stream_id!r}: expected version {expected_version}, "
            f"actual version {actual_version}"
        )
        self.stream_id = stream_id
        self.expected_version = expected_version
        self.actual_version = actual_version


class StreamArchived(ConcurrencyConflict):
    """An append to an archived stream, which takes no more events; nothing written."""

    code = "stream_archived"

    def __init__(self, stream_id: str, expected_version: int, actual_version: int) -> None:
        super().__init__(stream_id, expected_version, actual_version)
        self.message = f"stream {stream_id!r} is archived and takes no more events"
        self.args = (self.message,)


class CommandIdReused(ConcurrencyConflict):
    """An append under a command id the stream has already recorded for another command
    (a different `command_identity`); nothing written. A retry of the same command is
    answered with its original result instead."""

    code = "command_id_reused"

    def __init__(self, stream_id: str, command_id: str, expected_version: int, actual: int) -> None:
        super().__init__(stream_id, expected_version, actual)
        self.command_id = command_id
        self.message = (
            f"stream {stream_id!r}: command id {command_id!r} was recorded for another command"
        )
        self.args = (self.message,)


class StreamRetired(ConcurrencyConflict):
    """An append that would start a stream under the id of one retention forgot: an id is
    never given to a second stream, so the read models never take a new match for the
    one they already hold; nothing written."""

    code = "stream_retired"

    def __init__(self, stream_id: str, expected_version: int) -> None:
        super().__init__(stream_id, expected_version, 0)
        self.message = (
            f"stream {stream_id!r} was archived and forgotten by retention; its id is not reused"
        )
        self.args = (self.message,)


class OwnershipLost(ConcurrencyConflict):
    """An append from a cluster node that does not own the stream's room at its epoch now
    (the room moved, or the node's lease ran out); nothing written, and the command may be
    retried where the room lives now (docs/cluster.md, "Fencing")."""

    code = "ownership_lost"

    def __init__(self, stream_id: str, node_id: str, expected_version: int = 0) -> None:
        super().__init__(stream_id, expected_version, expected_version)
        self.node_id = node_id
        self.message = f"room {stream_id} is not owned by node {node_id!r} now; retry"
        self.args = (self.message,)


class StreamNotFound(StoreError):
    """An operation on a stream the store does not hold."""

    code = "stream_not_found"

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"stream {stream_id!r} not found")
        self.stream_id = stream_id


class OperationRefused(StoreError):
    """An operation the stream's current state (or, with no stream, the backend) does not
    allow; nothing written."""

    code = "operation_refused"

    def __init__(self, stream_id: str | None, what: str) -> None:
        super().__init__(f"{'store' if stream_id is None else f'stream {stream_id!r}'}: {what}")
        self.stream_id = stream_id
        self.what = what


class CorruptData(StoreError):
    """Stored bytes that fail their checksum or do not decode; names the stream and version."""

    code = "corrupt_data"

    def __init__(self, stream_id: str | None, version: int | None, what: str) -> None:
        where = "store" if stream_id is None else f"stream {stream_id!r}"
        if version is not None:
            where += f" version {version}"
        super().__init__(f"{where}: {what}")
        self.stream_id = stream_id
        self.version = version
        self.what = what


class BundlesMissing(CorruptData):
    """Archived streams whose bundles the archive file does not hold (a lost, replaced or
    older archive file): the global log cannot be read whole, so `read_all` refuses a page
    that could hold their events rather than leave those matches out of it."""

    code = "bundles_missing"

    def __init__(self, stream_ids: tuple[str, ...], archive_path: str) -> None:
        shown = ", ".join(repr(s) for s in stream_ids[:5])
        more = f" and {len(stream_ids) - 5} more" if len(stream_ids) > 5 else ""
        super().__init__(
            None,
            None,
            f"{len(stream_ids)} archived stream(s) have no bundle in {archive_path}: "
            f"{shown}{more}; restore that file from a backup, or give them up with "
            "forget_missing_bundles() (docs/operations.md)",
        )
        self.stream_ids = stream_ids
        self.archive_path = archive_path


class ArchiveOutOfStep(CorruptData):
    """The hot file and the archive file hold different events for the same streams: files
    from different moments that cannot both be right (one put back from a backup, or a
    lost write-ahead log). The open is refused and neither file is changed."""

    code = "archive_out_of_step"

    def __init__(self, stream_ids: tuple[str, ...], archive_path: str) -> None:
        shown = ", ".join(repr(s) for s in stream_ids[:5])
        more = f" and {len(stream_ids) - 5} more" if len(stream_ids) > 5 else ""
        super().__init__(
            None,
            None,
            f"{len(stream_ids)} stream(s) differ between the store and {archive_path}: "
            f"{shown}{more}; put back both files from the same backup (docs/operations.md)",
        )
        self.stream_ids = stream_ids
        self.archive_path = archive_path


class StoreUnavailable(StoreError):
    """An I/O level failure (disk full, busy past timeout, I/O error); nothing half-written."""

    code = "store_unavailable"

    def __init__(self, cause: BaseException | str) -> None:
        super().__init__(f"store unavailable: {cause}")
        self.cause = cause


class BadStoreUrl(StoreError):
    """A store URL no backend accepts, or a backend that cannot be loaded; nothing opened."""

    code = "bad_store_url"

    def __init__(self, url: str, what: str) -> None:
        super().__init__(f"store URL {url!r}: {what}")
        self.url = url
        self.what = what


class StoreNotFound(StoreError):
    """A read-only open of a store that does not exist; nothing created."""

    code = "store_not_found"

    def __init__(self, where: str) -> None:
        super().__init__(f"store not found: {where}")
        self.where = where
