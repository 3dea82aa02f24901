
# Copyright (c) pg_uring authors
#
# DROP TABLE and DROP DATABASE from another session while the ring is busy
# (docs/design.md section 3).  In PostgreSQL 15, DROP DATABASE
# (and DROP TABLESPACE) wait for every process, the ring worker included, to
# absorb a ProcSignal barrier (smgrrelease): a worker that does not absorb it
# makes them hang.  A worker that keeps descriptors of dropped files open
# keeps their disk space allocated.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $mb = soak() ? 300 : 160;
my $node = pgu_node('drop_busy', conf => "shared_buffers = 96MB\n");
my ($ring_up, $why) = ring_check($node);
SKIP: { skip "$why: the worker is idle in this run (the loop reads through the sync path)", 1 unless $ring_up; }

my $nblocks = make_table($node, 'postgres', 'a', $mb);
make_table($node, 'postgres', 'b', 16);
$node->safe_psql('postgres', 'CREATE DATABASE other; CREATE DATABASE used;');
pgu_setup_db($node, 'other');
pgu_setup_db($node, 'used');
make_table($node, 'other', 'c', 16);
make_table($node, 'used', 'd', 32);
$node->safe_psql('postgres', 'CHECKPOINT');

my $wpid = worker_pid($node);
like($wpid, qr/^\d+$/, 'ring worker running');

# Session 1: prewarm a (bigger than shared_buffers: every pass reads) in a
# loop of statements, until told to stop.
my $loop_file = $node->basedir . '/loop.sql';
my $loop = '';
for my $i (1 .. 2000)
{
	$loop .= "SELECT pg_uring_prewarm('a', 'buffer');\n";
	$loop .= "SELECT pg_uring_prewarm('a', 'read');\n" if $i % 3 == 0;
	$loop .= "SELECT count(*) > 0 AS stop FROM stop_flag \\gset\n";
	$loop .= "\\if :stop\n\\q\n\\endif\n";
}
$node->safe_psql('postgres', 'CREATE TABLE stop_flag (x int)');
PostgreSQL::Test::Utils::append_to_file($loop_file, $loop);
my $s1 = bg_start($node, 'postgres', undef, file => $loop_file, app => 'busy',
	timeout => 600);
like(bg_wait_active($s1, '%pg_uring_prewarm%'), qr/^\d+$/, 'prewarm loop running');

sub ring_busy
{
	my $method = $ring_up ? 'io_uring' : 'sync';
	my $b0 = stats_row($node, $method)->{blocks_read};
	return wait_progress(sub { stats_row($node, $method)->{blocks_read} > $b0 + 500 });
}

# Run one statement from session 2 with a hang bound.
sub timed_sql
{
	my ($db, $sql, $name) = @_;
	ok(ring_busy(), "$name: the prewarm loop is reading");
	my $t0 = time();
	my $s = bg_start($node, $db, $sql, app => 'dropper', timeout => hang_timeout());
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "$name: completes (no hang)");
	is($r->{rc}, 0, "$name: succeeds") or diag($r->{err});
	note(sprintf("%s took %.2f s", $name, time() - $t0));
	return;
}

my $oid_other = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'other'");

timed_sql('postgres', 'DROP TABLE b', 'DROP TABLE b while a is prewarmed');
timed_sql('postgres', 'DROP DATABASE other', 'DROP DATABASE other while a is prewarmed');
ok(!-d $node->data_dir . "/base/$oid_other", 'the dropped database directory is gone');

# DROP DATABASE of a database in which a prewarm loop just ran (the worker
# may still have per-database state or open descriptors for it).
my $oid_used = $node->safe_psql('postgres', "SELECT oid FROM pg_database WHERE datname = 'used'");
my $r = bg_finish(
	bg_start(
		$node, 'used',
		"SELECT sum(pg_uring_prewarm('d', m)) FROM generate_series(1, 20), "
		  . "unnest(ARRAY['buffer', 'read']) m",
		app => 'used_loop'));
is($r->{rc}, 0, 'prewarm loop in database "used" ran') or diag($r->{err});
timed_sql('postgres', 'DROP DATABASE used', 'DROP DATABASE used right after a prewarm loop in it');
ok(!-d $node->data_dir . "/base/$oid_used", 'the dropped database directory is gone');

# The worker must not keep descriptors of the dropped files (their space
# would stay allocated).  Give it a moment to process the barrier and any
# queued work, then look at its open files.
my $wpid_now = worker_pid($node);
is($wpid_now, $wpid, 'same ring worker (no crash)');
my @stale;
wait_progress(
	sub {
		@stale = ();
		opendir(my $dh, "/proc/$wpid_now/fd") or return 1;
		for my $fd (readdir $dh)
		{
			my $target = readlink("/proc/$wpid_now/fd/$fd") // next;
			push @stale, $target
			  if $target =~ m{/base/($oid_other|$oid_used)/}
			  || ($target =~ /\(deleted\)/ && $target =~ m{/base/});
		}
		closedir $dh;
		return !@stale;
	},
	30);
is_deeply(\@stale, [], 'the ring worker holds no descriptor of dropped files');

# Stop session 1; it must have run cleanly all along.
$node->safe_psql('postgres', 'INSERT INTO stop_flag VALUES (1)');
$r = bg_finish($s1);
ok(!$r->{timed_out}, 'prewarm loop ends when told to');
is($r->{rc}, 0, 'prewarm loop ran without errors') or diag($r->{err});
like($r->{out}, qr/^$nblocks$/m, 'prewarm loop returned the block count');

is($node->safe_psql('postgres', "SELECT count(*) FROM pg_database WHERE datname IN ('other', 'used')"),
	'0', 'both databases are gone');
my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|was terminated by signal|still waiting for backend/,
	'no PANIC, crash or barrier wait in the log');

$node->stop;
done_testing();
