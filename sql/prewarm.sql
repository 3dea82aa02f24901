--
-- prewarm: pg_uring_prewarm is a drop-in for contrib pg_prewarm.  For every
-- mode, fork, range, kind of relation and bad input it must return what
-- pg_prewarm returns, or raise the same error, under io_method = sync and
-- io_method = io_uring alike.
--

-- pw_try(q): the single value q returns, or
-- "ERROR <sqlstate>: <message>[ DETAIL: <detail>][ HINT: <hint>]".
CREATE FUNCTION pw_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r text;
  st text;
  msg text;
  det text;
  hnt text;
BEGIN
  EXECUTE q INTO r;
  RETURN r;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                          det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
  RETURN 'ERROR ' || st || ': ' || msg || coalesce(' DETAIL: ' || nullif(det, ''), '')
         || coalesce(' HINT: ' || nullif(hnt, ''), '');
END
$$;

-- What a call left in shared buffers is compared too (pg_buffercache).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_buffercache;     -- (setup installs it)
RESET client_min_messages;

-- pw_rel(args): the relation named by the first argument, if it has shared
-- buffers (storage, not temporary), else NULL.
CREATE FUNCTION pw_rel(args text) RETURNS regclass LANGUAGE plpgsql AS $$
DECLARE
  rel regclass;
BEGIN
  EXECUTE 'SELECT (' || split_part(args, ',', 1) || ')::regclass' INTO rel;
  IF EXISTS (SELECT 1 FROM pg_class WHERE oid = rel
                AND relkind IN ('r', 'i', 'm', 'S', 't') AND relpersistence <> 't') THEN
    RETURN rel;
  END IF;
  RETURN NULL;
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

-- pw_cached(rel): the buffers of rel (every fork) in shared buffers, as a
-- list "fork/block,...".
CREATE FUNCTION pw_cached(rel regclass) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(relforknumber || '/' || relblocknumber, ','
                             ORDER BY relforknumber, relblocknumber), '')
    FROM pg_buffercache
   WHERE relfilenode = pg_relation_filenode(rel)
     AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

-- pw_nblocks(list[, other]): the number of blocks in a pw_cached() list
-- (NULL for NULL); with other, "N other blocks" if the lists differ but
-- have the same length.
CREATE FUNCTION pw_nblocks(list text) RETURNS int LANGUAGE sql AS $$
  SELECT length(list) - length(replace(list, '/', ''))
$$;
CREATE FUNCTION pw_nblocks(list text, other text) RETURNS text LANGUAGE sql AS $$
  SELECT pw_nblocks(list) ||
         CASE WHEN list IS DISTINCT FROM other AND pw_nblocks(list) IS NOT DISTINCT FROM pw_nblocks(other)
              THEN ' other' ELSE '' END
$$;

-- pw_call(fn, args, method): fn(args) under io_method = method, starting with
-- nothing of the relation in shared buffers; "result|buffers left cached".
CREATE FUNCTION pw_call(fn text, args text, method text, OUT result text, OUT resident text)
LANGUAGE plpgsql AS $$
DECLARE
  saved text := current_setting('pg_uring.io_method');
  rel regclass := pw_rel(args);
BEGIN
  IF rel IS NOT NULL THEN
    PERFORM pg_uring_evict(rel);
    IF pw_cached(rel) <> '' THEN
      RAISE EXCEPTION '% still has buffers cached after pg_uring_evict', rel;
    END IF;
  END IF;
  PERFORM set_config('pg_uring.io_method', method, false);
  result := pw_try('SELECT ' || fn || '(' || args || ')');
  PERFORM set_config('pg_uring.io_method', saved, false);
  IF rel IS NOT NULL THEN
    resident := pw_cached(rel);
  END IF;
END
$$;

-- pw_cmp(args): pg_prewarm(args), and pg_uring_prewarm(args) under io_method
-- io_uring and sync, each from cold shared buffers.  pg_uring shows "same"
-- when both methods gave exactly what pg_prewarm gave (value, or SQLSTATE,
-- message, detail and hint) and left exactly the same blocks in shared
-- buffers, else what they gave.  buffers: how many blocks pg_prewarm left
-- in shared buffers (empty where the relation has none of its own).
CREATE FUNCTION pw_cmp(args text, OUT pg_prewarm text, OUT buffers int, OUT pg_uring text)
LANGUAGE plpgsql AS $$
DECLARE
  ring record;
  sync record;
  core record;
BEGIN
  ring := pw_call('pg_uring_prewarm', args, 'io_uring');
  sync := pw_call('pg_uring_prewarm', args, 'sync');
  core := pw_call('pg_prewarm', args, 'io_uring');
  pg_prewarm := core.result;
  buffers := pw_nblocks(core.resident);
  IF core IS NOT DISTINCT FROM ring AND core IS NOT DISTINCT FROM sync THEN
    pg_uring := 'same';
  ELSE
    pg_uring := format('DIFFERS: io_uring: %s, cached %s / sync: %s, cached %s / pg_prewarm cached %s',
                       ring.result, pw_nblocks(ring.resident, core.resident),
                       sync.result, pw_nblocks(sync.resident, core.resident), buffers);
  END IF;
END
$$;

-- pw_blocks(args): pg_uring_prewarm_blocks(args) under both methods, each
-- from cold shared buffers (there is no pg_prewarm counterpart): the
-- result, and how many blocks it left in shared buffers; "DIFFERS" when the
-- methods differ in either.
CREATE FUNCTION pw_blocks(args text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
  ring record;
  sync record;
BEGIN
  ring := pw_call('pg_uring_prewarm_blocks', args, 'io_uring');
  sync := pw_call('pg_uring_prewarm_blocks', args, 'sync');
  IF ring IS NOT DISTINCT FROM sync THEN
    RETURN ring.result || coalesce(' (cached ' || pw_nblocks(ring.resident) || ')', '');
  END IF;
  RETURN format('DIFFERS: io_uring: %s, cached %s / sync: %s, cached %s',
                ring.result, pw_nblocks(ring.resident, sync.resident),
                sync.result, pw_nblocks(sync.resident, ring.resident));
END
$$;

-- Every io_uring call below must go through the ring (setup asserts that it
-- is up); the statistics say so at the end.
SELECT pg_uring_stats_reset();

-- Relations of every kind
CREATE TABLE pw_heap (id int PRIMARY KEY, payload text)
  WITH (autovacuum_enabled = off);
INSERT INTO pw_heap SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 10000) g;
VACUUM (FREEZE) pw_heap;			-- creates the fsm and vm forks
CREATE TABLE pw_small (a int) WITH (autovacuum_enabled = off);	-- main fork only
INSERT INTO pw_small VALUES (1);
CREATE TABLE pw_empty (a int);		-- no blocks at all
CREATE UNLOGGED TABLE pw_unlogged (id int PRIMARY KEY, t text)
  WITH (autovacuum_enabled = off);
INSERT INTO pw_unlogged SELECT g, 'u' || g FROM generate_series(1, 1000) g;
CREATE MATERIALIZED VIEW pw_matview AS SELECT id FROM pw_heap WHERE id <= 2000;
CREATE VIEW pw_view AS SELECT * FROM pw_heap;
CREATE TABLE pw_parted (a int) PARTITION BY RANGE (a);
CREATE TABLE pw_parted_1 PARTITION OF pw_parted FOR VALUES FROM (0) TO (1000);
INSERT INTO pw_parted SELECT generate_series(0, 999);
CREATE INDEX pw_parted_a ON pw_parted (a);	-- partitioned index: no storage
CREATE FOREIGN DATA WRAPPER pw_dummy;
CREATE SERVER pw_server FOREIGN DATA WRAPPER pw_dummy;
CREATE FOREIGN TABLE pw_foreign (a int) SERVER pw_server;
CREATE SEQUENCE pw_seq;
CREATE TABLE pw_toasty (id int, t text) WITH (autovacuum_enabled = off);
ALTER TABLE pw_toasty ALTER COLUMN t SET STORAGE EXTERNAL;
INSERT INTO pw_toasty SELECT g, repeat(md5(g::text), 1000) FROM generate_series(1, 20) g;
CREATE TEMP TABLE pw_temp (a int);
INSERT INTO pw_temp SELECT generate_series(1, 5000);

SELECT relname, relkind, relpersistence,
       pg_relation_size(oid, 'main') / 8192 AS main,
       pg_relation_size(oid, 'fsm') / 8192 AS fsm,
       pg_relation_size(oid, 'vm') / 8192 AS vm,
       pg_relation_size(oid, 'init') / 8192 AS init
  FROM pg_class WHERE relname LIKE 'pw\_%' ORDER BY relname;

-- Defaults and named arguments
SELECT pg_prewarm('pw_heap') AS pg_prewarm, pg_uring_prewarm('pw_heap') AS pg_uring;
SELECT pg_prewarm('pw_heap', first_block => 3, last_block => 7) AS pg_prewarm,
       pg_uring_prewarm('pw_heap', first_block => 3, last_block => 7) AS pg_uring;
SELECT pg_prewarm('pw_heap', fork => 'vm') AS pg_prewarm,
       pg_uring_prewarm('pw_heap', fork => 'vm') AS pg_uring;

-- Every mode x fork on a table that has main, fsm and vm (but no init fork)
SELECT mode, fork, c.*
  FROM unnest('{buffer,read,prefetch}'::text[]) WITH ORDINALITY m(mode, mi),
       unnest('{main,fsm,vm,init}'::text[]) WITH ORDINALITY f(fork, fi),
       pw_cmp(format('%L, %L, %L', 'pw_heap', mode, fork)) c
 ORDER BY mi, fi;

-- Every mode x kind of relation (default fork)
SELECT rel, mode, c.*
  FROM unnest('{pw_heap,pw_heap_pkey,pw_small,pw_empty,pw_unlogged,pw_unlogged_pkey,
                pw_matview,pw_parted_1,pw_parted_1_a_idx,pw_seq,pw_temp,
                pw_view,pw_parted,pw_parted_a,pw_foreign}'::text[]) WITH ORDINALITY r(rel, ri),
       unnest('{buffer,read,prefetch}'::text[]) WITH ORDINALITY m(mode, mi),
       pw_cmp(format('%L, %L', rel, mode)) c
 ORDER BY ri, mi;

-- Forks that only some relations have
SELECT rel, fork, mode, c.*
  FROM (VALUES (1, 'pw_small', 'fsm'), (2, 'pw_small', 'vm'), (3, 'pw_heap', 'init'),
               (4, 'pw_unlogged', 'init'), (5, 'pw_unlogged_pkey', 'init'),
               (6, 'pw_unlogged', 'fsm'), (7, 'pw_seq', 'fsm'),
               (8, 'pw_heap_pkey', 'vm'), (9, 'pw_temp', 'fsm'),
               (10, 'pw_view', 'vm')) v(i, rel, fork),
       unnest('{buffer,read,prefetch}'::text[]) WITH ORDINALITY m(mode, mi),
       pw_cmp(format('%L, %L, %L', rel, mode, fork)) c
 ORDER BY i, mi;

-- The TOAST table and its index
SELECT 'toast table' AS rel, c.*
  FROM pg_class t, pw_cmp(format('%s::oid::regclass', t.reltoastrelid)) c
 WHERE t.relname = 'pw_toasty'
UNION ALL
SELECT 'toast index', c.*
  FROM pg_class t JOIN pg_index i ON i.indrelid = t.reltoastrelid,
       pw_cmp(format('%s::oid::regclass, %L', i.indexrelid, 'read')) c
 WHERE t.relname = 'pw_toasty';

-- Block ranges (n = number of blocks of pw_heap's main fork)
SELECT mode, label AS "first, last", c.*
  FROM (SELECT (pg_relation_size('pw_heap') / 8192)::int8 AS n) n,
       LATERAL (VALUES (1,  '0, 0',          '0',       '0'),
                       (2,  '0, NULL',       '0',       'NULL'),
                       (3,  'NULL, 9',       'NULL',    '9'),
                       (4,  '10, 19',        '10',      '19'),
                       (5,  'n-1, n-1',      (n-1)::text, (n-1)::text),
                       (6,  'n-1, NULL',     (n-1)::text, 'NULL'),
                       (7,  'NULL, NULL',    'NULL',    'NULL'),
                       (8,  '5, 4',          '5',       '4'),
                       (9,  'n-1, 0',        (n-1)::text, '0'),
                       (10, 'n, NULL',       n::text,   'NULL'),
                       (11, 'n, n',          n::text,   n::text),
                       (12, '-1, NULL',      '-1',      'NULL'),
                       (13, 'NULL, n',       'NULL',    n::text),
                       (14, 'NULL, -1',      'NULL',    '-1'),
                       (15, '0, n+100',      '0',       (n+100)::text),
                       (16, '-5, -10',       '-5',      '-10'),
                       (17, '2^40, NULL',    '1099511627776', 'NULL'),
                       (18, 'NULL, 2^62',    'NULL',    '4611686018427387904'))
               v(i, label, first, last),
       unnest('{buffer,read,prefetch}'::text[]) WITH ORDINALITY m(mode, mi),
       pw_cmp(format('%L, %L, %L, %s, %s', 'pw_heap', mode, 'main', first, last)) c
 ORDER BY i, mi;

-- Ranges in other forks and in relations without blocks.  In an empty fork
-- every block number is out of range: pg_prewarm says "must be between 0 and
-- -1", pg_uring names the empty fork instead, so rows 5, 6 and 8 show DIFFERS
-- (the same error under both methods, and no block cached).
SELECT args, c.*
  FROM (VALUES (1, $$'pw_heap', 'read', 'fsm', 1, 2$$),
               (2, $$'pw_heap', 'buffer', 'vm', 0, 0$$),
               (3, $$'pw_heap', 'buffer', 'vm', 1, NULL$$),
               (4, $$'pw_empty', 'buffer', 'main', NULL, NULL$$),
               (5, $$'pw_empty', 'buffer', 'main', 0, NULL$$),
               (6, $$'pw_empty', 'read', 'main', NULL, 0$$),
               (7, $$'pw_unlogged', 'buffer', 'init', NULL, NULL$$),
               (8, $$'pw_unlogged', 'buffer', 'init', 0, 0$$),
               (9, $$'pw_unlogged_pkey', 'buffer', 'init', 0, 0$$),
               (10, $$'pw_temp', 'buffer', 'main', 3, 5$$),
               (11, $$'pw_temp', 'read', 'main', 3, NULL$$)) v(i, args),
       pw_cmp(args) c
 ORDER BY i;

-- Bad input: NULLs, unknown mode or fork (names are case-sensitive), no such
-- relation; the checks run in pg_prewarm's order.
SELECT args, c.*
  FROM (VALUES (1, $$NULL$$),
               (2, $$NULL, 'bogus', 'bogus'$$),
               (3, $$'pw_heap', NULL$$),
               (4, $$'pw_heap', 'buffer', NULL$$),
               (5, $$'pw_heap', NULL, NULL$$),
               (6, $$'pw_heap', 'bogus'$$),
               (7, $$'pw_heap', 'BUFFER'$$),
               (8, $$'pw_heap', ''$$),
               (9, $$'pw_heap', 'buffer', 'bogus'$$),
               (10, $$'pw_heap', 'buffer', 'MAIN'$$),
               (11, $$'pw_heap', 'bogus', 'bogus'$$),
               (12, $$'pw_view', 'bogus'$$),
               (13, $$'pw_view', 'buffer', 'bogus'$$),
               (14, $$0$$),
               (15, $$'pw_heap', 'buffer', 'main', NULL, NULL$$)) v(i, args),
       pw_cmp(args) c
 ORDER BY i;

-- The full error reports (hints included), pg_prewarm first
SELECT pg_prewarm(NULL);
SELECT pg_uring_prewarm(NULL);
SELECT pg_prewarm('pw_heap', 'bogus');
SELECT pg_uring_prewarm('pw_heap', 'bogus');
SELECT pg_prewarm('pw_heap', 'buffer', 'bogus');
SELECT pg_uring_prewarm('pw_heap', 'buffer', 'bogus');
SELECT pg_prewarm('pw_view');
SELECT pg_uring_prewarm('pw_view');
SELECT pg_prewarm('pw_heap', 'read', 'main', -1);
SELECT pg_uring_prewarm('pw_heap', 'read', 'main', -1);
SELECT pg_prewarm('pw_heap', 'read', 'main', 0, 100000);
SELECT pg_uring_prewarm('pw_heap', 'read', 'main', 0, 100000);

--
-- pg_uring_prewarm_blocks: exactly the listed blocks
--
SELECT args, pg_uring_prewarm_blocks
  FROM (VALUES (1, $$'pw_heap', '{0,1,2}'$$),
               (2, $$'pw_heap', '{10,3,7}'$$),
               (3, $$'pw_heap', '{5,5,5}'$$),
               (4, $$'pw_heap', '{0,1,2,3,2,1,0}', 'read'$$),
               (5, $$'pw_heap', '{}'$$),
               (6, $$'pw_heap', '{}', 'read', 'fsm'$$),
               (7, $$'pw_heap', '{0}', 'read', 'fsm'$$),
               (8, $$'pw_heap', '{0}', 'prefetch', 'vm'$$),
               (9, $$'pw_heap', ARRAY(SELECT generate_series(0, pg_relation_size('pw_heap')/8192 - 1, 3))$$),
               (10, $$'pw_heap', ARRAY(SELECT generate_series(pg_relation_size('pw_heap')/8192 - 1, 0, -1)), 'read'$$),
               (11, $$'pw_heap', '{1,2,3}', 'prefetch'$$),
               (12, $$'pw_temp', '{0,2,4}'$$),
               (13, $$'pw_temp', '{0,2,4}', 'read'$$),
               (14, $$'pw_seq', '{0}'$$),
               (15, $$'pw_unlogged_pkey', '{0}', 'buffer', 'init'$$),
               (16, $$'pw_heap', '[0:1]={4,5}'$$),
               (17, $$'pw_heap', '{{1,2},{3,4}}'$$)) v(i, args),
       pw_blocks(args) AS pg_uring_prewarm_blocks
 ORDER BY i;

-- ... compared with pg_prewarm over the same blocks
SELECT pg_uring_prewarm_blocks('pw_heap', ARRAY(SELECT generate_series(20, 39)::int8), 'read')
     = pg_prewarm('pw_heap', 'read', 'main', 20, 39) AS same_as_range;

-- errors
SELECT args, pg_uring_prewarm_blocks
  FROM (VALUES (1, $$NULL, '{0}'$$),
               (2, $$'pw_heap', NULL$$),
               (3, $$'pw_heap', '{0}', NULL$$),
               (4, $$'pw_heap', '{0}', 'buffer', NULL$$),
               (5, $$'pw_heap', '{0}', 'bogus'$$),
               (6, $$'pw_heap', '{0}', 'buffer', 'bogus'$$),
               (7, $$'pw_heap', '{0,NULL,2}'$$),
               (8, $$'pw_heap', '{-1}'$$),
               (9, $$'pw_heap', ARRAY[0, pg_relation_size('pw_heap')/8192]$$),
               (10, $$'pw_heap', '{9223372036854775807}', 'read'$$),
               (11, $$'pw_empty', '{0}'$$),
               (12, $$'pw_empty', '{}'$$),
               (13, $$'pw_small', '{0}', 'buffer', 'fsm'$$),
               (14, $$'pw_view', '{0}'$$),
               (15, $$'pw_view', '{}'$$),
               (16, $$'pw_parted', '{0}'$$),
               (17, $$'pw_foreign', '{0}'$$),
               (18, $$'pw_heap', '{0}', 'bogus', 'bogus'$$)) v(i, args),
       pw_blocks(args) AS pg_uring_prewarm_blocks
 ORDER BY i;

SELECT pg_uring_prewarm_blocks('pw_heap', '{0,NULL}');
SELECT pg_uring_prewarm_blocks('pw_heap', ARRAY[1, pg_relation_size('pw_heap')/8192]);
SELECT pg_uring_prewarm_blocks('pw_heap', '{0}', 'bogus');

-- The io_uring calls above went through the ring and none fell back to the
-- sync path.  (Where the ring is down, in a sync-only run, all of them fell
-- back: then both columns hold too.)
SELECT (blocks_read > 0) = ring_up AS ring_read_iff_up,
       (fallback_ios = 0) = ring_up AS fallback_iff_down
  FROM pg_uring_stats, pg_uring_status WHERE method = 'io_uring';

--
-- The pages installed by the ring are the pages on disk.  pw_big is larger than
-- shared_buffers (32MB), and CREATE TABLE AS writes it through a small ring of
-- buffers, so most of it is not cached when we start.
--
CREATE TABLE pw_big WITH (autovacuum_enabled = off) AS
  SELECT g AS id, md5(g::text) AS h, repeat('z', 100) AS pad
    FROM generate_series(1, 300000) g;
SELECT pg_relation_size('pw_big') > pg_size_bytes(current_setting('shared_buffers'))
       AS bigger_than_shared_buffers;
SELECT count(*) AS big_rows, sum(hashtext(h)) AS big_sum,
       pg_relation_size('pw_big') / 8192 AS big_blocks FROM pw_big \gset
CREATE FUNCTION pw_resident(rel regclass) RETURNS int8 LANGUAGE sql AS $$
  SELECT count(*) FROM pg_buffercache
   WHERE relfilenode = pg_relation_filenode(rel)
     AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
     AND relforknumber = 0
$$;
SELECT pw_resident('pw_big') AS resident_before \gset
SET pg_uring.io_method = io_uring;
SELECT pg_uring_prewarm('pw_big') = :big_blocks AS all_blocks;
SELECT pw_resident('pw_big') > :resident_before + 2000 AS buffers_filled;
SELECT count(*) = :big_rows AND sum(hashtext(h)) = :big_sum AS same_data FROM pw_big;
SELECT pg_uring_prewarm('pw_big', 'read') = :big_blocks AS all_blocks;
SELECT pg_uring_prewarm('pw_big', 'prefetch') = :big_blocks AS all_blocks;
SET pg_uring.io_method = sync;
SELECT pg_uring_prewarm('pw_big') = :big_blocks AS all_blocks;
SELECT count(*) = :big_rows AND sum(hashtext(h)) = :big_sum AS same_data FROM pw_big;
RESET pg_uring.io_method;
-- scattered blocks through the ring; spot-check rows on them
SELECT pg_uring_prewarm_blocks('pw_big',
         ARRAY(SELECT generate_series(0, :big_blocks - 1, 7)::int8))
     = ceil(:big_blocks / 7.0) AS all_listed;
SELECT count(*) = :big_rows AND sum(hashtext(h)) = :big_sum AS same_data FROM pw_big;
SELECT bool_and(h = md5(id::text)) AS rows_intact FROM pw_big;

--
-- parallel installs: helpers share a buffer-mode prewarm above
-- pg_uring.min_parallel_prewarm_size (here lowered to 1 MB for a table of
-- 1 600 blocks, which fits in shared buffers); the count and the data are the
-- same whether or not helpers could be started.
--
SELECT name, setting, unit, boot_val, context, vartype, min_val, max_val
  FROM pg_settings
 WHERE name IN ('pg_uring.max_prewarm_workers', 'pg_uring.min_parallel_prewarm_size')
 ORDER BY name;
SET pg_uring.max_prewarm_workers = -1;
SET pg_uring.max_prewarm_workers = 65;
SET pg_uring.min_parallel_prewarm_size = -1;
SET pg_uring.min_parallel_prewarm_size = '1MB';
SHOW pg_uring.min_parallel_prewarm_size;
SET pg_uring.max_prewarm_workers = 2;
-- all windows together stay within 3/4 of the queue (16 slots here)
SET pg_uring.queue_depth = 4;
CREATE TABLE pw_par WITH (autovacuum_enabled = off, fillfactor = 10) AS
  SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 17600) g;
SELECT pg_relation_size('pw_par') / 8192 AS par_blocks,
       count(*) AS par_rows, sum(hashtext(h)) AS par_sum FROM pw_par \gset
SELECT :par_blocks BETWEEN 1100 AND 2000 AS sized_for_two_helpers;
SELECT sum(prewarm_workers_planned) AS planned_before,
       sum(prewarm_workers_launched) AS launched_before FROM pg_uring_stats \gset
SELECT skipped = 0 AS evicted FROM pg_uring_evict('pw_par');
SELECT pw_resident('pw_par') AS resident_after_evict;
SELECT pg_uring_prewarm('pw_par') = :par_blocks AS all_blocks;
SELECT pw_resident('pw_par') = :par_blocks AS all_resident;
SELECT count(*) = :par_rows AND sum(hashtext(h)) = :par_sum AS same_data FROM pw_par;
SELECT sum(prewarm_workers_planned) - :planned_before AS planned,
       sum(prewarm_workers_launched) - :launched_before <= 2 AS launched_at_most_planned
  FROM pg_uring_stats;
-- helpers only (the caller waits), on a block list
SET parallel_leader_participation = off;
SELECT sum(prewarm_workers_planned) AS planned_before FROM pg_uring_stats \gset
SELECT skipped = 0 AS evicted FROM pg_uring_evict('pw_par');
SELECT pw_resident('pw_par') AS resident_after_evict;
SELECT pg_uring_prewarm_blocks('pw_par',
         ARRAY(SELECT g::int8 FROM generate_series(0, :par_blocks - 1) g WHERE g % 4 <> 0))
     = :par_blocks - ceil(:par_blocks / 4.0) AS all_listed;
SELECT pw_resident('pw_par') = :par_blocks - ceil(:par_blocks / 4.0) AS exactly_the_listed;
SELECT sum(prewarm_workers_planned) - :planned_before AS planned FROM pg_uring_stats;
RESET parallel_leader_participation;
-- no helper may start: the caller does it all
SET max_parallel_workers = 0;
SELECT sum(prewarm_workers_launched) AS launched_before FROM pg_uring_stats \gset
SELECT skipped = 0 AS evicted FROM pg_uring_evict('pw_par');
SELECT pw_resident('pw_par') AS resident_after_evict;
SELECT pg_uring_prewarm('pw_par') = :par_blocks AS all_blocks;
SELECT pw_resident('pw_par') = :par_blocks AS all_resident;
SELECT sum(prewarm_workers_launched) - :launched_before AS launched FROM pg_uring_stats;
RESET max_parallel_workers;
-- the sync path splits the same way
SET pg_uring.io_method = sync;
SELECT skipped = 0 AS evicted FROM pg_uring_evict('pw_par');
SELECT pw_resident('pw_par') AS resident_after_evict;
SELECT pg_uring_prewarm('pw_par') = :par_blocks AS all_blocks;
SELECT pw_resident('pw_par') = :par_blocks AS all_resident;
RESET pg_uring.io_method;
-- below the threshold, and in other modes, no helpers
SELECT sum(prewarm_workers_planned) AS planned_before FROM pg_uring_stats \gset
SELECT pg_uring_prewarm('pw_par', 'buffer', 'main', 0, 99) AS small;
SELECT pg_uring_prewarm('pw_par', 'read') = :par_blocks AS all_blocks;
SELECT sum(prewarm_workers_planned) - :planned_before AS planned FROM pg_uring_stats;
-- a window as large as the queue leaves no room for helpers
SET pg_uring.queue_depth = 16;
SELECT sum(prewarm_workers_planned) AS planned_before FROM pg_uring_stats \gset
SELECT pg_uring_prewarm('pw_par') = :par_blocks AS all_blocks;
SELECT sum(prewarm_workers_planned) - :planned_before AS planned FROM pg_uring_stats;
RESET pg_uring.queue_depth;
RESET pg_uring.max_prewarm_workers;
RESET pg_uring.min_parallel_prewarm_size;
-- leave shared buffers to the tests that follow
DROP TABLE pw_par;
