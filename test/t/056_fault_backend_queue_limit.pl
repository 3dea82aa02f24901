# Copyright (c) pg_uring authors
#
# Issue 11 (the testing build): no session takes the whole queue.
# pg_uring.backend_queue_limit (postgresql.conf, reload) caps the request
# slots one process holds at once, whatever pg_uring.queue_depth it asks
# for.  With the worker stalled (worker_stall), the slots a session holds
# stay taken, so they can be counted: on an 8-slot queue with a limit of 2,
# a read-mode prewarm at queue_depth 64 holds exactly 2, a second one 2
# more; after a reload with a limit of 3, a new call holds 3 (a running one
# keeps its window).  pg_uring_inflight shows each one's slots.  Then the
# worker serves again: every call ends with its
# block count and every slot is free.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PgUringTest;

my $node = pgu_node('fault_backend_limit',
	conf => "pg_uring.queue_size = 8\npg_uring.backend_queue_limit = 2\n");
fault_setup_or_skip($node);
ring_skip_unless_up($node);

my %nblocks = map { $_ => make_table($node, 'postgres', $_, 8) } ('a', 'b', 'c');
$node->safe_psql('postgres', 'CHECKPOINT');

sub free_slots
{
	return $node->safe_psql('postgres', 'SELECT free_slots FROM pg_uring_status');
}

# free_slots reaches $want and stays there for half a second
sub settles_at
{
	my ($want) = @_;
	return 0 unless wait_progress(sub { free_slots() == $want });
	usleep(500_000);
	return free_slots() == $want;
}

is(free_slots(), 8, 'eight free slots');
fault_set($node, 'worker_stall', 'stall');
my @s;
push @s, bg_start($node, 'postgres',
	"SET pg_uring.queue_depth = 64; SELECT pg_uring_prewarm('a', 'read')", app => 'pgu_limit_a');
ok(settles_at(6), 'a session asking for 64 slots holds 2 (backend_queue_limit = 2)');
push @s, bg_start($node, 'postgres',
	"SET pg_uring.queue_depth = 64; SELECT pg_uring_prewarm('b', 'read')", app => 'pgu_limit_b');
ok(settles_at(4), 'a second one holds 2 more');

# pg_uring_inflight shows what each holds, while the worker does not serve
my $apid = $node->safe_psql('postgres',
	"SELECT pid FROM pg_stat_activity WHERE application_name = 'pgu_limit_a'");
is( $node->safe_psql('postgres',
		"SELECT count(*), min(state), min(operation), bool_and(path LIKE 'base/%'), "
		  . "min(blocks), bool_or(abandoned), bool_and(age_seconds >= 0) "
		  . "FROM pg_uring_inflight WHERE pid = $apid"),
	'2|queued|read|t|32|f|t',
	"pg_uring_inflight: session a's 2 slots, queued to the stalled worker, reading 32 blocks each");
is($node->safe_psql('postgres', 'SELECT count(DISTINCT pid), count(*) FROM pg_uring_inflight'),
	'2|4', 'pg_uring_inflight: 4 slots in use, by 2 sessions');

$node->append_conf('postgresql.conf', "pg_uring.backend_queue_limit = 3\n");
$node->reload;
ok(wait_progress(sub { $node->safe_psql('postgres', 'SHOW pg_uring.backend_queue_limit') eq '3' }),
	'the new limit is in force after a reload');
push @s, bg_start($node, 'postgres',
	"SET pg_uring.queue_depth = 64; SELECT pg_uring_prewarm('c', 'read')", app => 'pgu_limit_c');
ok(settles_at(1), 'a new call holds 3 under the new limit');

fault_reset($node);
my @r = bg_finish_all(@s);
for my $i (0 .. 2)
{
	my $t = ('a', 'b', 'c')[$i];
	is($r[$i]{rc}, 0, "$t: the prewarm ended without an error") or diag($r[$i]{err});
	is($r[$i]{out}, "$nblocks{$t}\n", "$t: every block counted");
}
ok(queue_settled($node), 'every slot is free again');

$node->stop;
done_testing();
