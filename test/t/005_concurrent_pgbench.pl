
# Copyright (c) pg_uring authors
#
# Buffer-mode prewarm while pgbench updates the same table (docs/design.md
# section 2: no stale or empty page becomes visible).  A prewarm that
# installs a page it read from disk over a newer cached copy, or leaves a
# zeroed page valid, loses committed updates.  With data checksums on.
#
# Oracle kept by the writers: every transaction does
#     UPDATE acct SET v = v + 1 WHERE id = :id;  INSERT INTO ledger ...
# so afterwards, for every id, acct.v equals the number of ledger rows for
# it, and the ledger has exactly as many rows as pgbench committed.
#
# The race must happen: each prewarm iteration notes whether pgbench
# committed transactions while it ran (the ledger's sequence moved), and a
# floor on the number of such iterations is asserted.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgUringTest;

my $secs = soak() ? 180 : 40;
# at least this many prewarm iterations must overlap pgbench commits
my $min_concurrent = soak() ? 200 : 40;
my $mb = soak() ? 200 : 80;

# shared_buffers well below the table: the prewarm keeps evicting and
# re-reading pages that pgbench dirties; checkpoints and the bgwriter write
# them out under it.
my $node = pgu_node(
	'pgbench', conf => qq{
shared_buffers = 48MB
autovacuum = on
autovacuum_naptime = 1s
checkpoint_timeout = 30s
max_wal_size = 64MB
min_wal_size = 32MB
log_checkpoints = on
bgwriter_delay = 10ms
bgwriter_lru_maxpages = 1000
});
my ($ring_up, $why) = ring_check($node);

my $nblocks = make_table($node, 'postgres', 'acct', $mb);
my $nrows = $node->safe_psql('postgres', 'SELECT count(*) FROM acct');
$node->safe_psql(
	'postgres', q{
ALTER TABLE acct SET (autovacuum_enabled = on);
CREATE TABLE ledger (lid bigserial PRIMARY KEY, aid int NOT NULL);
CREATE EXTENSION amcheck;
});

my $script = $node->basedir . '/update.sql';
PostgreSQL::Test::Utils::append_to_file(
	$script, qq{
\\set id random(1, $nrows)
BEGIN;
UPDATE acct SET v = v + 1 WHERE id = :id;
INSERT INTO ledger (aid) VALUES (:id);
END;
});

my $before = stats_snapshot($node);
my $log_off = -s $node->logfile;

# The prewarmer: buffer-mode prewarm of the table and its index in a loop,
# one statement per call, alternating io_uring and sync when available, until
# $secs seconds have passed.
my $loop_sql =
  "SELECT clock_timestamp() + interval '$secs seconds' AS end_ts \\gset\n";
for my $i (1 .. $secs * 40)
{
	my $m = ($ring_up && $i % 4 != 0) ? 'io_uring' : 'sync';
	$loop_sql .= "SELECT last_value AS lv0 FROM ledger_lid_seq \\gset\n";
	$loop_sql .= "SET pg_uring.io_method = '$m';\n";
	$loop_sql .= "SET pg_uring.direct_io = " . ($i % 2 ? 'on' : 'off') . ";\n";
	$loop_sql .= "SELECT pg_uring_prewarm('acct', 'buffer');\n";
	$loop_sql .= "SELECT pg_uring_prewarm('acct_pkey', 'buffer');\n";
	$loop_sql .= "SELECT pg_uring_prewarm('acct', 'read');\n" if $i % 5 == 0;
	$loop_sql .=
	    "SELECT pg_uring_prewarm_blocks('acct', ARRAY(SELECT b FROM (SELECT DISTINCT "
	  . "(random() * ($nblocks - 1))::int8 AS b FROM generate_series(1, 512)) s ORDER BY random()));\n"
	  if $i % 3 == 0;
	$loop_sql .= "CHECKPOINT;\n" if $i % 25 == 0;
	# did pgbench commit while this iteration ran?
	$loop_sql .= "SELECT 'PREWARM_ITER', last_value > :lv0 FROM ledger_lid_seq;\n";
	$loop_sql .= "SELECT clock_timestamp() > :'end_ts'::timestamptz AS done \\gset\n";
	$loop_sql .= "\\if :done\n\\q\n\\endif\n";
}
my $loop_file = $node->basedir . '/prewarm_loop.sql';
PostgreSQL::Test::Utils::append_to_file($loop_file, $loop_sql);
my $prewarmer = bg_start($node, 'postgres', undef,
	file => $loop_file,
	app => 'prewarmer', timeout => $secs * 3 + hang_timeout());

my $pgb = pgbench_bg($node, $secs, args => [ '-f', $script ]);
my $committed = pgbench_wait($pgb);
my $pgb_out = $pgb->{out};
my ($failed) = $pgb_out =~ /number of failed transactions: (\d+)/;
is($failed // 0, 0, 'no failed pgbench transactions');

# Stop the prewarmer: it runs at most $iters iterations; let it finish.
my $r = bg_finish($prewarmer);
ok(!$r->{timed_out}, 'prewarm loop did not hang');
is($r->{rc}, 0, 'prewarm loop ran without errors') or diag($r->{err});
my $iters_done = () = $r->{out} =~ /^PREWARM_ITER\|/mg;
my $concurrent = () = $r->{out} =~ /^PREWARM_ITER\|t$/mg;
cmp_ok($iters_done, '>=', $min_concurrent, "prewarm loop ran ($iters_done iterations)");
cmp_ok($concurrent, '>=', $min_concurrent,
	"pgbench committed during $concurrent of the $iters_done prewarm iterations (floor $min_concurrent)");

my $after = stats_snapshot($node);
my $d = stats_delta($before, $after);
my $ncheckpoints = () = slurp_log_from($node, $log_off) =~ /checkpoint complete/g;
cmp_ok($ncheckpoints, '>', 0, "checkpoints ran during the run ($ncheckpoints)");
SKIP:
{
	skip $why, 2 unless $ring_up;
	cmp_ok($d->{io_uring}{blocks_read}, '>', $nblocks,
		'the ring read blocks during the pgbench run');
	is($d->{io_uring}{fallback_ios}, 0, 'no ring request fell back to the sync path');
}
cmp_ok($d->{sync}{blocks_read}, '>', 0, 'the sync path read blocks during the pgbench run');
is($d->{io_uring}{errors} + $d->{sync}{errors}, 0, 'no I/O errors counted');

# Every committed update is visible.
acct_ledger_check($node, $committed, $nrows);

# amcheck: heap and index are clean (checksums are verified as pages are read).
is($node->safe_psql('postgres', "SELECT count(*) FROM verify_heapam('acct')"),
	'0', 'verify_heapam(acct) reports nothing');
is($node->safe_psql('postgres', "SELECT count(*) FROM verify_heapam('ledger')"),
	'0', 'verify_heapam(ledger) reports nothing');
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT bt_index_check('acct_pkey', true), bt_index_check('ledger_pkey', true)");
is($ret, 0, 'bt_index_check with heapallindexed passes') or diag($err);

# Once more from disk: restart, prewarm through pg_uring, check again.
$node->restart;
ring_wait_settled($node);
$node->safe_psql('postgres', "SELECT pg_uring_prewarm('acct'), pg_uring_prewarm('acct_pkey')");
acct_ledger_check($node, $committed, $nrows, 'after restart + prewarm');
($ret, $out, $err) = $node->psql('postgres', "SELECT bt_index_check('acct_pkey', true)");
is($ret, 0, 'after restart + prewarm: bt_index_check passes') or diag($err);

my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|was terminated by signal|invalid page|checksum verification failed/,
	'no PANIC, crash, invalid page or checksum failure in the log');

$node->stop;
done_testing();
