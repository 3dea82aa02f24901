/* pg_uring--1.3--1.4.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_uring UPDATE TO '1.4'" to load this file. \quit

--
-- pg_uring_status gains the last autoprewarm dump and restore.
--
DROP VIEW pg_uring_status;
DROP FUNCTION pg_uring_status();

CREATE FUNCTION pg_uring_status(
    OUT io_method text,
    OUT effective_method text,
    OUT ring_up bool,
    OUT ring_state text,
    OUT reason text,
    OUT worker_pid int4,
    OUT ring_entries int4,
    OUT sq_entries int4,
    OUT cq_entries int4,
    OUT sqpoll bool,
    OUT kernel_release text,
    OUT features text[],
    OUT opcodes text[],
    OUT queue_slots int4,
    OUT free_slots int4,
    OUT queued int4,
    OUT in_flight int4,
    OUT abandoned_slots int4,
    OUT reclaimed_slots int8,
    OUT slot_waiters int4,
    OUT combine_limit int4,
    OUT direct_io bool,
    OUT buffers_dio_aligned bool,
    OUT dio_mem_align int4,
    OUT dio_offset_align int4,
    OUT staging_bytes int8,
    OUT last_dump_time timestamptz,
    OUT last_dump_blocks int8,
    OUT last_restore_time timestamptz,
    OUT last_restore_blocks int8,
    OUT last_restore_seconds float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_status_1_4'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_status AS SELECT * FROM pg_uring_status();

COMMENT ON FUNCTION pg_uring_status()
IS 'state of the ring worker, the ring and the request queue, the settings in force, and the last autoprewarm dump and restore';
COMMENT ON VIEW pg_uring_status
IS 'state of the ring worker, the ring and the request queue, the settings in force, and the last autoprewarm dump and restore';

REVOKE ALL ON FUNCTION pg_uring_status() FROM PUBLIC;
REVOKE ALL ON pg_uring_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_uring_status() TO pg_monitor;
GRANT SELECT ON pg_uring_status TO pg_monitor;

--
-- Autoprewarm: restore the dump now (the worker restores it at startup),
-- through the ring, a background worker per database.  Superuser-only, as
-- the dump.
--
CREATE FUNCTION pg_uring_autoprewarm_restore()
RETURNS int8
AS 'MODULE_PATHNAME', 'pg_uring_autoprewarm_restore'
LANGUAGE C STRICT PARALLEL UNSAFE;
REVOKE ALL ON FUNCTION pg_uring_autoprewarm_restore() FROM PUBLIC;
COMMENT ON FUNCTION pg_uring_autoprewarm_restore()
IS 'read the blocks of the autoprewarm dump (pg_uring''s, else pg_prewarm''s autoprewarm.blocks) into shared buffers, hottest first, until none is free; returns the number of blocks restored';

--
-- Warm standbys (pg_uring.autoprewarm_replicate): the primary's list of
-- blocks in shared buffers, one row per relation fork and usage count,
-- written by its replicate worker in pg_uring.autoprewarm_database and read
-- by its standbys' through replication.  Plain heap WAL: a standby without
-- pg_uring replays it too.  Not for users: no privileges.
--
CREATE TABLE pg_uring_autoprewarm_list (
    dumped_at timestamptz NOT NULL,
    database oid NOT NULL,
    tablespace oid NOT NULL,
    filenode oid NOT NULL,
    fork int2 NOT NULL,
    usage int2 NOT NULL,
    blocks int8[] NOT NULL
);
REVOKE ALL ON pg_uring_autoprewarm_list FROM PUBLIC;
COMMENT ON TABLE pg_uring_autoprewarm_list
IS 'the primary''s list of blocks in shared buffers, for its standbys (pg_uring.autoprewarm_replicate); written by pg_uring';
