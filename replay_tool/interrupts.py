"""Ctrl-C at the stepper's prompt quits at once, however it lands.

CPython's readline draws the prompt and then blocks in `select()` on the terminal; it looks for
a pending signal only when that `select()` is interrupted. A SIGINT that arrives after the prompt
is drawn but before `select()` starts (or one the kernel hands to another thread) is therefore
noticed only at the next key press. A watcher thread, woken through the signal wakeup fd, sends
SIGINT to the main thread again until the prompt has raised KeyboardInterrupt.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType

RESEND_EVERY = 0.05  # seconds between repeats while the prompt has not yet noticed


@contextlib.contextmanager
def ctrl_c_interrupts_the_prompt() -> Iterator[None]:
    """Within the block, the first SIGINT raises KeyboardInterrupt in the main thread promptly;
    later ones are ignored (the prompt is already quitting)."""
    noticed = threading.Event()
    finished = threading.Event()
    main_thread = threading.main_thread().ident
    assert main_thread is not None

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if noticed.is_set():
            return
        noticed.set()
        raise KeyboardInterrupt

    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)

    def watch() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # let main take the signal
        while data := os.read(read_end, 64):
            if signal.SIGINT in data:
                while not noticed.is_set() and not finished.wait(RESEND_EVERY):
                    signal.pthread_kill(main_thread, signal.SIGINT)

    previous_handler = signal.signal(signal.SIGINT, on_sigint)
    previous_fd = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, name="ctrl-c watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
        signal.set_wakeup_fd(previous_fd)
        signal.signal(signal.SIGINT, previous_handler)
        os.close(write_end)  # the watcher's read returns b"" and it ends
        watcher.join(timeout=1.0)
        os.close(read_end)
