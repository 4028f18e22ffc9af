"""Docs that run: every Python block in README.md and docs/*.md runs as written.

A block opened with ```` ```python fragment ```` is an excerpt on purpose and is skipped
(docs/writing-docs.md). Each other block runs in a fresh interpreter in an empty folder,
top-level `await` allowed (as in `python -m asyncio`), within a time limit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TIMEOUT = 90.0
# Runs one block from stdin: compiled with top-level await; a coroutine result is awaited.
RUNNER = """
import ast, asyncio, sys
code = compile(sys.stdin.read(), sys.argv[1], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__"})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


class Block(msgspec.Struct, frozen=True):
    page: str
    line: int  # of the opening fence, 1-based
    info: str  # the fence's info string, e.g. "python" or "python fragment"
    source: str

    @property
    def fragment(self) -> bool:
        return "fragment" in self.info.split()[1:]


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of `page` whose info string starts with `python`."""
    found: list[Block] = []
    opened: tuple[int, str] | None = None
    body: list[str] = []
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        fence = line.strip().startswith("```")
        if opened is None and fence:
            opened, body = (number, line.strip()[3:].strip()), []
        elif opened is not None and fence:
            info = opened[1]
            if info.split()[:1] == ["python"]:
                found.append(Block(page.name, opened[0], info, "\n".join(body) + "\n"))
            opened = None
        elif opened is not None:
            body.append(line)
    assert opened is None, f"{page.name}: the block opened at line {opened[0]} never closes"
    return found


ALL = [b for page in PAGES for b in blocks(page)]
RUNNABLE = [b for b in ALL if not b.fragment]


def test_the_readme_and_the_embedding_guide_have_blocks_that_run() -> None:
    pages = {b.page for b in RUNNABLE}
    assert {"README.md", "embedding.md"} <= pages, pages


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"{b.page}:{b.line}" for b in RUNNABLE])
def test_the_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    where = f"{block.page}:{block.line}"
    done = subprocess.run(
        [sys.executable, "-c", RUNNER, where],
        input=block.source,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stderr[-3000:]}"
