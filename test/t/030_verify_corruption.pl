
# Copyright (c) pg_uring authors
#
# pg_uring_verify finds exactly the blocks we broke (issue 5, TAP test 1).
#
# With the server stopped, chosen blocks are damaged on disk:
#   - heap: a byte flipped in three blocks (first, middle, last segment block),
#     and one block whose pd_flags get an invalid bit, checksum recomputed
#     (so only the header check can catch it);
#   - btree index: a byte flipped in one block, and one block with
#     pd_upper > pd_special, checksum recomputed;
#   - the heap's FSM fork: a byte flipped in one block;
#   - a second btree index: block 0 (the metapage) zeroed.
# After the restart pg_uring_verify must list exactly these blocks, with the
# right reasons, expected checksum = the checksum of the page as it is on
# disk and found checksum = its stored pd_checksum.  Offline
# pg_checksums --check on the same files is the oracle for the checksum
# values.  Under io_method io_uring and sync alike, for the relation, one
# fork, block ranges, and pg_uring_verify_database.  pg_stat_database's
# checksum_failures and pg_uring_stats.verify_failures rise; shared buffers
# are not filled by the scan.
#
# Finally, a block that core failed to read (ERROR: invalid page) stays in the
# buffer mapping table without BM_VALID; verify must still report it (there
# is no valid copy to judge).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

# ---------------------------------------------------------------------------

sub read_block
{
	my ($file, $blk) = @_;
	open(my $fh, '+<:raw', $file) or die "open $file: $!";
	sysseek($fh, $blk * 8192, 0) or die "seek: $!";
	my $page;
	sysread($fh, $page, 8192) == 8192 or die "short read of $file block $blk";
	close($fh);
	return $page;
}

sub write_block
{
	my ($file, $blk, $page) = @_;
	die "bad page length" unless length($page) == 8192;
	open(my $fh, '+<:raw', $file) or die "open $file: $!";
	sysseek($fh, $blk * 8192, 0) or die "seek: $!";
	syswrite($fh, $page) == 8192 or die "write: $!";
	close($fh);
	return;
}

sub stored_checksum { return unpack('v', substr($_[0], 8, 2)); }

# ---------------------------------------------------------------------------
my $node = pgu_node('vcorrupt', conf => "shared_buffers = 64MB\n");
my $st = ring_wait_settled($node);
my @methods = ('sync');
if ($st->{ring_up} eq 't') { unshift @methods, 'io_uring'; }
else { diag("io_uring not available ($st->{reason}): only the sync path is tested"); }

is($node->safe_psql('postgres', 'SHOW data_checksums'), 'on', 'data checksums on');

my $nblocks = make_table($node, 'postgres', 'c_heap', 8);
$node->safe_psql(
	'postgres', q{
CREATE INDEX c_heap_v ON c_heap (v);
CREATE TABLE c_clean (id int PRIMARY KEY, t text);
INSERT INTO c_clean SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
VACUUM c_clean;
CREATE ROLE c_reader LOGIN;
GRANT SELECT ON c_heap TO c_reader;
GRANT EXECUTE ON FUNCTION pg_uring_verify(regclass, text, int8, int8), pg_uring_verify_database() TO c_reader;
COMMENT ON DATABASE postgres IS 'a row in the shared catalog pg_shdescription';
CHECKPOINT;
});
my $pgdata = $node->data_dir;
my %file;
for my $r (qw(c_heap c_heap_pkey c_heap_v))
{
	$file{$r} =
	  "$pgdata/" . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$r')");
}
$file{c_heap_fsm} = "$file{c_heap}_fsm";
# a shared catalog: verified by pg_uring_verify_database for superusers only
$file{pg_shdescription} =
  "$pgdata/" . $node->safe_psql('postgres', "SELECT pg_relation_filepath('pg_shdescription')");
is($node->safe_psql('postgres', "SELECT pg_relation_size('pg_shdescription') / 8192"),
	'1', 'pg_shdescription has one block');
my $idx_blocks = rel_blocks($node, 'postgres', 'c_heap_pkey');
my $fsm_blocks = $node->safe_psql('postgres', "SELECT pg_relation_size('c_heap', 'fsm') / 8192");
cmp_ok($nblocks,     '>=', 1000, "c_heap has $nblocks blocks");
cmp_ok($idx_blocks,  '>=', 6,    "c_heap_pkey has $idx_blocks blocks");
cmp_ok($fsm_blocks,  '>=', 3,    "c_heap fsm has $fsm_blocks blocks");
ok(-f $file{c_heap_fsm}, 'fsm file exists');

$node->stop;

# Sanity of the Perl checksum: it matches the stored one on intact pages.
for my $r (qw(c_heap c_heap_pkey c_heap_fsm))
{
	my $p = read_block($file{$r}, 1);
	is(pg_checksum_page($p, 1), stored_checksum($p), "Perl pg_checksum_page agrees on $r block 1");
}

# What we break; "expect" rows: [relation, fork, block, reason, expected, found]
my @expect;

sub flip_bytes
{
	my ($rel, $fork, $fkey, $blk, $off) = @_;
	my $p = read_block($file{$fkey}, $blk);
	substr($p, $off, 4) = substr($p, $off, 4) ^ "\xA5\x5A\xFF\x01";
	write_block($file{$fkey}, $blk, $p);
	my $exp = pg_checksum_page($p, $blk);
	my $found = stored_checksum($p);
	die "checksum collision" if $exp == $found;
	push @expect, [ $rel, $fork, $blk, 'checksum mismatch', $exp, $found ];
	return;
}

sub break_header
{
	my ($rel, $fkey, $blk, $field_off, $value) = @_;
	my $p = read_block($file{$fkey}, $blk);
	substr($p, $field_off, 2) = pack('v', $value);
	substr($p, 8, 2) = pack('v', pg_checksum_page($p, $blk));
	write_block($file{$fkey}, $blk, $p);
	push @expect, [ $rel, 'main', $blk, 'bad page header', '', '' ];
	return;
}

my $lastblk = $nblocks - 1;
flip_bytes('c_heap', 'main', 'c_heap', 3, 4000);
flip_bytes('c_heap', 'main', 'c_heap', 500, 100);     # in the line pointers
flip_bytes('c_heap', 'main', 'c_heap', $lastblk, 8000);
{
	# pd_flags (offset 10) with a bit outside PD_VALID_FLAG_BITS
	my $p = read_block($file{c_heap}, 20);
	my $flags = unpack('v', substr($p, 10, 2));
	break_header('c_heap', 'c_heap', 20, 10, $flags | 0x4000);
}
flip_bytes('c_heap_pkey', 'main', 'c_heap_pkey', 1, 6000);
{
	# pd_upper (offset 14) beyond pd_special (offset 16)
	my $p = read_block($file{c_heap_pkey}, 3);
	my $special = unpack('v', substr($p, 16, 2));
	break_header('c_heap_pkey', 'c_heap_pkey', 3, 14, $special + 8);
}
flip_bytes('c_heap', 'fsm', 'c_heap_fsm', $fsm_blocks - 1, 4000);
write_block($file{c_heap_v}, 0, "\0" x 8192);
push @expect, [ 'c_heap_v', 'main', 0, 'all-zero page', '', '' ];

# pg_shdescription block 0 (a shared catalog), listed separately
my @shared_expect;
{
	my @save = @expect;
	@expect = ();
	flip_bytes('pg_shdescription', 'main', 'pg_shdescription', 0, 8100);
	@shared_expect = @expect;
	@expect = @save;
}

@expect = sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] || $a->[2] <=> $b->[2] } @expect;
my $n_mismatch = grep { $_->[3] eq 'checksum mismatch' } @expect;

# Oracle: offline pg_checksums sees the same checksum failures.
{
	my ($stdout, $stderr);
	IPC::Run::run([ 'pg_checksums', '--check', '-D', $pgdata ], '>', \$stdout, '2>', \$stderr);
	my %pc;
	while ($stderr =~ /checksum verification failed in file "([^"]+)", block (\d+): calculated checksum ([0-9A-F]+) but block contains ([0-9A-F]+)/g)
	{
		$pc{"$1:$2"} = [ hex($3), hex($4) ];
	}
	my %want;
	for my $e (grep { $_->[3] eq 'checksum mismatch' } @expect, @shared_expect)
	{
		my $f = $e->[1] eq 'fsm' ? $file{c_heap_fsm} : $file{ $e->[0] };
		$f =~ s{^\Q$pgdata\E/}{./};
		$want{"$f:$e->[2]"} = [ $e->[4], $e->[5] ];
	}
	my %pcn = map { my $k = $_; $k =~ s{^.*?/((?:base|global)/)}{./$1}; ($k => $pc{$_}) } keys %pc;
	is_deeply(\%pcn, \%want,
		'pg_checksums --check reports the same blocks and checksums as the Perl oracle')
	  or diag($stderr);
}

$node->start;
ring_wait_settled($node) if $st->{ring_up} eq 't';

my $expect_text = join("\n", map { join('|', @$_) } @expect);
my $expect_db_text = join("\n", map { join('|', @$_) }
	  sort { $a->[0] cmp $b->[0] || $a->[1] cmp $b->[1] || $a->[2] <=> $b->[2] } @expect, @shared_expect);
my $order = 'relation::text COLLATE "C", fork_name COLLATE "C", block';
my $cols =
  "relation, fork_name, block, reason, coalesce(expected_checksum::text, ''), coalesce(found_checksum::text, '')";

sub checksum_failures
{
	return $node->safe_psql('postgres',
		"SELECT coalesce(checksum_failures, 0) FROM pg_stat_database WHERE datname = current_database()");
}

sub verify_failures_stat
{
	return $node->safe_psql('postgres', 'SELECT sum(verify_failures) FROM pg_uring_stats');
}

# Nothing of c_heap is cached after the restart, and verify must not change that.
is(rel_buffers($node, 'postgres', 'c_heap'), '0', 'c_heap not in shared buffers after restart');

for my $m (@methods)
{
	my $cf0 = checksum_failures();
	my $vf0 = verify_failures_stat();
	my $got = $node->safe_psql(
		'postgres', qq{
SET pg_uring.io_method = $m;
SELECT $cols FROM (
  SELECT * FROM pg_uring_verify('c_heap')
  UNION ALL SELECT * FROM pg_uring_verify('c_heap_pkey')
  UNION ALL SELECT * FROM pg_uring_verify('c_heap_v')
  UNION ALL SELECT * FROM pg_uring_verify('c_clean')
  UNION ALL SELECT * FROM pg_uring_verify('c_clean_pkey')) v
ORDER BY $order});
	is($got, $expect_text, "[$m] pg_uring_verify lists exactly the broken blocks")
	  or diag("expected:\n$expect_text");
	my $cf1;
	wait_progress(sub { $cf1 = checksum_failures(); $cf1 >= $cf0 + $n_mismatch }, 10);
	cmp_ok($cf1 - $cf0, '>=', $n_mismatch,
		"[$m] pg_stat_database.checksum_failures rose (by " . ($cf1 - $cf0) . ")");
	is(verify_failures_stat() - $vf0, scalar(@expect),
		"[$m] pg_uring_stats.verify_failures rose by the number of rows");
	is(rel_buffers($node, 'postgres', 'c_heap'), '0', "[$m] verify did not fill shared buffers");

	# one fork at a time
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT $cols FROM pg_uring_verify('c_heap', 'fsm')"),
		join("\n", map { join('|', @$_) } grep { $_->[0] eq 'c_heap' && $_->[1] eq 'fsm' } @expect),
		"[$m] fork 'fsm' lists the FSM block only");
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT $cols FROM pg_uring_verify('c_heap', 'main') ORDER BY block"),
		join("\n", map { join('|', @$_) } grep { $_->[0] eq 'c_heap' && $_->[1] eq 'main' } @expect),
		"[$m] fork 'main' lists the heap blocks only");
	is($node->safe_psql('postgres',
			"SET pg_uring.io_method = $m; SELECT count(*) FROM pg_uring_verify('c_heap', 'vm')"),
		'0', "[$m] fork 'vm' is clean");

	# ranges: exactly the broken blocks inside the range
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT string_agg(block::text, ',' ORDER BY block) FROM pg_uring_verify('c_heap', 'main', 3, 3)"),
		'3', "[$m] range 3..3");
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT count(*) FROM pg_uring_verify('c_heap', 'main', 4, 19)"),
		'0', "[$m] range 4..19 is clean");
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT string_agg(block::text, ',' ORDER BY block) FROM pg_uring_verify('c_heap', 'main', 10, $lastblk)"),
		"20,500,$lastblk", "[$m] range 10..last");
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT string_agg(block::text, ',' ORDER BY block) FROM pg_uring_verify('c_heap', 'main', first_block => 400)"),
		"500,$lastblk", "[$m] open range 400..");

	# the whole database
	my $cf2 = checksum_failures();
	my ($ret, $out, $err) = $node->psql('postgres',
		"SET pg_uring.io_method = $m; SELECT $cols FROM pg_uring_verify_database() ORDER BY $order");
	is($ret, 0, "[$m] pg_uring_verify_database ran");
	is($out, $expect_db_text,
		"[$m] pg_uring_verify_database lists exactly the broken blocks, the shared catalog's too");
	like($err, qr/NOTICE:  verified \d+ relations \(\d+ blocks\)/,
		"[$m] pg_uring_verify_database reports its counts");
	my $cf3;
	wait_progress(sub { $cf3 = checksum_failures(); $cf3 >= $cf2 + $n_mismatch }, 10);
	cmp_ok($cf3 - $cf2, '>=', $n_mismatch,
		"[$m] checksum_failures rose after pg_uring_verify_database (by " . ($cf3 - $cf2) . ")");
}

# A user who may read c_heap (but not the indexes' table? the indexes are
# c_heap's, so he may verify them too) and nothing else: verify_database
# lists c_heap's blocks, skips and counts the rest.
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT $cols FROM pg_uring_verify_database() ORDER BY $order",
		extra_params => [ '-U', 'c_reader' ]);
	is($ret, 0, 'unprivileged pg_uring_verify_database ran');
	is($out, $expect_text,
		'unprivileged verify_database lists the blocks of the table it may read (no shared catalog)');
	like($err, qr/DETAIL:  Skipped \d+ relations you may not read/,
		'unprivileged verify_database counts the skipped relations');
	my ($ret2, $out2, $err2) = $node->psql('postgres',
		"SELECT * FROM pg_uring_verify('c_clean')",
		extra_params => [ '-U', 'c_reader' ]);
	like($err2, qr/permission denied for table c_clean/, 'no SELECT, no verify');
}

# The failures were real: core agrees when it reads block 3.  The failed read
# leaves a buffer with block 3's tag but without BM_VALID; verify must not
# take that for a good cached copy.
{
	my ($ret, $out, $err) = $node->psql('postgres',
		"SELECT pg_prewarm('c_heap', 'buffer', 'main', 3, 3)");
	like($err, qr/invalid page in block 3 of relation/, 'core fails to read block 3 too');
	for my $m (@methods)
	{
		is( $node->safe_psql(
				'postgres',
				"SET pg_uring.io_method = $m; SELECT string_agg(block || ':' || reason, ',') FROM pg_uring_verify('c_heap', 'main', 0, 10)"),
			'3:checksum mismatch',
			"[$m] block 3 still reported after core's failed read (no valid buffer to judge)");
	}
}

# Repair: rewrite the damaged relations; everything is clean again.
$node->safe_psql(
	'postgres', q{
SET zero_damaged_pages = on;
VACUUM FULL pg_shdescription;
VACUUM FULL c_heap;
REINDEX TABLE c_heap;
});
for my $m (@methods)
{
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT count(*) FROM pg_uring_verify_database()"),
		'0', "[$m] clean after repair");
}
ok($node->safe_psql('postgres', 'SELECT 1') eq '1', 'server still up');

$node->stop;
done_testing();
