
# Copyright (c) pg_uring authors
#
# Verify while storage is being written outside shared buffers (issue 8
# section 3, issue 15).
#
# CREATE INDEX CONCURRENTLY and REINDEX INDEX CONCURRENTLY build the new index
# with smgrextend, block 0 (the metapage) last; VACUUM FULL writes the new heap
# and its indexes the same way.  Judged while that happens, such storage shows
# all-zero metapages and torn pages that are not corruption.  verify.c skips
# indexes that are not ready or not valid, a database scan skips relations it
# cannot lock at once, and a scan of one relation waits for the builder.
#
# A table "bt" (2M rows, an index on a text column, maintenance_work_mem =
# 1MB so that each build takes several seconds) is, in turn:
#   (a) indexed with CREATE INDEX CONCURRENTLY,
#   (b) reindexed with REINDEX INDEX CONCURRENTLY (the new index: bt_t_ccnew),
#   (c) rewritten with VACUUM FULL,
# in a background session, while this script loops, until the build ends:
#   pg_uring_verify(the relation being built); pg_uring_verify_database();
#   pg_uring_verify(the relation being built) again.
# Another table, "vc", has one block broken on disk (bytes overwritten with
# the server stopped).  Every pg_uring_verify_database must report exactly
# that block and nothing else; pg_uring_verify of the relation being built
# must report nothing (or say that it skips it); pg_stat_database's
# checksum_failures must rise by exactly the number of times the broken block
# was reported.  That the race really happened is checked too: at least 3
# iterations per build start and end while the builder is active, the skip
# paths ran (pg_uring_stats.verify_skipped_relations rose; the "being built"
# NOTICE, the "locked exclusively" count of the closing NOTICE), and a
# pg_uring_verify of the table started during VACUUM FULL waited for it.
# Once with io_method io_uring (skipped, with the reason, where the ring is
# down and PG_URING_SYNC_ONLY=1), once with sync; pg_uring.direct_io off.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
my $rows = soak() ? 6_000_000 : 2_000_000;
my $node = pgu_node(
	'vbuilds', conf => qq{
shared_buffers = 128MB
maintenance_work_mem = 1MB
max_parallel_maintenance_workers = 0
});
my ($ring_up, $ring_why) = ring_check($node);

# The broken table: 100 blocks, block 50 overwritten in its middle.
$node->safe_psql(
	'postgres', q{
CREATE TABLE vc (id int PRIMARY KEY, t text) WITH (autovacuum_enabled = off);
INSERT INTO vc SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 4500) g;
VACUUM (FREEZE) vc;
});
my $vc_blocks = rel_blocks($node, 'postgres', 'vc');
cmp_ok($vc_blocks, '>=', 60, "vc has $vc_blocks blocks");
my $bad_blk = int($vc_blocks / 2);

# The table that is rebuilt.
$node->safe_psql('postgres',
	'CREATE TABLE bt (id int, t text) WITH (autovacuum_enabled = off)');
$node->safe_psql('postgres',
	"INSERT INTO bt SELECT g, md5(g::text) FROM generate_series(1, $rows) g");
$node->safe_psql('postgres', 'VACUUM (FREEZE) bt');
my $bt_blocks = rel_blocks($node, 'postgres', 'bt');
note("bt: $bt_blocks blocks, $rows rows");

my $vc_file =
  $node->data_dir . '/' . $node->safe_psql('postgres', "SELECT pg_relation_filepath('vc')");
$node->stop;
my ($expected_sum, $found_sum);
{
	open(my $fh, '+<:raw', $vc_file) or die "open $vc_file: $!";
	sysseek($fh, $bad_blk * 8192, 0) or die "seek: $!";
	my $page;
	sysread($fh, $page, 8192) == 8192 or die "short read";
	is(pg_checksum_page($page, $bad_blk), unpack('v', substr($page, 8, 2)),
		'Perl checksum agrees with the intact page');
	substr($page, 4000, 8) = substr($page, 4000, 8) ^ "\xA5\x5A\xFF\x01\x10\x20\x40\x80";
	$expected_sum = pg_checksum_page($page, $bad_blk);
	$found_sum = unpack('v', substr($page, 8, 2));
	die "checksum collision" if $expected_sum == $found_sum;
	sysseek($fh, $bad_blk * 8192, 0) or die "seek: $!";
	syswrite($fh, $page) == 8192 or die "write: $!";
	close($fh);
}
$node->start;
ring_wait_settled($node) if $ring_up;

my $expect_row = "vc|main|$bad_blk|checksum mismatch|$expected_sum|$found_sum";
my $row_cols =
    "relation::text || '|' || fork_name || '|' || block || '|' || reason || '|' "
  . "|| coalesce(expected_checksum::text, '') || '|' || coalesce(found_checksum::text, '')";

sub checksum_failures
{
	return $node->safe_psql('postgres',
		"SELECT coalesce(checksum_failures, 0) FROM pg_stat_database WHERE datname = current_database()");
}

sub stat_sum
{
	my ($col) = @_;
	return $node->safe_psql('postgres', "SELECT sum($col) FROM pg_uring_stats");
}

# At rest: exactly the broken block, through every method.
for my $m ('io_uring', 'sync')
{
  SKIP:
	{
		skip "[$m] $ring_why", 1 if $m eq 'io_uring' && !$ring_up;
		is( $node->safe_psql(
				'postgres',
				"SET pg_uring.io_method = $m; SELECT $row_cols FROM pg_uring_verify_database()"),
			$expect_row,
			"[$m] at rest, pg_uring_verify_database reports exactly vc block $bad_blk");
	}
}

my $cf_start = checksum_failures();
my $reported_total = 0;    # how often the broken block was reported

# Is the builder's statement running?
sub active_sql
{
	my ($app) = @_;
	return "SELECT count(*) FROM pg_stat_activity "
	  . "WHERE application_name = '$app' AND state = 'active'";
}

# Loop verify against a running build until it ends.  Returns a hashref of
# what was seen.
sub race
{
	my ($m, $tag, $builder, $app, $target) = @_;
	my %r = (iters => 0, overlapped => 0, bad_db => [], bad_target => [],
		errors => [], building_notices => 0, locked_iters => 0,
		building_iters => 0, lock_timeouts => 0, reported => 0, min_blocks => undef);
	my $deadline = time() + 4 * hang_timeout();
	my $sql = qq{
SET pg_uring.io_method = $m;
SET pg_uring.direct_io = off;
SET lock_timeout = '200ms';
SELECT 'B:' || (@{[active_sql($app)]});
SELECT 'T:' || $row_cols FROM pg_uring_verify(${target}::regclass);
SELECT 'D:' || $row_cols FROM pg_uring_verify_database();
SELECT 'T:' || $row_cols FROM pg_uring_verify(${target}::regclass);
SELECT 'A:' || (@{[active_sql($app)]});
};
	while (time() < $deadline)
	{
		bg_pump($builder);
		my ($rc, $out, $err) = $node->psql('postgres', $sql, on_error_stop => 0);
		$r{iters}++;
		my @l = split /\n/, $out;
		my ($before) = map { /^B:(\d+)/ ? $1 : () } @l;
		my ($after)  = map { /^A:(\d+)/ ? $1 : () } @l;
		my @d = map { /^D:(.*)/ ? $1 : () } @l;
		my @t = map { /^T:(.*)/ ? $1 : () } @l;
		$r{overlapped}++ if ($before // 0) > 0 && ($after // 0) > 0;
		my $n_expect = grep { $_ eq $expect_row } @d;
		$r{reported} += $n_expect;
		push @{ $r{bad_db} }, "iteration $r{iters}: " . join(' ; ', @d)
		  if @d != 1 || $n_expect != 1;
		push @{ $r{bad_target} }, "iteration $r{iters}: $_" for @t;
		$r{building_notices} += () = $err =~ /NOTICE:  skipping index "[^"]+" because it is being built/g;
		$r{lock_timeouts} += () = $err =~ /ERROR:  canceling statement due to lock timeout/g;
		for my $e ($err =~ /^(?:psql:[^\n]*?)?((?:ERROR|FATAL|PANIC):[^\n]*)/mg)
		{
			push @{ $r{errors} }, "iteration $r{iters}: $e"
			  unless $e =~ /canceling statement due to lock timeout/;
		}
		# the DETAIL has one sentence per kind of skipped relation, if any
		$r{building_iters}++
		  if $err =~ /DETAIL:  [^\n]*Skipped \d+ (?:index|indexes) being built or not valid\./;
		$r{locked_iters}++
		  if $err =~ /DETAIL:  [^\n]*Skipped \d+ relations? locked exclusively by others\./;
		if ($err =~ /NOTICE:  verified \d+ relations \((\d+) blocks\)/)
		{
			$r{min_blocks} = $1 if !defined $r{min_blocks} || $1 < $r{min_blocks};
		}
		else
		{
			push @{ $r{errors} }, "iteration $r{iters}: no closing NOTICE of pg_uring_verify_database";
		}
		last if defined $after && $after == 0;
		last unless $builder->{h}->pumpable;
	}
	note("$tag $r{iters} iterations, $r{overlapped} during the build; "
		  . "$r{building_notices} 'being built' NOTICEs, $r{building_iters} database scans skipped an index being built, "
		  . "$r{locked_iters} skipped a locked relation, $r{lock_timeouts} lock timeouts; "
		  . "each database scan read >= " . ($r{min_blocks} // 0) . " blocks");
	return \%r;
}

# What must hold after each race.
sub check_race
{
	my ($tag, $r, $res, $skipped0) = @_;
	ok(!$res->{timed_out}, "$tag the build ended");
	is($res->{rc}, 0, "$tag the build succeeded") or diag($res->{err});
	is(scalar(@{ $r->{errors} }), 0, "$tag no error other than a lock timeout")
	  or diag(join("\n", @{ $r->{errors} }[ 0 .. ($#{ $r->{errors} } < 20 ? $#{ $r->{errors} } : 20) ]));
	is(scalar(@{ $r->{bad_db} }), 0,
		"$tag every pg_uring_verify_database reported exactly vc block $bad_blk ($r->{iters} iterations)")
	  or diag(join("\n", @{ $r->{bad_db} }[ 0 .. ($#{ $r->{bad_db} } < 20 ? $#{ $r->{bad_db} } : 20) ]));
	is(scalar(@{ $r->{bad_target} }), 0, "$tag pg_uring_verify of the relation being built reported nothing")
	  or diag(join("\n", @{ $r->{bad_target} }[ 0 .. ($#{ $r->{bad_target} } < 20 ? $#{ $r->{bad_target} } : 20) ]));
	cmp_ok($r->{overlapped}, '>=', 3, "$tag $r->{overlapped} iterations ran while the build was in progress");
	my $skipped = stat_sum('verify_skipped_relations') - $skipped0;
	cmp_ok($skipped, '>', 0, "$tag pg_uring_stats.verify_skipped_relations rose (by $skipped)");
	$reported_total += $r->{reported};
	return;
}

# Wait until $cond (a query) returns a value, e.g. the OID of the relation
# being built; returns it ('' if the builder ended first, or on timeout).
sub wait_for_relation
{
	my ($s, $cond) = @_;
	my $oid = '';
	wait_progress(
		sub {
			bg_pump($s);
			$oid = $node->safe_psql('postgres', $cond);
			return $oid ne '' || !$s->{h}->pumpable;
		});
	return $oid;
}

# The three builds, with verify through io_method $m: 36 checks.
my $ROUND_CHECKS = 36;

sub build_round
{
	my ($m) = @_;

	# --- (a) CREATE INDEX CONCURRENTLY
	{
		my $tag = "[$m/CREATE INDEX CONCURRENTLY]";
		my $app = "cic_$m";
		my $sk0 = stat_sum('verify_skipped_relations');
		my $t0 = time();
		my $b = bg_start($node, 'postgres', 'CREATE INDEX CONCURRENTLY bt_t ON bt (t)',
			app => $app, timeout => 4 * hang_timeout());
		my $oid = wait_for_relation($b,
			"SELECT coalesce(min(c.oid)::text, '') FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
			  . "WHERE c.relname = 'bt_t' AND NOT i.indisready");
		isnt($oid, '', "$tag the new index showed up not ready");
		my $r = race($m, $tag, $b, $app, $oid || "'bt'");
		my $res = bg_finish($b);
		note(sprintf("$tag build took %.1f s", time() - $t0));
		check_race($tag, $r, $res, $sk0);
		cmp_ok($r->{building_notices}, '>', 0,
			"$tag pg_uring_verify skipped the index while it was being built");
		cmp_ok($r->{min_blocks} // 0, '>=', $bt_blocks, "$tag every database scan read all of bt meanwhile");
		is($node->safe_psql('postgres',
				"SELECT indisready AND indisvalid FROM pg_index WHERE indexrelid = 'bt_t'::regclass"),
			't', "$tag the index is valid at the end");
		is($node->safe_psql('postgres',
				"SET pg_uring.io_method = $m; SELECT count(*) FROM pg_uring_verify('bt_t')"),
			'0', "$tag the finished index verifies clean");
	}

	# --- (b) REINDEX INDEX CONCURRENTLY
	{
		my $tag = "[$m/REINDEX INDEX CONCURRENTLY]";
		my $app = "ric_$m";
		my $old_blocks = rel_blocks($node, 'postgres', 'bt_t');
		my $sk0 = stat_sum('verify_skipped_relations');
		my $t0 = time();
		my $b = bg_start($node, 'postgres', 'REINDEX INDEX CONCURRENTLY bt_t',
			app => $app, timeout => 4 * hang_timeout());
		my $oid = wait_for_relation($b,
			"SELECT coalesce(min(c.oid)::text, '') FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid "
			  . "WHERE c.relname = 'bt_t_ccnew' AND NOT i.indisready");
		isnt($oid, '', "$tag bt_t_ccnew showed up not ready");
		my $r = race($m, $tag, $b, $app, $oid || "'bt'");
		my $res = bg_finish($b);
		note(sprintf("$tag build took %.1f s", time() - $t0));
		check_race($tag, $r, $res, $sk0);
		cmp_ok($r->{building_notices}, '>', 0,
			"$tag pg_uring_verify skipped bt_t_ccnew while it was being built");
		cmp_ok($r->{min_blocks} // 0, '>=', $bt_blocks + $old_blocks,
			"$tag every database scan read all of bt and the old bt_t meanwhile");
		is($node->safe_psql('postgres', "SELECT relname FROM pg_class WHERE oid = " . ($oid || 0)),
			'bt_t', "$tag the new index replaced bt_t");
		is($node->safe_psql('postgres',
				"SET pg_uring.io_method = $m; SELECT count(*) FROM pg_uring_verify('bt_t')"),
			'0', "$tag the rebuilt index verifies clean");
	}

	# --- (c) VACUUM FULL (also rebuilds bt_t, under the same lock)
	{
		my $tag = "[$m/VACUUM FULL]";
		my $app = "vf_$m";
		my $sk0 = stat_sum('verify_skipped_relations');
		my $t0 = time();
		my $b = bg_start($node, 'postgres', 'VACUUM FULL bt',
			app => $app, timeout => 4 * hang_timeout());
		my $locked = wait_for_relation($b,
			"SELECT coalesce(min(l.pid)::text, '') FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
			  . "WHERE a.application_name = '$app' AND l.relation = 'bt'::regclass "
			  . "AND l.mode = 'AccessExclusiveLock' AND l.granted");
		isnt($locked, '', "$tag VACUUM FULL holds its lock on bt");
		# A verify of bt alone queues behind the rewrite and then judges the
		# new file.
		my $w = bg_start($node, 'postgres',
			"SET pg_uring.io_method = $m; SELECT count(*) || ' rows' FROM pg_uring_verify('bt')",
			app => "vf_wait_$m", timeout => 4 * hang_timeout());
		my $waited = wait_progress(
			sub {
				bg_pump($w);
				return $node->safe_psql('postgres',
					"SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
					  . "WHERE a.application_name = 'vf_wait_$m' AND l.relation = 'bt'::regclass "
					  . "AND NOT l.granted") eq '1' || !$w->{h}->pumpable;
			});
		my $r = race($m, $tag, $b, $app, "'bt'");
		my $res = bg_finish($b);
		note(sprintf("$tag rewrite took %.1f s", time() - $t0));
		check_race($tag, $r, $res, $sk0);
		cmp_ok($r->{locked_iters}, '>=', 3,
			"$tag $r->{locked_iters} database scans skipped the locked table");
		ok($waited, "$tag pg_uring_verify('bt') waited for VACUUM FULL");
		my $wr = bg_finish($w);
		is($wr->{rc}, 0, "$tag the waiting pg_uring_verify('bt') succeeded") or diag($wr->{err});
		like($wr->{out}, qr/^0 rows$/m, "$tag the waiting pg_uring_verify('bt') found the new file clean");
	}
	$node->safe_psql('postgres', 'DROP INDEX bt_t');
	return;
}

for my $m ('io_uring', 'sync')
{
  SKIP:
	{
		skip "[$m] $ring_why", $ROUND_CHECKS if $m eq 'io_uring' && !$ring_up;
		build_round($m);
	}
}

# Every report of the broken block, and nothing else, reached the statistics.
my $cf;
wait_progress(sub { $cf = checksum_failures(); $cf - $cf_start >= $reported_total }, 10);
cmp_ok($reported_total, '>', 0, "the broken block was reported $reported_total times during the builds");
is($cf - $cf_start, $reported_total,
	'pg_stat_database.checksum_failures rose by exactly the number of reports of the broken block');
usleep(200_000);
is(checksum_failures() - $cf_start, $reported_total, 'and no more after a while');

unlike(slurp_log_from($node, 0), qr/PANIC|was terminated by signal/, 'no PANIC or crash');
$node->stop;
done_testing();
