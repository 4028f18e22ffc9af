"""A node's gateway: the thespian actor (multiprocTCPBase, one process) that hosts the
node's engine and carries its messages to and from other nodes' gateways.

The engine runs on an asyncio loop in a thread of this actor's process; the actor's own
thread stays in thespian's transport loop. Between them: what arrives for the engine is
put on its loop (`call_soon_threadsafe`), and what the engine sends goes into an outbox
and a byte into a pipe the actor watches (`ThespianWatch`), so every thespian call is
made on the actor's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pickle
import queue
import threading
from typing import Any

from thespian.actors import Actor, ActorExitRequest, ThespianWatch, WatchMessage

from actors.cluster.engine import ClusterEngine
from actors.cluster.wire import (
    ClientBotMatch,
    ClientQuery,
    ClientReply,
    ClientSend,
    ClientStatus,
    ClientSubscribe,
    ClientUnsubscribe,
    ClientView,
    ForwardReply,
    ForwardSend,
    ForwardView,
    NodeFailed,
    NodeReady,
    NodeSettings,
    NodeStopped,
    StartNode,
    StopNode,
)
from engine.rejections import Code, Rejection

log = logging.getLogger("liaptui.cluster")

STOP_WAIT = 30.0
CLIENT_REQUESTS = (
    ClientSend,
    ClientView,
    ClientBotMatch,
    ClientQuery,
    ClientStatus,
    ClientSubscribe,
    ClientUnsubscribe,
)  # seconds the gateway waits for its engine to close on a shutdown


class Gateway(Actor):  # type: ignore[misc]
    """Hosts one node's ClusterEngine and is that node's address for the others."""

    def __init__(self) -> None:
        super().__init__()
        self.outbox: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
        self.wake_read, self.wake_write = os.pipe()
        for fd in (self.wake_read, self.wake_write):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine: ClusterEngine | None = None
        self.thread: threading.Thread | None = None
        self.stop: asyncio.Event | None = None
        self.stopper: Any = None

    def receiveMessage(self, msg: Any, sender: Any) -> ThespianWatch:
        kind = type(msg)
        if kind is WatchMessage:
            self._drain()
        elif kind in (ForwardSend, ForwardView, ForwardReply):
            if self.loop is not None and self.engine is not None:
                self.loop.call_soon_threadsafe(self.engine.received, msg, sender)
            elif kind is not ForwardReply:
                self.send(sender, ForwardReply(msg.request, moved=True))
        elif kind in CLIENT_REQUESTS:
            if self.loop is not None and self.engine is not None:
                self.loop.call_soon_threadsafe(self.engine.received, msg, sender)
            else:
                self.send(sender, ClientReply(Rejection(Code.UNAVAILABLE, "node not running")))
        elif kind is StartNode:
            self._start(msg.settings, sender)
        elif kind is StopNode:
            self._request_stop(sender)
        elif isinstance(msg, ActorExitRequest):
            self._request_stop(None)
            if self.thread is not None:
                self.thread.join(STOP_WAIT)
            self._drain()
        return ThespianWatch([self.wake_read])

    # --- the engine's thread ------------------------------------------------------------------

    def _start(self, settings: NodeSettings, starter: Any) -> None:
        if self.thread is not None:
            self.send(starter, NodeFailed("this gateway runs a node already"))
            return
        address = pickle.dumps(self.myAddress)
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run,
            args=(settings, address, starter, ready),
            name="liaptui-node",
            daemon=True,
        )
        self.thread.start()
        ready.wait()

    def _run(
        self, settings: NodeSettings, address: bytes, starter: Any, ready: threading.Event
    ) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self.engine = ClusterEngine(settings, address, self._post)
        self.stop = asyncio.Event()
        self.loop = loop
        ready.set()
        try:
            loop.run_until_complete(self._serve(self.engine, self.stop, starter))
        finally:
            loop.close()

    async def _serve(self, engine: ClusterEngine, stop: asyncio.Event, starter: Any) -> None:
        try:
            await engine.start()
        except Exception as exc:
            log.exception("node %s could not start", engine.node_id)
            self._post(starter, NodeFailed(f"{type(exc).__name__}: {exc}"))
            return
        assert engine.registry is not None
        self._post(
            starter, NodeReady(engine.node_id, engine.registry.epoch, os.getpid(), os.getpgid(0))
        )
        await stop.wait()
        await engine.close()
        if self.stopper is not None:
            self._post(self.stopper, NodeStopped())

    def _request_stop(self, stopper: Any) -> None:
        if stopper is not None:
            self.stopper = stopper
        loop, stop = self.loop, self.stop
        if loop is None or stop is None:
            if stopper is not None:
                self.send(stopper, NodeStopped())
            return
        with contextlib.suppress(RuntimeError):  # the loop has closed already
            loop.call_soon_threadsafe(stop.set)

    # --- between the threads -------------------------------------------------------------------

    def _post(self, address: Any, message: Any) -> None:
        """From the engine's thread: send `message` to `address` from the actor's thread."""
        self.outbox.put((address, message))
        with contextlib.suppress(BlockingIOError):  # full: the actor is woken already
            os.write(self.wake_write, b"\0")

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.wake_read, 4096):
                pass
        while True:
            try:
                address, message = self.outbox.get_nowait()
            except queue.Empty:
                return
            self.send(address, message)
