"""The operator procedures of docs/operations.md, run as written.

A procedure is a fenced block whose info string is `sh NAME`; `run_procedure` runs its
text verbatim with bash (errors stop it) in the folder given.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

OPERATIONS = Path(__file__).resolve().parent.parent / "docs" / "operations.md"


def procedure(name: str, page: Path = OPERATIONS) -> str:
    """The text of the `sh NAME` block of `page` (indented blocks of a list item too)."""
    found: list[str] = []
    body: list[str] | None = None
    indent = 0
    for line in page.read_text().splitlines():
        stripped = line.strip()
        if body is None and stripped == f"```sh {name}":
            body, indent = [], len(line) - len(line.lstrip())
        elif body is not None and stripped == "```":
            found.append("\n".join(body) + "\n")
            body = None
        elif body is not None:
            body.append(line[indent:])
    assert len(found) == 1, f"{page.name} has {len(found)} blocks named {name!r}"
    return found[0]


def run_procedure(
    name: str, folder: Path, env: Mapping[str, str] | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run the procedure in `folder`; its output, having failed the caller if it failed."""
    done = subprocess.run(
        ["bash", "-e", "-u", "-o", "pipefail", "-c", procedure(name)],
        cwd=folder,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"procedure {name!r} failed:\n{done.stdout}\n{done.stderr}"
    return done
