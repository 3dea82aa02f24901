# Copyright (c) pg_uring authors
#
# Issue 14 (the testing build): parallel installs under failure.  A
# buffer-mode prewarm shared by the caller and two helpers (docs/design.md
# "Parallel installs"), slowed down by install_delay so that it is caught
# mid-flight:
#   - an EIO in a helper's share (parallel_leader_participation = off, so
#     every block is a helper's): the caller's ERROR names the file and
#     block, SQLSTATE 58030, with the helper's context ("parallel worker");
#   - cancel of the caller while helpers run, the caller installing too or
#     only waiting (parallel_leader_participation = off): the call ends with
#     "canceling statement", and when it has returned no helper is left;
#   - a helper terminated (pg_terminate_backend) mid-prewarm: the caller
#     gets an ERROR, no helper is left, the session works on;
#   - a helper killed with SIGKILL: the postmaster restarts the cluster
#     (as for any backend); afterwards the data and the index are intact
#     and a prewarm works.
# After each: no pinned buffer, every queue slot free, no helper running,
# the content oracle and bt_index_check(heapallindexed) clean.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;
use Time::HiRes qw(usleep);

my $node = pgu_node('fault_parallel', conf => "shared_buffers = 96MB\nrestart_after_crash = on\n");
fault_setup_or_skip($node);
my ($ring_up, $why) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
note("ring down ($why): only the sync path") unless $ring_up;

$node->safe_psql('postgres', 'CREATE EXTENSION amcheck;');
my $nblocks = make_table($node, 'postgres', 't', 32);
$node->safe_psql('postgres', 'CHECKPOINT');
my $md5 = table_md5($node, 'postgres', 't');
my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('t')");
note("t: $nblocks blocks, file $relpath");

my $par = "SET pg_uring.min_parallel_prewarm_size = '1MB'; SET pg_uring.max_prewarm_workers = 2;";

sub evict
{
	my ($tag) = @_;
	$node->safe_psql('postgres', "SELECT pg_uring_evict('t')");
	is(rel_buffers($node, 'postgres', 't'), '0', "$tag t is not in shared buffers before the prewarm");
}

sub helpers_of
{
	my ($pid) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'parallel worker'"
		  . (defined $pid ? " AND leader_pid = $pid" : ''));
}

sub clean_after
{
	my ($tag) = @_;
	is(helpers_of(), '0', "$tag no helper is left");
	is(pinned_buffers($node, 'postgres'), '0', "$tag no buffer left pinned");
	ok(queue_settled($node),
		"$tag every queue slot is free again, none abandoned");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_progress'), '0',
		"$tag no pg_uring operation is left in pg_uring_progress");
	is(table_md5($node, 'postgres', 't'), $md5, "$tag content oracle unchanged");
	is($node->safe_psql('postgres', "SELECT bt_index_check('t_pkey', true)"), '',
		"$tag bt_index_check(heapallindexed) is clean");
}

# Start a slowed-down parallel prewarm in the background; return the
# session, the caller's pid and the helpers' pids once two helpers run.
sub start_slow
{
	my ($tag, $method, $leader) = @_;
	fault_set($node, 'install_delay', 'delay', arg => 2);
	my $s = bg_start($node, 'postgres',
		"SET pg_uring.io_method = $method; $par SET parallel_leader_participation = $leader; "
		  . "SELECT pg_uring_prewarm('t');",
		app => 'pgu_par');
	my $pid = bg_wait_active($s, '%pg_uring_prewarm%');
	ok($pid ne '', "$tag the prewarm is running (pid $pid)");
	my @helpers;
	wait_progress(
		sub {
			bg_pump($s);
			@helpers = split /\n/,
			  $node->safe_psql('postgres',
				"SELECT pid FROM pg_stat_activity WHERE backend_type = 'parallel worker' "
				  . "AND leader_pid = $pid ORDER BY pid");
			return @helpers == 2;
		});
	is(scalar(@helpers), 2, "$tag two helpers are running for it");
	# let them get going
	usleep(200_000);
	return ($s, $pid, @helpers);
}

for my $method (@methods)
{
	# --- EIO in a helper's share --------------------------------------
	{
		my $tag = "[$method/eio in a helper]";
		evict($tag);
		fault_set($node, 'read', 'eio', skip => 20, count => 1);
		my ($out, $err) = ('', '');
		my $rc = $node->psql(
			'postgres',
			"\\set VERBOSITY verbose\nSET pg_uring.io_method = $method; $par "
			  . "SET parallel_leader_participation = off; SELECT pg_uring_prewarm('t');",
			stdout => \$out,
			stderr => \$err);
		is(fault_hits($node, 'read'), '1', "$tag the fault fired once");
		fault_reset($node);
		note("$tag $err");
		isnt($rc, 0, "$tag the prewarm fails");
		like($err, qr/ERROR:  58030: could not read block \d+ in file "\Q$relpath\E": Input\/output error/,
			"$tag the caller's ERROR names the file and block, SQLSTATE 58030");
		like($err, qr/CONTEXT:.*parallel worker/s, "$tag with the helper's context");
		clean_after($tag);
		is($node->safe_psql('postgres', "SET pg_uring.io_method = $method; $par SELECT pg_uring_prewarm('t')"),
			$nblocks, "$tag a prewarm works again");
	}

	# --- cancel of the caller, working or only waiting ------------------
	for my $leader ('on', 'off')
	{
		my $tag = "[$method/cancel caller, leader=$leader]";
		evict($tag);
		my ($s, $pid, @helpers) = start_slow($tag, $method, $leader);
		is($node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)"), 't', "$tag cancel sent");
		my $r = bg_finish($s);
		is($r->{timed_out}, 0, "$tag the call returned (no hang)");
		isnt($r->{rc}, 0, "$tag the call failed");
		like($r->{err}, qr/canceling statement due to user request/, "$tag with the cancel's message");
		is(helpers_of($pid), '0', "$tag no helper outlives the call");
		fault_reset($node);
		clean_after($tag);
	}

	# --- a helper terminated ------------------------------------------
	{
		my $tag = "[$method/terminate a helper]";
		evict($tag);
		my ($s, $pid, @helpers) = start_slow($tag, $method, 'on');
		is($node->safe_psql('postgres', "SELECT pg_terminate_backend($helpers[0])"), 't',
			"$tag helper $helpers[0] terminated");
		my $r = bg_finish($s);
		is($r->{timed_out}, 0, "$tag the call returned (no hang)");
		isnt($r->{rc}, 0, "$tag the call failed");
		like($r->{err}, qr/ERROR:.*(terminating|administrator command)/,
			"$tag the caller's ERROR says the helper was terminated");
		is(helpers_of($pid), '0', "$tag no helper outlives the call");
		fault_reset($node);
		clean_after($tag);
	}
}

# --- a helper killed: crash restart ------------------------------------
{
	my $tag = '[SIGKILL a helper]';
	my $method = $methods[0];
	evict($tag);
	my ($s, $pid, @helpers) = start_slow($tag, $method, 'on');
	is(kill('KILL', $helpers[0]), 1, "$tag SIGKILL sent to helper $helpers[0]");
	my $r = bg_finish($s);
	is($r->{timed_out}, 0, "$tag the caller's session ended (no hang)");
	isnt($r->{rc}, 0, "$tag the call failed");
	ok( wait_progress(
			sub {
				my ($rc) = $node->psql('postgres', 'SELECT 1');
				return $rc == 0;
			}),
		"$tag the cluster accepts connections again");
	my $log = slurp_log_from($node, 0);
	like($log, qr/terminated by signal 9/, "$tag the postmaster saw the helper killed");
	like($log, qr/all server processes terminated; reinitializing/, "$tag and restarted the cluster");
	ring_check($node) if $ring_up;
	fault_setup($node);
	fault_reset($node);
	clean_after($tag);
	is($node->safe_psql('postgres', "$par SELECT pg_uring_prewarm('t')"),
		$nblocks, "$tag a parallel prewarm works after the restart");
}

$node->stop;
done_testing();
