
# Copyright (c) pg_uring authors
#
# pg_uring.io_method switched at run time through ALTER SYSTEM + reload
# (docs/design.md section 1): new sessions see the new method, the same prewarm
# gives the same results, and only the chosen path's statistics move.  Only
# superusers may change it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $node = pgu_node('switch', conf => "shared_buffers = 160MB\n");
my ($ring, $why) = ring_check($node);
my $st = ring_status($node);

my $nblocks = make_table($node, 'postgres', 't', 64);
my $md5 = table_md5($node, 'postgres', 't');
my %core;
$core{$_} = $node->safe_psql('postgres', "SELECT pg_prewarm('t', '$_')") for qw(buffer read);
$core{range} = $node->safe_psql('postgres', "SELECT pg_prewarm('t', 'buffer', 'main', 5, 4000)");
$node->safe_psql(
	'postgres', q{
CREATE ROLE alice LOGIN;
GRANT SELECT ON t TO alice;
GRANT pg_monitor TO alice;
});

is($node->safe_psql('postgres', 'SHOW pg_uring.io_method'), 'io_uring', 'default io_method is io_uring');
is($st->{io_method}, 'io_uring', 'pg_uring_status.io_method = io_uring');
is($st->{effective_method}, $ring ? 'io_uring' : 'sync', 'effective_method follows the ring state');

# Cold prewarm with the given method in effect; returns (results, stats delta).
sub cold_prewarm
{
	$node->restart;
	ring_wait_settled($node);
	my $before = stats_snapshot($node);
	my %res;
	$res{buffer} = $node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'buffer')");
	$res{cached} = rel_buffers($node, 'postgres', 't');
	$res{md5} = table_md5($node, 'postgres', 't');
	$res{read} = $node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'read')");
	$res{range} = $node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'buffer', 'main', 5, 4000)");
	my $after = stats_snapshot($node);
	return (\%res, stats_delta($before, $after));
}

sub check_results
{
	my ($res, $tag) = @_;
	is($res->{buffer}, $core{buffer}, "$tag buffer prewarm = pg_prewarm");
	is($res->{cached}, $nblocks, "$tag every block cached after buffer prewarm");
	is($res->{md5}, $md5, "$tag content identical");
	is($res->{read}, $core{read}, "$tag read prewarm = pg_prewarm");
	is($res->{range}, $core{range}, "$tag range prewarm = pg_prewarm");
	return;
}

# 1. io_uring (default).
my ($res, $d) = cold_prewarm();
check_results($res, '[io_uring]');
SKIP:
{
	skip $why, 4 unless $ring;
	cmp_ok($d->{io_uring}{blocks_read}, '>=', $nblocks, '[io_uring] ring stats move');
	cmp_ok($d->{io_uring}{enter_calls}, '>', 0, '[io_uring] io_uring_enter calls counted');
	is($d->{sync}{blocks_read}, 0, '[io_uring] sync stats do not move');
	is($d->{io_uring}{fallback_ios} + $d->{sync}{fallback_ios}, 0, '[io_uring] nothing fell back');
}
if (!$ring)
{
	# sync-only run: what the ring-down path must do instead
	cmp_ok($d->{io_uring}{fallback_ios} + $d->{sync}{fallback_ios}, '>', 0,
		'[io_uring, ring down] fallback I/Os counted');
}

# 2. ALTER SYSTEM SET ... = sync + reload: new sessions use sync.
$node->safe_psql('postgres', "ALTER SYSTEM SET pg_uring.io_method = 'sync'");
$node->reload;
ok($node->poll_query_until('postgres', 'SELECT io_method FROM pg_uring_status', 'sync'),
	'after reload: pg_uring_status.io_method = sync in a new session');
is($node->safe_psql('postgres', 'SELECT effective_method FROM pg_uring_status'),
	'sync', 'after reload: effective_method = sync');
is($node->safe_psql('postgres', 'SHOW pg_uring.io_method'), 'sync', 'after reload: SHOW says sync');

($res, $d) = cold_prewarm();    # (ALTER SYSTEM survives the restart)
is($node->safe_psql('postgres', 'SELECT io_method FROM pg_uring_status'),
	'sync', 'sync still in effect after restart');
check_results($res, '[sync]');
cmp_ok($d->{sync}{blocks_read}, '>=', $nblocks, '[sync] sync stats move');
is($d->{io_uring}{blocks_read}, 0, '[sync] ring blocks_read does not move');
is($d->{io_uring}{enter_calls}, 0, '[sync] ring enter_calls do not move');
is($d->{io_uring}{sqes_submitted}, 0, '[sync] ring sqes_submitted do not move');
is($d->{io_uring}{requests}, 0, '[sync] ring requests do not move');
is($d->{io_uring}{fallback_ios} + $d->{sync}{fallback_ios}, 0,
	'[sync] a chosen sync is not counted as fallback');

# The switch without a restart, in one running session too: reload is seen
# by an existing session at its next command.
my $s = bg_start($node, 'postgres', undef,
	stdin => "SELECT 'M1', io_method FROM pg_uring_status;\n", app => 'longlived');
ok(wait_progress(sub { bg_pump($s); $s->{out} =~ /M1\|sync/ }), 'long-lived session sees sync');
$node->safe_psql('postgres', 'ALTER SYSTEM RESET pg_uring.io_method');
$node->reload;
ok($node->poll_query_until('postgres', 'SELECT io_method FROM pg_uring_status', 'io_uring'),
	'after reset + reload: io_method = io_uring in a new session');
$s->{in} .= "SELECT pg_sleep(0.5);\nSELECT 'M2', io_method FROM pg_uring_status;\n";
ok(wait_progress(sub { bg_pump($s); $s->{out} =~ /M2\|io_uring/ }),
	'long-lived session sees io_uring after the reload');
my $r = bg_finish($s);
is($r->{rc}, 0, 'long-lived session ended cleanly') or diag($r->{err});

# 3. Back to io_uring.
($res, $d) = cold_prewarm();
check_results($res, '[io_uring again]');
SKIP:
{
	skip $why, 2 unless $ring;
	cmp_ok($d->{io_uring}{blocks_read}, '>=', $nblocks, '[io_uring again] ring stats move');
	is($d->{sync}{blocks_read}, 0, '[io_uring again] sync stats do not move');
}

# 4. In one session, SET switches for that session only.
my $before = stats_snapshot($node);
is( $node->safe_psql(
		'postgres', "SET pg_uring.io_method = 'sync'; "
		  . "SELECT io_method || ':' || pg_uring_prewarm('t', 'read') FROM pg_uring_status"),
	"sync:$core{read}", 'superuser SET io_method = sync works in a session');
my $after = stats_snapshot($node);
$d = stats_delta($before, $after);
cmp_ok($d->{sync}{blocks_read}, '>=', $nblocks, 'session SET: sync stats move');
is($d->{io_uring}{blocks_read}, 0, 'session SET: ring stats do not move');
is($node->safe_psql('postgres', 'SELECT io_method FROM pg_uring_status'),
	'io_uring', 'other sessions still use io_uring');

# 5. Non-superusers cannot change it.
my ($ret, $out, $err) = $node->psql('postgres', "SET pg_uring.io_method = 'sync'",
	extra_params => [ '-U', 'alice' ]);
isnt($ret, 0, 'alice cannot SET pg_uring.io_method');
like($err, qr/permission denied to set parameter "pg_uring\.io_method"/,
	'... with "permission denied to set parameter"');
($ret, $out, $err) = $node->psql('postgres', "SELECT set_config('pg_uring.io_method', 'sync', false)",
	extra_params => [ '-U', 'alice' ]);
like($err, qr/permission denied to set parameter/, 'alice cannot set_config() it either');
($ret, $out, $err) = $node->psql('postgres', "ALTER SYSTEM SET pg_uring.io_method = 'sync'",
	extra_params => [ '-U', 'alice' ]);
isnt($ret, 0, 'alice cannot ALTER SYSTEM it');
($ret, $out, $err) = $node->psql('postgres',
	"SET pg_uring.io_method = 'io_uring'; SELECT 1",
	extra_params => [ '-U', 'alice' ]);
isnt($ret, 0, 'alice cannot SET it even to its current value');
is( $node->safe_psql(
		'postgres', "SELECT pg_uring_prewarm('t', 'read')",
		extra_params => [ '-U', 'alice' ]),
	$core{read}, 'alice can still prewarm a table she can read');
($ret, $out, $err) = $node->psql('postgres', "SET pg_uring.io_method = 'bogus'");
like($err, qr/invalid value for parameter "pg_uring\.io_method"/, 'invalid value rejected');

$node->stop;
done_testing();
