"""A page of a read model's list, and how every query reads one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from msgspec import Struct

from projections.protocol import Connection

T = TypeVar("T")


class Page(Struct, Generic[T], frozen=True):
    """A slice of a long list, and the checkpoint of the state it was read from."""

    items: tuple[T, ...]
    as_of: int
    limit: int
    offset: int


def read_page(
    conn: Connection,
    name: str,
    sql: str,
    params: tuple[object, ...],
    limit: int,
    offset: int,
    build: Callable[[Connection, list[Any]], list[T]],
) -> Page[T]:
    """Run a list query of projection `name` (its SQL ends in `LIMIT ? OFFSET ?`) inside
    the caller's read transaction, stamped with that projection's checkpoint."""
    if limit <= 0 or offset < 0:
        raise ValueError("limit must be positive and offset not negative")
    (as_of,) = conn.execute(
        "SELECT position FROM checkpoints WHERE name = ? AND lane = 'live'", (name,)
    ).fetchone()
    rows = conn.execute(sql, (*params, limit, offset)).fetchall()
    return Page(tuple(build(conn, rows)), as_of, limit, offset)
