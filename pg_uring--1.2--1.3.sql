/* pg_uring--1.2--1.3.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION pg_uring UPDATE TO '1.3'" to load this file. \quit

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
