/* pg_uring--1.0--1.1.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_uring UPDATE TO '1.1'" to load this file. \quit

--
-- pg_uring_stats: queue_wait_timeouts and the prewarm helpers' counters.
-- The view and the function are rebuilt (first out of the extension, then
-- dropped), with 1.0's privileges.
--
ALTER EXTENSION pg_uring DROP VIEW pg_uring_stats;
ALTER EXTENSION pg_uring DROP FUNCTION pg_uring_stats();
DROP VIEW pg_uring_stats;
DROP FUNCTION pg_uring_stats();

CREATE FUNCTION pg_uring_stats(
    OUT method text,
    OUT ring int4,
    OUT requests int8,
    OUT reads int8,
    OUT writes int8,
    OUT fsyncs int8,
    OUT blocks_read int8,
    OUT blocks_written int8,
    OUT bytes_read int8,
    OUT bytes_written int8,
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
    OUT io_time_us int8,
    OUT latency_histogram int8[],
    OUT stats_reset timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_stats_1_1'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_stats AS SELECT * FROM pg_uring_stats();

REVOKE ALL ON FUNCTION pg_uring_stats() FROM PUBLIC;
REVOKE ALL ON pg_uring_stats FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_uring_stats() TO pg_monitor;
GRANT SELECT ON pg_uring_stats TO pg_monitor;

--
-- pg_uring_progress: datid, datname and relid; readable by everybody, who
-- sees his own operations (pg_read_all_stats: all of them).
--
ALTER EXTENSION pg_uring DROP VIEW pg_uring_progress;
ALTER EXTENSION pg_uring DROP FUNCTION pg_uring_progress();
DROP VIEW pg_uring_progress;
DROP FUNCTION pg_uring_progress();

CREATE FUNCTION pg_uring_progress(
    OUT pid int4,
    OUT datid oid,
    OUT datname name,
    OUT operation text,
    OUT relation regclass,
    OUT blocks_done int8,
    OUT blocks_total int8,
    OUT bytes_done int8,
    OUT started_at timestamptz,
    OUT relid oid)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pg_uring_progress_1_1'
LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW pg_uring_progress AS SELECT * FROM pg_uring_progress();

GRANT SELECT ON pg_uring_progress TO PUBLIC;

--
-- pg_uring_inflight: new.
--
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
-- Verify is not for PUBLIC, as amcheck's functions.
--
REVOKE ALL ON FUNCTION pg_uring_verify(regclass, text, int8, int8) FROM PUBLIC;
REVOKE ALL ON FUNCTION pg_uring_verify_database() FROM PUBLIC;

--
-- Comments on everything.
--
COMMENT ON FUNCTION pg_uring_stats()
IS 'cumulative I/O counters of pg_uring: one row for the ring, one for the sync path';
COMMENT ON VIEW pg_uring_stats
IS 'cumulative I/O counters of pg_uring: one row for the ring, one for the sync path';
COMMENT ON FUNCTION pg_uring_latency()
IS 'I/O latency histogram of pg_uring, per path, in power-of-two microsecond buckets';
COMMENT ON VIEW pg_uring_latency
IS 'I/O latency histogram of pg_uring, per path, in power-of-two microsecond buckets';
COMMENT ON FUNCTION pg_uring_status()
IS 'state of the ring worker, the ring and the request queue, and the settings in force';
COMMENT ON VIEW pg_uring_status
IS 'state of the ring worker, the ring and the request queue, and the settings in force';
COMMENT ON FUNCTION pg_uring_stats_reset()
IS 'zero every counter and histogram of pg_uring_stats and pg_uring_latency';
COMMENT ON FUNCTION pg_uring_progress()
IS 'progress of running pg_uring operations, one row per backend';
COMMENT ON VIEW pg_uring_progress
IS 'progress of running pg_uring operations, one row per backend';
