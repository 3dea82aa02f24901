
# Copyright (c) pg_uring authors
#
# Several readers race for the same cold blocks (docs/design.md
# section 2): pg_uring_prewarm through the ring, pg_uring_prewarm with
# io_method = sync, contrib pg_prewarm and plain scans, all at once on one
# table.  A block read by one of them must be waited for by the others
# (core's WaitIO), a block another backend has pinned while it looked valid
# must not be invalidated under it, and every reader must see the right
# page.  Every prewarm returns the block count; the content oracle holds in
# every scanning session and afterwards.
#
# The sessions really start together: each one first waits for a shared
# advisory lock that the test holds exclusively; once all of them wait on
# it (pg_stat_activity), the test releases it.  Each session records when
# its work started and ended (clock_timestamp()), and the test asserts that
# the long readers overlapped: every one of them started before the first
# of them finished.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PgUringTest;

my $rounds = soak() ? 40 : 6;
# parallel installs: every pg_uring prewarm of t gets helpers (as many as
# max_worker_processes leaves), which race the other readers too
my $node = pgu_node('race',
	conf => "shared_buffers = 160MB\npg_uring.min_parallel_prewarm_size = '4MB'\n");
my ($ring_up, $why) = ring_check($node);

my $nblocks = make_table($node, 'postgres', 't', 96);
my $md5 = table_md5($node, 'postgres', 't');
my $md5_sql =
    "SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id)) FROM t";
my $idx_sql =
  "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t WHERE id BETWEEN 1000 AND 30999";

# [name, SQL, expected output, long: reads the whole table (a third of it for
# uring3), so it runs for a while; index and pkey read a part and may be
# done in a few ms]
my @sessions = (
	[ 'uring1', "SET pg_uring.io_method = 'io_uring'; SELECT pg_uring_prewarm('t')", $nblocks, 1 ],
	[ 'uring2', "SET pg_uring.io_method = 'io_uring'; SET pg_uring.direct_io = on; SELECT pg_uring_prewarm('t')", $nblocks, 1 ],
	[ 'uring3', "SET pg_uring.io_method = 'io_uring'; SELECT pg_uring_prewarm_blocks('t', ARRAY(SELECT generate_series($nblocks - 1, 0, -3)::int8))",
		int(($nblocks - 1) / 3) + 1, 1 ],
	[ 'sync1', "SET pg_uring.io_method = 'sync'; SELECT pg_uring_prewarm('t')", $nblocks, 1 ],
	[ 'core', "SELECT pg_prewarm('t')", $nblocks, 1 ],
	[ 'scan', $md5_sql, $md5, 1 ],
	[ 'index', $idx_sql, 30000, 0 ],
	[ 'pkey', "SELECT pg_uring_prewarm('t_pkey')", undef, 0 ],
);
if (!$ring_up)
{
	# sync-only run: the ring sessions would be sync sessions under another name
	@sessions = grep { $_->[0] !~ /^uring/ } @sessions;
  SKIP: { skip "$why: no ring sessions in the race", 1; }
}
my $nsess = scalar @sessions;

# µs since the epoch, as text
my $now_us = "(extract(epoch FROM clock_timestamp()) * 1000000)::int8";

my $overlapped = 0;
my $helpers    = 0;
for my $round (1 .. $rounds)
{
	$node->restart;
	ring_wait_settled($node);

	# The gate: an exclusive advisory lock held by an idle session.
	my $gate = bg_start($node, 'postgres', undef,
		stdin => "SELECT pg_advisory_lock(42);\nSELECT 'GATE_CLOSED';\n", app => "gate$round");
	ok(wait_progress(sub { bg_pump($gate); $gate->{out} =~ /GATE_CLOSED/ }),
		"round $round: the gate (advisory lock 42) is held");

	my @bg;
	for my $s (@sessions)
	{
		my ($name, $sql) = @$s;
		push @bg,
		  bg_start($node, 'postgres',
			"SELECT pg_advisory_lock_shared(42); SELECT 'T0 ' || $now_us; $sql; SELECT 'T1 ' || $now_us",
			app => "$name$round");
	}
	my $waiting_sql =
	    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '%$round' "
	  . "AND application_name NOT LIKE 'gate%' "
	  . "AND wait_event_type = 'Lock' AND wait_event = 'advisory'";
	ok( wait_progress(
			sub { $_->{h}->pump_nb for @bg; $node->safe_psql('postgres', $waiting_sql) == $nsess }),
		"round $round: all $nsess readers wait at the gate");
	$gate->{in} .= "SELECT pg_advisory_unlock(42);\n\\q\n";
	my $g = bg_finish($gate);
	is($g->{rc}, 0, "round $round: the gate opened") or diag($g->{err});

	my $all_ok = 1;
	my (@t0, @t1);
	for my $i (0 .. $#sessions)
	{
		my ($name, $sql, $want, $long) = @{ $sessions[$i] };
		my $r = bg_finish($bg[$i]);
		my ($t0) = $r->{out} =~ /^T0 (\d+)$/m;
		my ($t1) = $r->{out} =~ /^T1 (\d+)$/m;
		my $out = join("\n", grep { $_ ne '' && !/^T[01] \d+$/ } split /\n/, $r->{out});
		if ($r->{timed_out} || $r->{rc} != 0 || (defined $want && $out ne $want)
			|| !defined $t0 || !defined $t1)
		{
			$all_ok = 0;
			diag("round $round, session $name: rc=$r->{rc} timed_out=$r->{timed_out} "
				  . "out=$out want=" . ($want // '(any)') . " err=$r->{err}");
			next;
		}
		if ($long) { push @t0, $t0; push @t1, $t1; }
		note(sprintf("round %d %-6s start +%d us, %.1f ms", $round, $name, $t0 % 100000000, ($t1 - $t0) / 1000));
	}
	ok($all_ok, "round $round: every racing reader finished with the right result");
	my ($last_start) = sort { $b <=> $a } @t0;
	my ($first_end) = sort { $a <=> $b } @t1;
	my $overlap = @t0 && $last_start < $first_end;
	ok($overlap, "round $round: the readers overlapped (every long reader started before the first one finished)")
	  or diag("starts: @t0\nends:   @t1");
	note(sprintf("round %d: all started within %.1f ms; overlap %.1f ms",
		$round, (($last_start // 0) - (sort { $a <=> $b } @t0)[0]) / 1000,
		(($first_end // 0) - ($last_start // 0)) / 1000)) if @t0;
	$overlapped++ if $overlap;
	is(pinned_buffers($node, 'postgres', 't'), '0', "round $round: no buffer of t left pinned");
	is($node->safe_psql('postgres', $md5_sql), $md5, "round $round: content intact");
	# (statistics start from zero at each restart)
	$helpers += $node->safe_psql('postgres', 'SELECT sum(prewarm_workers_launched) FROM pg_uring_stats');
}
is($overlapped, $rounds, "the readers overlapped in every round ($overlapped of $rounds)");
cmp_ok($helpers, '>', 0, "prewarm helpers took part in the races ($helpers launched)");

my ($ret, $out, $err) = $node->psql('postgres',
	"CREATE EXTENSION amcheck; SELECT bt_index_check('t_pkey', true); "
	  . "SELECT count(*) FROM verify_heapam('t')");
is($ret, 0, 'amcheck passes') or diag($err);
like($out, qr/^0$/m, 'verify_heapam reports nothing');

my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|was terminated by signal|invalid page|checksum verification failed|could not read block/,
	'no PANIC, crash, invalid page or read error in the log');

$node->stop;
done_testing();
