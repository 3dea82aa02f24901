# Copyright (c) pg_uring authors
#
# Issue 4, TAP 5: SIGKILL of the ring worker in the middle of a large flush
# (about 200 MB of dirty buffers).  The postmaster must treat it as a crash
# and reinitialize, the flushing session must end (not hang), crash
# recovery must bring back every committed row, and the oracle (md5 of the
# table, amcheck, pg_checksums after a clean stop) must be clean: pages the
# ring had half written when it died are repaired by recovery or were never
# marked clean.
#
# Two rounds:
#   A  deterministic: the worker is stopped (SIGSTOP) before the flush, so
#      the flush queues its batches and waits; it is killed with the
#      requests queued;
#   B  in flight: the worker runs, slowed down from inside (testing build:
#      complete_delay holds it 20 ms before each completion, one block per
#      request, so the flush would take minutes); as soon as the flush has
#      written some blocks (pg_uring_progress) the worker is frozen
#      (SIGSTOP), with the rest in the ring or queued, and killed.  (Without
#      the delay a fast machine could finish the flush between the last
#      look and the freeze.)  The flush must still be running at the kill
#      (pg_stat_activity, pg_uring_progress), and must not complete.
# After each recovery, the table is dirtied again and flushed through the
# new worker: every dirty buffer written, through the ring.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

my $mb = soak() ? 400 : 200;
my $node = flush_node('flush_kill',
	conf => "shared_buffers = " . ($mb + 120) . "MB\npg_uring.progress_interval = 0\n");
ring_skip_unless_up($node);
fault_setup_or_skip($node);

my $stopped;
END { kill('CONT', $stopped) if $stopped; }

# A table of ~$mb MB, two ~1.9 kB rows per page, left dirty in shared
# buffers (INSERT ... SELECT does not use a ring of buffers).
sub dirty_table
{
	my ($name) = @_;
	my $md5 = flush_dirty_table($node, $name, $mb, 97);
	my ($dirty, $resident) = split /\|/, rel_dirty($node, 'postgres', $name, 0);
	cmp_ok($dirty, '>', $mb * 128 * 0.9, "$name: $dirty of $resident buffers dirty ($mb MB)");
	return $md5;
}

my %md5;
my @tables;
for my $round ('A', 'B')
{
	my $t = "kf_$round";
	push @tables, $t;
	$md5{$t} = dirty_table($t);

	my $wpid = ring_status($node)->{worker_pid};
	like($wpid, qr/^\d+$/, "[$round] ring worker pid $wpid");
	if ($round eq 'A')
	{
		is(kill('STOP', $wpid), 1, "[$round] worker stopped before the flush");
		$stopped = $wpid;
	}

	# Round B must still be flushing when the worker is killed: one block per
	# request, one request in flight and 20 ms before each completion keep a
	# 200 MB flush busy for minutes.
	my $slow = $round eq 'B'
	  ? 'SET pg_uring.queue_depth = 1; SET pg_uring.combine_limit = 1;' : '';
	fault_set($node, 'complete_delay', 'delay', arg => 20) if $round eq 'B';
	my $s = bg_start($node, 'postgres',
		"SET pg_uring.io_method = io_uring; $slow SELECT * FROM pg_uring_flush('$t')",
		app => "kflush$round");
	like(bg_wait_active($s, '%pg_uring_flush%'), qr/^\d+$/, "[$round] the flush is running");

	if ($round eq 'A')
	{
		ok( wait_progress(
				sub {
					$node->safe_psql('postgres', 'SELECT queued FROM pg_uring_status') > 0;
				}),
			"[$round] the flush has queued requests for the (stopped) worker");
	}
	else
	{
		ok( wait_progress(
				sub {
					my $d = $node->safe_psql('postgres',
						"SELECT coalesce(max(blocks_done), 0) FROM pg_uring_progress WHERE operation = 'flush'");
					$d > 0;
				}),
			"[$round] the flush has written blocks through the ring");
		is(kill('STOP', $wpid), 1, "[$round] worker frozen in the middle of the flush");
		$stopped = $wpid;
	}
	my $st = $node->safe_psql('postgres',
		"SELECT queued || ' queued, ' || in_flight || ' in flight' FROM pg_uring_status");
	my $prog = $node->safe_psql('postgres',
		"SELECT coalesce(max(blocks_done), -1) || ' of ' || coalesce(max(blocks_total), -1) "
		  . "FROM pg_uring_progress WHERE operation = 'flush'");
	note("[$round] at the kill: $st; flush progress $prog");
	# Right before the kill: the flush is still active and not done.
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM pg_stat_activity a JOIN pg_uring_progress p ON p.pid = a.pid
 WHERE a.application_name = 'kflush$round' AND a.state = 'active'
   AND a.query LIKE '%pg_uring_flush%' AND p.operation = 'flush'
   AND p.blocks_done < p.blocks_total}),
		'1', "[$round] the flush is still running right before the kill");

	my $off = -s $node->logfile;
	is(kill('KILL', $wpid), 1, "[$round] SIGKILL sent to the ring worker");
	$stopped = undef;
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "[$round] the flushing session ended (did not hang)");
	note("[$round] flush session: rc $r->{rc}, out '$r->{out}', err '$r->{err}'");
	# (had it completed before the kill, psql would have exited 0)
	isnt($r->{rc}, 0, "[$round] the flush did not complete: the kill interrupted it");
	unlike($r->{out}, qr/^\d+\|\d+\|\d+$/m, "[$round] no flush result was returned");
	ok(wait_crash_restart($node, $off), "[$round] crash-restart happened and the server is ready");
	like(slurp_log_from($node, $off), qr/\(PID $wpid\) was terminated by signal 9/,
		"[$round] the postmaster saw the worker die of SIGKILL");
	my $new = wait_for_worker($node, $wpid);
	like($new, qr/^\d+$/, "[$round] a new ring worker is running ($new)");
	is(ring_wait_settled($node)->{ring_up}, 't', "[$round] the ring is up again");
	# (the fault state lives in shared memory, which the crash restart
	# rebuilt; disarm explicitly all the same)
	fault_reset($node);

	for my $u (@tables)
	{
		is(table_md5($node, 'postgres', $u), $md5{$u}, "[$round] $u: every row is back");
	}
	# After recovery: dirty the table again; a flush through the new worker
	# writes every dirty buffer, through the ring, and leaves it clean.
	$node->safe_psql('postgres', "UPDATE $t SET v = v + 1 WHERE id % 5 = 0");
	$md5{$t} = table_md5($node, 'postgres', $t);
	my ($dirty, $resident) = split /\|/, rel_dirty($node, 'postgres', $t);
	cmp_ok($dirty, '>', 1000, "[$round] $t dirtied again after recovery ($dirty of $resident buffers)");
	my $w0 = stats_row($node, 'io_uring')->{blocks_written};
	my $f = $node->safe_psql('postgres',
		"SET pg_uring.io_method = io_uring; SELECT flushed || ' ' || redirtied FROM pg_uring_flush('$t')");
	is($f, "$dirty 0", "[$round] a flush through the new worker writes every dirty buffer");
	is(stats_row($node, 'io_uring')->{blocks_written} - $w0, $dirty,
		"[$round] ... through the ring (pg_uring_stats blocks_written)");
	is((split /\|/, rel_dirty($node, 'postgres', $t))[0], '0', "[$round] and leaves $t clean");
}

flush_oracle($node, 'postgres', 'after the worker kills', @tables);
for my $u (@tables)
{
	is(table_md5($node, 'postgres', $u), $md5{$u}, "$u: content unchanged over a clean restart");
}
$node->stop;
done_testing();
