--
-- flush: pg_uring_flush and pg_uring_evict (issue 4, the write path).
--   * privileges: ownership of the relation (or superuser), like VACUUM;
--   * bad input gets pg_buffercache_evict_relation-style errors;
--   * after UPDATEs the dirty buffers are written: flushed = the number of
--     dirty buffers (pg_buffercache) before, written through the chosen
--     path (pg_uring_stats), afterwards
--     no buffer of the relation (any fork) is dirty, the content is the
--     same, and what is on disk is the same (evict, then read back);
--   * evict leaves no buffer of the relation in shared buffers;
-- all of it under pg_uring.io_method = io_uring and = sync.
-- Output is deterministic: counts are compared, never printed, where a
-- background process could change them.
--

-- Works standalone or after setup.sql: install what is missing, quietly,
-- and drop at the end only what this file installed.
SET client_min_messages = warning;
SELECT NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_uring') AS fl_own_uring,
       NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_buffercache') AS fl_own_bc
\gset
CREATE EXTENSION IF NOT EXISTS pg_uring;
CREATE EXTENSION IF NOT EXISTS pg_buffercache;
RESET client_min_messages;

-- Nothing but this session writes buffers: autovacuum is off
-- (test/regress.conf), and so is the background writer's LRU scan while
-- this test runs, so the counts below are exact.
ALTER SYSTEM SET bgwriter_lru_maxpages = 0;
SELECT pg_reload_conf();
SELECT pg_sleep(0.3);   -- the background writer rereads its configuration

-- Wait for the ring worker to settle (up, or down with a reason).
DO $$
BEGIN
  FOR i IN 1 .. 600 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pg_uring_status
                       WHERE worker_pid IS NOT NULL
                         AND (ring_up OR reason IS NOT NULL));
    PERFORM pg_sleep(0.1);
    PERFORM pg_stat_clear_snapshot();
  END LOOP;
END
$$;

-- The SQL signatures (part of the contract)
SELECT pg_get_function_arguments('pg_uring_flush'::regproc) AS flush_args,
       pg_get_function_result('pg_uring_flush'::regproc) AS flush_result;
SELECT pg_get_function_arguments('pg_uring_evict'::regproc) AS evict_args,
       pg_get_function_result('pg_uring_evict'::regproc) AS evict_result;

-- Buffers of a relation (every fork) in shared buffers, and the dirty ones.
CREATE FUNCTION fl_buffers(rel regclass, OUT resident int8, OUT dirty int8)
LANGUAGE sql AS $$
  SELECT count(*), count(*) FILTER (WHERE isdirty)
    FROM pg_buffercache
   WHERE relfilenode = pg_relation_filenode(rel)
     AND reltablespace = (SELECT CASE WHEN reltablespace = 0
                                      THEN (SELECT dattablespace FROM pg_database
                                             WHERE datname = current_database())
                                      ELSE reltablespace END
                            FROM pg_class WHERE oid = rel)
     AND reldatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
$$;

-- Blocks written by one path of pg_uring_stats so far.
CREATE FUNCTION fl_written(path text) RETURNS int8 LANGUAGE sql AS $$
  SELECT sum(blocks_written)::int8 FROM pg_uring_stats WHERE method = path
$$;

--
-- Privileges: EXECUTE is PUBLIC, the check is ownership of the relation.
--
CREATE ROLE regress_pgu_fl_plain;
CREATE ROLE regress_pgu_fl_owner;

CREATE TABLE fl_tab (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)
  WITH (autovacuum_enabled = off, fillfactor = 50);
INSERT INTO fl_tab SELECT g, 0, repeat(md5(g::text), 4) FROM generate_series(1, 20000) g;
-- an index on v: UPDATEs of v are not HOT, so they dirty both indexes too
CREATE INDEX fl_tab_v ON fl_tab (v);
VACUUM (ANALYZE) fl_tab;            -- gives it a free space map and a visibility map

-- Content oracle: every row, in order.
CREATE FUNCTION fl_md5() RETURNS text LANGUAGE sql AS $$
  SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || pad, ',' ORDER BY id))
    FROM fl_tab
$$;
GRANT SELECT, UPDATE ON fl_tab TO regress_pgu_fl_plain;

CREATE TABLE fl_owned (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off);
INSERT INTO fl_owned SELECT g, g FROM generate_series(1, 1000) g;
ALTER TABLE fl_owned OWNER TO regress_pgu_fl_owner;

SELECT f AS function,
       has_function_privilege('regress_pgu_fl_plain', f, 'EXECUTE') AS plain_can_execute
  FROM unnest('{pg_uring_flush(regclass),pg_uring_evict(regclass)}'::text[]) f;

SET ROLE regress_pgu_fl_plain;
-- SELECT and UPDATE privileges are not enough: ownership is needed
SELECT * FROM pg_uring_flush('fl_tab');
SELECT * FROM pg_uring_evict('fl_tab');
SELECT * FROM pg_uring_flush('fl_tab_pkey');
SELECT * FROM pg_uring_evict('fl_tab_pkey');
SELECT * FROM pg_uring_flush('fl_owned');
RESET ROLE;

-- The owner may, without being superuser
UPDATE fl_owned SET v = v + 1;
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_owned') \gset
SELECT resident AS ires0, dirty AS idirty0 FROM fl_buffers('fl_owned_pkey') \gset
SELECT :dirty0 > 0 AS owned_dirty, :idirty0 > 0 AS owned_index_dirty;
SET ROLE regress_pgu_fl_owner;
SELECT flushed = :dirty0 AS owner_flushed, redirtied, skipped FROM pg_uring_flush('fl_owned');
SELECT flushed = :idirty0 AS owner_flushed_index, redirtied, skipped FROM pg_uring_flush('fl_owned_pkey');
SELECT evicted = :res0 AS owner_evicted, flushed, skipped FROM pg_uring_evict('fl_owned');
RESET ROLE;
SELECT resident AS owned_resident_after_evict FROM fl_buffers('fl_owned');
SELECT dirty AS owned_index_dirty_after, resident = :ires0 AS owned_index_still_cached
  FROM fl_buffers('fl_owned_pkey');

--
-- Bad input
--
SELECT * FROM pg_uring_flush(NULL);
SELECT * FROM pg_uring_evict(NULL);
SELECT * FROM pg_uring_flush('fl_no_such_table');
CREATE VIEW fl_view AS SELECT * FROM fl_tab;
SELECT * FROM pg_uring_flush('fl_view');
SELECT * FROM pg_uring_evict('fl_view');
CREATE TABLE fl_part (a int) PARTITION BY RANGE (a);
SELECT * FROM pg_uring_flush('fl_part');
SELECT * FROM pg_uring_evict('fl_part');
CREATE TEMP TABLE fl_temp (a int);
INSERT INTO fl_temp VALUES (1);
SELECT * FROM pg_uring_flush('fl_temp');
SELECT * FROM pg_uring_evict('fl_temp');

-- Relations with storage other than tables work: sequence, materialized view
CREATE SEQUENCE fl_seq;
SELECT nextval('fl_seq') AS seq_first;
SELECT resident AS seq_resident, dirty AS seq_dirty FROM fl_buffers('fl_seq');
SELECT flushed, redirtied, skipped FROM pg_uring_flush('fl_seq');
SELECT resident AS seq_resident, dirty AS seq_dirty FROM fl_buffers('fl_seq');
SELECT evicted, flushed, skipped FROM pg_uring_evict('fl_seq');
SELECT resident AS seq_resident FROM fl_buffers('fl_seq');
SELECT nextval('fl_seq') AS seq_second;
CREATE MATERIALIZED VIEW fl_mv AS SELECT id, v FROM fl_tab WHERE id <= 100;
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_mv') \gset
SELECT :res0 > 0 AS mv_cached;
SELECT evicted = :res0 AS mv_evicted, flushed = :dirty0 AS mv_flushed, skipped
  FROM pg_uring_evict('fl_mv');
SELECT resident AS mv_resident FROM fl_buffers('fl_mv');
SELECT count(*) AS mv_rows, sum(id) AS mv_sum FROM fl_mv;

-- A clean relation: nothing to write
CHECKPOINT;
SELECT dirty AS dirty_after_checkpoint FROM fl_buffers('fl_tab');
SELECT flushed, redirtied FROM pg_uring_flush('fl_tab');

--
-- Write path, io_method = io_uring
--
SET pg_uring.io_method = io_uring;
CHECKPOINT;
UPDATE fl_tab SET v = v + 1 WHERE id % 3 = 0;
SELECT fl_md5() AS md5_before \gset
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_tab') \gset
SELECT :dirty0 > 0 AS dirty_before;
SELECT fl_written('io_uring') AS ring_w0, fl_written('sync') AS sync_w0 \gset
-- every dirty buffer (all forks) written, none redirtied or skipped
SELECT flushed = :dirty0 AS flushed_all_dirty, redirtied, skipped FROM pg_uring_flush('fl_tab');
-- written through the ring: exactly those blocks.  (Where the ring is down,
-- in a sync-only run, through the fallback: counted in the sync row.)
SELECT CASE WHEN ring_up THEN fl_written('io_uring') - :ring_w0 = :dirty0
                              AND fl_written('sync') = :sync_w0
            ELSE fl_written('sync') - :sync_w0 = :dirty0
                 AND fl_written('io_uring') = :ring_w0 END AS counted_in_stats
  FROM pg_uring_status;
-- clean now, all forks, and every buffer still cached
SELECT dirty AS dirty_after_flush, resident = :res0 AS still_cached FROM fl_buffers('fl_tab');
-- nothing left to write
SELECT flushed, redirtied, skipped FROM pg_uring_flush('fl_tab');
SELECT fl_md5() = :'md5_before' AS content_unchanged;
-- the index too
SELECT resident AS ires0, dirty AS idirty0 FROM fl_buffers('fl_tab_pkey') \gset
SELECT :idirty0 > 0 AS index_dirty_before;
SELECT flushed = :idirty0 AS index_flushed, redirtied, skipped FROM pg_uring_flush('fl_tab_pkey');
SELECT dirty AS index_dirty_after, resident = :ires0 AS index_still_cached FROM fl_buffers('fl_tab_pkey');
-- evict: flushes what is dirty, then nothing of the relation stays cached
UPDATE fl_tab SET v = v + 1 WHERE id % 7 = 0;
SELECT fl_md5() AS md5_before \gset
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_tab') \gset
SELECT :dirty0 > 0 AS dirty_before;
SELECT evicted = :res0 AS evicted_all, flushed = :dirty0 AS flushed_all_dirty, skipped
  FROM pg_uring_evict('fl_tab');
SELECT resident AS resident_after_evict FROM fl_buffers('fl_tab');
SELECT resident AS ires0 FROM fl_buffers('fl_tab_pkey') \gset
SELECT evicted = :ires0 AS index_evicted_all, skipped FROM pg_uring_evict('fl_tab_pkey');
SELECT resident AS index_resident_after_evict FROM fl_buffers('fl_tab_pkey');
-- read back from disk: what the ring wrote is the content
SELECT fl_md5() = :'md5_before' AS content_from_disk_unchanged;
SET enable_seqscan = off;
SELECT count(*) AS via_index FROM fl_tab WHERE id BETWEEN 100 AND 199;
RESET enable_seqscan;
-- the reads above brought the relation back into shared buffers
SELECT resident > 0 AS cached_again FROM fl_buffers('fl_tab');

--
-- Write path, io_method = sync: identical results
--
SET pg_uring.io_method = sync;
CHECKPOINT;
UPDATE fl_tab SET v = v + 1 WHERE id % 3 = 1;
SELECT fl_md5() AS md5_before \gset
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_tab') \gset
SELECT :dirty0 > 0 AS dirty_before;
SELECT fl_written('io_uring') AS ring_w0, fl_written('sync') AS sync_w0 \gset
SELECT flushed = :dirty0 AS flushed_all_dirty, redirtied, skipped FROM pg_uring_flush('fl_tab');
-- through the sync path: exactly those blocks, none through the ring
SELECT fl_written('sync') - :sync_w0 = :dirty0 AS counted_in_stats,
       fl_written('io_uring') = :ring_w0 AS ring_untouched;
SELECT dirty AS dirty_after_flush, resident = :res0 AS still_cached FROM fl_buffers('fl_tab');
SELECT flushed, redirtied, skipped FROM pg_uring_flush('fl_tab');
SELECT fl_md5() = :'md5_before' AS content_unchanged;
SELECT resident AS ires0, dirty AS idirty0 FROM fl_buffers('fl_tab_pkey') \gset
SELECT :idirty0 > 0 AS index_dirty_before;
SELECT flushed = :idirty0 AS index_flushed, redirtied, skipped FROM pg_uring_flush('fl_tab_pkey');
SELECT dirty AS index_dirty_after, resident = :ires0 AS index_still_cached FROM fl_buffers('fl_tab_pkey');
UPDATE fl_tab SET v = v + 1 WHERE id % 7 = 1;
SELECT fl_md5() AS md5_before \gset
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_tab') \gset
SELECT :dirty0 > 0 AS dirty_before;
SELECT evicted = :res0 AS evicted_all, flushed = :dirty0 AS flushed_all_dirty, skipped
  FROM pg_uring_evict('fl_tab');
SELECT resident AS resident_after_evict FROM fl_buffers('fl_tab');
SELECT resident AS ires0 FROM fl_buffers('fl_tab_pkey') \gset
SELECT evicted = :ires0 AS index_evicted_all, skipped FROM pg_uring_evict('fl_tab_pkey');
SELECT resident AS index_resident_after_evict FROM fl_buffers('fl_tab_pkey');
SELECT fl_md5() = :'md5_before' AS content_from_disk_unchanged;
SET enable_seqscan = off;
SELECT count(*) AS via_index FROM fl_tab WHERE id BETWEEN 100 AND 199;
RESET enable_seqscan;
RESET pg_uring.io_method;

-- Written by one method, read back after evict by the other: same content
SET pg_uring.io_method = io_uring;
UPDATE fl_tab SET v = v + 1 WHERE id % 11 = 2;
SELECT fl_md5() AS md5_before \gset
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_tab') \gset
SELECT flushed = :dirty0 AS flushed_all_dirty FROM pg_uring_flush('fl_tab');
SET pg_uring.io_method = sync;
SELECT evicted = :res0 AS evicted_all, flushed AS flushed_again FROM pg_uring_evict('fl_tab');
SELECT fl_md5() = :'md5_before' AS content_from_disk_unchanged;
RESET pg_uring.io_method;

-- An unlogged table (no WAL to flush first) and its index
CREATE UNLOGGED TABLE fl_unlogged (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = off);
INSERT INTO fl_unlogged SELECT g, g FROM generate_series(1, 5000) g;
SELECT sum(v) AS unlogged_sum_before FROM fl_unlogged;
SELECT resident AS res0, dirty AS dirty0 FROM fl_buffers('fl_unlogged') \gset
SELECT :dirty0 > 0 AS unlogged_dirty_before;
SELECT flushed = :dirty0 AS unlogged_flushed, redirtied, skipped FROM pg_uring_flush('fl_unlogged');
SELECT dirty AS unlogged_dirty_after, resident = :res0 AS unlogged_still_cached FROM fl_buffers('fl_unlogged');
SELECT evicted = :res0 AS unlogged_evicted FROM pg_uring_evict('fl_unlogged');
SELECT resident AS ires0 FROM fl_buffers('fl_unlogged_pkey') \gset
SELECT evicted = :ires0 AS unlogged_index_evicted FROM pg_uring_evict('fl_unlogged_pkey');
SELECT resident AS unlogged_resident FROM fl_buffers('fl_unlogged');
SELECT sum(v) AS unlogged_sum_after FROM fl_unlogged;
SET enable_seqscan = off;
SELECT v AS unlogged_via_index FROM fl_unlogged WHERE id = 4321;
RESET enable_seqscan;

-- Pinned buffers are not evicted: a cursor keeps one pinned
BEGIN;
DECLARE fl_cur CURSOR FOR SELECT id FROM fl_tab;
FETCH 1 FROM fl_cur;
SELECT skipped >= 1 AS pinned_skipped FROM pg_uring_evict('fl_tab');
SELECT resident >= 1 AS pinned_stays FROM fl_buffers('fl_tab');
COMMIT;

SELECT count(*) AS all_rows FROM fl_tab;

DROP MATERIALIZED VIEW fl_mv;
DROP VIEW fl_view;
DROP TABLE fl_tab, fl_owned, fl_part, fl_unlogged, fl_temp;
DROP SEQUENCE fl_seq;
DROP FUNCTION fl_buffers(regclass), fl_written(text), fl_md5();
DROP ROLE regress_pgu_fl_plain;
DROP ROLE regress_pgu_fl_owner;
ALTER SYSTEM RESET bgwriter_lru_maxpages;
SELECT pg_reload_conf();
\if :fl_own_bc
DROP EXTENSION pg_buffercache;
\endif
\if :fl_own_uring
DROP EXTENSION pg_uring;
\endif
