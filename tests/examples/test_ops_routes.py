"""/metrics and /healthz on the example server's port, read over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path

from tests.examples.test_server import greet, running_server

SAMPLE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|NaN|[+-]Inf$")


def get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, reply.headers["Content-Type"], reply.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.headers["Content-Type"], refused.read().decode()


def test_metrics_and_health_are_served_beside_the_game(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_server(tmp_path) as (engine, url):
            http_url = url.replace("ws://", "http://")
            ann = await greet(url, "Ann")
            await ann.ok("create_room")
            status, kind, text = await asyncio.to_thread(get, http_url + "/metrics")
            assert status == 200 and kind.startswith("text/plain; version=0.0.4")
            samples = [line for line in text.splitlines() if line and not line.startswith("#")]
            assert samples and all(SAMPLE.match(line) for line in samples), text
            assert "# TYPE liaptui_store_missing_bundles gauge" in text

            status, kind, text = await asyncio.to_thread(get, http_url + "/healthz")
            assert (status, json.loads(text)) == (200, {"store": "ok", "read_models": "ok"})
            await engine.projections.close()  # the read models stop: unhealthy
            status, _, text = await asyncio.to_thread(get, http_url + "/healthz")
            assert (status, json.loads(text)["read_models"]) == (503, "stopped")

    asyncio.run(scenario())
