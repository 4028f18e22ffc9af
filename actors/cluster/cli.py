"""`liaptui node` (one engine node of a cluster) and `liaptui convention` (a convention
leader that runs no engine): thespian multiprocTCPBase admins joined in one convention."""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
from typing import Any

from actors.cluster.wire import NodeReady, NodeSettings, NodeStopped, StartNode, StopNode

GATEWAY_NAME = "liaptui-gateway"  # each node's admin knows its gateway by this name
START_WAIT = 60.0  # seconds a node may take to open its store and join
STOP_WAIT = 40.0  # seconds a node may take to finish its commits and leave


def host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host, int(port)


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def add_commands(sub: Any) -> None:
    node = sub.add_parser("node", help="run one engine node of a cluster (docs/cluster.md)")
    node.add_argument("--store", required=True, help="the shared store: postgresql://…")
    node.add_argument(
        "--convention", required=True, type=host_port, help="the convention leader's HOST:PORT"
    )
    node.add_argument(
        "--admin-port",
        type=int,
        default=None,
        help="this node's thespian admin port (default: a free one; equal to the convention "
        "port: this node leads the convention)",
    )
    node.add_argument("--node-id", default=None, help="default: node-<admin port>")
    node.add_argument("--lease", type=float, default=2.0, help="seconds a lease runs unrenewed")
    node.add_argument("--beat", type=float, default=0.1, help="seconds between lease renewals")
    node.add_argument("--bot-delay", type=float, default=None, help="seconds a bot thinks")
    node.add_argument("--fast", action="store_true", help="no pauses or bot delays (tests)")
    node.add_argument("--events", default=None, help="append membership events (JSON lines)")
    node.add_argument(
        "--no-projections",
        action="store_true",
        help="run no read-model runner on this node (another node serves and folds them)",
    )
    leader = sub.add_parser("convention", help="lead a cluster's thespian convention")
    leader.add_argument("--listen", required=True, type=host_port, help="HOST:PORT to lead on")


STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def _hold_stop_signals() -> None:
    """Hold SIGTERM and SIGINT from now on in this process (taken by `_wait_for_signal`),
    so one that arrives while the node starts stops it cleanly once started instead of
    killing this process and orphaning the thespian admin it has forked. The processes
    thespian forks take signals as usual."""
    os.register_at_fork(
        after_in_child=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    )
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def _wait_for_signal() -> None:
    """Block until SIGTERM or SIGINT (perhaps one held since the start)."""
    signal.sigwait(STOP_SIGNALS)


def run_node(args: argparse.Namespace) -> int:
    from thespian.actors import ActorSystem

    from actors.cluster.gateway import Gateway

    _hold_stop_signals()
    host, port = args.convention
    admin_port = args.admin_port or free_port(host)
    node_id = args.node_id or f"node-{admin_port}"
    capabilities = {
        "Admin Port": admin_port,
        "Convention Address.IPv4": (host, port),
        "liaptui_node": node_id,
    }
    settings = NodeSettings(
        store_url=args.store,
        node_id=node_id,
        label=f"{host}:{admin_port}",
        supervisor_pid=os.getpid(),
        fast=args.fast,
        lease=args.lease,
        beat=args.beat,
        bot_delay=args.bot_delay,
        events_path=args.events,
        projections=not args.no_projections,
    )
    asys = ActorSystem("multiprocTCPBase", capabilities)
    try:
        gateway = asys.createActor(Gateway, globalName=GATEWAY_NAME)
        ready = asys.ask(gateway, StartNode(settings), START_WAIT)
        if not isinstance(ready, NodeReady):
            print(f"liaptui node: {node_id} did not start: {ready}", file=sys.stderr)
            return 1
        line = {
            "node": node_id,
            "epoch": ready.epoch,
            "pid": os.getpid(),
            "gateway_pid": ready.pid,
            "admin_pgid": ready.pgid,
            "admin_port": admin_port,
        }
        print(json.dumps(line), flush=True)
        _wait_for_signal()
        stopped = asys.ask(gateway, StopNode(), STOP_WAIT)
        return 0 if isinstance(stopped, NodeStopped) else 1
    finally:
        asys.shutdown()


def run_convention(args: argparse.Namespace) -> int:
    from thespian.actors import ActorSystem

    _hold_stop_signals()
    host, port = args.listen
    asys = ActorSystem(
        "multiprocTCPBase", {"Admin Port": port, "Convention Address.IPv4": (host, port)}
    )
    try:
        print(json.dumps({"convention": f"{host}:{port}", "pid": os.getpid()}), flush=True)
        _wait_for_signal()
        return 0
    finally:
        asys.shutdown()
