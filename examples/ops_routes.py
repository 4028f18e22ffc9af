"""The example server's operations endpoints, beside the web pages on the same port.

    GET /metrics   the engine's metrics, Prometheus text exposition format
    GET /healthz   200 when the store answers and the read models run; 503 otherwise
"""

from __future__ import annotations

import http

import msgspec
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from actors.facade import Engine
from examples.http_routes import WebRoutes, respond

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


class Health(msgspec.Struct, frozen=True):
    """What /healthz found: each part `ok` or why not."""

    store: str
    read_models: str

    @property
    def healthy(self) -> bool:
        return self.store == "ok" and self.read_models == "ok"


async def health(engine: Engine) -> Health:
    try:
        await engine.store.last_position()
        store = "ok"
    except Exception as exc:  # any failure to answer is the finding itself
        store = f"unreachable: {type(exc).__name__}"
    try:
        read_models = "ok" if engine.projections.running else "stopped"
    except RuntimeError:
        read_models = "off"  # the engine runs without projections: the lobby cannot answer
    return Health(store=store, read_models=read_models)


class OpsRoutes:
    """`process_request`: /metrics and /healthz here, every other path to the web routes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.web = WebRoutes(engine)

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if request.path == "/metrics":
                body = self.engine.prometheus().encode()
                return respond(http.HTTPStatus.OK, body, PROMETHEUS_TEXT)
            if request.path == "/healthz":
                found = await health(self.engine)
                status = http.HTTPStatus.OK if found.healthy else http.HTTPStatus.SERVICE_UNAVAILABLE
                return respond(status, msgspec.json.encode(found), "application/json")
        return await self.web(connection, request)
