
# Copyright (c) pg_uring authors
#
# A ring of 4 entries (the minimum) must prewarm a large table correctly:
# io_uring_get_sqe returning NULL (SQ full) needs back-pressure, not a drop
# and not a PANIC (docs/design.md section 8).  Results must equal pg_prewarm's,
# the pages installed by the ring must be the ones on disk, and the SQ-full
# waits must be counted.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $mb = soak() ? 250 : 100;
my $node = pgu_node(
	'small_ring', conf => qq{
shared_buffers = 320MB
pg_uring.ring_entries = 4
});
my $st = ring_skip_unless_up($node);

is($node->safe_psql('postgres', 'SELECT ring_entries FROM pg_uring_status'),
	'4', 'pg_uring_status shows ring_entries = 4');

my $nblocks = make_table($node, 'postgres', 't', $mb);
cmp_ok($nblocks, '>=', $mb * 128 * 0.95, "table has ~$mb MB ($nblocks blocks)");
my $md5 = table_md5($node, 'postgres', 't');

# Oracles from contrib pg_prewarm.
my %want;
$want{buffer} = $node->safe_psql('postgres', "SELECT pg_prewarm('t', 'buffer')");
$want{read} = $node->safe_psql('postgres', "SELECT pg_prewarm('t', 'read')");
$want{range} = $node->safe_psql('postgres',
	"SELECT pg_prewarm('t', 'buffer', 'main', 17, $nblocks - 23)");
$want{index} = $node->safe_psql('postgres', "SELECT pg_prewarm('t_pkey', 'buffer')");
is($want{buffer}, $nblocks, 'pg_prewarm oracle counts every block');

# Cold shared buffers: every block must come through the ring.
$node->restart;
ring_wait_settled($node);
is(rel_buffers($node, 'postgres', 't'), '0', 'no block of t cached after restart');

my $before = stats_row($node, 'io_uring');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'buffer')"),
	$want{buffer}, 'buffer prewarm through a 4-entry ring returns pg_prewarm\'s count');
my $after = stats_row($node, 'io_uring');
cmp_ok($after->{blocks_read} - $before->{blocks_read},
	'>=', $nblocks, 'the ring read every block of t');
cmp_ok($after->{enter_calls} - $before->{enter_calls},
	'>', 0, 'io_uring_enter was called');
is(rel_buffers($node, 'postgres', 't'), $nblocks,
	'every block of t is in shared buffers after the prewarm');
is(pinned_buffers($node, 'postgres', 't'), '0', 'no buffer of t left pinned');
is(table_md5($node, 'postgres', 't'), $md5,
	'content read back from ring-installed buffers equals the oracle');

# Read mode (OS cache) through the small ring.
$before = stats_row($node, 'io_uring');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'read')"),
	$want{read}, 'read prewarm through a 4-entry ring returns pg_prewarm\'s count');
$after = stats_row($node, 'io_uring');
cmp_ok($after->{blocks_read} - $before->{blocks_read},
	'>=', $nblocks, 'read mode read every block through the ring');

# A range and an index, cold again.
$node->restart;
ring_wait_settled($node);
is( $node->safe_psql(
		'postgres', "SELECT pg_uring_prewarm('t', 'buffer', 'main', 17, $nblocks - 23)"),
	$want{range}, 'range prewarm returns pg_prewarm\'s count');
is( $node->safe_psql(
		'postgres',
		"SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('t') "
		  . "AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) "
		  . "AND relforknumber = 0 AND (relblocknumber < 17 OR relblocknumber > $nblocks - 23)"),
	'0', 'range prewarm loaded no block outside the range');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t_pkey', 'buffer')"),
	$want{index}, 'index prewarm returns pg_prewarm\'s count');
is( $node->safe_psql(
		'postgres',
		"SET enable_seqscan = off; SET enable_bitmapscan = off; "
		  . "SELECT count(*) FROM t WHERE id BETWEEN 1000 AND 1999"),
	'1000', 'index scan over ring-installed index pages works');

# Scattered blocks: every 7th block.
my $scattered = $node->safe_psql('postgres',
	"SELECT pg_uring_prewarm_blocks('t', (SELECT array_agg(b) FROM generate_series(0, $nblocks - 1, 7) b)::int8[])");
is($scattered, int(($nblocks - 1) / 7) + 1, 'pg_uring_prewarm_blocks counts the listed blocks');

# Content after a cold prewarm of everything.
$node->restart;
ring_wait_settled($node);
$node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'buffer')");
is(table_md5($node, 'postgres', 't'), $md5, 'content equal after restart + ring prewarm');

# Other request shapes through the small ring: O_DIRECT (PostgreSQL 15's
# shared buffers are not 4 kB aligned: staging memory must be used where
# needed), one block per readv, one request in flight.
for my $variant (
	[ 'direct_io', "SET pg_uring.direct_io = on;" ],
	[ 'combine_limit=1', "SET pg_uring.combine_limit = 1;" ],
	[ 'queue_depth=1', "SET pg_uring.queue_depth = 1;" ],
	[ 'direct_io, combine_limit=3', "SET pg_uring.direct_io = on; SET pg_uring.combine_limit = 3;" ])
{
	my ($name, $set) = @$variant;
	$node->restart;
	ring_wait_settled($node);
	my $b = stats_row($node, 'io_uring');
	is($node->safe_psql('postgres', "$set SELECT pg_uring_prewarm('t', 'buffer')"),
		$want{buffer}, "[$name] buffer prewarm count");
	my $a = stats_row($node, 'io_uring');
	cmp_ok($a->{blocks_read} - $b->{blocks_read}, '>=', $nblocks, "[$name] the ring read every block");
	is(rel_buffers($node, 'postgres', 't'), $nblocks, "[$name] every block cached");
	is(table_md5($node, 'postgres', 't'), $md5, "[$name] content equal");
	is($node->safe_psql('postgres', "$set SELECT pg_uring_prewarm('t', 'read')"),
		$want{read}, "[$name] read prewarm count");
}
note($node->safe_psql('postgres',
	'SELECT buffers_dio_aligned, dio_mem_align, dio_offset_align, staging_bytes FROM pg_uring_status'));

my $stats = stats_row($node, 'io_uring');
cmp_ok($stats->{sq_full_waits}, '>', 0, 'SQ-full waits counted with a 4-entry ring');
is($stats->{errors}, '0', 'no I/O errors counted');
note(explain($stats));

# SQPOLL (a kernel thread polls the 4-entry SQ).  Where the kernel or a
# seccomp profile refuses an SQPOLL ring, the worker serves everything
# synchronously: then these checks are skipped (with the reason), since they
# would only test the sync path.
$node->append_conf('postgresql.conf', 'pg_uring.sqpoll = on');
$node->restart;
$st = ring_wait_settled($node);
my $sqpoll = $node->safe_psql('postgres',
	"SELECT coalesce(sqpoll::text, '') || '|' || coalesce(ring_up::text, '') FROM pg_uring_status");
note("with sqpoll: ring_up=$st->{ring_up} ring_state=$st->{ring_state} reason=$st->{reason} (sqpoll|ring_up: $sqpoll)");
SKIP:
{
	skip "SQPOLL ring refused here: $st->{reason}", 5 unless $st->{ring_up} eq 't';
	is($sqpoll, 'true|true', '[sqpoll] pg_uring_status: the ring is up with SQPOLL');
	my $b = stats_row($node, 'io_uring');
	is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'buffer')"),
		$want{buffer}, '[sqpoll] buffer prewarm count');
	my $a = stats_row($node, 'io_uring');
	cmp_ok($a->{blocks_read} - $b->{blocks_read}, '>=', $nblocks,
		'[sqpoll] the SQPOLL ring read every block');
	is(rel_buffers($node, 'postgres', 't'), $nblocks, '[sqpoll] every block cached');
	is(table_md5($node, 'postgres', 't'), $md5, '[sqpoll] content equal');
}

# The server log has no PANIC/crash.
my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|terminated by signal|server process .* was terminated/,
	'no PANIC or crash in the log');

$node->stop;
done_testing();
