"""`replay-tool serve`: the web replay viewer over plain HTTP, on a read-only store.

The same viewer as the example server's /replay/ROOM, for a store no engine of ours is
serving (or one a running engine writes: this opens it read-only, as every other command
does). The viewer's files are those shipped in examples/web/.
"""

from __future__ import annotations

import asyncio
import html
import http
from pathlib import Path
from urllib.parse import unquote, urlsplit

import examples
from engine.store import EventStore
from engine.store.errors import StoreError
from replay_tool.errors import ToolError
from replay_tool.listing import MatchQuery, list_matches
from replay_tool.web_view import VIEWER_PATH, replay_json, verified_match

WEB = Path(examples.__file__).with_name("web")
FILES = {"/replay.js": "replay.js", "/pieces.js": "pieces.js", "/style.css": "style.css"}
REPLAY_DATA = "/api/replay/"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".json": "application/json"}  # fmt: skip
POLICY = "default-src 'self'; img-src 'self' data:"
MAX_REQUEST = 16_384  # bytes of request line and headers; a viewer's GET is far smaller


class Reply:
    """One HTTP response: status, content type, body."""

    def __init__(self, status: http.HTTPStatus, body: bytes, content_type: str) -> None:
        self.status, self.body, self.content_type = status, body, content_type

    def encode(self) -> bytes:
        head = (
            f"HTTP/1.1 {self.status.value} {self.status.phrase}\r\n"
            f"Content-Type: {self.content_type}\r\nContent-Length: {len(self.body)}\r\n"
            f"Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
            f"Content-Security-Policy: {POLICY}\r\nConnection: close\r\n\r\n"
        )
        return head.encode() + self.body


def _text(status: http.HTTPStatus, text: str) -> Reply:
    return Reply(status, (text + "\n").encode(), "text/plain; charset=utf-8")


def _file(name: str) -> Reply:
    return Reply(http.HTTPStatus.OK, (WEB / name).read_bytes(), TYPES[Path(name).suffix])


class ViewerSite:
    """The routes: an index of the store's matches, the viewer's files, each match's data."""

    def __init__(self, store: EventStore, origin: str) -> None:
        self.store, self.origin = store, origin

    async def route(self, path: str) -> Reply:
        if path == "/":
            return await self.index()
        if path in FILES:
            return _file(FILES[path])
        if path.startswith(VIEWER_PATH):
            return _file("replay.html")
        if path.startswith(REPLAY_DATA):
            return await self.replay(path.removeprefix(REPLAY_DATA).strip().upper())
        return _text(http.HTTPStatus.NOT_FOUND, f"not found: {path}")

    async def index(self) -> Reply:
        page = await list_matches(self.store, MatchQuery(limit=200))
        rows = "".join(
            f'<li><a href="{VIEWER_PATH}{html.escape(m.info.stream_id)}">'
            f"{html.escape(m.info.stream_id)}</a> {html.escape(m.info.status)} "
            f"{html.escape(', '.join(m.players))}</li>"
            for m in page.matches
        )
        body = (
            '<!doctype html><meta charset="utf-8"><title>Liap Tui matches</title>'
            '<link rel="stylesheet" href="/style.css"><body class="viewer">'
            f"<h1>Matches in {html.escape(self.origin)}</h1><ul id=\"matches\">{rows}</ul>"
        )
        return Reply(http.HTTPStatus.OK, body.encode(), TYPES[".html"])

    async def replay(self, room_id: str) -> Reply:
        if not (len(room_id) == 6 and room_id.isalnum() and room_id.isascii()):
            return _text(http.HTTPStatus.NOT_FOUND, f"not found: room {room_id!r}")
        try:
            recording, report = await verified_match(self.store, room_id, self.origin)
        except ToolError as exc:
            return _text(http.HTTPStatus.NOT_FOUND, exc.message)
        except StoreError as exc:
            return _text(http.HTTPStatus.INTERNAL_SERVER_ERROR, exc.message)
        return Reply(http.HTTPStatus.OK, replay_json(recording, report), TYPES[".json"])

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection, one GET, one reply; anything else is a 400 or 405."""
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
                return
            method, _, rest = head.decode("latin-1").partition(" ")
            target = rest.partition(" ")[0]
            if method != "GET":
                reply = _text(http.HTTPStatus.METHOD_NOT_ALLOWED, "only GET")
            elif not target.startswith("/"):
                reply = _text(http.HTTPStatus.BAD_REQUEST, "bad request")
            else:
                reply = await self.route(unquote(urlsplit(target).path))
            writer.write(reply.encode())
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


async def serve_viewer(store: EventStore, origin: str, host: str, port: int) -> None:
    """Serve until cancelled (Ctrl-C); prints the address first."""
    site = ViewerSite(store, origin)
    server = await asyncio.start_server(site.handle, host, port, limit=MAX_REQUEST)
    bound = server.sockets[0].getsockname()[1]
    print(f"replay viewer on http://{host}:{bound}/ (store {origin}, read-only)", flush=True)
    async with server:
        await server.serve_forever()
