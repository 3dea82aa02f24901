# Copyright (c) pg_uring authors
#
# Issue 8 (fault injection, the testing build): writes and closes that fail
# during pg_uring_flush of a dirtied table, on the ring path and on the sync
# path.
#   - write EIO: the flush fails with an ERROR (SQLSTATE 58030) naming the
#     file and, in its detail, the block range of the failed I/O; those
#     buffers stay dirty (and cached, unpinned, not stuck in I/O: a
#     CHECKPOINT afterwards writes them); after a crash restart the data
#     (md5 oracle taken before the flush) is intact;
#   - close EIO, data_sync_retry = on: the flush fails with "could not close
#     file"; every buffer stays dirty (all closes fail, so no write is
#     called durable); data intact after a CHECKPOINT and a crash restart;
#   - close EIO, data_sync_retry = off (the default): the same fault PANICs
#     the server, as md.c/fd.c do; it restarts with crash recovery and the
#     data is intact.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;
use FlushTestLib;

my $node = flush_node('fault_flush', conf => "data_sync_retry = on\n");
fault_setup_or_skip($node);
my ($ring_up, $why) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
note("ring down ($why): only the sync path") unless $ring_up;

# psql with VERBOSITY verbose; (rc, out, err)
sub vpsql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err);
	return ($rc, $out // '', $err // '');
}

# dirty buffers of $t's main fork among blocks $x..$y, and resident ones
sub range_dirty
{
	my ($t, $x, $y) = @_;
	return $node->safe_psql(
		'postgres', qq{
SELECT count(*) FILTER (WHERE isdirty) || '|' || count(*) FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('$t')
   AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND relforknumber = 0 AND relblocknumber BETWEEN $x AND $y});
}

# A fresh dirtied table: (md5 oracle, dirty count of the main fork, path)
sub dirty_table
{
	my ($t) = @_;
	flush_make_table($node, $t, 6000, "UPDATE $t SET v = v + 1;");
	my $md5 = table_md5($node, 'postgres', $t);
	my ($dirty) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
	my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('$t')");
	return ($md5, $dirty, $relpath);
}

sub path_used
{
	my ($tag, $method, $s0) = @_;
	check_served_by($tag, $method, stats_delta($s0, stats_snapshot($node)), 'the writes');
}

# CHECKPOINT (hang detector), then crash, then the oracle.
sub checkpoint_crash_check
{
	my ($tag, $t, $md5) = @_;
	my $ok = eval {
		$node->safe_psql('postgres', 'CHECKPOINT', timeout => hang_timeout());
		1;
	};
	ok($ok, "$tag a CHECKPOINT afterwards completes (no buffer stuck in I/O)") or diag($@);
	is((split /\|/, rel_dirty($node, 'postgres', $t))[0], '0',
		"$tag ... and writes the buffers the flush left dirty");
	$node->stop('immediate');
	$node->start;
	is(table_md5($node, 'postgres', $t), $md5, "$tag data intact after a crash restart");
	fault_setup($node);
}

my @tables;

# --- write EIO --------------------------------------------------------------
for my $method (@methods)
{
	my $tag = "[$method/write eio]";
	my $t = "fw_$method";
	push @tables, $t;
	my ($md5, $dirty0, $relpath) = dirty_table($t);
	cmp_ok($dirty0, '>', 300, "$tag $dirty0 dirty buffers before the flush");

	fault_set($node, 'write', 'eio', skip => 10, count => 1);
	my $s0 = stats_snapshot($node);
	my ($rc, $out, $err) = vpsql(
		"SET pg_uring.io_method = $method; SELECT * FROM pg_uring_flush('$t');");
	is(fault_hits($node, 'write'), '1', "$tag the fault fired once");
	fault_reset($node);
	note("$tag $err");
	isnt($rc, 0, "$tag pg_uring_flush fails");
	like($err, qr/ERROR:  58030: could not write block \d+ in file "\Q$relpath\E": Input\/output error/,
		"$tag ERROR 58030 naming the file and the errno");
	my ($blk) = $err =~ /could not write block (\d+)/;
	my ($x, $y) = $err =~ /DETAIL:  The failed I\/O covered blocks (\d+) to (\d+)\./;
	ok(defined $y, "$tag the detail names the block range of the failed I/O");
	$blk //= -1;
	$x //= 0;
	$y //= -1;
	ok($x <= $blk && $blk <= $y, "$tag block $blk lies in $x..$y");
	my $n = $y - $x + 1;
	cmp_ok($n, '>=', 1, "$tag the failed I/O covered $n blocks");
	is(range_dirty($t, $x, $y), "$n|$n", "$tag every buffer of the failed I/O is still dirty and cached");
	my ($dirty1) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
	ok($dirty1 >= $n && $dirty1 <= $dirty0, "$tag $dirty1 of $dirty0 buffers still dirty");
	is(pinned_buffers($node, 'postgres', $t), '0', "$tag no buffer left pinned");
	path_used($tag, $method, $s0);
	checkpoint_crash_check($tag, $t, $md5);
}

# --- close EIO, data_sync_retry = on: ERROR ---------------------------------
for my $method (@methods)
{
	my $tag = "[$method/close eio/data_sync_retry=on]";
	my $t = "fc_$method";
	push @tables, $t;
	my ($md5, $dirty0, $relpath) = dirty_table($t);
	my ($dirty_all, $res_all) = split /\|/, rel_dirty($node, 'postgres', $t);
	cmp_ok($dirty0, '>', 300, "$tag $dirty0 dirty buffers before the flush");

	# every close fails: no write of the flush may be called clean
	fault_set($node, 'close', 'eio', count => -1);
	my $s0 = stats_snapshot($node);
	my ($rc, $out, $err) = vpsql(
		"SET pg_uring.io_method = $method; SELECT * FROM pg_uring_flush('$t');");
	cmp_ok(fault_hits($node, 'close'), '>=', 1, "$tag the fault fired");
	fault_reset($node);
	note("$tag $err");
	isnt($rc, 0, "$tag pg_uring_flush fails");
	like($err, qr/ERROR:  58030: could not close file "\Q$relpath\E": Input\/output error/,
		"$tag ERROR 'could not close file' naming the file");
	is(rel_dirty($node, 'postgres', $t), "$dirty_all|$res_all",
		"$tag every buffer is still dirty and cached");
	is(pinned_buffers($node, 'postgres', $t), '0', "$tag no buffer left pinned");
	path_used($tag, $method, $s0);
	checkpoint_crash_check($tag, $t, $md5);
}

# --- close EIO, data_sync_retry = off: PANIC --------------------------------
$node->append_conf('postgresql.conf', "data_sync_retry = off\n");
$node->restart;
fault_setup($node);
is($node->safe_psql('postgres', 'SHOW data_sync_retry'), 'off', 'data_sync_retry is off now');
ring_wait_settled($node) if $ring_up;
for my $method (@methods)
{
	my $tag = "[$method/close eio/data_sync_retry=off]";
	my $t = "fp_$method";
	push @tables, $t;
	my ($md5, $dirty0, $relpath) = dirty_table($t);
	cmp_ok($dirty0, '>', 300, "$tag $dirty0 dirty buffers before the flush");

	my $log_off = -s $node->logfile;
	fault_set($node, 'close', 'eio', count => 1);
	my ($rc, $out, $err) = vpsql(
		"SET pg_uring.io_method = $method; SELECT * FROM pg_uring_flush('$t');");
	note("$tag $err");
	isnt($rc, 0, "$tag pg_uring_flush does not return");
	like($err, qr/PANIC:  58030: could not close file "\Q$relpath\E": Input\/output error|server closed the connection|connection to server was lost/,
		"$tag the session got the PANIC or lost its connection");
	ok(wait_crash_restart($node, $log_off), "$tag the server restarted with crash recovery");
	my $log = slurp_log_from($node, $log_off);
	like($log, qr/PANIC:  could not close file "\Q$relpath\E": Input\/output error/,
		"$tag the log has the PANIC naming the file");
	like($log, qr/terminated by signal 6/, "$tag the postmaster saw the backend abort");
	like($log, qr/database system was not properly shut down; automatic recovery in progress/,
		"$tag crash recovery ran");
	fault_setup($node);
	is(fault_hits($node, 'close'), '0', "$tag the fault points were reset by the restart");
	is(table_md5($node, 'postgres', $t), $md5, "$tag data intact after crash recovery");
	ring_wait_settled($node) if $ring_up;
}

# the flushes work again, and everything is consistent
for my $method (@methods)
{
	my $t = "fw_$method";
	$node->safe_psql('postgres', "UPDATE $t SET v = v + 1 WHERE id % 3 = 0");
	my ($dirty) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
	is($node->safe_psql('postgres',
			"SET pg_uring.io_method = $method; SELECT flushed || ':' || skipped FROM pg_uring_flush('$t')"),
		"$dirty:0", "[$method] a flush without faults writes all $dirty dirty buffers");
}
flush_amcheck($node, 'postgres', 'after the faults', @tables);
$node->stop;
done_testing();
