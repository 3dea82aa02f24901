# Copyright (c) pg_uring authors
#
# Issue 10: a restore while DDL and pgbench run (docs/design.md section 6).
# pgbench updates a table and appends to a ledger; a second session
# rewrites, truncates, clusters and reindexes other relations (their
# relfilenodes change under the dump); a third evicts the table and
# restores the dump through pg_uring_autoprewarm_restore(), over and over,
# so that the restore reads from disk pages that pgbench is updating.  With
# data checksums on.
#
# Oracle kept by the writers, as in 005: every transaction does
#     UPDATE acct SET v = v + 1 WHERE id = :id;  INSERT INTO ledger ...
# so afterwards acct.v equals each id's ledger rows, and the ledger has as
# many rows as pgbench committed; amcheck (verify_heapam, bt_index_check
# with heapallindexed) is clean on every relation.
# The race must happen: a floor on the restores that overlapped commits.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgUringTest;

my $secs = soak() ? 180 : 30;
my $min_concurrent = soak() ? 100 : 15;

my $node = pgu_node(
	'apw_concurrent', conf => qq{
shared_buffers = 128MB
pg_uring.autoprewarm = on
pg_uring.autoprewarm_interval = 1
max_worker_processes = 16
autovacuum = on
autovacuum_naptime = 1s
checkpoint_timeout = 30s
max_wal_size = 64MB
bgwriter_delay = 10ms
});

make_table($node, 'postgres', 'acct', 24);
my $nrows = $node->safe_psql('postgres', 'SELECT count(*) FROM acct');
make_table($node, 'postgres', 'side', 8);
$node->safe_psql(
	'postgres', q{
ALTER TABLE acct SET (autovacuum_enabled = on);
CREATE TABLE ledger (lid bigserial PRIMARY KEY, aid int NOT NULL);
CREATE EXTENSION amcheck;
});
$node->safe_psql('postgres', "SELECT pg_prewarm('acct'), pg_prewarm('side')");
$node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');

my $script = $node->basedir . '/update.sql';
append_to_file(
	$script, qq{
\\set id random(1, $nrows)
BEGIN;
UPDATE acct SET v = v + 1 WHERE id = :id;
INSERT INTO ledger (aid) VALUES (:id);
END;
});

# The restorer: evict acct, restore the dump (acct comes back from disk),
# now and then a fresh dump, until $secs seconds have passed.
my $loop_sql = "SELECT clock_timestamp() + interval '$secs seconds' AS end_ts \\gset\n";
for my $i (1 .. $secs * 20)
{
	$loop_sql .= "SELECT last_value AS lv0 FROM ledger_lid_seq \\gset\n";
	$loop_sql .= "SELECT pg_uring_evict('acct');\n";
	$loop_sql .= "SELECT pg_uring_autoprewarm_dump_now();\n" if $i % 5 == 0;
	$loop_sql .= "SELECT 'RESTORED', pg_uring_autoprewarm_restore();\n";
	$loop_sql .= "SELECT 'RESTORE_ITER', last_value > :lv0 FROM ledger_lid_seq;\n";
	$loop_sql .= "SELECT clock_timestamp() > :'end_ts'::timestamptz AS done \\gset\n";
	$loop_sql .= "\\if :done\n\\q\n\\endif\n";
}
my $loop_file = $node->basedir . '/restore_loop.sql';
append_to_file($loop_file, $loop_sql);

# The DDL session: relfilenodes change under the dump.
my $ddl_sql = "SELECT clock_timestamp() + interval '$secs seconds' AS end_ts \\gset\n";
for my $i (1 .. $secs * 10)
{
	$ddl_sql .= "CREATE INDEX CONCURRENTLY side_v ON side (v);\n";
	$ddl_sql .= "DROP INDEX CONCURRENTLY side_v;\n";
	$ddl_sql .= "VACUUM FULL side;\n";
	$ddl_sql .= "CLUSTER side USING side_pkey;\n" if $i % 3 == 0;
	$ddl_sql .= "REINDEX INDEX CONCURRENTLY acct_pkey;\n" if $i % 4 == 0;
	$ddl_sql .= "BEGIN; TRUNCATE side; INSERT INTO side SELECT g, 0, repeat(md5(g::text), 59) "
	  . "FROM generate_series(1, 4096) g; COMMIT;\n" if $i % 5 == 0;
	$ddl_sql .= "SELECT clock_timestamp() > :'end_ts'::timestamptz AS done \\gset\n";
	$ddl_sql .= "\\if :done\n\\q\n\\endif\n";
}
my $ddl_file = $node->basedir . '/ddl_loop.sql';
append_to_file($ddl_file, $ddl_sql);

my $log_off = -s $node->logfile;
my $restorer = bg_start($node, 'postgres', undef, file => $loop_file,
	app => 'restorer', timeout => $secs * 3 + hang_timeout());
my $ddl = bg_start($node, 'postgres', undef, file => $ddl_file,
	app => 'ddl', timeout => $secs * 3 + hang_timeout());

my $pgb = pgbench_bg($node, $secs, args => [ '-f', $script ]);
my $committed = pgbench_wait($pgb);

my ($r, $d) = bg_finish_all($restorer, $ddl);
ok(!$r->{timed_out}, 'the restore loop did not hang');
is($r->{rc}, 0, 'the restore loop ran without errors') or diag($r->{err});
ok(!$d->{timed_out}, 'the DDL loop did not hang');
is($d->{rc}, 0, 'the DDL loop ran without errors') or diag($d->{err});
my @restored = $r->{out} =~ /^RESTORED\|(\d+)$/mg;
my $concurrent = () = $r->{out} =~ /^RESTORE_ITER\|t$/mg;
my $total = 0;
$total += $_ for @restored;
cmp_ok(scalar(@restored), '>=', $min_concurrent, scalar(@restored) . ' restores ran');
cmp_ok($concurrent, '>=', $min_concurrent,
	"pgbench committed during $concurrent restores (floor $min_concurrent)");
cmp_ok($total, '>', 0, "they restored $total blocks");

# Every committed update is visible; amcheck is clean.
acct_ledger_check($node, $committed, $nrows);
for my $rel ('acct', 'ledger', 'side')
{
	is($node->safe_psql('postgres', "SELECT count(*) FROM verify_heapam('$rel')"),
		'0', "verify_heapam($rel) reports nothing");
}
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT bt_index_check('acct_pkey', true), bt_index_check('ledger_pkey', true), "
	  . "bt_index_check('side_pkey', true)");
is($ret, 0, 'bt_index_check with heapallindexed passes on every index') or diag($err);

# Once more from disk: restart (the worker restores at startup), check again.
my $restart_off = -s $node->logfile;
$node->restart;
ok(wait_progress(sub { slurp_log_from($node, $restart_off) =~ /restored \d+ of \d+ blocks from "pg_uring_autoprewarm.blocks"/ }),
	'after a restart the worker restores the dump');
acct_ledger_check($node, $committed, $nrows, 'after the restart');
($ret, $out, $err) = $node->psql('postgres', "SELECT bt_index_check('acct_pkey', true)");
is($ret, 0, 'after the restart: bt_index_check passes') or diag($err);

unlike(slurp_log_from($node, $log_off), qr/PANIC|was terminated by signal|invalid page|checksum verification failed/,
	'no PANIC, crash, invalid page or checksum failure in the log');

$node->stop;
done_testing();
