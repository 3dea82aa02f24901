
# Copyright (c) pg_uring authors
#
# Several readers race for the same cold blocks (DESIGN.md section 3,
# invariant 1): pg_uring_prewarm through the ring, pg_uring_prewarm with
# io_method = sync, contrib pg_prewarm and plain scans, all at once on one
# table.  A block claimed by one of them must be waited for by the others
# (core's WaitIO), a block another backend has pinned while it looked valid
# must not be invalidated under it, and every reader must see the right
# page.  Every prewarm returns the block count; the content oracle holds in
# every scanning session and afterwards.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $rounds = soak() ? 40 : 6;
my $node = pgu_node('race', conf => "shared_buffers = 160MB\n");
my $st = ring_wait_settled($node);
my $ring = $st->{ring_up} eq 't';
diag("io_uring not available ($st->{reason}): the ring sessions use the fallback")
  unless $ring;

my $nblocks = make_table($node, 'postgres', 't', 96);
my $md5 = table_md5($node, 'postgres', 't');
my $md5_sql =
    "SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id)) FROM t";
my $idx_sql =
  "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t WHERE id BETWEEN 1000 AND 30999";

my @sessions = (
	[ 'uring1', "SET pg_uring.io_method = 'io_uring'; SELECT pg_uring_prewarm('t')", $nblocks ],
	[ 'uring2', "SET pg_uring.io_method = 'io_uring'; SET pg_uring.direct_io = on; SELECT pg_uring_prewarm('t')", $nblocks ],
	[ 'uring3', "SET pg_uring.io_method = 'io_uring'; SELECT pg_uring_prewarm_blocks('t', ARRAY(SELECT generate_series($nblocks - 1, 0, -3)::int8))",
		int(($nblocks - 1) / 3) + 1 ],
	[ 'sync1', "SET pg_uring.io_method = 'sync'; SELECT pg_uring_prewarm('t')", $nblocks ],
	[ 'core', "SELECT pg_prewarm('t')", $nblocks ],
	[ 'scan', $md5_sql, $md5 ],
	[ 'index', $idx_sql, 30000 ],
	[ 'pkey', "SELECT pg_uring_prewarm('t_pkey')", undef ],
);

for my $round (1 .. $rounds)
{
	$node->restart;
	ring_wait_settled($node);
	my @bg;
	for my $s (@sessions)
	{
		my ($name, $sql) = @$s;
		push @bg, bg_start($node, 'postgres', $sql, app => "$name$round");
	}
	my $all_ok = 1;
	for my $i (0 .. $#sessions)
	{
		my ($name, $sql, $want) = @{ $sessions[$i] };
		my $r = bg_finish($bg[$i]);
		my $out = $r->{out} =~ s/\s+$//r;
		if ($r->{timed_out} || $r->{rc} != 0 || (defined $want && $out ne $want))
		{
			$all_ok = 0;
			diag("round $round, session $name: rc=$r->{rc} timed_out=$r->{timed_out} "
				  . "out=$out want=" . ($want // '(any)') . " err=$r->{err}");
		}
	}
	ok($all_ok, "round $round: every racing reader finished with the right result");
	is(pinned_buffers($node, 'postgres', 't'), '0', "round $round: no buffer of t left pinned");
	is($node->safe_psql('postgres', $md5_sql), $md5, "round $round: content intact");
}

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
