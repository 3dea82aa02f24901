# Copyright (c) pg_uring authors
#
# Nobody waits forever, also when the one holding what we wait for is
# itself stuck on something we do not control: a client that stops reading
# (docs/design.md "Who waits for what").  Core sends the WARNING of a page
# it accepts under ignore_checksum_failure = on from inside the read, so a
# backend whose client does not read blocks on the socket in the middle of
# a prewarm, holding request slots.  A call that finds every slot taken
# waits pg_uring.queue_wait_timeout (1 s by default) at most, then does its
# I/O itself (queue_wait_timeouts, fallback_ios).
#
# Built here, on the smallest queue (4 slots): prewarm sessions whose
# clients never read, each on a table whose every page fails its checksum,
# are started one after another until every slot is held by a session
# blocked on its client (wait event ClientWrite).  Then, with the queue
# held, each of these must end, with the right answer, well inside the
# hang timeout: a buffer-mode and a read-mode prewarm, a parallel prewarm
# with helpers, a verify and a flush.  The waits must have run out
# (queue_wait_timeouts rose) and the I/O been done synchronously
# (fallback_ios rose).  One stuck backend is terminated, its client still
# not reading: it exits (core's read runs with interrupts allowed).  Then the
# other stuck clients read again: each prewarm ends with its block count and
# every page's WARNING, every slot is free, nothing is pinned.  Ring-only:
# on the sync path there are no slots.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

my $node = pgu_node('stalled_client',
	conf => "pg_uring.queue_size = 4\npg_uring.backend_queue_limit = 64\nshared_buffers = 256MB\nlog_min_messages = error\n"
	  . "bgwriter_lru_maxpages = 0\n");
ring_skip_unless_up($node);

my $MAX_STUCK = 4;    # each stuck session holds one slot at least
my @stuck_tables = map { "c$_" } 1 .. $MAX_STUCK;
my %nblocks;
# 32 MB each: far more WARNINGs than a pipe and a socket buffer hold
$nblocks{$_} = make_table($node, 'postgres', $_, 32, no_pkey => 1) for @stuck_tables;
$nblocks{$_} = make_table($node, 'postgres', $_, 8) for ('v1', 'v2', 'v3');
flush_make_table($node, 'v4', 2000);
$nblocks{v4} = rel_blocks($node, 'postgres', 'v4');
$node->safe_psql('postgres', 'CHECKPOINT');
my %md5 = map { $_ => table_md5($node, 'postgres', $_) } ('v1', 'v2', 'v3', 'v4');
my %path = map { $_ => $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_')") }
  @stuck_tables;
$node->stop;

# Break every page's checksum (pd_checksum, bytes 8-9) of the c tables.
break_checksums($path{$_}) for @stuck_tables;
$node->start;
ring_skip_unless_up($node);

sub status
{
	my ($free, $slots) = split /\|/,
	  $node->safe_psql('postgres', 'SELECT free_slots, queue_slots FROM pg_uring_status');
	return ($free, $slots);
}

sub wait_event_of
{
	my ($pid) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = $pid");
}

# 1. Stuck sessions, until they hold every slot.
my $one_block_reads = $node->pg_version >= 17 ? 'SET io_combine_limit = 1; ' : '';
my @stuck;
for my $t (@stuck_tables)
{
	my ($free) = status();
	last if $free == 0;
	# its client never reads until the end of the test: its stderr pipe
	# fills, then its socket, then its backend blocks
	# (17+: one block per core read, so one WARNING per page, as on 15;
	# 18 sends one per multi-block read)
	my $s = bg_start($node, 'postgres',
		"SET ignore_checksum_failure = on; SET pg_uring.max_prewarm_workers = 0; $one_block_reads"
		  . "SET pg_uring.queue_depth = 4; SELECT pg_uring_prewarm('$t');",
		app => "pgu_stuck_$t", timeout => 10 * hang_timeout());
	$s->{table} = $t;
	push @stuck, $s;
	# the pid, without pumping the session (bg_backend_pid would read it)
	my $pid = '';
	wait_progress(
		sub {
			$pid = $node->safe_psql('postgres',
				"SELECT coalesce(min(pid)::text, '') FROM pg_stat_activity WHERE application_name = 'pgu_stuck_$t'");
			$pid ne '';
		});
	like($pid, qr/^\d+$/, "$t: the stuck session is connected");
	$s->{pid} = $pid;
	ok(wait_progress(sub { wait_event_of($pid) eq 'ClientWrite' }),
		"$t: its backend blocks on its client (ClientWrite)");
}
my ($free, $slots) = status();
is($free, 0, scalar(@stuck) . " sessions stuck on their clients hold all $slots slots");
for my $s (@stuck)
{
	is(wait_event_of($s->{pid}), 'ClientWrite', "$s->{table}: still blocked on its client");
}

# 2. With the queue held, everything else still ends, served synchronously.
my %calls = (
	'buffer prewarm'   => ["SELECT pg_uring_prewarm('v1')", $nblocks{v1}],
	'read prewarm'     => ["SELECT pg_uring_prewarm('v2', 'read')", $nblocks{v2}],
	'parallel prewarm' => [
		"SET pg_uring.min_parallel_prewarm_size = '1MB'; SET pg_uring.max_prewarm_workers = 2; "
		  . "SET pg_uring.queue_depth = 1; SELECT pg_uring_evict('v3'); SELECT pg_uring_prewarm('v3')",
		undef
	],
	'verify' => ["SELECT count(*) FROM pg_uring_verify('v3')", 0],
	'flush'  => [undef, undef],
);
$node->safe_psql('postgres', "SELECT pg_uring_evict('$_')") for ('v1', 'v2');
$node->safe_psql('postgres', 'UPDATE v4 SET v = v + 1');
$md5{v4} = table_md5($node, 'postgres', 'v4');
my ($dirty) = split /\|/, rel_dirty($node, 'postgres', 'v4');
cmp_ok($dirty, '>', 0, "v4 has $dirty dirty buffers to flush");
$calls{flush} = ["SELECT flushed FROM pg_uring_flush('v4')", $dirty];
$calls{'parallel prewarm'}[1] = "$nblocks{v3}";

my $before = stats_snapshot($node);
my ($h0) = split /\|/, $node->safe_psql('postgres', 'SELECT sum(prewarm_workers_launched) FROM pg_uring_stats');
for my $what ('buffer prewarm', 'read prewarm', 'parallel prewarm', 'verify', 'flush')
{
	my ($sql, $want) = @{ $calls{$what} };
	my $t0 = time();
	my ($r) = bg_finish_all(bg_start($node, 'postgres', $sql, app => 'pgu_victim'));
	my $secs = time() - $t0;
	is($r->{timed_out}, 0, sprintf("%s: ended while the queue is held (%.1f s)", $what, $secs));
	is($r->{rc}, 0, "$what: without an error") or diag($r->{err});
	my @lines = split /\n/, $r->{out};
	is($lines[-1] // '', $want, "$what: the right answer");
}
my $d = stats_delta($before, stats_snapshot($node));
cmp_ok($d->{io_uring}{queue_wait_timeouts}, '>=', 5,
	"the slot waits ran out (queue_wait_timeouts +$d->{io_uring}{queue_wait_timeouts})");
cmp_ok($d->{io_uring}{fallback_ios}, '>', 0,
	"their I/O was done synchronously (fallback_ios +$d->{io_uring}{fallback_ios})");
my ($h1) = split /\|/, $node->safe_psql('postgres', 'SELECT sum(prewarm_workers_launched) FROM pg_uring_stats');
cmp_ok($h1 - $h0, '>', 0, 'the parallel prewarm had helpers (they too gave up on the queue)');
($free) = status();
is($free, 0, 'the stuck sessions still hold every slot');
for my $t ('v1', 'v2', 'v3', 'v4')
{
	is(table_md5($node, 'postgres', $t), $md5{$t}, "$t intact");
}

# 3. A stuck backend can still be terminated, though its client does not
#    read: core's read, where the WARNING blocks, runs with interrupts
#    allowed (src/prewarm.c).
my $victim = $stuck[0];
is($node->safe_psql('postgres', "SELECT pg_terminate_backend($victim->{pid})"), 't',
	"$victim->{table}: pg_terminate_backend sent to a backend blocked on its client");
ok( wait_progress(
		sub {
			$node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $victim->{pid}") eq
			  '0';
		}),
	"$victim->{table}: the backend exited, its client still not reading");

# 4. The other stuck clients read again: every prewarm ends, whole.
my @r = bg_finish_all(@stuck);
my $rv = shift @r;
shift @stuck;
isnt($rv->{rc}, 0, "$victim->{table}: the terminated session failed");
like($rv->{err}, qr/terminating connection due to administrator command|server closed the connection/,
	"$victim->{table}: ... because it was terminated");
for my $i (0 .. $#stuck)
{
	my $t = $stuck[$i]{table};
	my $r = $r[$i];
	is($r->{timed_out}, 0, "$t: the stuck session ended once its client read");
	is($r->{rc}, 0, "$t: without an error") or diag(substr($r->{err}, -2000));
	is($r->{out}, "$nblocks{$t}\n", "$t: every block counted");
	my $warnings = warned_pages($r->{err});
	is($warnings, $nblocks{$t}, "$t: every page's WARNING reached the client once");
}
ok(queue_settled($node), 'every slot is free again');
is(pinned_buffers($node, 'postgres'), '0', 'no buffer left pinned');

$node->stop;
done_testing();
