# Copyright (c) pg_uring authors
#
# Issue 8 (fault injection, the testing build): a ring worker that stops
# serving (the worker_stall fault point), with the smallest queue
# (pg_uring.queue_size = 4) and a deep per-backend window
# (pg_uring.queue_depth = 64), so that one session takes every slot and
# the others wait for one (src/pageio.c, "nobody waits forever").
#   1. cancel: prewarm buffer, prewarm read, verify and flush sessions, one
#      holding every slot, the others waiting for a slot; each is cancelled
#      and gets "canceling statement due to user request" within 30 s
#      (hang detector); the slots of the batches the reader had in flight
#      are abandoned (abandoned_slots > 0), not reused while stalled;
#   2. SIGTERM of the stalled worker with new prewarm and flush sessions
#      waiting: the worker drains and exits, each session gets its answer
#      (success, served synchronously, or an ERROR) within 30 s, the worker
#      is restarted, and the abandoned slots are back (abandoned_slots = 0,
#      free_slots = 4);
#   3. SIGKILL of the stalled worker with sessions waiting: crash restart,
#      every session gets an answer, the data is intact.
# Buffer mode runs on the read-ahead path here (pg_uring.zero_copy = off);
# 065_zero_copy.pl stalls the worker under 17's zero-copy claims.
# The waits must last until the test ends them, so the node waits up to 10
# minutes for a slot (pg_uring.queue_wait_timeout); but
#   1b. with the default of 1 s, sessions that find the queue held by the
#      stalled worker are served synchronously, with the right answers
#      (queue_wait_timeouts and fallback_ios rise); among them a buffer
#      prewarm at its defaults, which on 17 reads zero-copy and so ends its
#      claims itself on that path.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

my $node = pgu_node(
	'fault_stall', conf => qq{
pg_uring.queue_size = 4
pg_uring.queue_depth = 64
pg_uring.backend_queue_limit = 64
bgwriter_lru_maxpages = 0
pg_uring.queue_wait_timeout = '10min'
});
fault_setup_or_skip($node);
ring_skip_unless_up($node);

my $HANG = 30;    # hang detector: seconds from the cancel/kill to the answer

my %md5;
my %nblocks;
for my $t ('t1', 't2', 't3')
{
	$nblocks{$t} = make_table($node, 'postgres', $t, 8);
}
flush_make_table($node, 't4', 4000);
$nblocks{t4} = rel_blocks($node, 'postgres', 't4');
$node->safe_psql('postgres', 'CHECKPOINT');

sub status
{
	my $out = $node->safe_psql('postgres',
		'SELECT free_slots, queued, abandoned_slots, reclaimed_slots, queue_slots, worker_pid FROM pg_uring_status');
	my %h;
	@h{qw(free queued abandoned reclaimed slots worker)} = split /\|/, $out;
	return \%h;
}

sub queue_full_waits
{
	return stats_row($node, 'io_uring')->{queue_full_waits};
}

sub dirty_t4
{
	$node->safe_psql('postgres', 'UPDATE t4 SET v = v + 1');
	$md5{t4} = table_md5($node, 'postgres', 't4');
	my ($d) = split /\|/, rel_dirty($node, 'postgres', 't4');
	return $d;
}

$md5{$_} = table_md5($node, 'postgres', $_) for ('t1', 't2', 't3');
my $st;
my $dirty = dirty_t4();
cmp_ok($dirty, '>', 100, "t4 has $dirty dirty buffers");
$st = status();
is("$st->{free}|$st->{slots}|$st->{abandoned}", '4|4|0', 'four free slots, none abandoned');

my %sql = (
	# the read-ahead path (17's zero-copy claims with a stalled worker: 065)
	buffer => "SET pg_uring.zero_copy = off; SELECT pg_uring_prewarm('t1', 'buffer')",
	# buffer mode at its defaults (17: zero-copy, served here when starved)
	buffer_zc => "SELECT pg_uring_prewarm('t1', 'buffer')",
	read   => "SELECT pg_uring_prewarm('t2', 'read')",
	verify => "SELECT count(*) FROM pg_uring_verify('t3')",
	flush  => "SELECT flushed FROM pg_uring_flush('t4')",
);
my %want = (
	buffer => $nblocks{t1},
	buffer_zc => $nblocks{t1},
	read   => $nblocks{t2},
	verify => 0,
);

my $n = 0;
sub start_session
{
	my ($kind) = @_;
	$n++;
	my $s = bg_start($node, 'postgres', $sql{$kind}, app => "stall_${kind}_$n", timeout => 3 * $HANG);
	$s->{kind} = $kind;
	return $s;
}

# Wait for a session's answer; (result, seconds since $t0).
sub answer
{
	my ($s, $t0) = @_;
	my $r = bg_finish($s);
	return ($r, time() - $t0);
}

# ---------------------------------------------------------------------------
# 1. cancel: one session holds every slot (its batches are queued to the
#    stalled worker), the others wait for a slot; all are cancelled.  Then
#    the worker is let go: the abandoned slots come back.
# ---------------------------------------------------------------------------
sub prepare
{
	$node->safe_psql('postgres', "SELECT pg_uring_evict('t1')");
	$dirty = dirty_t4();
}

sub cancel_round
{
	my ($holder_kind, @waiter_kinds) = @_;
	my $tag = "[cancel/holder=$holder_kind]";
	prepare();
	fault_set($node, 'worker_stall', 'stall');
	my $qfw0 = queue_full_waits();
	my $holder = start_session($holder_kind);
	ok(wait_progress(sub { status()->{free} == 0 }, $HANG),
		"$tag the $holder_kind session took every slot (free_slots = 0)");
	ok(wait_progress(sub { queue_full_waits() >= $qfw0 + 1 }, $HANG),
		"$tag ... and waits for its own oldest batch");
	my @waiters = map { start_session($_) } @waiter_kinds;
	ok(wait_progress(sub { queue_full_waits() >= $qfw0 + 1 + @waiter_kinds }, $HANG),
		"$tag the @waiter_kinds sessions wait for a slot (queue_full_waits)");
	my $st = status();
	is("$st->{free}|$st->{queued}|$st->{abandoned}", '0|4|0',
		"$tag no slot free, all four queued to the stalled worker, none abandoned");
	my @sessions = ($holder, @waiters);
	for my $s (@sessions)
	{
		my $pid = bg_backend_pid($s);
		like($pid, qr/^\d+$/, "$tag $s->{kind} session is connected");
		is($node->safe_psql('postgres', "SELECT state FROM pg_stat_activity WHERE pid = $pid"),
			'active', "$tag $s->{kind} session is still running (stuck on the stalled worker)");
		$s->{pid} = $pid;
	}

	my $t0 = time();
	for my $s (@sessions)
	{
		is($node->safe_psql('postgres', "SELECT pg_cancel_backend($s->{pid})"), 't',
			"$tag cancel sent to the $s->{kind} session");
	}
	for my $s (@sessions)
	{
		my ($r, $secs) = answer($s, $t0);
		ok(!$r->{timed_out} && $secs < $HANG,
			sprintf("%s the %s session answered within %d s (%.1f s)", $tag, $s->{kind}, $HANG, $secs));
		isnt($r->{rc}, 0, "$tag the $s->{kind} session failed");
		# (the session holding the slots has abandoned batches: their
		# -ECANCELED results must not come back as an I/O error)
		like($r->{err}, qr/ERROR:  canceling statement due to user request/,
			"$tag the $s->{kind} session got 'canceling statement due to user request'")
		  or diag("$s->{kind}: $r->{err}");
	}
	$st = status();
	cmp_ok($st->{abandoned}, '>', 0,
		"$tag the $holder_kind session's in-flight batches were abandoned ($st->{abandoned} slots)");
	is($st->{free}, 0, "$tag abandoned slots are not reused while the worker may still serve them");
	is(pinned_buffers($node, 'postgres'), '0', "$tag no buffer left pinned");

	# let the worker go: it serves the abandoned slots, then frees them
	fault_reset($node);
	ok(wait_progress(sub { my $x = status(); $x->{abandoned} == 0 && $x->{free} == 4 }, $HANG),
		"$tag once the worker serves again, abandoned_slots is 0 and free_slots 4");
	for my $t ('t1', 't2', 't3', 't4')
	{
		is(table_md5($node, 'postgres', $t), $md5{$t}, "$tag $t intact");
	}
}

cancel_round('buffer', 'read', 'verify', 'flush');
cancel_round('read',   'buffer', 'flush');
cancel_round('verify', 'read', 'buffer');

# ---------------------------------------------------------------------------
# 1b. the default queue_wait_timeout: new sessions do not wait for the
#     stalled worker, they do their I/O themselves
# ---------------------------------------------------------------------------
{
	my $tag = '[queue_wait_timeout]';
	prepare();
	fault_set($node, 'worker_stall', 'stall');
	my $holder = start_session('read');
	ok(wait_progress(sub { status()->{free} == 0 }, $HANG),
		"$tag a read-mode prewarm took every slot");
	my $before = stats_snapshot($node);
	# buffer_zc first, while t1 is evicted: on 17 its claims are served
	# synchronously in the backend, and ended there
	for my $kind ('buffer_zc', 'buffer', 'verify', 'flush')
	{
		my $w = $kind eq 'flush' ? $dirty : $want{$kind};
		my $t0 = time();
		my ($r) = bg_finish_all(
			bg_start($node, 'postgres', "SET pg_uring.queue_wait_timeout = '1s'; $sql{$kind}",
				app => "stall_default_$kind", timeout => 3 * $HANG));
		my $secs = time() - $t0;
		ok(!$r->{timed_out} && $secs < $HANG,
			sprintf("%s the %s session ended though the worker is stalled (%.1f s)", $tag, $kind, $secs));
		is($r->{rc}, 0, "$tag ... without an error") or diag($r->{err});
		is($r->{out} =~ s/\s+$//r, $w, "$tag ... with the right answer");
	}
	my $d = stats_delta($before, stats_snapshot($node));
	cmp_ok($d->{io_uring}{queue_wait_timeouts}, '>=', 3,
		"$tag their slot waits ran out (queue_wait_timeouts +$d->{io_uring}{queue_wait_timeouts})");
	cmp_ok($d->{io_uring}{fallback_ios}, '>', 0,
		"$tag their I/O was done synchronously (fallback_ios +$d->{io_uring}{fallback_ios})");
	is(status()->{free}, 0, "$tag the stalled worker still holds every slot");
	is(pinned_buffers($node, 'postgres', 't1'), '0', "$tag no buffer of t1 left pinned");
	my $pid = bg_backend_pid($holder);
	$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
	my ($hr) = answer($holder, time());
	isnt($hr->{rc}, 0, "$tag the holder was cancelled");
	fault_reset($node);
	ok(wait_progress(sub { my $x = status(); $x->{abandoned} == 0 && $x->{free} == 4 }, $HANG),
		"$tag once the worker serves again, every slot is free");
	for my $t ('t1', 't2', 't3', 't4')
	{
		is(table_md5($node, 'postgres', $t), $md5{$t}, "$tag $t intact");
	}
}

# ---------------------------------------------------------------------------
# 2. SIGTERM of the stalled worker, with abandoned slots and new sessions
#    waiting for a slot
# ---------------------------------------------------------------------------
# a read-mode prewarm takes every slot and is cancelled: its four slots
# are abandoned to the stalled worker
fault_set($node, 'worker_stall', 'stall');
my $qfw0 = queue_full_waits();
my $holder = start_session('read');
ok(wait_progress(sub { status()->{free} == 0 && queue_full_waits() >= $qfw0 + 1 }, $HANG),
	'[SIGTERM] a read-mode prewarm took every slot');
my $hpid = bg_backend_pid($holder);
my $t0 = time();
$node->safe_psql('postgres', "SELECT pg_cancel_backend($hpid)");
my ($hr, $hsecs) = answer($holder, $t0);
ok(!$hr->{timed_out} && $hsecs < $HANG && $hr->{rc} != 0,
	sprintf('[SIGTERM] ... and was cancelled within %d s (%.1f s)', $HANG, $hsecs));
my $st0 = status();
is("$st0->{free}|$st0->{abandoned}", '0|4', '[SIGTERM] its four slots are abandoned, none free');

prepare();
my $before = stats_snapshot($node);
my $reclaimed0 = $st0->{reclaimed};
my $wpid = worker_pid($node);
like($wpid, qr/^\d+$/, "[SIGTERM] ring worker pid $wpid");
$qfw0 = queue_full_waits();
my @sessions = map { start_session($_) } ('buffer', 'flush');
ok(wait_progress(sub { queue_full_waits() >= $qfw0 + 2 }, $HANG),
	'[SIGTERM] new prewarm and flush sessions wait for a slot');
my $log_off = -s $node->logfile;
$t0 = time();
is(kill('TERM', $wpid), 1, '[SIGTERM] SIGTERM sent to the stalled worker');
fault_reset($node);    # the worker leaves its stall loop on SIGTERM anyway
my $served = 0;
for my $s (@sessions)
{
	my ($r, $secs) = answer($s, $t0);
	ok(!$r->{timed_out} && $secs < $HANG,
		sprintf("[SIGTERM] the %s session answered within %d s (%.1f s)", $s->{kind}, $HANG, $secs));
	note("[SIGTERM] $s->{kind}: rc=$r->{rc} out=$r->{out} err=$r->{err}");
	if ($r->{rc} == 0)
	{
		$served++;
		my $w = $s->{kind} eq 'flush' ? $dirty : $want{ $s->{kind} };
		is($r->{out} =~ s/\s+$//r, $w, "[SIGTERM] the $s->{kind} session succeeded with the right count");
	}
	else
	{
		like($r->{err}, qr/ERROR:/, "[SIGTERM] the $s->{kind} session got an ERROR");
	}
}
my $d = stats_delta($before, stats_snapshot($node));
if ($served)
{
	cmp_ok($d->{io_uring}{fallback_ios} + $d->{sync}{requests}, '>', 0,
		"[SIGTERM] what was served while the worker was gone went synchronously "
		  . "(fallback_ios +$d->{io_uring}{fallback_ios}, sync requests +$d->{sync}{requests})");
}
my $new = wait_for_worker($node, $wpid);
like($new, qr/^\d+$/, "[SIGTERM] the worker was restarted (pid $new)");
is(ring_wait_settled($node)->{ring_up}, 't', '[SIGTERM] the ring is up again');
ok(wait_progress(sub { my $x = status(); $x->{abandoned} == 0 && $x->{free} == 4 }, $HANG),
	'[SIGTERM] abandoned_slots is back to 0 and free_slots to 4');
$st = status();
note("[SIGTERM] status: free=$st->{free} abandoned=$st->{abandoned} reclaimed=$st->{reclaimed} (was $reclaimed0)");
cmp_ok($st->{reclaimed}, '>', $reclaimed0, '[SIGTERM] reclaimed_slots rose');
my $log = slurp_log_from($node, $log_off);
unlike($log, qr/PANIC|terminated by signal|reinitializing/, '[SIGTERM] no crash');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t2', 'buffer')"), $nblocks{t2},
	'[SIGTERM] prewarm through the new worker works');
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_verify(\'t3\')'), '0',
	'[SIGTERM] verify through the new worker works');
for my $t ('t1', 't2', 't3', 't4')
{
	is(table_md5($node, 'postgres', $t), $md5{$t}, "[SIGTERM] $t intact");
}

# ---------------------------------------------------------------------------
# 3. SIGKILL of the stalled worker, with sessions waiting
# ---------------------------------------------------------------------------
prepare();
$wpid = worker_pid($node);
fault_set($node, 'worker_stall', 'stall');
$qfw0 = queue_full_waits();
$holder = start_session('buffer');
ok(wait_progress(sub { status()->{free} == 0 }, $HANG), '[SIGKILL] the prewarm took every slot');
my @waiters = map { start_session($_) } ('flush', 'read');
ok(wait_progress(sub { queue_full_waits() >= $qfw0 + 3 }, $HANG),
	'[SIGKILL] the flush and read sessions wait for a slot');
@sessions = ($holder, @waiters);
$log_off = -s $node->logfile;
$t0 = time();
is(kill('KILL', $wpid), 1, "[SIGKILL] kill -9 of the stalled worker ($wpid)");
for my $s (@sessions)
{
	my ($r, $secs) = answer($s, $t0);
	ok(!$r->{timed_out} && $secs < $HANG,
		sprintf("[SIGKILL] the %s session answered within %d s (%.1f s)", $s->{kind}, $HANG, $secs));
	note("[SIGKILL] $s->{kind}: rc=$r->{rc} err=$r->{err}");
	isnt($r->{rc}, 0, "[SIGKILL] the $s->{kind} session was ended by the crash restart");
}
ok(wait_crash_restart($node, $log_off), '[SIGKILL] the postmaster crash-restarted');
like(slurp_log_from($node, $log_off), qr/\(PID $wpid\) was terminated by signal 9/,
	'[SIGKILL] the postmaster saw the worker die of SIGKILL');
$new = wait_for_worker($node, $wpid);
like($new, qr/^\d+$/, "[SIGKILL] a new worker is running (pid $new)");
is(ring_wait_settled($node)->{ring_up}, 't', '[SIGKILL] the ring is up again');
fault_setup($node);
$st = status();
is("$st->{free}|$st->{abandoned}", '4|0', '[SIGKILL] every slot free, none abandoned');
for my $t ('t1', 't2', 't3', 't4')
{
	is(table_md5($node, 'postgres', $t), $md5{$t}, "[SIGKILL] $t intact after the crash restart");
}
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t1', 'buffer')"), $nblocks{t1},
	'[SIGKILL] prewarm works after the restart');

$node->stop;
done_testing();
