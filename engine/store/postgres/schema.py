"""The PostgreSQL store's tables and its append function, in the `liaptui` schema."""

from __future__ import annotations

SCHEMA_VERSION = 2
NOTIFY_CHANNEL = "liaptui_log"
# Any constant that is ours: opens creating the schema at once take turns on it.
SCHEMA_LOCK = 0x4C54_5549  # "LTUI"

CREATE_META = """
CREATE SCHEMA IF NOT EXISTS liaptui;
CREATE TABLE IF NOT EXISTS liaptui.meta (
    key text PRIMARY KEY,
    value bigint NOT NULL
);
"""

# `head` holds the last position ever assigned; every append locks its one row, so
# appends commit one after another in position order (docs/store.md, "the global log").
# A stream row changes with every append, so no index may hold a column an append
# changes (last_version, last_position, updated_at): then PostgreSQL updates the row in
# place on its page (a HOT update, fillfactor leaves room) without touching an index.
# Listings by status use `streams_status`, and sort by updated_at after filtering.
# Stream ids are collated "C" in streams and retired_streams (and the cluster's
# room_owners), by default elsewhere: a join across the two compares under one collation
# (`COLLATE "C"`, or the id as a parameter), or no index of the other table serves it.
CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS liaptui.head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_position bigint NOT NULL
);
INSERT INTO liaptui.head VALUES (true, 0) ON CONFLICT DO NOTHING;
-- One row a server process: an append makes its WAL durable by a small synchronous write
-- here after its own commit (`WAL_FLUSH`), without contending with other sessions' rows.
CREATE TABLE IF NOT EXISTS liaptui.wal_flushes (
    pid integer PRIMARY KEY,
    n bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS liaptui.streams (
    stream_id text COLLATE "C" PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('active', 'completed', 'archived')),
    last_version bigint NOT NULL,
    last_position bigint NOT NULL,
    created_at float8 NOT NULL,
    updated_at float8 NOT NULL
) WITH (fillfactor = 70);
-- A store made before the rule above: changed once, on its first open by this schema.
DROP INDEX IF EXISTS liaptui.streams_updated;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = 'liaptui.streams'::regclass
                   AND reloptions @> ARRAY['fillfactor=70']) THEN
        ALTER TABLE liaptui.streams SET (fillfactor = 70);
    END IF;
END $$;
CREATE INDEX IF NOT EXISTS streams_status ON liaptui.streams (status, stream_id);
CREATE TABLE IF NOT EXISTS liaptui.events (
    position bigint PRIMARY KEY,
    stream_id text NOT NULL,
    version bigint NOT NULL,
    type text NOT NULL,
    schema_version integer NOT NULL,
    data bytea NOT NULL,
    checksum bigint NOT NULL,
    recorded_at float8 NOT NULL,
    -- One writer per stream, whatever any client believes: a version is taken once.
    UNIQUE (stream_id, version)
);
CREATE TABLE IF NOT EXISTS liaptui.commands (
    stream_id text NOT NULL,
    command_id text NOT NULL,
    command bytea NOT NULL,
    at float8 NOT NULL,
    first_version bigint NOT NULL,
    last_version bigint NOT NULL,
    first_position bigint NOT NULL,
    last_position bigint NOT NULL,
    -- The digest of the command's identity (records.command_digest); NULL in rows of
    -- schema version 1, which are then not compared on a reused id.
    digest bytea,
    -- liaptui.command_checksum of the whole row; every read checks it.
    checksum bigint,
    PRIMARY KEY (stream_id, command_id)
);
CREATE TABLE IF NOT EXISTS liaptui.snapshots (
    stream_id text PRIMARY KEY,
    version bigint NOT NULL,
    schema_version integer NOT NULL,
    payload bytea NOT NULL,
    checksum bigint NOT NULL,
    saved_at float8 NOT NULL
);
CREATE TABLE IF NOT EXISTS liaptui.bundles (
    stream_id text PRIMARY KEY,
    header bytea NOT NULL,
    body bytea NOT NULL,
    first_position bigint NOT NULL,
    last_position bigint NOT NULL,
    archived_at float8 NOT NULL
);
CREATE INDEX IF NOT EXISTS bundles_reach ON liaptui.bundles (last_position);
-- The ids of streams retention (or a given-up bundle) forgot: never started again.
CREATE TABLE IF NOT EXISTS liaptui.retired_streams (
    stream_id text COLLATE "C" PRIMARY KEY,
    retired_at float8 NOT NULL
);
"""

# records.command_checksum, in SQL: the first 8 bytes of the MD5 of the length-prefixed
# text/bytes columns, then `at` and the versions/positions, big-endian. STABLE, as
# `convert_to` is: so PostgreSQL inlines it into the statements that call it.
CREATE_CHECKSUM = """
CREATE OR REPLACE FUNCTION liaptui.command_checksum(
    p_stream text, p_command_id text, p_command bytea, p_at float8, p_fv bigint,
    p_lv bigint, p_fp bigint, p_lp bigint, p_digest bytea
) RETURNS bigint LANGUAGE sql STABLE AS $$
SELECT ('x' || substr(md5(
    int4send(octet_length(convert_to(p_stream, 'UTF8'))) || convert_to(p_stream, 'UTF8')
    || int4send(octet_length(convert_to(p_command_id, 'UTF8')))
    || convert_to(p_command_id, 'UTF8')
    || int4send(octet_length(p_command)) || p_command
    || int4send(octet_length(coalesce(p_digest, ''::bytea))) || coalesce(p_digest, ''::bytea)
    || float8send(p_at) || int8send(p_fv) || int8send(p_lv) || int8send(p_fp) || int8send(p_lp)
), 1, 16))::bit(64)::bigint
$$;
"""

# Schema version 1 -> 2: commands rows gain a digest (NULL: not known) and a checksum,
# computed over each row as it is; the append function takes the requests' digests.
UPGRADE_1_TO_2 = """
ALTER TABLE liaptui.commands ADD COLUMN IF NOT EXISTS digest bytea,
    ADD COLUMN IF NOT EXISTS checksum bigint;
UPDATE liaptui.commands SET checksum = liaptui.command_checksum(
    stream_id, command_id, command, at, first_version, last_version, first_position,
    last_position, digest) WHERE checksum IS NULL;
DROP FUNCTION IF EXISTS liaptui.append_batch(
    text[], bigint[], text[], bytea[], float8[], integer[], integer[], integer[], text[],
    integer[], bytea[], bigint[], integer[], float8);
"""

# A batch's appends in one call, so one round trip and one implicit transaction. Each
# request is checked in order against what the ones before it wrote, as plan_batch does
# for SQLite: a retried command returns its original slot, an archived stream or a stale
# expected version fails alone. A fixed handful of statements whatever the batch's size:
# the heads and applied commands are read in one, the checks run over arrays in the loop
# (no SQL inside it), and each table is written by one statement. Events arrive flattened:
# `p_counts` says how many each request brings, `p_req` which request each event is of;
# `p_prev` is the batch's previous request on the same stream (0: none) and
# `p_prev_command` its previous one with the same stream and command id; `p_digest` each
# request's command digest (NULL: named by its id alone). Outcome per request: ok,
# duplicate, reused (the id was recorded for another command), archived, retired (an id
# retention forgot) or conflict. A recorded command that fails its checksum rolls the
# whole call back (data_corrupted).
# A small synchronous commit: PostgreSQL flushes the WAL up to its commit record, which
# comes after that of every append this session committed before it.
WAL_FLUSH = (
    "INSERT INTO liaptui.wal_flushes VALUES (pg_backend_pid(), 1) "
    "ON CONFLICT (pid) DO UPDATE SET n = liaptui.wal_flushes.n + 1"
)
APPEND_PARAMETERS = """
    p_stream text[], p_expected bigint[], p_command_id text[], p_command bytea[],
    p_command_at float8[], p_counts integer[], p_prev integer[], p_prev_command integer[],
    p_type text[], p_schema integer[], p_data bytea[], p_checksum bigint[], p_req integer[],
    p_now float8, p_digest bytea[]
""".strip()


def durable_procedure(function: str, parameters: str) -> str:
    """`liaptui.<function>_durable`: one CALL that runs the append function, commits it
    (without waiting for the WAL flush: the function turned synchronous_commit off for its
    transaction, so the head lock is held for the statement only), then runs WAL_FLUSH in
    a second, synchronous transaction before it returns. One round trip instead of two;
    the outcome columns come back as one row of arrays (a procedure returns no table).

    A procedure that commits may not carry a SET clause, so the plan_cache_mode of the
    append function stays on the function, where its statements are."""
    names = ", ".join(p.split()[0] for p in parameters.split(","))
    columns = [
        "outcome",
        "actual",
        "first_version",
        "last_version",
        "first_position",
        "last_position",
    ]
    outputs = ", ".join(
        f"INOUT r_{c} {'text' if c == 'outcome' else 'bigint'}[] DEFAULT NULL" for c in columns
    )
    gathered = ", ".join(f"array_agg(r.{c} ORDER BY r.i)" for c in columns)
    return f"""
CREATE OR REPLACE PROCEDURE liaptui.{function}_durable(
    {parameters}, {outputs}
) LANGUAGE plpgsql AS $$
BEGIN
    SELECT {gathered} INTO {", ".join(f"r_{c}" for c in columns)}
      FROM liaptui.{function}({names}) WITH ORDINALITY AS r({", ".join(columns)}, i);
    COMMIT;
    {WAL_FLUSH};
END
$$;
"""


# Its statements run on generic plans: left to choose, PostgreSQL planned them afresh on
# every call (array arguments), which cost more than running them (1.6 -> 1.0 ms a call
# of one request, `bench/pg_bench.py`'s server with fsync off).
CREATE_APPEND = (
    """
CREATE OR REPLACE FUNCTION liaptui.append_batch(
"""
    + APPEND_PARAMETERS
    + """
) RETURNS TABLE (
    outcome text, actual bigint, first_version bigint, last_version bigint,
    first_position bigint, last_position bigint
) LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    n integer := coalesce(array_length(p_stream, 1), 0);
    pos bigint;
    start_pos bigint;
    head_status text[];
    head_version bigint[];
    retired boolean[];
    done_fv bigint[];
    done_lv bigint[];
    done_fp bigint[];
    done_lp bigint[];
    done_digest bytea[];
    done_sound boolean[];
    r_outcome text[] := array_fill(NULL::text, ARRAY[n]);
    r_actual bigint[] := array_fill(0::bigint, ARRAY[n]);
    r_fv bigint[] := array_fill(0::bigint, ARRAY[n]);
    r_lv bigint[] := array_fill(0::bigint, ARRAY[n]);
    r_fp bigint[] := array_fill(0::bigint, ARRAY[n]);
    r_lp bigint[] := array_fill(0::bigint, ARRAY[n]);
    ok boolean[] := array_fill(false, ARRAY[n]);
    after bigint[] := array_fill(0::bigint, ARRAY[n]);
    -- The stream's last position written by this batch up to request i (0: none yet),
    -- and whether a later request of the batch is on the same stream.
    wrote bigint[] := array_fill(0::bigint, ARRAY[n]);
    followed boolean[] := array_fill(false, ARRAY[n]);
    offs integer[] := array_fill(0, ARRAY[n]);
    o integer := 0;
    cur bigint;
    j integer;
BEGIN
    -- Commit without waiting for the WAL flush, so the head lock is held for the
    -- statement, not for an fsync; append_batch_durable then runs WAL_FLUSH before it
    -- reports the batch durable (docs/store.md, "the global log").
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT h.last_position INTO pos FROM liaptui.head h FOR UPDATE;
    start_pos := pos;
    -- The stream rows are locked as they are read: archival and set_status change a
    -- stream row under its lock, and are waited for here. Each lookup is by primary key
    -- (a LATERAL with LIMIT is never turned into a scan of the whole table).
    WITH locked AS MATERIALIZED (
        SELECT s.stream_id, s.status, s.last_version FROM liaptui.streams s
         WHERE s.stream_id = ANY(p_stream) FOR UPDATE
    )
    SELECT array_agg(s.status ORDER BY u.i), array_agg(coalesce(s.last_version, 0) ORDER BY u.i),
           array_agg(c.first_version ORDER BY u.i), array_agg(c.last_version ORDER BY u.i),
           array_agg(c.first_position ORDER BY u.i), array_agg(c.last_position ORDER BY u.i),
           array_agg(c.digest ORDER BY u.i),
           array_agg(c.stream_id IS NULL OR c.checksum IS NOT DISTINCT FROM
               liaptui.command_checksum(c.stream_id, c.command_id, c.command, c.at,
                   c.first_version, c.last_version, c.first_position, c.last_position,
                   c.digest) ORDER BY u.i),
           array_agg(r.stream_id IS NOT NULL ORDER BY u.i)
      INTO head_status, head_version, done_fv, done_lv, done_fp, done_lp, done_digest,
           done_sound, retired
      FROM unnest(p_stream, p_command_id) WITH ORDINALITY AS u(stream_id, command_id, i)
      LEFT JOIN locked s ON s.stream_id = u.stream_id
      LEFT JOIN LATERAL (
          SELECT c.stream_id, c.command_id, c.command, c.at, c.first_version,
                 c.last_version, c.first_position, c.last_position, c.digest, c.checksum
            FROM liaptui.commands c
           WHERE c.stream_id = u.stream_id AND c.command_id = u.command_id LIMIT 1
      ) c ON true
      LEFT JOIN LATERAL (
          SELECT r.stream_id FROM liaptui.retired_streams r
           WHERE r.stream_id = u.stream_id COLLATE "C" LIMIT 1
      ) r ON true;
    FOR i IN 1 .. n LOOP
        offs[i] := o;
        o := o + p_counts[i];
        IF p_prev[i] > 0 THEN
            cur := after[p_prev[i]];
            wrote[i] := wrote[p_prev[i]];
            followed[p_prev[i]] := true;
        ELSE
            cur := head_version[i];
        END IF;
        after[i] := cur;
        r_actual[i] := cur;
        -- A retried command: its stored result, or that of its first success in this batch.
        j := p_prev_command[i];
        WHILE j > 0 AND r_outcome[j] NOT IN ('ok', 'duplicate') LOOP
            j := p_prev_command[j];
        END LOOP;
        IF NOT done_sound[i] THEN
            RAISE EXCEPTION 'stream %: recorded command % fails its checksum',
                p_stream[i], p_command_id[i] USING ERRCODE = 'data_corrupted';
        END IF;
        IF done_lp[i] IS NOT NULL AND p_digest[i] <> done_digest[i] THEN
            r_outcome[i] := 'reused';
        ELSIF done_lp[i] IS NOT NULL THEN
            r_outcome[i] := 'duplicate';
            r_fv[i] := done_fv[i]; r_lv[i] := done_lv[i];
            r_fp[i] := done_fp[i]; r_lp[i] := done_lp[i];
        ELSIF j > 0 AND p_digest[i] <> p_digest[j] THEN
            r_outcome[i] := 'reused';
        ELSIF j > 0 THEN
            r_outcome[i] := 'duplicate';
            r_fv[i] := r_fv[j]; r_lv[i] := r_lv[j]; r_fp[i] := r_fp[j]; r_lp[i] := r_lp[j];
        ELSIF head_status[i] = 'archived' THEN
            r_outcome[i] := 'archived';
        ELSIF head_status[i] IS NULL AND retired[i] THEN
            r_outcome[i] := 'retired';
        ELSIF p_expected[i] <> cur THEN
            r_outcome[i] := 'conflict';
        ELSE
            r_outcome[i] := 'ok';
            ok[i] := true;
            r_fv[i] := cur + 1;
            r_lv[i] := cur + p_counts[i];
            r_fp[i] := pos + 1;
            r_lp[i] := pos + p_counts[i];
            after[i] := r_lv[i];
            wrote[i] := r_lp[i];
            pos := pos + p_counts[i];
        END IF;
    END LOOP;
    IF pos > start_pos THEN
        INSERT INTO liaptui.events
        SELECT r_fp[e.req] + (e.k - offs[e.req] - 1), p_stream[e.req],
               r_fv[e.req] + (e.k - offs[e.req] - 1),
               e.type, e.schema_version, e.data, e.checksum, p_now
          FROM unnest(p_type, p_schema, p_data, p_checksum, p_req)
               WITH ORDINALITY AS e(type, schema_version, data, checksum, req, k)
         WHERE ok[e.req];
        -- Each stream's row once, from its last request in the batch: updated if it was
        -- read above, inserted if not.
        UPDATE liaptui.streams s
           SET last_version = after[u.i], last_position = wrote[u.i], updated_at = p_now
          FROM unnest(p_stream) WITH ORDINALITY AS u(stream_id, i)
         WHERE s.stream_id = u.stream_id COLLATE "C"
           AND NOT followed[u.i] AND wrote[u.i] > 0 AND head_status[u.i] IS NOT NULL;
        INSERT INTO liaptui.streams
               (stream_id, status, last_version, last_position, created_at, updated_at)
        SELECT u.stream_id, 'active', after[u.i], wrote[u.i], p_now, p_now
          FROM unnest(p_stream) WITH ORDINALITY AS u(stream_id, i)
         WHERE NOT followed[u.i] AND wrote[u.i] > 0 AND head_status[u.i] IS NULL;
        INSERT INTO liaptui.commands (stream_id, command_id, command, at, first_version,
               last_version, first_position, last_position, digest, checksum)
        SELECT w.*, liaptui.command_checksum(w.stream_id, w.command_id, w.command, w.at,
               w.fv, w.lv, w.fp, w.lp, w.digest)
          FROM (SELECT u.stream_id, u.command_id, coalesce(u.command, ''::bytea) AS command,
                       coalesce(u.at, p_now) AS at, r_fv[u.i] AS fv, r_lv[u.i] AS lv,
                       r_fp[u.i] AS fp, r_lp[u.i] AS lp, u.digest
                  FROM unnest(p_stream, p_command_id, p_command, p_command_at, p_digest)
                       WITH ORDINALITY AS u(stream_id, command_id, command, at, digest, i)
                 WHERE ok[u.i] AND u.command_id IS NOT NULL) AS w;
        UPDATE liaptui.head SET last_position = pos;
        PERFORM pg_notify('liaptui_log', pos::text);
    END IF;
    RETURN QUERY
        SELECT r.outcome, r.actual, r.fv, r.lv, r.fp, r.lp
          FROM unnest(r_outcome, r_actual, r_fv, r_lv, r_fp, r_lp)
               WITH ORDINALITY AS r(outcome, actual, fv, lv, fp, lp, i)
         ORDER BY r.i;
END
$$;
"""
)
CREATE_APPEND += durable_procedure("append_batch", APPEND_PARAMETERS)
