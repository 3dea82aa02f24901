# Copyright (c) pg_uring authors
#
# Issue 10, the dump half of autoprewarm (docs/design.md section 6):
#   - pg_uring_autoprewarm_dump_now() writes pg_uring_autoprewarm.blocks in
#     contrib pg_prewarm's format and returns its number of blocks: every
#     valid buffer of a permanent relation, as pg_buffercache lists them,
#     none of an unlogged one, hottest first (usage count);
#   - it is superuser-only (revoked from PUBLIC), as contrib's;
#   - the worker (pg_uring.autoprewarm = on) dumps every
#     pg_uring.autoprewarm_interval and at a clean shutdown, and the dump is
#     replaced atomically (no temporary file is left behind);
#   - a leftover temporary file (a crash in the middle of a dump) leaves
#     the previous dump as it was, and the next dump replaces both;
#   - contrib pg_prewarm's autoprewarm reads what we write: our file,
#     copied to autoprewarm.blocks, is loaded by it after a restart
#     ("prewarmed N of N blocks"), and the blocks are back in shared
#     buffers;
#   - with pg_prewarm's autoprewarm loaded too, each writes its own file.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use PgUringTest;

my $node = pgu_node('apw_dump',
	conf => "shared_buffers = 64MB\npg_uring.autoprewarm = on\npg_uring.autoprewarm_interval = 0\n");
my $pgdata = $node->data_dir;
my $dump = "$pgdata/pg_uring_autoprewarm.blocks";

like($node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'pg_uring autoprewarm'"),
	qr/^1$/, 'the autoprewarm worker runs (pg_stat_activity)');

$node->safe_psql('postgres', q{
CREATE TABLE apw_hot (id int, pad text) WITH (autovacuum_enabled = off);
INSERT INTO apw_hot SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;
CREATE TABLE apw_cold (id int, pad text) WITH (autovacuum_enabled = off);
INSERT INTO apw_cold SELECT g, repeat('y', 200) FROM generate_series(1, 20000) g;
CREATE UNLOGGED TABLE apw_unlogged AS SELECT g FROM generate_series(1, 20000) g;
CHECKPOINT;
});
# a restart empties shared buffers; then apw_cold is read once (usage count
# 1) and apw_hot five times (5: the tables are far below a quarter of
# shared_buffers, so no ring of buffers is used)
$node->restart;
$node->safe_psql('postgres', 'SELECT count(*) FROM apw_cold');
$node->safe_psql('postgres', 'SELECT count(*) FROM apw_hot') for 1 .. 5;

# The file and the count: exactly the valid buffers of permanent relations.
my $n = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
cmp_ok($n, '>', 300, "dump_now returned $n blocks");
ok(-f $dump, 'pg_uring_autoprewarm.blocks was written');
ok(!-e "$dump.tmp", 'no temporary file is left behind');
my @lines = split /\n/, slurp_file($dump);
is($lines[0], "<<$n>>", "the header is pg_prewarm's \"<<N>>\", N = $n");
# then our own last line, after the N that pg_prewarm reads
my $trailer = pop @lines;
like($trailer, qr/^#pg_uring system_identifier=\d+ usage=5:(\d+),4:(\d+),3:(\d+),2:(\d+),1:(\d+),0:(\d+)$/,
	'the last line gives the system identifier and the lines per usage count');
my @per_usage = $trailer =~ /(\d+)(?:,|$)/g;
my $usage_sum = 0;
$usage_sum += $_ for @per_usage;
is($usage_sum, $n, 'the lines per usage count add up to N');
is($trailer =~ /system_identifier=(\d+)/ ? $1 : '',
	$node->safe_psql('postgres', 'SELECT system_identifier FROM pg_control_system()'),
	"... and the system identifier is this cluster's");
is(scalar(@lines) - 1, $n, 'one line per block');
is(scalar(grep { !/^\d+,\d+,\d+,\d+,\d+$/ } @lines[1 .. $#lines]), 0,
	'every line is database,tablespace,filenode,fork,block');

# Compare with pg_buffercache, which reads the same headers: every valid
# buffer of a permanent relation listed just before the dump is in it, and
# everything in it is still cached just after (64 MB of shared buffers:
# nothing is evicted here; only pg_buffercache's own look-ups add pages).
my $bc_query = q{
SELECT b.reldatabase || ',' || b.reltablespace || ',' || b.relfilenode || ','
       || b.relforknumber || ',' || b.relblocknumber
  FROM pg_buffercache b
 WHERE b.relfilenode IS NOT NULL
   AND NOT EXISTS (SELECT 1 FROM pg_class c
                    WHERE c.relpersistence <> 'p'
                      AND pg_relation_filenode(c.oid) = b.relfilenode
                      AND b.reldatabase = (SELECT oid FROM pg_database
                                            WHERE datname = current_database()))};
my %bc_before = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', $bc_query);
$n = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
my %bc_after = map { $_ => 1 } split /\n/, $node->safe_psql('postgres', $bc_query);
@lines = split /\n/, slurp_file($dump);
pop @lines;		# our last line
my %listed = map { $_ => 1 } @lines[1 .. $#lines];
is(scalar(grep { !$listed{$_} } keys %bc_before), 0,
	'every buffer of a permanent relation cached before the dump is listed (pg_buffercache)');
is(scalar(grep { !$bc_after{$_} } keys %listed), 0,
	'every listed block is a cached buffer of a permanent relation (pg_buffercache)');
is(scalar(keys %listed), $n, 'no block is listed twice');

my $unlogged = $node->safe_psql('postgres', "SELECT pg_relation_filenode('apw_unlogged')");
is(scalar(grep { (split /,/)[2] eq $unlogged } @lines[1 .. $#lines]), 0,
	'no block of the unlogged table is listed');

# Hottest first: apw_hot was scanned five times (usage count 5), apw_cold
# once (1, or 2 if the restore at the restart loaded it first); every line of
# apw_hot's main fork comes before every line of apw_cold's.
my $hot = $node->safe_psql('postgres', "SELECT pg_relation_filenode('apw_hot')");
my $cold = $node->safe_psql('postgres', "SELECT pg_relation_filenode('apw_cold')");
my ($last_hot, $first_cold, $nhot, $ncold) = (-1, scalar(@lines), 0, 0);
for my $i (1 .. $#lines)
{
	my ($f, $fork) = (split /,/, $lines[$i])[2, 3];
	# main forks only: the restore at the restart above loaded the free
	# space and visibility maps too, once (usage count 1)
	next unless $fork == 0;
	if ($f eq $hot) { $last_hot = $i; $nhot++; }
	if ($f eq $cold) { $first_cold = $i if $ncold++ == 0; }
}
cmp_ok($nhot, '>', 100, "the hot table is listed ($nhot blocks)");
cmp_ok($ncold, '>', 100, "the cold table is listed ($ncold blocks)");
cmp_ok($last_hot, '<', $first_cold, 'hottest first: every hot block precedes every cold one');

# Superuser-only, as contrib's autoprewarm_dump_now().
$node->safe_psql('postgres', 'CREATE ROLE apw_plain LOGIN');
my ($rc, $out, $err) = $node->psql('postgres',
	"SET ROLE apw_plain; SELECT pg_uring_autoprewarm_dump_now()");
like($err, qr/permission denied for function pg_uring_autoprewarm_dump_now/,
	'a plain role may not dump');

# A crash in the middle of a dump: the temporary file is left, the dump
# itself is the previous one, and the next dump replaces it.
my $before = slurp_file($dump);
append_to_file("$dump.tmp", "<<99999>>\n1,2,3\n");
$node->stop('immediate');
$node->start;
is(slurp_file($dump), $before, 'after a crash the previous dump is as it was');
my $n2 = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
like(slurp_file($dump), qr/^<<$n2>>\n/, 'the next dump replaces it');
ok(!-e "$dump.tmp", '... and the leftover temporary file is gone');

# At a clean shutdown, the worker dumps.
unlink $dump;
$node->safe_psql('postgres', 'SELECT count(*) FROM apw_hot');
my $off = -s $node->logfile;
$node->stop('fast');
ok(-f $dump, 'a clean shutdown writes the dump');
like(slurp_file($node->logfile, $off), qr/pg_uring autoprewarm dumped \d+ blocks? at shutdown/,
	'the worker logs the shutdown dump');
my $at_stop = (split /\n/, slurp_file($dump))[0];
like($at_stop, qr/^<<(\d+)>>$/, "shutdown dump header $at_stop");

# Every pg_uring.autoprewarm_interval, the worker dumps.
$node->append_conf('postgresql.conf', "pg_uring.autoprewarm_interval = 1\n");
$node->start;
unlink $dump;
my $appeared = 0;
for (1 .. 100)
{
	if (-f $dump) { $appeared = 1; last; }
	usleep(100_000);
}
ok($appeared, 'with autoprewarm_interval = 1s the worker dumps on its own');

# contrib pg_prewarm's autoprewarm reads our file: hand it ours, restart
# with both loaded (pg_prewarm's autoprewarm restores at start), and the
# listed blocks are back.
$node->safe_psql('postgres', 'SELECT count(*) FROM apw_hot');
my $hot_blocks = $node->safe_psql('postgres',
	"SELECT count(*) FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('apw_hot')");
cmp_ok($hot_blocks, '>', 100, "apw_hot has $hot_blocks blocks cached");
$n = $node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
$node->stop('fast');
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_uring,pg_prewarm'
pg_prewarm.autoprewarm = on
pg_uring.autoprewarm_interval = 0
});
# pg_prewarm reads autoprewarm.blocks; ours was written at shutdown
my $ours = slurp_file($dump);
my ($ours_n) = $ours =~ /^<<(\d+)>>/;
open(my $fh, '>', "$pgdata/autoprewarm.blocks") or die $!;
print $fh $ours;
close $fh;
$off = -s $node->logfile;
$node->start;
my $loaded;
for (1 .. 300)
{
	($loaded) = slurp_file($node->logfile, $off) =~ /autoprewarm successfully prewarmed (\d+) of (\d+) previously-loaded blocks/;
	last if defined $loaded;
	usleep(100_000);
}
ok(defined $loaded, "contrib pg_prewarm's autoprewarm loaded our dump");
cmp_ok($loaded // 0, '>=', $hot_blocks, "... and prewarmed $loaded of its $ours_n blocks (apw_hot alone has $hot_blocks)");
is($node->safe_psql('postgres',
		"SELECT count(*) >= $hot_blocks FROM pg_buffercache WHERE relfilenode = pg_relation_filenode('apw_hot')"),
	't', 'the hot table is back in shared buffers after the restart');

# Both loaded: each module writes its own file.
$node->safe_psql('postgres', 'SELECT autoprewarm_dump_now()');
$node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
ok(-f "$pgdata/autoprewarm.blocks" && -f $dump, 'both files exist side by side');

$node->stop;
done_testing();
