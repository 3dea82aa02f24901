# Copyright (c) pg_uring authors
#
# Wait events (src/compat.h).  On PostgreSQL 17 and later pg_uring names
# its waits with WaitEventExtensionNew, so pg_stat_activity and
# pg_wait_events show PgUringBatch, PgUringSlot, PgUringVerifyRate,
# PgUringWorkerMain and PgUringPrewarmHelpers; on 15 every extension wait shows as
# Extension:Extension.  004_cancel checks a backend's wait for its batch.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

use PgUringTest;

my $node = pgu_node('wait_events');
my $wpid = wait_for_worker($node);
ok($wpid, "ring worker $wpid");

# The idle worker waits in its main loop.
my $idle = pgu_wait_event($node, 'PgUringWorkerMain');
ok( $node->poll_query_until(
		'postgres',
		"SELECT coalesce(wait_event_type, '') || ':' || coalesce(wait_event, '') "
		  . "FROM pg_stat_activity WHERE pid = $wpid",
		$idle),
	"the idle ring worker shows $idle");

# An idle worker sleeps until there is work (or a slot to look after): over
# two seconds it wakes (a voluntary context switch) a handful of times at
# most, where a 100 ms timer would make twenty.
SKIP:
{
	skip "no /proc/$wpid/status here", 2 unless -r "/proc/$wpid/status";
	sub ctxt_switches
	{
		my ($pid) = @_;
		my $st = PostgreSQL::Test::Utils::slurp_file("/proc/$pid/status");
		my ($n) = $st =~ /^voluntary_ctxt_switches:\s+(\d+)/m;
		return $n;
	}
	# let it close its cached descriptors first
	usleep(500_000);
	my $c0 = ctxt_switches($wpid);
	usleep(2_000_000);
	my $c1 = ctxt_switches($wpid);
	cmp_ok($c1 - $c0, '<=', 5, "the idle worker slept (woke " . ($c1 - $c0) . " times in 2 s)");
	is($node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $wpid"),
		'idle', 'the idle worker shows state idle');
}

SKIP:
{
	skip 'PostgreSQL 15 has no named extension wait events (WaitEventExtensionNew and pg_wait_events are 17+)', 1
	  if $node->pg_version < 17;

	# a backend registers the names too when its first stream begins (the
	# ids are the worker's: registration is by name, once per cluster)
	$node->safe_psql('postgres',
		"CREATE TABLE t AS SELECT g FROM generate_series(1, 10000) g; SELECT pg_uring_prewarm('t')");
	is( $node->safe_psql(
			'postgres',
			"SELECT string_agg(name, ',' ORDER BY name) FROM pg_wait_events "
			  . "WHERE type = 'Extension' AND name LIKE 'PgUring%'"),
		'PgUringBatch,PgUringPrewarmHelpers,PgUringSlot,PgUringVerifyRate,PgUringWorkerMain',
		"pg_wait_events lists pg_uring's five named wait events");
}

$node->stop;
done_testing();
