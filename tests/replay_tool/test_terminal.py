"""The replay tool at a terminal: line editing and Ctrl-C at the stepper's prompt, and
clear errors for selections that hold nothing."""

from __future__ import annotations

import contextlib
import os
import pty
import select
import sys
import time

from tests.replay_tool.conftest import ROOT, Tool
from tests.replay_tool.matches import PlayedStore


def test_show_of_a_round_the_match_never_reached_is_an_error(
    tool: Tool, played: PlayedStore
) -> None:
    result = tool("--db", played.db, "show", played.plain_room, "--round", "99")
    assert result.returncode == 2
    assert "there is no round 99" in result.stderr
    assert tool("--db", played.db, "show", played.plain_room, "--round", "1").returncode == 0


class Terminal:
    """The tool on a pseudo-terminal, read until an expected prompt appears."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: become the tool
            os.chdir(ROOT)
            os.execve(sys.executable, [sys.executable, "-m", "replay_tool", *args], env)
        self.seen = b""

    def expect(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {text!r}: {self.seen[-400:]!r}"
            if select.select([self.fd], [], [], left)[0]:
                try:
                    self.seen += os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    break
        assert text.encode() in self.seen, f"never saw {text!r}: {self.seen[-400:]!r}"
        self.seen = self.seen[self.seen.index(text.encode()) + len(text) :]

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def exit_status(self, timeout: float = 45.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
            if select.select([self.fd], [], [], 0.05)[0]:
                with contextlib.suppress(OSError):
                    os.read(self.fd, 65536)
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)
        raise AssertionError("the tool did not exit")


def test_the_prompt_recalls_history_and_ctrl_c_quits_at_once(
    played: PlayedStore, tool_env: dict[str, str]
) -> None:
    room = played.plain_room
    term = Terminal(
        "--plain", "--db", str(played.db), "step", room, "--at", "1", "--interactive", env=tool_env
    )
    term.expect(f"{room} v1> ")
    term.type(b"n\r")
    term.expect(f"{room} v2> ")
    term.type(b"\x1b[A\r")  # up arrow: the last line again ("n")
    term.expect(f"{room} v3> ")
    term.type(b"\x03")  # Ctrl-C: the terminal sends SIGINT
    assert term.exit_status() == 0
