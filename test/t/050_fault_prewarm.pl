# Copyright (c) pg_uring authors
#
# Issue 8 (fault injection, the testing build): failed and short reads
# during buffer-mode prewarm, on the ring path and on the sync path,
# uncontended and contended.
#   - read EIO: pg_uring_prewarm(..., 'buffer') fails with an ERROR that names
#     the segment file and, in its detail, the block range of the failed
#     I/O; SQLSTATE 58030 (class 58, errcode_for_file_access); the prewarm
#     stops there: every block before it is installed, none from it on;
#   - read EOF (a short read that fails): "could not read block N in file
#     ...: read only K of 8192 bytes", SQLSTATE XX001, K consistent with
#     the half-transferred I/O the detail names;
#   - read "short" (a short transfer that is retried): buffer-mode prewarm
#     succeeds with the full count and the content oracle is unchanged
#     (its read-ahead is fadvise(WILLNEED) where available: nothing to be
#     short); read-mode prewarm succeeds with short_ios rising by one per
#     injected short transfer, and pg_uring_verify (whose checksums see the
#     staged data itself) finds every page intact at the first read;
#   - contended: while a slowed-down prewarm that hits an injected failure
#     runs, two other sessions read the same table in a loop (count/sum by
#     seq scan, count by index scan, md5 oracle); every result equals the
#     oracle; afterwards the installed pages give the oracle, pg_buffercache
#     shows no pinned, dirty, duplicated or out-of-range buffer, every
#     resident page's checksum is right, and bt_index_check on the pkey is
#     clean.
# These run on the read-ahead path (pg_uring.zero_copy = off) on every
# major: the failures of 17's zero-copy reads are 065_zero_copy.pl's.
# After every failure: no pinned buffer, every queue slot free again, and a
# plain prewarm works.

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use PgUringTest;

# shared_buffers 64MB: the 24MB table fits, but seq scans of it use a
# bulk-read ring (table > shared_buffers / 4), so concurrent readers read
# the blocks through core while the prewarm installs them.
my $node = pgu_node('fault_prewarm', conf => "shared_buffers = 64MB\n");
fault_setup_or_skip($node);
my ($ring_up, $why) = ring_check($node);
my @methods = $ring_up ? ('io_uring', 'sync') : ('sync');
note("ring down ($why): only the sync path") unless $ring_up;

$node->safe_psql('postgres',
	'CREATE EXTENSION amcheck; CREATE EXTENSION pageinspect;');
my $nblocks = make_table($node, 'postgres', 't', 24);
$node->safe_psql('postgres', 'CHECKPOINT');
my $md5 = table_md5($node, 'postgres', 't');
my $nrows = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
my $cntsum = $node->safe_psql('postgres', "SELECT count(*) || ':' || sum(id) FROM t");
my $relpath = $node->safe_psql('postgres', "SELECT pg_relation_filepath('t')");
my $nslots = $node->safe_psql('postgres', 'SELECT queue_slots FROM pg_uring_status');
note("t: $nblocks blocks, $nrows rows, file $relpath, $nslots slots");

# The contended readers: loop until the prewarm session ($app) is gone
# (at least $min iterations); each iteration's results, one line each, and
# "overlap:N" (iterations that began while the prewarm was running).
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION reader_loop(app text, min_iter int, n int) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
  i int := 0;
  overlap int := 0;
  r text;
  a int;
BEGIN
  LOOP
    -- backend status is otherwise fetched once per transaction
    PERFORM pg_stat_clear_snapshot();
    IF EXISTS (SELECT 1 FROM pg_stat_activity
                WHERE application_name = app AND state = 'active') THEN
      overlap := overlap + 1;
    ELSIF i >= min_iter THEN
      EXIT;
    END IF;
    EXIT WHEN i >= 2000;
    i := i + 1;
    PERFORM set_config('enable_indexscan', 'off', true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    PERFORM set_config('enable_indexonlyscan', 'off', true);
    PERFORM set_config('enable_seqscan', 'on', true);
    SELECT 'seq:' || count(*) || ':' || sum(id) INTO r FROM t;
    RETURN NEXT r;
    SELECT 'md5:' || count(*) || ':' || md5(string_agg(id || ':' || v || ':' || md5(pad), ',' ORDER BY id))
      INTO r FROM t;
    RETURN NEXT r;
    -- a small index range (a whole-table index scan would install every
    -- block without a bulk-read ring, leaving the prewarm nothing to read)
    PERFORM set_config('enable_seqscan', 'off', true);
    PERFORM set_config('enable_indexscan', 'on', true);
    a := 1 + (random() * (n - 200))::int;
    SELECT 'idx:' || a || ':' || count(*) || ':' || sum(id) || ':' || sum(v) INTO r
      FROM t WHERE id BETWEEN a AND a + 199;
    RETURN NEXT r;
  END LOOP;
  RETURN NEXT 'overlap:' || overlap;
END $$;
});

# psql with VERBOSITY verbose (the SQLSTATE is in the message); (rc, out, err)
sub vpsql
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out, stderr => \$err);
	return ($rc, $out // '', $err // '');
}

sub evict
{
	$node->safe_psql('postgres', "SELECT pg_uring_evict('t')");
	is(rel_buffers($node, 'postgres', 't'), '0', "$_[0] t is not in shared buffers before the prewarm");
}

sub stats_sum
{
	my ($d, $col) = @_;
	return $d->{io_uring}{$col} + $d->{sync}{$col};
}

# After a failure: nothing pinned, every slot back, the stream is gone.
sub after_failure
{
	my ($tag) = @_;
	is(pinned_buffers($node, 'postgres'), '0', "$tag no buffer left pinned");
	ok(queue_settled($node),
		"$tag every queue slot is free again, none abandoned");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM pg_uring_progress'), '0',
		"$tag no pg_uring operation is left in pg_uring_progress");
}

sub parse_range
{
	my ($err) = @_;
	return $err =~ /DETAIL:  The failed I\/O covered blocks (\d+) to (\d+)\./ ? ($1, $2) : ();
}

for my $method (@methods)
{
	# the read-ahead path on every major (17's zero-copy reads: 065)
	my $set = "SET pg_uring.io_method = $method; SET pg_uring.zero_copy = off;";

	# --- EIO -----------------------------------------------------------
	for my $combine (16, 1)
	{
		my $tag = "[$method/eio/combine=$combine]";
		evict($tag);
		my $skip = $combine == 16 ? 5 : 40;
		fault_set($node, 'read', 'eio', skip => $skip, count => 1);
		my $s0 = stats_snapshot($node);
		my ($rc, $out, $err) = vpsql(
			"$set SET pg_uring.combine_limit = $combine; SELECT pg_uring_prewarm('t', 'buffer');");
		my $d = stats_delta($s0, stats_snapshot($node));
		is(fault_hits($node, 'read'), '1', "$tag the fault fired once");
		fault_reset($node);
		isnt($rc, 0, "$tag buffer-mode prewarm fails");
		note("$tag $err");
		like($err, qr/ERROR:  \w{5}: could not read block \d+ in file "\Q$relpath\E": Input\/output error/,
			"$tag the ERROR names the segment file and the errno");
		my ($code) = $err =~ /ERROR:  (\w{5}):/;
		is(substr($code // '', 0, 2), '58', "$tag SQLSTATE class 58 (file access)");
		is($code, '58030', "$tag SQLSTATE 58030 (io_error)");
		my ($blk) = $err =~ /could not read block (\d+)/;
		my ($x, $y) = parse_range($err);
		ok(defined $y, "$tag the detail names the block range of the failed I/O");
		$x //= -1;
		$y //= -1;
		$blk //= -2;
		ok($x <= $y && $y - $x + 1 <= $combine, "$tag the range $x..$y is one I/O (at most $combine blocks)");
		is($blk, $x, "$tag the whole I/O failed: the first failed block is the range's first");
		is($x % $combine, 0, "$tag the range is one of the prewarm's aligned I/Os");
		is(rel_buffers($node, 'postgres', 't'), $blk,
			"$tag blocks before the failure are installed, none from it on");
		cmp_ok(stats_sum($d, 'errors'), '>=', 1, "$tag pg_uring_stats counts the error");
		check_served_by($tag, $method, $d);
		after_failure($tag);
		is(table_md5($node, 'postgres', 't'), $md5, "$tag content oracle unchanged");
		is($node->safe_psql('postgres', "$set SELECT pg_uring_prewarm('t', 'buffer')"),
			$nblocks, "$tag a prewarm without the fault returns every block");
	}

	# --- EOF: a short read that fails --------------------------------------
	for my $combine (16, 1)
	{
		my $tag = "[$method/eof/combine=$combine]";
		evict($tag);
		fault_set($node, 'read', 'eof', skip => 7, count => 1);
		my $s0 = stats_snapshot($node);
		my ($rc, $out, $err) = vpsql(
			"$set SET pg_uring.combine_limit = $combine; SELECT pg_uring_prewarm('t', 'buffer');");
		my $d = stats_delta($s0, stats_snapshot($node));
		is(fault_hits($node, 'read'), '1', "$tag the fault fired once");
		fault_reset($node);
		isnt($rc, 0, "$tag buffer-mode prewarm fails");
		note("$tag $err");
		like($err,
			qr/ERROR:  XX001: could not read block \d+ in file "\Q$relpath\E": read only \d+ of 8192 bytes/,
			"$tag ERROR 'read only K of 8192 bytes' naming the file, SQLSTATE XX001");
		my ($blk, $k) = $err =~ /could not read block (\d+) in file "[^"]*": read only (\d+) of/;
		my ($x, $y) = parse_range($err);
		ok(defined $y && defined $blk, "$tag the detail names the block range");
		$x //= -1;
		$y //= -1;
		$blk //= -2;
		$k //= -1;
		ok($x <= $blk && $blk <= $y, "$tag block $blk lies in the failed I/O $x..$y");
		my $half = int(($y - $x + 1) * 8192 / 2 / 512) * 512;
		is(($blk - $x) * 8192 + $k, $half,
			"$tag the I/O transferred half its bytes: block $blk has $k of them");
		is(rel_buffers($node, 'postgres', 't'), $blk,
			"$tag the fully read blocks are installed, none from the short one on");
		check_served_by($tag, $method, $d);
		after_failure($tag);
		is(table_md5($node, 'postgres', 't'), $md5, "$tag content oracle unchanged");
	}

	# --- short transfers that are retried ----------------------------------
	# Buffer mode reads ahead with fadvise(WILLNEED) where the ring (or the
	# sync path) has it: nothing is transferred, so nothing can be short,
	# and the fault must not hurt; where the ring lacks fadvise it reads
	# with readv, and the short transfers are retried.  Read mode and verify
	# always read with readv/preadv: there each injected short transfer is
	# one retry, and verify checksums the staged data itself.
	{
		my $tag = "[$method/short]";
		my $path = $method eq 'io_uring' ? 'io_uring' : 'sync';
		evict($tag);
		fault_set($node, 'read', 'short', count => -1);
		my $s0 = stats_snapshot($node);
		my ($rc, $out, $err) = vpsql("$set SELECT pg_uring_prewarm('t', 'buffer');");
		my $d = stats_delta($s0, stats_snapshot($node));
		my $hits = fault_hits($node, 'read');
		is($rc, 0, "$tag buffer-mode prewarm succeeds despite the fault") or diag($err);
		is($out, $nblocks, "$tag it returns the full block count");
		cmp_ok($hits, '>=', $nblocks / 16, "$tag the fault fired on every read-ahead I/O ($hits)");
		is(stats_sum($d, 'errors'), 0, "$tag no error counted");
		note("$tag buffer mode: short_ios +$d->{$path}{short_ios} for $hits faults");
		check_served_by($tag, $method, $d);
		is(rel_buffers($node, 'postgres', 't'), $nblocks, "$tag every block is installed");
		is(table_md5($node, 'postgres', 't'), $md5, "$tag content oracle unchanged");

		# read mode: every I/O is a readv, every one is short once
		$s0 = stats_snapshot($node);
		($rc, $out, $err) = vpsql("$set SELECT pg_uring_prewarm('t', 'read');");
		$d = stats_delta($s0, stats_snapshot($node));
		my $hits2 = fault_hits($node, 'read') - $hits;
		is($out, $nblocks, "$tag read-mode prewarm returns the full count") or diag($err);
		cmp_ok($hits2, '>=', $nblocks / 16, "$tag ... every I/O got a short transfer ($hits2)");
		cmp_ok($d->{$path}{short_ios}, '>=', $hits2,
			"$tag ... pg_uring_stats short_ios rose by one per injected short transfer ($d->{$path}{short_ios})");
		is(stats_sum($d, 'errors'), 0, "$tag ... no error counted");
		check_served_by("$tag [read]", $method, $d);

		# verify: a retry that put the remainder of a short transfer in the
		# wrong place would make pages fail their checks; verify re-reads
		# such a page before it reports it, and counts it as skipped if the
		# re-read is fine, so that count must not move either
		my $vsql = 'SELECT sum(pages_verified) || \':\' || sum(verify_skipped_pages) FROM pg_uring_stats';
		my ($pv0, $sk0) = split /:/, $node->safe_psql('postgres', $vsql);
		$s0 = stats_snapshot($node);
		my $h0 = fault_hits($node, 'read');
		($rc, $out, $err) = vpsql("$set SELECT count(*) FROM pg_uring_verify('t');");
		$d = stats_delta($s0, stats_snapshot($node));
		my $hits3 = fault_hits($node, 'read') - $h0;
		is($out, '0', "$tag pg_uring_verify reports no bad page") or diag($err);
		my ($pv1, $sk1) = split /:/, $node->safe_psql('postgres', $vsql);
		cmp_ok($pv1 - $pv0, '>=', $nblocks, "$tag ... having verified every block");
		cmp_ok($hits3, '>', 0, "$tag ... while its reads were short ($hits3)");
		cmp_ok($d->{$path}{short_ios}, '>=', $hits3, "$tag ... and retried ($d->{$path}{short_ios})");
		is($sk1 - $sk0, 0, "$tag every staged page passed at once (no confirming re-read)");
		fault_reset($node);
		after_failure($tag);
	}

	# --- contended -----------------------------------------------------------
	for my $action ('eio', 'eof')
	{
		my $tag = "[$method/contended/$action]";
		my $set = "SET pg_uring.io_method = $method; SET pg_uring.zero_copy = off;";
		evict($tag);
		my $app = "pw_${method}_$action";
		# Slow installs, and a read failure the readers cannot take away
		# (their scans soon cache the whole table, and the prewarm does not
		# read blocks that are cached by then):
		#   ring: 15 ms per install; the read that fails is the 13th I/O
		#     (blocks 192..207), in the first window of read-ahead, which is
		#     issued as soon as the prewarm starts; it surfaces ~3 s later,
		#     once the installs reach it;
		#   sync: the reads of a batch happen right before its installs, so
		#     the failure must be in the first batch: one block per I/O, the
		#     26th fails, 100 ms per install: it surfaces ~2.5 s later.
		my ($delay, $skip, $combine, $min_delays) =
		  $method eq 'io_uring' ? (15, 12, 16, 50) : (100, 25, 1, 25);
		$set .= " SET pg_uring.combine_limit = $combine;";
		fault_set($node, 'install_delay', 'delay', arg => $delay);
		fault_set($node, 'read', $action, skip => $skip, count => 1);
		my $s0 = stats_snapshot($node);
		my $pw = bg_start($node, 'postgres', "$set SELECT pg_uring_prewarm('t', 'buffer')", app => $app);
		like(bg_wait_active($pw, '%pg_uring_prewarm%'), qr/^\d+$/, "$tag the prewarm is running");
		my @readers = map {
			bg_start($node, 'postgres', "SELECT * FROM reader_loop('$app', 3, $nrows)", app => "reader_$_")
		} (1, 2);
		my $r = bg_finish($pw);
		my $d = stats_delta($s0, stats_snapshot($node));
		my $hits = fault_hits($node, 'read');
		my $delays = fault_hits($node, 'install_delay');
		fault_reset($node);
		ok(!$r->{timed_out}, "$tag the prewarm ended");
		isnt($r->{rc}, 0, "$tag the prewarm failed");
		my $want = $action eq 'eio'
		  ? qr/could not read block \d+ in file "\Q$relpath\E": Input\/output error/
		  : qr/could not read block \d+ in file "\Q$relpath\E": read only \d+ of 8192 bytes/;
		like($r->{err}, $want, "$tag ... with the read error naming the file");
		is($hits, '1', "$tag the read fault fired once");
		cmp_ok($delays, '>=', $min_delays, "$tag the installs were slowed down ($delays)");
		check_served_by($tag, $method, $d);
		for my $i (0, 1)
		{
			my $rr = bg_finish($readers[$i]);
			ok(!$rr->{timed_out} && $rr->{rc} == 0, "$tag reader $i finished without error")
			  or diag("rc=$rr->{rc} err=$rr->{err}");
			my @lines = split /\n/, $rr->{out};
			my ($ov) = map { /^overlap:(\d+)$/ ? $1 : () } @lines;
			cmp_ok($ov // 0, '>', 0, "$tag reader $i read while the prewarm ran ($ov iterations)");
			my @res = grep { !/^overlap:/ } @lines;
			my @bad = grep {
				!(     $_ eq "seq:$cntsum"
					|| $_ eq "md5:$md5"
					|| (/^idx:(\d+):(\d+):(\d+):(\d+)$/
						&& $2 == 200 && $3 == 200 * $1 + 19900 && $4 == 0))
			} @res;
			cmp_ok(scalar(@res), '>=', 9, "$tag reader $i produced " . scalar(@res) . " results");
			is(scalar(@bad), 0, "$tag reader $i: every concurrent result equals the oracle")
			  or diag(join("\n", @bad[ 0 .. ($#bad > 5 ? 5 : $#bad) ]));
		}
		after_failure($tag);

		# what is in shared buffers now (the prewarm's and the readers')
		my $resident = rel_buffers($node, 'postgres', 't');
		cmp_ok($resident, '>', 0, "$tag some blocks of t are in shared buffers ($resident)");
		is( $node->safe_psql(
				'postgres', qq{
SELECT count(*) FILTER (WHERE isdirty) || ':' || count(*) FILTER (WHERE pinning_backends > 0)
       || ':' || count(*) FILTER (WHERE relblocknumber >= $nblocks)
       || ':' || (count(*) - count(DISTINCT relblocknumber))
       || ':' || count(*) FILTER (WHERE usagecount IS NULL OR usagecount < 1)
  FROM pg_buffercache
 WHERE relfilenode = pg_relation_filenode('t')
   AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND relforknumber = 0}),
			'0:0:0:0:0',
			"$tag pg_buffercache: no dirty, pinned, out-of-range, duplicated or unused buffer of t");
		is( $node->safe_psql(
				'postgres', q{
SELECT count(*) FROM pg_buffercache b,
       LATERAL (SELECT get_raw_page('t', 'main', b.relblocknumber::int) AS p) r
 WHERE b.relfilenode = pg_relation_filenode('t')
   AND b.reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND b.relforknumber = 0
   AND (page_header(r.p)).checksum <> page_checksum(r.p, b.relblocknumber::int)}),
			'0', "$tag every resident page of t has the right checksum");
		is(rel_buffers($node, 'postgres', 't'), $resident, "$tag (that check installed nothing new)");
		is(table_md5($node, 'postgres', 't'), $md5,
			"$tag a plain SELECT afterwards returns the real pages (oracle)");
		my ($rc, $out, $err) = vpsql("SELECT bt_index_check('t_pkey', true);");
		is($rc, 0, "$tag bt_index_check(t_pkey, heapallindexed) is clean") or diag($err);
		is($node->safe_psql('postgres', "$set SELECT pg_uring_prewarm('t', 'buffer')"),
			$nblocks, "$tag a prewarm without faults returns every block");
	}
}

# the whole table, from disk, once more
$node->safe_psql('postgres', "SELECT pg_uring_evict('t')");
is(table_md5($node, 'postgres', 't'), $md5, 'table intact, read back from disk');
unlike(slurp_log_from($node, 0), qr/PANIC|TRAP|terminated by signal/, 'no PANIC or crash in the log');
$node->stop;
done_testing();
