"""A running store's two files copied as of one moment."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from engine.store.sqlite.connection import connect_reader


def copy_snapshots(copies: Sequence[tuple[sqlite3.Connection, Path]]) -> None:
    """Copy each reader's snapshot into a file beside its target, then rename them all (the
    hot file last: until it is in place there is no backup to open)."""
    partials = [final.with_name(final.name + ".partial") for _, final in copies]
    made: list[Path] = []
    try:
        for (reader, _), partial_path in zip(copies, partials, strict=True):
            partial_path.unlink(missing_ok=True)
            made.append(partial_path)
            destination = sqlite3.connect(partial_path)
            try:
                reader.backup(destination)
            finally:
                destination.close()
    except BaseException:
        # A failed backup leaves nothing behind: no half copy to mistake for a backup.
        for partial_path in made:
            partial_path.unlink(missing_ok=True)
        raise
    for (_, final), partial_path in reversed(list(zip(copies, partials, strict=True))):
        os.replace(partial_path, final)


def begin_snapshots(paths: Sequence[str]) -> list[sqlite3.Connection]:
    """A read transaction on each file, begun while the caller holds off every store job."""
    readers: list[sqlite3.Connection] = []
    try:
        for path in paths:
            reader = connect_reader(path)
            readers.append(reader)
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot
    except BaseException:
        for reader in readers:
            reader.close()
        raise
    return readers
