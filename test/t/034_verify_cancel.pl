
# Copyright (c) pg_uring authors
#
# Cancelling a verify leaves nothing behind (issue 5, TAP test 5; docs/design.md
# sections 3 and 5).
#
# A verify is interrupted three ways:
#   - statement_timeout, while it is throttled;
#   - pg_cancel_backend from another session, while it is throttled;
#   - pg_cancel_backend while the ring worker is frozen (SIGSTOP) with the
#     verify's reads queued or in flight (io_uring only).
# Each time: the error is "canceling statement due to ...", and right after
# it pg_uring_status shows queued = 0 and in_flight = 0 (no leaked staging
# slot, no I/O outliving its requester), no buffer is left pinned,
# pg_uring_progress has no row left for the backend, the next full verify
# completes with no rows and at about the speed it had before, and
# pg_uring_stats.errors did not grow.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $mb = 64;
my $node = pgu_node('vcancel', conf => "shared_buffers = 64MB\npg_uring.queue_size = 16\n");
# Ring down: a failed check here, or with PG_URING_SYNC_ONLY=1 every io_uring
# check below is skipped with the reason (SKIP blocks, counted).
my ($ring, $ring_why) = ring_check($node);
my @methods = ('io_uring', 'sync');

# Checks per block, for the skips.
my $N_BASELINE = 2;
my $N_AFTER    = 7;                # after_cancel
my $N_TIMEOUT  = 3 + $N_AFTER;     # statement_timeout
my $N_CANCEL   = 4 + $N_AFTER;     # pg_cancel_backend
my $N_FROZEN   = 4 + $N_AFTER;     # frozen ring

my $nblocks = make_table($node, 'postgres', 'cx', $mb);
$node->safe_psql('postgres', 'CHECKPOINT');
my $pm_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

my @stopped;
END { kill('CONT', $_) for @stopped; }

sub errors_total
{
	my $s = stats_snapshot($node);
	return $s->{io_uring}{errors} + $s->{sync}{errors};
}

# A full verify of cx (heap, all forks, and its index): (rows, seconds, pages).
sub full_verify
{
	my ($m) = @_;
	my $out = $node->safe_psql(
		'postgres', qq{
SET pg_uring.io_method = $m;
SELECT sum(pages_verified) AS p0 FROM pg_uring_stats \\gset
SELECT clock_timestamp() AS t0 \\gset
SELECT count(*) AS n FROM (SELECT * FROM pg_uring_verify('cx')
                           UNION ALL SELECT * FROM pg_uring_verify('cx_pkey')) v \\gset
SELECT :n || ' ' || extract(epoch FROM clock_timestamp() - :'t0'::timestamptz)
       || ' ' || (SELECT sum(pages_verified) FROM pg_uring_stats) - :p0;
});
	return split / /, $out;
}

my $expect_pages = $node->safe_psql('postgres',
	"SELECT (pg_relation_size('cx', 'main') + pg_relation_size('cx', 'fsm') + pg_relation_size('cx', 'vm') "
	  . "+ pg_relation_size('cx_pkey')) / 8192");
my %base;
for my $m (@methods)
{
  SKIP:
	{
		skip "[$m] $ring_why", $N_BASELINE if $m eq 'io_uring' && !$ring;
		# twice, keep the faster: the first may warm the OS cache
		my @a = full_verify($m);
		my @b = full_verify($m);
		$base{$m} = $a[1] < $b[1] ? $a[1] : $b[1];
		is($b[0], '0', "[$m] baseline verify: no rows");
		is($b[2], $expect_pages, "[$m] baseline verify: all $expect_pages pages");
		note("[$m] baseline full verify: $base{$m} s");
	}
}

# After an interrupted verify: the checks listed above.
sub after_cancel
{
	my ($m, $tag, $pid) = @_;
	my $status = $node->safe_psql('postgres',
		'SELECT queued || \'/\' || in_flight FROM pg_uring_status');
	is($status, '0/0', "$tag right after the cancel: queued = 0, in_flight = 0");
	is(pinned_buffers($node, 'postgres'), '0', "$tag no buffer left pinned");
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_uring_progress WHERE pid = $pid"),
		'0', "$tag no pg_uring_progress row left for the cancelled backend");
	my ($rows, $secs, $pages) = full_verify($m);
	is($rows,  '0',           "$tag next full verify: no rows");
	is($pages, $expect_pages, "$tag next full verify read all $expect_pages pages");
	note("$tag next full verify: $secs s (baseline $base{$m} s)");
	cmp_ok($secs, '<=', 4 * $base{$m} + 1.0, "$tag next full verify at about full speed");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_progress'),
		'0', "$tag pg_uring_progress empty after the next verify");
	return;
}

for my $m (@methods)
{
	# --- statement_timeout while throttled (64 MB at 10 MB/s: ~6 s; timeout 1 s)
  SKIP:
	{
		skip "[$m/statement_timeout] $ring_why", $N_TIMEOUT if $m eq 'io_uring' && !$ring;
		my $tag = "[$m/statement_timeout]";
		my $e0 = errors_total();
		my $s = bg_start($node, 'postgres',
			"SET pg_uring.io_method = $m; SET pg_uring.verify_rate_limit = 10; "
			  . "SET statement_timeout = '1s'; SELECT count(*) FROM pg_uring_verify('cx')",
			app => "cancel_to_$m");
		my $pid = bg_backend_pid($s);
		my $r = bg_finish($s);
		ok(!$r->{timed_out}, "$tag ended");
		like($r->{err}, qr/canceling statement due to statement timeout/, "$tag error");
		after_cancel($m, $tag, $pid);
		is(errors_total() - $e0, 0, "$tag pg_uring_stats.errors did not grow");
	}

	# --- pg_cancel_backend while throttled
  SKIP:
	{
		skip "[$m/pg_cancel_backend] $ring_why", $N_CANCEL if $m eq 'io_uring' && !$ring;
		my $tag = "[$m/pg_cancel_backend]";
		my $e0 = errors_total();
		my $s = bg_start($node, 'postgres',
			"SET pg_uring.io_method = $m; SET pg_uring.verify_rate_limit = 10; "
			  . "SELECT count(*) FROM pg_uring_verify('cx')",
			app => "cancel_user_$m");
		my $pid = bg_backend_pid($s);
		my $running = wait_progress(
			sub {
				bg_pump($s);
				return $node->safe_psql('postgres',
					"SELECT count(*) FROM pg_uring_progress WHERE pid = $pid AND blocks_done > 100") eq '1';
			},
			30);
		ok($running, "$tag verify is under way");
		$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
		my $r = bg_finish($s);
		ok(!$r->{timed_out}, "$tag ended");
		like($r->{err}, qr/canceling statement due to user request/, "$tag error");
		after_cancel($m, $tag, $pid);
		is(errors_total() - $e0, 0, "$tag pg_uring_stats.errors did not grow");
	}
}

# --- the ring frozen with the verify's reads in it
SKIP:
{
	skip "[io_uring/frozen ring] $ring_why", $N_FROZEN if !$ring;
	my $tag = '[io_uring/frozen ring]';
	my $e0 = errors_total();
	my ($r, $pid, $caught);
	for my $attempt (1 .. 5)
	{
		my $s = bg_start($node, 'postgres',
			"SET pg_uring.io_method = io_uring; "
			  . "SELECT count(*) FROM generate_series(1, 100) g, "
			  . "LATERAL pg_uring_verify('cx', CASE WHEN g > 0 THEN NULL END) v",
			app => "cancel_frozen_$attempt");
		$pid = bg_wait_active($s, '%pg_uring_verify%');
		my $wpid = worker_pid($node);
		kill('STOP', $wpid);
		push @stopped, $wpid;
		usleep(300_000);
		my $inside = $node->safe_psql('postgres',
			"SELECT count(*) FROM pg_uring_progress WHERE pid = $pid");
		my $q = $node->safe_psql('postgres', 'SELECT queued + in_flight FROM pg_uring_status');
		$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)") if $pid ne '';
		usleep(500_000);
		kill('CONT', $wpid);
		@stopped = grep { $_ != $wpid } @stopped;
		$r = bg_finish($s);
		if ($r->{rc} != 0 && $inside eq '1' && $q > 0)
		{
			note("$tag attempt $attempt: cancelled with $q requests queued or in flight");
			$caught = 1;
			last;
		}
		note("$tag attempt $attempt: missed (inside=$inside, queued+in_flight=$q, rc=$r->{rc}); again");
	}
	ok($caught, "$tag a verify was cancelled with its reads queued or in flight");
	ok(!$r->{timed_out}, "$tag ended");
	like($r->{err}, qr/canceling statement due to user request/, "$tag error");
	after_cancel('io_uring', $tag, $pid);
	is(errors_total() - $e0, 0, "$tag pg_uring_stats.errors did not grow");
}

is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
	$pm_start, 'server never restarted');
unlike(slurp_log_from($node, 0), qr/PANIC|was terminated by signal/, 'no PANIC or crash');

$node->stop;
done_testing();
