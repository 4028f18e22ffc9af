"""What a cluster of engine nodes keeps in the shared PostgreSQL store: who is a member
(leases and advisory locks), which node owns each room (at which epoch), and the fenced
append that refuses, in the same statement, a node that no longer owns the room.

No thespian here: `actors/cluster/` composes these operations into nodes (docs/cluster.md).

* A member is a `cluster_nodes` row (node id, epoch, gateway address, lease) plus a
  session-level advisory lock `(CLUSTER_LOCKS, epoch)` held on the node's own connection.
  The lock dies with the node's connection (a SIGKILLed node's is gone within milliseconds),
  the lease with time (a paused or cut-off node); either ends the membership for good: a
  node that comes back joins again with a new epoch.
* `room_owners` says which node, at which epoch, may append to a room. A node claims a
  room only while the recorded owner is released (NULL), itself, or not a live member.
* Every append of a node goes through `fenced_append_batch`, which checks ownership and
  lease, with the owner row locked, before `append_batch`'s own checks run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from msgspec import Struct

from engine.store.batch import validate_requests
from engine.store.errors import ConcurrencyConflict, OwnershipLost
from engine.store.postgres.schema import APPEND_PARAMETERS, SCHEMA_LOCK, durable_procedure
from engine.store.postgres.store import (
    _APPEND,
    PostgresEventStore,
    append_arguments,
    guarded,
)
from engine.store.records import AppendRequest, AppendResult

CLUSTER_LOCKS = 0x4C544E44  # "LTND": the first key of every member's advisory lock

CREATE_CLUSTER = """
CREATE SCHEMA IF NOT EXISTS liaptui;
CREATE SEQUENCE IF NOT EXISTS liaptui.cluster_epochs;
CREATE TABLE IF NOT EXISTS liaptui.cluster_nodes (
    node_id text COLLATE "C" PRIMARY KEY,
    epoch bigint NOT NULL,
    address bytea NOT NULL,
    label text NOT NULL,
    lease_until timestamptz NOT NULL,
    joined_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS liaptui.room_owners (
    room_id text COLLATE "C" PRIMARY KEY,
    node_id text,
    epoch bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS room_owners_node ON liaptui.room_owners (node_id, epoch);
"""

# Appends of rooms this node does not own at this epoch, or of a node whose lease ran
# out, are given an expected version no stream has (-1), so `append_batch` writes none of
# them; their slots come back 'fenced'. The owner rows are locked FOR SHARE: a claim of
# one of these rooms by another node waits for this commit, and then reads what it wrote.
_FENCED_PARAMETERS = "p_node text, p_epoch bigint, " + APPEND_PARAMETERS
CREATE_FENCED_APPEND = """
CREATE OR REPLACE FUNCTION liaptui.fenced_append_batch(
    """ + _FENCED_PARAMETERS + """
) RETURNS TABLE (
    outcome text, actual bigint, first_version bigint, last_version bigint,
    first_position bigint, last_position bigint
) LANGUAGE plpgsql AS $$
DECLARE
    n integer := coalesce(array_length(p_stream, 1), 0);
    live boolean;
    allowed boolean[] := array_fill(false, ARRAY[n]);
    expected bigint[];
BEGIN
    SELECT true INTO live FROM liaptui.cluster_nodes
     WHERE node_id = p_node AND epoch = p_epoch AND lease_until > clock_timestamp();
    IF live THEN
        -- Each request's room is looked up in the locked owner rows by a join, not by
        -- searching an array of them once per request (n x n comparisons).
        WITH owned AS MATERIALIZED (
            SELECT room_id FROM liaptui.room_owners
             WHERE room_id = ANY(p_stream) AND node_id = p_node AND epoch = p_epoch
             ORDER BY room_id FOR SHARE
        )
        SELECT array_agg(o.room_id IS NOT NULL ORDER BY u.i),
               array_agg(CASE WHEN o.room_id IS NULL THEN -1 ELSE u.expected END ORDER BY u.i)
          INTO allowed, expected
          FROM unnest(p_stream, p_expected) WITH ORDINALITY AS u(stream_id, expected, i)
          LEFT JOIN owned o ON o.room_id = u.stream_id;
    ELSE
        expected := array_fill(-1::bigint, ARRAY[n]);
    END IF;
    RETURN QUERY
        SELECT CASE WHEN NOT allowed[r.i::integer] AND r.outcome = 'conflict'
                    THEN 'fenced' ELSE r.outcome END,
               r.actual, r.first_version, r.last_version, r.first_position, r.last_position
          FROM liaptui.append_batch(
                   p_stream, expected, p_command_id, p_command, p_command_at, p_counts,
                   p_prev, p_prev_command, p_type, p_schema, p_data, p_checksum, p_req, p_now,
                   p_digest)
               WITH ORDINALITY AS r(outcome, actual, first_version, last_version,
                                    first_position, last_position, i)
         ORDER BY r.i;
END
$$;
"""
CREATE_FENCED_APPEND += durable_procedure("fenced_append_batch", _FENCED_PARAMETERS)

# The plain append's arguments, after this node's id and epoch.
_FENCED_APPEND = (
    "CALL liaptui.fenced_append_batch_durable($1, $2, "
    + ", ".join(f"${n + 2}" for n in range(1, _APPEND.count("$") + 1))
    + ")"
)

# One round trip a beat: renew our lease (only while it has not run out: a lapsed member
# stays lapsed), end the membership of every member whose advisory lock is gone (its
# connection died), and list who is live now.
_BEAT = f"""
WITH renewed AS (
    UPDATE liaptui.cluster_nodes SET lease_until = clock_timestamp() + $3 * interval '1 second'
     WHERE node_id = $1 AND epoch = $2 AND lease_until > clock_timestamp()
    RETURNING node_id
), dead AS (
    UPDATE liaptui.cluster_nodes n SET lease_until = '-infinity'
     WHERE n.lease_until > clock_timestamp() AND NOT (n.node_id = $1 AND n.epoch = $2)
       AND NOT EXISTS (
           SELECT 1 FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND l.classid = {CLUSTER_LOCKS}::bigint::oid AND l.objid = n.epoch::oid)
    RETURNING n.node_id
)
SELECT n.node_id, n.epoch, n.address, n.label, EXISTS (SELECT 1 FROM renewed) AS renewed
  FROM liaptui.cluster_nodes n
 WHERE (n.lease_until > clock_timestamp() AND n.node_id NOT IN (SELECT node_id FROM dead))
    OR (n.node_id = $1 AND n.epoch = $2 AND EXISTS (SELECT 1 FROM renewed))
 ORDER BY n.node_id
"""

_LIVE_OWNER = (
    "SELECT 1 FROM liaptui.cluster_nodes n WHERE n.node_id = o.node_id "
    "AND n.epoch = o.epoch AND n.lease_until > clock_timestamp()"
)

_CLAIM = f"""
INSERT INTO liaptui.room_owners AS o (room_id, node_id, epoch)
SELECT r, $2, $3 FROM unnest($1::text[]) AS r
 WHERE EXISTS (SELECT 1 FROM liaptui.cluster_nodes
                WHERE node_id = $2 AND epoch = $3 AND lease_until > clock_timestamp())
ON CONFLICT (room_id) DO UPDATE SET node_id = excluded.node_id, epoch = excluded.epoch
 WHERE o.node_id IS NULL OR o.node_id = excluded.node_id OR NOT EXISTS ({_LIVE_OWNER})
RETURNING o.room_id
"""

_RELEASE = """
UPDATE liaptui.room_owners SET node_id = NULL
 WHERE room_id = ANY($1::text[]) AND node_id = $2 AND epoch = $3
"""

# Active rooms that no live member owns: never claimed, released, or of a node gone.
_ORPHANS = f"""
SELECT s.stream_id FROM liaptui.streams s
  LEFT JOIN liaptui.room_owners o ON o.room_id = s.stream_id
 WHERE s.status = 'active'
   AND (o.room_id IS NULL OR o.node_id IS NULL OR NOT EXISTS ({_LIVE_OWNER}))
"""


class Member(Struct, frozen=True):
    """A live member as the store lists it: its gateway's address is opaque bytes here."""

    node_id: str
    epoch: int
    address: bytes
    label: str


class Beat(Struct, frozen=True):
    """One beat's findings: whether our lease was renewed, and the live members."""

    renewed: bool
    members: tuple[Member, ...]


async def create_cluster_schema(conn: Any) -> None:
    """Create the cluster's tables and the fenced append (idempotent, taking turns)."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
        await conn.execute(CREATE_CLUSTER)
        await conn.execute(CREATE_FENCED_APPEND)


class Registry:
    """A node's membership and ownership operations, on a connection of its own (its
    advisory lock lives and dies with that connection)."""

    def __init__(self, conn: asyncpg.Connection, pool: asyncpg.Pool, node_id: str) -> None:
        self.conn = conn  # the membership's own: its lock, its beats
        self.pool = pool  # claims, releases and looks at the rooms
        self.node_id = node_id
        self.epoch = 0

    @classmethod
    async def connect(cls, url: str, node_id: str) -> Registry:
        settings = {"application_name": f"liaptui-node {node_id}"}
        with guarded():
            conn = await asyncpg.connect(url, server_settings=settings)
        try:
            with guarded():
                await create_cluster_schema(conn)
                pool = await asyncpg.create_pool(
                    url, min_size=1, max_size=3, server_settings=settings
                )
        except BaseException:
            await conn.close()
            raise
        return cls(conn, pool, node_id)

    async def join(self, address: bytes, label: str, lease: float) -> int:
        """Become a member under a fresh epoch: lock first, then the row, so a row is
        never seen without its lock. Returns the epoch."""
        with guarded():
            if self.epoch:
                await self.conn.execute(
                    "SELECT pg_advisory_unlock($1, $2)", CLUSTER_LOCKS, self.epoch
                )
            epoch = int(await self.conn.fetchval("SELECT nextval('liaptui.cluster_epochs')"))
            await self.conn.execute("SELECT pg_advisory_lock($1, $2)", CLUSTER_LOCKS, epoch)
            await self.conn.execute(
                "INSERT INTO liaptui.cluster_nodes VALUES "
                "($1, $2, $3, $4, clock_timestamp() + $5 * interval '1 second', clock_timestamp()) "
                "ON CONFLICT (node_id) DO UPDATE SET epoch = excluded.epoch, "
                "address = excluded.address, label = excluded.label, "
                "lease_until = excluded.lease_until, joined_at = excluded.joined_at",
                self.node_id,
                epoch,
                address,
                label,
                lease,
            )
        self.epoch = epoch
        return epoch

    async def beat(self, lease: float) -> Beat:
        with guarded():
            rows = await self.conn.fetch(_BEAT, self.node_id, self.epoch, lease)
        renewed = bool(rows and rows[0]["renewed"])
        members = tuple(
            Member(r["node_id"], r["epoch"], bytes(r["address"]), r["label"]) for r in rows
        )
        return Beat(renewed, members)

    async def leave(self) -> None:
        """End the membership now (a clean stop): the lease and the lock go, our rooms
        are released."""
        with guarded():
            await self.conn.execute(
                "UPDATE liaptui.room_owners SET node_id = NULL WHERE node_id = $1 AND epoch = $2",
                self.node_id,
                self.epoch,
            )
            await self.conn.execute(
                "UPDATE liaptui.cluster_nodes SET lease_until = '-infinity' "
                "WHERE node_id = $1 AND epoch = $2",
                self.node_id,
                self.epoch,
            )
            await self.conn.execute("SELECT pg_advisory_unlock_all()")

    async def claim(self, room_ids: Sequence[str]) -> set[str]:
        """Take ownership of those rooms that no live member but us holds; the ones taken."""
        if not room_ids:
            return set()
        with guarded():
            rows = await self.pool.fetch(_CLAIM, list(room_ids), self.node_id, self.epoch)
        return {r["room_id"] for r in rows}

    async def release(self, room_ids: Sequence[str]) -> None:
        """Give rooms up (after their actors stopped) so their next owner may claim them."""
        if room_ids:
            with guarded():
                await self.pool.execute(_RELEASE, list(room_ids), self.node_id, self.epoch)

    async def owned(self) -> list[str]:
        with guarded():
            rows = await self.pool.fetch(
                "SELECT room_id FROM liaptui.room_owners WHERE node_id = $1 AND epoch = $2",
                self.node_id,
                self.epoch,
            )
        return [r["room_id"] for r in rows]

    async def orphans(self) -> list[str]:
        """Active rooms no live member owns (a dead node's, released ones, new ones)."""
        with guarded():
            rows = await self.pool.fetch(_ORPHANS)
        return [r["stream_id"] for r in rows]

    async def close(self) -> None:
        await self.pool.close()
        await self.conn.close()


class FencedPostgresStore(PostgresEventStore):
    """The PostgreSQL store whose appends are fenced by room ownership: they are written
    only while node `node_id` owns the room at `epoch` and its lease runs (epoch 0: not a
    member now, every append refused). A fenced append's slot is OwnershipLost, and
    `on_fenced` hears the rooms of each batch that had any."""

    node_id = ""
    epoch = 0
    on_fenced: Callable[[list[str]], None] | None = None

    async def _setup(self) -> None:
        await super()._setup()
        if not self._readonly:
            async with self._pool.acquire() as conn:
                await create_cluster_schema(conn)

    async def append_batch(
        self, reqs: Sequence[AppendRequest]
    ) -> list[AppendResult | ConcurrencyConflict]:
        validate_requests(reqs)
        node_id, epoch = self.node_id, self.epoch
        results: list[AppendResult | ConcurrencyConflict]
        if not reqs:
            return []
        if not epoch:
            results = [OwnershipLost(r.stream_id, node_id, r.expected_version) for r in reqs]
        else:
            self._check_writable()
            with guarded():
                pool = self._appends or self._pool
                rows = await self._fetch_appends(
                    pool, _FENCED_APPEND, node_id, epoch, *append_arguments(reqs, self._clock())
                )
            results = self._append_results(reqs, rows, node_id)
        lost = [r.stream_id for r in results if isinstance(r, OwnershipLost)]
        if lost and self.on_fenced is not None:
            self.on_fenced(lost)
        return results
