"""The example server's lobby, rate limit and turn timer, through real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from engine.events import Declared
from examples.lobby_pages import LobbyPages
from examples.rate_limit import RateLimit, TokenBucket
from examples.server import room_info
from projections.lobby import LobbyProjection
from tests.examples.test_server import greet, running_server

GENEROUS = RateLimit(per_second=1000.0, burst=1000.0)


def test_the_lobby_lists_open_rooms_paged_and_filtered(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path, rate_limit=GENEROUS) as (engine, url):
            ann, ben, cat, dan, eve = [
                await greet(url, n) for n in ("Ann", "Ben", "Cat", "Dan", "Eve")
            ]
            rooms = [(await c.ok("create_room"))["room"] for c in (ann, ben, cat, dan)]
            await ben.ok("start")  # open, but no longer joinable
            await cat.ok("remove_player", seat=3)  # an empty seat: joinable
            await dan.request("leave")  # the host leaves before the start: the room closes
            await engine.projections.wait_caught_up()  # Eve wrote nothing to wait for

            first = await eve.request("list_rooms", limit=2)
            assert (first["type"], first["offset"], first["limit"]) == ("rooms", 0, 2)
            assert [r["room"] for r in first["rooms"]] == rooms[:2]  # oldest first
            rest = await eve.request("list_rooms", limit=2, offset=2)
            assert [r["room"] for r in rest["rooms"]] == [rooms[2]]  # Dan's closed room is gone
            assert rest["rooms"][0] == {
                "room": rooms[2],
                "phase": "WAITING",
                "host": "Cat",
                "seats": ["Cat", "Bot 2", "Bot 3", None],
                "joinable": True,
            }
            assert rest["as_of"] >= first["as_of"] > 0
            joinable = await eve.request("list_rooms", joinable=True)
            assert [r["room"] for r in joinable["rooms"]] == [rooms[2]]
            assert (await eve.request("list_rooms", offset=9))["rooms"] == []
            for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}):
                assert (await eve.request("list_rooms", **bad))["code"] == "bad_message"

            # A client's own command is in its next list, with no wait of its own.
            await eve.ok("create_room")
            mine = await eve.request("list_rooms", joinable=False, offset=3)
            assert [r["host"] for r in mine["rooms"]] == ["Eve"]

    asyncio.run(scenario())


def test_every_message_kind_pays_the_connection_s_rate_limit(tmp_path: Path) -> None:
    # Next to no refill: a connection has its burst of tokens and then nothing.
    tight = RateLimit(per_second=1e-6, burst=7.0, lobby_cost=5.0, room_cost=1.0, max_pause=0.0)

    async def scenario() -> None:
        # No page held for a while: Ben's list below reads what Ann's room made of the lobby.
        async with running_server(tmp_path, rate_limit=tight, lobby_refresh=0.0) as (engine, url):
            ann = await greet(url, "Ann")  # 1 token
            assert (await ann.request("list_rooms"))["type"] == "rooms"  # 5 tokens
            limited = await ann.request("list_rooms")  # costs 5, 1 left
            assert (limited["type"], limited["code"]) == ("error", "rate_limited")
            assert limited["message"]
            room = (await ann.ok("create_room"))["room"]  # the last token
            for kind in ("start", "list_rooms", "leave", "hello"):
                refused = await ann.request(kind, name="Ann")
                assert refused["code"] == "rate_limited", (kind, refused)
            await ann.ws.send("not json")  # a bad message pays too
            bad = await asyncio.wait_for(ann.replies.get(), 10)
            assert (bad["code"], bad["ref"]) == ("rate_limited", None)
            # Refused messages did nothing: the room still waits, and another socket has its own
            # bucket.
            ben = await greet(url, "Ben")
            await engine.projections.wait_caught_up()
            listed = await ben.request("list_rooms")
            assert [(r["room"], r["phase"]) for r in listed["rooms"]] == [(room, "WAITING")]

    asyncio.run(scenario())


def test_a_player_who_stalls_has_the_bot_make_that_move(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path, move_timeout=0.3) as (_, url):
            ann = await greet(url, "Ann")
            await ann.ok("create_room")
            await ann.ok("start")
            def asked_to_redeal() -> bool:
                me = ann.view.seats[0] if ann.view is not None else None
                return me is not None and bool(me.weak) and me.redeal is None

            def declared() -> bool:
                return any(isinstance(e, Declared) and e.seat == 0 for e in ann.events)

            # Ann makes no move: her declaration is made for her once her time is up. (The
            # redeal question has a timer of its own, 30 s, so she answers it if asked.)
            await ann.wait_for(lambda: declared() or asked_to_redeal())
            if not declared():
                await ann.ok("redeal", accept=False)
                await ann.wait_for(declared)
            assert ann.view is not None and ann.view.seats[0].connected  # still her seat

    asyncio.run(scenario())


def test_the_lobby_flood_bench_prints_its_ratio_in_quick_mode() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(root / "bench" / "lobby_bench.py"), "--quick"],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert re.search(r"list_rooms flood / alone, command p99: \d+\.\d\d", done.stdout), done.stdout
    assert re.search(r"[1-9][\d,]* rate_limited", done.stdout), done.stdout  # the limit held
    assert "(within the limit)" in done.stdout, done.stdout  # no more pages than buckets pay


def test_a_token_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    now = [0.0]
    bucket = TokenBucket(RateLimit(per_second=2.0, burst=4.0, max_pause=1.0), lambda: now[0])
    assert bucket.take(3) and not bucket.take(3)  # 1 left: a refusal spends nothing
    assert bucket.wait_for(3) == 1.0  # 2 missing at 2/s
    now[0] = 0.5
    assert bucket.take(2) and bucket.tokens == 0
    now[0] = 100.0
    assert bucket.take(4) and not bucket.take(1)  # never more than the burst
    assert bucket.wait_for(100) == 1.0  # capped at max_pause


def test_a_list_rooms_flood_gets_no_more_pages_than_its_bucket_pays_for(tmp_path: Path) -> None:
    # 10 tokens a second, a burst of 10, a page costs 5: after hello (1 token) one page at
    # once (4 tokens left), then two a second. The flood is timed on the client, from before its connect to
    # the last reply counted, so the bound below is generous to the server.
    limit = RateLimit(per_second=10.0, burst=10.0, lobby_cost=5.0, max_pause=1.0)

    async def scenario() -> None:
        async with running_server(tmp_path, rate_limit=limit) as (engine, url):
            for i in range(3):
                await engine.create_room(f"Host{i}")
            began = time.monotonic()
            async with connect(url, max_queue=None) as ws:
                await ws.send(json.dumps({"type": "hello", "name": "Flood"}))
                assert json.loads(await ws.recv())["type"] == "welcome"
                answers: dict[str, int] = {}

                async def count() -> None:
                    async for raw in ws:
                        reply = json.loads(raw)
                        kind = "pages" if reply["type"] == "rooms" else str(reply.get("code"))
                        answers[kind] = answers.get(kind, 0) + 1

                async def flood() -> None:
                    message = json.dumps({"type": "list_rooms", "limit": 100})
                    while True:
                        await ws.send(message)
                        await asyncio.sleep(0)  # let the counter and the clock run

                tasks = [asyncio.create_task(count()), asyncio.create_task(flood())]
                await asyncio.sleep(2.0)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                elapsed = time.monotonic() - began
            bound = (limit.burst - 1 + elapsed * limit.per_second) / limit.lobby_cost
            assert 2 <= answers["pages"] <= bound, (answers, elapsed)
            assert answers["rate_limited"] >= 1, answers

    asyncio.run(scenario())


def test_a_lobby_page_is_read_once_per_refresh_but_a_writer_sees_its_own_room(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        options = {"rate_limit": GENEROUS, "lobby_refresh": 60.0}
        async with running_server(tmp_path, **options) as (engine, url):
            ann, ben, cat = [await greet(url, n) for n in ("Ann", "Ben", "Cat")]
            first = (await ann.ok("create_room"))["room"]
            await engine.projections.wait_caught_up()
            seen = await ben.request("list_rooms")
            assert [r["room"] for r in seen["rooms"]] == [first]
            second = (await cat.ok("create_room"))["room"]
            await engine.projections.wait_caught_up()
            # Ben wrote nothing: the page read a moment ago answers him, as it stands.
            again = await ben.request("list_rooms")
            assert (again["rooms"], again["as_of"]) == (seen["rooms"], seen["as_of"])
            # Cat's own room is in her next list: a writer's page is read anew.
            mine = await cat.request("list_rooms")
            assert [r["room"] for r in mine["rooms"]] == [first, second]
            assert mine["as_of"] > seen["as_of"]
            # ...and that fresher read is what the page answers from then on.
            assert (await ben.request("list_rooms"))["rooms"] == mine["rooms"]

    asyncio.run(scenario())


def test_a_socket_that_keeps_flooding_is_closed_and_others_play_on(tmp_path: Path) -> None:
    limit = RateLimit(per_second=10.0, burst=10.0, lobby_cost=5.0, room_cost=1.0, flood_refusals=5)

    async def scenario() -> None:
        async with running_server(tmp_path, rate_limit=limit) as (engine, url):
            ann = await greet(url, "Ann")
            room = (await ann.ok("create_room"))["room"]
            async with connect(url, max_queue=None) as ws:
                await ws.send(json.dumps({"type": "hello", "name": "Flood"}))
                assert json.loads(await ws.recv())["type"] == "welcome"
                message = json.dumps({"type": "list_rooms"})
                refused = 0

                async def flood() -> None:
                    with contextlib.suppress(ConnectionClosed):
                        while True:
                            await ws.send(message)
                            await asyncio.sleep(0)

                flooding = asyncio.create_task(flood())
                async with asyncio.timeout(20):
                    with contextlib.suppress(ConnectionClosed):
                        async for raw in ws:  # ends when the server closes the socket
                            refused += json.loads(raw).get("code") == "rate_limited"
                await flooding
                assert refused == limit.flood_refusals  # the last one before the close
                assert ws.close_code is None or ws.close_code == 1006  # no handshake: dropped
            # The flood is gone; Ann's socket and room are as they were.
            await ann.ok("remove_player", seat=1)
            assert (await engine.view(room, "Ann")).seats[1].name is None  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_create_room_is_bounded_per_connection_and_per_host_name(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, url):  # the default limits
            # One socket: open a room, leave it (the host leaving closes it), open another...
            mallory = await greet(url, "Mallory")  # 1 token of 40
            await mallory.ok("create_room")  # 20
            assert (await mallory.request("leave"))["type"] == "left"  # 1
            again = await mallory.request("create_room")  # 20 more: not there
            assert again["code"] == "rate_limited", again
            # New sockets under the same name get past that, but not past the engine's
            # own bound on rooms per host name (10 at once by default).
            opened = 1
            while True:
                fresh = await greet(url, "Mallory")
                reply = await fresh.request("create_room")
                await fresh.ws.close()
                if reply["type"] != "ok":
                    break
                opened += 1
                assert opened <= 10, "an 11th room from one host name"
            assert (reply["code"], opened) == ("too_many_rooms", 10), reply
            # Someone else still opens a room.
            await (await greet(url, "Alice")).ok("create_room")

    asyncio.run(scenario())


def test_callers_asking_for_one_page_at_once_share_one_read(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, _):
            for i in range(3):
                await engine.create_room(f"Host{i}")
            await engine.projections.wait_caught_up()
            pages = LobbyPages(
                lambda: engine.read_models,
                lambda: engine.projections.position(LobbyProjection.name),
                room_info,
                refresh=60.0,
            )
            many = await asyncio.gather(*(pages.page(False, 0, 100, False) for _ in range(20)))
            assert pages.reads == 1 and all(p is many[0] for p in many)
            assert [r.host for r in many[0].rooms] == ["Host0", "Host1", "Host2"]
            await pages.page(True, 0, 100, False)  # another page is another read
            fresh = await pages.page(False, 0, 100, True)  # a writer's: read anew
            assert pages.reads == 3 and fresh is not many[0]

    asyncio.run(scenario())
