"""The PostgreSQL store's tables and its append function, in the `liaptui` schema."""

from __future__ import annotations

SCHEMA_VERSION = 1
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
CREATE_TABLES = """
CREATE TABLE IF NOT EXISTS liaptui.head (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_position bigint NOT NULL
);
INSERT INTO liaptui.head VALUES (true, 0) ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS liaptui.streams (
    stream_id text COLLATE "C" PRIMARY KEY,
    status text NOT NULL CHECK (status IN ('active', 'completed', 'archived')),
    last_version bigint NOT NULL,
    last_position bigint NOT NULL,
    created_at float8 NOT NULL,
    updated_at float8 NOT NULL
);
CREATE INDEX IF NOT EXISTS streams_updated ON liaptui.streams (updated_at DESC, stream_id);
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
"""

# A batch's appends in one call, so one round trip and one implicit transaction. Each
# request is checked in order against what the ones before it wrote, as plan_batch does
# for SQLite: a retried command returns its original slot, an archived stream or a stale
# expected version fails alone. Events arrive flattened; `p_counts` says how many each
# request brings and `p_req` which request each event is of. Outcome per request: ok,
# duplicate, archived or conflict.
CREATE_APPEND = """
CREATE OR REPLACE FUNCTION liaptui.append_batch(
    p_stream text[], p_expected bigint[], p_command_id text[], p_command bytea[],
    p_command_at float8[], p_counts integer[], p_type text[], p_schema integer[],
    p_data bytea[], p_checksum bigint[], p_req integer[], p_now float8
) RETURNS TABLE (
    outcome text, actual bigint, first_version bigint, last_version bigint,
    first_position bigint, last_position bigint
) LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
    start_pos bigint;
    offs integer := 0;
    n integer;
    cur_version bigint;
    cur_status text;
    acc_req integer[] := '{}';
    acc_pos bigint[] := '{}';
    acc_ver bigint[] := '{}';
    acc_off integer[] := '{}';
BEGIN
    SELECT h.last_position INTO pos FROM liaptui.head h FOR UPDATE;
    start_pos := pos;
    FOR i IN 1 .. coalesce(array_length(p_stream, 1), 0) LOOP
        n := p_counts[i];
        IF p_command_id[i] IS NOT NULL THEN
            SELECT 'duplicate', c.last_version, c.first_version, c.last_version,
                   c.first_position, c.last_position
              INTO outcome, actual, first_version, last_version, first_position, last_position
              FROM liaptui.commands c
             WHERE c.stream_id = p_stream[i] AND c.command_id = p_command_id[i];
            IF FOUND THEN
                offs := offs + n;
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;
        SELECT s.status, s.last_version INTO cur_status, cur_version
          FROM liaptui.streams s WHERE s.stream_id = p_stream[i] FOR UPDATE;
        IF NOT FOUND THEN
            cur_status := NULL;
            cur_version := 0;
        END IF;
        first_version := NULL; last_version := NULL;
        first_position := NULL; last_position := NULL;
        actual := cur_version;
        IF cur_status = 'archived' THEN
            outcome := 'archived';
        ELSIF p_expected[i] <> cur_version THEN
            outcome := 'conflict';
        ELSE
            outcome := 'ok';
            first_version := cur_version + 1;
            last_version := cur_version + n;
            first_position := pos + 1;
            last_position := pos + n;
            acc_req := acc_req || i;
            acc_pos := acc_pos || pos;
            acc_ver := acc_ver || cur_version;
            acc_off := acc_off || offs;
            INSERT INTO liaptui.streams AS s
                   (stream_id, status, last_version, last_position, created_at, updated_at)
            VALUES (p_stream[i], 'active', last_version, last_position, p_now, p_now)
            ON CONFLICT (stream_id) DO UPDATE
               SET last_version = excluded.last_version,
                   last_position = excluded.last_position,
                   updated_at = excluded.updated_at;
            IF p_command_id[i] IS NOT NULL THEN
                INSERT INTO liaptui.commands VALUES (
                    p_stream[i], p_command_id[i], coalesce(p_command[i], ''::bytea),
                    coalesce(p_command_at[i], p_now), first_version, last_version,
                    first_position, last_position);
            END IF;
            pos := pos + n;
        END IF;
        offs := offs + n;
        RETURN NEXT;
    END LOOP;
    IF pos > start_pos THEN
        -- One set-based insert for the whole batch: event k of the flattened arrays
        -- belongs to request p_req[k], whose first event follows offset a.off.
        INSERT INTO liaptui.events
        SELECT a.pos + (e.k - a.off), p_stream[a.req], a.ver + (e.k - a.off),
               e.type, e.schema_version, e.data, e.checksum, p_now
          FROM unnest(p_type, p_schema, p_data, p_checksum, p_req)
               WITH ORDINALITY AS e(type, schema_version, data, checksum, req, k)
          JOIN unnest(acc_req, acc_pos, acc_ver, acc_off) AS a(req, pos, ver, off)
            ON a.req = e.req;
        UPDATE liaptui.head SET last_position = pos;
        PERFORM pg_notify('liaptui_log', pos::text);
    END IF;
END
$$;
"""
