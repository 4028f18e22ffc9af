"""Real clusters for tests and benchmarks: a convention leader and `liaptui node` processes
on 127.0.0.1, each a process group of its own (its CLI) plus its thespian admin's group."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actors.cluster.cli import free_port
from actors.cluster.placement import owner

LIAPTUI = [sys.executable, "-m", "actors.cli"]
READY_WAIT = 60.0


class NodeProcess:
    """One `liaptui node` (or `liaptui convention`) and the processes it started."""

    def __init__(self, name: str, proc: subprocess.Popen[str], log: Path, marker: str) -> None:
        self.name = name
        self.proc = proc
        self.log = log
        self.marker = marker
        self.ready: dict[str, Any] = {}
        self.launched_at = time.time()

    @property
    def admin_port(self) -> int:
        return int(self.ready["admin_port"])

    def groups(self) -> list[int]:
        """The process groups of this node: its CLI's, and its thespian admin's."""
        found = [self.proc.pid]
        if "admin_pgid" in self.ready:
            found.append(int(self.ready["admin_pgid"]))
        return found

    def signal(self, sig: int) -> None:
        """Signal every process of the node: its groups, and (a node still starting has not
        named its admin's group yet) every process carrying its command line."""
        for group in self.groups():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, sig)
        for pid in processes_with([self.marker]):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)

    def poll_ready(self) -> bool:
        """Whether the node has said it is ready (without waiting)."""
        if self.ready:
            return True
        assert self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        if selector.select(0):
            line = self.proc.stdout.readline()
            with contextlib.suppress(ValueError):
                self.ready = json.loads(line)
        return bool(self.ready)

    def wait_ready(self, timeout: float = READY_WAIT) -> dict[str, Any]:
        if self.ready:
            return self.ready
        assert self.proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not selector.select(deadline - time.monotonic()):
                break
            line = self.proc.stdout.readline()
            if not line:
                break
            with contextlib.suppress(ValueError):
                self.ready = json.loads(line)
                return self.ready
        raise RuntimeError(f"{self.name} did not start: {self.log.read_text()[-3000:]}")


def processes_with(markers: list[str]) -> list[int]:
    """Pids of live (not zombie) processes whose command line holds one of `markers`:
    thespian's admin and actor processes are forks of `liaptui node`, so they carry its
    command line (and its unique --admin-port) whatever group or session they moved to."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(marker in cmdline for marker in markers):
            alive.append(int(entry.name))
    return alive


class Cluster:
    """A convention leader and engine nodes sharing one PostgreSQL database."""

    def __init__(self, store_url: str, folder: Path, *, lease: float = 1.0) -> None:
        self.store_url = store_url
        self.folder = folder
        self.lease = lease
        self.convention_port = free_port("127.0.0.1")
        self.nodes: dict[str, NodeProcess] = {}
        self.leader: NodeProcess | None = None
        self.markers: list[str] = []
        self.dying: list[NodeProcess] = []
        self.events = folder / "events.jsonl"

    def _spawn(self, name: str, args: list[str], marker: str) -> NodeProcess:
        self.markers.append(marker)
        log = self.folder / f"{name}.log"
        proc = subprocess.Popen(
            [*LIAPTUI, *args],
            stdout=subprocess.PIPE,
            stderr=log.open("a"),
            text=True,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        return NodeProcess(name, proc, log, marker)

    def start_leader(self) -> None:
        where = f"127.0.0.1:{self.convention_port}"
        self.leader = self._spawn("convention", ["convention", "--listen", where], where)
        self.leader.wait_ready()

    def start_node(self, node_id: str, *extra: str) -> NodeProcess:
        node = self.launch_node(node_id, *extra)
        node.wait_ready()
        return node

    def launch_node(self, node_id: str, *extra: str) -> NodeProcess:
        """Start a node without waiting for it (`poll_ready` / `wait_ready` tell)."""
        admin_port = free_port("127.0.0.1")
        node = self._spawn(
            node_id,
            [
                "node",
                "--store",
                self.store_url,
                "--convention",
                f"127.0.0.1:{self.convention_port}",
                "--admin-port",
                str(admin_port),
                "--node-id",
                node_id,
                "--lease",
                str(self.lease),
                "--events",
                str(self.events),
                *extra,
            ],
            f"--admin-port {admin_port} ",
        )
        self.nodes[node_id] = node
        return node

    def kill(self, node_id: str) -> NodeProcess:
        node = self.nodes.pop(node_id)
        with self.events.open("a") as out:
            out.write(json.dumps({"at": time.time(), "node": node_id, "event": "killed"}) + "\n")
        node.signal(signal.SIGKILL)
        node.proc.wait(10)
        self.dying.append(node)
        return node

    def reap(self) -> None:
        """Kill again what a node killed while starting may have forked just after it died
        (thespian's admin daemonizes in two forks)."""
        for pid in processes_with([n.marker for n in self.dying]) if self.dying else ():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.dying = [n for n in self.dying if time.time() - n.launched_at < 120]

    def stop(self, node_id: str, timeout: float = 45.0) -> int:
        node = self.nodes.pop(node_id)
        node.proc.send_signal(signal.SIGTERM)
        try:
            return node.proc.wait(timeout)
        finally:
            node.signal(signal.SIGKILL)

    def owner_of(self, room_id: str) -> str | None:
        return owner(room_id, sorted(self.nodes))

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        lines = [json.loads(line) for line in self.events.read_text().splitlines() if line]
        return [line for line in lines if line["event"] == kind]

    def close(self) -> list[int]:
        """Stop every node cleanly, then the leader; the pids still alive after (none)."""
        self.reap()
        for node_id in list(self.nodes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(node_id)
        if self.leader is not None:
            self.leader.proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.leader.proc.wait(20)
        deadline = time.monotonic() + 10
        while processes_with(self.markers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = processes_with(self.markers)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return left


@contextlib.contextmanager
def running_cluster(store_url: str, folder: Path, **kwargs: Any) -> Iterator[Cluster]:
    cluster = Cluster(store_url, folder, **kwargs)
    try:
        cluster.start_leader()
        yield cluster
    finally:
        left = cluster.close()
        assert not left, f"processes left after the cluster stopped: {left}"
