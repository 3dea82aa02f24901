
# Copyright (c) pg_uring authors
#
# The ring worker runs on hot standbys too (issue 2: "running on primaries
# and hot standbys").  Buffer-mode prewarm on a standby races with WAL
# replay, which writes the same pages through core's buffer manager.  On a
# standby, buffer mode reads the blocks ahead through the ring into the OS
# page cache only, and the pages enter shared buffers only through core's
# ReadBufferExtended (the same read path replay and every backend use), so a
# replayed page is never overwritten with an older copy from disk.  (This is
# becoming true on primaries too: buffer mode no longer claims buffers on
# PostgreSQL 15.)  The test makes the race happen: each prewarm iteration
# notes whether replay advanced while it ran, and a floor on the number of
# such iterations is asserted; afterwards the standby must equal the primary.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgUringTest;

my $secs = soak() ? 120 : 15;
# at least this many prewarm iterations, and as many that overlap replay
my $min_iters = soak() ? 60 : 15;
my $primary = pgu_node(
	'primary',
	init => { allows_streaming => 1 },
	conf => qq{
shared_buffers = 48MB
checkpoint_timeout = 30s
max_wal_size = 128MB
# pgbench's WAL outruns a standby busy prewarming on 2 CPUs: keep it, or
# the walsender finds the segments it still has to send removed
wal_keep_size = 1GB
});
my $nblocks = make_table($primary, 'postgres', 't', 64);
my $nrows = $primary->safe_psql('postgres', 'SELECT count(*) FROM t');

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
# Replay waits for the (short) prewarm statements instead of cancelling them
# with recovery conflicts once the standby lags behind.
$standby->append_conf(
	'postgresql.conf', qq{
hot_standby_feedback = on
max_standby_streaming_delay = -1
});
$standby->start;
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'standby is in recovery');
my $wpid = wait_for_worker($standby);
like($wpid, qr/^\d+$/, 'the ring worker runs on the standby');
my ($ring_up, $why) = ring_check($standby);

# Cold standby: prewarm returns what pg_prewarm would, and the content is right.
$standby->restart;
ring_wait_settled($standby);
$wpid = wait_for_worker($standby);
is($standby->safe_psql('postgres', "SELECT pg_uring_prewarm('t')"),
	$nblocks, 'prewarm on the standby counts every block');
is(table_md5($standby, 'postgres', 't'), table_md5($primary, 'postgres', 't'),
	'standby content equals the primary after prewarm');

# Updates on the primary, replayed on the standby, while the standby prewarms
# the same table (larger than shared_buffers: every pass re-reads) in a loop.
my $script = $primary->basedir . '/update.sql';
PostgreSQL::Test::Utils::append_to_file(
	$script, qq{
\\set id random(1, $nrows)
UPDATE t SET v = v + 1 WHERE id = :id;
});
my $loop = "SELECT clock_timestamp() + interval '$secs seconds' AS end_ts \\gset\n";
for my $i (1 .. $secs * 50)
{
	$loop .= "SELECT pg_last_wal_replay_lsn() AS r0 \\gset\n";
	$loop .= "SELECT pg_uring_prewarm('t', 'buffer');\n";
	$loop .= "SELECT pg_uring_prewarm('t_pkey', 'buffer');\n" if $i % 2;
	# did replay advance while this iteration ran?
	$loop .= "SELECT 'ITER', pg_last_wal_replay_lsn() > :'r0'::pg_lsn;\n";
	$loop .= "SELECT clock_timestamp() > :'end_ts'::timestamptz AS done \\gset\n";
	$loop .= "\\if :done\n\\q\n\\endif\n";
}
my $loop_file = $standby->basedir . '/loop.sql';
PostgreSQL::Test::Utils::append_to_file($loop_file, $loop);
my $before = stats_row($standby, 'io_uring');
my $prewarmer = bg_start($standby, 'postgres', undef, file => $loop_file,
	app => 'standby_prewarmer', timeout => $secs * 3 + hang_timeout());

my ($pgb_out, $pgb_err) = ('', '');
my $pgb = IPC::Run::start(
	[
		'pgbench', '-n', '-c', '2', '-j', '2', '-T', $secs, '-f', $script,
		'-h', $primary->host, '-p', $primary->port, 'postgres'
	],
	'>', \$pgb_out, '2>', \$pgb_err,
	IPC::Run::timeout($secs + hang_timeout()));
ok(eval { $pgb->finish; 1 }, 'pgbench on the primary finished') or diag("$@ $pgb_err");
my ($committed) = $pgb_out =~ /number of transactions actually processed: (\d+)/;
ok(defined $committed && $committed > 0, 'pgbench committed updates') or diag($pgb_out);
note("pgbench committed $committed updates");

my $r = bg_finish($prewarmer);
ok(!$r->{timed_out}, 'standby prewarm loop did not hang');
is($r->{rc}, 0, 'standby prewarm loop ran without errors') or diag($r->{err});
my $iters = () = $r->{out} =~ /^ITER\|/mg;
my $concurrent = () = $r->{out} =~ /^ITER\|t$/mg;
cmp_ok($iters, '>=', $min_iters, "standby prewarm loop ran ($iters iterations)");
cmp_ok($concurrent, '>=', $min_iters,
	"replay advanced during $concurrent of the $iters prewarm iterations (floor $min_iters)");
my $after = stats_row($standby, 'io_uring');
SKIP:
{
	skip $why, 1 unless $ring_up;
	cmp_ok($after->{blocks_read} - $before->{blocks_read}, '>', $nblocks,
		"the standby read blocks ahead through the ring during replay");
}

$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', 'SELECT sum(v) FROM t'), $committed,
	'standby: sum(v) equals the committed updates');
is(table_md5($standby, 'postgres', 't'), table_md5($primary, 'postgres', 't'),
	'standby content equals the primary');
$primary->safe_psql('postgres', 'CREATE EXTENSION amcheck');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', "SELECT count(*) FROM verify_heapam('t')"),
	'0', 'standby: verify_heapam(t) reports nothing');
my ($ret, $out, $err) = $standby->psql('postgres', "SELECT bt_index_check('t_pkey', true)");
is($ret, 0, 'standby: bt_index_check passes') or diag($err);
is(worker_pid($standby), $wpid, 'same ring worker on the standby');

my $log = slurp_log_from($standby, 0);
unlike($log, qr/PANIC|was terminated by signal|invalid page|checksum verification failed/,
	'no PANIC, crash, invalid page or checksum failure in the standby log');

$standby->stop;
$primary->stop;
done_testing();
