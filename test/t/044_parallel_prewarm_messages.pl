# Copyright (c) pg_uring authors
#
# Issue 14: parallel installs while helpers talk.  A helper's WARNINGs go
# to the caller through a small message queue; when it is full, the helper
# blocks until the caller reads it, holding its request slots.  The caller
# must read it even when it is itself waiting for a slot (docs/design.md
# "Parallel installs"), or both wait for ever and the cluster's queue stays
# taken.  Here every page of four tables fails its checksum, and
# ignore_checksum_failure = on makes core accept each page with a WARNING,
# so each helper sends one message per block (on 18, one per multi-block
# read, naming how many pages).  Four sessions prewarm one
# table each, at once, with two helpers each, on a queue of 8 slots
# (queue_depth 2): twice as many slots wanted as there are.  (One session
# alone cannot take the whole queue: the participants' windows stay within
# three quarters of it.  So this does not reliably build the deadlock that
# a caller's slot wait which ignored its helpers' messages allowed; it
# checks the relay under contention.)  What must hold:
#   - every call ends (no hang), with the block count;
#   - every page's WARNING reaches the client exactly once (the caller
#     relays its helpers' messages, also in the middle of its own chunk);
#   - afterwards every slot is free, nothing is pinned, no helper is left.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $node = pgu_node('par_messages',
	conf => "pg_uring.queue_size = 8\nshared_buffers = 128MB\nlog_min_messages = error\n");
my ($ring_up, $why) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
note("ring down ($why): only the sync path") unless $ring_up;

my @tables = ('m1', 'm2', 'm3', 'm4');
my %nblocks;
for my $t (@tables)
{
	$nblocks{$t} = make_table($node, 'postgres', $t, 16, no_pkey => 1);
}
$node->safe_psql('postgres', 'CHECKPOINT');
my %path = map { $_ => $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_')") }
  @tables;
$node->stop;

# Break every page's checksum (pd_checksum, bytes 8-9): the data stays.
break_checksums($path{$_}) for @tables;
$node->start;
ring_check($node) if $ring_up;

for my $method (@methods)
{
	my $tag = "[$method]";
	$node->safe_psql('postgres', "SELECT pg_uring_evict('$_')") for @tables;
	my $h0 = $node->safe_psql('postgres', 'SELECT sum(prewarm_helper_blocks) FROM pg_uring_stats');
	my @s = map {
		bg_start($node, 'postgres',
			"SET ignore_checksum_failure = on; SET pg_uring.io_method = $method; "
			  . "SET pg_uring.min_parallel_prewarm_size = '1MB'; SET pg_uring.queue_depth = 2; "
			  . "SELECT pg_uring_prewarm('$_');",
			app => "pgu_msg_$_")
	} @tables;
	# every client reads all along (one that does not: 045_stalled_client)
	my @r = bg_finish_all(@s);
	for my $i (0 .. $#tables)
	{
		my $t = $tables[$i];
		my $r = $r[$i];
		is($r->{timed_out}, 0, "$tag $t: the call ended (no hang)");
		is($r->{rc}, 0, "$tag $t: without an error");
		is($r->{out}, "$nblocks{$t}\n", "$tag $t: every block counted");
		# pages covered by WARNINGs: one per page, or on 18 one per multi-block
		# read ("ignoring N checksum failures among blocks A..B")
		my $warnings = warned_pages($r->{err});
		is($warnings, $nblocks{$t}, "$tag $t: every page's WARNING reached the client once");
	}
	my $h1 = $node->safe_psql('postgres', 'SELECT sum(prewarm_helper_blocks) FROM pg_uring_stats');
	cmp_ok($h1 - $h0, '>', 0, "$tag helpers installed blocks (and sent their WARNINGs)");
	ok(queue_settled($node),
		"$tag every queue slot is free again");
	is(pinned_buffers($node, 'postgres'), '0', "$tag no buffer left pinned");
	is( $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'"),
		'0', "$tag no helper is left");
}

$node->stop;
done_testing();
