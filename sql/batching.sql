--
-- batching: through the ring, one io_uring_enter serves many blocks, and
-- adjacent blocks are combined into one readv.
--
-- Each step prints a list of checks that must all be true.  This test is
-- ring-only: the ring must be up (setup asserts it too).  Where io_uring is
-- refused (seccomp, kernel.io_uring_disabled, ...) the run fails, unless
-- test/check.sh runs with PG_URING_SYNC_ONLY=1, which leaves this test out
-- and reports it as skipped.
--
SELECT ring_up, effective_method, (reason IS NOT NULL) AS has_reason
  FROM pg_uring_status;

-- ~20 MB, written by CREATE TABLE AS through a small buffer ring, so most of
-- it is not in shared buffers.
CREATE TABLE bt WITH (autovacuum_enabled = off) AS
  SELECT g AS id, repeat('b', 500) AS pad FROM generate_series(1, 36000) g;
SELECT pg_relation_size('bt') / 8192 AS bt_blocks \gset
SELECT :bt_blocks > 2000 AS big_enough;

-- both rows of pg_uring_stats side by side, and the state of the ring
CREATE VIEW bt_now AS
  SELECT st.ring_up,
         r.requests, r.reads, r.blocks_read, r.read_bytes, r.combined_ios,
         r.enter_calls, r.sqes_submitted, r.cqes_reaped, r.errors,
         r.fallback_ios,
         s.requests AS s_requests, s.reads AS s_reads,
         s.blocks_read AS s_blocks_read, s.combined_ios AS s_combined_ios,
         s.errors AS s_errors
    FROM pg_uring_stats r, pg_uring_stats s, pg_uring_status st
   WHERE r.method = 'io_uring' AND s.method = 'sync';

SET pg_uring.io_method = io_uring;

-- read mode (OS cache): every block once
SELECT pg_uring_stats_reset();
SELECT pg_uring_prewarm('bt', 'read') = :bt_blocks AS all_blocks;
SELECT c AS "check", ok
  FROM bt_now, LATERAL (VALUES
    (1, 'ring read every block',            blocks_read = :bt_blocks),
    (2, 'read_bytes = blocks_read * 8192',  read_bytes = blocks_read * 8192),
    (3, '>= 8 blocks per request',          requests > 0 AND requests * 8 <= blocks_read),
    (4, 'enter_calls * 8 < blocks_read',    enter_calls > 0 AND enter_calls * 8 < blocks_read),
    (5, 'adjacent blocks combined',         combined_ios > 0 AND reads < blocks_read),
    (6, 'every SQE reaped',                 sqes_submitted >= reads AND cqes_reaped = sqes_submitted),
    (7, 'no errors, no fallback',           errors = 0 AND fallback_ios = 0),
    (8, 'sync path idle',                   s_requests = 0 AND s_blocks_read = 0))
    v(i, c, ok)
 ORDER BY i;

-- buffer mode: the uncached blocks are read in batches
SELECT pg_uring_stats_reset();
SELECT pg_uring_prewarm('bt', 'buffer') = :bt_blocks AS all_blocks;
SELECT blocks_read + s_blocks_read AS buffer_blocks_read FROM bt_now \gset
SELECT c AS "check", ok
  FROM bt_now, LATERAL (VALUES
    (1, 'ring read the uncached blocks',    blocks_read > 1000 AND blocks_read <= :bt_blocks),
    (2, 'enter_calls * 8 < blocks_read',    enter_calls * 8 < blocks_read),
    (3, 'adjacent blocks combined',         combined_ios > 0 AND reads < blocks_read),
    (4, 'no errors, no fallback',           errors = 0 AND fallback_ios = 0),
    (5, 'sync path idle',                   s_blocks_read = 0))
    v(i, c, ok)
 ORDER BY i;
SELECT count(*) = 36000 AS all_rows, bool_and(pad = repeat('b', 500)) AS rows_intact FROM bt;

-- now it is cached: a second prewarm reads (next to) nothing
SELECT pg_uring_stats_reset();
SELECT pg_uring_prewarm('bt', 'buffer') = :bt_blocks AS all_blocks;
SELECT (blocks_read + s_blocks_read) * 10 < :buffer_blocks_read AS cached_blocks_skipped
  FROM bt_now;

-- combine_limit = 1: one block per readv, nothing combined, still batched
SET pg_uring.combine_limit = 1;
SELECT pg_uring_stats_reset();
SELECT pg_uring_prewarm('bt', 'read') = :bt_blocks AS all_blocks;
SELECT c AS "check", ok
  FROM bt_now, LATERAL (VALUES
    (1, 'one block per readv',              reads = blocks_read AND blocks_read = :bt_blocks),
    (2, 'nothing combined',                 combined_ios = 0),
    (3, 'enter_calls * 8 < blocks_read',    enter_calls * 8 < blocks_read))
    v(i, c, ok)
 ORDER BY i;
RESET pg_uring.combine_limit;

-- scattered blocks (every other one): batched, but nothing to combine
SELECT pg_uring_stats_reset();
SELECT pg_uring_prewarm_blocks('bt', ARRAY(SELECT generate_series(0, :bt_blocks - 1, 2)::int8), 'read')
       = ceil(:bt_blocks / 2.0) AS all_listed;
SELECT c AS "check", ok
  FROM bt_now, LATERAL (VALUES
    (1, 'ring read the listed blocks',      blocks_read = ceil(:bt_blocks / 2.0)),
    (2, 'nothing combined',                 combined_ios = 0),
    (3, 'enter_calls * 8 < blocks_read',    enter_calls * 8 < blocks_read))
    v(i, c, ok)
 ORDER BY i;

-- io_method = sync never touches the ring, up or not
SET pg_uring.io_method = sync;
SELECT pg_uring_stats_reset();
SELECT pg_uring_prewarm('bt', 'read') = :bt_blocks AS all_blocks;
SELECT s_blocks_read = :bt_blocks AS sync_read_all,
       blocks_read = 0 AND enter_calls = 0 AND fallback_ios = 0 AS ring_untouched
  FROM bt_now;

RESET pg_uring.io_method;
DROP VIEW bt_now;
DROP TABLE bt;
