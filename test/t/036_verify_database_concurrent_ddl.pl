
# Copyright (c) pg_uring authors
#
# pg_uring_verify_database while other sessions drop and rewrite relations
# (a nightly verify runs next to ordinary DDL).  verify_database lists the
# relations first and opens them one by one: a relation dropped in between
# must be skipped, not end the whole scan with an ERROR; one rewritten in
# between (VACUUM FULL: new relfilenode) must be verified in its new file.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $node = pgu_node('vddl', conf => "shared_buffers = 32MB\n");
my $st = ring_wait_settled($node);
my @methods = ('sync');
if ($st->{ring_up} eq 't') { unshift @methods, 'io_uring'; }
else { diag("io_uring not available ($st->{reason}): only the sync path is tested"); }

make_table($node, 'postgres', 'vd_big', 24, no_pkey => 1);

for my $m (@methods)
{
	# pg_class may have free line pointers before vd_big's row (older
	# versions of rows updated when vd_big and its index were made, or the
	# previous round's, once pruned: new rows took them on PostgreSQL 18).
	# Use them up with empty filler tables until a new row lands after
	# vd_big; the relations created next then follow it too.
	for my $i (1 .. 200)
	{
		my $fill = "vd_fill_${m}_$i";
		last if $node->safe_psql('postgres',
			"CREATE TABLE $fill (a int PRIMARY KEY, t text); "
			  . "SELECT (SELECT ctid FROM pg_class WHERE oid = '$fill'::regclass) > "
			  . "(SELECT ctid FROM pg_class WHERE oid = 'vd_big'::regclass)") eq 't';
	}

	# Created after vd_big, so they come after it in pg_class's heap order.
	$node->safe_psql(
		'postgres', q{
CREATE TABLE vd_victim (a int PRIMARY KEY, t text);
INSERT INTO vd_victim SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
CREATE INDEX vd_victim_t ON vd_victim (t);
CREATE TABLE vd_rewritten (a int, t text);
INSERT INTO vd_rewritten SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
DELETE FROM vd_rewritten WHERE a % 2 = 0;
CHECKPOINT;
});
	# verify_database lists the relations in pg_class's heap order and then
	# opens them one by one; the race below happens only if every relation of
	# vd_victim and vd_rewritten (their indexes and TOAST relations too) comes
	# after vd_big in that order.  Space freed in pg_class by the previous
	# round could put a new tuple before it.
	my $order = $node->safe_psql('postgres',
		"SELECT string_agg(relname, ',' ORDER BY ctid) FROM pg_class "
		  . "WHERE relname IN ('vd_big', 'vd_victim', 'vd_rewritten')");
	note("pg_class order: $order");
	for my $t (qw(vd_victim vd_rewritten))
	{
		my $rels = qq{
WITH t AS (SELECT oid, reltoastrelid FROM pg_class WHERE oid = '$t'::regclass),
     r AS (SELECT oid FROM t UNION ALL SELECT reltoastrelid FROM t
           UNION ALL SELECT indexrelid FROM pg_index, t
                     WHERE indrelid IN (t.oid, t.reltoastrelid))
SELECT count(*) || ' ' || count(*) FILTER (WHERE c.ctid > (SELECT ctid FROM pg_class WHERE oid = 'vd_big'::regclass))
  FROM pg_class c JOIN r ON r.oid = c.oid};
		my ($n, $after) = split / /, $node->safe_psql('postgres', $rels);
		cmp_ok($n, '>=', $t eq 'vd_victim' ? 5 : 3, "[$m] $t has its relations ($n: table, TOAST, indexes)");
		is($after, $n, "[$m] every relation of $t comes after vd_big in pg_class order");
	}

	# What verify_database lists (relations with storage, not temporary),
	# and of them the victim's: dropped before the scan reaches them, they
	# must not be verified.
	my $listed = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'i', 'S', 't', 'm') AND relpersistence <> 't'");
	my $victim_rels = $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_class WHERE oid IN ('vd_victim'::regclass, 'vd_victim_pkey'::regclass, "
		  . "'vd_victim_t'::regclass) OR oid = (SELECT reltoastrelid FROM pg_class WHERE oid = 'vd_victim'::regclass) "
		  . "OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = "
		  . "(SELECT reltoastrelid FROM pg_class WHERE oid = 'vd_victim'::regclass))");

	# 24 MB at 8 MB/s: vd_big alone takes about 3 s.
	my $s = bg_start($node, 'postgres',
		"SET pg_uring.io_method = $m; SET pg_uring.verify_rate_limit = 8; "
		  . "SELECT count(*) FROM pg_uring_verify_database()",
		app => "vddl_$m");
	my $pid = bg_backend_pid($s);
	my $on_big = wait_progress(
		sub {
			bg_pump($s);
			return $node->safe_psql('postgres',
				"SELECT count(*) FROM pg_uring_progress WHERE pid = $pid "
				  . "AND relation = 'vd_big'::regclass") eq '1';
		},
		60);
	ok($on_big, "[$m] verify_database is on vd_big");
	$node->safe_psql('postgres', 'DROP TABLE vd_victim; VACUUM FULL vd_rewritten;');
	my $r = bg_finish($s);
	ok(!$r->{timed_out}, "[$m] verify_database ended");
	is($r->{rc}, 0, "[$m] verify_database did not fail on the dropped relation")
	  or diag($r->{err});
	chomp(my $out = $r->{out});
	is($out, '0', "[$m] no rows");
	my ($verified) = $r->{err} =~ /NOTICE:  verified (\d+) relations/;
	is($verified, $listed - $victim_rels,
		"[$m] verify_database verified every listed relation but the $victim_rels dropped in between");
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_uring_progress"),
		'0', "[$m] no progress row left");
	$node->safe_psql('postgres', 'DROP TABLE vd_rewritten');
}

$node->stop;
done_testing();
