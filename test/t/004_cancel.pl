
# Copyright (c) pg_uring authors
#
# Query cancel, statement_timeout and pg_terminate_backend during a large
# prewarm (docs/design.md sections 2 and 3).  The prewarm must
# stop promptly with the usual error, leave no pinned buffers behind, the
# table must read back identically (md5 oracle), and the server must stay
# up.
#
# io_uring (ring-only; skipped with the reason where the ring is down): the
# ring worker is SIGSTOPped before the prewarm starts, so the prewarm is
# certainly running, and stuck on the ring, when the interrupt comes.  The
# worker stays stopped until the interrupted session has ended: read and
# read-ahead batches are abandoned after about a second (pageio.c), so the
# cancel returns although nothing will ever complete them; meanwhile
# pg_uring_status shows them as abandoned_slots, and once the worker is
# continued it completes them and every slot is free again.
#
# Buffer mode on PostgreSQL 15 holds no buffer I/O, pins or content locks
# while the ring is frozen (the ring only reads ahead into the page cache;
# core's ReadBufferExtended installs each page afterwards).  So, asserted:
# while the worker is stopped mid-prewarm, an UPDATE and a SELECT of every
# block in the range being prewarmed complete, and pg_stat_activity never
# shows them waiting on BufferIO (or on a buffer content lock).
#
# On 17, buffer mode can read zero-copy into claimed shared buffers instead
# (pg_uring.zero_copy); those claims are ended only by the worker, so the
# frozen-ring scenarios here run with zero_copy off, and 065_zero_copy.pl
# shows what a cancel and a reader do with a stalled worker and claims.
#
# sync: the backend itself is SIGSTOPped while it reads, SIGINT/SIGTERM is
# queued (that is what pg_cancel_backend/pg_terminate_backend send), and it
# is continued.
#
# "Promptly" is checked through the statistics: a prewarm that ignores the
# interrupt reads the whole table; one that honours it reads only the part
# it had reached.  Every time bound here is a hang detector (>= 30 s).

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $mb = soak() ? 300 : 160;
my $wait = 30;    # hang detector for what the frozen ring must not block
# The caller alone (no prewarm helpers): what is measured here is how far
# one stopped backend got; helpers keep working while the caller is stopped
# (their cancel and termination are 054_fault_parallel_prewarm.pl's).
my $node = pgu_node('cancel',
	conf => "shared_buffers = 96MB\nbgwriter_lru_maxpages = 0\npg_uring.max_prewarm_workers = 0\n");
my ($ring_up, $ring_why) = ring_check($node);

my $nblocks = make_table($node, 'postgres', 't', $mb);
my $md5 = table_md5($node, 'postgres', 't');
$node->safe_psql('postgres', 'CHECKPOINT');
my $pm_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');

my @stopped;    # pids to SIGCONT if we die
END { kill('CONT', $_) for @stopped; }

sub freeze { my ($pid) = @_; kill('STOP', $pid); push @stopped, $pid; }
sub thaw   { my ($pid) = @_; kill('CONT', $pid); @stopped = grep { $_ != $pid } @stopped; }

sub blocks_read_total
{
	my $s = stats_snapshot($node);
	return $s->{io_uring}{blocks_read} + $s->{sync}{blocks_read};
}

# Bytes read by a process through read()/preadv() (page cache included).
sub proc_rchar
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/io") or return undef;
	while (<$fh>) { return $1 if /^rchar:\s*(\d+)/; }
	return undef;
}

# Scheduler state of a process ('T' = stopped), '' if gone.
sub proc_state
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return '';
	my $l = <$fh> // '';
	return $l =~ /^\d+ \(.*\) (\S)/ ? $1 : '';
}

# "queue_slots|free_slots|abandoned_slots"
sub slots
{
	return $node->safe_psql('postgres',
		"SELECT queue_slots || '|' || free_slots || '|' || abandoned_slots FROM pg_uring_status");
}

# A session that told us its backend pid; returns (session, pid).
sub victim_session
{
	my ($app) = @_;
	my $s = bg_start($node, 'postgres', undef,
		stdin => "SELECT 'PID:' || pg_backend_pid();\n", app => $app);
	wait_progress(sub { bg_pump($s); $s->{out} =~ /PID:\d+/ || !$s->{h}->pumpable });
	my ($pid) = $s->{out} =~ /PID:(\d+)/;
	return ($s, $pid);
}

# Send the queued stdin (a tight loop: no SQL stands in between).
sub send_now
{
	my ($s) = @_;
	my $deadline = time() + 10;
	while (length($s->{in}) && time() < $deadline)
	{
		bg_pump($s);
		usleep(200) if length($s->{in});
	}
}

sub wait_ended
{
	my ($s, $secs) = @_;
	return wait_progress(sub { bg_pump($s); !$s->{h}->pumpable }, $secs);
}

# wait_event_type:wait_event of the backend(s) of an application_name
sub waits_of
{
	my ($app) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(coalesce(wait_event_type, '') || ':' || coalesce(wait_event, ''), ','), '') "
		  . "FROM pg_stat_activity WHERE application_name = '$app' AND state = 'active'");
}

# The checks every scenario ends with.
sub after_checks
{
	my ($tag, $method, $mode, $set, $wpid, $want_md5) = @_;
	my $blocks = rel_blocks($node, 'postgres', 't');
	is(pinned_buffers($node, 'postgres', 't'), '0', "$tag no buffer of t left pinned");
	is(table_md5($node, 'postgres', 't'), $want_md5 // $md5,
		"$tag table reads back identically from the buffers it left");
	is($node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()'),
		$pm_start, "$tag server stayed up (no crash-restart)");
	is(worker_pid($node), $wpid, "$tag same ring worker");
	# And the next prewarm works and completes.
	is( $node->safe_psql(
			'postgres',
			"SET pg_uring.io_method = '$method'; "
			  . ($set =~ s/SET statement_timeout[^;]*;//r)
			  . " SELECT pg_uring_prewarm('t', '$mode')"),
		$blocks,
		"$tag a new prewarm completes ($blocks blocks)");
	is(pinned_buffers($node, 'postgres', 't'), '0', "$tag no pins after the new prewarm");
}

sub error_check
{
	my ($tag, $how, $r) = @_;
	if ($how eq 'cancel')
	{
		like($r->{err}, qr/canceling statement due to user request/,
			"$tag query ends with 'canceling statement due to user request'");
	}
	elsif ($how eq 'timeout')
	{
		like($r->{err}, qr/canceling statement due to statement timeout/,
			"$tag query ends with 'canceling statement due to statement timeout'");
	}
	else
	{
		like($r->{err},
			qr/terminating connection due to administrator command|server closed the connection/,
			"$tag session is terminated");
	}
}

my $victims = 0;

# --- io_uring: the worker is stopped before the prewarm starts, and stays
# stopped until the interrupted session has ended.
#   call   => the prewarm call (default pg_uring_prewarm('t', mode))
#   during => callback run while the ring is frozen and the prewarm is
#             waiting for it, before the interrupt
#   md5    => what the table must read back as afterwards (default $md5)
sub frozen_ring_scenario
{
	my ($tag, $how, $mode, $set, %o) = @_;
	my $call = $o{call} // "pg_uring_prewarm('t', '$mode')";
	my $wpid = worker_pid($node);
	my $slots0 = slots();
	my ($nslots) = split /\|/, $slots0;
	like($slots0, qr/^(\d+)\|\1\|0$/, "$tag every slot free before ($slots0)");
	my $b0 = blocks_read_total();
	my ($s, $pid) = victim_session("victim_io_" . ++$victims);
	ok($pid, "$tag victim backend $pid") or return;

	freeze($wpid);
	# the read-ahead path: zero-copy reads (17) wait for the worker by design
	$s->{in} .= "SET pg_uring.io_method = 'io_uring'; SET pg_uring.zero_copy = off; $set SELECT $call;\n";
	send_now($s);

	# The prewarm runs and waits for the ring (not for a buffer).
	my $w = '';
	my $running = wait_progress(
		sub {
			bg_pump($s);
			$w = waits_of($s->{app});
			$w eq pgu_wait_event($node, 'PgUringBatch') || !$s->{h}->pumpable;
		},
		$wait);
	if ($how eq 'timeout')
	{
		# statement_timeout may have fired already: the session still runs
		# (it is giving up on its batches) or has ended
		ok($running, "$tag the prewarm ran into the frozen ring");
	}
	else
	{
		is($w, pgu_wait_event($node, 'PgUringBatch'), "$tag the prewarm waits for the frozen ring");
		is(pinned_buffers($node, 'postgres', 't'), '0',
			"$tag ... holding no pin on t while it waits");
	}
	$o{during}->($wpid) if $o{during};

	if ($how eq 'cancel')
	{
		$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	}
	elsif ($how eq 'terminate')
	{
		$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
	}
	# ('timeout': statement_timeout fires by itself)

	my $ended = wait_ended($s, $wait);
	is(proc_state($wpid), 'T', "$tag the ring worker is still stopped");
	ok($ended, "$tag the interrupted prewarm returned within $wait s with the worker stopped");
	my $frozen_slots = slots();
	my (undef, $free, $abandoned) = split /\|/, $frozen_slots;
	cmp_ok($abandoned, '>', 0,
		"$tag its batches are abandoned while the worker is stopped (queue|free|abandoned: $frozen_slots)");

	thaw($wpid);
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "$tag prewarm session ended (no hang)");
	isnt($r->{rc}, 0, "$tag the interrupt hit a running prewarm (it ended with an error)");
	if ($how eq 'terminate')
	{
		ok( wait_progress(
				sub {
					$node->safe_psql('postgres', "SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") eq '0';
				},
				$wait),
			"$tag the terminated backend is gone");
	}
	# (not "could not read block ...: Operation canceled": an abandoned
	# batch is not handed to the callback as a failed read)
	error_check($tag, $how, $r);

	my $now = '';
	ok(wait_progress(sub { $now = slots(); $now eq "$nslots|$nslots|0" }, $wait),
		"$tag after SIGCONT: abandoned_slots = 0 and free_slots = queue_slots ($now)");
	my $read = blocks_read_total() - $b0;
	cmp_ok($read, '<', $nblocks / 2,
		"$tag prewarm stopped where it was (read $read of $nblocks blocks)");
	after_checks($tag, 'io_uring', $mode, $set, $wpid, $o{md5});
	return;
}

# --- sync: the backend is stopped while it reads; the signal is queued.
sub sync_attempt
{
	my ($how, $n, $mode, $set) = @_;
	my $b0 = blocks_read_total();
	my ($s, $pid) = victim_session("victim_sync_${how}_$n");
	return (bg_finish($s), undef, undef) unless $pid;
	my $r0 = proc_rchar($pid);
	$s->{in} .= "SET pg_uring.io_method = 'sync'; $set SELECT pg_uring_prewarm('t', '$mode');\n";
	send_now($s);
	my $deadline = time() + 10;
	# Wait until the backend is reading the table (its read() byte count
	# grows), so that the interrupt lands inside pg_uring_prewarm.
	if (defined $r0)
	{
		# Tight poll: the whole prewarm takes only a fraction of a second.
		while (time() < $deadline)
		{
			my $r1 = proc_rchar($pid);
			last if !defined $r1 || $r1 > $r0 + 256 * 1024;
			usleep(200);
		}
	}
	else
	{
		usleep(20_000);
	}
	# Freeze the backend (no SQL while it is frozen: it may hold an LWLock).
	freeze($pid);
	if ($how eq 'timeout')
	{
		usleep(600_000);    # the timer's SIGALRM is handled once it runs
	}
	else
	{
		kill($how eq 'cancel' ? 'INT' : 'TERM', $pid);
		usleep(200_000);
	}
	my $t0 = time();
	thaw($pid);
	my $r = bg_finish($s);
	return ($r, blocks_read_total() - $b0, time() - $t0);
}

sub sync_scenario
{
	my ($tag, $how, $mode, $set) = @_;
	my $wpid = worker_pid($node);
	my ($r, $read, $secs, $caught);
	for my $attempt (1 .. 5)
	{
		($r, $read, $secs) = sync_attempt($how, $attempt, $mode, $set);
		last if $r->{timed_out};
		if ($r->{rc} == 0)
		{
			note("$tag attempt $attempt: prewarm finished before the interrupt; again");
			next;
		}
		$caught = 1;
		# Interrupted, but only after reading (almost) everything: either
		# the freeze came late, or the prewarm ignores interrupts.  Retry a
		# few times; a prewarm that ignores interrupts fails every time.
		last if $read < $nblocks / 2;
		note("$tag attempt $attempt: interrupted after $read blocks; again");
	}
	ok(!$r->{timed_out}, "$tag prewarm session ended (no hang)");
	ok($caught, "$tag the interrupt hit a running prewarm");
	error_check($tag, $how, $r);
	cmp_ok($read // $nblocks, '<', $nblocks / 2,
		"$tag prewarm stopped where it was (read " . ($read // '?') . " of $nblocks blocks)");
	cmp_ok($secs // 999, '<', 60, "$tag ended within 60 s once running again (hang detector)");
	after_checks($tag, 'sync', $mode, $set, $wpid);
	return;
}

for my $sc (
	[ 'cancel',    'buffer', '' ],
	[ 'cancel',    'read',   '' ],
	[ 'terminate', 'buffer', '' ],
	[ 'terminate', 'read',   '' ],
	[ 'timeout',   'buffer', "SET statement_timeout = '300ms';" ],
	[ 'timeout',   'read',   "SET statement_timeout = '300ms';" ],
	[ 'cancel',    'read',   'SET pg_uring.direct_io = on;' ],
	[ 'terminate', 'read',   'SET pg_uring.direct_io = on;' ])
{
	my ($how, $mode, $set) = @$sc;
	my $tag = "[io_uring/$how/$mode" . ($set =~ /direct_io/ ? '/direct_io' : '') . "]";
	subtest "$tag interrupted with the ring worker stopped" => sub {
		plan skip_all => $ring_why unless $ring_up;
		frozen_ring_scenario($tag, $how, $mode, $set);
	};
}

for my $sc (
	[ 'cancel',    'buffer', '' ],
	[ 'cancel',    'read',   '' ],
	[ 'terminate', 'buffer', '' ],
	[ 'terminate', 'read',   '' ],
	[ 'timeout',   'buffer', "SET statement_timeout = '300ms';" ])
{
	my ($how, $mode, $set) = @$sc;
	my $tag = "[sync/$how/$mode]";
	subtest "$tag interrupted with the backend stopped" => sub {
		sync_scenario($tag, $how, $mode, $set);
	};
}

# While the worker is stopped mid-prewarm (buffer mode: it holds no buffer
# state), an UPDATE and then a SELECT of every block in the range being
# prewarmed complete, without ever waiting on BufferIO or on a buffer
# content lock; then the prewarm is interrupted (still frozen), the ring is
# continued, and nothing the prewarm asked for may change what the UPDATE
# wrote.  Sampled every ~50 ms.
#   round 1: pg_uring_prewarm, cancelled
#   round 2: pg_uring_prewarm_blocks (every other block, listed backwards),
#            terminated
my $round = 0;
for my $r ([ 'cancel', "pg_uring_prewarm('t', 'buffer')" ],
	[ 'terminate', "pg_uring_prewarm_blocks('t', ARRAY(SELECT generate_series($nblocks - 1, 0, -2)::int8), 'buffer')" ])
{
	$round++;
	my ($how, $call) = @$r;
	my $tag = "[io_uring/$how + concurrent UPDATE and SELECT, round $round]";
	subtest "$tag while the ring worker is stopped" => sub {
		plan skip_all => $ring_why unless $ring_up;
		my $expect_sql = "SELECT count(*) || ':' || md5(string_agg(id || ':' || "
		  . "(CASE WHEN id % 7 = $round THEN v + 1 ELSE v END) || ':' || md5(pad), ',' ORDER BY id)) FROM t";
		my $expect = $node->safe_psql('postgres', $expect_sql);
		my $during = sub {
			my ($wpid) = @_;
			for my $op (
				[ 'updater', "UPDATE t SET v = v + 1 WHERE id % 7 = $round", '' ],
				[ 'reader', "SET enable_indexscan = off; SET enable_bitmapscan = off; "
					  . "SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id)) FROM t",
					$expect ])
			{
				my ($app, $sql, $want) = @$op;
				$app .= $round;
				my $c = bg_start($node, 'postgres', $sql, app => $app, timeout => 10 * $wait);
				my (%seen, $samples);
				my $ended = wait_progress(
					sub {
						bg_pump($c);
						return 1 unless $c->{h}->pumpable;
						my $w = waits_of($app);
						$samples++;
						$seen{$w}++ if $w ne '';
						0;
					},
					2 * $wait);
				is(proc_state($wpid), 'T', "$tag $app: the ring worker stayed stopped");
				ok($ended, "$tag $app finished while the ring worker is stopped (within " . 2 * $wait . " s)");
				my $res = bg_finish($c);
				is($res->{rc}, 0, "$tag $app succeeded") or diag($res->{err});
				is($res->{out} =~ s/\s+$//r, $want, "$tag $app: result as expected") if $want ne '';
				my $waits = join(', ', map { "$_ x$seen{$_}" } sort keys %seen) || 'none';
				note("$tag $app: $samples samples, wait events seen: $waits");
				ok(!grep({ /:BufferIO$/ } keys %seen), "$tag $app never waited on BufferIO ($waits)");
				ok(!grep({ /:BufferContent$/ } keys %seen), "$tag $app never waited on a buffer content lock");
			}
		};
		frozen_ring_scenario($tag, $how, 'buffer', '', call => $call, during => $during,
			md5 => $expect);
		$md5 = table_md5($node, 'postgres', 't');
		is($md5, $expect, "$tag every updated row is there, nothing else changed");
		$node->safe_psql('postgres', 'CHECKPOINT');
		$node->restart;
		$pm_start = $node->safe_psql('postgres', 'SELECT pg_postmaster_start_time()');
		ring_wait_settled($node);
		is(table_md5($node, 'postgres', 't'), $expect, "$tag ... also on disk after a restart");
	};
}

my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|was terminated by signal|buffer refcount leak|still pinned/i,
	'no PANIC, crash or pin-leak warning in the log');

$node->stop;
done_testing();
