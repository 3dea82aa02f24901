--
-- setup_sync_only: setup for a sync-only run (test/check.sh with
-- PG_URING_SYNC_ONLY=1, used only where io_uring is not available).  It is
-- setup.sql without its assertion that the ring is up; instead the ring must
-- be down and say why.  check.sh reports setup's ring assertion and the
-- ring-only test (batching) as skipped.
--
\set pgu_sync_only 1
\i sql/setup.sql
SELECT ring_up, effective_method, reason IS NOT NULL AS has_reason
  FROM pg_uring_status;
