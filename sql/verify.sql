--
-- verify: pg_uring_verify and pg_uring_verify_database on clean relations.
-- A clean relation gives no rows, for every fork and range, under io_method
-- io_uring and sync alike; bad input gets pg_prewarm's errors; SELECT on the
-- relation (on its table, for an index) is required; pg_uring_progress is
-- empty when nothing runs and is for pg_monitor.
--
-- The result must not depend on whether the instance has data checksums
-- (pg_regress's temporary instance has none), so the NOTICEs ("data checksums
-- are disabled", the per-database counts) are not shown.
--
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_uring;
CREATE EXTENSION IF NOT EXISTS pg_prewarm;

-- Wait for the ring worker to settle (up, or down with a reason), in case
-- this file runs on its own.
DO $$
DECLARE
  i int := 0;
BEGIN
  LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM pg_uring_status
                       WHERE worker_pid IS NOT NULL
                         AND (ring_up OR reason IS NOT NULL));
    i := i + 1;
    IF i > 600 THEN
      RAISE EXCEPTION 'pg_uring ring worker did not come up within 60 s';
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
END
$$;

-- The API (argument names and defaults are part of the contract)
SELECT pg_get_function_arguments('pg_uring_verify'::regproc) AS args,
       pg_get_function_result('pg_uring_verify'::regproc) AS result;
SELECT pg_get_function_arguments('pg_uring_verify_database'::regproc) AS args,
       pg_get_function_result('pg_uring_verify_database'::regproc) AS result;
SELECT column_name, data_type FROM information_schema.columns
 WHERE table_schema = 'public' AND table_name = 'pg_uring_progress'
 ORDER BY ordinal_position;
SELECT name, setting, unit, context, vartype FROM pg_settings
 WHERE name IN ('pg_uring.verify_rate_limit', 'pg_uring.progress_interval',
                'pg_uring.max_verify_rate_limit')
 ORDER BY name;

-- vf_try(q): the single value q returns, or "ERROR <sqlstate>: <message>".
CREATE FUNCTION vf_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r text;
BEGIN
  EXECUTE q INTO r;
  RETURN r;
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION vf_try(text) TO PUBLIC;

-- Pages verified so far, over every path.
CREATE FUNCTION vf_pages() RETURNS int8 LANGUAGE sql AS $$
  SELECT coalesce(sum(pages_verified), 0)::int8 FROM pg_uring_stats
$$;

-- vf_run(args): "rows=N" (the rows pg_uring_verify(args) returned) or the
-- error, and the number of pages it verified.
CREATE FUNCTION vf_run(args text, OUT result text, OUT pages int8)
LANGUAGE plpgsql AS $$
DECLARE
  before int8 := vf_pages();
BEGIN
  result := vf_try('SELECT count(*) FROM pg_uring_verify(' || args || ')');
  IF result NOT LIKE 'ERROR%' THEN
    result := 'rows=' || result;
  END IF;
  pages := vf_pages() - before;
END
$$;

-- vf_cmp(args): vf_run(args) under io_method io_uring, then sync.  result is
-- the io_uring result when both agree on rows and pages, else both.
CREATE FUNCTION vf_cmp(args text, OUT result text, OUT pages int8)
LANGUAGE plpgsql AS $$
DECLARE
  saved text := current_setting('pg_uring.io_method');
  ring record;
  sync record;
BEGIN
  PERFORM set_config('pg_uring.io_method', 'io_uring', false);
  SELECT * INTO ring FROM vf_run(args);
  PERFORM set_config('pg_uring.io_method', 'sync', false);
  SELECT * INTO sync FROM vf_run(args);
  PERFORM set_config('pg_uring.io_method', saved, false);
  IF ring.result IS NOT DISTINCT FROM sync.result AND ring.pages = sync.pages THEN
    result := ring.result;
    pages := ring.pages;
  ELSE
    result := format('DIFFERS: io_uring: %s (%s pages) / sync: %s (%s pages)',
                     ring.result, ring.pages, sync.result, sync.pages);
  END IF;
END
$$;

-- Failures counted before this test (the counters are cluster-wide).
SELECT sum(verify_failures) AS vf_failures0 FROM pg_uring_stats \gset

-- Blocks of a fork (0 when it does not exist).
CREATE FUNCTION vf_blocks(rel regclass, fork text) RETURNS int8 LANGUAGE sql AS $$
  SELECT pg_relation_size(rel, fork) / current_setting('block_size')::int8
$$;

-- Relations of every kind
CREATE TABLE vf_heap (id int PRIMARY KEY, payload text)
  WITH (autovacuum_enabled = off);
INSERT INTO vf_heap SELECT g, repeat(md5(g::text), 3) FROM generate_series(1, 20000) g;
CREATE INDEX vf_heap_payload ON vf_heap (payload);
VACUUM (FREEZE) vf_heap;			-- creates the fsm and vm forks
CREATE TABLE vf_small (a int) WITH (autovacuum_enabled = off);	-- main fork only
INSERT INTO vf_small VALUES (1);
CREATE TABLE vf_empty (a int);		-- no blocks at all
CREATE INDEX vf_empty_a ON vf_empty (a);	-- a metapage only
CREATE UNLOGGED TABLE vf_unlogged (id int PRIMARY KEY, t text)
  WITH (autovacuum_enabled = off);
INSERT INTO vf_unlogged SELECT g, 'u' || g FROM generate_series(1, 1000) g;
CREATE MATERIALIZED VIEW vf_matview AS SELECT id FROM vf_heap WHERE id <= 2000;
CREATE VIEW vf_view AS SELECT * FROM vf_heap;
CREATE TABLE vf_parted (a int) PARTITION BY RANGE (a);
CREATE TABLE vf_parted_1 PARTITION OF vf_parted FOR VALUES FROM (0) TO (1000);
INSERT INTO vf_parted SELECT generate_series(0, 999);
CREATE INDEX vf_parted_a ON vf_parted (a);	-- partitioned index: no storage
CREATE FOREIGN DATA WRAPPER vf_dummy;
CREATE SERVER vf_server FOREIGN DATA WRAPPER vf_dummy;
CREATE FOREIGN TABLE vf_foreign (a int) SERVER vf_server;
CREATE SEQUENCE vf_seq;
CREATE TABLE vf_toasty (id int, t text) WITH (autovacuum_enabled = off);
ALTER TABLE vf_toasty ALTER COLUMN t SET STORAGE EXTERNAL;
INSERT INTO vf_toasty SELECT g, repeat(md5(g::text), 1000) FROM generate_series(1, 20) g;
-- other index access methods (some build their metapage through buffers)
CREATE TABLE vf_am (id int, r int4range, arr int[]) WITH (autovacuum_enabled = off);
INSERT INTO vf_am SELECT g, int4range(g, g + 10), ARRAY[g, g + 1]
  FROM generate_series(1, 3000) g;
CREATE INDEX vf_am_hash ON vf_am USING hash (id);
CREATE INDEX vf_am_gist ON vf_am USING gist (r);
CREATE INDEX vf_am_gin ON vf_am USING gin (arr);
CREATE INDEX vf_am_brin ON vf_am USING brin (id);
CREATE INDEX vf_am_spgist ON vf_am USING spgist (r);
-- our own temporary table and indexes (local buffers; pages may exist only
-- there and not yet on disk)
CREATE TEMP TABLE vf_temp (a int, b int);
INSERT INTO vf_temp SELECT g, g FROM generate_series(1, 5000) g;
CREATE INDEX vf_temp_btree ON vf_temp (a);
CREATE INDEX vf_temp_hash ON vf_temp USING hash (a);
CREATE INDEX vf_temp_brin ON vf_temp USING brin (b);


SELECT relname, relkind, relpersistence,
       vf_blocks(oid, 'main') > 0 AS main,
       vf_blocks(oid, 'fsm') > 0 AS fsm,
       vf_blocks(oid, 'vm') > 0 AS vm,
       vf_blocks(oid, 'init') > 0 AS init
  FROM pg_class WHERE relname LIKE 'vf\_%' ORDER BY relname;

--
-- A clean relation returns no rows: every kind, every fork (NULL = all
-- forks), both methods.  pages_ok: it verified exactly the blocks of the
-- fork(s), as pg_uring_stats.pages_verified counts them.
--
SELECT rel, c.result, c.pages = e.pages AS pages_ok
  FROM unnest('{vf_heap,vf_heap_pkey,vf_heap_payload,vf_small,vf_empty,vf_empty_a,
                vf_unlogged,vf_unlogged_pkey,vf_matview,vf_parted_1,vf_parted_1_a_idx,
                vf_seq,vf_toasty,vf_am,vf_am_hash,vf_am_gist,vf_am_gin,vf_am_brin,
                vf_am_spgist,vf_temp,vf_temp_btree,vf_temp_hash,vf_temp_brin}'::text[])
         WITH ORDINALITY r(rel, ri),
       LATERAL (SELECT vf_blocks(rel::regclass, 'main') + vf_blocks(rel::regclass, 'fsm')
                       + vf_blocks(rel::regclass, 'vm') + vf_blocks(rel::regclass, 'init')
                       AS pages) e,
       vf_cmp(format('%L', rel)) c
 ORDER BY ri;

-- ... the same with fork => NULL and the block arguments NULL spelled out
SELECT c.result, c.pages = vf_blocks('vf_heap', 'main') + vf_blocks('vf_heap', 'fsm')
                           + vf_blocks('vf_heap', 'vm') AS pages_ok
  FROM vf_cmp($$'vf_heap', NULL, NULL, NULL$$) c;
SELECT c.result, c.pages = vf_blocks('vf_heap', 'main') AS pages_ok
  FROM vf_cmp($$rel => 'vf_heap', fork => 'main'$$) c;

-- Fork selection: each fork alone
SELECT rel, fork, c.result, c.pages = vf_blocks(rel::regclass, fork) AS pages_ok
  FROM (VALUES (1, 'vf_heap', 'main'), (2, 'vf_heap', 'fsm'), (3, 'vf_heap', 'vm'),
               (4, 'vf_heap_pkey', 'main'), (5, 'vf_unlogged', 'init'),
               (6, 'vf_unlogged', 'main'), (7, 'vf_unlogged_pkey', 'init'),
               (8, 'vf_small', 'main'), (9, 'vf_empty', 'main'),
               (10, 'vf_temp', 'main')) v(i, rel, fork),
       vf_cmp(format('%L, %L', rel, fork)) c
 ORDER BY i;

-- Forks that a relation does not have, and relations without storage: the
-- error pg_prewarm gives (shown next to it)
SELECT rel, fork, c.result,
       CASE WHEN c.result = p THEN 'same' ELSE p END AS pg_prewarm
  FROM (VALUES (1, 'vf_small', 'fsm'), (2, 'vf_small', 'vm'), (3, 'vf_heap', 'init'),
               (4, 'vf_heap_pkey', 'vm'), (5, 'vf_seq', 'fsm'), (6, 'vf_unlogged_pkey', 'fsm'),
               (7, 'vf_view', 'main'), (8, 'vf_parted', 'main'), (9, 'vf_parted_a', 'main'),
               (10, 'vf_foreign', 'main'), (11, 'vf_view', 'vm')) v(i, rel, fork),
       vf_cmp(format('%L, %L', rel, fork)) c,
       vf_try(format('SELECT pg_prewarm(%L, %L, %L)', rel, 'read', fork)) p
 ORDER BY i;

-- ... and with the fork left NULL (all forks): a relation without storage
-- still errors; one that lacks some forks just skips them
SELECT rel, c.result
  FROM unnest('{vf_view,vf_parted,vf_parted_a,vf_foreign,vf_small,vf_empty}'::text[])
         WITH ORDINALITY r(rel, ri),
       vf_cmp(format('%L', rel)) c
 ORDER BY ri;

-- Block ranges (n = number of blocks of vf_heap's main fork); errors as
-- pg_prewarm's
SELECT label AS "first, last", c.result, c.pages AS pages,
       CASE WHEN c.result LIKE 'ERROR%' AND c.result = p THEN 'same'
            WHEN c.result LIKE 'ERROR%' OR p LIKE 'ERROR%' THEN p
            WHEN c.pages = p::int8 THEN 'same pages'
            ELSE p END AS pg_prewarm
  FROM (SELECT vf_blocks('vf_heap', 'main') AS n) n,
       LATERAL (VALUES (1,  '0, 0',          '0',       '0'),
                       (2,  '0, NULL',       '0',       'NULL'),
                       (3,  'NULL, 9',       'NULL',    '9'),
                       (4,  '10, 19',        '10',      '19'),
                       (5,  'n-1, n-1',      (n-1)::text, (n-1)::text),
                       (6,  'n-1, NULL',     (n-1)::text, 'NULL'),
                       (7,  '5, 4',          '5',       '4'),
                       (8,  'n-1, 0',        (n-1)::text, '0'),
                       (9,  'n, NULL',       n::text,   'NULL'),
                       (10, 'n, n',          n::text,   n::text),
                       (11, '-1, NULL',      '-1',      'NULL'),
                       (12, 'NULL, n',       'NULL',    n::text),
                       (13, 'NULL, -1',      'NULL',    '-1'),
                       (14, '0, n+100',      '0',       (n+100)::text),
                       (15, '-5, -10',       '-5',      '-10'),
                       (16, '2^40, NULL',    '1099511627776', 'NULL'),
                       (17, 'NULL, 2^62',    'NULL',    '4611686018427387904'))
               v(i, label, first, last),
       vf_cmp(format('%L, %L, %s, %s', 'vf_heap', 'main', first, last)) c,
       vf_try(format('SELECT pg_prewarm(%L, %L, %L, %s, %s)', 'vf_heap', 'read', 'main', first, last)) p
 WHERE n.n > 40
 ORDER BY i;

-- Ranges in other forks and in relations without blocks
SELECT args, c.result, c.pages
  FROM (VALUES (1, $$'vf_heap', 'fsm', 1, 2$$),
               (2, $$'vf_heap', 'vm', 0, 0$$),
               (3, $$'vf_heap', 'vm', 1, NULL$$),
               (4, $$'vf_empty', 'main', 0, NULL$$),
               (5, $$'vf_empty', 'main', NULL, 0$$),
               (6, $$'vf_unlogged', 'init', 0, 0$$),
               (7, $$'vf_heap_pkey', 'main', 0, 0$$),
               (8, $$'vf_temp', 'main', 3, 5$$)) v(i, args),
       vf_cmp(args) c
 ORDER BY i;

-- A range needs a fork
SELECT args, c.result
  FROM (VALUES (1, $$'vf_heap', NULL, 0, 0$$),
               (2, $$'vf_heap', NULL, 0, NULL$$),
               (3, $$'vf_heap', NULL, NULL, 3$$),
               (4, $$'vf_heap', first_block => 0$$)) v(i, args),
       vf_cmp(args) c
 ORDER BY i;

-- Bad input: NULL relation, unknown fork (names are case-sensitive), no
-- such relation
SELECT args, c.result
  FROM (VALUES (1, $$NULL$$),
               (2, $$NULL, 'bogus'$$),
               (3, $$'vf_heap', 'bogus'$$),
               (4, $$'vf_heap', 'MAIN'$$),
               (5, $$'vf_heap', ''$$),
               (6, $$'vf_view', 'bogus'$$),
               (7, $$0$$),
               (8, $$'vf_no_such_table'$$)) v(i, args),
       vf_cmp(args) c
 ORDER BY i;

-- The full error reports (hints included), pg_prewarm first where it has one
SELECT * FROM pg_uring_verify(NULL);
SELECT pg_prewarm('vf_heap', 'read', 'bogus');
SELECT * FROM pg_uring_verify('vf_heap', 'bogus');
SELECT pg_prewarm('vf_view');
SELECT * FROM pg_uring_verify('vf_view');
SELECT pg_prewarm('vf_heap', 'read', 'main', -1);
SELECT * FROM pg_uring_verify('vf_heap', 'main', -1);
SELECT pg_prewarm('vf_heap', 'read', 'main', 0, 100000);
SELECT * FROM pg_uring_verify('vf_heap', 'main', 0, 100000);
SELECT * FROM pg_uring_verify('vf_heap', NULL, 0, 10);

-- The result's shape, on a relation that passes (no rows)
SELECT * FROM pg_uring_verify('vf_heap');
SELECT * FROM pg_uring_verify('vf_heap_pkey', 'main', 0, 0);

--
-- Privileges: SELECT on the relation, or on its table for an index; column
-- privileges are not enough.  pg_uring_verify_database skips what the caller
-- may not read.
--
CREATE ROLE regress_pgu_vf_plain;
CREATE ROLE regress_pgu_vf_reader;
CREATE ROLE regress_pgu_vf_monitor IN ROLE pg_monitor;
CREATE TABLE vf_cols (a int, b int);
INSERT INTO vf_cols VALUES (1, 2);
GRANT SELECT ON vf_heap, vf_seq, vf_matview TO regress_pgu_vf_reader;
GRANT SELECT (a) ON vf_cols TO regress_pgu_vf_reader, regress_pgu_vf_plain;
GRANT SELECT ON vf_small TO PUBLIC;

-- As amcheck's functions, verify is not for PUBLIC: a maintenance role is
-- given EXECUTE, and then still needs SELECT on what it verifies.
SELECT has_function_privilege('regress_pgu_vf_plain', 'pg_uring_verify(regclass,text,int8,int8)',
                              'EXECUTE') AS plain_can_execute_verify,
       has_function_privilege('regress_pgu_vf_plain', 'pg_uring_verify_database()',
                              'EXECUTE') AS plain_can_execute_verify_database;
SET ROLE regress_pgu_vf_plain;
SELECT count(*) FROM pg_uring_verify('vf_small');
SELECT count(*) FROM pg_uring_verify_database();
RESET ROLE;
GRANT EXECUTE ON FUNCTION pg_uring_verify(regclass, text, int8, int8), pg_uring_verify_database()
  TO regress_pgu_vf_plain, regress_pgu_vf_reader;
SELECT has_function_privilege('regress_pgu_vf_plain', 'pg_uring_verify(regclass,text,int8,int8)',
                              'EXECUTE') AS plain_can_execute_verify,
       has_function_privilege('regress_pgu_vf_plain', 'pg_uring_verify_database()',
                              'EXECUTE') AS plain_can_execute_verify_database;

CREATE TABLE vf_priv (role text, i int, result text);
GRANT INSERT ON vf_priv TO PUBLIC;
CREATE TABLE vf_priv_calls (i int, args text);
INSERT INTO vf_priv_calls VALUES
  (1, $$'vf_heap'$$),
  (2, $$'vf_heap', 'fsm'$$),
  (3, $$'vf_heap', 'main', 0, 3$$),
  (4, $$'vf_heap_pkey'$$),
  (5, $$'vf_heap_payload', 'main', 0, 0$$),
  (6, $$'vf_seq'$$),
  (7, $$'vf_matview'$$),
  (8, $$'vf_cols'$$),
  (9, $$'vf_small'$$),
  (10, $$'vf_unlogged_pkey'$$),
  (11, $$'pg_class'$$),
  (12, $$'pg_authid'$$),
  (13, $$'vf_view'$$),
  (14, $$'vf_heap', 'bogus'$$);
GRANT SELECT ON vf_priv_calls TO PUBLIC;

SET ROLE regress_pgu_vf_plain;
INSERT INTO vf_priv SELECT 'plain', i,
  vf_try('SELECT count(*) FROM pg_uring_verify(' || args || ')') FROM vf_priv_calls;
INSERT INTO vf_priv VALUES ('plain', 100,
  vf_try('SELECT count(*) FROM pg_uring_verify_database()'));
SET ROLE regress_pgu_vf_reader;
INSERT INTO vf_priv SELECT 'reader', i,
  vf_try('SELECT count(*) FROM pg_uring_verify(' || args || ')') FROM vf_priv_calls;
INSERT INTO vf_priv VALUES ('reader', 100,
  vf_try('SELECT count(*) FROM pg_uring_verify_database()'));
RESET ROLE;
INSERT INTO vf_priv SELECT 'superuser', i,
  vf_try('SELECT count(*) FROM pg_uring_verify(' || args || ')') FROM vf_priv_calls;
INSERT INTO vf_priv VALUES ('superuser', 100,
  vf_try('SELECT count(*) FROM pg_uring_verify_database()'));

SELECT coalesce(c.args, 'pg_uring_verify_database()') AS args,
       max(p.result) FILTER (WHERE p.role = 'plain') AS plain,
       max(p.result) FILTER (WHERE p.role = 'reader') AS reader,
       max(p.result) FILTER (WHERE p.role = 'superuser') AS superuser
  FROM vf_priv p LEFT JOIN vf_priv_calls c USING (i)
 GROUP BY p.i, c.args ORDER BY p.i;

-- the same checks through the sync path
SET pg_uring.io_method = sync;
SET ROLE regress_pgu_vf_plain;
SELECT * FROM pg_uring_verify('vf_heap');
SELECT * FROM pg_uring_verify('vf_heap_pkey');
SELECT count(*) AS rows FROM pg_uring_verify('vf_small');
SET ROLE regress_pgu_vf_reader;
SELECT count(*) AS rows FROM pg_uring_verify('vf_heap_pkey');
RESET ROLE;
RESET pg_uring.io_method;

-- Another session's temporary table: pg_prewarm's error.
CREATE EXTENSION IF NOT EXISTS dblink;
SELECT dblink_connect('vf_other', 'dbname=' || current_database());
SELECT dblink_exec('vf_other', 'CREATE TEMP TABLE vf_other_temp AS SELECT g FROM generate_series(1, 3000) g');
SELECT c.oid AS other_temp FROM pg_class c
 WHERE c.relname = 'vf_other_temp' AND c.relpersistence = 't' \gset
SELECT vf_try(format('SELECT count(*) FROM pg_uring_verify(%s)', :other_temp)) AS pg_uring_verify,
       vf_try(format('SELECT pg_prewarm(%s)', :other_temp)) AS pg_prewarm;
SELECT dblink_disconnect('vf_other');

--
-- pg_uring_verify_database on a clean database: no rows, both methods
-- (another session's temporary tables are skipped, not an error).
--
SELECT dblink_connect('vf_other', 'dbname=' || current_database());
SELECT dblink_exec('vf_other', 'CREATE TEMP TABLE vf_other_temp2 AS SELECT g FROM generate_series(1, 3000) g');
SET pg_uring.io_method = io_uring;
SELECT vf_pages() AS pages_before \gset
SELECT * FROM pg_uring_verify_database();
SELECT vf_pages() - :pages_before > 0 AS pages_verified_grew;
SET pg_uring.io_method = sync;
SELECT * FROM pg_uring_verify_database();
RESET pg_uring.io_method;
SELECT dblink_disconnect('vf_other');

-- no verify failure was counted by anything above
SELECT sum(verify_failures) - :vf_failures0 AS new_verify_failures FROM pg_uring_stats;

--
-- pg_uring_progress: empty when nothing runs; everybody may read it (and
-- sees his own operations: 033_verify_rate_progress), pg_monitor all.
--
SELECT count(*) AS progress_rows FROM pg_uring_progress;
SELECT r AS role,
       has_table_privilege(r, 'pg_uring_progress', 'SELECT') AS can_select_view,
       has_function_privilege(r, 'pg_uring_progress()', 'EXECUTE') AS can_execute_function
  FROM unnest('{regress_pgu_vf_plain,regress_pgu_vf_reader,regress_pgu_vf_monitor}'::text[]) r;
SET ROLE regress_pgu_vf_monitor;
SELECT count(*) AS progress_rows FROM pg_uring_progress;
SET ROLE regress_pgu_vf_plain;
SELECT count(*) FROM pg_uring_progress;
SELECT count(*) FROM pg_uring_progress();
RESET ROLE;

-- The settings: rate limit in MB/s (0 = unlimited), interval in ms.
SET pg_uring.verify_rate_limit = -1;
SET pg_uring.progress_interval = -1;
SET pg_uring.verify_rate_limit = 1000;
SET pg_uring.progress_interval = '2s';
SHOW pg_uring.progress_interval;
-- any user may throttle (or not) his own scans
SET ROLE regress_pgu_vf_plain;
SET pg_uring.verify_rate_limit = 5;
RESET ROLE;
RESET pg_uring.verify_rate_limit;
RESET pg_uring.progress_interval;

-- A verify interrupted by statement_timeout (throttled to 1 MB/s, so that it
-- is still running when the timeout fires) leaves nothing behind: the
-- progress view is empty again, and the next verify runs and passes.
SET pg_uring.verify_rate_limit = 1;
SET statement_timeout = '300ms';
SELECT * FROM pg_uring_verify('vf_heap', 'main');
RESET statement_timeout;
RESET pg_uring.verify_rate_limit;
SELECT count(*) AS progress_rows FROM pg_uring_progress;
SELECT count(*) AS progress_rows_of_mine FROM pg_uring_progress WHERE pid = pg_backend_pid();
SELECT c.result, c.pages = vf_blocks('vf_heap', 'main') AS pages_ok
  FROM vf_cmp($$'vf_heap', 'main'$$) c;
SELECT count(*) AS progress_rows FROM pg_uring_progress;

-- A rate limit does not change the result.
SET pg_uring.verify_rate_limit = 100;
SELECT c.result, c.pages = vf_blocks('vf_heap_pkey', 'main') AS pages_ok
  FROM vf_cmp($$'vf_heap_pkey'$$) c;
RESET pg_uring.verify_rate_limit;

-- cleanup
DROP TABLE vf_priv, vf_priv_calls, vf_cols;
DROP OWNED BY regress_pgu_vf_plain, regress_pgu_vf_reader, regress_pgu_vf_monitor;
DROP ROLE regress_pgu_vf_plain, regress_pgu_vf_reader, regress_pgu_vf_monitor;
