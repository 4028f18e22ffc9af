"""Suite-wide guard: a run must end when its tests end.

A thread that is not a daemon and never stops (an engine or store left open by a test that
failed or timed out) would keep the interpreter alive after the last test, and CI would wait
for it until its own deadline. After the session, such threads are named on stderr and the
process ends at once with the session's own status.
"""

from __future__ import annotations

import os
import sys
import threading

import pytest

pytest_plugins = ["tests.pg"]

_GRACE_S = 5.0


def _lingering() -> list[threading.Thread]:
    return [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    lingering = _lingering()
    for thread in lingering:
        thread.join(_GRACE_S / max(len(lingering), 1))
    lingering = _lingering()
    if not lingering:
        return
    names = ", ".join(thread.name for thread in lingering)
    print(f"\nthreads still running after the tests: {names}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(int(getattr(config, "_liaptui_status", 1)))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    session.config._liaptui_status = exitstatus  # type: ignore[attr-defined]
