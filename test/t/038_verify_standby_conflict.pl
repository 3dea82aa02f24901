# Copyright (c) pg_uring authors
#
# A recovery conflict on a hot standby ends a long pg_uring call, as it ends
# any query, once max_standby_streaming_delay has passed: replay never
# waits for a whole stream.  pg_uring holds interrupts while a stream is
# open; a cancel or terminate stops the feed, and other interrupts are
# serviced between blocks (docs/design.md, "Guarantees in brief").  On
# PostgreSQL 17 and later a conflict reaches a backend only as a pending
# interrupt, which core's ProcessInterrupts turns into a cancel; on 15 it
# arrives as a cancel.  What must hold:
#   - a verify of a 24 MB table on the standby, throttled to 1 MB/s (about
#     24 s), is running when the primary takes an ACCESS EXCLUSIVE lock on
#     the table (WAL-logged: replay must take it too);
#   - the verify ends with core's "canceling statement due to conflict with
#     recovery" error (SQLSTATE 40001) in the middle, with fewer pages
#     verified than the table has (held interrupts would have let it run
#     to its end, and be cancelled only then);
#   - replay then catches up, and a verify on the standby afterwards runs to
#     its end and finds nothing.
# Ring and sync paths.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $primary = pgu_node('conflict_primary', init => { allows_streaming => 1 });
my $nblocks = make_table($primary, 'postgres', 't', 24);
$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('conflict_standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->append_conf(
	'postgresql.conf', qq{
hot_standby_feedback = off
max_standby_streaming_delay = 1s
});
$standby->start;
$primary->wait_for_catchup($standby);
my ($ring_up, $why) = ring_check($standby);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
note("ring down on the standby ($why): only the sync path") unless $ring_up;

for my $method (@methods)
{
	my $tag = "[$method]";
	my $before = stats_snapshot($standby);
	my $s = bg_start($standby, 'postgres', undef,
		stdin => "\\set VERBOSITY verbose\nSET pg_uring.io_method = $method;\n"
		  . "SET pg_uring.verify_rate_limit = 1;\n"
		  . "SELECT count(*) FROM pg_uring_verify('t', 'main');\n",
		app => "conflict_$method");
	my $pid = bg_wait_active($s, '%pg_uring_verify%');
	like($pid, qr/^\d+$/, "$tag the verify runs on the standby (pid $pid)");
	ok( wait_progress(
			sub {
				$standby->safe_psql('postgres',
					"SELECT blocks_done > 0 FROM pg_uring_progress WHERE pid = $pid") eq 't';
			},
			hang_timeout()),
		"$tag it is verifying (pg_uring_progress)");

	# the primary's lock reaches replay, which waits 1 s, then cancels us
	$primary->safe_psql('postgres', 'BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; COMMIT;');
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "$tag the verify ended (did not hang)");
	isnt($r->{rc}, 0, "$tag it did not run to its end");
	like($r->{err}, qr/40001.*canceling statement due to conflict with recovery/s,
		"$tag it was cancelled for the conflict with recovery") or diag($r->{err});
	# cancelled in the middle, not once the whole stream was done
	my $d = stats_delta($before, stats_snapshot($standby));
	my $path = $method eq 'sync' ? 'sync' : 'io_uring';
	cmp_ok($d->{$path}{pages_verified}, '>', 0, "$tag pages were verified on the $path path");
	cmp_ok($d->{$path}{pages_verified}, '<', $nblocks,
		"$tag cancelled in the middle: $d->{$path}{pages_verified} of $nblocks pages verified");

	$primary->wait_for_catchup($standby);
	is( $standby->safe_psql('postgres',
			"SET pg_uring.io_method = $method; SELECT count(*) FROM pg_uring_verify('t')"),
		'0', "$tag replay caught up; a verify on the standby then finds nothing");
}

$standby->stop;
$primary->stop;
done_testing();
