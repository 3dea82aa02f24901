# Copyright (c) pg_uring authors
#
# Helpers shared by the write-path TAP tests (test/t/020_flush_*.pl ...
# 027_flush_*.pl, and others), next to PgUringTest.pm (prove -I test):
#
#   use FlushTestLib;
#
# The "nothing lost" oracle is in three parts:
#   flush_amcheck()   verify_heapam() returns no rows for every given table,
#                     bt_index_check(heapallindexed) passes for every btree
#                     index on it;
#   flush_checksums() stops the node cleanly and runs pg_checksums --check
#                     on its data directory (must report 0 bad checksums);
#   the tests' own content checks (row counts, md5s, ledgers).

package FlushTestLib;

use strict;
use warnings;

use Exporter 'import';
use Test::More;
use Time::HiRes qw(usleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use PgUringTest;

our @EXPORT = qw(
  flush_node flush_amcheck flush_checksums flush_oracle
  rel_dirty rel_page_lsns lsn_cmp lsn_to_num
  sql_rc aux_pid wait_crash_restart gdb_usable flush_make_table flush_dirty_table
  pgbench_logged ledger_check_clients
);

# A table for the write-path tests: wide rows in pages half full (room for
# HOT updates), frozen and checkpointed, so that it starts clean on disk.
# $extra_sql runs right after (for example an UPDATE that dirties it).
sub flush_make_table
{
	my ($node, $t, $rows, $extra_sql) = @_;
	$extra_sql //= '';
	$node->safe_psql(
		'postgres', qq{
CREATE TABLE $t (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)
  WITH (autovacuum_enabled = off, fillfactor = 50);
ALTER TABLE $t ALTER COLUMN pad SET STORAGE PLAIN;
INSERT INTO $t SELECT g, 0, repeat(md5(g::text), 20) FROM generate_series(1, $rows) g;
VACUUM (FREEZE) $t;
CHECKPOINT;
$extra_sql
});
	return;
}


# A table of about $mb MB that is all dirty in shared buffers (created and
# filled, never checkpointed): two wide rows a page, v = id % $mod.
# Returns its md5 (table_md5).
sub flush_dirty_table
{
	my ($node, $t, $mb, $mod) = @_;
	my $rows = $mb * 128 * 2;
	$node->safe_psql(
		'postgres', qq{
CREATE TABLE $t (id int PRIMARY KEY, v int NOT NULL, pad text NOT NULL)
  WITH (autovacuum_enabled = off, fillfactor = 50);
ALTER TABLE $t ALTER COLUMN pad SET STORAGE PLAIN;
INSERT INTO $t SELECT g, g % $mod, repeat(md5(g::text), 59) FROM generate_series(1, $rows) g;
});
	return table_md5($node, 'postgres', $t);
}

# A node for the write-path tests: checksums, pg_uring preloaded, and the
# oracles (amcheck, pageinspect, pg_buffercache) installed in "postgres".
# No background writes of dirty buffers unless the test asks for them:
# the bgwriter's LRU scan is off, checkpoints only on request.
sub flush_node
{
	my ($name, %opts) = @_;
	my $conf = qq{
bgwriter_lru_maxpages = 0
log_checkpoints = on
};
	$conf .= $opts{conf} if defined $opts{conf};
	my $node = pgu_node($name, conf => $conf);
	$node->safe_psql('postgres',
		'CREATE EXTENSION IF NOT EXISTS amcheck; '
		  . 'CREATE EXTENSION IF NOT EXISTS pageinspect;');
	return $node;
}

# amcheck on each table and each btree index on it.
sub flush_amcheck
{
	my ($node, $db, $label, @tables) = @_;
	for my $t (@tables)
	{
		my ($rc, $out, $err) = $node->psql($db,
			"SELECT count(*) FROM verify_heapam('$t', check_toast => true)");
		ok($rc == 0 && $out eq '0',
			"$label: verify_heapam('$t') returns no rows")
		  or diag("rc=$rc out=$out err=$err "
			  . $node->safe_psql($db, "SELECT * FROM verify_heapam('$t') LIMIT 20"));
		my @idx = split /\n/, $node->safe_psql($db,
			"SELECT i.indexrelid::regclass FROM pg_index i "
			  . "JOIN pg_class c ON c.oid = i.indexrelid "
			  . "JOIN pg_am a ON a.oid = c.relam AND a.amname = 'btree' "
			  . "WHERE i.indrelid = '$t'::regclass ORDER BY 1");
		for my $i (@idx)
		{
			($rc, $out, $err) = $node->psql($db,
				"SELECT bt_index_check('$i', true)");
			is($rc, 0, "$label: bt_index_check('$i', heapallindexed) passes")
			  or diag($err);
		}
	}
	return;
}

# Clean stop, then pg_checksums --check.  Restarts the node unless
# keep_stopped.
sub flush_checksums
{
	my ($node, $label, %opts) = @_;
	$node->stop('fast');
	my ($stdout, $stderr) = ('', '');
	my $ok = IPC::Run::run(
		[ 'pg_checksums', '--check', '-D', $node->data_dir ],
		'>', \$stdout, '2>', \$stderr);
	ok($ok, "$label: pg_checksums --check succeeds")
	  or diag("pg_checksums: $stdout $stderr");
	like($stdout, qr/Bad checksums:\s+0\b/,
		"$label: pg_checksums reports no bad checksums");
	$node->start unless $opts{keep_stopped};
	return;
}

# The whole oracle: amcheck now, then a clean stop, pg_checksums, restart.
sub flush_oracle
{
	my ($node, $db, $label, @tables) = @_;
	flush_amcheck($node, $db, $label, @tables);
	flush_checksums($node, $label);
	return;
}

# Dirty (and resident) buffers of a relation, all forks: "dirty|resident".
sub rel_dirty
{
	my ($node, $db, $rel, $fork) = @_;
	my $forkcond = defined $fork ? " AND relforknumber = $fork" : '';
	return $node->safe_psql(
		$db, qq{
SELECT count(*) FILTER (WHERE isdirty) || '|' || count(*) FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('$rel')
   AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
   $forkcond});
}

# Page LSNs of every block of the main fork (pageinspect), as the buffers
# (or the disk) have them now: "max_lsn|min_lsn|blocks".
sub rel_page_lsns
{
	my ($node, $db, $rel) = @_;
	return $node->safe_psql(
		$db, qq{
SELECT max(lsn) || '|' || min(lsn) || '|' || count(*)
  FROM generate_series(0, pg_relation_size('$rel') / current_setting('block_size')::int - 1) b,
       LATERAL page_header(get_raw_page('$rel', 'main', b::int))});
}

# 'X/Y' -> number
sub lsn_to_num
{
	my ($lsn) = @_;
	my ($hi, $lo) = split m{/}, $lsn;
	return hex($hi) * 4294967296 + hex($lo);
}

sub lsn_cmp
{
	my ($a, $b) = @_;
	return lsn_to_num($a) <=> lsn_to_num($b);
}

# psql returning (rc, stdout, stderr), never dying.
sub sql_rc
{
	my ($node, $db, $sql, %o) = @_;
	my ($out, $err);
	my $rc = $node->psql($db, $sql, stdout => \$out, stderr => \$err,
		on_error_stop => 1, %o);
	return ($rc, $out // '', $err // '');
}

# pid of an auxiliary process by backend_type ('walwriter', 'checkpointer').
sub aux_pid
{
	my ($node, $type) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(min(pid)::text, '') FROM pg_stat_activity WHERE backend_type = '$type'");
}

# After a crash of some child: wait for the postmaster to reinitialize and
# accept connections again.  Returns true on success.
sub wait_crash_restart
{
	my ($node, $log_off) = @_;
	my $ok = eval {
		$node->wait_for_log(qr/all server processes terminated; reinitializing/, $log_off);
		$node->wait_for_log(qr/database system is ready to accept connections/, $log_off);
		1;
	};
	return $ok && $node->poll_query_until('postgres', 'SELECT 1', '1');
}

# Can gdb attach to (and detach from) process $pid?  False when gdb is
# missing or ptrace is not permitted here.
sub gdb_usable
{
	my ($pid) = @_;
	my ($out, $err) = ('', '');
	my $ok = eval {
		IPC::Run::run([ 'gdb', '-q', '-nx', '-batch', '-p', $pid, '-ex', 'detach' ],
			'<', \'', '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	};
	return 0 unless $ok;
	return ("$out$err" !~ /ptrace|not permitted|Could not attach|No such process/i);
}


# Read pgbench's per-transaction logs ($dir/pgb.*, from "-l --log-prefix
# $dir/pgb"): a line "client_id transaction_no time ..." for every
# transaction that completed.  One check: more than 100 of them.  Returns
# a hashref client_id => number of committed transactions.
sub pgbench_logged
{
	my ($dir) = @_;
	my %logged;
	my $total = 0;
	for my $f (glob("$dir/pgb.*"))
	{
		open(my $lf, '<', $f) or die "$f: $!";
		while (my $line = <$lf>)
		{
			my @w = split ' ', $line;
			next unless @w >= 3 && $w[2] =~ /^\d+$/;
			$logged{ $w[0] }++;
			$total++;
		}
		close($lf);
	}
	cmp_ok($total, '>', 100, "pgbench committed transactions ($total)");
	return \%logged;
}

# The ledger oracle after a crash: each pgbench client appended rows
# n = 1, 2, ... to table "ledger" (columns client, n), one per transaction.
# Two checks per client: no gap, and every transaction that pgbench logged
# as committed is there (one more may have committed without being logged).
sub ledger_check_clients
{
	my ($node, $clients, $logged) = @_;
	for my $c (0 .. $clients - 1)
	{
		my $k = $logged->{$c} // 0;
		my ($cnt, $min, $max) = split / /, $node->safe_psql('postgres',
			"SELECT count(*) || ' ' || coalesce(min(n), 0) || ' ' || coalesce(max(n), 0) "
			  . "FROM ledger WHERE client = $c");
		ok(($cnt == $max) && ($cnt == 0 || $min == 1),
			"client $c: ledger has 1..$max without a gap ($cnt rows)");
		ok($max == $k || $max == $k + 1,
			"client $c: all $k committed transactions are in the ledger (found $max)");
	}
	return;
}

1;
