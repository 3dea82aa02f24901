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

-- EXECUTE on the prewarm functions stays with PUBLIC; the check is on the relation
SELECT f AS function,
       has_function_privilege('regress_pgu_plain', f, 'EXECUTE') AS plain_can_execute
  FROM unnest('{pg_uring_prewarm(regclass,text,text,int8,int8),
                pg_uring_prewarm_blocks(regclass,int8[],text,text),
                pg_uring_stats(),pg_uring_latency(),pg_uring_status(),
                pg_uring_stats_reset()}'::text[]) f;

-- error-or-value, as in prewarm.sql
CREATE FUNCTION priv_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  r text;
BEGIN
  EXECUTE q INTO r;
  RETURN r;
EXCEPTION WHEN OTHERS THEN
  RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END
$$;
GRANT EXECUTE ON FUNCTION priv_try(text) TO PUBLIC;

-- The same calls, for pg_prewarm and pg_uring_prewarm under both methods.
-- (io_method is superuser-only, so it is set before SET ROLE.)
CREATE TABLE priv_calls (i int, args text);
INSERT INTO priv_calls VALUES
  (1, $$'priv_tab'$$),
  (2, $$'priv_tab', 'read'$$),
  (3, $$'priv_tab', 'prefetch', 'main', 0, 0$$),
  (4, $$'priv_tab_pkey'$$),
  (5, $$'priv_seq'$$),
  (6, $$'priv_mv'$$),
  (7, $$'priv_cols'$$),
  (8, $$'priv_tab', 'bogus'$$),
  (9, $$'priv_tab', 'read', 'fsm'$$),
  (10, $$'pg_authid'$$);
GRANT SELECT ON priv_calls TO PUBLIC;

CREATE TABLE priv_results (role text, method text, i int, result text);
GRANT INSERT ON priv_results TO PUBLIC;

SET pg_uring.io_method = io_uring;
SET ROLE regress_pgu_plain;
INSERT INTO priv_results SELECT 'plain', 'pg_prewarm', i, priv_try('SELECT pg_prewarm(' || args || ')') FROM priv_calls;
INSERT INTO priv_results SELECT 'plain', 'io_uring', i, priv_try('SELECT pg_uring_prewarm(' || args || ')') FROM priv_calls;
SET ROLE regress_pgu_reader;
INSERT INTO priv_results SELECT 'reader', 'pg_prewarm', i, priv_try('SELECT pg_prewarm(' || args || ')') FROM priv_calls;
INSERT INTO priv_results SELECT 'reader', 'io_uring', i, priv_try('SELECT pg_uring_prewarm(' || args || ')') FROM priv_calls;
RESET ROLE;
SET pg_uring.io_method = sync;
SET ROLE regress_pgu_plain;
INSERT INTO priv_results SELECT 'plain', 'sync', i, priv_try('SELECT pg_uring_prewarm(' || args || ')') FROM priv_calls;
SET ROLE regress_pgu_reader;
INSERT INTO priv_results SELECT 'reader', 'sync', i, priv_try('SELECT pg_uring_prewarm(' || args || ')') FROM priv_calls;
RESET ROLE;
RESET pg_uring.io_method;

SELECT r.role, c.args, p.result AS pg_prewarm,
       CASE WHEN p.result IS NOT DISTINCT FROM s.result
             AND p.result IS NOT DISTINCT FROM u.result THEN 'same'
            ELSE format('DIFFERS: io_uring: %s / sync: %s', u.result, s.result)
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
SELECT count(*) FROM pg_uring_stats();
SELECT pg_uring_stats_reset();
SET ROLE regress_pgu_monitor;
SELECT count(*) AS stats_rows FROM pg_uring_stats;
SELECT count(*) AS status_rows FROM pg_uring_status;
SELECT count(*) > 0 AS latency_rows FROM pg_uring_latency;
SELECT pg_uring_stats_reset();
RESET ROLE;
SELECT pg_uring_stats_reset();
-- reset may be granted, like core's pg_stat_reset()
GRANT EXECUTE ON FUNCTION pg_uring_stats_reset() TO regress_pgu_monitor;
SET ROLE regress_pgu_monitor;
SELECT pg_uring_stats_reset();
RESET ROLE;
REVOKE EXECUTE ON FUNCTION pg_uring_stats_reset() FROM regress_pgu_monitor;

DROP TABLE priv_tab, priv_cols, priv_calls, priv_results, priv_other CASCADE;
DROP SEQUENCE priv_seq;
DROP FUNCTION priv_try(text);
DROP EXTENSION dblink;
DROP ROLE regress_pgu_plain, regress_pgu_reader, regress_pgu_monitor;
