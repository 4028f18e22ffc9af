"""Which streams are forks, for the read models that leave forks out of a player's record.

A fork (engine.forking) replays its source's first events as its own, so a read model that
sums games per player would count the copied part twice and let anyone farm a result by
forking a match just before its end. Such read models fold a fork not at all, unless they
are configured to count forks; a fork's ForkedFrom comes before any GameOver of its own.
"""

from __future__ import annotations

from projections.protocol import Connection

FORKS_TABLE = "forks"


def forks_schema(prefix: str, owner: str) -> str:
    """The table of the fork streams `owner` has seen (one per read model, so rebuilds stay
    independent)."""
    return f"CREATE TABLE {prefix}{owner}_{FORKS_TABLE} (room_id TEXT PRIMARY KEY) WITHOUT ROWID"


def mark_fork(conn: Connection, prefix: str, owner: str, room_id: str) -> None:
    conn.execute(
        f"INSERT INTO {prefix}{owner}_{FORKS_TABLE} VALUES (?) ON CONFLICT DO NOTHING", (room_id,)
    )


def is_fork(conn: Connection, prefix: str, owner: str, room_id: str) -> bool:
    row = conn.execute(
        f"SELECT 1 FROM {prefix}{owner}_{FORKS_TABLE} WHERE room_id = ?", (room_id,)
    ).fetchone()
    return row is not None


COUNTING_FORKS = 1000
"""Added to a read model's version while it counts forks: the setting changes the fold, so
changing it makes the runner rebuild the read model (see Projection.version)."""


def fold_version(version: int, count_forks: bool) -> int:
    return version + (COUNTING_FORKS if count_forks else 0)
