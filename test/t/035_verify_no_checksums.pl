
# Copyright (c) pg_uring authors
#
# pg_uring_verify on a cluster without data checksums (issue 5: "header
# sanity checks only, and a NOTICE that checksums are off").
#
# With the server stopped: a byte of tuple data is flipped in one heap block
# (undetectable without checksums: no row), another heap block gets pd_lower >
# pd_upper ('bad page header'), and block 0 of the btree index is zeroed
# ('all-zero page').  Both io methods; pg_uring_verify_database too.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $node = PostgreSQL::Test::Cluster->new('vnocsum');
# no data checksums (initdb enables them by default since PostgreSQL 18)
$node->init($node->pg_version >= 18 ? (extra => ['--no-data-checksums']) : ());
$node->append_conf(
	'postgresql.conf', q{
shared_preload_libraries = 'pg_uring'
shared_buffers = 32MB
autovacuum = off
});
$node->start;
pgu_setup_db($node, 'postgres');
my $st = ring_wait_settled($node);
my @methods = ('sync');
if ($st->{ring_up} eq 't') { unshift @methods, 'io_uring'; }
else { diag("io_uring not available ($st->{reason}): only the sync path is tested"); }

is($node->safe_psql('postgres', 'SHOW data_checksums'), 'off', 'data checksums off');

my $n = make_table($node, 'postgres', 'nc', 1);
$node->safe_psql('postgres', 'CHECKPOINT');
my $pgdata = $node->data_dir;
my $heap = "$pgdata/" . $node->safe_psql('postgres', "SELECT pg_relation_filepath('nc')");
my $idx = "$pgdata/" . $node->safe_psql('postgres', "SELECT pg_relation_filepath('nc_pkey')");
$node->stop;

sub patch
{
	my ($file, $blk, $off, $bytes) = @_;
	open(my $fh, '+<:raw', $file) or die "open $file: $!";
	sysseek($fh, $blk * 8192 + $off, 0) or die;
	syswrite($fh, $bytes) == length($bytes) or die;
	close($fh);
	return;
}

sub read_u16
{
	my ($file, $blk, $off) = @_;
	open(my $fh, '<:raw', $file) or die;
	sysseek($fh, $blk * 8192 + $off, 0) or die;
	my $b;
	sysread($fh, $b, 2);
	close($fh);
	return unpack('v', $b);
}

patch($heap, 5, 5000, "\xFF\x00\xFF\x00");              # tuple data: invisible without checksums
patch($heap, 7, 12, pack('v', read_u16($heap, 7, 14) + 16));    # pd_lower > pd_upper
patch($idx, 0, 0, "\0" x 8192);                         # the btree metapage

$node->start;
ring_wait_settled($node) if $st->{ring_up} eq 't';

my $cols = "relation, fork_name, block, reason, coalesce(expected_checksum::text, 'null'), "
  . "coalesce(found_checksum::text, 'null')";
for my $m (@methods)
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET pg_uring.io_method = $m; SELECT $cols FROM pg_uring_verify('nc')");
	is($ret, 0, "[$m] verify ran");
	is($out, 'nc|main|7|bad page header|null|null', "[$m] only the broken header is found");
	like($err, qr/NOTICE:  data checksums are disabled/, "[$m] NOTICE that checksums are off");

	($ret, $out, $err) = $node->psql('postgres',
		"SET pg_uring.io_method = $m; SELECT $cols FROM pg_uring_verify('nc_pkey')");
	is($out, 'nc_pkey|main|0|all-zero page|null|null', "[$m] zeroed index metapage found");

	($ret, $out, $err) = $node->psql('postgres',
		"SET pg_uring.io_method = $m; SELECT $cols FROM pg_uring_verify_database() "
		  . "ORDER BY relation::text COLLATE \"C\", block");
	is($ret, 0, "[$m] verify_database ran");
	is( $out,
		"nc|main|7|bad page header|null|null\nnc_pkey|main|0|all-zero page|null|null",
		"[$m] verify_database finds both");
	like($err, qr/NOTICE:  data checksums are disabled/, "[$m] verify_database NOTICE that checksums are off");
	like($err, qr/NOTICE:  verified \d+ relations/, "[$m] verify_database counts");
}

is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_progress'), '0',
	'pg_uring_progress empty');
$node->stop;
done_testing();
