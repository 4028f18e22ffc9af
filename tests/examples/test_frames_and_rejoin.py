"""The example server's message size limit and the return to a match after `leave`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from engine.events import PlayerDisconnected, PlayerReconnected
from examples.server import FRAME_CAP, MESSAGE_LIMIT
from tests.examples.test_server import greet, running_server


def test_an_oversized_message_is_answered_before_the_socket_closes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (_, url):
            ann = await greet(url, "Ann")
            # Just under the limit: an ordinary bad message, and the socket stays open.
            near = json.dumps({"type": "play", "ref": "n", "pieces": ["X" * (MESSAGE_LIMIT - 60)]})
            assert len(near) <= MESSAGE_LIMIT
            await ann.ws.send(near)
            assert (await asyncio.wait_for(ann.replies.get(), 10))["code"] == "bad_message"
            await ann.ok("create_room")

            await ann.ws.send(json.dumps({"type": "play", "pieces": ["X" * MESSAGE_LIMIT]}))
            refused = await asyncio.wait_for(ann.replies.get(), 10)
            assert (refused["type"], refused["code"]) == ("error", "message_too_large")
            assert str(MESSAGE_LIMIT) in refused["message"]
            await asyncio.wait_for(ann.reader, 10)  # then the server closes the socket
            assert ann.ws.close_code == 1009

            # Beyond websockets' own cap the frame is not even read: a bare 1009.
            async with connect(url, max_size=None) as raw:
                await raw.send("x" * (FRAME_CAP + 1))
                try:
                    await asyncio.wait_for(raw.recv(), 10)
                    raise AssertionError("the server answered a frame over its cap")
                except ConnectionClosed as closed:
                    assert closed.rcvd is not None and closed.rcvd.code == 1009

    asyncio.run(scenario())


def test_a_player_leaves_mid_match_and_returns_on_the_same_socket(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (_, url):
            ann = await greet(url, "Ann")
            room = (await ann.ok("create_room"))["room"]
            token = ann.token
            await ann.ok("start")
            await ann.wait_for(lambda: ann.version >= 3)
            assert (await ann.request("leave"))["type"] == "left"
            assert (await ann.request("start"))["code"] == "no_room"  # in the lobby now

            wrong = await ann.request("rejoin", room=room, token="not-the-token")
            assert wrong["code"] == "bad_token"
            back = await ann.ok("rejoin", room=room, token=token, last_version=ann.version)
            assert back["room"] == room
            await ann.wait_for(
                lambda: any(isinstance(e, PlayerReconnected) and e.seat == 0 for e in ann.events)
            )
            # Every event once, in order, across the leave: the bot's moves while Ann was out too.
            assert ann.problems == []
            assert any(isinstance(e, PlayerDisconnected) and e.seat == 0 for e in ann.events)
            assert ann.view is not None and ann.view.seats[0].connected
            again = await ann.request("rejoin", room=room, token=token)
            assert again["code"] == "already_in_room"

    asyncio.run(scenario())
