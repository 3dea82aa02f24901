# Copyright (c) pg_uring authors
#
# Issue 11: an upgrade path.  The extension's SQL is versioned (1.0, as it
# shipped, 1.1, 1.2, 1.3 and 1.4) with pg_uring--1.0--1.1.sql,
# pg_uring--1.1--1.2.sql, pg_uring--1.2--1.3.sql and pg_uring--1.3--1.4.sql
# between them, and the C functions whose shape
# changed have versioned entry points (as pg_stat_statements): the new
# library serves the old SQL in the old shape, never past its tuple
# descriptor.  What must hold:
#   - a database on 1.0 and one on 1.1 with the new library: the views
#     answer, in their version's shape (1.0: pg_uring_stats without the 1.1
#     columns, pg_uring_progress without datid; 1.1: stats with "ring",
#     bytes_read and io_time_us, latency with "ring", status with
#     blocks_per_request, progress without phase), prewarm and verify work;
#   - a database on 1.3: pg_uring_status in 1.3's shape (26 columns);
#   - ALTER EXTENSION pg_uring UPDATE brings each (and one on 1.2 and one
#     on 1.3) to 1.4,
#     and then every member object (functions with their C symbols, results
#     and arguments, views with their definitions, privileges, comments) is
#     (tables with their columns) exactly that of a fresh CREATE EXTENSION
#     at 1.4;
#   - a function given another version's shape errors out cleanly (a column
#     count mismatch), it does not write past its descriptor.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $node = pgu_node('upgrade');
$node->safe_psql('postgres', 'CREATE DATABASE old; CREATE DATABASE mid; CREATE DATABASE v12; CREATE DATABASE v13; CREATE DATABASE fresh;');
$node->safe_psql('old', "CREATE EXTENSION pg_uring VERSION '1.0'");
$node->safe_psql('mid', "CREATE EXTENSION pg_uring VERSION '1.1'");
$node->safe_psql('v12', "CREATE EXTENSION pg_uring VERSION '1.2'");
$node->safe_psql('v12', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g');
$node->safe_psql('v13', "CREATE EXTENSION pg_uring VERSION '1.3'");
$node->safe_psql('v13', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g');
$node->safe_psql('fresh', 'CREATE EXTENSION pg_uring');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'pg_uring'"),
	'1.0', 'old is on 1.0');
is($node->safe_psql('mid', "SELECT extversion FROM pg_extension WHERE extname = 'pg_uring'"),
	'1.1', 'mid is on 1.1');
is($node->safe_psql('fresh', "SELECT extversion FROM pg_extension WHERE extname = 'pg_uring'"),
	'1.4', 'a fresh install is 1.4');

# 1.0's SQL, the new library
my $ncols = "SELECT count(*) FROM information_schema.columns WHERE table_name = ";
is($node->safe_psql('old', "$ncols 'pg_uring_stats'"), '28', '1.0: pg_uring_stats has 1.0\'s 28 columns');
is($node->safe_psql('old', 'SELECT count(*) FROM pg_uring_stats'), '2', '1.0: pg_uring_stats answers (two rows)');
is( $node->safe_psql('old',
		"SELECT requests >= 0 AND stats_reset IS NOT NULL FROM pg_uring_stats WHERE method = 'sync'"),
	't', '1.0: its columns hold what they are named for');
is($node->safe_psql('old', 'SELECT count(*) FROM pg_uring_progress'), '0', '1.0: pg_uring_progress answers');
$node->safe_psql('old', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g');
cmp_ok($node->safe_psql('old', "SELECT pg_uring_prewarm('t')"), '>', 0, '1.0: prewarm works');
is($node->safe_psql('old', "SELECT count(*) FROM pg_uring_verify('t')"), '0', '1.0: verify works');

# the same C function under the other version's shape: a clean error
$node->safe_psql('old', q{
CREATE FUNCTION wrong_shape(OUT pid int4, OUT datid oid, OUT datname name, OUT operation text,
    OUT relation regclass, OUT blocks_done int8, OUT blocks_total int8, OUT bytes_done int8,
    OUT started_at timestamptz, OUT relid oid)
  RETURNS SETOF record AS 'pg_uring', 'pg_uring_progress' LANGUAGE C STRICT;
});
my ($ret, $out, $err) = $node->psql('old', 'SELECT * FROM wrong_shape()');
like($err, qr/pg_uring_progress\(\) returns 10 columns, but the installed library has 7/,
	'a shape the entry point does not serve is refused, not written past');

$node->safe_psql('old', 'DROP FUNCTION wrong_shape()');

# 1.1's SQL, the new library
is($node->safe_psql('mid', "$ncols 'pg_uring_stats'"), '32', '1.1: pg_uring_stats has 1.1\'s 32 columns');
is( $node->safe_psql('mid',
		"SELECT count(*) FROM pg_uring_stats WHERE ring IS NOT DISTINCT FROM "
		  . "(CASE method WHEN 'io_uring' THEN 0 END) AND bytes_read >= 0 AND io_time_us >= 0 "
		  . "AND cardinality(latency_histogram) = 20"),
	'2', '1.1: pg_uring_stats answers in 1.1\'s shape');
is($node->safe_psql('mid', "$ncols 'pg_uring_latency'"), '6', '1.1: pg_uring_latency has "ring"');
is($node->safe_psql('mid', 'SELECT count(*) FROM pg_uring_latency WHERE ring = 0'), '20',
	'1.1: pg_uring_latency answers in its shape');
is($node->safe_psql('mid', 'SELECT blocks_per_request FROM pg_uring_status'), '32',
	'1.1: pg_uring_status answers with blocks_per_request');
is($node->safe_psql('mid', "$ncols 'pg_uring_progress'"), '10', '1.1: pg_uring_progress has 10 columns');
is($node->safe_psql('mid', 'SELECT count(*) FROM pg_uring_progress'), '0', '1.1: pg_uring_progress answers');
$node->safe_psql('mid', 'SELECT pg_uring_stats_reset()');
$node->safe_psql('mid', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g');
cmp_ok($node->safe_psql('mid', "SELECT pg_uring_prewarm('t')"), '>', 0, '1.1: prewarm works');
is($node->safe_psql('mid', "SELECT count(*) FROM pg_uring_verify('t')"), '0', '1.1: verify works');
$node->safe_psql('mid', q{
CREATE FUNCTION wrong_shape(OUT method text, OUT ring int4, OUT bucket int4)
  RETURNS SETOF record AS 'pg_uring', 'pg_uring_latency_1_2' LANGUAGE C STRICT;
});
($ret, $out, $err) = $node->psql('mid', 'SELECT * FROM wrong_shape()');
like($err, qr/pg_uring_latency\(\) returns 3 columns, but the installed library has 5/,
	'1.2\'s latency entry point under another shape is refused');
$node->safe_psql('mid', 'DROP FUNCTION wrong_shape()');

# 1.3's SQL, the new library: pg_uring_status without the autoprewarm columns
is($node->safe_psql('v13', "$ncols 'pg_uring_status'"), '26', '1.3: pg_uring_status has 1.3\'s 26 columns');
is($node->safe_psql('v13', 'SELECT slot_waiters FROM pg_uring_status'), '0', '1.3: pg_uring_status answers');

# the upgrades: 1.0 -> ... -> 1.4, 1.1 -> ... -> 1.4, 1.2 -> 1.3 -> 1.4, 1.3 -> 1.4
my @upgraded = ('old', 'mid', 'v12', 'v13');
my %from = (old => '1.0', mid => '1.1', v12 => '1.2', v13 => '1.3');
foreach my $db (@upgraded)
{
	$node->safe_psql($db, 'ALTER EXTENSION pg_uring UPDATE');
	is($node->safe_psql($db, "SELECT extversion FROM pg_extension WHERE extname = 'pg_uring'"),
		'1.4', "ALTER EXTENSION pg_uring UPDATE from $from{$db}: now 1.4");
}

my $describe = q{
SELECT string_agg(x, E'\n' ORDER BY x) FROM (
  SELECT pg_describe_object(d.classid, d.objid, 0)
         || ' | acl ' || coalesce(p.proacl::text, c.relacl::text, '-')
         || ' | comment ' || coalesce(obj_description(d.objid, d.classid::regclass::text), '-')
         || ' | ' || coalesce(p.prosrc || ' (' || pg_get_function_arguments(p.oid) || ') -> '
                             || pg_get_function_result(p.oid) || ' ' || p.provolatile::text || p.proparallel::text
                             || p.proisstrict::text,
                             pg_get_viewdef(c.oid),
                             (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                                || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                                ', ' ORDER BY a.attnum)
                                FROM pg_attribute a
                               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                             '') AS x
    FROM pg_depend d
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_uring'
    LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
    LEFT JOIN pg_class c ON d.classid = 'pg_class'::regclass AND c.oid = d.objid
   WHERE d.deptype = 'e') s};
my $fresh = $node->safe_psql('fresh', $describe);
foreach my $db (@upgraded)
{
	my $upgraded = $node->safe_psql($db, $describe);
	is($upgraded, $fresh, "after the upgrade of $db every member object is that of a fresh 1.4 install")
	  or diag("upgraded:\n$upgraded\nfresh:\n$fresh");
}
like($fresh, qr/pg_uring_stats_1_2/, '1.4 keeps the 1.2 entry points');
like($fresh, qr/pg_uring_status_1_4/, '1.4 has its own pg_uring_status');
like($fresh, qr/table pg_uring_autoprewarm_list \| acl [^|]*\| comment [^|]*\| dumped_at timestamp with time zone not null, database oid not null/,
	'1.4 has the list table, with its columns');
unlike($fresh, qr/pg_uring_stats_1_1|pg_uring_progress_1_1/, 'and none of 1.1\'s');

foreach my $db (@upgraded)
{
	is($node->safe_psql($db, "$ncols 'pg_uring_stats'"), '32', "$db on 1.4: pg_uring_stats has 32 columns");
	is( $node->safe_psql($db,
			"SELECT count(*) FROM pg_uring_stats WHERE read_bytes >= 0 AND read_time >= 0 "
			  . "AND (enter_calls IS NULL) = (method = 'sync')"),
		'2', "$db on 1.4: pg_uring_stats in 1.2's shape");
	is($node->safe_psql($db, 'SELECT count(*) FROM pg_uring_inflight'), '0', "$db on 1.4: pg_uring_inflight");
	is($node->safe_psql($db, 'SELECT count(*) FROM pg_uring_waits'), '0', "$db on 1.4: pg_uring_waits");
	is($node->safe_psql($db, 'SELECT slot_waiters FROM pg_uring_status'), '0', "$db on 1.4: slot_waiters");
	is($node->safe_psql($db, "$ncols 'pg_uring_progress'"), '13', "$db on 1.4: pg_uring_progress has 13 columns");
	is( $node->safe_psql($db,
			"SELECT has_function_privilege('public', 'pg_uring_verify(regclass,text,int8,int8)', 'EXECUTE')"),
		'f', "$db on 1.4: verify is revoked from PUBLIC");
	is( $node->safe_psql($db,
			"SELECT has_function_privilege('public', 'pg_uring_stats_reset(text)', 'EXECUTE')"),
		'f', "$db on 1.4: reset is revoked from PUBLIC");
	$node->safe_psql($db, "SELECT pg_uring_stats_reset('sync')");
	cmp_ok($node->safe_psql($db, "SELECT pg_uring_prewarm('t')"), '>', 0, "$db on 1.4: prewarm works");
	is( $node->safe_psql($db,
			"SELECT has_function_privilege('public', 'pg_uring_autoprewarm_dump_now()', 'EXECUTE')"),
		'f', "$db on 1.4: the autoprewarm dump is revoked from PUBLIC");
	cmp_ok($node->safe_psql($db, 'SELECT pg_uring_autoprewarm_dump_now()'), '>', 0,
		"$db on 1.4: the autoprewarm dump works");
	is($node->safe_psql($db, "$ncols 'pg_uring_status'"), '31', "$db on 1.4: pg_uring_status has 31 columns");
	is($node->safe_psql($db, 'SELECT last_dump_blocks > 0 FROM pg_uring_status'), 't',
		"$db on 1.4: pg_uring_status shows the last dump");
	is( $node->safe_psql($db,
			"SELECT has_function_privilege('public', 'pg_uring_autoprewarm_restore()', 'EXECUTE')"),
		'f', "$db on 1.4: the autoprewarm restore is revoked from PUBLIC");
	cmp_ok($node->safe_psql($db, 'SELECT pg_uring_autoprewarm_restore()'), '>', 0,
		"$db on 1.4: the autoprewarm restore works");
}

$node->stop;
done_testing();
