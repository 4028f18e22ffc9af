"""A throwaway PostgreSQL server in a temporary folder, for tests, benchmarks and a laptop.

`python -m engine.store.postgres.devserver` starts one, prints its URL and stops it on
Ctrl-C (or SIGTERM). `start FOLDER` / `stop FOLDER` do the same in two steps, for a shell
script (CI) that exports the URL in between. The server listens on 127.0.0.1 only, on a
port the OS picked, with a password of its own; as root, it runs as the `postgres` user
(initdb refuses root).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

USER = "liaptui"
_URL_FILE = "url"
_OWNER_FILE = "owner"  # the pid of the process whose cluster this is, when one owns it
_PREFIX = "liaptui-pg-"
_RUN_AS = "postgres"


def find_bindir() -> Path | None:
    """The folder of PostgreSQL's server programs: $LIAPTUI_PG_BIN, the newest Debian
    install, or wherever `pg_ctl` is on PATH; None when there is none."""
    named = os.environ.get("LIAPTUI_PG_BIN")
    if named:
        return Path(named)
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS says is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayCluster:
    """One PostgreSQL cluster in its own folder: initdb, start, stop, and delete."""

    def __init__(self, folder: Path, bindir: Path, *, durable: bool = True) -> None:
        """`durable=False` turns fsync off: for tests only, never for benchmarks."""
        self.folder = folder
        self.bindir = bindir
        self.durable = durable
        self.data = folder / "data"
        self.port = 0
        self.password = ""

    @property
    def url(self) -> str:
        """The URL of the cluster's `postgres` database."""
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["runuser", "-u", _RUN_AS, "--"] if os.geteuid() == 0 else []
        return subprocess.run(
            [*prefix, str(self.bindir / argv[0]), *argv[1:]],
            check=check,
            capture_output=True,
            text=True,
            cwd=self.folder,
        )

    def create(self) -> None:
        """initdb the folder, with password authentication over TCP."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam(_RUN_AS)
            os.chown(self.folder, owner.pw_uid, owner.pw_gid)
        self.password = secrets.token_hex(12)
        pwfile = self.folder / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-instructions",
            *([] if self.durable else ["--no-sync"]),
        )
        pwfile.unlink()

    def start(self) -> str:
        """Start the server (on the port it had, or a free one) and return its URL."""
        self.port = self.port or free_port()
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-p {self.port}",
            f"-c unix_socket_directories={self.folder}",
            "-c max_connections=200",
        ]
        if not self.durable:
            options += ["-c fsync=off", "-c full_page_writes=off"]
        done = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
            check=False,
        )
        if done.returncode != 0:
            log = self.folder / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {done.stdout}{done.stderr}{tail}")
        (self.folder / _URL_FILE).write_text(self.url)
        return self.url

    def stop(self) -> None:
        """Stop the server (fast: open sessions are ended, nothing committed is lost)."""
        if not self.data.exists():
            return  # deleted already
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def delete(self) -> None:
        """Remove the folder (after `stop`)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def set_owner(self, pid: int) -> None:
        """Record `pid` as the process that stops this cluster (see `sweep_orphans`)."""
        (self.folder / _OWNER_FILE).write_text(str(pid))

    @classmethod
    def new(
        cls, bindir: Path, *, durable: bool = True, owner: int | None = None
    ) -> ThrowawayCluster:
        """A created (not yet started) cluster in a new folder under the system temp dir
        (not pytest's, which the `postgres` user cannot enter). `owner`: the pid of the
        process that stops it; should that process die first, `sweep_orphans` stops it."""
        folder = Path(tempfile.mkdtemp(prefix=_PREFIX))
        cluster = cls(folder, bindir, durable=durable)
        try:
            if owner is not None:
                cluster.set_owner(owner)
            cluster.create()
        except BaseException:
            cluster.delete()
            raise
        return cluster


@contextlib.contextmanager
def server_for_bench(url: str | None) -> Iterator[str]:
    """`url`, or for the block a throwaway server of default durability (fsync on) that
    is stopped and deleted after it: where the benchmarks measure."""
    if url is not None:
        yield url
        return
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("no PostgreSQL: pass --url or apt-get install -y postgresql")
    cluster = ThrowawayCluster.new(bindir, durable=True)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
        cluster.delete()


def sweep_orphans(bindir: Path) -> list[Path]:
    """Stop and delete the throwaway clusters whose owning process is gone (a test run
    killed before its teardown); the folders swept."""
    swept = []
    for owner_file in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*/{_OWNER_FILE}"):
        try:
            pid = int(owner_file.read_text())
        except (OSError, ValueError):
            continue
        if pid == os.getpid() or Path(f"/proc/{pid}").exists():
            continue
        cluster = ThrowawayCluster(owner_file.parent, bindir)
        cluster.stop()
        cluster.delete()
        swept.append(owner_file.parent)
    return swept


def main(argv: list[str] | None = None) -> int:
    """`devserver [run]`, `devserver start FOLDER` (prints the URL), `devserver stop FOLDER`."""
    parser = argparse.ArgumentParser(prog="python -m engine.store.postgres.devserver")
    parser.add_argument("action", nargs="?", default="run", choices=["run", "start", "stop"])
    parser.add_argument("folder", nargs="?", help="the cluster's folder (start/stop)")
    parser.add_argument("--fast", action="store_true", help="fsync off (tests only)")
    args = parser.parse_args(argv)
    bindir = find_bindir()
    if bindir is None:
        print("no PostgreSQL found: apt-get install -y postgresql", file=sys.stderr)
        return 2
    if args.action == "stop":
        if not args.folder:
            parser.error("stop needs the FOLDER that start printed")
        cluster = ThrowawayCluster(Path(args.folder), bindir)
        cluster.stop()
        cluster.delete()
        return 0
    cluster = ThrowawayCluster.new(bindir, durable=not args.fast)
    if args.action == "start":
        try:
            url = cluster.start()
        except BaseException:
            cluster.delete()
            raise
        print(f"{cluster.folder} {url}")
        return 0
    try:
        print(cluster.start(), flush=True)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        cluster.stop()
        cluster.delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
