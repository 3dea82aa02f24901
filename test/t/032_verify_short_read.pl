
# Copyright (c) pg_uring authors
#
# Short reads are reported, not crashed on (issue 5, TAP test 3; docs/design.md
# section 5: a 0-byte read is an error that names the file and the block).
#
# 1. With the server stopped, a heap file is cut to 10.5 blocks.  md.c then
#    sees 10 blocks; pg_uring_verify must verify them (clean) and report the
#    trailing half block as one 'short read' row at block 10, under both io
#    methods, with no ERROR, and the server must stay up.
# 2. A file truncated while a (throttled) verify is scanning it: every block
#    that is gone is a 'short read' row, the blocks before it are clean, the
#    statement ends normally and the server stays up.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $node = pgu_node('vshort');
my $st = ring_wait_settled($node);
my @methods = ('sync');
if ($st->{ring_up} eq 't') { unshift @methods, 'io_uring'; }
else { diag("io_uring not available ($st->{reason}): only the sync path is tested"); }

my $cols = "relation, fork_name, block, reason, coalesce(expected_checksum::text, ''), "
  . "coalesce(found_checksum::text, ''), coalesce(detail, '')";

# ---------------------------------------------------------------------------
# 1. a file cut to 10.5 blocks while the server is stopped
my $n = make_table($node, 'postgres', 'sr', 0.2, no_pkey => 1);
cmp_ok($n, '>', 11, "sr has $n blocks");
$node->safe_psql('postgres', 'CHECKPOINT');
my $file = $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('sr')");
my $pm_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
$node->stop;
truncate($file, 10 * 8192 + 4096) or die "truncate $file: $!";
is(-s $file, 10 * 8192 + 4096, 'heap file cut to 10.5 blocks');
$node->start;
ring_wait_settled($node) if $st->{ring_up} eq 't';
$pm_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

is($node->safe_psql('postgres', "SELECT pg_relation_size('sr') / 8192"),
	'10', 'core sees 10 whole blocks');

for my $m (@methods)
{
	for my $args ("'sr'", "'sr', 'main'", "'sr', 'main', 5", "'sr', NULL")
	{
		my ($ret, $out, $err) = $node->psql('postgres',
			"SET pg_uring.io_method = $m; SELECT $cols FROM pg_uring_verify($args)");
		is($ret, 0, "[$m] pg_uring_verify($args) did not fail") or diag($err);
		my @rows = split /\n/, $out;
		is(scalar(@rows), 1, "[$m] pg_uring_verify($args) returned one row") or diag($out);
		like($rows[0] // '', qr/^sr\|main\|10\|short read\|\|\|.*4096/,
			"[$m] ($args) short read at block 10, detail names the 4096 trailing bytes");
	}
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT count(*) FROM pg_uring_verify('sr', 'main', 0, 9)"),
		'0', "[$m] blocks 0..9 are clean");
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = $m; SELECT string_agg(block || ':' || reason, ',') FROM pg_uring_verify_database()"),
		'10:short read', "[$m] pg_uring_verify_database reports it too");
}
is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$pm_start, 'server still up, no crash-restart');
is($node->safe_psql('postgres', 'SELECT count(*) FROM sr'), 10 * 4, 'the 10 whole blocks still read');

# ---------------------------------------------------------------------------
# 2. truncated under a running verify
my $n2 = make_table($node, 'postgres', 'sr2', 4, no_pkey => 1);
$node->safe_psql('postgres', 'CHECKPOINT');
my $file2 = $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('sr2')");
my $cut = 300;
cmp_ok($n2, '>', $cut + 100, "sr2 has $n2 blocks");

for my $m (@methods)
{
	# the file is cut at $cut blocks; put it back to full length between runs
	my $orig = PostgreSQL::Test::Utils::slurp_file($file2);
	my $s = bg_start($node, 'postgres',
		"SET pg_uring.io_method = $m; SET pg_uring.verify_rate_limit = 2; "
		  . "SELECT $cols FROM pg_uring_verify('sr2', 'main')",
		app => "short_$m");
	my $pid = bg_backend_pid($s);
	my $seen = wait_progress(
		sub {
			bg_pump($s);
			my $d = $node->safe_psql('postgres',
				"SELECT coalesce(max(blocks_done), -1) FROM pg_uring_progress WHERE pid = $pid");
			return $d >= 0 && $d < $cut - 64;
		},
		30);
	ok($seen, "[$m] verify is running below block $cut");
	truncate($file2, $cut * 8192) or die "truncate: $!";
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "[$m] verify of a file truncated under it ended");
	is($r->{rc}, 0, "[$m] no ERROR") or diag($r->{err});
	my @rows = split /\n/, $r->{out};
	my @blocks = map { (split /\|/)[2] } @rows;
	my @reasons = grep { !/^sr2\|main\|\d+\|short read\|/ } @rows;
	is(scalar(@reasons), 0, "[$m] every row is a short read of sr2") or diag(join("\n", @reasons));
	is_deeply(\@blocks, [ $cut .. $n2 - 1 ],
		"[$m] one short-read row per missing block ($cut.." . ($n2 - 1) . ")")
	  or diag("got blocks: @blocks");
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$pm_start, "[$m] server still up");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_progress'),
		'0', "[$m] no progress row left");
	# restore the file for the next method
	open(my $fh, '>:raw', $file2) or die;
	print $fh $orig;
	close($fh);
}

my $stats = stats_snapshot($node);
note("errors counted: io_uring $stats->{io_uring}{errors}, sync $stats->{sync}{errors}; "
	  . "short_ios: io_uring $stats->{io_uring}{short_ios}, sync $stats->{sync}{short_ios}");
my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|was terminated by signal/, 'no PANIC or crash in the log');

$node->safe_psql('postgres', 'DROP TABLE sr, sr2');
$node->stop;
done_testing();
