# Copyright (c) pg_uring authors
#
# The ring itself fails while I/O is in flight (the testing build's "submit"
# fault: every io_uring_enter of the ring worker fails with EIO while it
# has I/O prepared or in flight).  The worker cannot drain its ring when it
# exits, and I/O it could not drain may still be executing in the kernel:
# were its owners to give up on it, an old copy of a page could land on
# disk after a newer one, or a read in memory that was reused.  So the
# worker must PANIC, and the postmaster restart every process (docs/design.md,
# "8. The ring: setup, refusal, retries").  What must hold:
#   - a flush of dirty buffers through the ring ends (the crash restart
#     ends its session) and does not hang;
#   - the server log has the worker's ERROR and its PANIC naming the I/Os
#     it could not complete, and the server runs crash recovery;
#   - afterwards every committed row is there (the content oracle), the
#     heap and its index pass amcheck, and a new flush writes the table.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $node = pgu_node('ring_failure');
fault_setup_or_skip($node);
ring_skip_unless_up($node);
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');

make_table($node, 'postgres', 't', 16);
$node->safe_psql('postgres', 'CHECKPOINT; UPDATE t SET v = v + 1 WHERE id % 2 = 0');
my $md5 = table_md5($node, 'postgres', 't');
my $dirty = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_buffercache WHERE isdirty AND relfilenode = pg_relation_filenode('t')");
cmp_ok($dirty, '>', 100, "$dirty dirty buffers to flush");

my $off = -s $node->logfile;
fault_set($node, 'submit', 'eio');
my $timed_out = 0;
my ($rc, $out, $err) = $node->psql(
	'postgres', "SELECT * FROM pg_uring_flush('t')",
	timeout => hang_timeout(),
	timed_out => \$timed_out);
ok(!$timed_out, 'the flush ended (did not hang)');
isnt($rc, 0, 'the flush did not succeed');
note("flush: $err");

ok( $node->wait_for_log(qr/pg_uring ring worker could not complete \d+ I\/Os? before exiting/, $off),
	'the worker PANICs: it could not complete its I/O');
like(slurp_file($node->logfile, $off), qr/PANIC:\s+pg_uring ring worker could not complete/,
	'at PANIC level');
like(slurp_file($node->logfile, $off), qr/io_uring_enter\(\) failed: Input\/output error/,
	'after the ERROR of the failed submit');

# the crash restart: every process ends, shared memory is reinitialized
my $up = 0;
my $deadline = time() + hang_timeout();
while (time() < $deadline)
{
	my ($r) = $node->psql('postgres', 'SELECT 1');
	if ($r == 0 && slurp_file($node->logfile, $off) =~ /database system is ready to accept connections/)
	{
		$up = 1;
		last;
	}
	usleep(200_000);
}
ok($up, 'the server restarted');
like(slurp_file($node->logfile, $off), qr/all server processes terminated; reinitializing/,
	'after a crash restart of every process');

fault_reset($node);
is(table_md5($node, 'postgres', 't'), $md5, 'every committed row is there after crash recovery');
is($node->safe_psql('postgres', "SELECT count(*) FROM verify_heapam('t')"), '0', 'amcheck: the heap is clean');
is($node->safe_psql('postgres', "SELECT bt_index_check('t_pkey', true)"), '', 'amcheck: the index is clean');

wait_for_worker($node);
ring_wait_settled($node);
$node->safe_psql('postgres', 'UPDATE t SET v = v + 1 WHERE id % 3 = 0');
my $md5b = table_md5($node, 'postgres', 't');
my $flushed = $node->safe_psql('postgres', "SELECT flushed FROM pg_uring_flush('t')");
cmp_ok($flushed, '>', 0, "a new flush writes the table ($flushed buffers)");
$node->restart;
is(table_md5($node, 'postgres', 't'), $md5b, 'and its content survives a restart');

$node->stop;
done_testing();
