"""Write-ahead-log checkpoints on a thread of their own, off the commit path.

SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold (1,000
pages by default): that commit copies the log into the database file and syncs it, which
stalls every command waiting on it for tens of milliseconds (with 1,000 live rooms at a
light load the commit p99 is ~4 ms with the checkpoint off the writer, 18-20 ms on it;
docs/performance.md). Here a daemon thread with its own connection runs a
PASSIVE checkpoint, which never blocks the writer, every `interval` seconds (one with
nothing new to copy costs a few microseconds and no sync). The writer keeps a far larger
automatic threshold only as a backstop, so the log stays bounded even if this thread
falls behind.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import urllib.parse
from collections.abc import Callable

log = logging.getLogger("liaptui.store")

WRITER_BACKSTOP_PAGES = 16384  # the writer checkpoints itself only past about 64 MiB
INTERVAL_S = 0.2


class Checkpointer:
    """Copies the write-ahead log into the database file in the background."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        writer_alive: Callable[[], bool],
        *,
        interval: float = INTERVAL_S,
    ) -> None:
        self._path = os.fspath(path)
        # mode=rw: a database file that is gone is never created again from here.
        self._uri = "file:" + urllib.parse.quote(os.path.abspath(self._path)) + "?mode=rw"
        self._writer_alive = writer_alive
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="liaptui-checkpoint", daemon=True)
        self.checkpoints = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            # The thread ends with its store: closed, or abandoned by a writer that stopped.
            while not self._stop.wait(self._interval) and self._writer_alive():
                try:
                    if conn is None:
                        conn = sqlite3.connect(self._uri, uri=True, isolation_level=None, timeout=0)
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:
                    # A full disk or a busy file: the log keeps growing and the writer's own
                    # backstop checkpoint still bounds it; try again on the next round.
                    self.failures += 1
                    log.warning("background checkpoint of %s failed: %s", self._path, exc)
                    if conn is not None:
                        conn.close()
                        conn = None
        finally:
            if conn is not None:
                conn.close()
