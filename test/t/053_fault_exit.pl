# Copyright (c) pg_uring authors
#
# Issue 8 (fault injection, the testing build): a backend that exits in the
# middle of a pg_uring operation.
#   1. FATAL mid-flush: each buffer a flush takes for I/O is delayed 200 ms
#      (write_delay), so flushing the table's dirty buffers takes minutes;
#      pg_terminate_backend ends the flushing backend once pg_uring_progress
#      shows it running.  The backend exits within 30 s, a CHECKPOINT from
#      another session finishes within 30 s, and afterwards no buffer of the
#      relation is left in I/O or pinned: an UPDATE of every row finishes,
#      pg_buffercache shows no pinning backend, and a new flush finds every
#      dirty buffer free to write (skipped = 0).  Ring and sync paths.
#   2. Postmaster death mid-prewarm: the worker completes each slot 100 ms
#      late (complete_delay) while a long buffer-mode prewarm runs; the
#      postmaster is killed with SIGKILL.  The prewarming backend and the
#      ring worker exit within 30 s (their pids polled with kill 0); the
#      node then starts again (crash recovery), the data is intact and a
#      prewarm returns the right count.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

my $node = flush_node('fault_exit');
fault_setup_or_skip($node);
my ($ring_up, $why) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
note("ring down ($why): only the sync path") unless $ring_up;

my $HANG = 30;

# seconds until $cond holds (polled), or undef after $HANG s
sub within
{
	my ($cond) = @_;
	my $t0 = time();
	while (time() - $t0 < $HANG)
	{
		return time() - $t0 if $cond->();
		usleep(100_000);
	}
	return undef;
}

sub alive { my ($pid) = @_; return kill(0, $pid) ? 1 : 0; }

# ---------------------------------------------------------------------------
# 1. FATAL mid-flush
# ---------------------------------------------------------------------------
for my $method (@methods)
{
	my $tag = "[$method/terminate mid-flush]";
	my $t = "tf_$method";
	flush_make_table($node, $t, 4000, "UPDATE $t SET v = v + 1;");
	my $md5 = table_md5($node, 'postgres', $t);
	my ($dirty0) = split /\|/, rel_dirty($node, 'postgres', $t);
	cmp_ok($dirty0, '>', 300, "$tag $dirty0 dirty buffers (~" . int($dirty0 / 5) . " s to flush at 200 ms each)");

	fault_set($node, 'write_delay', 'delay', arg => 200);
	my $s = bg_start($node, 'postgres',
		"SET pg_uring.io_method = $method; SELECT * FROM pg_uring_flush('$t')",
		app => "flusher_$method", timeout => 4 * $HANG);
	my $pid = bg_wait_active($s, '%pg_uring_flush%');
	like($pid, qr/^\d+$/, "$tag the flush is running (pid $pid)");
	ok( wait_progress(
			sub {
				$node->safe_psql('postgres',
					"SELECT count(*) FROM pg_uring_progress WHERE pid = $pid AND operation = 'flush' "
					  . "AND relation = '$t'::regclass") eq '1'
				  && fault_hits($node, 'write_delay') >= 10;
			},
			$HANG),
		"$tag pg_uring_progress shows it flushing, with writes taken and delayed");
	my $log_off = -s $node->logfile;
	is($node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)"), 't',
		"$tag pg_terminate_backend sent");

	# CHECKPOINT from another session at once, while the flusher exits
	my $cp = bg_start($node, 'postgres', 'CHECKPOINT', app => "cp_$method", timeout => $HANG + 10);
	my $t0 = time();
	my $secs = within(sub { !alive($pid) });
	ok(defined $secs, sprintf("%s the flushing backend exited within %d s (%s)", $tag, $HANG,
			defined $secs ? sprintf('%.1f s', $secs) : 'no'));
	my $r = bg_finish($s);
	like($r->{err}, qr/FATAL:  terminating connection due to administrator command/,
		"$tag the flush session was terminated");
	my $cr = bg_finish($cp);
	my $cpsecs = time() - $t0;
	ok(!$cr->{timed_out} && $cr->{rc} == 0 && $cpsecs < $HANG,
		sprintf("%s the CHECKPOINT finished within %d s (%.1f s)", $tag, $HANG, $cpsecs))
	  or diag("checkpoint: rc=$cr->{rc} err=$cr->{err}");
	my $delays = fault_hits($node, 'write_delay');
	fault_reset($node);
	cmp_ok($delays, '<', $dirty0 / 2, "$tag the flush stopped early ($delays of $dirty0 writes delayed)");

	is((split /\|/, rel_dirty($node, 'postgres', $t))[0], '0', "$tag the CHECKPOINT wrote every dirty buffer");
	is(pinned_buffers($node, 'postgres', $t), '0', "$tag pg_buffercache: no pinning backend on $t");

	# every row, every buffer: nothing is left in I/O or pinned
	my $u = bg_start($node, 'postgres', "UPDATE $t SET v = v + 1", app => "upd_$method",
		timeout => $HANG);
	my $ur = bg_finish($u);
	ok(!$ur->{timed_out} && $ur->{rc} == 0, "$tag an UPDATE of every row finishes within $HANG s")
	  or diag("update: rc=$ur->{rc} err=$ur->{err}");
	my $md5b = table_md5($node, 'postgres', $t);
	my ($dirty1) = split /\|/, rel_dirty($node, 'postgres', $t);
	is( $node->safe_psql('postgres',
			"SET pg_uring.io_method = $method; SELECT flushed || ':' || redirtied || ':' || skipped FROM pg_uring_flush('$t')"),
		"$dirty1:0:0",
		"$tag a new flush writes all $dirty1 dirty buffers, none skipped as in I/O elsewhere");
	is(pinned_buffers($node, 'postgres', $t), '0', "$tag no buffer pinned afterwards");
	unlike(slurp_log_from($node, $log_off), qr/PANIC|TRAP|terminated by signal/,
		"$tag no crash");
	$node->stop('immediate');
	$node->start;
	fault_setup($node);
	is(table_md5($node, 'postgres', $t), $md5b, "$tag data intact after a crash restart");
	ring_wait_settled($node) if $ring_up;
}

# ---------------------------------------------------------------------------
# 2. postmaster death mid-prewarm
# ---------------------------------------------------------------------------
{
	my $tag = '[postmaster death]';
	my $nblocks = make_table($node, 'postgres', 'tp', 8);
	$node->safe_psql('postgres', 'CHECKPOINT');
	my $md5 = table_md5($node, 'postgres', 'tp');
	open(my $fh, '<', $node->data_dir . '/postmaster.pid') or die "postmaster.pid: $!";
	my $pmpid = <$fh>;
	close($fh);
	chomp($pmpid);
	like($pmpid, qr/^\d+$/, "$tag postmaster pid $pmpid");
	my $wpid = $ring_up ? worker_pid($node) : '';

	fault_set($node, 'complete_delay', 'delay', arg => 100);
	my $s = bg_start(
		$node, 'postgres', q{
DO $$
BEGIN
  FOR i IN 1..100000 LOOP
    PERFORM pg_uring_evict('tp');
    PERFORM pg_uring_prewarm('tp', 'buffer');
  END LOOP;
END $$;
}, app => 'pm_victim', timeout => 4 * $HANG);
	my $bpid = bg_wait_active($s, '%pg_uring_prewarm%');
	like($bpid, qr/^\d+$/, "$tag the prewarm loop is running (pid $bpid)");
	ok( wait_progress(
			sub {
				$node->safe_psql('postgres',
					"SELECT count(*) FROM pg_uring_progress WHERE pid = $bpid AND operation = 'prewarm buffer'") eq '1'
				  && ($ring_up ? fault_hits($node, 'complete_delay') >= 3 : 1);
			},
			$HANG),
		"$tag pg_uring_progress shows the buffer-mode prewarm, slots complete slowly");

	# every child of the postmaster, to know when the old server is gone
	my @children = grep { /^\d+$/ } map { s/\s+//gr } split /\n/,
	  `ps -o pid= --ppid $pmpid`;
	note("$tag children of the postmaster: @children");
	ok(scalar(grep { $_ == $bpid } @children), "$tag the backend is a child of the postmaster");
	my $t0 = time();
	is(kill('KILL', $pmpid), 1, "$tag SIGKILL sent to the postmaster");
	my $secs = within(sub { !alive($bpid) });
	ok(defined $secs, sprintf("%s the prewarming backend exited within %d s (%s)", $tag, $HANG,
			defined $secs ? sprintf('%.1f s', time() - $t0) : 'no'));
	if ($ring_up)
	{
		$secs = within(sub { !alive($wpid) });
		ok(defined $secs, sprintf("%s the ring worker (pid %s) exited within %d s (%s)", $tag, $wpid, $HANG,
				defined $secs ? sprintf('%.1f s', time() - $t0) : 'no'));
	}
	my $r = bg_finish($s);
	note("$tag session: rc=$r->{rc} err=$r->{err}");
	isnt($r->{rc}, 0, "$tag the prewarm session ended without success");

	# the rest of the old server; whatever is left after the hang detector
	# would keep the old shared memory: kill it (by pid) so the node starts
	ok(defined within(sub { !grep { alive($_) } @children }), "$tag every child of the old postmaster exited");
	for my $c (grep { alive($_) } @children)
	{
		diag("$tag child $c still alive: killed");
		kill('KILL', $c);
	}
	ok(defined within(sub { !grep { alive($_) } @children }), "$tag (no process of the old server left)");

	my $log_off = -s $node->logfile;
	$node->_update_pid(-1);    # the postmaster.pid left behind is stale
	is($node->{_pid}, undef, "$tag the old postmaster is gone");
	$node->start;
	fault_setup($node);
	like(slurp_log_from($node, $log_off), qr/database system was interrupted|not properly shut down/,
		"$tag the node started with crash recovery");
	is(table_md5($node, 'postgres', 'tp'), $md5, "$tag data intact");
	ring_wait_settled($node) if $ring_up;
	my $before = stats_snapshot($node);
	$node->safe_psql('postgres', "SELECT pg_uring_evict('tp')");
	is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('tp', 'buffer')"), $nblocks,
		"$tag pg_uring works: a prewarm returns the right count");
	my $d = stats_delta($before, stats_snapshot($node));
	cmp_ok($d->{io_uring}{blocks_read}, '>=', $nblocks, "$tag ... read through the ring") if $ring_up;
	is(rel_buffers($node, 'postgres', 'tp'), $nblocks, "$tag every block installed");
	is(table_md5($node, 'postgres', 'tp'), $md5, "$tag content oracle from the installed pages");
}

$node->stop;
done_testing();
