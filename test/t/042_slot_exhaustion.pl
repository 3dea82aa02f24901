
# Copyright (c) pg_uring authors
#
# Request slots run out: pg_uring.queue_size = 4 (the minimum, each session
# allowed to ask for more: pg_uring.backend_queue_limit = 64), 16 MB of
# shared buffers, and six sessions at pg_uring.queue_depth = 64 (the
# maximum) that, for ~20 s, concurrently dirty two tables, flush them (and
# their primary keys), and prewarm them in buffer and read mode, whole and
# by block lists.  Each wants 64 batches in flight; four slots exist.  The
# rules of pageio.c must keep everybody moving: a stream sleeps on the
# shared queue only when it holds no slot and no buffer state; otherwise it
# completes its own oldest batch first.
#
# Asserted: every statement of every session succeeds (in particular no
# "no unpinned buffers available"); no session ever waits longer than 30 s
# (pg_stat_activity sampled every 0.5 s, and everything must have ended
# 30 s after the end of the run); afterwards pg_uring_status shows
# free_slots = 4 and abandoned_slots = 0; the tables hold exactly what the
# sessions' ledger says (also after a restart), and amcheck is clean.  And
# that the race happened: pg_uring_stats.queue_full_waits rose (slots
# really ran out).  Ring-only (slots are the ring's).
# PG_URING_SOAK=1: 60 s.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $secs = soak() ? 60 : 20;
my $hang = 30;
my $nsessions = 6;

my $node = pgu_node('slots',
	conf => "pg_uring.queue_size = 4\npg_uring.backend_queue_limit = 64\nshared_buffers = 16MB\n");
ring_skip_unless_up($node);
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');

# Two tables of 10 MB each: together larger than shared buffers.
my %rows;
for my $t ('a', 'b')
{
	make_table($node, 'postgres', $t, 10);
	$rows{$t} = $node->safe_psql('postgres', "SELECT count(*) FROM $t");
}
$node->safe_psql('postgres',
	"CREATE TABLE ledger (tbl \"char\" NOT NULL, id int NOT NULL) WITH (autovacuum_enabled = off); CHECKPOINT;");

# What each table must hold: v = number of the ledger's updates of the row.
sub expected_md5
{
	my ($t) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT count(*) || ':' || md5(string_agg(g || ':' || coalesce(c, 0) || ':' || md5(repeat(md5(g::text), 59)), ',' ORDER BY g))
  FROM generate_series(1, $rows{$t}) g
  LEFT JOIN (SELECT id, count(*) c FROM ledger WHERE tbl = '$t' GROUP BY id) l ON l.id = g});
}

sub slots
{
	return $node->safe_psql('postgres',
		"SELECT queue_slots || '|' || free_slots || '|' || abandoned_slots FROM pg_uring_status");
}

my $slots0 = slots();
is($slots0, '4|4|0', 'four request slots, all free');

my $hang_sql = qq{
SELECT pid || ' ' || coalesce(application_name, '') || ' ' || state || ' ' || wait_event_type || ':' || wait_event
       || ' for ' || round(extract(epoch FROM now() - state_change)) || ' s: ' || left(query, 60)
  FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
   AND state <> 'idle' AND wait_event IS NOT NULL
   AND state_change < now() - interval '$hang s'};

# One iteration of session $i: dirty one table (its own rows only: no row
# lock waits between sessions), flush it and its primary key, prewarm the
# other in buffer mode, this one in read mode, and a block list of either.
sub iteration
{
	my ($i, $n) = @_;
	my ($t, $o) = ($i + $n) % 2 ? ('a', 'b') : ('b', 'a');
	my $class = ($i - 1) + $nsessions * ($n % 10);    # id % 60: disjoint per session
	return qq{WITH u AS (UPDATE $t SET v = v + 1 WHERE id % 60 = $class RETURNING id),
  l AS (INSERT INTO ledger SELECT '$t', id FROM u RETURNING 1) SELECT 'U:' || count(*) FROM l;
SELECT 'F:' || flushed || '/' || redirtied || '/' || skipped FROM pg_uring_flush('$t');
SELECT 'F:' || flushed || '/' || redirtied || '/' || skipped FROM pg_uring_flush('${t}_pkey');
SELECT 'B:' || pg_uring_prewarm('$o', 'buffer');
SELECT 'R:' || pg_uring_prewarm('$t', 'read');
SELECT 'L:' || pg_uring_prewarm_blocks('$o', ARRAY(SELECT (random() * (pg_relation_size('$o') / 8192 - 1))::int8 FROM generate_series(1, 300)), 'buffer');
SELECT 'L:' || pg_uring_prewarm_blocks('${t}_pkey', ARRAY(SELECT generate_series(0, pg_relation_size('${t}_pkey') / 8192 - 1, 2)::int8), 'read');
SELECT 'DONE:$n';
};
}

my $stats0 = stats_snapshot($node);
my @s;
for my $i (1 .. $nsessions)
{
	my $s = bg_start($node, 'postgres', undef, app => "slots$i",
		stdin => "SET pg_uring.queue_depth = 64;\n", timeout => $secs + 10 * $hang);
	$s->{i} = $i;
	$s->{n} = 1;
	$s->{done} = 0;
	$s->{in} .= iteration($i, 1);
	push @s, $s;
}

my $end = time() + $secs;
my $drain_end = $end + $hang;
my ($next_sample, $samples) = (0, 0);
my (@hangs, %errors);
while (time() < $drain_end)
{
	my $busy = 0;
	for my $s (@s)
	{
		bg_pump($s);
		if (!$s->{h}->pumpable)
		{
			$errors{ $s->{app} } //= "ended early: $s->{err}" unless $s->{quit};
			next;
		}
		if ($s->{out} =~ /^DONE:$s->{n}$/m)
		{
			$s->{done}++;
			$s->{out} = '';
			if (time() < $end)
			{
				$s->{n}++;
				$s->{in} .= iteration($s->{i}, $s->{n});
			}
			else
			{
				$s->{in} .= "\\q\n";
				$s->{quit} = 1;
			}
		}
		$busy++ unless $s->{quit};
	}
	if (time() >= $next_sample)
	{
		$next_sample = time() + 0.5;
		$samples++;
		my $h = $node->safe_psql('postgres', $hang_sql);
		push @hangs, split(/\n/, $h) if $h ne '';
	}
	last if !$busy;
	usleep(20_000);
}

# Whatever still runs now is stuck: say so, and end it.
my $stuck = end_stuck_sessions($node, "application_name LIKE 'slots%'");
push @hangs, "still running $hang s after the end of the run:\n$stuck" if $stuck ne '';
my $iters = 0;
for my $s (@s)
{
	my $r = bg_finish($s);
	$iters += $s->{done};
	$errors{ $s->{app} } = $r->{err} if $r->{rc} != 0 || $r->{err} ne '';
}
my $d = stats_delta($stats0, stats_snapshot($node));

note("$iters iterations by $nsessions sessions in $secs s; $samples activity samples; "
	  . "queue_full_waits +$d->{io_uring}{queue_full_waits}, requests +$d->{io_uring}{requests}, "
	  . "fallback_ios +$d->{io_uring}{fallback_ios}");
is(scalar(@hangs), 0, "no session waited longer than $hang s ($samples samples)")
  or diag(join("\n", dedup_hangs(@hangs)));
is(join("\n", map { "$_: $errors{$_}" } sort keys %errors), '', 'every statement of every session succeeded');
cmp_ok($iters, '>=', $nsessions, "every session completed iterations ($iters in all)");
ok(!grep({ $_->{done} == 0 } @s), 'no session was starved (each completed at least one iteration)');
cmp_ok($d->{io_uring}{queue_full_waits}, '>', 0,
	"the race happened: slots ran out (queue_full_waits +$d->{io_uring}{queue_full_waits})");
cmp_ok($d->{io_uring}{requests}, '>', 0, 'the ring served requests');

my $now = '';
ok(wait_progress(sub { $now = slots(); $now eq '4|4|0' }, $hang),
	"afterwards: free_slots = 4 and abandoned_slots = 0 ($now)");
is(pinned_buffers($node, 'postgres'), '0', 'no buffer left pinned');

for my $t ('a', 'b')
{
	is(table_md5($node, 'postgres', $t), expected_md5($t), "table $t holds exactly the ledger's updates");
}
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT bt_index_check('a_pkey', true); SELECT bt_index_check('b_pkey', true); "
	  . "SELECT count(*) FROM verify_heapam('a'); SELECT count(*) FROM verify_heapam('b')");
is($rc, 0, 'bt_index_check(heapallindexed) of both primary keys passes') or diag($err);
like($out, qr/^0\n0$/m, 'verify_heapam reports nothing on either table');

$node->safe_psql('postgres', 'CHECKPOINT');
$node->restart;
for my $t ('a', 'b')
{
	is(table_md5($node, 'postgres', $t), expected_md5($t), "table $t: the same after a restart (on disk)");
}

my $log = slurp_log_from($node, 0);
unlike($log, qr/no unpinned buffers available|PANIC|was terminated by signal|buffer refcount leak|still pinned/i,
	'no "no unpinned buffers available", PANIC, crash or pin leak in the log');

$node->stop;
done_testing();
