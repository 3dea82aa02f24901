--
-- privileges: prewarm needs SELECT on the relation, exactly as pg_prewarm;
-- statistics are for pg_monitor; reset is revoked from PUBLIC; another
-- session's temporary table gets pg_prewarm's answer.
--
CREATE ROLE regress_pgu_plain;
CREATE ROLE regress_pgu_reader;
CREATE ROLE regress_pgu_monitor IN ROLE pg_monitor;

CREATE TABLE priv_tab (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = off);
INSERT INTO priv_tab SELECT g, 'v' || g FROM generate_series(1, 2000) g;
CREATE TABLE priv_cols (a int, b int);
INSERT INTO priv_cols VALUES (1, 2);
CREATE SEQUENCE priv_seq;
CREATE MATERIALIZED VIEW priv_mv AS SELECT * FROM priv_tab;
GRANT SELECT ON priv_tab, priv_seq, priv_mv TO regress_pgu_reader;
GRANT SELECT (a) ON priv_cols TO regress_pgu_reader, regress_pgu_plain;

-- EXECUTE: prewarm, flush and evict stay with PUBLIC (the check is on the
-- relation); monitoring is for pg_monitor (pg_uring_progress: everybody,
-- who sees his own rows); reset is superuser-only.
SELECT f AS function,
       has_function_privilege('regress_pgu_plain', f, 'EXECUTE') AS plain_can_execute,
       has_function_privilege('regress_pgu_monitor', f, 'EXECUTE') AS monitor_can_execute
  FROM unnest(ARRAY['pg_uring_prewarm(regclass,text,text,int8,int8)',
                    'pg_uring_prewarm_blocks(regclass,int8[],text,text)',
                    'pg_uring_flush(regclass)',
                    'pg_uring_evict(regclass)',
                    'pg_uring_stats()',
                    'pg_uring_latency()',
                    'pg_uring_status()',
                    'pg_uring_progress()',
                    'pg_uring_waits()',
                    'pg_uring_inflight()',
                    'pg_uring_stats_reset(text)',
                    'pg_uring_autoprewarm_dump_now()',
                    'pg_uring_autoprewarm_restore()']) WITH ORDINALITY AS t(f, i)
 ORDER BY i;

-- error-or-value, as in prewarm.sql: the value, or
-- "ERROR <sqlstate>: <message>[ DETAIL: ...][ HINT: ...]"
CREATE FUNCTION priv_try(q text) RETURNS text LANGUAGE plpgsql AS $$
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
GRANT EXECUTE ON FUNCTION priv_try(text) TO PUBLIC;

-- The buffers of a relation (every fork) in shared buffers, as a list
-- "fork/block,...", to compare what each call left cached.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_buffercache;     -- (setup installs it)
RESET client_min_messages;
CREATE FUNCTION priv_resident(rel regclass) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(relforknumber || '/' || relblocknumber, ','
                             ORDER BY relforknumber, relblocknumber), '')
    FROM pg_buffercache
   WHERE relfilenode = pg_relation_filenode(rel)
     AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
$$;

-- The same calls, for pg_prewarm and pg_uring_prewarm under both methods,
-- as each role.  Before each call the relation is evicted from shared
-- buffers (relations of this test only, not catalogs), so that what the
-- call left cached can be compared too.  (io_method is superuser-only, so
-- it is set before SET ROLE.)
CREATE TABLE priv_calls (i int, args text, rel regclass);
INSERT INTO priv_calls VALUES
  (1, $$'priv_tab'$$, 'priv_tab'),
  (2, $$'priv_tab', 'read'$$, 'priv_tab'),
  (3, $$'priv_tab', 'prefetch', 'main', 0, 0$$, 'priv_tab'),
  (4, $$'priv_tab_pkey'$$, 'priv_tab_pkey'),
  (5, $$'priv_seq'$$, 'priv_seq'),
  (6, $$'priv_mv'$$, 'priv_mv'),
  (7, $$'priv_cols'$$, 'priv_cols'),
  (8, $$'priv_tab', 'bogus'$$, 'priv_tab'),
  (9, $$'priv_tab', 'read', 'fsm'$$, 'priv_tab'),
  (10, $$'priv_tab', 'buffer', 'main', 2, 5$$, 'priv_tab'),
  (11, $$'pg_authid'$$, NULL);
VACUUM priv_tab;		-- a free space map for call 9

CREATE TABLE priv_results (role text, method text, i int, result text, resident text);
DO $$
DECLARE
  c record;
  r text;
  m text;
  res text;
BEGIN
  FOR c IN SELECT * FROM priv_calls ORDER BY i LOOP
    FOREACH r IN ARRAY ARRAY['plain', 'reader'] LOOP
      FOREACH m IN ARRAY ARRAY['io_uring', 'sync', 'pg_prewarm'] LOOP
        IF c.rel IS NOT NULL THEN
          PERFORM pg_uring_evict(c.rel);
          IF priv_resident(c.rel) <> '' THEN
            RAISE EXCEPTION 'call %: % still has buffers cached after pg_uring_evict', c.i, c.rel;
          END IF;
        END IF;
        PERFORM set_config('pg_uring.io_method', CASE m WHEN 'sync' THEN 'sync' ELSE 'io_uring' END, false);
        EXECUTE format('SET ROLE %I', 'regress_pgu_' || r);
        res := priv_try(CASE m WHEN 'pg_prewarm' THEN 'SELECT pg_prewarm(' ELSE 'SELECT pg_uring_prewarm(' END
                        || c.args || ')');
        RESET ROLE;
        INSERT INTO priv_results
          VALUES (r, m, c.i, res, CASE WHEN c.rel IS NOT NULL THEN priv_resident(c.rel) END);
      END LOOP;
    END LOOP;
  END LOOP;
  RESET pg_uring.io_method;
END
$$;

-- pg_uring: "same" when both methods returned what pg_prewarm returned (the
-- value, or the same SQLSTATE, message, detail and hint) and left the same
-- buffers cached; "buffers" is how many pg_prewarm left cached.
SELECT r.role, c.args, p.result AS pg_prewarm,
       length(p.resident) - length(replace(p.resident, '/', '')) AS buffers,
       CASE WHEN p.result IS NOT DISTINCT FROM s.result
             AND p.result IS NOT DISTINCT FROM u.result
             AND p.resident IS NOT DISTINCT FROM s.resident
             AND p.resident IS NOT DISTINCT FROM u.resident THEN 'same'
            ELSE format('DIFFERS: io_uring: %s (cached %s%s) / sync: %s (cached %s%s)',
                        u.result, length(u.resident) - length(replace(u.resident, '/', '')),
                        CASE WHEN u.resident IS DISTINCT FROM p.resident THEN ', not as pg_prewarm' ELSE '' END,
                        s.result, length(s.resident) - length(replace(s.resident, '/', '')),
                        CASE WHEN s.resident IS DISTINCT FROM p.resident THEN ', not as pg_prewarm' ELSE '' END)
       END AS pg_uring
  FROM priv_calls c
  CROSS JOIN (VALUES ('plain'), ('reader')) r(role)
  JOIN priv_results p ON p.i = c.i AND p.role = r.role AND p.method = 'pg_prewarm'
  JOIN priv_results s ON s.i = c.i AND s.role = r.role AND s.method = 'sync'
  JOIN priv_results u ON u.i = c.i AND u.role = r.role AND u.method = 'io_uring'
 ORDER BY r.role, c.i;

-- pg_uring_prewarm_blocks checks the same privilege
SET ROLE regress_pgu_plain;
SELECT pg_uring_prewarm_blocks('priv_tab', '{0,1}');
SELECT pg_uring_prewarm('priv_tab');
SET ROLE regress_pgu_reader;
SELECT pg_uring_prewarm_blocks('priv_tab', '{0,1}');
SELECT pg_uring_prewarm_blocks('priv_cols', '{0}');
RESET ROLE;

--
-- Another session's temporary table: a second session (through dblink) keeps
-- one open while this session tries to prewarm it.
--
CREATE EXTENSION dblink;
SELECT dblink_connect('other', 'dbname=' || current_database());
SELECT dblink_exec('other', 'CREATE TEMP TABLE priv_other_temp AS SELECT g FROM generate_series(1, 3000) g');
SELECT c.oid AS other_temp, c.relpersistence,
       c.relnamespace <> pg_my_temp_schema() AS other_session
  FROM pg_class c WHERE c.relname = 'priv_other_temp' \gset
SELECT :'relpersistence' AS relpersistence, :'other_session' AS other_session;
CREATE TABLE priv_other (mode text, method text, result text);
INSERT INTO priv_other
  SELECT mode, 'pg_prewarm', priv_try(format('SELECT pg_prewarm(%s::oid, %L)', :'other_temp', mode))
    FROM unnest('{buffer,read,prefetch}'::text[]) mode;
SET pg_uring.io_method = io_uring;
INSERT INTO priv_other
  SELECT mode, 'io_uring', priv_try(format('SELECT pg_uring_prewarm(%s::oid, %L)', :'other_temp', mode))
    FROM unnest('{buffer,read,prefetch}'::text[]) mode;
INSERT INTO priv_other
  SELECT mode, 'io_uring blocks', priv_try(format('SELECT pg_uring_prewarm_blocks(%s::oid, %L, %L)', :'other_temp', '{0,1}', mode))
    FROM unnest('{buffer,read,prefetch}'::text[]) mode;
SET pg_uring.io_method = sync;
INSERT INTO priv_other
  SELECT mode, 'sync', priv_try(format('SELECT pg_uring_prewarm(%s::oid, %L)', :'other_temp', mode))
    FROM unnest('{buffer,read,prefetch}'::text[]) mode;
INSERT INTO priv_other
  SELECT mode, 'sync blocks', priv_try(format('SELECT pg_uring_prewarm_blocks(%s::oid, %L, %L)', :'other_temp', '{0,1}', mode))
    FROM unnest('{buffer,read,prefetch}'::text[]) mode;
RESET pg_uring.io_method;
SELECT m.mode, p.result AS pg_prewarm,
       CASE WHEN p.result IS NOT DISTINCT FROM s.result
             AND p.result IS NOT DISTINCT FROM u.result THEN 'same'
            ELSE format('DIFFERS: io_uring: %s / sync: %s', u.result, s.result)
       END AS pg_uring_prewarm,
       CASE WHEN sb.result IS NOT DISTINCT FROM ub.result THEN ub.result
            ELSE format('DIFFERS: io_uring: %s / sync: %s', ub.result, sb.result)
       END AS pg_uring_prewarm_blocks
  FROM unnest('{buffer,read,prefetch}'::text[]) WITH ORDINALITY m(mode, mi)
  JOIN priv_other p ON p.mode = m.mode AND p.method = 'pg_prewarm'
  JOIN priv_other s ON s.mode = m.mode AND s.method = 'sync'
  JOIN priv_other u ON u.mode = m.mode AND u.method = 'io_uring'
  JOIN priv_other sb ON sb.mode = m.mode AND sb.method = 'sync blocks'
  JOIN priv_other ub ON ub.mode = m.mode AND ub.method = 'io_uring blocks'
 ORDER BY mi;
-- the other session is unharmed
SELECT * FROM dblink('other', 'SELECT count(*), sum(g) FROM priv_other_temp') AS t(n int8, s int8);
SELECT dblink_disconnect('other');

--
-- Monitoring: pg_monitor may read, a plain role may not; reset is not PUBLIC.
--
SET ROLE regress_pgu_plain;
SELECT count(*) FROM pg_uring_stats;
SELECT count(*) FROM pg_uring_status;
SELECT count(*) FROM pg_uring_latency;
SELECT count(*) FROM pg_uring_waits;
SELECT count(*) FROM pg_uring_stats();
SELECT pg_uring_stats_reset();
SET ROLE regress_pgu_monitor;
SELECT count(*) AS waits_rows FROM pg_uring_waits;
SELECT count(*) AS stats_rows FROM pg_uring_stats;
SELECT count(*) AS status_rows FROM pg_uring_status;
SELECT count(*) > 0 AS latency_rows FROM pg_uring_latency;
SELECT pg_uring_stats_reset();
RESET ROLE;
SELECT pg_uring_stats_reset();
-- reset may be granted, like core's pg_stat_reset()
GRANT EXECUTE ON FUNCTION pg_uring_stats_reset(text) TO regress_pgu_monitor;
SET ROLE regress_pgu_monitor;
SELECT pg_uring_stats_reset();
RESET ROLE;
REVOKE EXECUTE ON FUNCTION pg_uring_stats_reset(text) FROM regress_pgu_monitor;

DROP TABLE priv_tab, priv_cols, priv_calls, priv_results, priv_other CASCADE;
DROP SEQUENCE priv_seq;
DROP FUNCTION priv_try(text), priv_resident(regclass);
DROP EXTENSION dblink;
DROP ROLE regress_pgu_plain, regress_pgu_reader, regress_pgu_monitor;
