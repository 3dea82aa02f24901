
# Copyright (c) pg_uring authors
#
# io_uring refused at startup (docs/design.md section 8): Docker
# 25+ / containerd 2 seccomp profiles and kernel.io_uring_disabled make
# io_uring_setup fail with EPERM.  PostgreSQL 18 refuses to start there; we
# must start, say so once in the log with a hint, show why in pg_uring_status,
# and serve every request synchronously (counted as fallback).
#
# The seccomp helper (test/seccomp_deny_uring, $PG_URING_SECCOMP) installs a
# filter with PR_SET_NO_NEW_PRIVS that makes io_uring_setup/enter/register
# fail with EPERM, then execs pg_ctl; the postmaster and all its children
# inherit it.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use PgUringTest;

my $seccomp = $ENV{PG_URING_SECCOMP};
plan skip_all => 'seccomp helper not built (PG_URING_SECCOMP unset or not executable)'
  unless defined $seccomp && -x $seccomp;

# Does this kernel let us install a seccomp filter at all?  (Sanity of the
# test harness, not of pg_uring.)  io_uring_setup is syscall 425 on every
# architecture that uses the generic syscall table (x86_64, aarch64).
my $probe = q{my $p = "\0" x 120; my $r = syscall(425, 4, $p); print $r < 0 ? ($!+0) : "ok"};
my ($out, $err) = ('', '');
IPC::Run::run([ $seccomp, $^X, '-e', $probe ], '>', \$out, '2>', \$err);
plan skip_all => "seccomp filters cannot be installed here: $err$out"
  if $out eq '' && $err =~ /seccomp|prctl|no_new_privs/i;

is($out, '1', 'the helper makes io_uring_setup fail with EPERM')
  or diag("probe stdout: $out, stderr: $err");

my $node = pgu_node('fallback', conf => "shared_buffers = 128MB\n");

# Data to prewarm, made while the server runs normally.
my $nblocks = make_table($node, 'postgres', 't', 40);
my $md5 = table_md5($node, 'postgres', 't');
$node->safe_psql('postgres', 'CREATE INDEX t_v ON t (v)');
my $prewarm_buffer = $node->safe_psql('postgres', "SELECT pg_prewarm('t', 'buffer')");
my $prewarm_read = $node->safe_psql('postgres', "SELECT pg_prewarm('t', 'read')");
my $prewarm_range = $node->safe_psql('postgres', "SELECT pg_prewarm('t', 'buffer', 'main', 100, 1099)");
my $prewarm_idx = $node->safe_psql('postgres', "SELECT pg_prewarm('t_pkey', 'buffer')");
$node->stop;

# Restart with io_uring refused.
my $log_off = -s $node->logfile;
my $rc = system($seccomp, 'pg_ctl', '-D', $node->data_dir, '-l', $node->logfile,
	'-o', '--cluster-name=fallback', '-w', 'start');
is($rc, 0, 'server starts with io_uring refused by seccomp');
if ($rc != 0)
{
	diag(slurp_log_from($node, $log_off));
	$node->_update_pid(-1);
	done_testing();
	exit 0;
}
$node->_update_pid(1);

# The postmaster really runs under the filter.
my $status_file = PostgreSQL::Test::Utils::slurp_file("/proc/$node->{_pid}/status");
like($status_file, qr/^Seccomp:\s*2/m, 'the postmaster runs under the seccomp filter');

my $st = ring_wait_settled($node);
is($st->{ring_up}, 'f', 'pg_uring_status: ring_up = false');
like($st->{reason}, qr/EPERM|Operation not permitted/i,
	'pg_uring_status: reason names the error (EPERM)');
is($st->{effective_method}, 'sync', 'pg_uring_status: effective_method = sync');
is($st->{io_method}, 'io_uring', 'pg_uring_status: configured io_method is still io_uring');
isnt($st->{ring_state}, '', 'pg_uring_status: ring_state is set');
note("ring_state=$st->{ring_state} reason=$st->{reason}");

# Exactly one LOG line about it, with a HINT naming the fix.
my $log = slurp_log_from($node, $log_off);
my @lines = split /\n/, $log;
my @idx = grep {
	$lines[$_] =~ /LOG:.*io_uring/i
	  && $lines[$_] !~ /(statement|STATEMENT):/
	  && $lines[$_] =~ /unavailable|not available|disabled|refused|fall(ing)? ?back|cannot|could not|failed/i
} 0 .. $#lines;
is(scalar(@idx), 1, 'exactly one LOG line says io_uring is unavailable')
  or diag($log);
if (@idx)
{
	my $i = $idx[0];
	my $last = $i + 4 > $#lines ? $#lines : $i + 4;
	my $tail = join("\n", @lines[ $i + 1 .. $last ]);
	my $msg = $lines[$i] . "\n" . join("\n", grep { /DETAIL:/ } @lines[ $i + 1 .. $last ]);
	like($msg, qr/EPERM|Operation not permitted/i, 'the LOG message (or its DETAIL) names the error');
	like($tail, qr/HINT:.*(io_uring_disabled|seccomp)/i,
		'a HINT naming kernel.io_uring_disabled or the seccomp profile follows');
}

# Prewarm still works, through the synchronous path, counted as fallback.
my $before = stats_snapshot($node);
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t')"),
	$prewarm_buffer, 'buffer prewarm returns what pg_prewarm returns');
is(rel_buffers($node, 'postgres', 't'), $nblocks,
	'every block of t is in shared buffers after the fallback prewarm');
is(table_md5($node, 'postgres', 't'), $md5, 'table content intact after fallback prewarm');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'read')"),
	$prewarm_read, 'read prewarm returns what pg_prewarm returns');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t', 'buffer', 'main', 100, 1099)"),
	$prewarm_range, 'range prewarm returns what pg_prewarm returns');
is($node->safe_psql('postgres', "SELECT pg_uring_prewarm('t_pkey')"),
	$prewarm_idx, 'index prewarm returns what pg_prewarm returns');
is( $node->safe_psql(
		'postgres', "SELECT pg_uring_prewarm_blocks('t', ARRAY[0, 5, 7, 1000, 1001]::int8[], 'read')"),
	'5', 'pg_uring_prewarm_blocks works in fallback');
my $after = stats_snapshot($node);
my $d = stats_delta($before, $after);
cmp_ok($d->{io_uring}{fallback_ios} + $d->{sync}{fallback_ios},
	'>', 0, 'fallback_ios counted in pg_uring_stats');
is($d->{io_uring}{enter_calls}, 0, 'no io_uring_enter calls while the ring is down');
is($d->{io_uring}{sqes_submitted}, 0, 'no SQEs submitted while the ring is down');
note(explain($d));

# Still exactly one LOG line after the requests (not one per request).
$log = slurp_log_from($node, $log_off);
my $n = grep {
	/LOG:.*io_uring/i
	  && !/(statement|STATEMENT):/
	  && /unavailable|not available|disabled|refused|fall(ing)? ?back|cannot|could not|failed/i
} split /\n/, $log;
is($n, 1, 'still one LOG line after serving requests in fallback');

# The autoprewarm restore (its workers inherit the filter from the
# postmaster) is served synchronously too: t back in shared buffers.
$node->safe_psql('postgres', "SELECT pg_uring_prewarm('t')");
$node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_dump_now()');
$node->safe_psql('postgres', "SELECT pg_uring_evict('t')");
cmp_ok(rel_buffers($node, 'postgres', 't'), '<', $nblocks, 't was evicted');
$before = stats_snapshot($node);
cmp_ok($node->safe_psql('postgres', 'SELECT pg_uring_autoprewarm_restore()'),
	'>=', $nblocks, 'with io_uring refused, the autoprewarm restore restores the dump');
is(rel_buffers($node, 'postgres', 't'), $nblocks, '... and t is in shared buffers again');
$d = stats_delta($before, stats_snapshot($node));
cmp_ok($d->{io_uring}{fallback_ios} + $d->{sync}{fallback_ios},
	'>', 0, '... through the synchronous fallback, counted');
is($d->{io_uring}{sqes_submitted}, 0, '... with no SQE submitted');
is(table_md5($node, 'postgres', 't'), $md5, 'table content intact after the restore');

# SET pg_uring.io_method = io_uring in a session does not bring it back nor
# break anything.
is( $node->safe_psql(
		'postgres', "SET pg_uring.io_method = 'io_uring'; SELECT pg_uring_prewarm('t', 'read')"),
	$prewarm_read, 'read prewarm with io_method = io_uring still served');

$node->stop;
done_testing();
