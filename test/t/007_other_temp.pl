
# Copyright (c) pg_uring authors
#
# Temporary tables: another session's temp table lives in that session's
# local buffers, so its on-disk blocks may be stale; pg_prewarm refuses it
# with "cannot access temporary tables of other sessions", in every mode, and
# so must pg_uring_prewarm and pg_uring_prewarm_blocks, with either
# io_method.  One's own temp table must work in buffer and read mode (local
# buffers, not shared buffers, and not the ring's shared-buffer claims), with
# the same counts as pg_prewarm and the right contents afterwards.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PgUringTest;

my $node = pgu_node('temp');
my ($ring_up, $why) = ring_check($node);
my @methods = ('sync');
if ($ring_up) { unshift @methods, 'io_uring'; }
else { SKIP: { skip "$why: only the sync path is tested", 1; } }

# Session A owns a temp table and stays connected (idle, waiting for more
# input).  It reads its table itself before and after the other session's
# attempts: count, sum and md5 of every row.
my $tt_oracle = "SELECT count(*), sum(id), md5(string_agg(id || pad, ',' ORDER BY id)) FROM tt";
my $owner = bg_start($node, 'postgres', undef,
	stdin => "CREATE TEMP TABLE tt AS SELECT g AS id, repeat('x', 500) AS pad FROM generate_series(1, 20000) g;\n"
	  . "SELECT 'BEFORE', * FROM ($tt_oracle) o;\nSELECT 'READY';\n",
	app => 'temp_owner', timeout => 900);
ok( wait_progress(
		sub { bg_pump($owner); $owner->{out} =~ /READY/ || !$owner->{h}->pumpable }),
	'session A created its temp table') or diag($owner->{err});
my ($tt_before) = $owner->{out} =~ /^BEFORE\|(.*)$/m;
like($tt_before // '', qr/^20000\|200010000\|[0-9a-f]{32}$/, "session A's table before: $tt_before");
my $tt = $node->safe_psql(
	'postgres', q{
SELECT n.nspname || '.' || c.relname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relname = 'tt' AND c.relpersistence = 't'});
like($tt, qr/^pg_temp_\d+\.tt$/, "found session A's temp table ($tt)");

# What pg_prewarm says, per mode.  In PostgreSQL 15, buffer and prefetch
# mode refuse (ReadBufferExtended / PrefetchBuffer check RELATION_IS_OTHER_TEMP)
# but read mode goes straight to smgrread and succeeds.
my %core;
for my $mode ('buffer', 'read', 'prefetch')
{
	my ($ret, $out, $err) = $node->psql('postgres', "SELECT pg_prewarm('$tt', '$mode')");
	$core{$mode} = $ret == 0 ? "ok:$out" : ($err =~ /(ERROR:  .*)/)[0];
	note("pg_prewarm($mode) on another session's temp table: $core{$mode}");
}
like($core{buffer}, qr/cannot access temporary tables of other sessions/,
	'pg_prewarm(buffer) refuses another session\'s temp table (the reference)');

my ($ret, $out, $err);
for my $method (@methods)
{
	for my $mode ('buffer', 'read', 'prefetch')
	{
		for my $fn ('prewarm', 'prewarm_blocks')
		{
			my $call =
			  $fn eq 'prewarm'
			  ? "pg_uring_prewarm('$tt', '$mode')"
			  : "pg_uring_prewarm_blocks('$tt', ARRAY[0, 1, 2]::int8[], '$mode')";
			($ret, $out, $err) = $node->psql('postgres',
				"SET pg_uring.io_method = '$method'; SELECT $call");
			if ($mode ne 'read')
			{
				isnt($ret, 0, "[$method] $fn($mode) on another session's temp table fails");
				like($err, qr/ERROR:  cannot access temporary tables of other sessions/,
					"[$method] ... with pg_prewarm's error");
			}
			else
			{
				# Either refuse like buffer mode, or do what pg_prewarm does.
				my $want = $fn eq 'prewarm' ? $core{read} : 'ok:3';
				my $got = $ret == 0 ? "ok:$out" : ($err =~ /(ERROR:  .*)/)[0] // $err;
				like($got,
					qr/^(\Q$want\E|ERROR:  cannot access temporary tables of other sessions)$/,
					"[$method] $fn(read) on another session's temp table: refused, or same as pg_prewarm");
				note("[$method] $fn(read): $got");
			}
		}
	}
	($ret, $out, $err) = $node->psql('postgres',
		"SET pg_uring.io_method = '$method'; SELECT pg_uring_prewarm('$tt', 'buffer', 'main', 0, 0)");
	like($err, qr/cannot access temporary tables of other sessions/,
		"[$method] a one-block range is refused too");
}
ok(wait_progress(sub { pinned_buffers($node, 'postgres') eq '0' }, 20),
	'no buffers left pinned');

# Session A's table is unharmed: A reads the same rows as before.
$owner->{in} .= "SELECT 'AFTER', * FROM ($tt_oracle) o;\n\\q\n";
my $r = bg_finish($owner);
is($r->{rc}, 0, 'session A ended cleanly') or diag($r->{err});
my ($tt_after) = $r->{out} =~ /^AFTER\|(.*)$/m;
is($tt_after, $tt_before, "session A's table is unharmed (same count, sum and md5 of its rows)");

# One's own temp table: larger than temp_buffers, so part of it is on disk.
for my $method (@methods)
{
	my $sql = qq{
SET temp_buffers = '1MB';
SET pg_uring.io_method = '$method';
CREATE TEMP TABLE mine AS SELECT g AS id, md5(g::text) || repeat('y', 400) AS pad FROM generate_series(1, 40000) g;
SELECT 'nblocks', pg_relation_size('mine') / 8192;
SELECT 'uring_buffer', pg_uring_prewarm('mine', 'buffer');
SELECT 'core_buffer', pg_prewarm('mine', 'buffer');
SELECT 'uring_read', pg_uring_prewarm('mine', 'read');
SELECT 'core_read', pg_prewarm('mine', 'read');
SELECT 'uring_range', pg_uring_prewarm('mine', 'buffer', 'main', 10, 99);
SELECT 'core_range', pg_prewarm('mine', 'buffer', 'main', 10, 99);
SELECT 'uring_blocks', pg_uring_prewarm_blocks('mine', ARRAY[0, 3, 50, 99]::int8[]);
SELECT 'uring_blocks_read', pg_uring_prewarm_blocks('mine', ARRAY[0, 3, 50, 99]::int8[], 'read');
SELECT 'content', count(*), sum(id), md5(string_agg(pad, ',' ORDER BY id)) FROM mine;
SELECT 'expected', count(*), sum(g), md5(string_agg(md5(g::text) || repeat('y', 400), ',' ORDER BY g)) FROM generate_series(1, 40000) g;
SELECT 'shared_buffers_used', count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('mine');
};
	my $res = $node->safe_psql('postgres', $sql);
	my %v = map { my @f = split /\|/, $_, 2; ($f[0] => $f[1]) } split /\n/, $res;
	note($res);
	cmp_ok($v{nblocks}, '>', 128, "[$method] own temp table is bigger than temp_buffers");
	is($v{uring_buffer}, $v{core_buffer}, "[$method] own temp table: buffer mode count = pg_prewarm's");
	is($v{uring_buffer}, $v{nblocks}, "[$method] own temp table: buffer mode counts every block");
	is($v{uring_read}, $v{core_read}, "[$method] own temp table: read mode count = pg_prewarm's");
	is($v{uring_range}, $v{core_range}, "[$method] own temp table: range count = pg_prewarm's");
	is($v{uring_blocks}, '4', "[$method] own temp table: prewarm_blocks counts 4 blocks");
	is($v{uring_blocks_read}, '4', "[$method] own temp table: prewarm_blocks read mode counts 4 blocks");
	is($v{content}, $v{expected}, "[$method] own temp table: content intact after prewarm");
	is($v{shared_buffers_used}, '0', "[$method] own temp table: nothing went to shared buffers");
}
ok(wait_progress(sub { pinned_buffers($node, 'postgres') eq '0' }, 20),
	'no buffers left pinned');

my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|was terminated by signal|leak/, 'no PANIC, crash or leak warning in the log');

$node->stop;
done_testing();
