# Copyright (c) pg_uring authors
#
# Issue 4, TAP 2: flush, then CHECKPOINT, then an immediate stop.  The pages
# written by pg_uring_flush must survive, and the fsync bookkeeping must be
# in place (docs/design.md section 4: RegisterSyncRequest before the
# buffer is called clean).
#
# How this proves the bookkeeping rather than just the write:
#   - the UPDATE does not extend any file (HOT updates into free space; the
#     sizes are checked), so nobody but pg_uring registers its segments for
#     the checkpointer's fsync;
#   - after the flush no buffer of the relation is dirty, so the checkpoint
#     does not write (and therefore does not register) them either;
#   - with log_checkpoints and DEBUG1, the checkpointer logs every file it
#     fsyncs ("checkpoint sync: number=N file=PATH").  The relation's main
#     fork and visibility map must be among them: only the flush's
#     RegisterSyncRequest can have put them there.
# Then the immediate stop: the checkpoint's redo point is past the UPDATE,
# so recovery does not replay it; the new rows after the restart can only
# come from the pages the flush wrote.  Both io_method = io_uring and sync.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;
use FlushTestLib;

# fsync = on: PostgreSQL::Test::Cluster turns it off, and then the
# checkpointer syncs (and logs) nothing.
my $node = flush_node('flush_ckpt', conf => "fsync = on\nlog_min_messages = debug1\n");
my ($ring_up, $why) = ring_check($node);

my @tables;
for my $method ('io_uring', 'sync')
{
	if ($method eq 'io_uring' && !$ring_up)
	{
	  SKIP: { skip "$why: io_uring round", 1; }
		next;
	}
	my $t = "ck_$method";
	push @tables, $t;
	flush_make_table($node, $t, 12000);
	my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('$t')");
	my $sizes_sql =
	  "SELECT pg_relation_size('$t') || ' ' || pg_relation_size('$t', 'fsm') || ' ' || "
	  . "pg_relation_size('$t', 'vm') || ' ' || pg_relation_size('${t}_pkey')";
	my $sizes = $node->safe_psql('postgres', $sizes_sql);

	$node->safe_psql('postgres', "UPDATE $t SET v = v + 1");
	is($node->safe_psql('postgres', $sizes_sql), $sizes,
		"[$method] the UPDATE extended no file (nobody else registered a sync request)");
	my $md5 = table_md5($node, 'postgres', $t);
	my ($dirty) = split /\|/, rel_dirty($node, 'postgres', $t);
	cmp_ok($dirty, '>', 0, "[$method] $dirty dirty buffers after the UPDATE");
	my ($max_lsn) = split /\|/, rel_page_lsns($node, 'postgres', $t);

	my $res = $node->safe_psql('postgres',
		"SET pg_uring.io_method = $method; SELECT flushed || ' ' || redirtied FROM pg_uring_flush('$t')");
	my ($flushed, $redirtied) = split / /, $res;
	is($flushed, $dirty, "[$method] pg_uring_flush wrote every dirty buffer ($flushed)");
	my ($dirty_after) = split /\|/, rel_dirty($node, 'postgres', $t);
	is($dirty_after, 0, "[$method] no buffer of the relation is dirty after the flush");

	my $off = -s $node->logfile;
	$node->safe_psql('postgres', 'CHECKPOINT');
	$node->wait_for_log(qr/checkpoint complete/, $off);
	my $log = slurp_log_from($node, $off);
	like($log, qr/checkpoint sync: number=\d+ file=\Q$relpath\E time=/,
		"[$method] the checkpoint fsynced the main fork the flush wrote ($relpath)");
	like($log, qr/checkpoint sync: number=\d+ file=\Q${relpath}_vm\E time=/,
		"[$method] the checkpoint fsynced the visibility map the flush wrote");

	my $redo = $node->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
	ok(lsn_cmp($redo, $max_lsn) >= 0,
		"[$method] the checkpoint's redo point ($redo) is past the UPDATE's pages ($max_lsn): recovery will not replay it");

	$off = -s $node->logfile;
	$node->stop('immediate');
	$node->start;
	like(slurp_log_from($node, $off), qr/database system was interrupted/,
		"[$method] crash recovery ran");
	my ($max_after) = split /\|/, rel_page_lsns($node, 'postgres', $t);
	is($max_after, $max_lsn, "[$method] the pages after the restart are the ones the flush wrote (same LSNs)");
	is(table_md5($node, 'postgres', $t), $md5,
		"[$method] the updated rows survived the immediate stop");
	is($node->safe_psql('postgres', "SELECT count(*) FROM $t WHERE v <> 1"), '0',
		"[$method] every row has the new value");
}

flush_oracle($node, 'postgres', 'after the immediate stops', @tables);
$node->stop;
done_testing();
