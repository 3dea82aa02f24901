# Copyright (c) pg_uring authors
#
# Issue 11: memory does not grow with the relation.  A relation of more
# than 2 TiB (2^28 blocks of 8 kB and more: past what a block list of
# int4 offsets, or one BlockNumber per block in one palloc, could hold), made
# of sparse segment files, so that it takes no disk.  Block ranges near its
# end are prewarmed (read, buffer and prefetch mode) and verified, on the
# ring and on the sync path.  Each call must return the right count and
# find nothing wrong, and the calling backend's peak resident memory
# (VmHWM) must stay within 64 MB of what a call on a tiny range needs: a
# block list of the range's start would be 1 GB.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $node = pgu_node('huge_sparse', conf => "shared_buffers = 64MB\nmax_files_per_process = 1000\n");
my ($ring_up) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');

$node->safe_psql('postgres',
	"CREATE TABLE huge (id int, pad text) WITH (autovacuum_enabled = off); "
	  . "INSERT INTO huge VALUES (1, 'one'); CHECKPOINT");
my $path = $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('huge')");
$node->stop;

# Segment 0 grows to 1 GB, then 2049 more sparse segments of 1 GB, and a
# partial last one: 2051 segments, 2050 * 131072 + 1000 blocks.
my $seg_bytes = 131072 * 8192;
my $nfull = 2050;
truncate($path, $seg_bytes) or die "truncate $path: $!";
for my $i (1 .. $nfull - 1)
{
	open(my $fh, '>', "$path.$i") or die "create $path.$i: $!";
	close($fh);
	truncate("$path.$i", $seg_bytes) or die "truncate $path.$i: $!";
}
open(my $fh, '>', "$path.$nfull") or die "create $path.$nfull: $!";
close($fh);
truncate("$path.$nfull", 1000 * 8192) or die "truncate $path.$nfull: $!";
my $want_blocks = $nfull * 131072 + 1000;

$node->start;
ring_check($node) if $ring_up;
my $nblocks = $node->safe_psql('postgres', "SELECT pg_relation_size('huge') / 8192");
is($nblocks, $want_blocks, "huge has $want_blocks blocks");
cmp_ok($nblocks * 8192, '>', 2 * 1024**4, 'huge is larger than 2 TiB');

# one call in a fresh session, then that backend's peak resident memory (kB)
sub call_peak
{
	my ($m, $sql) = @_;
	my $out = $node->safe_psql('postgres', qq{
SET pg_uring.io_method = $m;
SELECT ($sql)::text;
SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\\s+(\\d+)'))[1];
});
	return split /\n/, $out;
}

my $last = $nblocks - 1;
my $first = $nblocks - 4000;
for my $m (@methods)
{
	my $tag = "[$m]";
	my (undef, $base) = call_peak($m, "pg_uring_prewarm('huge', 'read', 'main', $last, $last)");
	like($base, qr/^\d+$/, "$tag a backend's peak memory after a one-block call: $base kB");
	for my $mode ('read', 'buffer', 'prefetch')
	{
		my ($n, $peak) = call_peak($m, "pg_uring_prewarm('huge', '$mode', 'main', $first, $last)");
		is($n, $last - $first + 1, "$tag $mode mode: the 4000 blocks at the end of 2 TiB");
		cmp_ok($peak, '<=', $base + 65536, "$tag $mode mode: peak memory $peak kB (one block: $base kB)");
	}
	my ($rows, $vpeak) = call_peak($m, "(SELECT count(*) FROM pg_uring_verify('huge', 'main', $first, $last))");
	is($rows, '0', "$tag verify of the last 4000 blocks: nothing wrong (all-zero pages are valid)");
	cmp_ok($vpeak, '<=', $base + 65536, "$tag verify: peak memory $vpeak kB (one block: $base kB)");
	my ($l) = call_peak($m, "pg_uring_prewarm_blocks('huge', ARRAY[0, $last - 1, $last]::int8[])");
	is($l, 3, "$tag a block list reaching the end of 2 TiB");
}
# evict drops the buffers of a relation this large without walking it
is($node->safe_psql('postgres', "SELECT skipped FROM pg_uring_evict('huge')"), '0',
	'evict of the 2 TiB relation');

$node->stop;
done_testing();
