# Copyright (c) pg_uring authors
#
# Issue 9: zero-copy buffer-mode prewarm on PostgreSQL 17 (docs/design.md,
# "Zero-copy reads on 17"): the ring reads straight into shared buffers that
# StartReadBuffers pinned and pg_uring claimed; the worker ends the claims.
# This file tries to break it:
#   - the path is taken (DEBUG1 signal) and every block ends up valid, with
#     the content oracle unchanged, and the ring counting the reads;
#   - concurrent readers of the same blocks (seq scans, index scans) while a
#     slowed prewarm claims them: every result equals the oracle;
#   - btree page splits and new pages while the index is prewarmed, again
#     and again (evicted in between): bt_index_check with heapallindexed;
#   - a corrupt page on disk: the claim fails it, core reads it again and
#     reports it once (core's own ERROR, one checksum failure), and
#     ignore_checksum_failure still works as core's does;
#   - testing build: EIO, a failed short read (EOF) and a retried short
#     transfer: an ERROR naming the file, nothing invalid visible;
#   - cancel during a stalled completion: the cancel waits for the worker
#     (never gives up on a claimed read), then ends; a reader of the
#     claimed block waits for the worker too, and gets the right data;
#   - a stalled worker (nothing taken off the queue): a cancel takes the
#     queued claiming batches back and ends their claims; a waiting reader
#     goes on;
#   - two prewarms with a stalled worker that is then terminated: both end,
#     core reads what the ring did not;
#   - a group that claims nothing before a segment boundary;
#   - the worker killed while claims are in flight: crash restart, data
#     intact.
# After each: no pinned buffer, every slot free, the oracle unchanged.
# Other majors: skipped with the reason (15 and 18 read through core).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $probe = PostgreSQL::Test::Cluster->new('zc_probe');
if ($probe->pg_version < 17 || $probe->pg_version >= 18)
{
	plan skip_all => 'zero-copy reads exist on PostgreSQL 17 only (15 and 18 read through core)';
}

my $node = pgu_node('zero_copy', conf => "shared_buffers = 64MB\n");
ring_skip_unless_up($node);
my $testing = fault_setup($node);
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck;');

my $nblocks = make_table($node, 'postgres', 't', 16);
$node->safe_psql('postgres', 'CHECKPOINT');
my $md5 = table_md5($node, 'postgres', 't');
my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('t')");

# Evict t and its index from shared buffers (the page cache may keep them:
# the claims are about shared buffers).
sub evict_all
{
	$node->safe_psql('postgres',
		"SELECT pg_uring_evict('t'); SELECT pg_uring_evict('t_pkey');");
	return;
}

sub settled
{
	my ($what) = @_;
	is(pinned_buffers($node, 'postgres'), '0', "$what: no pinned buffer");
	ok(queue_settled($node), "$what: every slot free");
	is(table_md5($node, 'postgres', 't'), $md5, "$what: content oracle unchanged");
	return;
}

# 1. The path, the count, the content.
evict_all();
is(rel_buffers($node, 'postgres', 't'), '0', 't evicted');
my $before = stats_snapshot($node);
my $io0 = $node->safe_psql('postgres',
	"SELECT coalesce(sum(reads), 0) FROM pg_stat_io WHERE object = 'relation' AND context = 'normal'");
my ($rc, $out, $err) = $node->psql('postgres',
	"SET client_min_messages = debug1; SELECT pg_uring_prewarm('t')");
is($rc, 0, 'zero-copy prewarm succeeds');
is($out, $nblocks, 'it returns every block');
like($err, qr/zero-copy into shared buffers/, 'the zero-copy path is taken (DEBUG1)');
is(rel_buffers($node, 'postgres', 't'), $nblocks, 'every block is in shared buffers');
my $d = stats_delta($before, stats_snapshot($node));
cmp_ok($d->{io_uring}{blocks_read}, '>=', $nblocks, 'the ring read the blocks (blocks_read)');
$node->safe_psql('postgres', 'SELECT pg_stat_force_next_flush()');
my $io1 = $node->safe_psql('postgres',
	"SELECT coalesce(sum(reads), 0) FROM pg_stat_io WHERE object = 'relation' AND context = 'normal'");
cmp_ok($io1 - $io0, '>=', $nblocks, 'pg_stat_io counts the reads');
my ($rc2, $out2, $err2) = $node->psql('postgres',
	"SET pg_uring.zero_copy = off; SET client_min_messages = debug1; SELECT pg_uring_prewarm('t')");
unlike($err2, qr/zero-copy/, 'pg_uring.zero_copy = off: read-ahead path');
settled('plain');

# 2. Concurrent readers of the same blocks while a slowed prewarm claims them.
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION reader(n int) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; bad int := 0; i int;
BEGIN
  FOR i IN 1..n LOOP
    SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id))
      INTO r FROM t;
    IF r IS DISTINCT FROM current_setting('zc.oracle') THEN bad := bad + 1; END IF;
    PERFORM count(*) FROM t WHERE id BETWEEN 1000 AND 3000;
  END LOOP;
  RETURN 'bad:' || bad;
END $$;
});
for my $round (1 .. 3)
{
	evict_all();
	fault_set($node, 'install_delay', 'delay', arg => 1) if $testing;
	my @r;
	for my $k (1 .. 2)
	{
		push @r,
		  bg_start($node, 'postgres',
			"SET zc.oracle = '$md5'; SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT reader(3)",
			app => "zc_reader$k");
	}
	my $pw = bg_start($node, 'postgres', "SELECT pg_uring_prewarm('t')", app => 'zc_pw');
	my @res = bg_finish_all($pw, @r);
	fault_reset($node) if $testing;
	is($res[0]{rc}, 0, "round $round: prewarm under concurrent readers succeeds")
	  or diag($res[0]{err});
	for my $k (1 .. 2)
	{
		is($res[$k]{out}, "bad:0\n", "round $round: reader $k saw the oracle every time")
		  or diag($res[$k]{err});
	}
}
settled('concurrent readers');

# 3. Index splits while the index is prewarmed (evicted between rounds).
my $ins = bg_start(
	$node, 'postgres', q{
DO $$
BEGIN
  FOR i IN 1..40 LOOP
    INSERT INTO t SELECT g, 0, repeat(md5(g::text), 59)
      FROM generate_series(1000000 + i * 500, 1000000 + i * 500 + 499) g;
    -- keys in the middle of the index too: splits of inner pages
    UPDATE t SET v = v + 1 WHERE id % 97 = i;
  END LOOP;
END $$;
}, app => 'zc_ins');
my $pwloop = bg_start(
	$node, 'postgres', q{
DO $$
BEGIN
  FOR i IN 1..20 LOOP
    PERFORM pg_uring_evict('t_pkey');
    PERFORM pg_uring_prewarm('t_pkey');
    PERFORM pg_uring_prewarm('t');
  END LOOP;
END $$;
}, app => 'zc_pwloop');
my @sp = bg_finish_all($ins, $pwloop);
is($sp[0]{rc}, 0, 'inserts with splits succeed') or diag($sp[0]{err});
is($sp[1]{rc}, 0, 'prewarm of the index during splits succeeds') or diag($sp[1]{err});
is($node->safe_psql('postgres', "SELECT bt_index_check('t_pkey', true)"), '',
	'bt_index_check(heapallindexed) is clean');
$node->safe_psql('postgres', 'DELETE FROM t WHERE id > 1000000; UPDATE t SET v = 0 WHERE v <> 0; VACUUM t;');
$node->safe_psql('postgres', 'CHECKPOINT');
is(table_md5($node, 'postgres', 't'), $md5, 'content restored after the split rounds');
settled('splits');

# 4. A corrupt page on disk: the claim fails it, core reports it once.
{
	my $victim = 5;
	evict_all();
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->stop;
	my $file = $node->data_dir . '/' . $relpath;
	open(my $fh, '+<', $file) or die "open $file: $!";
	binmode $fh;
	sysseek($fh, $victim * 8192 + 4000, 0);
	syswrite($fh, "zero-copy test corruption") == 25 or die "write: $!";
	close($fh);
	$node->start;
	my $cf0 = $node->safe_psql('postgres',
		"SELECT coalesce(checksum_failures, 0) FROM pg_stat_database WHERE datname = 'postgres'");
	my ($crc, $cout, $cerr) = $node->psql('postgres', "SELECT pg_uring_prewarm('t')");
	isnt($crc, 0, 'corrupt page: the prewarm fails');
	like($cerr, qr/invalid page in block $victim of relation/, "core's own message names the block");
	$node->safe_psql('postgres', 'SELECT pg_stat_force_next_flush()');
	my $cf1 = $node->safe_psql('postgres',
		"SELECT coalesce(checksum_failures, 0) FROM pg_stat_database WHERE datname = 'postgres'");
	is($cf1 - $cf0, 1, 'one checksum failure counted (core\'s), not one per read');
	my $valid = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('t') AND relblocknumber = $victim");
	is($valid, '0', 'the corrupt page is not in shared buffers');
	my ($irc, $iout, $ierr) = $node->psql('postgres',
		"SET ignore_checksum_failure = on; SELECT pg_uring_prewarm('t')");
	is($irc, 0, 'ignore_checksum_failure = on: core accepts it, as core would');
	like($ierr, qr/page verification failed/, "with core's WARNING");
	is(pinned_buffers($node, 'postgres'), '0', 'corrupt page: no pinned buffer');
	# a new table for what follows
	$node->safe_psql('postgres', 'DROP TABLE t;');
	$nblocks = make_table($node, 'postgres', 't', 16);
	$node->safe_psql('postgres', 'CHECKPOINT');
	$md5 = table_md5($node, 'postgres', 't');
	$relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('t')");
}

# 5. Injected failures (testing build).
SKIP:
{
	skip 'needs the testing build of pg_uring (make PGU_TESTING=1)', 15 unless $testing;
	for my $case (['eio', qr/could not read block \d+ in file "\Q$relpath\E/, '58030'],
		['eof', qr/read only \d+ of 8192 bytes/, 'XX001'])
	{
		my ($action, $re, $state) = @$case;
		evict_all();
		fault_set($node, 'read', $action, skip => 3, count => 1);
		my ($frc, $fout, $ferr) = $node->psql('postgres',
			"\\set VERBOSITY verbose\nSELECT pg_uring_prewarm('t')");
		fault_reset($node);
		isnt($frc, 0, "$action: the prewarm fails");
		like($ferr, $re, "$action: the ERROR names the file and block");
		like($ferr, qr/$state/, "$action: SQLSTATE $state");
		settled("$action");
	}
	evict_all();
	fault_set($node, 'read', 'short', count => 5);
	my ($src, $sout, $serr) = $node->psql('postgres', "SELECT pg_uring_prewarm('t')");
	fault_reset($node);
	is($src, 0, 'short transfers: retried, the prewarm succeeds');
	is($sout, $nblocks, 'short transfers: every block');
	is(rel_buffers($node, 'postgres', 't'), $nblocks, 'short transfers: every block cached');
	settled('short');
}

# 6. Cancel while the worker holds the completion; a reader of a claimed
#    block waits for the worker, never for the claimer.
SKIP:
{
	skip 'needs the testing build of pg_uring (make PGU_TESTING=1)', 8 unless $testing;
	evict_all();
	fault_set($node, 'complete_delay', 'delay', count => 1, arg => 3000);
	my $pw = bg_start($node, 'postgres', "SELECT pg_uring_prewarm('t')", app => 'zc_cancel');
	my $pid = bg_backend_pid($pw);
	usleep(500_000);
	my $rd = bg_start($node, 'postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t",
		app => 'zc_waiter');
	usleep(200_000);
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	my @cr = bg_finish_all($pw, $rd);
	fault_reset($node);
	ok(!$cr[0]{timed_out}, 'cancel: the prewarm ends (after the worker completed)');
	like($cr[0]{err} . $cr[0]{out}, qr/canceling statement due to user request|^\d+$/m,
		'cancel: canceled, or done before the cancel came');
	ok(!$cr[1]{timed_out}, 'a reader of the claimed blocks is not stuck');
	like($cr[1]{out}, qr/^\d+$/m, 'the reader gets its count');
	settled('cancel');
}

# 6b. A stalled worker (it takes nothing off the queue): the claiming
#     batches are still queued, so a cancel takes them back after about a
#     second and ends their claims; a reader of those blocks, waiting for the
#     claims, then reads them itself.  Nothing is abandoned, every slot is
#     free, and once the worker serves again a prewarm works.
SKIP:
{
	skip 'needs the testing build of pg_uring (make PGU_TESTING=1)', 12 unless $testing;
	evict_all();
	fault_set($node, 'worker_stall', 'stall');
	my $pw = bg_start($node, 'postgres', "SELECT pg_uring_prewarm('t')", app => 'zc_stall');
	my $pid = bg_backend_pid($pw);
	ok(wait_progress(sub {
		$node->safe_psql('postgres', 'SELECT queued > 0 FROM pg_uring_status') eq 't' }, 30),
		'stalled worker: the claiming batches are queued');
	my $rd = bg_start($node, 'postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM t",
		app => 'zc_stall_reader');
	usleep(300_000);
	my $t0 = time();
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	my @sr = bg_finish_all($pw, $rd);
	my $secs = time() - $t0;
	ok(!$sr[0]{timed_out} && $secs < 30, sprintf('stalled worker: the cancel is answered (%.1f s)', $secs));
	like($sr[0]{err}, qr/canceling statement due to user request/, 'stalled worker: canceled');
	ok(!$sr[1]{timed_out}, 'stalled worker: the reader of the claimed blocks is not stuck');
	like($sr[1]{out}, qr/^\d+$/m, 'stalled worker: the reader gets its count');
	is($node->safe_psql('postgres', 'SELECT abandoned_slots FROM pg_uring_status'), '0',
		'stalled worker: nothing abandoned (the queued batches were taken back)');
	is(pinned_buffers($node, 'postgres'), '0', 'stalled worker: no pinned buffer');
	fault_reset($node);
	settled('stalled worker');
	my ($src, $sout) = $node->psql('postgres', "SELECT pg_uring_prewarm('t')");
	is($sout, $nblocks, 'stalled worker: prewarm works once the worker serves again');
}

# 6c. Two prewarms of the same table with a stalled worker, then the worker
#     terminated (SIGTERM): it fails what is still queued, ending those
#     claims at once; both prewarms finish (core reads what the ring did not),
#     nobody waits on a claim that only a blocked owner could end.
SKIP:
{
	skip 'needs the testing build of pg_uring (make PGU_TESTING=1)', 8 unless $testing;
	evict_all();
	my $wpid = worker_pid($node);
	fault_set($node, 'worker_stall', 'stall');
	my @pws = map {
		bg_start($node, 'postgres', "SELECT pg_uring_prewarm('t')", app => "zc_two$_")
	} (1, 2);
	bg_backend_pid($_) for @pws;
	ok(wait_progress(sub {
		$node->safe_psql('postgres', 'SELECT queued > 0 FROM pg_uring_status') eq 't' }, 30),
		'two prewarms: batches queued to the stalled worker');
	usleep(300_000);
	$node->safe_psql('postgres', "SELECT pg_terminate_backend($wpid)");
	my @tr = bg_finish_all(@pws);
	for my $k (0, 1)
	{
		ok(!$tr[$k]{timed_out}, "two prewarms: prewarm " . ($k + 1) . " ends after the worker stopped");
		is($tr[$k]{rc}, 0, "two prewarms: prewarm " . ($k + 1) . " succeeds (core reads the rest)")
		  or diag($tr[$k]{err});
	}
	fault_reset($node);
	isnt(wait_for_worker($node, $wpid), '', 'two prewarms: the worker is back');
	is(rel_buffers($node, 'postgres', 't'), $nblocks, 'two prewarms: every block cached');
	settled('two prewarms, worker terminated');
}

# 6d. Across a segment boundary (a relation over 1 GB, unlogged to keep the
#     WAL small): a group that claims nothing (the tail of segment 0 is
#     cached) followed by one in segment 1.
{
	$node->safe_psql(
		'postgres', q{
CREATE UNLOGGED TABLE big (id int, pad text) WITH (fillfactor = 10, autovacuum_enabled = off);
ALTER TABLE big ALTER COLUMN pad SET STORAGE PLAIN;
INSERT INTO big SELECT g, repeat('x', 1000) FROM generate_series(1, 131200) g;
});
	my $bigblocks = rel_blocks($node, 'postgres', 'big');
	cmp_ok($bigblocks, '>', 131072 + 64, 'big spans two segments');
	$node->safe_psql('postgres', "SELECT pg_uring_evict('big')");
	$node->safe_psql('postgres', "SELECT pg_prewarm('big', 'buffer', 'main', 131040, 131071)");
	my $got = $node->safe_psql('postgres',
		"SELECT pg_uring_prewarm_blocks('big', ARRAY(SELECT generate_series(131040, 131135)::int8))");
	is($got, 96, 'segment boundary: the list is prewarmed');
	is($node->safe_psql('postgres', qq{
SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('big')
   AND relforknumber = 0 AND relblocknumber BETWEEN 131040 AND 131135}), '96',
		'segment boundary: every listed block is cached');
	$node->safe_psql('postgres', "SELECT pg_uring_evict('big')");
	is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('big', 'buffer', 'main', 131000, 131199)"),
		200, 'segment boundary: a range across it');
	is(pinned_buffers($node, 'postgres'), '0', 'segment boundary: no pinned buffer');
	$node->safe_psql('postgres', 'DROP TABLE big');
}

# 7. The worker killed while claims are in flight: crash restart.
SKIP:
{
	skip 'needs the testing build of pg_uring (make PGU_TESTING=1)', 4 unless $testing;
	evict_all();
	fault_set($node, 'complete_delay', 'delay', arg => 2000);
	my $pw = bg_start($node, 'postgres', "SELECT pg_uring_prewarm('t')", app => 'zc_kill');
	bg_backend_pid($pw);
	usleep(500_000);
	my $wpid = worker_pid($node);
	kill 'KILL', $wpid if $wpid;
	my $kr = bg_finish($pw);
	ok(!$kr->{timed_out}, 'killed worker: the prewarm session ends');
	$node->poll_query_until('postgres', 'SELECT 1', '1');
	wait_for_worker($node);
	fault_reset($node);
	is(table_md5($node, 'postgres', 't'), $md5, 'killed worker: data intact after crash restart');
	my ($krc, $kout) = $node->psql('postgres', "SELECT pg_uring_prewarm('t')");
	is($kout, $nblocks, 'killed worker: prewarm works again');
	is(pinned_buffers($node, 'postgres'), '0', 'killed worker: no pinned buffer');
}

$node->stop;
done_testing();
