# Copyright (c) pg_uring authors
#
# Issue 10, the restore half of autoprewarm (docs/design.md section 6):
#   - round trip: the dump written at shutdown is restored at the next
#     start, by a worker per database, and every listed block is back in
#     shared buffers (pg_buffercache), in two databases; pg_uring_status
#     shows the last dump and restore;
#   - contrib pg_prewarm's autoprewarm.blocks is restored when ours is
#     missing (switching from pg_prewarm keeps its last dump);
#   - dropped relations, a dropped database and a relation truncated by
#     VACUUM are skipped, with a LOG line, and the rest is restored;
#   - bad dumps never stop the server: a truncated dump, a corrupt line, a
#     corrupt first line, another cluster's dump and an unreadable file each
#     get a LOG line with a HINT; what is safe to use is used;
#   - shared_buffers smaller than the dump: the hottest blocks win, and the
#     restore stops when no buffer is free;
#   - pg_uring_autoprewarm_restore(): superuser-only, an ERROR without a
#     dump, one restore at a time (55006), progress in pg_uring_progress,
#     a cancel ends it and its workers;
#   - io_method = sync restores too.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PgUringTest;

my $conf = "shared_buffers = 128MB\npg_uring.autoprewarm = on\n"
  . "pg_uring.autoprewarm_interval = 0\nmax_worker_processes = 16\n";
my $node = pgu_node('apw_restore', conf => $conf);
my $pgdata = $node->data_dir;
my $dump = "$pgdata/pg_uring_autoprewarm.blocks";

# Wait for the restore's LOG line after log offset $off; returns
# (restored, listed, file, log text), or () on timeout.
sub wait_restored
{
	my ($n, $off) = @_;
	my $log;
	my @m;
	wait_progress(sub {
		$log = slurp_log_from($n, $off);
		@m = $log =~ /pg_uring autoprewarm restored (\d+) of (\d+) blocks from "([^"]+)"/;
		return @m > 0;
	});
	return @m ? (@m, $log) : ();
}

# Wait until some line matching $re shows after $off; returns the log.
sub wait_log
{
	my ($n, $off, $re) = @_;
	my $log = '';
	wait_progress(sub { $log = slurp_log_from($n, $off); return $log =~ $re; });
	return $log;
}

# Cached buffers of $rel, and its size, in $db.
sub cached
{
	my ($db, $rel) = @_;
	return (rel_buffers($node, $db, $rel), rel_blocks($node, $db, $rel));
}

# Restart after placing $content (if defined) as our dump; returns the log
# offset of the start.
sub restart_with_dump
{
	my ($content) = @_;
	$node->stop('fast');
	if (defined $content)
	{
		open(my $fh, '>', $dump) or die "$dump: $!";
		print $fh $content;
		close $fh;
	}
	my $off = -s $node->logfile;
	$node->start;
	return $off;
}

# Data in two databases, and one to drop.
make_table($node, 'postgres', 'apw_a', 4);
make_table($node, 'postgres', 'apw_gone', 1);
make_table($node, 'postgres', 'apw_shrink', 2);
$node->safe_psql('postgres', 'CREATE DATABASE apw_db2');
$node->safe_psql('postgres', 'CREATE DATABASE apw_dropme');
pgu_setup_db($node, 'apw_db2');
make_table($node, 'apw_db2', 'apw_b', 3);
make_table($node, 'apw_dropme', 'apw_c', 1, no_pkey => 1);
# (pg_prewarm: a count(*) would be an index-only scan)
$node->safe_psql($_->[0], "SELECT pg_prewarm('$_->[1]')")
  for (['postgres', 'apw_a'], ['postgres', 'apw_gone'], ['postgres', 'apw_shrink'],
	['apw_db2', 'apw_b']);
$node->safe_psql('apw_dropme', 'SELECT count(*) FROM apw_c');

# --- Round trip: the shutdown dump comes back at the next start.
my $off = restart_with_dump(undef);
my ($restored, $listed, $file) = wait_restored($node, $off);
ok(defined $restored, 'the restore at startup logged its result');
is($file, 'pg_uring_autoprewarm.blocks', 'it restored our dump');
is($restored, $listed, "every listed block was restored ($restored of $listed)");
my ($c, $s) = cached('postgres', 'apw_a');
is($c, $s, "database postgres: apw_a is cached whole ($c of $s)");
($c, $s) = cached('apw_db2', 'apw_b');
is($c, $s, "database apw_db2: apw_b is cached whole ($c of $s)");
my $st = $node->safe_psql('postgres',
	'SELECT last_restore_blocks, last_restore_seconds >= 0, last_restore_time IS NOT NULL, '
	  . 'last_dump_time IS NULL FROM pg_uring_status');
is($st, "$restored|t|t|t", 'pg_uring_status: the last restore (and no dump yet since the start)');
my $n = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
is($node->safe_psql('postgres',
		'SELECT last_dump_blocks, last_dump_time IS NOT NULL FROM pg_uring_status'),
	"$n|t", 'pg_uring_status: the last dump');
ok(wait_progress(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_uring autoprewarm restore'")
			  eq '0';
		}),
	'no restore worker is left');

# Our file carries our last line; contrib's parser stops before it.
my $good = slurp_file($dump);
like($good, qr/\n#pg_uring system_identifier=\d+ usage=5:\d+,4:\d+,3:\d+,2:\d+,1:\d+,0:\d+\n\z/,
	'our dump ends with its system identifier and usage counts');

# --- Dropped relation, dropped database, truncated relation: skipped.
my $shrink_before = rel_blocks($node, 'postgres', 'apw_shrink');
$node->safe_psql('postgres', 'DROP TABLE apw_gone');
$node->safe_psql('postgres', 'DROP DATABASE apw_dropme');
$node->safe_psql('postgres', 'DELETE FROM apw_shrink WHERE id > 100; VACUUM apw_shrink');
my $shrink_after = rel_blocks($node, 'postgres', 'apw_shrink');
cmp_ok($shrink_after, '<', $shrink_before,
	"VACUUM truncated apw_shrink ($shrink_before to $shrink_after blocks)");
$off = restart_with_dump($good);
($restored, $listed, $file) = wait_restored($node, $off);
my $log = slurp_log_from($node, $off);
ok(defined $restored, 'a dump of dropped objects is restored');
like($log, qr/pg_uring autoprewarm skipped 1 database that no longer exists/,
	'the dropped database is skipped, with a LOG line');
like($log, qr/blocks? (was|were) skipped: (its|their) relation, fork or block no longer exists/,
	'the dropped and truncated relations are skipped, with a LOG line');
cmp_ok($restored, '<', $listed, "not everything was restored ($restored of $listed)");
($c, $s) = cached('postgres', 'apw_a');
is($c, $s, "the rest is restored: apw_a is cached whole ($c of $s)");
($c, $s) = cached('apw_db2', 'apw_b');
is($c, $s, "the rest is restored: apw_b is cached whole ($c of $s)");
unlike($log, qr/\b(ERROR|FATAL|PANIC):/, 'no ERROR, FATAL or PANIC');

# A dump of what exists now, for the bad dumps below.
$node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
$good = slurp_file($dump);

# --- Bad dumps: each one logged with a hint, the server starts.
my @good_lines = split /\n/, $good;
my ($good_n) = $good_lines[0] =~ /^<<(\d+)>>$/;
my $half = int($good_n / 2);
my @bad = (
	[
		'a dump truncated at a line boundary',
		join("\n", @good_lines[0 .. $half]) . "\n",
		qr/autoprewarm dump "pg_uring_autoprewarm.blocks" is truncated.*\n.*DETAIL:  It lists $half of the $good_n blocks.*\n.*HINT:  The blocks it lists are restored/,
		$half
	],
	[
		'a dump cut in the middle of a line',
		join("\n", @good_lines[0 .. $half]) . "\n1,16",
		qr/is corrupt at line @{[$half + 2]}\n.*DETAIL:  A line must be.*\n.*HINT:  The $half blocks listed before that line are restored/,
		$half
	],
	[
		'a corrupt line',
		join("\n", @good_lines[0 .. $half], 'x,y,z', @good_lines[$half + 2 .. $#good_lines]) . "\n",
		qr/is corrupt at line @{[$half + 2]}/,
		$half
	],
	[
		'a corrupt first line',
		"garbage\n" . join("\n", @good_lines[1 .. $#good_lines]) . "\n",
		qr/is corrupt\n.*DETAIL:  Its first line is not a block count.*\n.*HINT:  The dump is not restored/,
		undef
	],
	[
		"another cluster's dump",
		$good =~ s/system_identifier=\d+/system_identifier=12345/r,
		qr/belongs to another cluster\n.*DETAIL:  Its system identifier is 12345; this cluster's is \d+\.\n.*HINT:  The dump is not restored/,
		undef
	]);
for my $b (@bad)
{
	my ($what, $content, $re, $expect) = @$b;
	$off = restart_with_dump($content);
	if (defined $expect)
	{
		my ($r, $l) = wait_restored($node, $off);
		is($r // -1, $expect, "$what: the $expect blocks before the damage are restored");
	}
	else
	{
		# nothing is restored: wait for the reason
		wait_log($node, $off, $re);
		is($node->safe_psql('postgres', 'SELECT last_restore_time IS NULL FROM pg_uring_status'),
			't', "$what: nothing is restored");
	}
	like(slurp_log_from($node, $off), $re, "$what: LOG line with detail and hint");
	is($node->safe_psql('postgres', 'SELECT 1'), '1', "$what: the server runs");
}

# An unreadable file.
$node->stop('fast');
open(my $fh, '>', $dump) or die $!;
print $fh $good;
close $fh;
chmod 0000, $dump;
# (the server never runs as root, so mode 0000 keeps it out)
$off = -s $node->logfile;
$node->start;
$log = wait_log($node, $off, qr/could not open file "pg_uring_autoprewarm.blocks"/);
like($log, qr/could not open file "pg_uring_autoprewarm.blocks": Permission denied\n.*HINT:  The autoprewarm dump is not restored/,
	'an unreadable dump: LOG line with the error and a hint');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'an unreadable dump: the server runs');
chmod 0600, $dump;

# --- contrib pg_prewarm's file, ours missing: it is restored.
$node->append_conf('postgresql.conf',
	"shared_preload_libraries = 'pg_uring,pg_prewarm'\npg_prewarm.autoprewarm = off\n");
$node->restart;
$node->safe_psql('postgres', "SELECT pg_prewarm('apw_a')");
my $contrib_n = $node->safe_psql('postgres', 'SELECT autoprewarm_dump_now()');
$node->stop('fast');
unlink $dump;
$off = -s $node->logfile;
$node->start;
($restored, $listed, $file) = wait_restored($node, $off);
is($file, 'autoprewarm.blocks', "without ours, contrib pg_prewarm's dump is restored");
is($listed, $contrib_n, "... all $contrib_n blocks it lists");
($c, $s) = cached('postgres', 'apw_a');
is($c, $s, "... and apw_a, listed there, is cached whole ($c of $s)");
unlink "$pgdata/autoprewarm.blocks";

# --- The SQL function.
$node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
$n = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_restore()');
cmp_ok($n, '>', 0, "pg_uring_autoprewarm_restore() restored $n blocks");
$node->safe_psql('postgres', 'CREATE ROLE apw_plain LOGIN');
my ($rc, $out, $err) = $node->psql('postgres',
	'SET ROLE apw_plain; SELECT pg_uring_autoprewarm_restore()');
like($err, qr/permission denied for function pg_uring_autoprewarm_restore/,
	'a plain role may not restore');
rename $dump, "$dump.saved";
($rc, $out, $err) = $node->psql('postgres',
	'\set VERBOSITY verbose' . "\n" . 'SELECT pg_uring_autoprewarm_restore()');
like($err, qr/ERROR:  58P01: there is no autoprewarm dump to restore/,
	'no dump: ERROR 58P01 (undefined_file)');
like($err, qr/HINT:  pg_uring_autoprewarm_dump_now\(\) writes one\./, '... with a hint');
rename "$dump.saved", $dump;

# One at a time, progress, and a cancel: a slow restore (1 MB/s).
$node->append_conf('postgresql.conf', "pg_uring.autoprewarm_rate_limit = 1\n");
$node->reload;
my $slow = bg_start($node, 'postgres', 'SELECT pg_uring_autoprewarm_restore()', app => 'apw_slow');
my $leader = bg_wait_active($slow, '%pg_uring_autoprewarm_restore%');
isnt($leader, '', 'a rate-limited restore runs');
ok(wait_progress(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) > 0 FROM pg_uring_progress WHERE operation = 'autoprewarm restore' "
				  . "AND phase = 'restoring' AND blocks_total > 0 AND blocks_done <= blocks_total") eq 't';
		}),
	'pg_uring_progress shows the restore workers');
($rc, $out, $err) = $node->psql('postgres',
	'\set VERBOSITY verbose' . "\n" . 'SELECT pg_uring_autoprewarm_restore()');
like($err, qr/ERROR:  55006: an autoprewarm restore is already running/,
	'a second restore at once: ERROR 55006 (object_in_use)');
$node->safe_psql('postgres', "SELECT pg_cancel_backend($leader)");
my $res = bg_finish($slow);
like($res->{err}, qr/canceling statement due to user request/, 'the restore is cancelled');
ok(wait_progress(sub {
			$node->safe_psql('postgres',
				"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_uring autoprewarm restore'")
			  eq '0';
		}),
	'a cancelled restore leaves no worker behind');
$node->append_conf('postgresql.conf', "pg_uring.autoprewarm_rate_limit = 0\n");
$node->reload;
ok(wait_progress(sub {
			my ($r2, $o2, $e2) = $node->psql('postgres', 'SELECT pg_uring_autoprewarm_restore()');
			return $r2 == 0;
		}),
	'after the cancel, a restore can run again');

# --- io_method = sync restores too.
$node->append_conf('postgresql.conf', "pg_uring.io_method = sync\n");
$node->safe_psql('postgres', "SELECT pg_prewarm('apw_a')");
$node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
$off = restart_with_dump(undef);
($restored, $listed) = wait_restored($node, $off);
is($restored // -1, $listed // -2, "io_method = sync: every block restored ($restored of $listed)");
($c, $s) = cached('postgres', 'apw_a');
is($c, $s, "io_method = sync: apw_a is cached whole ($c of $s)");
$node->stop;

# --- shared_buffers smaller than the dump: the hottest blocks win.
my $small = pgu_node('apw_small', conf => $conf);
make_table($small, 'postgres', 'apw_hot', 8);
make_table($small, 'postgres', 'apw_cold', 24);
$small->restart;
# hot: usage count 5; cold: 1 (both below a quarter of shared_buffers, so
# no ring of buffers is used)
$small->safe_psql('postgres', 'SELECT count(*) FROM apw_cold');
$small->safe_psql('postgres', 'SELECT count(*) FROM apw_hot') for 1 .. 5;
$small->stop('fast');
$small->append_conf('postgresql.conf', "shared_buffers = 16MB\n");
$off = -s $small->logfile;
$small->start;
($restored, $listed) = wait_restored($small, $off);
$log = slurp_log_from($small, $off);
like($log, qr/DETAIL:  It stopped when no buffer was free/, 'the restore stops when no buffer is free');
my $hot_c = rel_buffers($small, 'postgres', 'apw_hot');
my $hot_s = rel_blocks($small, 'postgres', 'apw_hot');
my $cold_c = rel_buffers($small, 'postgres', 'apw_cold');
my $cold_s = rel_blocks($small, 'postgres', 'apw_cold');
cmp_ok($hot_c, '>=', int($hot_s * 0.95), "the hot table is cached ($hot_c of $hot_s)");
cmp_ok($cold_c, '<=', int($cold_s * 0.5), "the cold table only in part ($cold_c of $cold_s)");
$small->stop;

done_testing();
