
# Copyright (c) pg_uring authors
#
# Buffer-mode prewarm of indexes that are being split under it.
#
# A loop evicts a btree index and a GIN index (fastupdate = on: inserts go
# to the pending list, which the inserting backends and VACUUM merge into
# the main tree) from shared buffers and prewarms them again with
# pg_uring_prewarm(..., 'buffer'), while pgbench writers insert random keys
# (btree page splits everywhere), insert into the GIN pending list, delete
# key ranges, and VACUUM (btree page deletion, GIN pending-list cleanup).
# On PostgreSQL 15 the ring only reads ahead into the page cache and pages
# enter shared buffers only through core's ReadBufferExtended, so nothing
# the prewarm does may lose or revert a concurrent page change.
#
# Asserted, per round:
#   - no backend ever waits longer than 30 s (pg_stat_activity sampled
#     every 0.5 s: a non-idle session whose state_change is older than 30 s
#     and that has a wait_event is a hang);
#   - every writer and every prewarm succeeds;
#   - amcheck: bt_index_check(heapallindexed) during the run, and
#     bt_index_parent_check(heapallindexed) and verify_heapam after it;
#   - the writers' own ledger (every insert and delete records the rows it
#     touched, in the same statement) gives the expected rows: a seq scan,
#     a btree index scan and a GIN bitmap scan all return exactly those,
#     and the per-tag counts through the GIN index match the ledger's;
#   - the race happened: a floor of prewarm calls during which the index
#     was modified: the btree grew (a split extended it while the prewarm
#     ran), the GIN index's pending list changed (fast inserts, cleanups).
# Round 2 (the testing build, make PGU_TESTING=1) injects a delay at every
# block install ('install_delay', 5-20 ms), between the ring's read-ahead
# and core's read of the page: the step that used to be a window.  Without
# the testing build its checks are skipped with the reason.
#
# 30 s per round by default, 120 s with PG_URING_SOAK=1.

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep time);
use PgUringTest;

my $secs = soak() ? 120 : 30;
my $hang = 30;    # seconds: any wait longer than this is a hang
my $ntags = 200;

my $node = pgu_node('idxsplit',
	conf => "shared_buffers = 128MB\nmax_connections = 40\ngin_pending_list_limit = 64\n"
	  # parallel installs: prewarms of 2 MB and more get helpers, which
	  # race the splits too
	  . "pg_uring.min_parallel_prewarm_size = '2MB'\n");
my ($ring_up, $ring_why) = ring_check($node);
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck; CREATE EXTENSION pgstattuple');

my $rows0 = 150000;
$node->safe_psql(
	'postgres', qq{
CREATE TABLE t (id bigserial PRIMARY KEY, k int NOT NULL, tags int[] NOT NULL, pad text NOT NULL)
  WITH (autovacuum_enabled = off);
CREATE TABLE ledger (op "char" NOT NULL, id bigint NOT NULL, k int, tags int[])
  WITH (autovacuum_enabled = off);
WITH i AS (
  INSERT INTO t (k, tags, pad)
  SELECT (random() * 2000000000)::int,
         ARRAY[1 + (random() * ($ntags - 1))::int, 1 + (random() * ($ntags - 1))::int],
         repeat('p', 20)
    FROM generate_series(1, $rows0)
  RETURNING id, k, tags)
INSERT INTO ledger SELECT 'i', id, k, tags FROM i;
CREATE INDEX t_k ON t (k);
CREATE INDEX t_tags ON t USING gin (tags) WITH (fastupdate = on);
VACUUM ANALYZE t;
CHECKPOINT;
});

# pgbench scripts of the writers.
my $dir = PostgreSQL::Test::Utils::tempdir();
my %scripts = (
	insert => qq{\\set k random(0, 2000000000)
\\set t1 random(1, $ntags)
\\set t2 random(1, $ntags)
WITH i AS (INSERT INTO t (k, tags, pad) VALUES (:k, ARRAY[:t1, :t2], 'i' || :k) RETURNING id, k, tags) INSERT INTO ledger SELECT 'i', id, k, tags FROM i;
},
	insert_many => qq{WITH i AS (INSERT INTO t (k, tags, pad) SELECT (random() * 2000000000)::int, ARRAY[1 + (random() * ($ntags - 1))::int, 1 + (random() * ($ntags - 1))::int], 'm' FROM generate_series(1, 40) RETURNING id, k, tags) INSERT INTO ledger SELECT 'i', id, k, tags FROM i;
},
	delete => qq{\\set k random(0, 2000000000)
WITH d AS (DELETE FROM t WHERE k BETWEEN :k AND :k + 300000 RETURNING id) INSERT INTO ledger SELECT 'd', id, NULL, NULL FROM d;
},
	vacuum => qq{VACUUM t;
\\sleep 1500 ms
},);
for my $s (keys %scripts)
{
	open(my $fh, '>', "$dir/$s.sql") or die;
	print $fh $scripts{$s};
	close($fh);
}

sub pgbench_start
{
	my ($name, $clients, $files, $duration) = @_;
	my ($out, $err) = ('', '');
	my @cmd = (
		'pgbench', '-n', '-h', $node->host, '-p', $node->port,
		'-c', $clients, '-j', $clients, '-T', $duration,
		(map { ('-f', "$dir/$_") } @$files), 'postgres');
	my $h = IPC::Run::start(\@cmd, '<', \'', '>', \$out, '2>', \$err,
		IPC::Run::timeout($duration + 10 * $hang));
	return { name => $name, h => $h, out => \$out, err => \$err };
}

sub pgbench_finish
{
	my ($p) = @_;
	my $ok = eval { $p->{h}->finish; 1 };
	my $rc = $ok ? $p->{h}->result(0) : -1;
	eval { $p->{h}->kill_kill } unless $ok;
	my ($tx) = ${ $p->{out} } =~ /number of transactions actually processed: (\d+)/;
	return ($rc, $tx // 0, ${ $p->{err} });
}

# Non-idle sessions waiting for something, with state_change older than $hang s.
my $hang_sql = qq{
SELECT pid || ' ' || coalesce(application_name, '') || ' ' || state || ' ' || wait_event_type || ':' || wait_event
       || ' for ' || round(extract(epoch FROM now() - state_change)) || ' s: ' || left(query, 60)
  FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
   AND state <> 'idle' AND wait_event IS NOT NULL
   AND state_change < now() - interval '$hang s'};

# The expected rows, from the ledger.
my $expected_cte = q{WITH e AS (
  SELECT i.id, i.k, i.tags FROM ledger i
   WHERE i.op = 'i' AND NOT EXISTS (SELECT 1 FROM ledger d WHERE d.op = 'd' AND d.id = i.id))};
my $rowsum = q{count(*) || ':' || md5(string_agg(id || ':' || k || ':' || tags::text, ',' ORDER BY id))};
my $tagsum = q{string_agg(x || '=' || c, ',' ORDER BY x)};

# Content checks: ledger vs seq scan vs btree scan vs GIN scan.
my @timing;
sub timed_q
{
	my ($sql) = @_;
	my $t0 = time();
	my $to = 0;
	my ($rc, $r, $err) = $node->psql('postgres', $sql, on_error_stop => 1, timeout => 10 * $hang,
		timed_out => \$to);
	$r = "ERROR: $err" if $rc != 0;
	# a corrupt index can make a scan loop forever: a backend that does not
	# answer any more is ended (SIGQUIT: it may not check for interrupts)
	if ($to)
	{
		$r = "TIMED OUT after " . 10 * $hang . " s";
		my $pids = $node->safe_psql('postgres',
			"SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state = 'active'");
		kill('QUIT', split(/ /, $pids)) if $pids ne '';
		$node->poll_query_until('postgres', 'SELECT 1', '1');
	}
	push @timing, sprintf("%.1f", time() - $t0);
	return $r;
}

sub oracle
{
	my ($label) = @_;
	@timing = ();
	my $want = timed_q("$expected_cte SELECT $rowsum FROM e");
	my $seq = timed_q(
		"SET enable_indexscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; "
		  . "SELECT $rowsum FROM t");
	my $bt = timed_q(
		"SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; "
		  . "SELECT $rowsum FROM t WHERE k BETWEEN -2147483648 AND 2147483647");
	my $bt_plan = timed_q(
		"SET enable_seqscan = off; SET enable_bitmapscan = off; SET enable_indexonlyscan = off; "
		  . "EXPLAIN SELECT * FROM t WHERE k BETWEEN -2147483648 AND 2147483647");
	my $gin_q = "SET enable_seqscan = off; SET enable_indexscan = off; SET enable_indexonlyscan = off; ";
	my $gin = timed_q(
		$gin_q . "SELECT $rowsum FROM t WHERE tags && ARRAY(SELECT generate_series(1, $ntags))");
	my $gin_plan = timed_q(
		$gin_q . "EXPLAIN SELECT * FROM t WHERE tags && ARRAY[1, 2]");
	my $tags_want = timed_q(
		"$expected_cte SELECT $tagsum FROM (SELECT x, count(DISTINCT id) c FROM e, unnest(tags) x GROUP BY x) s");
	my $tags_gin = timed_q(
		$gin_q . "SELECT $tagsum FROM (SELECT x, (SELECT count(*) FROM t WHERE tags @> ARRAY[x]) c "
		  . "FROM generate_series(1, $ntags) x) s WHERE c > 0");
	note("$label: expected rows (count:md5) $want; query times (s): @timing");
	is($seq, $want, "$label: a seq scan returns exactly the ledger's rows");
	like($bt_plan, qr/Index Scan using t_k/, "$label: (the btree check uses t_k)");
	is($bt, $want, "$label: a btree index scan (t_k) returns exactly the ledger's rows");
	like($gin_plan, qr/Bitmap Index Scan on t_tags/, "$label: (the GIN check uses t_tags)");
	is($gin, $want, "$label: a GIN bitmap scan (t_tags) returns exactly the ledger's rows");
	is($tags_gin, $tags_want, "$label: per-tag counts through the GIN index match the ledger");
	my ($rc, $out, $err) = $node->psql('postgres',
		"SELECT bt_index_parent_check('t_k', true, true); SELECT bt_index_parent_check('t_pkey', true, true); "
		  . "SELECT count(*) FROM verify_heapam('t')");
	is($rc, 0, "$label: bt_index_parent_check(heapallindexed, rootdescend) of t_k and t_pkey passes")
	  or diag($err);
	like($out, qr/^0$/m, "$label: verify_heapam('t') reports nothing");
	return;
}

# What changes when the index is modified: the btree's size (a split that
# extends it); the GIN index's size and pending list (pgstatginindex reads
# the metapage: pending pages and tuples change with every fast insert and
# every pending-list cleanup).
my %state = (
	t_k    => "pg_relation_size('t_k')",
	t_tags => "(SELECT pg_relation_size('t_tags') || '/' || pending_pages || '/' || pending_tuples FROM pgstatginindex('t_tags'))");

# One round: writers for $duration s, the prewarm loop meanwhile.
#   delay => [ms, ...]: arm install_delay with these (cycled), prewarm
#            block ranges of 256 blocks instead of whole indexes
sub run_round
{
	my ($label, $duration, %o) = @_;
	my $delays = $o{delay};
	my $stats0 = stats_snapshot($node);
	my @writers = (
		pgbench_start('writers', 3, [ 'insert.sql@6', 'insert_many.sql@1', 'delete.sql@1' ], $duration),
		pgbench_start('vacuum', 1, ['vacuum.sql'], $duration));
	my $pw = bg_start($node, 'postgres', undef, app => 'prewarm_loop',
		timeout => $duration + 10 * $hang);
	my $end = time() + $duration;
	my $next_sample = 0;
	my @hangs;
	my ($samples, $iter, $pending) = (0, 0, 0);
	my %ovl = (t_k => 0, t_tags => 0);
	my %calls = (t_k => 0, t_tags => 0);
	my ($fired, $warmed, $checks) = (0, 0, 0);
	my $pw_err = '';
	my $queue_iter = sub {
		$iter++;
		my $sql = '';
		for my $idx ('t_k', 't_tags')
		{
			$sql .= "SELECT 'V:' || evicted FROM pg_uring_evict('$idx');\n";
		}
		if ($delays)
		{
			my $d = $delays->[ $iter % @$delays ];
			$sql .= "SELECT pg_uring_fault_set('install_delay', 'delay', 0, -1, $d);\n";
		}
		for my $idx ('t_k', 't_tags')
		{
			my $range = '';
			if ($delays)
			{
				# a random window of 256 blocks (the delay makes each block slow)
				$sql .= "SELECT greatest(0, (random() * (pg_relation_size('$idx') / 8192 - 256))::int8) AS first \\gset\n";
				$range = ", 'main', :first, least(:first + 255, pg_relation_size('$idx') / 8192 - 1)";
			}
			$sql .= "SELECT 'S:$idx:' || $state{$idx};\n";
			$sql .= "SELECT 'P:$idx:' || pg_uring_prewarm('$idx', 'buffer'$range);\n";
			$sql .= "SELECT 'E:$idx:' || $state{$idx};\n";
		}
		$sql .= "SELECT 'F:' || pg_uring_fault_hits('install_delay');\n" if $delays;
		# amcheck while the writers run, every 8th iteration
		$sql .= "SELECT 'C:' || count(*) FROM (SELECT bt_index_check('t_k', true), bt_index_check('t_pkey', true)) c;\n"
		  if $iter % 8 == 1;
		$sql .= "SELECT 'DONE:$iter';\n";
		$pw->{in} .= $sql;
		$pending = 1;
	};
	$queue_iter->();
	my $sample = sub {
		return if time() < $next_sample;
		$next_sample = time() + 0.5;
		$samples++;
		my $h = $node->safe_psql('postgres', $hang_sql);
		push @hangs, split(/\n/, $h) if $h ne '';
	};
	# Until the end: one prewarm iteration after the other.  Then until the
	# writers (pgbench -T) and the last iteration are done, bounded.
	my $drain_end = $end + $hang + 10;
	while (time() < $drain_end)
	{
		bg_pump($pw);
		eval { $_->{h}->pump_nb } for @writers;
		if (!$pw->{h}->pumpable)
		{
			$pw_err = "the prewarm loop ended: $pw->{err}" if $pw_err eq '';
			$pending = 0;
		}
		if ($pending && $pw->{out} =~ /^DONE:$iter$/m)
		{
			my %s = $pw->{out} =~ /^S:(\w+):(\S+)$/mg;
			my %e = $pw->{out} =~ /^E:(\w+):(\S+)$/mg;
			my %p = $pw->{out} =~ /^P:(\w+):(\d+)$/mg;
			for my $idx (keys %s)
			{
				$calls{$idx}++;
				$ovl{$idx}++ if $e{$idx} ne $s{$idx};
				$warmed += $p{$idx} // 0;
			}
			$fired += $1 if $pw->{out} =~ /^F:(\d+)$/m;
			$checks++ if $pw->{out} =~ /^C:1$/m;
			$pw->{out} = '';
			$pending = 0;
			$queue_iter->() if time() < $end;
		}
		$sample->();
		last if !$pending && !grep { $_->{h}->pumpable } @writers;
		usleep(20_000);
	}
	# Whatever is still running now is stuck: say so, and end it.
	my $stuck = end_stuck_sessions($node, "application_name IN ('pgbench', 'prewarm_loop')");
	push @hangs, "still running $hang s after the end of the round:\n$stuck" if $stuck ne '';
	my $pw_hung = $pending;
	$pw->{in} .= "\\q\n";
	my $rp = bg_finish($pw);
	my @res = map { [ $_->{name}, pgbench_finish($_) ] } @writers;
	fault_reset($node) if $delays;

	note(sprintf("%s: %d prewarm iterations (%d blocks warmed), %d activity samples; "
		  . "calls during which the index grew: t_k %d of %d, t_tags %d of %d%s",
		$label, $iter, $warmed, $samples, $ovl{t_k}, $calls{t_k}, $ovl{t_tags}, $calls{t_tags},
		$delays ? ", install delays fired: $fired" : ''));
	is(scalar(@hangs), 0, "$label: no session waited longer than $hang s ($samples samples)")
	  or diag(join("\n", dedup_hangs(@hangs)));
	ok(!$pw_hung && $rp->{rc} == 0 && $pw_err eq '', "$label: every prewarm and evict succeeded")
	  or diag("rc=$rp->{rc} timed_out=$rp->{timed_out} $pw_err $rp->{err}");
	for my $r (@res)
	{
		my ($name, $rc, $tx, $err) = @$r;
		ok($rc == 0 && $tx > 0 && $err !~ /ERROR|aborted/,
			"$label: pgbench $name succeeded ($tx transactions)")
		  or diag("rc=$rc: $err");
	}
	cmp_ok($ovl{t_k}, '>=', $o{floor}, "$label: btree prewarms overlapped with splits ($ovl{t_k} >= $o{floor})");
	cmp_ok($ovl{t_tags}, '>=', $o{floor},
		"$label: GIN prewarms overlapped with fast inserts or pending-list cleanups ($ovl{t_tags} >= $o{floor})");
	my $d = stats_delta($stats0, stats_snapshot($node));
	cmp_ok($d->{io_uring}{blocks_read} + $d->{sync}{blocks_read}, '>', 0,
		"$label: the prewarms read ahead through pg_uring");
	if ($delays)
	{
		cmp_ok($fired, '>', 0, "$label: the install delay fired ($fired block installs delayed)");
	}
	cmp_ok($checks, '>', 0, "$label: bt_index_check(heapallindexed) of t_k and t_pkey passed during the run ($checks times)");
	is(pinned_buffers($node, 'postgres'), '0', "$label: no buffer left pinned");
	oracle($label);
	return;
}

run_round('round 1 (no delay)', $secs, floor => 3);

SKIP:
{
	skip 'needs the testing build (make PGU_TESTING=1)', 16
	  unless fault_setup($node);
	run_round('round 2 (install_delay 5-20 ms)', $secs, delay => [ 5, 10, 20 ], floor => 1);
}

my $log = slurp_log_from($node, 0);
unlike($log, qr/PANIC|was terminated by signal|invalid page|checksum verification failed|unexpected zero page|could not read block/,
	'no PANIC, crash, invalid page or read error in the log');

cmp_ok($node->safe_psql('postgres', 'SELECT sum(prewarm_workers_launched) FROM pg_uring_stats'),
	'>', 0, 'prewarm helpers took part (parallel installs during the splits)');

$node->stop;
done_testing();
