"""The SQLite archive file's bundles and the moves of streams between it and the hot file."""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Collection, Sequence
from contextlib import suppress

from engine.store.bundle import (
    Bundle,
    BundleCache,
    BundleHeader,
    decode_bundle,
    decode_stored,
    encode_bundle,
)
from engine.store.errors import ConcurrencyConflict, CorruptData, OperationRefused, StreamNotFound
from engine.store.records import RecordedEvent, check_contiguous
from engine.store.sqlite.schema import (
    EVENT_COLUMNS,
    chunks,
    events_from_rows,
    placeholders,
    write_transaction,
)

log = logging.getLogger("liaptui.store")


class Archive:
    """The archive file's bundles and the moves of streams between it and the hot store."""

    # Every method runs on the store's database thread, which owns both connections.

    def __init__(self, hot: sqlite3.Connection, archive: sqlite3.Connection) -> None:
        self.hot = hot
        self.db = archive
        self.cache = BundleCache()

    # -- reading ---------------------------------------------------------------

    def bundle_events(self, stream_id: str) -> list[RecordedEvent] | None:
        """Return an archived stream's events from its bundle, or None without one."""
        events = self.cache.get(stream_id)
        if events is not None:
            return events
        row = self.db.execute(
            "SELECT header, body FROM bundles WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if row is None:
            return None
        _, events = decode_stored(stream_id, row[0], row[1])
        self.cache.put(stream_id, events)
        return events

    def read_stream(self, stream_id: str, last_version: int) -> list[RecordedEvent]:
        """Return an archived stream's whole event list, checked against its last version."""
        events = self.bundle_events(stream_id)
        if events is None:
            raise CorruptData(stream_id, None, "archived stream has no bundle in the archive")
        check_contiguous(stream_id, events, 1, last_version)
        return events

    def merge_into(
        self,
        hot: list[RecordedEvent],
        from_position: int,
        limit: int,
        types: Collection[str] | None = None,
    ) -> list[RecordedEvent]:
        """Merge archived streams' events (of `types`, when given) into a read_all page of
        hot events, by position."""
        page = hot
        candidates = self.db.execute(
            "SELECT stream_id, first_position FROM bundles WHERE last_position > ? "
            "ORDER BY first_position",
            (from_position,),
        ).fetchall()
        for stream_id, first_position in candidates:
            bound = page[limit - 1].position if len(page) >= limit else None
            if bound is not None and first_position > bound:
                break
            # A bundle counts only once its stream's hot rows are gone (status archived);
            # before that the hot rows are the truth, so nothing is read twice.
            row = self.hot.execute(
                "SELECT status, last_version FROM streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
            if row is None or row[0] != "archived":
                continue
            events = self.read_stream(stream_id, row[1])
            extra = [
                e
                for e in events
                if e.position > from_position
                and (bound is None or e.position <= bound)
                and (types is None or e.type in types)
            ]
            if extra:
                page = sorted(page + extra, key=_position)[:limit]
        for earlier, later in zip(page, page[1:], strict=False):
            if earlier.position >= later.position:
                raise CorruptData(later.stream_id, later.version, "global position used twice")
        return page

    # -- archiving a stream ----------------------------------------------------

    def build(self, stream_id: str, now: float) -> Bundle | None:
        """Step 1: bundle a completed stream's hot rows (None if archived already), checked."""
        row = self.hot.execute(
            "SELECT status, last_version FROM streams WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if row is None:
            raise StreamNotFound(stream_id)
        if row[0] == "archived":
            return None
        if row[0] != "completed":
            raise OperationRefused(stream_id, f"only a completed stream is archived, not {row[0]}")
        events = self.hot_events(stream_id, row[1])
        bundle = encode_bundle(events, now)
        _, decoded = decode_bundle(bundle.header_bytes, bundle.body)
        if decoded != events:
            raise CorruptData(stream_id, None, "bundle does not decode to the stream's events")
        return bundle

    def hot_events(self, stream_id: str, last_version: int) -> list[RecordedEvent]:
        """Read a stream's hot rows in full, checked."""
        events = events_from_rows(
            self.hot.execute(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ? ORDER BY version",
                (stream_id,),
            )
        )
        check_contiguous(stream_id, events, 1, last_version)
        return events

    def store(self, bundle: Bundle, now: float) -> None:
        """Step 2: write a bundle into the archive file and commit it there."""
        header = bundle.header
        self.cache.forget(header.stream_id)
        with write_transaction(self.db):
            self.db.execute(
                "INSERT OR REPLACE INTO bundles (stream_id, first_position, last_position, "
                "header, body, archived_at) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    header.stream_id,
                    header.first_position,
                    header.last_position,
                    bundle.header_bytes,
                    bundle.body,
                    now,
                ),
            )

    def finish(
        self, header: BundleHeader, now: float, expected: tuple[str, int] = ("completed", 0)
    ) -> None:
        """Step 3: in one hot transaction, mark the stream archived and drop its hot rows.

        `expected`: the status and last version the stream had when it was bundled (the
        last version defaults to the bundle's); any other means it moved on since.
        """
        stream_id = header.stream_id
        expected_status, expected_version = expected[0], expected[1] or header.last_version
        with write_transaction(self.hot):
            row = self.hot.execute(
                "SELECT status, last_version FROM streams WHERE stream_id = ?", (stream_id,)
            ).fetchone()
            actual = 0 if row is None else row[1]
            if row is not None and row[0] == "archived" and actual == header.last_version:
                # Another opener's recovery finished this archival already.
                return
            stale = row is None or (row[0], actual) != (expected_status, expected_version)
            if not stale:
                self.hot.execute(
                    "UPDATE streams SET status = 'archived', last_version = ?, updated_at = ? "
                    "WHERE stream_id = ?",
                    (header.last_version, now, stream_id),
                )
                self.hot.execute("DELETE FROM events WHERE stream_id = ?", (stream_id,))
                self.hot.execute("DELETE FROM snapshots WHERE stream_id = ?", (stream_id,))
                self.hot.execute(
                    "UPDATE head SET last_position = max(last_position, ?)",
                    (header.last_position,),
                )
        if stale:
            # The stream moved on after it was bundled: the hot rows stay the truth.
            if row is not None and actual >= header.last_version:
                self.delete(stream_id)
            raise ConcurrencyConflict(stream_id, expected_version, actual)

    def delete(self, stream_id: str) -> None:
        """Remove a stream's bundle from the archive file."""
        self.cache.forget(stream_id)
        with write_transaction(self.db):
            self.db.execute("DELETE FROM bundles WHERE stream_id = ?", (stream_id,))

    def stored(self, stream_id: str) -> Bundle | None:
        """Return a stream's stored bundle, checked, or None without one."""
        row = self.db.execute(
            "SELECT header, body FROM bundles WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if row is None:
            return None
        header, _ = decode_stored(stream_id, row[0], row[1])
        return Bundle(header, row[0], row[1])

    # -- recovery, retention, import ----------------------------------------------

    def recover(self, now: float) -> tuple[str, ...]:
        """Finish or undo whatever an interrupted archival, import or retention left, and
        keep the bundles of a hot file put back from an earlier moment. Returns the
        streams whose hot rows and bundle disagree (files from different moments), left
        untouched: the caller refuses the open."""
        out_of_step: list[str] = []
        bundle_ids = [r[0] for r in self.db.execute("SELECT stream_id FROM bundles")]
        for group in chunks(bundle_ids):
            statuses = dict(
                self.hot.execute(
                    "SELECT stream_id, status FROM streams "
                    f"WHERE stream_id IN ({placeholders(len(group))})",
                    group,
                ).fetchall()
            )
            for stream_id in group:
                if statuses.get(stream_id) != "archived" and not self._recover_one(stream_id, now):
                    out_of_step.append(stream_id)
        top = self.db.execute("SELECT max(last_position) FROM bundles").fetchone()[0]
        if top is not None:
            with write_transaction(self.hot):
                self.hot.execute("UPDATE head SET last_position = max(last_position, ?)", (top,))
        return tuple(sorted(out_of_step))

    def _recover_one(self, stream_id: str, now: float) -> bool:
        """Settle a bundle whose stream is not marked archived; False when the hot rows and
        the bundle hold different events (neither is deleted then)."""
        row = self.db.execute(
            "SELECT header, body FROM bundles WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if row is None:
            return True
        try:
            header, events = decode_bundle(row[0], row[1])
        except CorruptData:
            header = None
        info = self.hot.execute(
            "SELECT status, last_version FROM streams WHERE stream_id = ?", (stream_id,)
        ).fetchone()
        if header is None or header.stream_id != stream_id:
            if info is not None:
                # The hot rows are intact, so a bad half-made bundle can simply go.
                self.delete(stream_id)
            return True
        if info is None:
            # An import (or a retention pass) stopped after touching only the archive.
            self._insert_archived_stream(header, now)
            return True
        status, last_version = info
        try:
            hot = self.hot_events(stream_id, last_version)
        except CorruptData:
            # The bundle may be the only good copy left: keep both for a person to look at.
            log.warning("stream %r: damaged hot rows beside its bundle; left as is", stream_id)
            return True
        if events[: len(hot)] == hot:
            if status != "completed" or len(events) > len(hot):
                # Only a hot file from before the archival (a backup put back) gets here:
                # the bundle is the newer copy, and it may be the only one.
                log.warning(
                    "stream %r: the hot file holds %d of its bundle's %d events (put back "
                    "from an earlier moment); the bundle is kept",
                    stream_id,
                    len(hot),
                    len(events),
                )
            # finish re-checks inside its transaction, in case another writer appended
            # meanwhile; then the bundle is stale and goes.
            with suppress(ConcurrencyConflict):
                self.finish(header, now, expected=(status, last_version))
            return True
        if hot[: len(events)] == events or _migrated_since(events, hot):
            # The stream moved on after it was bundled (more events, or its rows rewritten at
            # a later schema version by a migration): every bundled event is hot too.
            self.delete(stream_id)
            return True
        log.error("stream %r: the hot rows and the bundle hold different events", stream_id)
        return False

    def _insert_archived_stream(self, header: BundleHeader, now: float) -> None:
        with write_transaction(self.hot):
            self.hot.execute(
                "INSERT INTO streams (stream_id, status, last_version, created_at, updated_at) "
                "VALUES (?, 'archived', ?, ?, ?)",
                (header.stream_id, header.last_version, header.created_at, now),
            )
            self.hot.execute(
                "UPDATE head SET last_position = max(last_position, ?)",
                (header.last_position,),
            )

    def missing_bundles(self) -> tuple[str, ...]:
        """Streams the hot store marks archived whose bundle is not in the archive file.

        Archival commits the bundle before the hot rows go, and retention removes the hot
        rows before the bundle, so no crash leaves one: only a lost or replaced file does.
        """
        bundled = {r[0] for r in self.db.execute("SELECT stream_id FROM bundles")}
        archived = self.hot.execute(
            "SELECT stream_id FROM streams WHERE status = 'archived' ORDER BY stream_id"
        )
        return tuple(r[0] for r in archived if r[0] not in bundled)

    def reach_of(self, stream_ids: Sequence[str]) -> float:
        """The global position of the last event among `stream_ids`, read from the commands
        rows an archived stream keeps (the one that wrote its last version); infinity when
        a stream has no such row to say (events appended without a command, an import)."""
        reach = 0.0
        for group in chunks(list(stream_ids)):
            last = dict(
                self.hot.execute(
                    "SELECT c.stream_id, c.last_position FROM commands AS c "
                    "JOIN streams AS s ON s.stream_id = c.stream_id "
                    f"WHERE c.stream_id IN ({placeholders(len(group))}) "
                    "AND c.last_version = s.last_version",
                    group,
                ).fetchall()
            )
            if len(last) < len(group):
                return math.inf
            reach = max(reach, *last.values())
        return reach

    def forget_missing(self, now: float) -> list[str]:
        """Remove the hot rows of archived streams that have no bundle; their ids."""
        with write_transaction(self.hot):
            return self._forget_hot(list(self.missing_bundles()), now)

    def _forget_hot(self, stream_ids: list[str], now: float) -> list[str]:
        """Delete the hot rows (stream, commands, snapshots) of those of `stream_ids` that
        are archived, and keep their ids as retired, inside the caller's transaction; the
        ids whose rows went."""
        gone: list[str] = []
        for group in chunks(stream_ids):
            marks = placeholders(len(group))
            gone += [
                r[0]
                for r in self.hot.execute(
                    f"DELETE FROM streams WHERE stream_id IN ({marks}) "
                    "AND status = 'archived' RETURNING stream_id",
                    group,
                )
            ]
            for table in ("commands", "snapshots"):
                self.hot.execute(
                    f"DELETE FROM {table} WHERE stream_id IN ({marks}) "
                    "AND stream_id NOT IN (SELECT stream_id FROM streams)",
                    group,
                )
        self.hot.executemany(
            "INSERT OR IGNORE INTO retired_streams VALUES (?, ?)",
            [(stream_id, now) for stream_id in gone],
        )
        return gone

    def expire(self, cutoff: float, now: float) -> list[str]:
        """Forget archived streams whose bundles were archived before `cutoff`."""
        expired = [
            r[0]
            for r in self.db.execute(
                "SELECT stream_id FROM bundles WHERE archived_at < ? ORDER BY stream_id",
                (cutoff,),
            )
        ]
        # Hot rows go first: a crash before the bundles go leaves bundles without a
        # stream row, which recovery turns back into readable archived streams.
        with write_transaction(self.hot):
            gone = self._forget_hot(expired, now)
        with write_transaction(self.db):
            for group in chunks(gone):
                self.db.execute(
                    f"DELETE FROM bundles WHERE stream_id IN ({placeholders(len(group))})",
                    group,
                )
        for stream_id in gone:
            self.cache.forget(stream_id)
        return sorted(gone)

    def import_bundle(self, header_bytes: bytes, body: bytes, now: float) -> str:
        """Add a bundle from elsewhere as an archived stream, if nothing here collides."""
        header, events = decode_bundle(header_bytes, body)
        stream_id = header.stream_id
        if header.first_version != 1:
            raise CorruptData(stream_id, None, "bundle does not start at version 1")
        exists = (
            self.hot.execute("SELECT 1 FROM streams WHERE stream_id = ?", (stream_id,)).fetchone()
            or self.db.execute("SELECT 1 FROM bundles WHERE stream_id = ?", (stream_id,)).fetchone()
        )
        if exists:
            raise OperationRefused(stream_id, "a stream with this id already exists here")
        self._check_positions_free(stream_id, [e.position for e in events], header)
        self.store(Bundle(header, header_bytes, body), now)
        self._insert_archived_stream(header, now)
        return stream_id

    def _check_positions_free(
        self, stream_id: str, positions: list[int], header: BundleHeader
    ) -> None:
        wanted = set(positions)
        for group in chunks(positions):
            clash = self.hot.execute(
                f"SELECT position FROM events WHERE position IN ({placeholders(len(group))}) "
                "LIMIT 1",
                group,
            ).fetchone()
            if clash is not None:
                raise OperationRefused(stream_id, f"position {clash[0]} is already used here")
        overlapping = self.db.execute(
            "SELECT stream_id FROM bundles WHERE last_position >= ? AND first_position <= ?",
            (header.first_position, header.last_position),
        ).fetchall()
        for (other,) in overlapping:
            for event in self.bundle_events(other) or []:
                if event.position in wanted:
                    raise OperationRefused(
                        stream_id, f"position {event.position} is already used here"
                    )


def _position(event: RecordedEvent) -> int:
    return event.position


def _migrated_since(bundled: list[RecordedEvent], hot: list[RecordedEvent]) -> bool:
    """Whether the hot rows are the bundled events rewritten by a migration: the same events
    (version, position, type, recording time), each at the same or a later schema version,
    and none whose data changed without its schema version rising."""
    if len(hot) < len(bundled):
        return False
    for old, new in zip(bundled, hot, strict=False):
        if (old.version, old.position, old.type, old.recorded_at) != (
            new.version,
            new.position,
            new.type,
            new.recorded_at,
        ):
            return False
        if new.schema_version < old.schema_version:
            return False
        if new.schema_version == old.schema_version and new.data != old.data:
            return False
    return True
