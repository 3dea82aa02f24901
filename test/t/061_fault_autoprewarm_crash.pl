# Copyright (c) pg_uring authors
#
# Issue 10: a crash in the middle of an autoprewarm dump leaves the previous
# dump intact (docs/design.md section 6).  Testing build: dump_delay stalls
# pg_uring_autoprewarm_dump_now() half-way through writing (and flushing)
# its temporary file; the backend is killed with SIGKILL there, so the
# postmaster restarts the cluster.  Then:
#   - the dump is byte for byte the previous one, the half-written
#     temporary file is what the crash left;
#   - the next dump (after the restart) replaces the dump and leaves no
#     temporary file.
# Meanwhile the worker's interval dump gives up waiting for the stuck one
# after 10 s (logged), so that it never holds up a shutdown.  The same crash
# during the worker's own dump is not repeated: it is the same code
# (dump_write), serialized by the same lock.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PgUringTest;
use FlushTestLib;

my $node = pgu_node('apw_crash',
	conf => "shared_buffers = 64MB\npg_uring.autoprewarm = on\npg_uring.autoprewarm_interval = 0\n");
fault_setup_or_skip($node);
my $dump = $node->data_dir . '/pg_uring_autoprewarm.blocks';

$node->safe_psql('postgres',
	'CREATE TABLE apw_t AS SELECT g, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 50000) g');
my $n1 = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
cmp_ok($n1, '>', 100, "the first dump lists $n1 blocks");
my $first = slurp_file($dump);

# more cached blocks, so that the next dump differs from the first
$node->safe_psql('postgres',
	'CREATE TABLE apw_u AS SELECT g, repeat(md5(g::text), 4) AS pad FROM generate_series(1, 50000) g');

fault_set($node, 'dump_delay', 'stall');
my $s = bg_start($node, 'postgres', 'SELECT pg_uring_autoprewarm_dump_now()', app => 'apw_dumper');
my $pid = bg_backend_pid($s);
like($pid, qr/^\d+$/, "the dumping backend runs ($pid)");
# held: the temporary file has its header and exactly the first half of
# its lines (flushed before the stall), and stays so
sub half_written
{
	return 0 unless -f "$dump.tmp";
	my $t = slurp_file("$dump.tmp");
	my ($h) = $t =~ /^<<(\d+)>>\n/ or return 0;
	my $l = () = $t =~ /\n/g;
	return $l - 1 == int($h / 2);
}
ok(wait_progress(\&half_written), 'the dump is held half-way through its temporary file');
usleep(300_000);
ok(half_written(), '... and stays there');
my $tmp = slurp_file("$dump.tmp");
my ($tmp_n) = $tmp =~ /^<<(\d+)>>\n/;
ok(defined $tmp_n && $tmp_n > $n1, "the temporary file is the new dump's (<<$tmp_n>>)");
my $tmp_lines = () = $tmp =~ /\n/g;
cmp_ok($tmp_lines - 1, '<', $tmp_n, 'and only part of it is written (' . ($tmp_lines - 1) . " of $tmp_n lines)");
is(slurp_file($dump), $first, 'meanwhile the dump is still the first one');

# The worker's own dumps do not wait for a stuck one without bound: with a
# dump every second, it gives up after 10 s, says so, and keeps the dump.
my $off = -s $node->logfile;
$node->safe_psql('postgres', 'ALTER SYSTEM SET pg_uring.autoprewarm_interval = 1; SELECT pg_reload_conf()');
ok( eval {
		$node->wait_for_log(
			qr/could not dump the shared buffer list to "pg_uring_autoprewarm.blocks".*\n.*DETAIL:  Another dump did not finish within 10000 ms/,
			$off);
		1;
	},
	'the worker gives up waiting for the stuck dump after 10 s, with the reason');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pg_uring.autoprewarm_interval; SELECT pg_reload_conf()');
is(slurp_file($dump), $first, 'the dump is still the first one');

$off = -s $node->logfile;
is(kill('KILL', $pid), 1, 'SIGKILL of the backend in the middle of the dump');
my $r = bg_finish($s);
isnt($r->{rc}, 0, 'the dump did not complete');
ok(wait_crash_restart($node, $off), 'crash restart, the server is ready');

is(slurp_file($dump), $first, 'after the crash the dump is the first one, byte for byte');
ok(-e "$dump.tmp", 'the half-written temporary file is what the crash left');

fault_reset($node);
my $n2 = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
cmp_ok($n2, '>', 0, "the next dump lists $n2 blocks");
like(slurp_file($dump), qr/^<<$n2>>\n/, 'and replaces the dump');
my $whole = slurp_file($dump);
my $lines = () = $whole =~ /^\d+,\d+,\d+,\d+,\d+$/mg;
is($lines, $n2, 'whole: one line per block');
like($whole, qr/\n#pg_uring system_identifier=\d+ usage=[\d:,]+\n\z/, 'whole: our last line ends it');
ok(!-e "$dump.tmp", 'no temporary file is left');

$node->stop;
done_testing();
