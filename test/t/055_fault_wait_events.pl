# Copyright (c) pg_uring authors
#
# Issue 11 (the testing build): what pg_stat_activity shows while pg_uring
# does I/O.  The synchronous path reports core's events for the file I/O it
# does: IO:DataFileRead for its preadv (read-mode prewarm, verify),
# IO:DataFileWrite for its pwritev (flush), never the bare IO class (on 15
# that is IO:BaseBackupRead).  A backend waiting for the ring shows
# pg_uring's own event (PgUringBatch on 17 and later, Extension:Extension on
# 15).  Each I/O is slowed down by the "delay" action of the read and write
# fault points (sync path), or by complete_delay (ring), so that the wait
# is long enough to be seen.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

my $node = pgu_node('fault_wait_events', conf => "bgwriter_lru_maxpages = 0\n");
fault_setup_or_skip($node);
my ($ring_up) = ring_check($node);

my $nblocks = make_table($node, 'postgres', 't', 8);
flush_make_table($node, 'f', 2000);
$node->safe_psql('postgres', 'CHECKPOINT');

# Sample the session's wait event until $want shows, or it ends; returns
# every distinct event seen.
sub sample_events
{
	my ($s, $want) = @_;
	my %seen;
	my $pid = bg_backend_pid($s);
	return {} unless $pid =~ /^\d+$/;
	my $deadline = time() + hang_timeout();
	while (time() < $deadline && $s->{h}->pumpable)
	{
		bg_pump($s);
		my $ev = $node->safe_psql('postgres',
			"SELECT coalesce(wait_event_type, '') || ':' || coalesce(wait_event, '') "
			  . "FROM pg_stat_activity WHERE pid = $pid AND state = 'active'");
		$seen{$ev} = 1 if $ev ne '' && $ev ne ':';
		last if $seen{$want};
		usleep(10_000);
	}
	return \%seen;
}

sub run_sampled
{
	my ($tag, $setup, $sql, $want, $point, $action, $arg) = @_;
	$node->safe_psql('postgres', $setup) if $setup;
	fault_set($node, $point, $action, arg => $arg, count => 50);
	my $s = bg_start($node, 'postgres', $sql, app => 'pgu_waits');
	my $seen = sample_events($s, $want);
	my $r = bg_finish($s);
	fault_reset($node);
	is($r->{rc}, 0, "$tag: the call succeeded") or diag($r->{err});
	ok($seen->{$want}, "$tag: pg_stat_activity shows $want")
	  or diag("seen: " . join(', ', sort keys %$seen));
	ok(!$seen->{'IO:BaseBackupRead'}, "$tag: never the bare IO class (IO:BaseBackupRead)");
	return $seen;
}

# sync path: reads
run_sampled('[sync] read-mode prewarm', undef,
	"SET pg_uring.io_method = sync; SELECT pg_uring_prewarm('t', 'read')",
	'IO:DataFileRead', 'read', 'delay', 100);
run_sampled('[sync] verify', undef,
	"SET pg_uring.io_method = sync; SELECT count(*) FROM pg_uring_verify('t')",
	'IO:DataFileRead', 'read', 'delay', 100);

# sync path: writes
run_sampled('[sync] flush', 'UPDATE f SET v = v + 1',
	"SET pg_uring.io_method = sync; SELECT flushed FROM pg_uring_flush('f')",
	'IO:DataFileWrite', 'write', 'delay', 100);

SKIP:
{
	skip 'the ring is not up here', 3 unless $ring_up;
	# ring: the backend waits for the worker, which waits before completing
	run_sampled('[io_uring] read-mode prewarm', undef,
		"SET pg_uring.io_method = io_uring; SELECT pg_uring_prewarm('t', 'read')",
		pgu_wait_event($node, 'PgUringBatch'), 'complete_delay', 'delay', 100);
}

# The worker shows state active, with what it does, while it serves.
SKIP:
{
	skip 'the ring is not up here', 3 unless $ring_up;
	my $wpid = worker_pid($node);
	fault_set($node, 'complete_delay', 'delay', arg => 200, count => 20);
	my $s = bg_start($node, 'postgres',
		"SET pg_uring.io_method = io_uring; SELECT pg_uring_prewarm('t', 'read')", app => 'pgu_busy');
	my $seen = '';
	wait_progress(
		sub {
			bg_pump($s);
			$seen = $node->safe_psql('postgres',
				"SELECT state || '|' || query FROM pg_stat_activity WHERE pid = $wpid");
			return $seen =~ /^active/ || !$s->{h}->pumpable;
		});
	my $r = bg_finish($s);
	fault_reset($node);
	is($seen, 'active|serving I/O requests', 'the serving worker shows state active and what it does');
	is($r->{rc}, 0, 'the prewarm it served succeeded');
	ok(wait_progress(sub {
		$node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $wpid") eq 'idle' }),
		'then idle again');
}

is(pinned_buffers($node, 'postgres'), '0', 'no buffer left pinned');
$node->stop;
done_testing();
