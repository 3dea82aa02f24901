# Copyright (c) pg_uring authors
#
# Issue 4 / DESIGN.md section 3, invariants 3 and 5: the write path must not
# wait for a buffer content lock while it holds I/O-in-progress on other
# buffers.  Core's FlushBuffer never does (it holds the I/O of exactly one
# buffer, and only that buffer's content lock); a batched writer that takes
# BM_IO_IN_PROGRESS on block X, keeps it while the batch fills, and then
# blocks in LockBuffer(Y, SHARE) can deadlock, undetectably (LWLocks and
# the buffer I/O condition variable), with:
#   - the checkpointer, which holds X's content lock in share mode in
#     SyncOneBuffer and waits in WaitIO for our I/O on X;
#   - a btree page split, which holds the full leaf Y exclusively and waits
#     for X, Y's right sibling, exclusively (btree locks siblings
#     left-to-right in key order, which need not be block order).
#
# The schedule is made deterministic by pausing the flushing backend with
# gdb at its LockBuffer() call for Y (it then holds the I/O on X), starting
# the checkpoint and the split, and letting it go.  The flush (and the
# checkpoint, and the insert) must then finish.  Skipped without gdb or on
# other architectures than x86_64 (the breakpoint condition reads the first
# argument from %rdi).

use strict;
use warnings;

use Config;
use FindBin;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
require "$FindBin::RealBin/029_flush_lib.pm";
FlushTestLib->import;

plan skip_all => 'needs x86_64 (breakpoint condition on %rdi)'
  unless $Config{archname} =~ /x86_64/;
plan skip_all => 'needs gdb to pause the flushing backend'
  unless eval { IPC::Run::run([ 'gdb', '--version' ], '>', \my $o, '2>', \my $e) };

my $wait = 30;    # seconds: bound for what must not hang (a deadlock is forever)

my $node = flush_node('flush_deadlock');
ring_wait_settled($node);
if (!gdb_usable(aux_pid($node, 'checkpointer')))
{
	$node->stop;
	plan skip_all => 'gdb cannot attach to the server processes (ptrace not permitted)';
}

# An index whose leaf chain has a page L with a right sibling R at a lower
# block number: ascending keys, then many keys into the first leaf's range
# (each split puts the upper half on a new, higher block whose right
# sibling is the old, lower one).  ~400-byte keys: ~18 per leaf.
$node->safe_psql(
	'postgres', q{
CREATE TABLE bt (k text) WITH (autovacuum_enabled = off);
ALTER TABLE bt ALTER COLUMN k SET STORAGE PLAIN;
CREATE INDEX bt_k ON bt (k) WITH (deduplicate_items = off);
INSERT INTO bt SELECT 'k' || lpad((i * 1000)::text, 7, '0') || repeat('x', 390) FROM generate_series(1, 200) i;
INSERT INTO bt SELECT 'k' || lpad((1000 + i)::text, 7, '0') || repeat('y', 390) FROM generate_series(1, 150) i;
});
my ($L, $R) = split /\|/, $node->safe_psql(
	'postgres', q{
SELECT blkno || '|' || btpo_next
  FROM generate_series(1, pg_relation_size('bt_k') / 8192 - 1) b,
       LATERAL bt_page_stats('bt_k', b::int)
 WHERE type = 'l' AND btpo_next <> 0 AND btpo_next < blkno
 ORDER BY blkno DESC LIMIT 1});
ok(defined $R && $R < $L, "leaf L = $L has its right sibling R = $R at a lower block");

# Key prefixes of L and R (first 8 characters), for inserts that land there.
sub page_max_key
{
	my ($blk) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT max(left(t.k, 8)) FROM bt_page_items('bt_k', $blk) i JOIN bt t ON t.ctid = i.htid});
}
my $lkey = page_max_key($L);
my $rkey = page_max_key($R);

$node->safe_psql('postgres', 'CHECKPOINT');
# Dirty R (one key into it) and fill L so that the next insert splits it.
$node->safe_psql('postgres', "INSERT INTO bt VALUES ('${rkey}' || repeat('z', 390))");
my $n = 0;
while ($node->safe_psql('postgres', "SELECT free_size FROM bt_page_stats('bt_k', $L)") >= 420)
{
	$n++;
	$node->safe_psql('postgres', "INSERT INTO bt VALUES ('${lkey}' || repeat('z', 390) || '$n')");
	die "L does not fill up" if $n > 40;
}
my $stats = $node->safe_psql('postgres',
	"SELECT free_size || ' ' || btpo_next FROM bt_page_stats('bt_k', $L)");
like($stats, qr/^\d+ $R$/, "L is full (free, next: $stats) and still followed by R");
my $dirty = $node->safe_psql(
	'postgres', qq{
SELECT string_agg(relblocknumber::text, ',' ORDER BY relblocknumber) FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('bt_k') AND relforknumber = 0 AND isdirty});
like(",$dirty,", qr/,$R,(?:.*,)?$L,/, "R and L are dirty (dirty index blocks: $dirty)");
my $lbuf = $node->safe_psql(
	'postgres', qq{
SELECT bufferid FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('bt_k') AND relforknumber = 0 AND relblocknumber = $L});

# The flushing session, idle for now.
my $F = bg_start($node, 'postgres', undef, app => 'dl_flush');
my $fpid = bg_backend_pid($F);
like($fpid, qr/^\d+$/, "flushing backend $fpid");

# gdb: stop the flush at LockBuffer(L's buffer).
my ($gin, $gout) = (
	"set pagination off\nset confirm off\nhandle all nostop noprint pass\n"
	  . "break LockBuffer if \$rdi == $lbuf\ncontinue\n", '');
my $gdb = IPC::Run::start([ 'gdb', '-q', '-nx', '-p', $fpid ],
	'<', \$gin, '>&', \$gout, IPC::Run::timeout(4 * $wait));
ok(wait_progress(sub { $gdb->pump_nb; $gout =~ /Continuing/ }, $wait),
	'gdb attached to the flushing backend')
  or diag($gout);

$F->{in} .= "SELECT * FROM pg_uring_flush('bt_k');\n";
my $hit = wait_progress(sub { bg_pump($F); $gdb->pump_nb; $gout =~ /Breakpoint 1,/ }, $wait);
ok($hit, "the flush reached LockBuffer(L) holding the I/O on R") or diag($gout);

# The checkpointer comes to R and waits for our I/O on it, holding R's
# content lock in share mode.
my $C = bg_start($node, 'postgres', 'CHECKPOINT', app => 'dl_ckpt');
ok( wait_progress(
		sub {
			$gdb->pump_nb;
			$node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'checkpointer' AND wait_event = 'BufferIO'"
			) eq '1';
		},
		$wait),
	'the checkpointer waits for the flush\'s I/O (BufferIO)');

# A split of L: holds L exclusively, waits for R exclusively.
my $W = bg_start($node, 'postgres', "INSERT INTO bt VALUES ('${lkey}' || repeat('w', 390))",
	app => 'dl_split');
ok( wait_progress(
		sub {
			$gdb->pump_nb;
			$node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dl_split' AND wait_event = 'BufferContent'"
			) eq '1';
		},
		$wait),
	'the split waits for the right sibling\'s content lock');

# Let the flush go on.
$gin .= "delete\ndetach\nquit\n";
ok(eval { $gdb->finish; 1 }, 'gdb detached') or eval { $gdb->kill_kill };

my $done = wait_progress(
	sub {
		bg_pump($F);
		$node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('dl_flush', 'dl_ckpt', 'dl_split') AND state = 'active'"
		) eq '0';
	},
	$wait);
my $act = $node->safe_psql('postgres',
	"SELECT pid, coalesce(application_name, '') app, backend_type, wait_event_type, wait_event, left(query, 50) "
	  . "FROM pg_stat_activity WHERE backend_type IN ('client backend', 'checkpointer') "
	  . "AND pid <> pg_backend_pid() ORDER BY pid");
ok($done, "flush, checkpoint and split all finish within $wait s (no deadlock)")
  or diag("still waiting after $wait s:\n$act");

if (!$done)
{
	# LWLock waits cannot be cancelled: crash the node to end them.
	$node->stop('immediate');
	bg_finish($_) for ($F, $C, $W);
	$node->start;
}
else
{
	my $rf = bg_finish($F);
	is($rf->{rc}, 0, 'the flush succeeded') or diag($rf->{err});
	is(bg_finish($C)->{rc}, 0, 'the checkpoint succeeded');
	is(bg_finish($W)->{rc}, 0, 'the insert succeeded');
}
is($node->safe_psql('postgres', 'SELECT count(*) FROM bt'),
	$node->safe_psql('postgres', 'SET enable_seqscan = off; SELECT count(*) FROM bt WHERE k > \'\''),
	'index and heap agree');
flush_oracle($node, 'postgres', 'after the lock-order case', 'bt');
$node->stop;
done_testing();
