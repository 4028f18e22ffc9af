"""Plain HTTP on the example server's WebSocket port: the web client and the replay viewer.

websockets reads every connection's first request; `WebRoutes` answers those that are not a
WebSocket upgrade. The pages are static files in examples/web/ (no build step, nothing
fetched from elsewhere); the replay viewer's data comes from the engine's store.
"""

from __future__ import annotations

import http
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from actors.facade import Engine
from engine.store.errors import StoreError
from replay_tool.errors import ToolError
from replay_tool.web_view import VIEWER_PATH, replay_json, verified_match

WEB = Path(__file__).with_name("web")
PAGES = {
    "/": "index.html",
    "/index.html": "index.html",
    "/app.js": "app.js",
    "/pieces.js": "pieces.js",
    "/replay.js": "replay.js",
    "/style.css": "style.css",
}
VIEWER_PAGE = "replay.html"
REPLAY_DATA = "/api/replay/"  # + room id: the viewer's JSON document
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
}
# Scripts, styles and sockets only from this server: the pages load nothing from elsewhere.
POLICY = "default-src 'self'; connect-src 'self'; img-src 'self' data:"


def respond(status: http.HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", POLICY),
            ("Connection", "close"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)


def not_found(what: str) -> Response:
    return respond(http.HTTPStatus.NOT_FOUND, f"not found: {what}\n".encode(), "text/plain")


def page(name: str) -> Response:
    body = (WEB / name).read_bytes()
    return respond(http.HTTPStatus.OK, body, CONTENT_TYPES[Path(name).suffix])


class WebRoutes:
    """`process_request` for the server: None lets a WebSocket upgrade through."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return None
        path = urlsplit(request.path).path
        if path in PAGES:
            return page(PAGES[path])
        if path.startswith(VIEWER_PATH):
            return page(VIEWER_PAGE)  # the page reads the room from its own address
        if path.startswith(REPLAY_DATA):
            return await self.replay(path.removeprefix(REPLAY_DATA).strip().upper())
        return not_found(path)

    async def replay(self, room_id: str) -> Response:
        """Every position of a match (live or finished) and its verification, as JSON."""
        if not (len(room_id) == 6 and room_id.isalnum() and room_id.isascii()):
            return not_found(f"room {room_id!r}")
        try:
            recording, report = await verified_match(self.engine.store, room_id, "this server")
        except ToolError:
            return not_found(f"room {room_id}")
        except StoreError as exc:
            return respond(
                http.HTTPStatus.INTERNAL_SERVER_ERROR, f"{exc.message}\n".encode(), "text/plain"
            )
        return respond(http.HTTPStatus.OK, replay_json(recording, report), CONTENT_TYPES[".json"])
