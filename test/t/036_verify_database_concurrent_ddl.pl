
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
	my $order = $node->safe_psql('postgres',
		"SELECT string_agg(relname, ',' ORDER BY ctid) FROM pg_class "
		  . "WHERE relname IN ('vd_big', 'vd_victim', 'vd_rewritten')");
	note("pg_class order: $order");

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
	is($node->safe_psql('postgres', "SELECT count(*) FROM pg_uring_progress"),
		'0', "[$m] no progress row left");
	$node->safe_psql('postgres', 'DROP TABLE vd_rewritten');
}

$node->stop;
done_testing();
