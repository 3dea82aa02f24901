# Copyright (c) pg_uring authors
#
# Issue 14: parallel installs.  A buffer-mode prewarm at or above
# pg_uring.min_parallel_prewarm_size is shared by the caller and up to
# pg_uring.max_prewarm_workers helpers (core parallel workers, docs/design.md
# "Parallel installs").  What must hold:
#   - the count, the installed set and the data are exactly those of a
#     prewarm by the caller alone, for ranges and block lists, on the ring
#     and on the sync path, with the caller taking part or not
#     (parallel_leader_participation);
#   - the helpers' reads are counted in the caller's buffer usage (EXPLAIN
#     BUFFERS);
#   - concurrent readers see the oracle while helpers install;
#   - max_worker_processes exhausted: no helper starts, the caller does
#     everything, the result is the same;
#   - no helper outlives the call, no pin is left, amcheck is clean.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use JSON::PP;
use PgUringTest;

my $node = pgu_node('parallel_prewarm',
	conf => "shared_buffers = 160MB\nmax_worker_processes = 8\nmax_parallel_workers = 8\n");
my ($ring_up, $why) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
note("ring down ($why): only the sync path") unless $ring_up;

$node->safe_psql('postgres', 'CREATE EXTENSION amcheck;');
my $nblocks = make_table($node, 'postgres', 't', 64);
$node->safe_psql('postgres', 'CHECKPOINT');
my $md5 = table_md5($node, 'postgres', 't');
note("t: $nblocks blocks");
cmp_ok($nblocks, '>=', 4 * 512, 't has enough chunks for two helpers');

# helpers above 1 MB: every prewarm of t gets two
my $par = "SET pg_uring.min_parallel_prewarm_size = '1MB'; SET pg_uring.max_prewarm_workers = 2;";

sub counters
{
	my ($n) = @_;
	return split /\|/,
	  $n->safe_psql('postgres',
		'SELECT sum(prewarm_workers_planned), sum(prewarm_workers_launched), '
		  . 'sum(prewarm_helper_blocks) FROM pg_uring_stats');
}

sub evict
{
	my ($n, $tag) = @_;
	$n->safe_psql('postgres', "SELECT pg_uring_evict('t')");
	is(rel_buffers($n, 'postgres', 't'), '0', "$tag t is not in shared buffers before the prewarm");
}

sub helpers_gone
{
	my ($n, $tag) = @_;
	is( $n->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'"),
		'0', "$tag no helper outlives the call");
}

sub clean_after
{
	my ($n, $tag) = @_;
	is(pinned_buffers($n, 'postgres'), '0', "$tag no buffer left pinned");
	helpers_gone($n, $tag);
	is(table_md5($n, 'postgres', 't'), $md5, "$tag content oracle unchanged");
	is($n->safe_psql('postgres', "SELECT bt_index_check('t_pkey', true)"), '',
		"$tag bt_index_check(heapallindexed) is clean");
}

for my $method (@methods)
{
	my $set = "SET pg_uring.io_method = $method; $par";

	for my $leader ('on', 'off')
	{
		my $tag = "[$method/leader=$leader]";
		my $lset = "$set SET parallel_leader_participation = $leader;";

		# a whole range
		evict($node, $tag);
		my ($p0, $l0, $h0) = counters($node);
		is($node->safe_psql('postgres', "$lset SELECT pg_uring_prewarm('t')"),
			$nblocks, "$tag range: every block counted");
		my ($p1, $l1, $h1) = counters($node);
		is($p1 - $p0, 2, "$tag range: two helpers planned");
		is($l1 - $l0, 2, "$tag range: two helpers launched");
		if ($leader eq 'on')
		{
			cmp_ok($h1 - $h0, '>', 0, "$tag range: the helpers installed blocks");
			cmp_ok($h1 - $h0, '<', $nblocks, "$tag range: and the caller did too");
		}
		else
		{
			is($h1 - $h0, $nblocks, "$tag range: the helpers installed every block");
		}
		is(rel_buffers($node, 'postgres', 't'), $nblocks, "$tag range: every block installed");

		# a block list: exactly its blocks, no more
		evict($node, $tag);
		my $expect = $node->safe_psql('postgres',
			"SELECT count(*) FROM generate_series(0, $nblocks - 1) g WHERE g % 3 <> 1");
		is( $node->safe_psql(
				'postgres',
				"$lset SELECT pg_uring_prewarm_blocks('t', "
				  . "ARRAY(SELECT g::int8 FROM generate_series(0, $nblocks - 1) g WHERE g % 3 <> 1))"),
			$expect,
			"$tag list: every listed block counted");
		is( $node->safe_psql(
				'postgres', qq{
SELECT count(*) FILTER (WHERE relblocknumber % 3 = 1) || ':' || count(*)
  FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('t') AND relforknumber = 0
   AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())}),
			"0:$expect",
			"$tag list: exactly the listed blocks are installed");
		my ($p2, $l2, $h2) = counters($node);
		is($l2 - $l1, 2, "$tag list: two helpers launched");
		if ($leader eq 'on')
		{
			cmp_ok($h2 - $h1, '>', 0, "$tag list: the helpers installed blocks");
		}
		else
		{
			is($h2 - $h1, $expect, "$tag list: the helpers installed every listed block");
		}
		clean_after($node, $tag);
	}
}

# The helpers' reads are the caller's buffer usage: after a restart (cold
# shared buffers) EXPLAIN counts every block of t, not the caller's share.
{
	my $tag = '[buffer usage]';
	$node->restart;
	ring_check($node) if $ring_up;
	my ($p0, $l0) = counters($node);
	my $json = $node->safe_psql('postgres',
		"$par EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, COSTS OFF, FORMAT JSON) SELECT pg_uring_prewarm('t')");
	my $plan = decode_json($json)->[0]{Plan};
	my ($p1, $l1) = counters($node);
	is($l1 - $l0, 2, "$tag two helpers launched");
	my $touched = $plan->{'Shared Hit Blocks'} + $plan->{'Shared Read Blocks'};
	note("$tag shared hit $plan->{'Shared Hit Blocks'}, read $plan->{'Shared Read Blocks'}");
	cmp_ok($plan->{'Shared Read Blocks'}, '>=', $nblocks,
		"$tag the caller's buffer usage has every block of t read ($nblocks)");
	clean_after($node, $tag);
}

# Concurrent readers while helpers install the same blocks.
{
	my $tag = '[concurrent readers]';
	for my $round (1 .. 3)
	{
		evict($node, "$tag round $round:");
		my @readers = map {
			bg_start($node, 'postgres',
				"SET enable_indexscan = off; SET enable_bitmapscan = off; "
				  . "SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id)) FROM t;\n"
				  . "SELECT count(*) FROM t WHERE id % 97 = 5;\n")
		} 1 .. 2;
		is($node->safe_psql('postgres', "$par SELECT pg_uring_prewarm('t')"),
			$nblocks, "$tag round $round: every block counted");
		my $want97 = $node->safe_psql('postgres', 'SELECT count(*) FROM t WHERE id % 97 = 5');
		for my $r (@readers)
		{
			my $res = bg_finish($r);
			is($res->{rc}, 0, "$tag round $round: reader finished without error");
			is($res->{out}, "$md5\n$want97\n", "$tag round $round: reader saw the oracle");
		}
	}
	clean_after($node, $tag);
}

# max_worker_processes exhausted: the ring worker and the logical
# replication launcher take both slots; no helper can start.
{
	my $tag = '[max_worker_processes exhausted]';
	$node->append_conf('postgresql.conf', "max_worker_processes = 2\n");
	$node->restart;
	ring_check($node) if $ring_up;
	for my $leader ('on', 'off')
	{
		evict($node, "$tag leader=$leader:");
		my ($p0, $l0, $h0) = counters($node);
		is( $node->safe_psql('postgres',
				"$par SET parallel_leader_participation = $leader; SELECT pg_uring_prewarm('t')"),
			$nblocks,
			"$tag leader=$leader: every block counted");
		my ($p1, $l1, $h1) = counters($node);
		is($h1 - $h0, 0, "$tag leader=$leader: no block installed by a helper");
		is($p1 - $p0, 2, "$tag leader=$leader: two helpers planned");
		is($l1 - $l0, 0, "$tag leader=$leader: none could be launched");
		is(rel_buffers($node, 'postgres', 't'), $nblocks,
			"$tag leader=$leader: the caller installed every block");
	}
	clean_after($node, $tag);
}

$node->stop;
done_testing();
