"""The example game server on two nodes: two `examples.server` processes in front of a
two-node cluster; players connected to either play one match, which finishes through the
surviving node after its owner is SIGKILLed."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from actors.cluster.client import NodeClient
from engine.codec import decode_records
from engine.events import Event
from engine.store.postgres import PostgresEventStore
from tests.cluster.harness import processes_with, running_cluster
from tests.cluster.test_routing import wait_for_members
from tests.examples.test_server import assert_final_result, assert_saw_exactly, greet

ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def game_server(store_url: str, ports: list[int], log: Path) -> Iterator[str]:
    """`python -m examples.server --cluster ...` on a free port; its ws:// URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "examples.server",
            "--db",
            store_url,
            "--port",
            "0",
            "--fast",
            "--cluster",
            ",".join(map(str, ports)),
        ],
        stdout=subprocess.PIPE,
        stderr=log.open("a"),
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on ws://127.0.0.1:"), log.read_text()[-3000:]
        yield line.split()[2]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


async def history(url: str, room: str) -> list[Event]:
    store = await PostgresEventStore.open(url)
    try:
        return list(decode_records(await store.read_stream(room)))
    finally:
        await store.close()


def test_players_on_two_servers_finish_a_match_across_the_loss_of_its_node(
    pg_url: str, tmp_path: Path
) -> None:
    with running_cluster(pg_url, tmp_path) as cluster:
        cluster.start_node("a", "--fast")
        cluster.start_node("b", "--fast")
        port_a, port_b = (cluster.nodes[n].admin_port for n in ("a", "b"))
        wait_for_members([NodeClient(port_a), NodeClient(port_b)], 2)
        killed: list[str] = []
        at_kill: list[int] = []
        with (
            game_server(pg_url, [port_a, port_b], tmp_path / "server-a.log") as url_a,
            game_server(pg_url, [port_b, port_a], tmp_path / "server-b.log") as url_b,
        ):

            async def scenario() -> str:
                loop = asyncio.get_running_loop()
                ann, ben = await greet(url_a, "Ann"), await greet(url_b, "Ben")
                room: str = (await ann.ok("create_room"))["room"]
                await ann.ok("remove_player", seat=1)
                await ben.ok("join_room", room=room)  # through the other server
                listed = await ben.request("list_rooms")  # the cluster's lobby, from B
                assert listed["type"] == "rooms", listed
                await ann.ok("start")

                async def kill_mid_match() -> None:
                    await ben.wait_for(lambda: ben.version >= 25, 30)
                    owner = cluster.owner_of(room)
                    assert owner is not None
                    killed.append(owner)
                    at_kill.append(ben.version)
                    await asyncio.to_thread(cluster.kill, owner)
                    started = loop.time()
                    await ben.wait_for(lambda: ben.version > at_kill[0], 30)
                    print(
                        f"killed {owner} at v{at_kill[0]}; next update after {loop.time() - started:.2f}s"
                    )

                await asyncio.wait_for(asyncio.gather(ann.play(), ben.play(), kill_mid_match()), 60)
                events = await history(pg_url, room)
                assert_saw_exactly(ann, events, seat=0)
                assert_saw_exactly(ben, events, seat=1)
                assert_final_result(ann, events)
                assert_final_result(ben, events)
                assert len(events) > at_kill[0] + 20  # most of the match came after the kill
                for client in (ann, ben):
                    await client.ws.close()
                return room

            asyncio.run(scenario())
        assert len(killed) == 1 and killed[0] not in cluster.nodes
        # This test's servers, by their --cluster ports: other tests running beside it may
        # have servers of their own.
        assert not processes_with([f"--cluster {port_a},{port_b}", f"--cluster {port_b},{port_a}"])
