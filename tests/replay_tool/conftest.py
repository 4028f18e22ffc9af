"""Fixtures for the replay tool's tests: a store of real matches, and running the tool."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.replay_tool.matches import PlayedStore, build_store

ROOT = Path(__file__).resolve().parents[2]
Tool = Callable[..., subprocess.CompletedProcess[str]]


def tool_environment(pycache: Path) -> dict[str, str]:
    """The environment the tool runs in: not a terminal, default width, compiled modules
    cached outside the source tree (so that each run does not compile them again)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("COLUMNS", "FORCE_COLOR", "PYTHONDONTWRITEBYTECODE")
    }
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_tool(
    *args: str | Path, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m replay_tool ARGS` in a subprocess, stdout and stderr captured (not a TTY)."""
    return subprocess.run(
        [sys.executable, "-m", "replay_tool", *map(str, args)],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> PlayedStore:
    """Six real matches played by bots through the Engine, one of them archived."""
    return asyncio.run(build_store(tmp_path_factory.mktemp("store")))


@pytest.fixture(scope="session")
def tool_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return tool_environment(tmp_path_factory.mktemp("pycache"))


@pytest.fixture
def tool(tool_env: dict[str, str]) -> Tool:
    """Run the tool: `tool("--db", path, "show", "ROOM")`."""
    return functools.partial(run_tool, env=tool_env)


@pytest.fixture
def store_copy(played: PlayedStore, tmp_path: Path) -> PlayedStore:
    """A private copy of the played store (hot file and archive) that a test may damage."""
    db = tmp_path / played.db.name
    archive = tmp_path / played.archive.name
    shutil.copyfile(played.db, db)
    shutil.copyfile(played.archive, archive)
    return PlayedStore(
        db=db, archive=archive, redeal_seed=played.redeal_seed, plain_seed=played.plain_seed
    )
