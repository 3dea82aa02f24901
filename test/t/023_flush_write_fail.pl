# Copyright (c) pg_uring authors
#
# Issue 4, TAP 4: writes that fail.  The relation's segment file is made
# unwritable (chmod 0400 while the server runs; the ring worker and the
# sync path open the file per request, so the open fails with EACCES).
#   - pg_uring_flush and pg_uring_evict raise an ERROR that names the file
#     and the block;
#   - the buffers stay dirty (never "clean without having been written"),
#     stay cached, are not left pinned, and are not stuck in I/O (a second
#     attempt tries again and fails again instead of skipping them, and the
#     checkpoint below does not hang on them);
#   - after the file is writable again a CHECKPOINT persists them: after an
#     immediate stop (redo starts past the UPDATE) the new rows are there,
#     and pg_checksums passes;
#   - a failed flush can simply be retried.
# Both io_method = io_uring and sync.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;
use FlushTestLib;

my $node = flush_node('flush_fail');
my ($ring_up, $why) = ring_check($node);

my $locked;
END { chmod(0600, $locked) if $locked; }

# chmod the main fork's segment, run $sql, chmod back; returns (rc, out, err).
sub with_unwritable
{
	my ($file, $method, $sql) = @_;
	chmod(0400, $file) or die "chmod $file: $!";
	$locked = $file;
	my @r = sql_rc($node, 'postgres', "SET pg_uring.io_method = $method; $sql");
	return @r;
}

sub writable
{
	my ($file) = @_;
	chmod(0600, $file) or die "chmod $file: $!";
	$locked = undef;
}

my @tables;
for my $method ('io_uring', 'sync')
{
	if ($method eq 'io_uring' && !$ring_up)
	{
	  SKIP: { skip "$why: io_uring round", 1; }
		next;
	}
	my $t = "wf_$method";
	push @tables, $t;
	flush_make_table($node, $t, 6000, "UPDATE $t SET v = v + 1;");
	my $md5 = table_md5($node, 'postgres', $t);
	my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('$t')");
	my $file = $node->data_dir . "/$relpath";
	my ($dirty0, $res0) = split /\|/, rel_dirty($node, 'postgres', $t, 0);
	cmp_ok($dirty0, '>', 100, "[$method] $dirty0 dirty buffers in the main fork");
	my ($max_lsn) = split /\|/, rel_page_lsns($node, 'postgres', $t);

	# flush
	my ($rc, $out, $err) = with_unwritable($file, $method, "SELECT * FROM pg_uring_flush('$t')");
	isnt($rc, 0, "[$method] pg_uring_flush fails when the file is not writable");
	like($err, qr/could not write block \d+ in file "\Q$relpath\E": Permission denied/,
		"[$method] the error names the file and the block");
	note("[$method] flush error: $err");
	is(rel_dirty($node, 'postgres', $t, 0), "$dirty0|$res0",
		"[$method] every buffer is still dirty and still cached after the failed flush");
	is(pinned_buffers($node, 'postgres', $t), '0', "[$method] no buffer left pinned");

	# again: the buffers are not stuck in I/O, so they are tried (and fail) again
	($rc, $out, $err) = sql_rc($node, 'postgres',
		"SET pg_uring.io_method = $method; SELECT * FROM pg_uring_flush('$t')");
	isnt($rc, 0, "[$method] a second flush tries again (no buffer stuck in I/O) and fails again");
	like($err, qr/could not write block \d+ in file "\Q$relpath\E"/, "[$method] ... naming the file");

	# evict
	($rc, $out, $err) = sql_rc($node, 'postgres',
		"SET pg_uring.io_method = $method; SELECT * FROM pg_uring_evict('$t')");
	isnt($rc, 0, "[$method] pg_uring_evict fails too");
	like($err, qr/could not write block \d+ in file "\Q$relpath\E": Permission denied/,
		"[$method] the evict error names the file and the block");
	is(rel_dirty($node, 'postgres', $t, 0), "$dirty0|$res0",
		"[$method] nothing evicted, nothing marked clean");
	is(pinned_buffers($node, 'postgres', $t), '0', "[$method] no buffer left pinned");
	writable($file);

	# Space freed / file writable again: a CHECKPOINT persists them.
	my $ok = eval {
		$node->safe_psql('postgres', 'CHECKPOINT', timeout => hang_timeout());
		1;
	};
	ok($ok, "[$method] CHECKPOINT completes (no buffer stuck in I/O)") or diag($@);
	is(rel_dirty($node, 'postgres', $t), "0|" . (split /\|/, rel_dirty($node, 'postgres', $t))[1],
		"[$method] the CHECKPOINT wrote them: no dirty buffer left");
	my $redo = $node->safe_psql('postgres', 'SELECT redo_lsn FROM pg_control_checkpoint()');
	ok(lsn_cmp($redo, $max_lsn) >= 0, "[$method] redo starts past the UPDATE");
	$node->stop('immediate');
	$node->start;
	is(table_md5($node, 'postgres', $t), $md5,
		"[$method] the updated rows survived the immediate stop");

	# A failed flush can be retried once the file is writable.
	$node->safe_psql('postgres', "UPDATE $t SET v = v + 1 WHERE id % 2 = 0");
	$md5 = table_md5($node, 'postgres', $t);
	my ($dirty1) = split /\|/, rel_dirty($node, 'postgres', $t);
	($rc, $out, $err) = with_unwritable($file, $method, "SELECT * FROM pg_uring_flush('$t')");
	isnt($rc, 0, "[$method] flush fails again while unwritable");
	writable($file);
	$out = $node->safe_psql('postgres',
		"SET pg_uring.io_method = $method; SELECT flushed FROM pg_uring_flush('$t')");
	is($out, $dirty1, "[$method] the retry writes all $dirty1 dirty buffers");
	is((split /\|/, rel_dirty($node, 'postgres', $t))[0], '0', "[$method] now clean");
	$node->safe_psql('postgres', "SELECT pg_uring_evict('$t')");
	is(table_md5($node, 'postgres', $t), $md5, "[$method] read back from disk: same content");
}

flush_oracle($node, 'postgres', 'after the failed writes', @tables);
$node->stop;
done_testing();
