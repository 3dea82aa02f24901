# Copyright (c) pg_uring authors
#
# Issue 4, TAP 3: WAL before data (docs/design.md section 4).
# synchronous_commit = off and a bulk UPDATE leave pages whose LSN is past
# the WAL flush point; pg_uring_flush must XLogFlush up to them before it
# writes them.
#
# To make that observable, nobody else may flush WAL meanwhile: the WAL
# writer is stopped with SIGSTOP, the bgwriter writes no buffers
# (bgwriter_lru_maxpages = 0), no checkpoint runs, and the sessions that
# look at the pages write no WAL.  Then:
#   - precondition: max(page LSN) of the relation > pg_current_wal_flush_lsn();
#   - after pg_uring_flush: every page's LSN <= pg_current_wal_flush_lsn();
#   - a last async UPDATE whose WAL stays in wal_buffers, then an immediate
#     stop with the WAL writer still stopped (the postmaster SIGKILLs it), so
#     the unwritten WAL tail is really lost.  After crash recovery no page on
#     disk may carry an LSN past the end of the recovered WAL (the redo
#     point of the end-of-recovery checkpoint): a page written before its WAL
#     was flushed would.  The table holds one of the committed states, and
#     amcheck and pg_checksums are clean.
# Both io_method = io_uring and sync.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;
use FlushTestLib;

my $node = flush_node('flush_async', conf => "wal_buffers = 16MB\n");
my ($ring_up, $why) = ring_check($node);

my $stopped_pid;
END { kill('CONT', $stopped_pid) if $stopped_pid; }

my @tables;
for my $method ('io_uring', 'sync')
{
	my $t = "aw_$method";
	push @tables, $t;
	flush_make_table($node, $t, 12000);
	my $md5_0 = table_md5($node, 'postgres', $t);
	my $ring_w0 = ring_written($node);

	my $ww = aux_pid($node, 'walwriter');
	like($ww, qr/^\d+$/, "[$method] found the WAL writer ($ww)");
	is(kill('STOP', $ww), 1, "[$method] WAL writer stopped");
	$stopped_pid = $ww;

	$node->safe_psql('postgres',
		"SET synchronous_commit = off; UPDATE $t SET v = v + 1");
	my $md5_1 = table_md5($node, 'postgres', $t);
	my ($max_lsn, $min_lsn, $nblocks) = split /\|/, rel_page_lsns($node, 'postgres', $t);
	my $flush0 = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
	ok(lsn_cmp($max_lsn, $flush0) > 0,
		"[$method] precondition: page LSNs ($max_lsn) are past the WAL flush point ($flush0)");

	my $res = $node->safe_psql('postgres',
		"SET pg_uring.io_method = $method; SELECT flushed FROM pg_uring_flush('$t')");
	cmp_ok($res, '>=', $nblocks, "[$method] pg_uring_flush wrote the relation ($res buffers, $nblocks blocks)");
	my $flush1 = $node->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
	my $beyond = $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM generate_series(0, $nblocks - 1) b,
       LATERAL page_header(get_raw_page('$t', 'main', b::int)) h
 WHERE h.lsn > '$flush1'});
	is($beyond, '0',
		"[$method] after the flush, WAL is flushed ($flush1) past every written page's LSN (max $max_lsn)");
	my ($dirty) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
	is($dirty, '0', "[$method] the main fork is clean");
	if ($method eq 'io_uring')
	{
	  SKIP:
		{
			skip $why, 1 unless $ring_up;
			is(ring_written($node) - $ring_w0, $res,
				"[$method] the ring did the writes (every block the flush wrote)");
		}
	}

	# A last transaction whose WAL (and commit) stays in wal_buffers.
	$node->safe_psql('postgres',
		"SET synchronous_commit = off; UPDATE $t SET v = v + 100 WHERE id = 1");
	my $md5_2 = table_md5($node, 'postgres', $t);

	my $off = -s $node->logfile;
	$node->stop('immediate');    # the postmaster SIGKILLs the stopped WAL writer
	$stopped_pid = undef;
	$node->start;
	like(slurp_log_from($node, $off), qr/database system was interrupted/,
		"[$method] crash recovery ran");

	# Before anything reads the table (hint bits would log new WAL).
	my $redo = $node->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
	my ($disk_max) = split /\|/, rel_page_lsns($node, 'postgres', $t);
	ok(lsn_cmp($disk_max, $redo) <= 0,
		"[$method] no page after recovery is ahead of the recovered WAL (max page LSN $disk_max, end of WAL $redo)");
	unlike(slurp_log_from($node, $off), qr/xlog flush request .* is not satisfied|invalid page|PANIC/,
		"[$method] recovery logged no WAL/page error");

	my $md5 = table_md5($node, 'postgres', $t);
	my %state = ($md5_0 => 'before the UPDATE', $md5_1 => 'after the bulk UPDATE',
		$md5_2 => 'after the last UPDATE');
	ok(exists $state{$md5}, "[$method] the table is in a committed state after recovery")
	  and note("[$method] state after recovery: $state{$md5}");
	is( $node->safe_psql('postgres', "SELECT count(DISTINCT v) FROM $t WHERE id > 1"),
		'1', "[$method] all rows from the same transaction");
}

flush_oracle($node, 'postgres', 'after the crashes', @tables);
$node->stop;
done_testing();

sub ring_written
{
	my ($n) = @_;
	return $n->safe_psql('postgres',
		"SELECT blocks_written FROM pg_uring_stats WHERE method = 'io_uring'");
}
