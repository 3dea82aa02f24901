# Copyright (c) pg_uring authors
#
# Issue 11 (the testing build): waits for a request slot are first come,
# first served, and pg_uring_waits shows who waits on what.
#
# A 4-slot queue, no per-backend cap below it.  With the worker stalled
# (worker_stall), session h (a read-mode prewarm at queue_depth 64) takes
# all four slots and waits for its first batch.  Then w1, w2 and w3 arrive
# one after the other, each needing a slot.  pg_uring_waits must show h on
# PgUringBatch holding 4 slots, and w1, w2, w3 on PgUringSlot at places 1,
# 2 and 3 (pg_uring_status.slot_waiters = 3).
#
# Then the worker serves again, completing every slot slowly
# (complete_delay, 300 ms each), so that slots come free one at a time.
# What must hold:
#   - the waiters get their slots in the order they came: w1 leaves the
#     line first, then w2, then w3, and nobody's place ever grows;
#   - while anybody waits in line, h never takes a freed slot back (the
#     slots it holds, in pg_uring_inflight, only go down): before this, h
#     took back every slot it freed and the waiters waited until h's whole
#     prewarm was done;
#   - every call ends with its block count, every slot is free, nobody
#     waits any more.
# Last, a buffer-mode prewarm with two helpers under a stalled worker: the
# helpers' waits (inside their streams, interrupts held) show in
# pg_uring_waits too, and so does the caller's.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $node = pgu_node('fault_fair_slots',
	conf => "pg_uring.queue_size = 4\npg_uring.backend_queue_limit = 4\n");
fault_setup_or_skip($node);
ring_skip_unless_up($node);

my %nblocks = map { $_ => make_table($node, 'postgres', $_, $_ eq 'h' ? 8 : 1) } ('h', 'w1', 'w2', 'w3');
$node->safe_psql('postgres', 'CHECKPOINT');

sub sq { return $node->safe_psql('postgres', $_[0]); }

sub pid_of
{
	my ($app) = @_;
	return sq("SELECT pid FROM pg_stat_activity WHERE application_name = '$app'");
}

is(sq('SELECT free_slots FROM pg_uring_status'), '4', 'four free slots');
fault_set($node, 'worker_stall', 'stall');

my @s;
push @s, bg_start($node, 'postgres',
	"SET pg_uring.queue_depth = 64; SELECT pg_uring_prewarm('h', 'read')", app => 'pgu_fair_h');
ok(wait_progress(sub { sq('SELECT free_slots FROM pg_uring_status') eq '0' }), 'h holds every slot');
my $hpid = bg_backend_pid($s[0]);
ok( wait_progress(sub {
			sq("SELECT wait_event FROM pg_uring_waits WHERE pid = $hpid") eq 'PgUringBatch' }),
	'h waits for its batch (PgUringBatch in pg_uring_waits)');

my @wpid;
for my $i (1 .. 3)
{
	push @s, bg_start($node, 'postgres',
		"SET pg_uring.queue_wait_timeout = '10min'; SELECT pg_uring_prewarm('w$i', 'read')",
		app => "pgu_fair_w$i");
	my $pid = bg_backend_pid($s[-1]);
	push @wpid, $pid;
	ok( wait_progress(sub {
				sq("SELECT wait_event || ' ' || slot_queue_position FROM pg_uring_waits WHERE pid = $pid")
				  eq "PgUringSlot $i" }),
		"w$i waits for a slot, at place $i in line");
}

is( sq("SELECT wait_event, slot_queue_position IS NULL, slots_held, wait_seconds >= 0, "
		  . "wait_started <= now() FROM pg_uring_waits WHERE pid = $hpid"),
	'PgUringBatch|t|4|t|t', 'pg_uring_waits: h waits for a batch, holding 4 slots');
is( sq("SELECT string_agg(slot_queue_position || ':' || slots_held, ',' ORDER BY slot_queue_position) "
		  . "FROM pg_uring_waits WHERE wait_event = 'PgUringSlot'"),
	'1:0,2:0,3:0', 'pg_uring_waits: three in line, holding nothing');
is( sq("SELECT string_agg(pid::text, ',' ORDER BY slot_queue_position) FROM pg_uring_waits "
		  . "WHERE wait_event = 'PgUringSlot'"),
	join(',', @wpid), 'in the order they came');
is(sq('SELECT slot_waiters FROM pg_uring_status'), '3', 'pg_uring_status: 3 slot waiters');
is( sq("SELECT count(*) FROM pg_stat_activity WHERE pid IN (" . join(',', @wpid)
		  . ") AND wait_event_type = 'Extension'"),
	'3', 'pg_stat_activity: the waiters wait in an extension');

# slots come free one at a time: every completion takes 300 ms
fault_set($node, 'complete_delay', 'delay', arg => 300);
fault_set($node, 'worker_stall', 'none');

my @left;                        # the order the waiters left the line
my %gone;
my $h_prev = 4;
my $h_grew = 0;
my $place_grew = 0;
my %last_place = map { $wpid[$_] => $_ + 1 } 0 .. 2;
my $deadline = time() + 60;
while (keys %gone < 3 && time() < $deadline)
{
	my $line = sq("SELECT string_agg(pid || ':' || slot_queue_position, ',') FROM pg_uring_waits "
		  . "WHERE wait_event = 'PgUringSlot' AND pid <> $hpid");
	my %in = map { split /:/ } grep { $_ ne '' } split /,/, $line;
	for my $p (@wpid)
	{
		if (!exists $in{$p})
		{
			push @left, $p unless $gone{$p}++;
		}
		elsif (!$gone{$p})
		{
			$place_grew++ if $in{$p} > $last_place{$p};
			$last_place{$p} = $in{$p};
		}
	}
	if (keys %gone < 3)
	{
		my $held = sq("SELECT count(*) FROM pg_uring_inflight WHERE pid = $hpid");
		$h_grew++ if $held > $h_prev;
		$h_prev = $held;
	}
	usleep(50_000);
}
is(scalar(keys %gone), 3, 'every waiter got a slot');
is(join(',', @left), join(',', @wpid), 'first come, first served: w1, then w2, then w3');
is($place_grew, 0, 'nobody\'s place in line ever grew');
is($h_grew, 0, 'h never took a freed slot back while others waited in line');

fault_reset($node);
my @r = bg_finish_all(@s);
my @names = ('h', 'w1', 'w2', 'w3');
for my $i (0 .. 3)
{
	is($r[$i]{rc}, 0, "$names[$i]: the prewarm ended without an error") or diag($r[$i]{err});
	is($r[$i]{out}, "$nblocks{$names[$i]}\n", "$names[$i]: every block counted");
}
ok(queue_settled($node), 'every slot is free again');
is(sq('SELECT count(*) FROM pg_uring_waits'), '0', 'nobody waits any more');
is(sq('SELECT slot_waiters FROM pg_uring_status'), '0', 'no slot waiters');

# a buffer-mode prewarm split between the caller and its helpers (core
# parallel workers; queue_depth 1, so that 3 windows fit in 3/4 of the 4
# slots): with the worker stalled, the helpers' waits (inside
# their streams, with interrupts held) show in pg_uring_waits too, and so
# does the caller's wait for its helpers
sq("SELECT evicted > 0 FROM pg_uring_evict('h')");    # not cached: read ahead through the ring
fault_set($node, 'worker_stall', 'stall');
my $p = bg_start($node, 'postgres',
	"SET pg_uring.min_parallel_prewarm_size = '1MB'; SET pg_uring.max_prewarm_workers = 2; "
	  . "SET pg_uring.queue_depth = 1; "
	  . "SELECT pg_uring_prewarm('h')",
	app => 'pgu_fair_par');
my $ppid = bg_backend_pid($p);
my $helper_waits = '';
ok( wait_progress(sub {
			$helper_waits = sq("SELECT count(*) FROM pg_uring_waits w JOIN pg_stat_activity a USING (pid) "
				  . "WHERE a.backend_type = 'parallel worker' AND a.leader_pid = $ppid "
				  . "AND w.wait_event IN ('PgUringBatch', 'PgUringSlot')");
			return $helper_waits > 0;
		}),
	"the helpers' waits show in pg_uring_waits ($helper_waits)");
ok( wait_progress(sub {
			sq("SELECT wait_event FROM pg_uring_waits WHERE pid = $ppid") =~ /^PgUring(PrewarmHelpers|Batch|Slot)$/
		}),
	'so does the caller');
fault_reset($node);
my $pr = bg_finish($p);
is($pr->{rc}, 0, 'the parallel prewarm ended without an error') or diag($pr->{err});
is($pr->{out}, "$nblocks{h}\n", 'the parallel prewarm counted every block');
ok(queue_settled($node), 'every slot is free again');
is(sq('SELECT count(*) FROM pg_uring_waits'), '0', 'nobody waits any more');

$node->stop;
done_testing();
