# Copyright (c) pg_uring authors
#
# Issue 11 (the testing build): pg_uring_progress phases of
# pg_uring_evict.  The write of each buffer is slowed down (write_delay,
# 1 ms) and so is its drop (drop_delay, 1 ms), so that a second session (a
# pg_monitor member) can watch.  What must hold:
#   - the row says operation "evict" (not "flush"), first in phase
#     "writing buffers", later in "dropping buffers", never in another
#     order, and no relation counts (those are verify_database's);
#   - blocks_done never passes blocks_total, and in "dropping buffers" it
#     grows to the buffers looked at;
#   - the evict returns every dirty buffer written and every buffer
#     evicted, the view is empty afterwards, and the table reads back the
#     same.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $node = pgu_node('fault_evict_progress');
fault_setup_or_skip($node);

my $nblocks = make_table($node, 'postgres', 'ev', 8);
$node->safe_psql('postgres', 'CREATE EXTENSION IF NOT EXISTS pg_buffercache; CHECKPOINT;');
$node->safe_psql('postgres', 'CREATE ROLE ev_monitor LOGIN IN ROLE pg_monitor');
$node->safe_psql('postgres', "SELECT pg_uring_prewarm('ev')");
$node->safe_psql('postgres', 'UPDATE ev SET v = v + 1');
my $md5 = table_md5($node, 'postgres', 'ev');
my $dirty = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_buffercache WHERE isdirty AND relfilenode = pg_relation_filenode('ev')");
cmp_ok($dirty, '>', 100, "ev has $dirty dirty buffers");

fault_set($node, 'write_delay', 'delay', arg => 1);
fault_set($node, 'drop_delay', 'delay', arg => 1);

my $s = bg_start($node, 'postgres', "SELECT evicted, flushed, skipped FROM pg_uring_evict('ev')",
	app => 'pgu_evict');
my $pid = bg_backend_pid($s);
my @phases;
my $sane = 1;
my $drop_max = -1;
my $deadline = time() + 120;
while (time() < $deadline)
{
	bg_pump($s);
	my $row = $node->safe_psql(
		'postgres',
		"SELECT operation, phase, blocks_done, blocks_total, relation::text, "
		  . "relations_done IS NULL AND relations_total IS NULL "
		  . "FROM pg_uring_progress WHERE pid = $pid",
		extra_params => [ '-U', 'ev_monitor' ]);
	if ($row ne '')
	{
		my ($op, $phase, $done, $total, $rel, $norels) = split /\|/, $row;
		push @phases, $phase if !@phases || $phases[-1] ne $phase;
		$sane = 0 unless $op eq 'evict' && $done <= $total && $rel eq 'ev' && $norels eq 't';
		$drop_max = $done if $phase eq 'dropping buffers' && $done > $drop_max;
	}
	last if !$s->{h}->pumpable;
	usleep(100_000);
}
my $r = bg_finish($s);
chomp($r->{out});
is($r->{rc}, 0, 'the evict ended without an error') or diag($r->{err});
my ($evicted, $flushed, $skipped) = split /\|/, $r->{out};
is($flushed, $dirty, 'every dirty buffer was written');
cmp_ok($evicted, '>=', $dirty, "buffers evicted: $evicted");
is($skipped, '0', 'none skipped');
note('phases seen: ' . join(' -> ', @phases));
ok($sane, 'every row: operation evict, on ev, blocks_done <= blocks_total, no relation counts');
my @order = grep { $_ ne 'writing busy buffers' } @phases;
is(join(' -> ', @order), 'writing buffers -> dropping buffers',
	'the phases: writing buffers, then dropping buffers');
cmp_ok($drop_max, '>', 0, "dropping buffers: blocks_done grew ($drop_max)");
is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_progress'), '0', 'the view is empty afterwards');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('ev')"),
	'0', 'ev is out of shared buffers');
fault_reset($node);
is(table_md5($node, 'postgres', 'ev'), $md5, 'ev reads back the same');

$node->stop;
done_testing();
