
# Copyright (c) pg_uring authors
#
# Zero false positives under write load (issue 5, TAP test 2; docs/design.md
# section 5: a torn read is not corruption).
#
# pgbench (-c 2, scale 10) writes pgbench_accounts, _branches, _tellers and
# _history while another session verifies them (all forks, and their
# indexes, among them a hash index on _history, which grows without the
# relation extension lock) in a loop, alternating io_method io_uring / sync and direct_io
# on / off, with a database-wide verify now and then.  shared_buffers is
# small (16MB, well below pgbench_accounts) and the bgwriter, checkpoints
# (checkpoint_timeout = 30s, small max_wal_size) and autovacuum are active, so
# pages are evicted and rewritten under the scan all the time.  Every page
# that fails the first judgement must be confirmed under the buffer mapping
# lock; the verifier must report no row at all, and core must count no
# checksum failure.
#
# Phase 2 does the same on a small hot table (10 blocks) that 6 pgbench
# clients update and write out (flush, checkpoints) as fast as it is verified,
# so that reads and writes of the same blocks really overlap: there the
# first read of a page is torn now and then, and the confirmation step must
# run (pg_uring_stats.verify_skipped_pages, both rows, must rise) and find it
# torn, not corrupt.  Phase 1 alone rarely produces a torn read.
#
# 60 s + 30 s of load by default; PG_URING_SOAK=1 runs 300 s + 120 s.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgUringTest;

my $secs = soak() ? 300 : 60;
my $scale = 10;

my $node = pgu_node(
	'vpgbench', conf => qq{
shared_buffers = 16MB
autovacuum = on
autovacuum_naptime = 1s
checkpoint_timeout = 30s
max_wal_size = 64MB
min_wal_size = 32MB
log_checkpoints = on
bgwriter_delay = 10ms
bgwriter_lru_maxpages = 1000
bgwriter_lru_multiplier = 4
});
my $st = ring_wait_settled($node);
my $ring = $st->{ring_up} eq 't';
diag("io_uring not available ($st->{reason}): verify runs through the sync path")
  unless $ring;

my ($out, $err) = ('', '');
IPC::Run::run(
	[ 'pgbench', '-i', '-q', '-s', $scale, '-h', $node->host, '-p', $node->port, 'postgres' ],
	'>', \$out, '2>', \$err) or BAIL_OUT("pgbench -i failed: $err");
# a hash index grows without the relation extension lock (under its
# metapage lock), page by page, as pgbench_history grows: verify must not
# take a file caught mid-extension for a truncated one
$node->safe_psql('postgres', 'CREATE INDEX pgbench_history_hash ON pgbench_history USING hash (aid)');
$node->safe_psql('postgres', 'CHECKPOINT');
my $acct_mb = $node->safe_psql('postgres',
	"SELECT pg_relation_size('pgbench_accounts') / 1048576");
note("pgbench_accounts: $acct_mb MB; shared_buffers 16MB");

my $rels = [qw(pgbench_accounts pgbench_accounts_pkey pgbench_branches
	  pgbench_branches_pkey pgbench_tellers pgbench_tellers_pkey pgbench_history
	  pgbench_history_hash)];
my $union = join("\n  UNION ALL ", map { "SELECT * FROM pg_uring_verify('$_')" } @$rels);

# Failed reads that the confirmation found torn or cached (both rows).
sub skipped_pages
{
	return $node->safe_psql('postgres', 'SELECT sum(verify_skipped_pages) FROM pg_uring_stats');
}

my $cf0 = $node->safe_psql('postgres',
	"SELECT coalesce(checksum_failures, 0) FROM pg_stat_database WHERE datname = current_database()");
my $pv0 = $node->safe_psql('postgres', 'SELECT sum(pages_verified) FROM pg_uring_stats');
my $vf0 = $node->safe_psql('postgres', 'SELECT sum(verify_failures) FROM pg_uring_stats');
my $sp0 = skipped_pages();
my $log_off = -s $node->logfile;

# The verifier: a psql script that loops until the deadline.  Every row that
# comes back is printed as BAD:... .
my $loop_sql =
  "SELECT clock_timestamp() + interval '$secs seconds' AS end_ts \\gset\n";
for my $i (1 .. $secs * 50)
{
	my $m = ($ring && $i % 3 != 0) ? 'io_uring' : 'sync';
	$loop_sql .= "SET pg_uring.io_method = '$m';\n";
	$loop_sql .= "SET pg_uring.direct_io = " . ($i % 2 ? 'on' : 'off') . ";\n";
	$loop_sql .=
	    "SELECT 'BAD:' || relation || '/' || fork_name || '/' || block || '/' || reason "
	  . "|| '/' || coalesce(expected_checksum::text, '-') || '/' || coalesce(found_checksum::text, '-') "
	  . "|| '/' || coalesce(detail, '-') FROM (\n  $union) v;\n";
	if ($i % 10 == 0)
	{
		$loop_sql .=
		    "SELECT 'BAD:db:' || relation || '/' || fork_name || '/' || block || '/' || reason "
		  . "FROM pg_uring_verify_database();\n";
	}
	$loop_sql .= "SELECT 'VERIFY_ITER';\n";
	$loop_sql .= "SELECT clock_timestamp() > :'end_ts'::timestamptz AS done \\gset\n";
	$loop_sql .= "\\if :done\n\\q\n\\endif\n";
}
my $loop_file = $node->basedir . '/verify_loop.sql';
PostgreSQL::Test::Utils::append_to_file($loop_file, $loop_sql);

my $verifier = bg_start($node, 'postgres', undef,
	file => $loop_file, app => 'verifier', timeout => $secs * 3 + hang_timeout());

my $pgb = pgbench_bg($node, $secs);
my $committed = pgbench_wait($pgb);

my $r = bg_finish($verifier);
ok(!$r->{timed_out}, 'verify loop did not hang');
is($r->{rc}, 0, 'verify loop ran without errors') or diag($r->{err});
my $iters = () = $r->{out} =~ /VERIFY_ITER/g;
cmp_ok($iters, '>=', 5, "verify loop ran $iters iterations");
my @bad = grep { /^BAD:/ } split /\n/, $r->{out};
is(scalar(@bad), 0, 'no block reported while pgbench wrote (zero false positives)')
  or diag(join("\n", @bad[ 0 .. ($#bad < 30 ? $#bad : 30) ]));

my $pv = $node->safe_psql('postgres', 'SELECT sum(pages_verified) FROM pg_uring_stats') - $pv0;
my $vf = $node->safe_psql('postgres', 'SELECT sum(verify_failures) FROM pg_uring_stats') - $vf0;
my $acct_blocks = rel_blocks($node, 'postgres', 'pgbench_accounts');
cmp_ok($pv, '>=', $acct_blocks * 3, "pages verified during the run: $pv");
is($vf, 0, 'pg_uring_stats.verify_failures did not rise');
my $sp1 = skipped_pages();
note("phase 1: verify_skipped_pages rose by " . ($sp1 - $sp0));
my $cf1 = $node->safe_psql('postgres',
	"SELECT coalesce(checksum_failures, 0) FROM pg_stat_database WHERE datname = current_database()");
is($cf1 - $cf0, 0, 'pg_stat_database.checksum_failures did not rise');

my $log = slurp_log_from($node, $log_off);
my $ncheckpoints = () = $log =~ /checkpoint complete/g;
cmp_ok($ncheckpoints, '>', 0, "checkpoints ran during the run ($ncheckpoints)");
# (17 moved these counters out of pg_stat_bgwriter: pg_stat_io has them
# all, by backend type, since 16)
my $written = $node->safe_psql('postgres',
	$node->pg_version >= 17
	? "SELECT sum(writes) FROM pg_stat_io WHERE object = 'relation'"
	: 'SELECT buffers_clean + buffers_backend + buffers_checkpoint FROM pg_stat_bgwriter');
note("buffers written (bgwriter + backends + checkpoints) since start: $written");
unlike($log, qr/PANIC|was terminated by signal|invalid page|checksum verification failed/,
	'no PANIC, crash, invalid page or checksum failure in the log');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_progress'), '0',
	'pg_uring_progress empty afterwards');

# Phase 2: a small hot table, written out over and over while it is verified
# over and over, so that reads and writes of the same blocks really overlap
# (phase 1 alone rarely produces a torn read).  The writers update random rows
# and write the table's dirty buffers out (pg_uring_flush as often as they
# update, and a CHECKPOINT once in a while); the verifier loops over the table,
# 20 verifies per statement.  Few blocks, many writes of each: on this kind of
# machine a few dozen first reads per 30 s are torn (a race of the read's and
# the write's copies in the page cache).  Each must go through the
# confirmation (counted as a skipped page) and none may be reported.  Without
# the confirmation under the buffer-mapping lock this phase reports torn pages.
my $hot_secs = soak() ? 120 : 30;
$node->safe_psql(
	'postgres', q{
CREATE TABLE hot (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)
  WITH (fillfactor = 10, autovacuum_enabled = off);
INSERT INTO hot SELECT g, 0, repeat('h', 300) FROM generate_series(1, 20) g;
CHECKPOINT;
});
my $hot_blocks = rel_blocks($node, 'postgres', 'hot');
note("hot: $hot_blocks blocks");
my $upd = $node->basedir . '/hot_update.sql';
PostgreSQL::Test::Utils::append_to_file($upd,
	"\\set id random(1, 20)\nUPDATE hot SET v = v + 1 WHERE id = :id;\n");
my $fl = $node->basedir . '/hot_flush.sql';
PostgreSQL::Test::Utils::append_to_file($fl, "SELECT pg_uring_flush('hot');\n");
my $ck = $node->basedir . '/hot_checkpoint.sql';
PostgreSQL::Test::Utils::append_to_file($ck, "CHECKPOINT;\n");

my $hot_loop =
  "SELECT clock_timestamp() + interval '$hot_secs seconds' AS end_ts \\gset\n";
for my $i (1 .. $hot_secs * 400)
{
	my $m = ($ring && $i % 3 != 0) ? 'io_uring' : 'sync';
	$hot_loop .= "SET pg_uring.io_method = '$m';\n" if $i % 10 == 1;
	$hot_loop .= "SET pg_uring.direct_io = " . ($i % 20 < 10 ? 'on' : 'off') . ";\n" if $i % 10 == 1;
	$hot_loop .=
	    "SELECT 'BAD:' || relation || '/' || fork_name || '/' || block || '/' || reason "
	  . "|| '/' || coalesce(detail, '-') FROM generate_series(1, 20) g, "
	  . "LATERAL pg_uring_verify('hot', CASE WHEN g > 0 THEN 'main' END) v;\n";
	$hot_loop .= "SELECT 'VERIFY_ITER';\n";
	if ($i % 20 == 0)
	{
		$hot_loop .= "SELECT clock_timestamp() > :'end_ts'::timestamptz AS done \\gset\n";
		$hot_loop .= "\\if :done\n\\q\n\\endif\n";
	}
}
my $hot_file = $node->basedir . '/hot_loop.sql';
PostgreSQL::Test::Utils::append_to_file($hot_file, $hot_loop);
my $pv1 = $node->safe_psql('postgres', 'SELECT sum(pages_verified) FROM pg_uring_stats');
my $hot_verifier = bg_start($node, 'postgres', undef,
	file => $hot_file, app => 'hot_verifier', timeout => $hot_secs * 3 + hang_timeout());
my ($hot_out, $hot_err) = ('', '');
my $hot_pgb = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '6', '-j', '6', '-T', $hot_secs,
		'-f', "$upd\@10", '-f', "$fl\@10", '-f', "$ck\@1",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$hot_out, '2>', \$hot_err,
	IPC::Run::timeout($hot_secs + hang_timeout()));
my $hot_ok = eval { $hot_pgb->finish; 1 };
ok($hot_ok && $hot_pgb->full_result(0) == 0, 'hot-table pgbench ran') or diag("$@ $hot_err");
my $hr = bg_finish($hot_verifier);
is($hr->{rc}, 0, 'hot-table verify loop ran without errors') or diag($hr->{err});
my $hot_iters = () = $hr->{out} =~ /VERIFY_ITER/g;
my $hot_pv = $node->safe_psql('postgres', 'SELECT sum(pages_verified) FROM pg_uring_stats') - $pv1;
my $hot_sp = skipped_pages() - $sp1;
note("hot-table phase: $hot_iters verifies, $hot_pv pages verified, $hot_sp skipped (torn or cached)");
cmp_ok($hot_iters, '>=', 50, "hot-table verify loop ran $hot_iters iterations (20 verifies each)");
cmp_ok($hot_sp, '>', 0,
	"hot table: pages whose first read failed were confirmed torn or cached ($hot_sp, pg_uring_stats.verify_skipped_pages)");
my @hot_bad = grep { /^BAD:/ } split /\n/, $hr->{out};
is(scalar(@hot_bad), 0, 'hot table: no block reported while it was written (zero false positives)')
  or diag(scalar(@hot_bad) . " rows, e.g.:\n" . join("\n", @hot_bad[ 0 .. ($#hot_bad < 20 ? $#hot_bad : 20) ]));
is($node->safe_psql('postgres',
		"SELECT coalesce(checksum_failures, 0) FROM pg_stat_database WHERE datname = current_database()") - $cf0,
	0, 'pg_stat_database.checksum_failures still did not rise');

# And at rest, after a checkpoint: still clean, through both paths.
$node->safe_psql('postgres', 'CHECKPOINT');
for my $m ($ring ? ('io_uring', 'sync') : ('sync'))
{
	is($node->safe_psql('postgres',
			"SET pg_uring.io_method = $m; SELECT count(*) FROM ($union UNION ALL SELECT * FROM pg_uring_verify('hot')) v"),
		'0', "[$m] clean at rest");
}

$node->stop;
done_testing();
