# Copyright (c) pg_uring authors
#
# Issue 4, TAP 1: a pgbench write load while a loop runs pg_uring_flush and
# pg_uring_evict on its tables (through the ring and through the sync path,
# alternately), then an immediate stop in the middle of it all and crash
# recovery.  Every committed transaction must be there:
#   - each pgbench client numbers its transactions (a client-side counter,
#     :n) and writes (client, n, delta) to a ledger in the same transaction,
#     so after recovery each client's ledger must hold exactly 1..k with no
#     gap, where k is what pgbench logged as committed for that client (or
#     one more: the commit in flight at the crash may have made it);
#   - every account, teller and branch balance equals the sum of its ledger
#     deltas (no half transaction, no lost page of a table);
#   - amcheck (verify_heapam, bt_index_check heapallindexed) is clean and
#     pg_checksums --check after a clean stop finds no bad page.
# PG_URING_SOAK=1 runs the load for 3 minutes instead of 30 s.

use strict;
use warnings;

use File::Temp qw(tempdir);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;
use FlushTestLib;

my $secs    = soak() ? 180 : 30;
my $scale   = 5;
my $clients = 4;

# shared_buffers smaller than the data plus its churn, so backends also
# evict (and write) on their own while we flush.
my $node = flush_node('flush_pgbench', conf => "shared_buffers = 64MB\n");
my ($ring_up, $why) = ring_check($node);

$node->command_ok(
	[ 'pgbench', '-i', '-q', '-s', $scale, '-h', $node->host, '-p', $node->port, 'postgres' ],
	'pgbench -i');
$node->safe_psql(
	'postgres', q{
ALTER TABLE pgbench_accounts SET (autovacuum_enabled = off);
CREATE TABLE ledger (client int NOT NULL, n int NOT NULL, aid int NOT NULL,
                     tid int NOT NULL, bid int NOT NULL, delta int NOT NULL,
                     PRIMARY KEY (client, n));
CHECKPOINT;
});

my $tmp = tempdir(CLEANUP => 1);
my $script = "$tmp/ledger.sql";
open(my $fh, '>', $script) or die $!;
print $fh qq{\\set n :n + 1
\\set aid random(1, @{[100000 * $scale]})
\\set tid random(1, @{[10 * $scale]})
\\set bid random(1, $scale)
\\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO ledger VALUES (:client_id, :n, :aid, :tid, :bid, :delta);
END;
};
close($fh);

# pgbench runs "forever"; the crash ends it.
my ($pgb_out, $pgb_err) = ('', '');
my $pgb = IPC::Run::start(
	[
		'pgbench', '-n', '-c', $clients, '-j', 2, '-T', 3600, '-D', 'n=0',
		'-f', $script, '-l', "--log-prefix=$tmp/pgb",
		'-h', $node->host, '-p', $node->port, 'postgres'
	],
	'>', \$pgb_out, '2>', \$pgb_err,
	IPC::Run::timeout($secs + hang_timeout()));

my @rels = qw(pgbench_accounts pgbench_accounts_pkey pgbench_tellers
  pgbench_tellers_pkey pgbench_branches pgbench_branches_pkey ledger ledger_pkey);
my $arr = "ARRAY['" . join("','", @rels) . "']::regclass[]";

my %calls = (flush => 0, evict => 0);
my ($flushed, $evicted, $errors) = (0, 0, 0);
my $end = time() + $secs;
my $i = 0;
while (time() < $end)
{
	$i++;
	my $method = $i % 2 ? 'io_uring' : 'sync';
	my $fn = $i % 3 == 0 ? 'evict' : 'flush';
	my $col = $fn eq 'evict' ? 'sum(f.evicted)' : '0';
	my ($rc, $out, $err) = sql_rc($node, 'postgres',
		"SET pg_uring.io_method = $method; "
		  . "SELECT coalesce(sum(f.flushed), 0) || ' ' || coalesce($col, 0) "
		  . "FROM unnest($arr) r, LATERAL pg_uring_$fn(r) f");
	if ($rc != 0)
	{
		$errors++;
		diag("pg_uring_$fn ($method) failed: $err") if $errors <= 5;
	}
	else
	{
		my ($f, $e) = split / /, $out;
		$flushed += $f;
		$evicted += $e;
		$calls{$fn}++;
	}
	$pgb->pump_nb;
	last unless $pgb->pumpable;
	usleep(100_000);
}
ok($pgb->pumpable, 'pgbench is still running when the load phase ends')
  or diag("pgbench: $pgb_out $pgb_err");
is($errors, 0, 'no pg_uring_flush/pg_uring_evict call failed under load');
cmp_ok($flushed, '>', 0, "the loop wrote dirty buffers ($flushed in $calls{flush} flush and $calls{evict} evict rounds)");
cmp_ok($evicted, '>', 0, "the loop evicted buffers ($evicted)");
my $ring_written = $node->safe_psql('postgres',
	"SELECT blocks_written FROM pg_uring_stats WHERE method = 'io_uring'");
my $sync_written = $node->safe_psql('postgres',
	"SELECT blocks_written FROM pg_uring_stats WHERE method = 'sync'");
note("blocks written: ring $ring_written, sync $sync_written");
cmp_ok($sync_written, '>', 0, 'the sync path wrote blocks');
SKIP:
{
	skip $why, 1 unless $ring_up;
	cmp_ok($ring_written, '>', 0, 'the ring wrote blocks');
}

# Crash in the middle of it: a flush/evict loop and pgbench both running.
my $bg = bg_start($node, 'postgres',
	"DO \$\$ BEGIN FOR i IN 1 .. 100000 LOOP "
	  . "PERFORM pg_uring_evict(r) FROM unnest($arr) r; END LOOP; END \$\$",
	app => 'crash_flusher');
like(bg_wait_active($bg, '%pg_uring_evict%'), qr/^\d+$/,
	'a flush/evict loop is running at the crash');
usleep(300_000);
my $log_off = -s $node->logfile;
$node->stop('immediate');
my $r = bg_finish($bg);
ok(!$r->{timed_out}, 'the flushing session ended with the crash (did not hang)');
isnt($r->{rc}, 0, 'the flushing session lost its connection');

my $pgb_done = eval { $pgb->finish; 1 };
ok($pgb_done, 'pgbench ended after the crash (did not hang)')
  or eval { $pgb->kill_kill };
note("pgbench stderr (tail): " . substr($pgb_err, -600));

# pgbench's per-transaction log: "client_id transaction_no time ..." for
# every transaction that completed (committed).
my $logged = pgbench_logged($tmp);

$node->start;
like(slurp_log_from($node, $log_off), qr/database system was interrupted|was not properly shut down/,
	'the restart ran crash recovery');
ring_wait_settled($node);

# Every committed transaction is present, none half-done.
ledger_check_clients($node, $clients, $logged);
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pgbench_accounts a
  LEFT JOIN (SELECT aid, sum(delta) s FROM ledger GROUP BY aid) l USING (aid)
 WHERE a.abalance <> coalesce(l.s, 0)}),
	'0',
	'every account balance equals its ledger sum');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pgbench_tellers t
  LEFT JOIN (SELECT tid, sum(delta) s FROM ledger GROUP BY tid) l USING (tid)
 WHERE t.tbalance <> coalesce(l.s, 0)}),
	'0',
	'every teller balance equals its ledger sum');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pgbench_branches b
  LEFT JOIN (SELECT bid, sum(delta) s FROM ledger GROUP BY bid) l USING (bid)
 WHERE b.bbalance <> coalesce(l.s, 0)}),
	'0',
	'every branch balance equals its ledger sum');
is( $node->safe_psql('postgres',
		'SELECT count(*) FROM pgbench_accounts'),
	100000 * $scale,
	'all accounts are there');
# The same through the indexes (a lost index page would show here too).
is( $node->safe_psql(
		'postgres', q{
SET enable_seqscan = off; SET enable_bitmapscan = off;
SELECT count(*) FROM pgbench_accounts a JOIN ledger l USING (aid)
 WHERE a.aid = l.aid}),
	$node->safe_psql('postgres', 'SELECT count(*) FROM ledger'),
	'every ledger row finds its account through the index');

my $md5 = table_md5_ledger($node);
flush_oracle($node, 'postgres', 'after crash recovery',
	qw(pgbench_accounts pgbench_tellers pgbench_branches ledger));
is(table_md5_ledger($node), $md5, 'content unchanged over a clean restart');

$node->stop;
done_testing();

sub table_md5_ledger
{
	my ($n) = @_;
	return $n->safe_psql('postgres',
		    "SELECT md5(string_agg(client || ':' || n || ':' || delta, ',' ORDER BY client, n)) FROM ledger")
	  . ' '
	  . $n->safe_psql('postgres',
		"SELECT md5(string_agg(aid || ':' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts");
}
