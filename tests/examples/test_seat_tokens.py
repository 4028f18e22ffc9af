"""Seat tokens: knowing a player's name gives nothing; only the seat's secret token brings a
connection back to that seat. Real WebSocket clients against examples/server.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from websockets.asyncio.client import connect

from engine.events import PiecesPlayed
from tests.examples.test_server import Client, greet, open_match, running_server


async def impostor(url: str, name: str) -> Client:
    """A fresh socket that has not said hello: it knows the room and a seated name."""
    return Client(await connect(url), name)


def test_create_and_join_hand_out_distinct_long_tokens(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (_, url):
            ann, ben, _room = await open_match(url)
            assert ann.token is not None and ben.token is not None
            assert ann.token != ben.token
            # token_urlsafe(32): 43 characters of 6 bits each, far above 128 bits.
            assert min(len(ann.token), len(ben.token)) >= 43
            for client in (ann, ben):
                await client.ws.close()

    asyncio.run(scenario())


def test_a_name_without_its_token_is_refused_and_is_sent_nothing_of_the_room(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (_, url):
            ann, ben, room = await open_match(url)
            assert ben.token is not None and ann.token is not None
            mallory = await impostor(url, "Ben")
            attempts: list[dict[str, object]] = [
                {},  # the name alone
                {"token": ""},
                {"token": ben.token[:-1] + ("A" if ben.token[-1] != "A" else "B")},
                {"token": ann.token},  # another seat's token
                {"token": "é" * 43},  # not ASCII: still just a wrong token
            ]
            for extra in attempts:
                refused = await mallory.request(
                    "hello", name="Ben", room=room, last_version=0, **extra
                )
                assert (refused["type"], refused["code"]) == ("error", "bad_token"), extra
            # Still not greeted: it cannot act for Ben in any way.
            for kind, fields in (("reconnect", {}), ("play", {"indices": [0]})):
                assert (await mallory.request(kind, **fields))["code"] == "hello_first"

            ann_playing = asyncio.create_task(ann.play())
            await ben.play(stop=lambda: any(isinstance(e, PiecesPlayed) for e in ben.events))
            await asyncio.sleep(0.2)  # room for any (wrong) push to arrive
            assert mallory.updates == [] and mallory.events == []
            assert mallory.replies.empty()
            # Ben's own token still works, from another socket.
            again = await greet(url, "Ben", room=room, token=ben.token, last_version=0)
            await again.wait_for(lambda: bool(again.updates))
            assert again.view is not None and again.view.my_seat == 1
            assert len(again.view.hand) > 0
            ann_playing.cancel()
            for client in (ann, again, mallory):
                await client.ws.close()

    asyncio.run(scenario())


def test_a_seat_taken_again_under_the_same_name_gets_a_new_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (_, url):
            ann = await greet(url, "Ann")
            room = (await ann.ok("create_room"))["room"]
            await ann.ok("remove_player", seat=1)
            ben = await greet(url, "Ben")
            await ben.ok("join_room", room=room)
            first = ben.token
            assert (await ben.request("leave"))["type"] == "left"
            await ben.ok("join_room", room=room)
            assert ben.token != first
            stale = await impostor(url, "Ben")
            refused = await stale.request("hello", name="Ben", room=room, token=first)
            assert refused["code"] == "bad_token"
            fresh = await greet(url, "Ben", room=room, token=ben.token)
            # A kicked player's token no longer names a seat.
            await ann.ok("remove_player", seat=1)
            kicked = await impostor(url, "Ben")
            gone = await kicked.request("hello", name="Ben", room=room, token=ben.token)
            assert gone["code"] == "not_in_room"
            for client in (ann, ben, stale, fresh, kicked):
                await client.ws.close()

    asyncio.run(scenario())
