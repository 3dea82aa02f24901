# Copyright (c) pg_uring authors
#
# Without shared_preload_libraries there is no shared memory and no ring
# worker.  CREATE EXTENSION must still work, and every function must raise
# ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE (55000) with a hint, as
# pg_stat_statements does, instead of crashing or ending the session.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('not_preloaded');
$node->init;
$node->start;

$node->safe_psql('postgres', 'CREATE EXTENSION pg_uring');
$node->safe_psql('postgres', 'CREATE TABLE t AS SELECT g FROM generate_series(1, 1000) g');

my @calls = (
	"SELECT pg_uring_prewarm('t')",
	"SELECT pg_uring_prewarm_blocks('t', '{0}')",
	"SELECT * FROM pg_uring_flush('t')",
	"SELECT * FROM pg_uring_evict('t')",
	"SELECT * FROM pg_uring_verify('t')",
	"SELECT * FROM pg_uring_stats",
	"SELECT * FROM pg_uring_status",
	"SELECT * FROM pg_uring_progress",
	"SELECT pg_uring_stats_reset()",
	"SELECT pg_uring_autoprewarm_dump_now()");

for my $sql (@calls)
{
	my ($rc, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\n$sql", on_error_stop => 1);
	isnt($rc, 0, "$sql fails");
	like($err, qr/ERROR:\s+55000: pg_uring must be loaded via shared_preload_libraries/,
		"$sql: SQLSTATE 55000 and the message");
	like($err, qr/HINT:\s+Add pg_uring to shared_preload_libraries/, "$sql: the hint");
}

# the session and the server survive all of that
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'), '1000', 'server still serves queries');
ok(!$node->log_contains('FATAL'), 'no FATAL in the server log');

$node->stop;
done_testing();
