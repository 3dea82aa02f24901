# Copyright (c) pg_uring authors
#
# Issue 4: "an ERROR, a cancel or a worker crash in the middle of a batch
# must leave no buffer stuck in I/O-in-progress, and no buffer marked clean
# without having been written".  This is the cancel case (the ERROR case is
# 023, the crash case 024).
#
# A freshly loaded table (its file was extended with zeroed pages, its
# buffers are dirty) is flushed and the flush is cancelled in the middle:
#   - the session gets the cancel within a bounded time, no buffer stays
#     pinned;
#   - a CHECKPOINT then completes (a buffer stuck in I/O would hang it) and
#     writes whatever is still dirty;
#   - an immediate stop: redo starts at that checkpoint, past the load, so
#     the rows after the restart come from the data files alone.  A buffer
#     marked clean without being written would have been skipped by the
#     checkpoint and would be a zeroed page now: the md5 and pg_checksums
#     would show it.
# Rounds:
#   io_uring  deterministic: the ring worker is stopped (SIGSTOP) so the
#             flush waits with requests queued; it is cancelled there, then
#             the worker continues;
#   sync      deterministic where gdb is available: the backend is paused
#             by gdb in its 20th pwritev(), cancelled, and let go.  Without
#             gdb: one block per pwritev (combine_limit = 1) keeps the flush
#             busy; once pg_uring_progress shows written blocks the backend
#             is frozen (SIGSTOP), the progress row must show blocks still
#             to write, the cancel is sent and the backend continues
#             (SIGCONT): the cancel arrives in the middle of the flush.  If
#             the flush was already done when frozen, the cancel checks are
#             skipped with that reason (never passed without a cancel).

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

my $mb = 100;
my $node = flush_node('flush_cancel',
	conf => "shared_buffers = " . ($mb + 100) . "MB\npg_uring.progress_interval = 0\n");
my ($ring_up, $why) = ring_check($node);

my $stopped;
END { kill('CONT', $stopped) if $stopped; }

my $have_gdb = eval { IPC::Run::run([ 'gdb', '--version' ], '>', \my $o, '2>', \my $e) }
  && gdb_usable(aux_pid($node, 'checkpointer'));
note($have_gdb ? 'gdb can attach: the sync round is deterministic' : 'no usable gdb: the sync round races');

my @tables;
for my $method ('io_uring', 'sync')
{
	if ($method eq 'io_uring' && !$ring_up)
	{
	  SKIP: { skip "$why: io_uring round", 12; }
		next;
	}
	my $t = "cf_$method";
	push @tables, $t;
	my $md5 = flush_dirty_table($node, $t, $mb, 89);
	my ($dirty0, $res0) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
	cmp_ok($dirty0, '>', $mb * 128 * 0.9, "[$method] $dirty0 dirty buffers");
	my ($max_lsn) = split /\|/, rel_page_lsns($node, 'postgres', $t);

	my $wpid = ring_status($node)->{worker_pid};
	if ($method eq 'io_uring')
	{
		is(kill('STOP', $wpid), 1, "[$method] ring worker stopped");
		$stopped = $wpid;
	}
	my $slow = ($method eq 'sync' && !$have_gdb) ? 'SET pg_uring.combine_limit = 1; ' : '';
	my $flush_sql = "SET pg_uring.io_method = $method; $slow SELECT * FROM pg_uring_flush('$t');\n";
	my ($s, $bpid, $gdb, $gin, $gout);
	if ($method eq 'sync' && $have_gdb)
	{
		# idle session; gdb stops it in its 20th pwritev (the sync path's write)
		$s = bg_start($node, 'postgres', undef, app => "cflush_$method");
		$bpid = bg_backend_pid($s);
		$gin = "set pagination off\nset confirm off\nhandle all nostop noprint pass\n"
		  . "break pwritev\nignore 1 19\ncontinue\n";
		$gout = '';
		$gdb = IPC::Run::start([ 'gdb', '-q', '-nx', '-p', $bpid ],
			'<', \$gin, '>&', \$gout, IPC::Run::timeout(2 * hang_timeout()));
		ok(wait_progress(sub { $gdb->pump_nb; $gout =~ /Continuing/ }), "[$method] gdb attached")
		  or diag($gout);
		$s->{in} .= $flush_sql;
		ok( wait_progress(sub { bg_pump($s); $gdb->pump_nb; $gout =~ /Breakpoint 1,/ }),
			"[$method] the flush is paused in the middle of its writes")
		  or diag($gout);
	}
	else
	{
		$s = bg_start($node, 'postgres', $flush_sql, app => "cflush_$method");
		$bpid = bg_wait_active($s, '%pg_uring_flush%');
	}
	like($bpid, qr/^\d+$/, "[$method] the flush is running");
	my $cancel_certain = 1;
	my $frozen;
	if ($gdb)
	{
		# nothing to wait for: it is paused
	}
	elsif ($method eq 'io_uring')
	{
		ok( wait_progress(
				sub { $node->safe_psql('postgres', 'SELECT queued FROM pg_uring_status') > 0 }),
			"[$method] the flush waits with requests queued");
	}
	else
	{
		# sync without gdb: freeze the backend once it has written blocks,
		# then look at where it is.
		wait_progress(
			sub {
				$node->safe_psql('postgres',
					"SELECT coalesce(max(blocks_done), 0) FROM pg_uring_progress WHERE pid = $bpid AND operation = 'flush'"
				) > 0
				  || $node->safe_psql('postgres',
					"SELECT count(*) FROM pg_stat_activity WHERE pid = $bpid AND state = 'active'") eq '0';
			});
		is(kill('STOP', $bpid), 1, "[$method] the flushing backend is frozen");
		$stopped = $frozen = $bpid;
		my $left = $node->safe_psql('postgres',
			"SELECT $dirty0 - blocks_done FROM pg_uring_progress WHERE pid = $bpid AND operation = 'flush'");
		note("[$method] frozen with " . ($left eq '' ? 'no flush in progress' : "$left dirty buffers still to write"));
		$cancel_certain = $left ne '' && $left > 0;
	}
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($bpid)");
	if ($frozen)
	{
		is(kill('CONT', $frozen), 1, "[$method] the flushing backend continues, with the cancel pending");
		$stopped = undef;
	}
	if ($gdb)
	{
		$gin .= "delete\ndetach\nquit\n";
		ok(eval { $gdb->finish; 1 }, "[$method] gdb detached") or eval { $gdb->kill_kill };
	}
	if ($method eq 'io_uring')
	{
		usleep(500_000);    # the cancel arrives while the requests are queued
		is(kill('CONT', $wpid), 1, "[$method] ring worker continues");
		$stopped = undef;
	}
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "[$method] the flush session ended (no hang)");
	my ($dirty1, $res1);
  SKIP:
	{
		skip "[$method] the flush was done before the backend could be frozen (no gdb here): "
		  . "no cancel in the middle of it", 3
		  unless $cancel_certain;
		like($r->{err}, qr/canceling statement due to user request/, "[$method] the flush was cancelled");
		isnt($r->{rc}, 0, "[$method] the flush did not complete");
		($dirty1) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
		cmp_ok($dirty1, '>', 0, "[$method] the cancel left buffers unwritten ($dirty1 of $dirty0 still dirty)");
	}
	is(pinned_buffers($node, 'postgres', $t), '0', "[$method] no buffer left pinned");
	($dirty1, $res1) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
	is($res1, $res0, "[$method] all buffers still cached");
	note("[$method] after the cancel: $dirty1 of $dirty0 still dirty");
	is(ring_status($node)->{worker_pid}, $wpid, "[$method] the worker did not crash");

	my $ok = eval { $node->safe_psql('postgres', 'CHECKPOINT', timeout => hang_timeout()); 1 };
	ok($ok, "[$method] CHECKPOINT completes (no buffer stuck in I/O)");
	my $redo = $node->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
	ok(lsn_cmp($redo, $max_lsn) >= 0, "[$method] redo starts past the load");
	$node->stop('immediate');
	$node->start;
	ring_wait_settled($node);
	is(table_md5($node, 'postgres', $t), $md5,
		"[$method] every row is on disk: nothing was marked clean without being written");
}

flush_oracle($node, 'postgres', 'after the cancelled flushes', @tables);
$node->stop;
done_testing();
