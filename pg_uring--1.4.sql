/* pg_uring--1.4.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION pg_uring" to load this file. \quit

--
-- Prewarm: a drop-in for contrib pg_prewarm.
--
CREATE FUNCTION pg_uring_prewarm(rel regclass,
                                 mode text DEFAULT 'buffer',
                                 fork text DEFAULT 'main',
                                 first_block int8 DEFAULT NULL,
                                 last_block int8 DEFAULT NULL)
RETURNS int8
AS 'MODULE_PATHNAME', 'pg_uring_prewarm'
LANGUAGE C PARALLEL SAFE;

COMMENT ON FUNCTION pg_uring_prewarm(regclass, text, text, int8, int8)
IS 'prewarm a relation fork (or a block range of it) through the io_uring ring';

CREATE FUNCTION pg_uring_prewarm_blocks(rel regclass,
                                        blocks int8[],
                                        mode text DEFAULT 'buffer',
                                        fork text DEFAULT 'main')
RETURNS int8
AS 'MODULE_PATHNAME', 'pg_uring_prewarm_blocks'
LANGUAGE C PARALLEL SAFE;

COMMENT ON FUNCTION pg_uring_prewarm_blocks(regclass, int8[], text, text)
IS 'prewarm exactly the listed blocks of a relation fork through the io_uring ring';

--
-- Monitoring
--
CREATE FUNCTION pg_uring_stats(
    OUT method text,
    OUT requests int8,
    OUT reads int8,
    OUT read_bytes int8,
    OUT read_time float8,
    OUT writes int8,
    OUT write_bytes int8,
    OUT write_time float8,
    OUT fsyncs int8,
    OUT fsync_time float8,
    OUT blocks_read int8,
    OUT blocks_written int8,
    OUT combined_ios int8,
    OUT enter_calls int8,
    OUT sqes_submitted int8,
    OUT cqes_reaped int8,
    OUT sq_full_waits int8,
    OUT queue_full_waits int8,
    OUT queue_wait_timeouts int8,
    OUT short_ios int8,
    OUT retries int8,
    OUT errors int8,
    OUT fallback_ios int8,
    OUT pages_verified int8,
    OUT verify_failures int8,
    OUT verify_skipped_pages int8,
    OUT verify_skipped_relations int8,
    OUT deferred_writes int8,
    OUT prewarm_workers_planned int8,
    OUT prewarm_workers_launched int8,
    OUT prewarm_helper_blocks int8,
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_stats_1_2'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_stats AS SELECT * FROM pg_uring_stats();

COMMENT ON FUNCTION pg_uring_stats()
IS 'cumulative I/O counters of pg_uring: one row for the ring, one for the sync path';
COMMENT ON VIEW pg_uring_stats
IS 'cumulative I/O counters of pg_uring: one row for the ring, one for the sync path';

CREATE FUNCTION pg_uring_latency(
    OUT method text,
    OUT bucket int4,
    OUT lower_us int8,
    OUT upper_us int8,
    OUT ios int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_latency_1_2'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_latency AS SELECT * FROM pg_uring_latency();

COMMENT ON FUNCTION pg_uring_latency()
IS 'I/O latency histogram of pg_uring, per path, in power-of-two microsecond buckets';
COMMENT ON VIEW pg_uring_latency
IS 'I/O latency histogram of pg_uring, per path, in power-of-two microsecond buckets';

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

CREATE FUNCTION pg_uring_stats_reset(target text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_uring_stats_reset_1_2'
LANGUAGE C PARALLEL SAFE;

COMMENT ON FUNCTION pg_uring_stats_reset(text)
IS 'zero the counters and latency histogram of one method of pg_uring_stats (''io_uring'' or ''sync''), or of both (NULL)';

-- Who waits inside pg_uring, on what, since when, and in which place in
-- line for a request slot
CREATE FUNCTION pg_uring_waits(
    OUT pid int4,
    OUT wait_event text,
    OUT wait_started timestamptz,
    OUT wait_seconds float8,
    OUT slot_queue_position int4,
    OUT slots_held int4)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_waits'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_waits AS SELECT * FROM pg_uring_waits();

COMMENT ON FUNCTION pg_uring_waits()
IS 'backends waiting inside pg_uring: on what, since when, place in line for a request slot';
COMMENT ON VIEW pg_uring_waits
IS 'backends waiting inside pg_uring: on what, since when, place in line for a request slot';

REVOKE ALL ON FUNCTION pg_uring_waits() FROM PUBLIC;
REVOKE ALL ON pg_uring_waits FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_uring_waits() TO pg_monitor;
GRANT SELECT ON pg_uring_waits TO pg_monitor;

-- What is in flight: one row per request slot in use (as 18's pg_aios)
CREATE FUNCTION pg_uring_inflight(
    OUT slot int4,
    OUT pid int4,
    OUT state text,
    OUT abandoned bool,
    OUT operation text,
    OUT path text,
    OUT blocks int4,
    OUT ios int4,
    OUT age_seconds float8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_inflight'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_inflight AS SELECT * FROM pg_uring_inflight();

COMMENT ON FUNCTION pg_uring_inflight()
IS 'request slots in use: owner, operation, file, blocks, state and age';

COMMENT ON VIEW pg_uring_inflight
IS 'request slots in use: owner, operation, file, blocks, state and age';

REVOKE ALL ON FUNCTION pg_uring_inflight() FROM PUBLIC;
REVOKE ALL ON pg_uring_inflight FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_uring_inflight() TO pg_monitor;
GRANT SELECT ON pg_uring_inflight TO pg_monitor;

--
-- Privileges: follow core.  Prewarm checks SELECT on the relation itself,
-- so EXECUTE stays with PUBLIC.  Monitoring is for pg_monitor; resetting
-- statistics is superuser-only unless granted; verify is revoked from
-- PUBLIC, as amcheck does (below).
--
REVOKE ALL ON FUNCTION pg_uring_stats() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_uring_latency() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_uring_status() FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_uring_stats_reset(text) FROM PUBLIC;
REVOKE ALL ON pg_uring_stats FROM PUBLIC;
REVOKE ALL ON pg_uring_latency FROM PUBLIC;
REVOKE ALL ON pg_uring_status FROM PUBLIC;

GRANT EXECUTE ON FUNCTION pg_uring_stats() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pg_uring_latency() TO pg_monitor;
GRANT EXECUTE ON FUNCTION pg_uring_status() TO pg_monitor;
GRANT SELECT ON pg_uring_stats TO pg_monitor;
GRANT SELECT ON pg_uring_latency TO pg_monitor;
GRANT SELECT ON pg_uring_status TO pg_monitor;

--
-- Write-back: flush (keep cached) and evict (drop from shared buffers).
-- Both need ownership of the relation (checked in C), like VACUUM.
--
CREATE FUNCTION pg_uring_flush(rel regclass,
                               OUT flushed int8,
                               OUT redirtied int8,
                               OUT skipped int8)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_uring_flush'
LANGUAGE C PARALLEL UNSAFE;

COMMENT ON FUNCTION pg_uring_flush(regclass)
IS 'write a relation''s dirty shared buffers through the ring; they stay cached';

CREATE FUNCTION pg_uring_evict(rel regclass,
                               OUT evicted int8,
                               OUT flushed int8,
                               OUT skipped int8)
RETURNS record
AS 'MODULE_PATHNAME', 'pg_uring_evict'
LANGUAGE C PARALLEL UNSAFE;

COMMENT ON FUNCTION pg_uring_evict(regclass)
IS 'write a relation''s dirty shared buffers through the ring, then drop its unpinned buffers from shared buffers';

--
-- Online verification: one row per bad block; no rows for a clean relation.
--
CREATE FUNCTION pg_uring_verify(rel regclass,
                                fork text DEFAULT NULL,
                                first_block int8 DEFAULT NULL,
                                last_block int8 DEFAULT NULL)
RETURNS TABLE (relation regclass,
               fork_name text,
               block int8,
               reason text,
               expected_checksum int4,
               found_checksum int4,
               detail text)
AS 'MODULE_PATHNAME', 'pg_uring_verify'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pg_uring_verify(regclass, text, int8, int8)
IS 'verify page checksums and headers of a relation online, listing every bad block';

CREATE FUNCTION pg_uring_verify_database()
RETURNS TABLE (relation regclass,
               fork_name text,
               block int8,
               reason text,
               expected_checksum int4,
               found_checksum int4,
               detail text)
AS 'MODULE_PATHNAME', 'pg_uring_verify_database'
LANGUAGE C VOLATILE PARALLEL UNSAFE;

COMMENT ON FUNCTION pg_uring_verify_database()
IS 'verify every relation of the current database that the caller may read';

-- As amcheck's functions: not for PUBLIC.  A maintenance role gets
--   GRANT EXECUTE ON FUNCTION pg_uring_verify(regclass, text, int8, int8),
--                             pg_uring_verify_database() TO role;
-- and still needs SELECT on what it verifies.
REVOKE ALL ON FUNCTION pg_uring_verify(regclass, text, int8, int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_uring_verify_database() FROM PUBLIC;

--
-- Progress of long operations, one row per backend.
--
CREATE FUNCTION pg_uring_progress(
    OUT pid int4,
    OUT datid oid,
    OUT datname name,
    OUT operation text,
    OUT phase text,
    OUT relation regclass,
    OUT blocks_done int8,
    OUT blocks_total int8,
    OUT bytes_done int8,
    OUT relations_done int8,
    OUT relations_total int8,
    OUT started_at timestamptz,
    OUT relid oid)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_progress_1_2'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_progress AS SELECT * FROM pg_uring_progress();

COMMENT ON FUNCTION pg_uring_progress()
IS 'progress of running pg_uring operations, one row per backend';
COMMENT ON VIEW pg_uring_progress
IS 'progress of running pg_uring operations, one row per backend';

-- as pg_stat_progress_*: everybody sees his own operations, and
-- pg_read_all_stats (pg_monitor) every one (the function filters)
GRANT SELECT ON pg_uring_progress TO PUBLIC;

--
-- Autoprewarm: dump the list of blocks in shared buffers now (the worker,
-- pg_uring.autoprewarm = on, also dumps every autoprewarm_interval and at
-- shutdown).  Superuser-only, as contrib's autoprewarm_dump_now().
--
CREATE FUNCTION pg_uring_autoprewarm_dump_now()
RETURNS int8
AS 'MODULE_PATHNAME', 'pg_uring_autoprewarm_dump_now'
LANGUAGE C STRICT;
REVOKE ALL ON FUNCTION pg_uring_autoprewarm_dump_now() FROM PUBLIC;
COMMENT ON FUNCTION pg_uring_autoprewarm_dump_now()
IS 'write the list of blocks in shared buffers to pg_uring_autoprewarm.blocks now (pg_prewarm''s format, hottest first); returns the number of blocks';

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
