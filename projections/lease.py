"""The fold lease: which one of the runners sharing read models folds them.

Any number of engine processes may open the same read models and answer queries from
them; exactly one at a time folds. Folding takes the lease; the others stand by, and the
first to find the lease free when its holder is gone takes over. The lease dies with its
holder's process (the kernel drops a file lock, the server an advisory lock), so a
SIGKILLed holder never blocks the others.

The lease decides who folds; it is not what keeps folding correct. Each fold transaction
also checks that the stored checkpoints are the ones the runner folded from
(`database.CheckpointMoved`), so even two holders could never apply an event twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Protocol


class FoldLease(Protocol):
    """Taken and let go on the runner's database thread."""

    def try_acquire(self) -> bool:
        """Take the lease if it is free (True), or report that another runner holds it."""
        ...

    def holder(self) -> str:
        """Who holds the lease, as far as it can tell, for status and logs."""
        ...

    def release(self) -> None: ...


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock file beside a read-model file: games.db.projections.db.lock."""
    return Path(f"{os.fspath(path)}.lock")


class FileLease:
    """An exclusive `flock` on the lock file beside the read-model file.

    The lock file holds the holder's pid, for the reports of the runners that stand by.
    It is never deleted: deleting it would let a second holder lock a new file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = lock_path(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return True

    def holder(self) -> str:
        if self._fd is not None:
            return f"this process (pid {os.getpid()})"
        with contextlib.suppress(OSError, ValueError):
            pid = int(self.path.read_text(encoding="ascii").strip())
            return f"process {pid}"
        return "another process"

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the descriptor drops the lock
