--
-- setup: install pg_uring, and contrib pg_prewarm and pg_buffercache (the
-- references), wait for the ring worker and check that the ring is up.
--
CREATE EXTENSION pg_uring;
CREATE EXTENSION pg_prewarm;
CREATE EXTENSION pg_buffercache;

-- (contrib's own versions differ between majors: pg_buffercache is 1.3 on
-- 15, 1.5 on 17, 1.6 on 18; only pg_uring's is ours)
SELECT extname, CASE WHEN extname = 'pg_uring' THEN extversion ELSE 'any' END AS extversion
  FROM pg_extension
 WHERE extname IN ('pg_uring', 'pg_prewarm', 'pg_buffercache') ORDER BY extname;

-- The core SQL API (signatures are part of the contract; flush, evict and
-- verify are covered by their own tests)
SELECT p.oid::regprocedure AS function, pg_get_function_result(p.oid) AS returns
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_uring'
 WHERE d.deptype = 'e'
   AND p.proname IN ('pg_uring_prewarm', 'pg_uring_prewarm_blocks', 'pg_uring_stats',
                     'pg_uring_latency', 'pg_uring_status', 'pg_uring_stats_reset',
                     'pg_uring_autoprewarm_dump_now', 'pg_uring_autoprewarm_restore')
 ORDER BY p.oid::regprocedure::text;

SELECT pg_get_function_arguments('pg_uring_prewarm'::regproc);
SELECT pg_get_function_arguments('pg_uring_prewarm_blocks'::regproc);

-- The worker is a static background worker started with the postmaster.  Give
-- it time to set up (or refuse) its ring before the other tests look.
DO $$
DECLARE
  i int := 0;
BEGIN
  LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pg_stat_activity
                       WHERE backend_type = 'pg_uring ring worker')
          AND EXISTS (SELECT 1 FROM pg_uring_status
                       WHERE worker_pid IS NOT NULL
                         AND (ring_up OR reason IS NOT NULL));
    i := i + 1;
    IF i > 600 THEN
      RAISE EXCEPTION 'pg_uring ring worker did not come up within 60 s';
    END IF;
    PERFORM pg_sleep(0.1);
    PERFORM pg_stat_clear_snapshot();
  END LOOP;
END
$$;

SELECT count(*) AS ring_workers FROM pg_stat_activity
 WHERE backend_type = 'pg_uring ring worker';
SELECT s.worker_pid = a.pid AS worker_pid_matches
  FROM pg_uring_status s JOIN pg_stat_activity a
    ON a.backend_type = 'pg_uring ring worker';

-- The ring must be up: the tests after this one exercise io_uring, and with
-- the ring down every io_uring call would silently run on the sync path
-- (comparing the sync path with itself).  A sync-only run (test/check.sh
-- with PG_URING_SYNC_ONLY=1, where io_uring is not available) runs
-- setup_sync_only instead, which is this file without this query.
\if :{?pgu_sync_only}
\else
SELECT ring_up, effective_method, reason, sq_entries > 0 AS has_sq
  FROM pg_uring_status;
\endif
