
# Copyright (c) pg_uring authors
#
# PgUringTest -- shared helpers for the pg_uring TAP tests (test/t/*.pl).
#
#   use PgUringTest;
#   my $node = pgu_node('name', conf => "pg_uring.ring_entries = 4\n");
#   ring_skip_unless_up($node);          # a ring-only test: needs io_uring
#   my ($ring_up, $why) = ring_check($node);
#   SKIP: { skip $why, 3 unless $ring_up; ...ring checks... }
#
# The ring must be up: where it is down, ring_skip_unless_up and ring_check
# FAIL the test (with pg_uring_status.reason in the message), unless
# PG_URING_SYNC_ONLY=1 says that a sync-only run is intended; then ring-only
# files are skipped and ring checks are skipped, with the reason.
#
# Nodes are created with data checksums, pg_uring preloaded and
# CREATE EXTENSION pg_uring (plus pg_prewarm and pg_buffercache, the oracles)
# done in the "postgres" database.

package PgUringTest;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run;
use Time::HiRes qw(usleep time);
use Test::More;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;

our @EXPORT = qw(
  pgu_node pgu_setup_db
  soak hang_timeout
  ring_status ring_wait_settled ring_skip_unless_up ring_available
  ring_check sync_only
  stats_row stats_snapshot stats_delta check_served_by
  worker_pid wait_for_worker
  make_table table_md5 rel_blocks rel_buffers pinned_buffers
  bg_start bg_pump bg_finish bg_finish_all bg_backend_pid bg_wait_active
  slurp_log_from count_matches
  wait_progress queue_settled
  fault_setup fault_setup_or_skip fault_set fault_reset fault_hits
  pg_checksum_page break_checksums warned_pages dedup_hangs
  pgu_wait_event
  pgbench_bg pgbench_wait end_stuck_sessions acct_ledger_check
);

# What pg_stat_activity shows (wait_event_type:wait_event) while pg_uring
# waits for $name (see src/compat.h): PostgreSQL 17 and later show the named
# wait event pg_uring registers (WaitEventExtensionNew); 15 shows every
# extension wait as Extension:Extension.
sub pgu_wait_event
{
	my ($node, $name) = @_;
	return $node->pg_version >= 17 ? "Extension:$name" : 'Extension:Extension';
}

# Generous bound for anything that could hang; these are hang detectors, not
# performance assertions.
sub hang_timeout
{
	my $t = $ENV{PG_URING_HANG_TIMEOUT};
	return (defined $t && $t =~ /^\d+$/ && $t > 0) ? $t : 120;
}

# True when PG_URING_SOAK=1: longer runs.
sub soak { return ($ENV{PG_URING_SOAK} // '') eq '1'; }

# True when PG_URING_SYNC_ONLY=1: a run where io_uring is known to be
# unavailable; ring tests skip (with the reason) instead of failing.
sub sync_only { return ($ENV{PG_URING_SYNC_ONLY} // '') eq '1'; }

# Create (and by default start) a node with checksums and pg_uring preloaded.
#   conf     => extra postgresql.conf text (appended last, so it wins)
#   init     => { extra parameters for Cluster::init, e.g. allows_streaming => 1 }
#   no_start => 1 to leave it stopped
sub pgu_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(extra => ['--data-checksums'], %{ $opts{init} // {} });
	$node->append_conf(
		'postgresql.conf', qq{
shared_preload_libraries = 'pg_uring'
shared_buffers = 256MB
max_connections = 30
autovacuum = off
max_wal_size = 2GB
checkpoint_timeout = 30min
log_min_messages = info
log_line_prefix = '%m [%p] %b '
restart_after_crash = on
});
	$node->append_conf('postgresql.conf', $opts{conf}) if defined $opts{conf};
	return $node if $opts{no_start};
	$node->start;
	pgu_setup_db($node, 'postgres');
	return $node;
}

# CREATE EXTENSION pg_uring, pg_prewarm and pg_buffercache in $db.
sub pgu_setup_db
{
	my ($node, $db) = @_;
	$node->safe_psql($db,
		'CREATE EXTENSION IF NOT EXISTS pg_uring; '
		  . 'CREATE EXTENSION IF NOT EXISTS pg_prewarm; '
		  . 'CREATE EXTENSION IF NOT EXISTS pg_buffercache;');
	return;
}

# pg_uring_status as a hashref (booleans as 't'/'f', NULL as '').
sub ring_status
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	my @cols = qw(io_method effective_method ring_up ring_state reason
	  worker_pid ring_entries);
	my $out = $node->safe_psql($db,
		"SELECT "
		  . join(", ",
			map { $_ eq 'ring_up' ? "CASE WHEN ring_up THEN 't' WHEN NOT ring_up THEN 'f' ELSE '' END" : "coalesce(${_}::text, '')" } @cols)
		  . " FROM pg_uring_status");
	my @v = split /\|/, $out, -1;
	my %h;
	@h{@cols} = @v;
	return \%h;
}

# The worker sets the ring up after the postmaster is ready: wait until the
# status says either "up" or "down with a reason".
sub ring_wait_settled
{
	my ($node) = @_;
	my $deadline = time() + hang_timeout();
	my $st;
	while (1)
	{
		$st = ring_status($node);
		return $st if $st->{ring_up} eq 't';
		return $st if $st->{ring_up} eq 'f' && $st->{reason} ne '';
		last if time() > $deadline;
		usleep(100_000);
	}
	return $st;
}

# (1, '') when the ring is up, (0, reason) when it is down; waits for the
# worker to settle first.
sub ring_available
{
	my ($node) = @_;
	my $st = ring_wait_settled($node);
	return (1, '') if $st->{ring_up} eq 't';
	return (0, $st->{reason} ne '' ? $st->{reason} : "ring_state=$st->{ring_state}, no reason given");
}

# For ring-only tests; must be called before any test is run.  Ring up:
# returns the status.  Ring down with a reason: with PG_URING_SYNC_ONLY=1 the
# whole file is skipped (plan skip_all, with the reason); otherwise the file
# FAILS (one failed test naming the reason) and ends.  A ring that is down
# without a reason is a bug: that dies (test failure) in either mode.
sub ring_skip_unless_up
{
	my ($node) = @_;
	my $st = ring_wait_settled($node);
	return $st if $st->{ring_up} eq 't';
	die "pg_uring ring is down but pg_uring_status gives no reason "
	  . "(ring_state=$st->{ring_state})"
	  if $st->{reason} eq '';
	$node->stop;
	if (sync_only())
	{
		plan skip_all => "io_uring not available: $st->{reason} (PG_URING_SYNC_ONLY=1)";
	}
	ok(0, "io_uring ring is up (a ring-only test; it is down: $st->{reason})")
	  or diag("the pg_uring ring is down: $st->{reason}\n"
		  . "set PG_URING_SYNC_ONLY=1 if a sync-only run is intended");
	done_testing();
	exit 1;
}

# For tests with ring checks among others.  Returns ($ring_up, $skip_reason).
# Ring down with a reason: with PG_URING_SYNC_ONLY=1 the caller skips its
# ring checks with $skip_reason; otherwise a failed test "io_uring ring is
# up" (naming the reason) is recorded first.  Ring up: a passing test of
# the same name, so that the check exists in every run.
sub ring_check
{
	my ($node) = @_;
	my $st = ring_wait_settled($node);
	my $up = $st->{ring_up} eq 't';
	die "pg_uring ring is down but pg_uring_status gives no reason "
	  . "(ring_state=$st->{ring_state})"
	  if !$up && $st->{reason} eq '';
	my $why = $up ? '' : "io_uring not available: $st->{reason}";
	if ($up || !sync_only())
	{
		ok($up, 'io_uring ring is up' . ($up ? '' : " (it is down: $st->{reason})"))
		  or diag("the pg_uring ring is down: $st->{reason}\n"
			  . "set PG_URING_SYNC_ONLY=1 if a sync-only run is intended");
	}
	else
	{
		note("$why (PG_URING_SYNC_ONLY=1): ring checks are skipped");
	}
	return ($up, $why);
}

my @STAT_COLS = qw(requests reads blocks_read writes blocks_written combined_ios enter_calls
  sqes_submitted cqes_reaped sq_full_waits queue_full_waits queue_wait_timeouts short_ios
  retries errors fallback_ios pages_verified);

# One pg_uring_stats row ('io_uring' or 'sync') as a hashref.
sub stats_row
{
	my ($node, $method, $db) = @_;
	$db //= 'postgres';
	# columns that do not apply to a method are NULL there (1.2): 0 here
	my $out = $node->safe_psql($db,
		"SELECT " . join(", ", map { "coalesce($_, 0)" } @STAT_COLS)
		  . " FROM pg_uring_stats WHERE method = '$method'");
	die "no pg_uring_stats row for $method" if $out eq '';
	my @v = split /\|/, $out, -1;
	my %h;
	@h{@STAT_COLS} = @v;
	return \%h;
}

# { io_uring => row, sync => row }
sub stats_snapshot
{
	my ($node, $db) = @_;
	return {
		io_uring => stats_row($node, 'io_uring', $db),
		sync     => stats_row($node, 'sync',     $db)
	};
}

# after - before, per method and column.
sub stats_delta
{
	my ($before, $after) = @_;
	my %d;
	for my $m (keys %$after)
	{
		for my $c (keys %{ $after->{$m} })
		{
			$d{$m}{$c} = $after->{$m}{$c} - $before->{$m}{$c};
		}
	}
	return \%d;
}


# Two checks that a stats_delta $d was served by the path $method asked
# for: with io_uring, the ring served requests and none fell back to the
# sync path; with sync, the sync path served requests and the ring none.
# $what names what was served in the test names ('requests' by default).
sub check_served_by
{
	my ($tag, $method, $d, $what) = @_;
	$what //= 'requests';
	if ($method eq 'io_uring')
	{
		cmp_ok($d->{io_uring}{requests}, '>', 0, "$tag the ring served $what");
		is($d->{io_uring}{fallback_ios}, 0, "$tag no fallback to the sync path");
	}
	else
	{
		cmp_ok($d->{sync}{requests}, '>', 0, "$tag the sync path served $what");
		is($d->{io_uring}{requests}, 0, "$tag the ring served nothing");
	}
	return;
}

# pid of the ring worker as pg_stat_activity shows it ('' if none).
sub worker_pid
{
	my ($node) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(min(pid)::text, '') FROM pg_stat_activity "
		  . "WHERE backend_type = 'pg_uring ring worker'");
}

# Wait for a ring worker whose pid differs from $not_pid; returns its pid or ''.
sub wait_for_worker
{
	my ($node, $not_pid) = @_;
	$not_pid //= '';
	my $deadline = time() + hang_timeout();
	while (time() < $deadline)
	{
		my $pid = eval { worker_pid($node) } // '';
		return $pid if $pid ne '' && $pid ne $not_pid;
		usleep(200_000);
	}
	return '';
}

# A table with ~$mb megabytes of heap and four ~1.9 kB rows per page (each row
# distinct, so a misplaced or stale block changes the oracle).
#   columns: id int primary key (unless no_pkey), v int, pad text
sub make_table
{
	my ($node, $db, $name, $mb, %opts) = @_;
	my $rows = int($mb * 128 * 4);
	my $pk = $opts{no_pkey} ? '' : ' PRIMARY KEY';
	$node->safe_psql(
		$db, qq{
BEGIN;
CREATE TABLE $name (id int$pk, v int NOT NULL DEFAULT 0, pad text NOT NULL)
  WITH (autovacuum_enabled = off);
ALTER TABLE $name ALTER COLUMN pad SET STORAGE PLAIN;
INSERT INTO $name SELECT g, 0, repeat(md5(g::text), 59) FROM generate_series(1, $rows) g;
COMMIT;
VACUUM (FREEZE, ANALYZE) $name;
});
	return rel_blocks($node, $db, $name);
}

# Content oracle of a table made by make_table: md5 of every row, in id order.
sub table_md5
{
	my ($node, $db, $name) = @_;
	return $node->safe_psql($db,
		    "SET enable_indexscan = off; SET enable_bitmapscan = off; "
		  . "SET enable_indexonlyscan = off; "
		  . "SELECT count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id)) FROM $name"
	);
}

# Blocks in the main fork.
sub rel_blocks
{
	my ($node, $db, $rel) = @_;
	return $node->safe_psql($db,
		"SELECT pg_relation_size('$rel') / current_setting('block_size')::int");
}

# Buffers of $rel's main fork currently in shared buffers.
sub rel_buffers
{
	my ($node, $db, $rel) = @_;
	return $node->safe_psql(
		$db, qq{
SELECT count(*) FROM pg_buffercache b
 WHERE b.relfilenode = pg_relation_filenode('$rel')
   AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND b.relforknumber = 0});
}

# Buffers pinned by anyone (optionally only $rel's).
sub pinned_buffers
{
	my ($node, $db, $rel) = @_;
	my $where = 'pinning_backends > 0';
	$where .=
	  " AND relfilenode = pg_relation_filenode('$rel') AND reldatabase = "
	  . "(SELECT oid FROM pg_database WHERE datname = current_database())"
	  if defined $rel;
	return $node->safe_psql($db,
		"SELECT count(*) FROM pg_buffercache WHERE $where");
}

# Start psql in the background.
#   $sql      => run with -c (one implicit transaction); undef => read stdin
#   stdin     => text fed on stdin (when $sql is undef; only written while
#                the session is pumped: bg_pump/bg_finish)
#   file      => run this script file with -f (when $sql is undef)
#   app       => application_name (to find the backend)
#   timeout   => seconds until the session is considered hung (from start)
#   user      => connect as this role
# Returns a session hashref for bg_* functions.
sub bg_start
{
	my ($node, $db, $sql, %o) = @_;
	my $s = {
		out  => '',
		err  => '',
		in   => $o{stdin} // '',
		app  => $o{app} // 'pgu_bg',
		node => $node,
		db   => $db,
	};
	$s->{timer} = IPC::Run::timeout($o{timeout} // hang_timeout());
	my @cmd = (
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr($db) . " application_name=$s->{app}" . ($o{user} ? " user=$o{user}" : ""));
	if (defined $sql)     { push @cmd, '-c', $sql; }
	elsif (defined $o{file}) { push @cmd, '-f', $o{file}; }
	else                  { push @cmd, '-f', '-'; }
	$s->{h} = IPC::Run::start(\@cmd, '<', \$s->{in}, '>', \$s->{out}, '2>',
		\$s->{err}, $s->{timer});
	return $s;
}

# Move pending stdin/stdout along without blocking.
sub bg_pump
{
	my ($s) = @_;
	eval { $s->{h}->pump_nb; };
	return;
}

# Wait for the session to end.  Returns { rc, out, err, timed_out }.  A hung
# session is killed (timed_out = 1).
sub bg_finish
{
	my ($s) = @_;
	my $timed_out = 0;
	if ($s->{killed})
	{
		return { rc => -1, out => $s->{out}, err => $s->{err}, timed_out => 1 };
	}
	my $ok = eval { $s->{h}->finish; 1; };
	if (!$ok)
	{
		my $e = $@;
		$timed_out = 1 if $e =~ /timeout|timer/i || $s->{timer}->is_expired;
		diag("background psql: $e") unless $timed_out;
		eval { $s->{h}->kill_kill; };
	}
	my $rc = $timed_out ? -1 : ($s->{h}->full_result(0) >> 8);
	return {
		rc        => $rc,
		out       => $s->{out},
		err       => $s->{err},
		timed_out => $timed_out
	};
}

# Wait for several sessions at once, moving every one's output along, so
# that none blocks on a full pipe while another is waited for (a client
# that does not read stalls its backend).  Returns their results, in order.
sub bg_finish_all
{
	my (@s) = @_;
	my $deadline = time() + hang_timeout() + 5;
	for (;;)
	{
		my $running = 0;
		for my $x (grep { !$_->{killed} } @s)
		{
			my $ok = eval { $x->{h}->pump_nb; 1; };
			if ((!$ok && $@ =~ /timeout|timer/i) || $x->{timer}->is_expired || time() >= $deadline)
			{
				# hung: kill it (bg_finish reports timed_out)
				eval { $x->{h}->kill_kill; };
				$x->{killed} = 1;
				next;
			}
			$running++ if $x->{h}->pumpable;
		}
		last unless $running;
		usleep(20_000);
	}
	return map { bg_finish($_) } @s;
}

# Backend pid of the session (by application_name), waiting for it to show up.
sub bg_backend_pid
{
	my ($s) = @_;
	my $deadline = time() + hang_timeout();
	while (time() < $deadline)
	{
		bg_pump($s);
		my $pid = $s->{node}->safe_psql('postgres',
			"SELECT coalesce(min(pid)::text, '') FROM pg_stat_activity "
			  . "WHERE application_name = '$s->{app}'");
		return $pid if $pid ne '';
		return '' unless $s->{h}->pumpable;
		usleep(50_000);
	}
	return '';
}

# Wait until the session's backend is active running a query that matches
# $like (SQL LIKE pattern); returns its pid, or '' if it ended / never did.
sub bg_wait_active
{
	my ($s, $like) = @_;
	my $deadline = time() + hang_timeout();
	while (time() < $deadline)
	{
		bg_pump($s);
		my $pid = $s->{node}->safe_psql('postgres',
			"SELECT coalesce(min(pid)::text, '') FROM pg_stat_activity "
			  . "WHERE application_name = '$s->{app}' AND state = 'active' "
			  . "AND query LIKE '$like'");
		return $pid if $pid ne '';
		return '' unless $s->{h}->pumpable;
		usleep(20_000);
	}
	return '';
}

# Wait until $cond->() is true (polling), bounded by the hang timeout.
sub wait_progress
{
	my ($cond, $timeout) = @_;
	my $deadline = time() + ($timeout // hang_timeout());
	while (time() < $deadline)
	{
		return 1 if $cond->();
		usleep(50_000);
	}
	return 0;
}

# Wait (bounded by the hang timeout) until every queue slot is free and none
# is abandoned; true if that happened.
sub queue_settled
{
	my ($node) = @_;
	return wait_progress(
		sub {
			$node->safe_psql('postgres',
				'SELECT free_slots = queue_slots AND abandoned_slots = 0 FROM pg_uring_status') eq 't';
		});
}

# Server log from byte offset $off.
sub slurp_log_from
{
	my ($node, $off) = @_;
	return PostgreSQL::Test::Utils::slurp_file($node->logfile, $off // 0);
}

# Number of lines of $text matching $re.
sub count_matches
{
	my ($text, $re) = @_;
	return scalar(grep { $_ =~ $re } split /\n/, $text);
}

# Fault injection (the testing build, make PGU_TESTING=1; see src/faults.h).
# Creates the SQL wrappers of the C entry points in $db; returns 1 if the
# installed library has them, 0 (with the reason in $@-free form) if not.
sub fault_setup
{
	my ($node, $db) = @_;
	$db //= 'postgres';
	my ($rc, $out, $err) = $node->psql(
		$db, q{
CREATE OR REPLACE FUNCTION pg_uring_fault_set(point text, action text,
    skip int8 DEFAULT 0, count int8 DEFAULT -1, arg int4 DEFAULT 0)
  RETURNS void AS 'pg_uring', 'pg_uring_fault_set' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION pg_uring_fault_reset()
  RETURNS void AS 'pg_uring', 'pg_uring_fault_reset' LANGUAGE C STRICT;
CREATE OR REPLACE FUNCTION pg_uring_fault_hits(point text)
  RETURNS int8 AS 'pg_uring', 'pg_uring_fault_hits' LANGUAGE C STRICT;
});
	return $rc == 0 ? 1 : 0;
}

# Arm a fault point: fault_set($node, 'read', 'eio', skip => 0, count => 1, arg => 0)
sub fault_set
{
	my ($node, $point, $action, %o) = @_;
	my $db = $o{db} // 'postgres';
	$node->safe_psql($db,
		sprintf("SELECT pg_uring_fault_set('%s', '%s', %d, %d, %d)",
			$point, $action, $o{skip} // 0, $o{count} // -1, $o{arg} // 0));
	return;
}

# Disarm every fault point.
sub fault_reset
{
	my ($node, $db) = @_;
	$node->safe_psql($db // 'postgres', 'SELECT pg_uring_fault_reset()');
	return;
}

# How often a point fired since it was armed.
sub fault_hits
{
	my ($node, $point, $db) = @_;
	return $node->safe_psql($db // 'postgres', "SELECT pg_uring_fault_hits('$point')");
}

# Like fault_setup, but without the testing build stop $node and skip the
# whole file, with the reason.
sub fault_setup_or_skip
{
	my ($node, $db) = @_;
	return if fault_setup($node, $db);
	$node->stop;
	plan skip_all => 'needs the testing build of pg_uring (make PGU_TESTING=1)';
}

# pg_checksum_page() (src/include/storage/checksum_impl.h) in Perl: the
# checksum core would store for an 8 kB page image at block number $blkno.
my @CHECKSUM_BASE = (
	0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3,
	0x217E7CD2, 0x83E13D2C, 0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA,
	0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB, 0xE58F764B, 0x187636BC,
	0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
	0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE,
	0xF2CA9FD3, 0x959BD756);

sub pg_checksum_page
{
	my ($page, $blkno) = @_;
	my $p = $page;
	substr($p, 8, 2) = "\0\0";
	my @w = unpack('V*', $p);
	my @sums = @CHECKSUM_BASE;
	my $n = scalar(@w) / 32;
	for my $i (0 .. $n + 1)
	{
		for my $j (0 .. 31)
		{
			my $v = $i < $n ? $w[ $i * 32 + $j ] : 0;
			my $t = $sums[$j] ^ $v;
			$sums[$j] = (($t * 16777619) & 0xFFFFFFFF) ^ ($t >> 17);
		}
	}
	my $r = 0;
	$r ^= $_ for @sums;
	$r ^= $blkno;
	return ($r % 65535) + 1;
}

# Hang samples ("pid ..." lines): the last report of each stuck backend.
sub dedup_hangs
{
	my %last;
	my @order;
	for my $h (@_)
	{
		my ($pid) = $h =~ /^(\S+)/;
		push @order, $pid unless exists $last{$pid};
		$last{$pid} = $h;
	}
	return map { $last{$_} } @order;
}


# Break the checksum of every page of a segment file (pd_checksum, bytes 8-9)
# and leave the data as it is.  The server must be stopped.
sub break_checksums
{
	my ($path) = @_;
	open(my $fh, '+<:raw', $path) or die "open $path: $!";
	my $size = -s $fh;
	for (my $off = 0; $off < $size; $off += 8192)
	{
		seek($fh, $off + 8, 0) or die;
		read($fh, my $ck, 2) == 2 or die;
		seek($fh, $off + 8, 0) or die;
		print $fh pack('v', unpack('v', $ck) ^ 0x5a5a);
	}
	close($fh) or die "close $path: $!";
	return;
}

# How many pages the checksum WARNINGs in a client's stderr cover: core
# warns once per page (15, 17; a single-block read on 18), or once per
# multi-block read on 18 ("ignoring N checksum failures among blocks A..B").
sub warned_pages
{
	my ($err) = @_;
	my $n = () = $err =~ /WARNING:  (?:page verification failed|ignoring checksum failure in block)/g;
	$n += $_ for $err =~ /WARNING:  (?:ignoring )?(\d+) (?:invalid pages|checksum failures) among blocks/g;
	return $n;
}


# Start pgbench -n against $node for $secs seconds, with its output
# collected and a hang timeout:
#   clients => 2, threads => clients,
#   args    => [ more arguments, e.g. '-f', $script ],
#   db      => 'postgres'
# Returns a handle for pgbench_wait.
sub pgbench_bg
{
	my ($node, $secs, %o) = @_;
	my $c = $o{clients} // 2;
	my $p = { out => '', err => '', secs => $secs };
	$p->{h} = IPC::Run::start(
		[
			'pgbench', '-n', '-c', $c, '-j', $o{threads} // $c, '-T', $secs,
			@{ $o{args} // [] },
			'-h', $node->host, '-p', $node->port, $o{db} // 'postgres'
		],
		'>', \$p->{out}, '2>', \$p->{err},
		IPC::Run::timeout($secs + hang_timeout()));
	return $p;
}

# Wait for a pgbench_bg run.  Three checks: it finished (no hang), it
# exited 0, it committed transactions.  Returns how many it committed; its
# output is in $p->{out}.
sub pgbench_wait
{
	my ($p) = @_;
	my $ok = eval { $p->{h}->finish; 1 };
	ok($ok, 'pgbench finished') or diag("pgbench: $@ $p->{err}");
	is($p->{h}->full_result(0), 0, 'pgbench exited 0') or diag($p->{err});
	my ($committed) = $p->{out} =~ /number of transactions actually processed: (\d+)/;
	ok(defined $committed && $committed > 0, 'pgbench committed transactions')
	  or diag($p->{out});
	note("pgbench committed " . ($committed // 0) . " transactions in $p->{secs} s");
	return $committed // 0;
}


# At the end of a hang test: the sessions matching $filter (SQL on
# pg_stat_activity, e.g. "application_name LIKE 'slots%'") that still are
# not idle are stuck.  Terminates them, and returns one line for each (pid,
# application, state, wait event, query), or '' when none was stuck.
sub end_stuck_sessions
{
	my ($node, $filter) = @_;
	my $stuck = $node->safe_psql('postgres',
		"SELECT string_agg(pid || ' ' || application_name || ' ' || state || ' ' || "
		  . "coalesce(wait_event_type || ':' || wait_event, '-') || ': ' || left(query, 60), E'\\n') "
		  . "FROM pg_stat_activity WHERE ($filter) AND state <> 'idle'");
	$node->safe_psql('postgres',
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE $filter")
	  if $stuck ne '';
	return $stuck;
}


# The ledger oracle of a pgbench run whose every transaction added 1 to
# acct.v of one row (acct.id = ledger.aid) and appended a ledger row.  Four
# checks: one ledger row per committed transaction, sum(acct.v) equals
# them, every row's v equals its ledger count, and acct has $nrows rows.
sub acct_ledger_check
{
	my ($node, $committed, $nrows, $tag) = @_;
	$tag = defined $tag ? "$tag: " : '';
	is($node->safe_psql('postgres', 'SELECT count(*) FROM ledger'),
		$committed, "${tag}ledger has one row per committed pgbench transaction");
	is($node->safe_psql('postgres', 'SELECT sum(v) FROM acct'),
		$committed, "${tag}sum(acct.v) equals the number of committed updates");
	is( $node->safe_psql(
			'postgres', q{
SELECT count(*) FROM acct a
  FULL JOIN (SELECT aid, count(*) AS n FROM ledger GROUP BY aid) l ON l.aid = a.id
 WHERE a.id IS NULL OR coalesce(l.n, 0) <> a.v}),
		'0',
		"${tag}every row's v equals its ledger count");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM acct'),
		$nrows, "${tag}no row lost or duplicated");
	return;
}

1;
