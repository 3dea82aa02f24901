--
-- views: the shapes of pg_uring_stats, pg_uring_latency, pg_uring_status,
-- pg_uring_inflight, pg_uring_progress and pg_uring_waits, and what holds
-- whether or not the ring is up.
--
SELECT table_name, ordinal_position, column_name, data_type
  FROM information_schema.columns
 WHERE table_schema = 'public'
   AND table_name IN ('pg_uring_stats', 'pg_uring_latency', 'pg_uring_status',
                      'pg_uring_inflight', 'pg_uring_progress', 'pg_uring_waits')
 ORDER BY table_name, ordinal_position;
-- nobody waits when nothing runs (057 looks at waits in line for a slot)
SELECT count(*) AS waits_rows FROM pg_uring_waits;
SELECT has_table_privilege('pg_monitor', 'pg_uring_waits', 'SELECT') AS monitor_can_select,
       has_table_privilege('public', 'pg_uring_waits', 'SELECT') AS public_can_select;
SELECT slot_waiters FROM pg_uring_status;
-- nothing in flight when nothing runs (056 looks at it under a stalled worker)
SELECT count(*) AS inflight_rows FROM pg_uring_inflight;
SELECT has_table_privilege('pg_monitor', 'pg_uring_inflight', 'SELECT') AS monitor_can_select,
       has_table_privilege('public', 'pg_uring_inflight', 'SELECT') AS public_can_select;

-- one row for the ring, one for the sync path
SELECT method FROM pg_uring_stats ORDER BY method;
-- as in pg_stat_io, a column that does not apply to a method is NULL there
SELECT method,
       enter_calls IS NULL AS enter_calls_null, sqes_submitted IS NULL AS sqes_null,
       queue_full_waits IS NULL AS queue_null, fallback_ios IS NULL AS fallback_null,
       fsyncs IS NULL AS fsyncs_null, fsync_time IS NULL AS fsync_time_null,
       deferred_writes IS NULL AS deferred_null,
       verify_skipped_relations IS NULL AS skipped_rels_null,
       reads IS NULL OR read_time IS NULL OR pages_verified IS NULL AS common_null
  FROM pg_uring_stats ORDER BY method;
SELECT count(*) AS status_rows FROM pg_uring_status;

-- a reset zeroes every counter and stamps the time
SELECT pg_uring_stats_reset();
SELECT method,
       requests = 0 AND reads = 0 AND writes = 0 AND coalesce(fsyncs, 0) = 0
       AND blocks_read = 0 AND blocks_written = 0 AND read_bytes = 0
       AND write_bytes = 0 AND read_time = 0 AND write_time = 0
       AND coalesce(fsync_time, 0) = 0 AND combined_ios = 0
       AND coalesce(sqes_submitted, 0) = 0
       AND coalesce(cqes_reaped, 0) = 0 AND coalesce(sq_full_waits, 0) = 0
       AND coalesce(queue_full_waits, 0) = 0 AND coalesce(queue_wait_timeouts, 0) = 0
       AND short_ios = 0 AND retries = 0 AND errors = 0 AND coalesce(fallback_ios, 0) = 0
       AND pages_verified = 0 AND verify_failures = 0 AS zeroed,
       (SELECT coalesce(sum(l.ios), 0) FROM pg_uring_latency l WHERE l.method = s.method) = 0
         AS histogram_zeroed,
       stats_reset BETWEEN now() - interval '1 minute' AND clock_timestamp() AS reset_now
  FROM pg_uring_stats s ORDER BY method;
-- a reset of one method, as pg_stat_reset_shared(target): the other keeps its time
SELECT stats_reset AS ring_reset_at FROM pg_uring_stats WHERE method = 'io_uring' \gset
SELECT pg_sleep(0.01);
SELECT pg_uring_stats_reset('sync');
SELECT method, stats_reset = :'ring_reset_at' AS kept
  FROM pg_uring_stats ORDER BY method;
SELECT pg_uring_stats_reset(NULL);
SELECT count(*) AS both_reset FROM pg_uring_stats WHERE stats_reset > :'ring_reset_at';
SELECT pg_uring_stats_reset('ring');

-- the sync path counts in the sync row, whatever the state of the ring
CREATE TABLE v_tab WITH (autovacuum_enabled = off) AS
  SELECT g AS id, repeat('v', 200) AS pad FROM generate_series(1, 5000) g;
SET pg_uring.io_method = sync;
SELECT pg_uring_prewarm('v_tab', 'read') = pg_relation_size('v_tab') / 8192 AS all_blocks;
RESET pg_uring.io_method;
SELECT method,
       requests > 0 AS requests,
       reads > 0 AS reads,
       blocks_read >= pg_relation_size('v_tab') / 8192 AS blocks_read,
       read_bytes = blocks_read * 8192 AS bytes_match,
       read_time > 0 AS read_time,
       blocks_written = 0 AS no_writes,
       write_time = 0 AS no_write_time,
       errors = 0 AS no_errors,
       (SELECT sum(l.ios) FROM pg_uring_latency l WHERE l.method = s.method) > 0 AS latency_counted
  FROM pg_uring_stats s WHERE method = 'sync';

-- pg_uring_latency: the histogram, one row per bucket, contiguous bounds
SELECT method, count(*) AS buckets,
       min(bucket) AS first_bucket, max(bucket) AS last_bucket,
       bool_and(lower_us < upper_us OR upper_us IS NULL) AS ordered
  FROM pg_uring_latency GROUP BY method ORDER BY method;
SELECT bucket, lower_us, upper_us FROM pg_uring_latency
 WHERE method = 'sync' ORDER BY bucket;
-- every I/O counted in the histogram is a read or a write of the stats
SELECT l.method, sum(l.ios) = (SELECT s.reads + s.writes + s.errors FROM pg_uring_stats s
                                WHERE s.method = l.method) AS matches_stats
  FROM pg_uring_latency l GROUP BY l.method ORDER BY l.method;

-- pg_uring_status: settings echoed, independent of the ring's state
SELECT io_method, ring_entries, queue_slots, combine_limit, direct_io, sqpoll,
       worker_pid > 0 AS worker_pid,
       kernel_release <> '' AS kernel_release,
       effective_method IN ('io_uring', 'sync') AS effective_method,
       ring_up = (effective_method = 'io_uring') AS ring_up_consistent,
       ring_up = (reason IS NULL) AS reason_iff_down
  FROM pg_uring_status;
SET pg_uring.io_method = sync;
SET pg_uring.combine_limit = 4;
SELECT io_method, effective_method, combine_limit FROM pg_uring_status;
RESET pg_uring.io_method;
RESET pg_uring.combine_limit;

DROP TABLE v_tab;

-- every function and view of the extension has a comment
SELECT count(*) AS uncommented
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE e.extname = 'pg_uring' AND d.deptype = 'e'
   AND d.classid IN ('pg_proc'::regclass, 'pg_class'::regclass)
   AND obj_description(d.objid, d.classid::regclass::text) IS NULL;

-- relocatable, as contrib's pg_prewarm: everything moves with the schema
CREATE SCHEMA pgu_moved;
ALTER EXTENSION pg_uring SET SCHEMA pgu_moved;
CREATE TABLE v_moved AS SELECT g FROM generate_series(1, 1000) g;
SELECT pgu_moved.pg_uring_prewarm('v_moved') > 0 AS prewarmed_from_the_new_schema;
SELECT count(*) AS stats_rows FROM pgu_moved.pg_uring_stats;
SET client_min_messages = warning;     -- (18 initializes with checksums)
SELECT count(*) AS verify_rows FROM pgu_moved.pg_uring_verify('v_moved');
RESET client_min_messages;
SELECT count(*) AS objects_left_in_public
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
  JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
 WHERE e.extname = 'pg_uring' AND p.pronamespace = 'public'::regnamespace;
ALTER EXTENSION pg_uring SET SCHEMA public;
DROP TABLE v_moved;
DROP SCHEMA pgu_moved;
