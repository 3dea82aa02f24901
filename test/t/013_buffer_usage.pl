# Copyright (c) pg_uring authors
#
# Issue 11: core's counters see pg_uring's I/O.  Buffer-mode prewarm reads
# through core's buffer manager (and its helpers' usage is added to the
# caller's); verify and flush do their reads and writes themselves and count
# them as core does: pgBufferUsage (pg_stat_statements, EXPLAIN BUFFERS),
# the I/O time with track_io_timing, and pg_stat_io on 17 and later.  On
# both paths, the ring and sync.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;
use FlushTestLib;

my $node = pgu_node('buffer_usage',
	conf => "shared_preload_libraries = 'pg_uring, pg_stat_statements'\n"
	  . "track_io_timing = on\nbgwriter_lru_maxpages = 0\npg_stat_statements.track_utility = off\n");
my ($ring_up) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
$node->safe_psql('postgres', 'CREATE EXTENSION pg_stat_statements');
my $v17 = $node->pg_version >= 17;
my ($rt, $wt) = $v17 ? ('shared_blk_read_time', 'shared_blk_write_time') : ('blk_read_time', 'blk_write_time');

my $nblocks = make_table($node, 'postgres', 't', 8);
flush_make_table($node, 'f', 2000);
$node->safe_psql('postgres', 'CHECKPOINT');

# what pg_stat_statements recorded for statements like $like
sub pss
{
	my ($like) = @_;
	return split /\|/, $node->safe_psql('postgres',
		"SELECT coalesce(sum(shared_blks_read), 0), coalesce(sum(shared_blks_written), 0), "
		  . "coalesce(sum($rt), 0) > 0, coalesce(sum($wt), 0) > 0 "
		  . "FROM pg_stat_statements WHERE query LIKE '$like'");
}

# pg_stat_io (17+): blocks read and written by client backends on
# relations (17 counts blocks; 18 counts I/Os, with their bytes)
sub stat_io
{
	return (0, 0) unless $v17;
	my ($r, $w) = $node->pg_version >= 18 ? ('read_bytes / 8192', 'write_bytes / 8192') : ('reads', 'writes');
	$node->safe_psql('postgres', 'SELECT pg_stat_clear_snapshot()');
	return split /\|/, $node->safe_psql('postgres',
		"SELECT coalesce(sum($r), 0)::int8, coalesce(sum($w), 0)::int8 FROM pg_stat_io "
		  . "WHERE backend_type = 'client backend' AND object = 'relation' AND context = 'normal'");
}

for my $m (@methods)
{
	my $tag = "[$m]";
	$node->safe_psql('postgres', "SELECT pg_uring_evict('t')");
	$node->safe_psql('postgres', 'SELECT pg_stat_statements_reset()');

	# the backend's read system calls (/proc/self/io) around the prewarm
	my $out = $node->safe_psql('postgres',
		"SET pg_uring.io_method = $m; SET pg_uring.max_prewarm_workers = 0; "
		  . "SELECT pg_read_file('/proc/self/io'); SELECT pg_uring_prewarm('t'); "
		  . "SELECT pg_read_file('/proc/self/io')");
	my @syscr = $out =~ /^syscr:\s*(\d+)/mg;
	my ($r) = pss('%pg_uring_prewarm%');
	cmp_ok($r, '>=', $nblocks, "$tag buffer-mode prewarm: shared_blks_read $r >= $nblocks blocks");
	SKIP:
	{
		skip 'one read per block on 15 (core has no multi-block read before 17)', 2 unless $v17;
		# 17+: core's StartReadBuffers reads a run of blocks per preadv
		is(scalar(@syscr), 2, "$tag /proc/self/io read twice");
		cmp_ok($syscr[1] - $syscr[0], '<', $nblocks / 2,
			"$tag buffer-mode prewarm: multi-block reads (" . ($syscr[1] - $syscr[0])
			  . " read calls for $nblocks blocks)");
	}

	my ($io_r0) = stat_io();
	$node->safe_psql('postgres', "SET pg_uring.io_method = $m; SELECT count(*) FROM pg_uring_verify('t')");
	my ($vr, undef, $vrt) = pss('%pg_uring_verify%');
	cmp_ok($vr, '>=', $nblocks, "$tag verify: shared_blks_read $vr >= $nblocks blocks");
	# on the ring the backend's share is its wait, which may round to 0
	is($vrt, 't', "$tag verify: $rt counted") if $m eq 'sync';
	my ($io_r1) = stat_io();
	SKIP:
	{
		skip 'pg_stat_io is 16+ (and 16 is not built here)', 1 unless $v17;
		# stats are flushed at the end of each statement's transaction, at most once a second
		my $ok = wait_progress(sub { (stat_io())[0] - $io_r0 >= $nblocks });
		ok($ok, "$tag verify: pg_stat_io counts its reads (+" . ((stat_io())[0] - $io_r0) . ")");
	}

	$node->safe_psql('postgres', 'UPDATE f SET v = v + 1');
	my ($dirty) = split /\|/, rel_dirty($node, 'postgres', 'f');
	my ($io_w0) = (stat_io())[1];
	my $flushed = $node->safe_psql('postgres', "SET pg_uring.io_method = $m; SELECT flushed FROM pg_uring_flush('f')");
	cmp_ok($flushed, '>', 0, "$tag flush wrote $flushed buffers");
	my (undef, $fw, undef, $fwt) = pss('%pg_uring_flush%');
	cmp_ok($fw, '>=', $flushed, "$tag flush: shared_blks_written $fw >= $flushed");
	is($fwt, 't', "$tag flush: $wt counted") if $m eq 'sync';
	SKIP:
	{
		skip 'pg_stat_io is 16+ (and 16 is not built here)', 1 unless $v17;
		my $ok = wait_progress(sub { (stat_io())[1] - $io_w0 >= $flushed });
		ok($ok, "$tag flush: pg_stat_io counts its writes");
	}
}

# EXPLAIN BUFFERS shows verify's reads too
my $plan = $node->safe_psql('postgres',
	"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT count(*) FROM pg_uring_verify('t')");
like($plan, qr/shared(?: hit=\d+)? read=(\d+)/, 'EXPLAIN (BUFFERS) shows the shared reads of verify');
my ($er) = $plan =~ /shared(?: hit=\d+)? read=(\d+)/;
cmp_ok($er // 0, '>=', $nblocks, "... all $nblocks of them");

$node->stop;
done_testing();
