/* pg_uring--1.1--1.2.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_uring UPDATE TO '1.2'" to load this file. \quit

--
-- pg_uring_stats in the manner of pg_stat_io: read_bytes and write_bytes,
-- times in milliseconds (float8) per kind of I/O, NULL where a column does
-- not apply to a method; no constant "ring" column, no histogram array
-- (pg_uring_latency has it).
--
ALTER EXTENSION pg_uring DROP VIEW pg_uring_stats;
ALTER EXTENSION pg_uring DROP FUNCTION pg_uring_stats();
DROP VIEW pg_uring_stats;
DROP FUNCTION pg_uring_stats();

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

REVOKE ALL ON FUNCTION pg_uring_stats() FROM PUBLIC;
REVOKE ALL ON pg_uring_stats FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_uring_stats() TO pg_monitor;
GRANT SELECT ON pg_uring_stats TO pg_monitor;

-- pg_uring_latency without the constant "ring" column
ALTER EXTENSION pg_uring DROP VIEW pg_uring_latency;
ALTER EXTENSION pg_uring DROP FUNCTION pg_uring_latency();
DROP VIEW pg_uring_latency;
DROP FUNCTION pg_uring_latency();

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

REVOKE ALL ON FUNCTION pg_uring_latency() FROM PUBLIC;
REVOKE ALL ON pg_uring_latency FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_uring_latency() TO pg_monitor;
GRANT SELECT ON pg_uring_latency TO pg_monitor;

-- pg_uring_status: slot_waiters instead of the constant blocks_per_request
ALTER EXTENSION pg_uring DROP VIEW pg_uring_status;
ALTER EXTENSION pg_uring DROP FUNCTION pg_uring_status();
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
    OUT staging_bytes int8)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_status_1_2'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_status AS SELECT * FROM pg_uring_status();

COMMENT ON FUNCTION pg_uring_status()
IS 'state of the ring worker, the ring and the request queue, and the settings in force';
COMMENT ON VIEW pg_uring_status
IS 'state of the ring worker, the ring and the request queue, and the settings in force';

REVOKE ALL ON FUNCTION pg_uring_status() FROM PUBLIC;
REVOKE ALL ON pg_uring_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_uring_status() TO pg_monitor;
GRANT SELECT ON pg_uring_status TO pg_monitor;

-- pg_uring_stats_reset(target), as core's pg_stat_reset_shared(target)
DROP FUNCTION pg_uring_stats_reset();

CREATE FUNCTION pg_uring_stats_reset(target text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'pg_uring_stats_reset_1_2'
LANGUAGE C PARALLEL SAFE;

COMMENT ON FUNCTION pg_uring_stats_reset(text)
IS 'zero the counters and latency histogram of one method of pg_uring_stats (''io_uring'' or ''sync''), or of both (NULL)';

REVOKE ALL ON FUNCTION pg_uring_stats_reset(text) FROM PUBLIC;

-- pg_uring_progress with the phase and, for verify_database, relations
ALTER EXTENSION pg_uring DROP VIEW pg_uring_progress;
ALTER EXTENSION pg_uring DROP FUNCTION pg_uring_progress();
DROP VIEW pg_uring_progress;
DROP FUNCTION pg_uring_progress();

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

GRANT SELECT ON pg_uring_progress TO PUBLIC;

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
