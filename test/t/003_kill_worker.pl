
# Copyright (c) pg_uring authors
#
# SIGKILL of the ring worker in the middle of a large prewarm (docs/design.md
# section 3: nobody waits forever).  The postmaster must treat it
# as a crash and reinitialize, the prewarming backend must get an error (or be
# terminated) instead of waiting forever, the data must be intact, and the
# worker (and its ring) must come back.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $mb = soak() ? 300 : 160;
# shared_buffers smaller than the table: every buffer-mode pass re-reads.
my $node = pgu_node('kill_worker', conf => "shared_buffers = 96MB\n");
ring_skip_unless_up($node);

my $nblocks = make_table($node, 'postgres', 't', $mb);
my $md5 = table_md5($node, 'postgres', 't');
my $head_sql =
    "SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id)) "
  . "FROM t WHERE ctid < '(8192,0)'";
my $md5_head = $node->safe_psql('postgres', $head_sql);
$node->safe_psql('postgres', 'CHECKPOINT');

my $round = 0;
for my $mode ('buffer', 'read')
{
	$round++;
	my $wpid = worker_pid($node);
	like($wpid, qr/^\d+$/, "[$mode] ring worker is in pg_stat_activity (pid $wpid)");
	my $st = ring_wait_settled($node);
	is($st->{ring_up}, 't', "[$mode] ring is up before the kill");
	is($st->{worker_pid}, $wpid, "[$mode] pg_uring_status.worker_pid matches pg_stat_activity");

	my $s = bg_start($node, 'postgres',
		"SELECT sum(pg_uring_prewarm('t', '$mode')) FROM generate_series(1, 10000)",
		app => "victim$round");
	my $bpid = bg_wait_active($s, '%pg_uring_prewarm%');
	like($bpid, qr/^\d+$/, "[$mode] prewarm session is running");

	# Make sure the ring is actually doing the work when the worker dies.
	my $b0 = stats_row($node, 'io_uring')->{blocks_read};
	ok( wait_progress(
			sub { stats_row($node, 'io_uring')->{blocks_read} > $b0 + 1000 }),
		"[$mode] the ring is reading blocks for the prewarm");

	my $log_off = -s $node->logfile;
	is(kill('KILL', $wpid), 1, "[$mode] SIGKILL sent to the ring worker");

	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "[$mode] the prewarm session ended (did not hang)");
	isnt($r->{rc}, 0, "[$mode] the prewarm session failed");
	like($r->{err},
		qr/terminating connection|server closed the connection|connection to server was lost|ERROR/,
		"[$mode] the prewarm session got an error");
	note("prewarm session stderr: $r->{err}");

	my $ok = eval {
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_off);
		$node->wait_for_log(qr/database system is ready to accept connections/, $log_off);
		1;
	};
	ok($ok, "[$mode] crash-restart happened and the server is ready again");
	like(slurp_log_from($node, $log_off),
		qr/pg_uring ring worker.*\(PID $wpid\) was terminated by signal 9/,
		"[$mode] the postmaster saw the worker die of SIGKILL");
	ok($node->poll_query_until('postgres', 'SELECT 1', '1'), "[$mode] server accepts queries");

	my $new = wait_for_worker($node, $wpid);
	like($new, qr/^\d+$/, "[$mode] a new ring worker is in pg_stat_activity (pid $new)");
	$st = ring_wait_settled($node);
	is($st->{ring_up}, 't', "[$mode] the ring is up again");

	is(table_md5($node, 'postgres', 't'), $md5, "[$mode] data intact after the crash-restart");
}

# SIGTERM (what a shutdown or pg_terminate_backend sends) is not a crash:
# the worker must drain its in-flight I/O and exit, and the waiting backend
# must not hang: it gets an error or its prewarm completes (synchronously).
# Then the worker comes back.
{
	my $wpid = worker_pid($node);
	my $s = bg_start($node, 'postgres',
		"SELECT sum(pg_uring_prewarm('t', 'buffer')) FROM generate_series(1, 30)",
		app => 'victim_term');
	like(bg_wait_active($s, '%pg_uring_prewarm%'), qr/^\d+$/, '[SIGTERM] prewarm session is running');
	my $b0 = stats_row($node, 'io_uring')->{blocks_read};
	ok(wait_progress(sub { stats_row($node, 'io_uring')->{blocks_read} > $b0 + 1000 }),
		'[SIGTERM] the ring is reading blocks for the prewarm');
	my $log_off = -s $node->logfile;
	my $pm_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
	is(kill('TERM', $wpid), 1, '[SIGTERM] SIGTERM sent to the ring worker');
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, '[SIGTERM] the prewarm session ended (did not hang)');
	if ($r->{rc} == 0)
	{
		is($r->{out} =~ s/\s+$//r, 30 * $nblocks, '[SIGTERM] the prewarm completed with the right count');
	}
	else
	{
		like($r->{err}, qr/ERROR:/, '[SIGTERM] the prewarm got an ERROR');
	}
	note("[SIGTERM] prewarm session: rc=$r->{rc} out=$r->{out} err=$r->{err}");
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$pm_start, '[SIGTERM] no crash-restart');
	my $new = wait_for_worker($node, $wpid);
	like($new, qr/^\d+$/, "[SIGTERM] a new ring worker starts (pid $new)");
	is(ring_wait_settled($node)->{ring_up}, 't', '[SIGTERM] the ring is up again');
	is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'read')"),
		$nblocks, '[SIGTERM] prewarm works afterwards');
	is(table_md5($node, 'postgres', 't'), $md5, '[SIGTERM] data intact');
	unlike(slurp_log_from($node, $log_off), qr/PANIC|terminated by signal/,
		'[SIGTERM] no PANIC or crash in the log');
}

# The ring serves requests again, and what it installs is right.
$node->restart;
ring_wait_settled($node);
my $before = stats_row($node, 'io_uring');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'buffer', 'main', 0, 8191)"),
	'8192', 'prewarm through the new worker works');
my $after = stats_row($node, 'io_uring');
cmp_ok($after->{blocks_read} - $before->{blocks_read}, '>=', 8192, 'the new ring read the blocks');
is(rel_buffers($node, 'postgres', 't'), '8192', 'exactly blocks 0..8191 of t are cached');
is($node->safe_psql('postgres', $head_sql), $md5_head,
	'blocks 0..8191 installed by the ring hold the rows written there');
is(table_md5($node, 'postgres', 't'), $md5, 'whole table intact');

$node->stop;
done_testing();
