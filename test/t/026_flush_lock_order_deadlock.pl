
# Copyright (c) pg_uring authors
#
# Issue 4 / docs/design.md sections 3 and 4: the write path must not
# wait for a buffer content lock while it holds I/O-in-progress on other
# buffers.  Core's FlushBuffer never does (it holds the I/O of exactly one
# buffer, and only that buffer's content lock); a batched writer that takes
# BM_IO_IN_PROGRESS on block R, keeps it while the batch fills, and then
# blocks in LockBuffer(L, SHARE) can deadlock, undetectably (LWLocks and
# the buffer I/O condition variable), with:
#   - a btree page split, which holds the full leaf L exclusively and then
#     locks R, L's right sibling, exclusively (btree locks siblings
#     left-to-right in key order, which need not be block order: here R is
#     at a lower block than L, so a flush in block order reaches R first);
#   - the checkpointer, which holds R's content lock in share mode in
#     SyncOneBuffer and waits in WaitIO for the flush's I/O on R.
#
# pg_uring never waits for a content lock while it holds anything: if the
# share lock is not free right now (pgu_buf_try_share_lock), the buffer is
# deferred, and written after the stream (no I/O, no pins held) by core's
# FlushOneBuffer (flush.c: flush_deferred), counted in pg_uring_stats
# deferred_writes ('sync' row).
#
# The schedule (deterministic):
#   1. the split backend S inserts into the full leaf L; gdb stops it in
#      _bt_split's _bt_getbuf(R, BT_WRITE): S holds L exclusively now and
#      is about to lock R;
#   2. the flushing backend F runs pg_uring_flush on the index: it writes
#      R, finds L's content lock taken and must defer it, then waits for L
#      holding nothing (gdb on F reports where F takes L's share lock:
#      LockBuffer called from flush_deferred);
#   3. a CHECKPOINT comes to the dirty buffers and waits behind S too;
#   4. S is let go.
# Flush, checkpoint and insert must then all finish within 30 s (a deadlock
# is forever), L's buffer must end clean, and the index and heap intact.
# Skipped (skip_all) without gdb, where gdb cannot attach (ptrace not
# permitted), and on other architectures than x86_64 (the breakpoint
# condition reads the arguments from %rsi and %rdx).

use strict;
use warnings;

use Config;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

plan skip_all => 'needs x86_64 (breakpoint condition on %rsi/%rdx)'
  unless $Config{archname} =~ /x86_64/;
plan skip_all => 'needs gdb to pause the splitting backend'
  unless eval { IPC::Run::run([ 'gdb', '--version' ], '>', \my $o, '2>', \my $e) };

my $wait = 30;    # seconds: hang detector (a deadlock is forever)

my $node = flush_node('flush_deadlock');
ring_wait_settled($node);
if (!gdb_usable(aux_pid($node, 'checkpointer')))
{
	$node->stop;
	plan skip_all => 'gdb cannot attach to the server processes (ptrace not permitted)';
}
# The flush goes through the ring when it is up; the deferral does not
# depend on the path, so the scenario runs either way.
my ($ring_up, $why) = ring_check($node);
note("flush path: " . ($ring_up ? 'io_uring' : "sync ($why)"));

my @gdbs;    # gdb handles to get rid of if we die
END { for my $g (@gdbs) { eval { $g->kill_kill }; } }

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
my $rows = 350;
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
$rows++;
my $n = 0;
while ($node->safe_psql('postgres', "SELECT free_size FROM bt_page_stats('bt_k', $L)") >= 420)
{
	$n++;
	$node->safe_psql('postgres', "INSERT INTO bt VALUES ('${lkey}' || repeat('z', 390) || '$n')");
	$rows++;
	die "L does not fill up" if $n > 40;
}
my $stats = $node->safe_psql('postgres',
	"SELECT free_size || ' ' || btpo_next FROM bt_page_stats('bt_k', $L)");
like($stats, qr/^\d+ $R$/, "L is full (free, next: $stats) and still followed by R");
my $dirty_sql = qq{
SELECT string_agg(relblocknumber::text, ',' ORDER BY relblocknumber) FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('bt_k') AND relforknumber = 0 AND isdirty};
my $dirty = $node->safe_psql('postgres', $dirty_sql);
like(",$dirty,", qr/,$R,(?:.*,)?$L,/, "R and L are dirty (dirty index blocks: $dirty)");

# An idle session; returns (session, backend pid).
sub idle_session
{
	my ($app) = @_;
	my $s = bg_start($node, 'postgres', undef,
		stdin => "SELECT 'PID:' || pg_backend_pid();\n", app => $app,
		timeout => 10 * $wait);
	wait_progress(sub { bg_pump($s); $s->{out} =~ /PID:\d+/ || !$s->{h}->pumpable }, $wait);
	my ($pid) = $s->{out} =~ /PID:(\d+)/;
	$s->{out} = '';
	return ($s, $pid // '');
}

# gdb attached to $pid running $script (after the common preamble);
# returns (handle, \input, \output) once it is past 'continue'.
sub gdb_start
{
	my ($pid, $script) = @_;
	my $in = "set pagination off\nset confirm off\nhandle all nostop noprint pass\n$script";
	my $out = '';
	my $h = IPC::Run::start([ 'gdb', '-q', '-nx', '-p', $pid ],
		'<', \$in, '>&', \$out, IPC::Run::timeout(10 * $wait));
	push @gdbs, $h;
	my $ok = wait_progress(sub { eval { $h->pump_nb }; $out =~ /Continuing/ }, $wait);
	return ($h, \$in, \$out, $ok);
}

sub gdb_end
{
	my ($h, $in) = @_;
	$$in .= "detach\nquit\n";
	my $ok = eval { $h->finish; 1 };
	diag("gdb: $@") unless $ok;
	eval { $h->kill_kill } unless $ok;
	@gdbs = grep { $_ != $h } @gdbs;
	return $ok;
}

sub activity
{
	return $node->safe_psql('postgres',
		"SELECT pid, coalesce(application_name, ''), backend_type, wait_event_type, wait_event, state, left(query, 50) "
		  . "FROM pg_stat_activity WHERE backend_type IN ('client backend', 'checkpointer') "
		  . "AND pid <> pg_backend_pid() ORDER BY pid");
}

sub wait_event_of
{
	my ($where) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(coalesce(wait_event, '-'), ','), '') FROM pg_stat_activity WHERE $where");
}

# 1. The split, stopped holding L exclusively, just before it locks R.
my ($S, $spid) = idle_session('dl_split');
like($spid, qr/^\d+$/, "splitting backend $spid");
my ($sgdb, $sgin, $sgout, $sok) = gdb_start($spid,
	"break _bt_getbuf if (\$rsi & 0xffffffff) == $R && (\$rdx & 0xffffffff) == 2\n"
	  . "commands 1\nbt 12\nend\ncontinue\n");
ok($sok, 'gdb attached to the splitting backend') or diag($$sgout);
$S->{in} .= "INSERT INTO bt VALUES ('${lkey}' || repeat('w', 390));\n";
$rows++;
my $shit = wait_progress(sub { bg_pump($S); eval { $sgdb->pump_nb }; $$sgout =~ /^#\d+ .*_bt_doinsert/m }, $wait);
ok($shit, "the split stopped in _bt_getbuf(R = $R, BT_WRITE), holding L")
  or diag($$sgout);
like($$sgout, qr/Breakpoint 1, .*_bt_getbuf/, 'gdb: breakpoint hit in _bt_getbuf (the sibling lock of _bt_split)');

# 2. The flush.  gdb reports where it takes L's content lock in share mode
# (LockBuffer(L's buffer, BUFFER_LOCK_SHARE)) and detaches: in
# flush_deferred, after the stream, if the busy buffer was deferred.
my $lbuf = $node->safe_psql(
	'postgres', qq{
SELECT bufferid FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('bt_k') AND relforknumber = 0 AND relblocknumber = $L});
like($lbuf, qr/^\d+$/, "L is in buffer $lbuf");
my $def0 = $node->safe_psql('postgres',
	"SELECT deferred_writes FROM pg_uring_stats WHERE method = 'sync'");
my ($F, $fpid) = idle_session('dl_flush');
like($fpid, qr/^\d+$/, "flushing backend $fpid");
my ($fgdb, $fgin, $fgout, $fok) = gdb_start($fpid,
	"break LockBuffer if (\$rdi & 0xffffffff) == $lbuf && (\$rsi & 0xffffffff) == 1\n"
	  . "commands 1\nbt 4\ndetach\nquit\nend\ncontinue\n");
ok($fok, 'gdb attached to the flushing backend') or diag($$fgout);
$F->{in} .= "SELECT flushed || '|' || redirtied || '|' || skipped FROM pg_uring_flush('bt_k');\n";
ok( wait_progress(
		sub {
			bg_pump($F);
			eval { $fgdb->pump_nb };
			wait_event_of("application_name = 'dl_flush' AND state = 'active'") eq 'BufferContent';
		},
		$wait),
	'the flush waits for L\'s content lock')
  or diag(activity());

# 3. The checkpoint: waits behind the split (L's content lock), or, if the
# flush held I/O while waiting, for that I/O.
my $C = bg_start($node, 'postgres', 'CHECKPOINT', app => 'dl_ckpt', timeout => 10 * $wait);
my $ckpt_wait = '';
ok( wait_progress(
		sub {
			eval { $fgdb->pump_nb };
			$ckpt_wait = wait_event_of("backend_type = 'checkpointer'");
			$ckpt_wait =~ /^(BufferContent|BufferIO)$/;
		},
		$wait),
	"the checkpointer is held up by a buffer (waits on $ckpt_wait)")
  or diag(activity());

# 4. Let the split go on.
ok($shit && gdb_end($sgdb, $sgin), 'gdb detached from the splitting backend');

my $done = wait_progress(
	sub {
		bg_pump($F);
		bg_pump($S);
		eval { $fgdb->pump_nb };
		$node->safe_psql('postgres',
			"SELECT count(*) FROM pg_stat_activity WHERE application_name IN ('dl_flush', 'dl_ckpt', 'dl_split') AND state = 'active'"
		) eq '0';
	},
	$wait);
my $act = activity();
ok($done, "flush, checkpoint and split all finish within $wait s (no deadlock)")
  or diag("still waiting after $wait s:\n$act");

if (!$done)
{
	# LWLock waits cannot be cancelled: crash the node to end them (a gdb
	# still attached then sees its process exit and reads its quit).
	$node->stop('immediate');
	bg_finish($_) for ($F, $C, $S);
	$node->start;
	fail('the flush succeeded');
	fail('the checkpoint succeeded');
	fail('the insert succeeded');
}
else
{
	$F->{in} .= "\\q\n";
	$S->{in} .= "\\q\n";
	my $rf = bg_finish($F);
	is($rf->{rc}, 0, "the flush succeeded (flushed|redirtied|skipped: " . ($rf->{out} =~ s/\s+$//r) . ")")
	  or diag($rf->{err});
	my $rc = bg_finish($C);
	is($rc->{rc}, 0, 'the checkpoint succeeded') or diag($rc->{err});
	my $rs = bg_finish($S);
	is($rs->{rc}, 0, 'the insert succeeded') or diag($rs->{err});
}
note("gdb on the split:\n" . join("\n", $$sgout =~ /^(#\d.*)$/mg));
note("gdb on the flush:\n" . join("\n", $$fgout =~ /^(#\d.*)$/mg));
# Both backends are gone now: a gdb that is still there quits.
gdb_end($sgdb, $sgin) unless $shit;
gdb_end($fgdb, $fgin);
like($$fgout, qr/Breakpoint 1, .*LockBuffer.*\n(?:.*\n)*?#1 +(?:0x\S+ in )?flush_deferred \(/,
	'gdb: the flush took L\'s lock in flush_deferred (the busy buffer was deferred)')
  or diag($$fgout =~ s/^(Reading symbols|\(No debugging).*\n//mgr);

my $def1 = $node->safe_psql('postgres',
	"SELECT deferred_writes FROM pg_uring_stats WHERE method = 'sync'");
cmp_ok($def1 - $def0, '>=', 1, "pg_uring_stats.deferred_writes rose (by " . ($def1 - $def0) . ")");

is( $node->safe_psql(
		'postgres', qq{
SELECT coalesce(string_agg(isdirty::text, ','), 'not resident') FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('bt_k') AND relforknumber = 0 AND relblocknumber = $L}),
	'false',
	"L's buffer ends clean");

is($node->safe_psql('postgres', 'SELECT count(*) FROM bt'), $rows, "the heap has all $rows rows");
is( $node->safe_psql('postgres',
		"SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM bt WHERE k > ''"),
	$rows,
	'an index scan finds all of them');
flush_oracle($node, 'postgres', 'after the lock-order case', 'bt');
$node->stop;
done_testing();
