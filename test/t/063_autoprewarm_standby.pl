# Copyright (c) pg_uring authors
#
# Issue 10, warm standbys (pg_uring.autoprewarm_replicate; docs/design.md
# section 6):
#   - the primary's replicate worker writes its buffer list into
#     pg_uring_autoprewarm_list every autoprewarm_interval; the rows reach
#     the standbys by streaming replication;
#   - a standby with autoprewarm_replicate restores the primary's hot set
#     (the blocks it does not cache) and logs it; a standby without it stays
#     cold;
#   - a standby whose buffers are full takes the primary's hot set back
#     (the clock sweep makes room);
#   - a standby that does not load pg_uring at all keeps replaying, the
#     list's rows included, without an error;
#   - promoted, the warmed standby answers from shared buffers (its buffer
#     hit ratio on the hot table in the first query, against the unwarmed
#     standby's), and starts publishing the list itself.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

my $conf = "shared_buffers = 128MB\npg_uring.autoprewarm = on\n"
  . "pg_uring.autoprewarm_interval = 1\npg_uring.autoprewarm_replicate = on\n"
  . "max_worker_processes = 16\n";
my $primary = pgu_node('apw_primary', init => { allows_streaming => 1 }, conf => $conf);
make_table($primary, 'postgres', 'apw_hot', 8);
make_table($primary, 'postgres', 'apw_cold', 8);
make_table($primary, 'postgres', 'apw_fill', 24);
$primary->safe_psql('postgres', 'CHECKPOINT');
$primary->safe_psql('postgres', "SELECT pg_uring_evict('apw_fill')");

# The primary's hot set: apw_hot cached, apw_cold evicted.
$primary->safe_psql('postgres', "SELECT pg_prewarm('apw_hot')");
$primary->safe_psql('postgres', "SELECT pg_uring_evict('apw_cold')");
my $hot_blocks = rel_blocks($primary, 'postgres', 'apw_hot');
my $hot_fn = $primary->safe_psql('postgres', "SELECT pg_relation_filenode('apw_hot')");
my $cold_fn = $primary->safe_psql('postgres', "SELECT pg_relation_filenode('apw_cold')");

# The list shows apw_hot and not apw_cold, within a few intervals.
ok(wait_progress(sub {
			$primary->safe_psql('postgres',
				"SELECT coalesce(sum(cardinality(blocks)) FILTER (WHERE filenode = $hot_fn AND fork = 0), 0) >= $hot_blocks "
				  . "AND NOT coalesce(bool_or(filenode = $cold_fn AND fork = 0), false) "
				  . "FROM pg_uring_autoprewarm_list") eq 't';
		}),
	'the primary publishes its hot set in pg_uring_autoprewarm_list');
$primary->backup('b');

# Three standbys from the backup, started cold (without the primary's dump
# file that the backup carries):
#   warm:  pg_uring.autoprewarm_replicate = on (as the primary)
#   cold:  pg_uring loaded, autoprewarm off
#   plain: no pg_uring at all
#   small: as warm, with 16 MB of shared buffers
my %sb;
for my $name ('warm', 'cold', 'plain', 'small')
{
	my $n = PostgreSQL::Test::Cluster->new("apw_$name");
	$n->init_from_backup($primary, 'b', has_streaming => 1);
	unlink $n->data_dir . '/pg_uring_autoprewarm.blocks';
	$n->append_conf('postgresql.conf',
		"pg_uring.autoprewarm = off\npg_uring.autoprewarm_replicate = off\n") if $name eq 'cold';
	$n->append_conf('postgresql.conf', "shared_preload_libraries = ''\n") if $name eq 'plain';
	$n->append_conf('postgresql.conf', "shared_buffers = 16MB\n") if $name eq 'small';
	$n->start;
	$sb{$name} = $n;
}
$primary->wait_for_catchup($sb{$_}) for keys %sb;

like($primary->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_uring autoprewarm replicate'"),
	qr/^1$/, 'the primary runs the replicate worker');

is($primary->safe_psql('postgres',
		"SELECT count(DISTINCT dumped_at) FROM pg_uring_autoprewarm_list"),
	'1', 'the list is replaced whole (one dumped_at)');
my ($rc, $out, $err) = $primary->psql('postgres',
	"CREATE ROLE apw_plain LOGIN; SET ROLE apw_plain; SELECT count(*) FROM pg_uring_autoprewarm_list");
like($err, qr/permission denied for table pg_uring_autoprewarm_list/, 'the list is not for users');

# The warm standby restores it; the cold one does not.
my $warm = $sb{warm};
ok(wait_progress(sub { rel_buffers($warm, 'postgres', 'apw_hot') >= $hot_blocks }),
	'the warm standby caches the primary\'s hot table');
my $wlog = slurp_log_from($warm, 0);
like($wlog, qr/pg_uring autoprewarm restored \d+ of \d+ blocks from the primary's list/,
	'the warm standby logs its restore of the primary\'s list');
cmp_ok(rel_buffers($warm, 'postgres', 'apw_cold'), '<', rel_blocks($warm, 'postgres', 'apw_cold') / 4,
	'... and not what the primary evicted');
my $cold_cached = rel_buffers($sb{cold}, 'postgres', 'apw_hot');
cmp_ok($cold_cached, '<', $hot_blocks / 4,
	"the standby without autoprewarm_replicate stays cold ($cold_cached of $hot_blocks)");

# Later lists: only what is not cached is read again, so apw_hot is not
# (a few pages the primary touched since may be).
my $woff = -s $warm->logfile;
$primary->safe_psql('postgres', "SELECT pg_prewarm('apw_hot')");
sleep 3;
$primary->wait_for_catchup($warm);
sleep 2;
my @again = slurp_log_from($warm, $woff) =~ /restored \d+ of (\d+) blocks from the primary's list/g;
is(scalar(grep { $_ >= $hot_blocks / 2 } @again), 0,
	'newer lists restore only blocks not cached (' . (join(', ', @again) || 'no restore') . ')');

# A standby whose buffers are full (nothing on the free list: here a
# prewarm of a table bigger than its shared buffers, which the primary does
# not cache) still takes the primary's hot set back: core's clock sweep
# makes room (a restore that stopped when no buffer is free would read
# nothing here).
my $small = $sb{small};
ok(wait_progress(sub { rel_buffers($small, 'postgres', 'apw_hot') >= $hot_blocks }),
	'the small standby caches the hot table first');
$small->safe_psql('postgres', "SELECT pg_prewarm('apw_fill')");
my $evicted = rel_buffers($small, 'postgres', 'apw_hot');
cmp_ok($evicted, '<', $hot_blocks / 2, "filling its buffers evicted most of it ($evicted of $hot_blocks left)");
ok(wait_progress(sub { rel_buffers($small, 'postgres', 'apw_hot') >= $hot_blocks * 0.9 }),
	'with its buffers full, the small standby takes the primary\'s hot set back ('
	  . rel_buffers($small, 'postgres', 'apw_hot') . " of $hot_blocks)");

# The standby without pg_uring replays the list's rows without an error.
$primary->wait_for_catchup($sb{plain});
cmp_ok($sb{plain}->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_autoprewarm_list'),
	'>', 0, 'a standby without pg_uring has the rows (it replayed them)');
is($sb{plain}->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'pg_uring%'"),
	'0', '... and runs no pg_uring worker');
unlike(slurp_log_from($sb{plain}, 0), qr/\b(ERROR|FATAL|PANIC):/,
	'... and logged no ERROR, FATAL or PANIC');

# Promote both: the warmed one answers from shared buffers at once.
sub hit_ratio
{
	my ($n) = @_;
	my $plan = $n->safe_psql('postgres',
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; "
		  . "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) SELECT count(*) FROM apw_hot");
	# the top node's line (later ones may be the planner's)
	my ($hit, $read) = $plan =~ /Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?/;
	$hit //= 0;
	$read //= 0;
	return ($hit + $read) > 0 ? $hit / ($hit + $read) : 0;
}
$primary->stop('fast');
$_->promote for ($warm, $sb{cold});
$_->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') for ($warm, $sb{cold});
my $warm_ratio = hit_ratio($warm);
my $cold_ratio = hit_ratio($sb{cold});
note(sprintf('buffer hit ratio on apw_hot right after promotion: warmed %.3f, unwarmed %.3f',
		$warm_ratio, $cold_ratio));
cmp_ok($warm_ratio, '>=', 0.95, sprintf('the promoted warm standby hits %.1f%% in shared buffers', 100 * $warm_ratio));
cmp_ok($cold_ratio, '<', 0.5, sprintf('the promoted unwarmed standby hits %.1f%%', 100 * $cold_ratio));

# The promoted warm standby publishes the list itself now.
my $before = $warm->safe_psql('postgres', 'SELECT max(dumped_at) FROM pg_uring_autoprewarm_list');
ok(wait_progress(sub {
			$warm->safe_psql('postgres',
				"SELECT max(dumped_at) > '$before' FROM pg_uring_autoprewarm_list") eq 't';
		}),
	'the promoted standby publishes the list');

$_->stop for values %sb;
done_testing();
