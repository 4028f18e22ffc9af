"""Where the tool writes: a rich Console, coloured on a terminal and plain text otherwise."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from typing import IO, cast

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from engine.pieces import Colour, Piece

PLAIN_WIDTH = 160


class Output:
    """The console the commands print to; `plain` means no colours, ASCII tables, wide lines."""

    def __init__(self, plain: bool | None = None, file: IO[str] | None = None) -> None:
        stream = file if file is not None else sys.stdout
        self.plain = not stream.isatty() if plain is None else plain
        if self.plain:
            self.console = Console(
                file=cast(IO[str], _TrimmedLines(stream)),
                force_terminal=False,
                force_interactive=False,
                no_color=True,
                color_system=None,
                highlight=False,
                markup=False,
                emoji=False,
                width=_plain_width(),
            )
        else:
            self.console = Console(file=stream, highlight=False, markup=False, emoji=False)

    def print(self, *renderables: RenderableType) -> None:
        self.console.print(*renderables)

    def line(self, *parts: str | tuple[str, str] | Text) -> None:
        """Print one line made of plain strings and (text, style) pairs."""
        self.console.print(Text.assemble(*parts), soft_wrap=True)

    def rule(self, title: str) -> None:
        self.console.rule(Text(title, style="bold"), characters="-" if self.plain else "─")

    def table(self, *headers: str, title: str | None = None, grid: bool = False) -> Table:
        """A table in the house style: boxed (ASCII when plain) or a borderless grid."""
        if grid:
            table = Table(box=None, show_header=False, pad_edge=False, padding=(0, 2, 0, 0))
        else:
            table = Table(
                box=box.ASCII if self.plain else box.SIMPLE_HEAD,
                title=title,
                title_justify="left",
                header_style="" if self.plain else "bold",
            )
        for header in headers:
            table.add_column(header)
        return table


class _TrimmedLines(io.TextIOBase):
    """A text stream that drops the trailing spaces rich pads table cells with."""

    def __init__(self, target: IO[str]) -> None:
        super().__init__()
        self._target = target
        self._pending = ""

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def write(self, text: str) -> int:
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            self._target.write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target.write(self._pending)
            self._pending = ""
        self._target.flush()


def _plain_width() -> int:
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 40 else PLAIN_WIDTH


def piece_style(piece: Piece) -> str:
    return "red" if piece.colour is Colour.RED else "bold"


def pieces_markup(pieces: Sequence[Piece]) -> Text:
    """Pieces by kind, red ones in red."""
    if not pieces:
        return Text("-")
    text = Text()
    for i, piece in enumerate(pieces):
        if i:
            text.append(" ")
        text.append(piece.value, style=piece_style(piece))
    return text


def status_text(status: str) -> Text:
    """PASS / FAIL / SKIP (and match statuses) with their colours."""
    styles = {
        "pass": "bold green",
        "fail": "bold red",
        "skip": "yellow",
        "active": "cyan",
        "completed": "green",
        "archived": "magenta",
    }
    return Text(
        status.upper() if status in ("pass", "fail", "skip") else status,
        style=styles.get(status, ""),
    )
