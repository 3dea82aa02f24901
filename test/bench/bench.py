#!/usr/bin/python3
"""pg_uring cold-cache page I/O benchmark (make bench / make bench-quick;
test/bench/run.sh sets the machine up as root and runs this with its
arguments).  Run it with Debian's /usr/bin/python3 and python3-psycopg2.

Builds a throwaway cluster (initdb --data-checksums) in a scratch directory,
loads a pgbench_accounts-like table (1 GB by default) with its primary key,
draws sorted random block lists of the table at 1%, 10% and 40% of its
blocks, and then, for every case, makes the relation cold (stop the other
cluster, restart this one, sync, drop_caches when root, and
posix_fadvise(DONTNEED) on each segment file of that cluster) and times ONE
call in a fresh backend (psycopg2, autocommit: the statement alone, with
/proc of the backend and the ring worker and pg_uring_stats read right
before and after it).  Cases alternate A B C A B C over the rounds:

  pg_prewarm/buffer, pg_prewarm/read   contrib pg_prewarm
  sync/buffer                          pg_uring, io_method = sync
  ring/buffer qd16 c16                 pg_uring, io_uring, the defaults
  ring/buffer qd16 c16 solo            the defaults without prewarm helpers
                                       (parallel installs off; --no-solo: none)
  ring/buffer qd64 c32                 (--ring-alt; --qds x --combines add more)
  readahead/buffer qd16 c16            17, --zero-copy: zero-copy off
  ring+dio/buffer qdQ cC               17, --zero-copy: zero-copy with
                                       O_DIRECT, per ring configuration
  claims/buffer qdQ cC                 the previous release (--baseline-rev,
                                       its claim path) with its defaults
  ring/read qd16 c16                   pg_uring read mode (seq only)
  flush-*, verify-*, pg_checksums      seq only (verify when it exists)

on the workloads seq (whole table), index (its primary key) and scat1,
scat10, scat40 (the block lists: one pg_uring_prewarm_blocks call vs. one
pg_prewarm(rel,mode,'main',b,b) per block).  Each case runs with 4 kB pages
and, with --huge both, huge pages (alternating).  fio (io_uring, --readonly,
no server running) on the same segment files gives the limit: 128k
sequential O_DIRECT qd32 (and buffered), 8k random O_DIRECT qd32 and qd128.
As root it also runs round(s) at 128 kB read-ahead and restores the setting
(and vm.nr_hugepages) afterwards, also on failure.

Baseline (--baseline-rev REV, e.g. 9bb2c65): copies the PostgreSQL install
that --pg-config describes (bindir's parent, sharedir, includedir-server's
parents; same relative layout) into SCRATCH/pgbase/usr/..., builds `git
archive REV` of this repository (--baseline-repo) against that copy and
installs it there; then copies the data directory after loading, starts it
on port --baseline-port with the copy's binaries, recreates the extension
(old SQL for the old library) and runs the claims cases on it.  Only one
cluster runs at a time.

PostgreSQL 18 anchor (--pg18, root): test/debroot.sh ensure 18
builds/mounts the Debian sid root; a PostgreSQL 18 cluster is created in
ROOT/var/tmp/pg_uring_bench18.XXXXXX (same disk; initdb --data-checksums,
the same settings and shared_buffers, no pg_uring, port --pg18-port) and
loaded with the same table (same generator and SQL; both block counts are
reported).  Its cases "pg18 pg_prewarm/buffer io_method=M" (M = worker,
io_uring, sync; io_workers etc. at their defaults) call contrib pg_prewarm
exactly as the pg_prewarm/buffer case does on 15 (lists: one
pg_prewarm(rel,'buffer','main',b,b) per block), alternate in the same rounds
and cells, and are made cold the same way (restart with the io_method, sync,
drop_caches, DONTNEED on its files).  Only the cluster being measured runs,
so only it holds (huge-page) shared memory.  The report gains "×pg18 worker"
and "cluster CPU s/GB" columns, a table of the default ring case against
every PostgreSQL 18 io_method (issue 14's targets) and a third plot panel.

Cluster CPU (every case, recorded in the csv; a column in results.md with
--pg18): before and after the timed call, the postmaster's
utime+stime+cutime+cstime from /proc (cutime/cstime: children it has
reaped, e.g. helper workers that exited during the call) plus
utime+stime+cutime+cstime of every live descendant; the delta is the
cluster's CPU (io workers, helpers, the ring worker and the backend).

Reported per (read-ahead, page size) cell and workload: median [min-max]
MB/s (MB/s = 10^6 bytes/s, not PostgreSQL's MB of 2^20 bytes; every table
says so), ratio to pg_prewarm and to the baseline, system calls per page
(backend + ring worker /proc/PID/io syscr+syscw, plus io_uring_enter calls
from pg_uring_stats), CPU s/GB (backend + worker, all threads; GB = 2^30
bytes), ratio to the fio limit; then issue 8's targets for the defaults
(PASS/MISS).  Every method must return the right block count (and leave that
many blocks in shared buffers in buffer mode), or the run exits non-zero.

Output: --out (test/bench/out by default, git-ignored): results.md,
results.csv, results.png (and results.json with --json).

Root: the servers run as user postgres (runuser).  Non-root: the server runs
as you; no drop_caches, read-ahead or huge-page changes (posix_fadvise
only).  The extension must be installed (make && make install)."""
import argparse
import os
import re
import shutil
import signal
import sys
import time

sys.dont_write_bytecode = True       # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (BLCKSZ, INDEX, IS_ROOT, TABLE, BenchFailure, S, check_workloads,  # noqa: E402
                    fail, failures, log, read_file, warn)
from cluster import (Cluster, build_baseline, build_dataset, check_install, cleanup_scratch,  # noqa: E402
                     data_device, get_ra, make_scratch, need_psycopg2, pg_config, prepare_pg18_root,
                     resolve_pg_config, set_ra, setup_baseline, setup_pg18)
from cases import build_cases, ring_configs, round_order, run_case, run_fio, run_pg_checksums  # noqa: E402
from report import machine_meta, report_only, write_results  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, '..', '..'))

EPILOG = """examples:
  make bench-quick                                  the smoke test (--quick)
  make bench BENCH_ARGS="--huge both --workloads seq,scat10"
  bash test/bench/run.sh --baseline-rev 9bb2c65 --huge both     issue 8's full matrix (root, ~30 min)
  bash test/bench/run.sh --pg18 --huge both         with the PostgreSQL 18 anchor (issue 14)
  /usr/bin/python3 test/bench/bench.py --report out/results.json --out out2
                                                    results.md and the plot again from a --json run

Lists (--workloads, --qds, ...) take commas or blanks.  The BENCH_*
environment variables of earlier versions are not read: a run refuses to
start while one is set (but BENCH_ARGS and BENCH_OUT, which make turns into
arguments: make bench BENCH_ARGS="..." BENCH_OUT=DIR)."""

# the environment variables of the earlier run.sh/bench.py and their options
OLD_ENV = {
    'BENCH_QUICK': '--quick', 'BENCH_SIZE_MB': '--size-mb', 'BENCH_ROUNDS': '--rounds',
    'BENCH_WORKLOADS': '--workloads', 'BENCH_DEFAULT_QD': '--default-qd',
    'BENCH_DEFAULT_COMBINE': '--default-combine', 'BENCH_RING_ALT': '--ring-alt', 'BENCH_QDS': '--qds',
    'BENCH_COMBINES': '--combines', 'BENCH_SOLO': '--solo / --no-solo', 'BENCH_ZERO_COPY': '--zero-copy',
    'BENCH_CASES': '--cases', 'BENCH_COLD': '--cold', 'BENCH_HUGE': '--huge', 'BENCH_RA128': '--ra128 / --no-ra128',
    'BENCH_RA_ROUNDS': '--ra-rounds', 'BENCH_FIO': '--fio / --no-fio', 'BENCH_FIO_RUNTIME': '--fio-runtime',
    'BENCH_FLUSH_MB': '--flush-mb', 'BENCH_SHARED_BUFFERS_MB': '--shared-buffers-mb',
    'BENCH_QUEUE_SIZE': '--queue-size', 'BENCH_RING_ENTRIES': '--ring-entries', 'BENCH_SEED': '--seed',
    'BENCH_PORT': '--port', 'BENCH_OUT': '--out', 'BENCH_TMPDIR': '--tmpdir', 'BENCH_KEEP': '--keep',
    'BENCH_BASELINE_REV': '--baseline-rev', 'BENCH_BASELINE_REPO': '--baseline-repo',
    'BENCH_BASELINE_PORT': '--baseline-port', 'BENCH_BASELINE_CASES': '--baseline-cases',
    'BENCH_BASELINE_FIRST': '--baseline-first', 'BENCH_BASE_BINDIR': '--baseline-bindir',
    'BENCH_PG18': '--pg18', 'BENCH_PG18_IO_METHODS': '--pg18-io-methods',
    'BENCH_PG18_WORKLOADS': '--pg18-workloads', 'BENCH_PG18_PORT': '--pg18-port',
    'BENCH_MAIN_IO_METHODS': '--main-io-methods',
    'BENCH_SCRATCH': '(none: bench.py makes it in --tmpdir)', 'BENCH_BINDIR': '--pg-config',
    'BENCH_PG18_ROOT': '(none: --pg18 finds the root)', 'BENCH_PG18_SCRATCH': '(none: --pg18 makes it)',
}
MAKE_ENV = ('BENCH_OUT', 'BENCH_ARGS')      # make's variables (make exports them to run.sh)


# ---------------------------------------------------------------- options --
class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """the description as written; "(default: X)" after every option that
    has a fixed default (those that depend on --quick say so themselves)"""

    def _get_help_string(self, action):
        if action.default in (None, False, ''):
            return action.help
        return super()._get_help_string(action)


def words(text):
    """'seq,scat10' or 'seq scat10' -> ['seq', 'scat10']"""
    return [w for w in re.split(r'[,\s]+', text) if w]


def ints(text):
    try:
        return [int(w) for w in words(text)]
    except ValueError:
        raise argparse.ArgumentTypeError('not a list of integers: %r' % text)


def ring_alt(text):
    if text.strip().lower() in ('', 'none', 'off'):
        return []
    v = ints(text)
    if len(v) != 2:
        raise argparse.ArgumentTypeError('QD,COMBINE (two integers) or none: %r' % text)
    return v


def regex(text):
    try:
        re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError('not a regular expression: %r (%s)' % (text, e))
    return text


def parser():
    p = argparse.ArgumentParser(prog='bench.py', description=__doc__, epilog=EPILOG,
                                formatter_class=HelpFormatter)
    g = p.add_argument_group('cluster and paths')
    g.add_argument('--pg-config', default=os.environ.get('PG_CONFIG') or '/usr/lib/postgresql/15/bin/pg_config',
                   metavar='PATH',
                   help='pg_config of the PostgreSQL (with pg_uring and contrib installed) to measure; '
                        'pg_config from PATH if this one is not executable (default: $PG_CONFIG if set, '
                        'else /usr/lib/postgresql/15/bin/pg_config; here: %(default)s)')
    g.add_argument('--port', type=int, default=55440, help='port of the main cluster')
    g.add_argument('--tmpdir', default='/var/tmp', metavar='DIR',
                   help='where the scratch directory (clusters, logs, the baseline build) is made')
    g.add_argument('--keep', action='store_true', help='keep the scratch directory (clusters) afterwards')
    g.add_argument('--size-mb', type=int, metavar='MB',
                   help='table size, MB of 2^20 bytes (default: 1024; --quick: 200)')
    g.add_argument('--flush-mb', type=int, metavar='MB',
                   help='size of the table the flush case dirties (one row per page, HOT) and writes back '
                        'with pg_uring_flush, MB of 2^20 bytes (default: 512; --quick: 64)')
    g.add_argument('--shared-buffers-mb', type=int, metavar='MB',
                   help='shared_buffers, MB of 2^20 bytes (default: table + index + 1024)')
    g.add_argument('--queue-size', type=int, default=128, metavar='N',
                   help='pg_uring.queue_size (restart GUC; also pg_uring.backend_queue_limit)')
    g.add_argument('--ring-entries', type=int, default=512, metavar='N', help='pg_uring.ring_entries (restart GUC)')
    g.add_argument('--cold', choices=('restart', 'evict'), default='restart',
                   help='how a relation is made cold: a server restart, or pg_uring_evict() if it exists')
    g.add_argument('--seed', type=int, default=20240615, metavar='N', help='seed of the random block lists')

    g = p.add_argument_group('workloads')
    g.add_argument('--workloads', type=words, default='seq,index,scat1,scat10,scat40', metavar='LIST',
                   help='seq (whole table), index (its primary key), scatN (N%% of the table\'s blocks, '
                        'sorted random list)')

    g = p.add_argument_group('cases')
    g.add_argument('--cases', type=regex, default='', metavar='REGEX',
                   help='run only the cases whose names match (re.search; e.g. "buffer", '
                        '"^(pg_prewarm/buffer|ring/buffer qd16 c16)$"); also pg_checksums (default: every case)')
    g.add_argument('--default-qd', type=int, default=16, metavar='N',
                   help='queue depth of the default ring case (ring/buffer qdN cM)')
    g.add_argument('--default-combine', type=int, default=16, metavar='M',
                   help='combine limit of the default ring case')
    g.add_argument('--ring-alt', type=ring_alt, default='64,32', metavar='QD,COMBINE',
                   help='the second ring/buffer configuration; "none": no second one')
    g.add_argument('--qds', type=ints, default='', metavar='LIST',
                   help='extra ring/buffer grid: these queue depths x --combines (every pair; default: none)')
    g.add_argument('--combines', type=ints, default='', metavar='LIST',
                   help='extra ring/buffer grid: these combine limits x --qds (default: none)')
    g.add_argument('--solo', action=argparse.BooleanOptionalAction, default=True,
                   help='the default ring case also without prewarm helpers (pg_uring.max_prewarm_workers = 0)')
    g.add_argument('--zero-copy', action='store_true',
                   help='PostgreSQL 17: also the read-ahead path (zero-copy off) and zero-copy with O_DIRECT '
                        'in every ring configuration')
    g.add_argument('--main-io-methods', type=words, default='', metavar='LIST',
                   help='with --pg-config of PostgreSQL 18: the server\'s io_method for every case (the first), '
                        'plus a contrib pg_prewarm case for each further one, e.g. "worker,io_uring" '
                        '(default: none, the server\'s default)')

    g = p.add_argument_group('rounds')
    g.add_argument('--quick', action='store_true',
                   help='smoke test: 200 MB, 1 round, fio 2 s, no 128 kB round, 64 MB flush table '
                        '(each unless given), no baseline unless --baseline-rev (< 3 min)')
    g.add_argument('--rounds', type=int, metavar='N',
                   help='rounds at the disk\'s read-ahead, each runs every case once (default: 3; --quick: 1)')
    g.add_argument('--fio', action=argparse.BooleanOptionalAction, default=True,
                   help='measure the limit with fio on the same files (when fio is installed)')
    g.add_argument('--fio-runtime', type=int, metavar='S', help='seconds per fio run (default: 8; --quick: 2)')

    g = p.add_argument_group('read-ahead and huge pages')
    g.add_argument('--huge', choices=('off', 'on', 'both'), default='off',
                   type=lambda v: {'0': 'off', '1': 'on'}.get(v, v),
                   help='huge_pages of the clusters: off, on (root sets vm.nr_hugepages and restores it), '
                        'both (alternating per case)')
    g.add_argument('--ra128', action=argparse.BooleanOptionalAction, default=None,
                   help='root: extra round(s) at 128 kB read-ahead, restored afterwards '
                        '(default: on; --quick: off)')
    g.add_argument('--ra-rounds', type=int, default=2, metavar='N', help='how many rounds at 128 kB read-ahead')

    g = p.add_argument_group('PostgreSQL 18 anchor (root)')
    g.add_argument('--pg18', action='store_true',
                   help='a PostgreSQL 18 cluster in the Debian sid root of test/debroot.sh, its contrib '
                        'pg_prewarm under each io_method, next to the other cases')
    g.add_argument('--pg18-io-methods', type=words, default='worker,io_uring,sync', metavar='LIST',
                   help='its cases, one per io_method')
    g.add_argument('--pg18-workloads', type=words, default='', metavar='LIST',
                   help='its workloads (default: every one of --workloads)')
    g.add_argument('--pg18-port', type=int, metavar='PORT', help='its port (default: --port + 2)')

    g = p.add_argument_group('baseline (an earlier revision)')
    g.add_argument('--baseline-rev', default='', metavar='REV',
                   help='git revision of the previous release: built against a private copy of the same '
                        'PostgreSQL, run on a copy of the data directory (its "claims" case; default: none)')
    g.add_argument('--baseline-repo', default=REPO, metavar='DIR', help='the repository --baseline-rev is from')
    g.add_argument('--baseline-port', type=int, metavar='PORT', help='its port (default: --port + 1)')
    g.add_argument('--baseline-cases', type=regex, default='', metavar='REGEX',
                   help='these pg_uring cases also run on the baseline build, as "before <case>", right '
                        'after each (a before/after run of one change; no claims case)')
    g.add_argument('--baseline-first', choices=('no', 'yes', 'alt'), default='no',
                   type=lambda v: {'0': 'no', '1': 'yes'}.get(v, v),
                   help='yes: each "before" case runs before its twin; alt: before it in every other round')
    g.add_argument('--baseline-bindir', default='', metavar='DIR',
                   help='bindir of a baseline install built already, instead of building --baseline-rev '
                        '(which then only names it)')

    g = p.add_argument_group('output')
    g.add_argument('--out', default=os.path.join(HERE, 'out'), metavar='DIR',
                   help='results.md, results.csv, results.png (make bench-quick BENCH_OUT=DIR passes it)')
    g.add_argument('--json', action='store_true',
                   help='also results.json in --out (every run, the summary and the metadata; --report '
                        'reads it)')
    g.add_argument('--report', metavar='JSON',
                   help='no benchmark: results.md and the plot again, in --out, from a results.json')
    g.add_argument('--state-dir', metavar='DIR',
                   help='run.sh passes it: where the scratch directories are noted, so that run.sh can '
                        'restore read-ahead and huge pages and stop the servers if this driver is killed')
    return p


def settings(a):
    """S from the options: the defaults that depend on --quick or --port"""
    for k, v in vars(a).items():
        setattr(S, k, v)
    # the defaults of strings that go through type= are converted by argparse
    S.size_mb = a.size_mb if a.size_mb is not None else (200 if a.quick else 1024)
    S.rounds = a.rounds if a.rounds is not None else (1 if a.quick else 3)
    S.ra128 = a.ra128 if a.ra128 is not None else not a.quick
    S.fio_runtime = a.fio_runtime if a.fio_runtime is not None else (2 if a.quick else 8)
    S.flush_mb = a.flush_mb if a.flush_mb is not None else (64 if a.quick else 512)
    S.baseline_port = a.baseline_port if a.baseline_port is not None else a.port + 1
    S.pg18_port = a.pg18_port if a.pg18_port is not None else a.port + 2
    S.default_ring = 'ring/buffer qd%d c%d' % (a.default_qd, a.default_combine)
    S.workloads = check_workloads(a.workloads)
    S.out = os.path.abspath(a.out)
    S.tmpdir = os.path.abspath(a.tmpdir)
    S.scratch = S.bindir = None
    S.pg18_root = S.pg18_scratch = S.pg18_inner = None
    for k in ('rounds', 'size_mb', 'ra_rounds', 'fio_runtime', 'queue_size', 'ring_entries', 'default_qd',
              'default_combine'):
        if getattr(S, k) < (0 if k == 'ra_rounds' else 1):
            raise BenchFailure('--%s must be positive' % k.replace('_', '-'))


def check_old_env():
    old = sorted(k for k in os.environ if k.startswith('BENCH_') and k not in MAKE_ENV)
    # make exports BENCH_OUT=DIR and passes it as --out DIR: anything else is a leftover
    if os.environ.get('BENCH_OUT') and os.path.abspath(os.environ['BENCH_OUT']) != S.out:
        old.append('BENCH_OUT')
    if old:
        raise BenchFailure('the benchmark takes options now, not environment variables: unset %s and use %s '
                           '(bench.py --help; with make: make bench BENCH_ARGS="...")'
                           % (', '.join(old), ', '.join('%s for %s' % (OLD_ENV.get(k, '?'), k) for k in old)))


# -------------------------------------------------------------- the run --
def run_bench():
    """the benchmark proper, in the scratch directory: returns the exit status"""
    t_start = time.time()
    os.makedirs(S.out, exist_ok=True)
    huge_modes = {'off': ['off'], 'on': ['on'], 'both': ['off', 'on']}[S.huge]
    if S.baseline_bindir and not os.path.exists(os.path.join(S.baseline_bindir, 'postgres')):
        raise BenchFailure('--baseline-bindir %s has no postgres binary' % S.baseline_bindir)
    cl = Cluster('main', S.bindir, S.pgdata, S.port, S.server_log)
    clusters = [cl]
    base, base_info = None, None
    pg18, pg18_info = None, None
    dev, ra_path = None, None
    ra_orig = None
    hp_orig = None
    results = []
    meta = {}
    try:
        log('initdb --data-checksums in %s (port %d)%s' % (S.pgdata, S.port, '' if IS_ROOT else ' [not root: '
            'no drop_caches, no read-ahead change, no huge pages]'))
        cl.initdb()
        cl.start()
        ds = build_dataset(cl)
        dev, ra_path = data_device()
        ra_orig = get_ra(ra_path)
        log('data directory on /dev/%s, read-ahead %s kB (%s)' % (dev, ra_orig, ra_path))
        # size shared buffers to hold table + index, plus 1 GB
        need_mb = (ds.nblocks + ds.index_nblocks) * BLCKSZ // (1 << 20)
        cl.shared_buffers_mb = S.shared_buffers_mb if S.shared_buffers_mb is not None else need_mb + 1024
        cl.stop()
        cl.write_case_conf('off')
        if S.baseline_bindir:
            base, base_info = setup_baseline(cl, ds)
            clusters.append(base)
        if S.pg18:
            pg18, pg18_info = setup_pg18(cl, ds)
            clusters.append(pg18)
        if 'on' in huge_modes:
            hp_orig = int(read_file('/proc/sys/vm/nr_hugepages'))
            for x in clusters:
                x.hp_need = x.huge_pages_needed()
            cl.ensure_huge_pages()
            log('huge pages: %s of 2 MB needed for shared memory'
                % ', '.join('%d (%s)' % (x.hp_need, x.name) for x in clusters))
        cl.write_case_conf(huge_modes[0])
        if base:
            base.write_case_conf(huge_modes[0])
        if pg18:
            pg18.write_case_conf(huge_modes[0])
        cl.start()
        cases = build_cases(cl.has_verify, base_info, pg18 is not None)
        by_name = {x.name: x for x in clusters}
        log('pg_uring_evict: %s; pg_uring_verify: %s; cold state by %s'
            % ('yes' if cl.has_evict else 'no', 'yes' if cl.has_verify else 'no',
               'pg_uring_evict' if S.cold == 'evict' and cl.has_evict else 'server restart'))
        if S.cold == 'evict' and not cl.has_evict:
            warn('--cold evict but pg_uring_evict() does not exist; restarting instead')
        if S.fio and not shutil.which('fio'):
            warn('fio not installed; no limit measured')
        # one-off sanity check (not timed): duplicates are counted once
        with cl.connect() as c:
            some = ds.blocks[next(iter(ds.blocks))] if ds.blocks else list(range(min(50, ds.nblocks)))
            dup = some[:50] + some[:50] + [some[0]]
            got = int(c.scalar("SELECT pg_uring_prewarm_blocks('%s', '{%s}'::int8[])"
                               % (TABLE, ','.join(map(str, dup)))))
            if got != min(50, len(some)):
                fail('pg_uring_prewarm_blocks with duplicates returned %d, expected %d'
                     % (got, min(50, len(some))))

        ra_rounds = 0
        if S.ra128 and IS_ROOT and ra_path and ra_orig is not None and ra_orig != 128:
            ra_rounds = S.ra_rounds
        elif S.ra128 and not IS_ROOT:
            log('not root: no round at 128 kB read-ahead')
        plan = [(ra_orig, S.rounds)] + ([(128, ra_rounds)] if ra_rounds else [])
        per_round = sum(len([w for w in c.workloads if w in S.workloads]) for c in cases) * len(huge_modes)
        ntotal = sum(n for _, n in plan) * per_round
        log('%d cases (%s); %d cold runs per round, %d in all, plus fio and pg_checksums'
            % (len(cases), ', '.join(c.name for c in cases), per_round, ntotal))
        if S.cold == 'evict' and cl.has_evict:
            # evicting keeps shared memory mapped: touch it all once first, so
            # that the first case does not pay every first-touch page fault
            with cl.connect() as c:
                c.query("SELECT pg_prewarm('%s'), pg_prewarm('%s')" % (TABLE, INDEX))
        rnd_no = 0
        for ra_kb, nrounds in plan:
            if ra_kb != ra_orig:
                with open(os.path.join(S.scratch, 'ra_restore'), 'w') as f:
                    f.write('%s %d\n' % (ra_path, ra_orig))
                if not set_ra(ra_path, dev, ra_kb):
                    warn('could not set read-ahead to %d kB; skipped those rounds' % ra_kb)
                    continue
                log('read-ahead of %s set to %d kB' % (dev, ra_kb))
            for _ in range(nrounds):
                rnd_no += 1
                t_round = time.time()
                log('---- round %d (read-ahead %s kB) ----' % (rnd_no, ra_kb))
                for w in S.workloads:
                    for case in round_order(cases, rnd_no):
                        if w not in case.workloads:
                            continue
                        for h in huge_modes:
                            x = by_name[case.cluster]
                            results.append(run_case(x, clusters, ds, case, w, rnd_no,
                                                    {'ra_kb': ra_kb, 'huge': h}))
                if cl.has_verify and 'seq' in S.workloads and (not S.cases or re.search(S.cases, 'pg_checksums')):
                    results.append(run_pg_checksums(cl, clusters, ds, rnd_no, {'ra_kb': ra_kb}))
                if S.fio and shutil.which('fio'):
                    results += run_fio(cl, clusters, ds, rnd_no, {'ra_kb': ra_kb})
                log('round %d took %.0f s' % (rnd_no, time.time() - t_round))
            if ra_kb != ra_orig:
                set_ra(ra_path, dev, ra_orig)
                os.unlink(os.path.join(S.scratch, 'ra_restore'))
                log('read-ahead of %s restored to %d kB' % (dev, ra_orig))

        # every method must have run, on every workload, with the right counts
        for case in cases:
            for w in S.workloads:
                if w in case.workloads and not any(r['case'] == case.name and r['workload'] == w and r['ok']
                                                   for r in results):
                    fail('%s on %s never ran successfully' % (case.name, w))

        meta = machine_meta(ds, cl, dev, ra_orig)
        meta.update(cold='server restart' if not (S.cold == 'evict' and cl.has_evict) else 'pg_uring_evict()',
                    huge_pages={'off': 'off', 'on': 'on', 'both': 'off and on, alternating'}[S.huge],
                    plot_huge=huge_modes[0], ra128_rounds=ra_rounds,
                    elapsed_s=time.time() - t_start, has_evict=cl.has_evict, has_verify=cl.has_verify,
                    default_ring=S.default_ring, ring_configs=ring_configs(), workloads=S.workloads,
                    baseline=base_info)
        if pg18_info:
            meta['pg18'] = pg18_info
    finally:
        if ra_path and os.path.exists(os.path.join(S.scratch, 'ra_restore')):
            set_ra(ra_path, dev, ra_orig)
            os.unlink(os.path.join(S.scratch, 'ra_restore'))
            log('read-ahead of %s restored to %s kB' % (dev, ra_orig))
        for x in clusters:
            try:
                x.stop()
            except Exception as e:          # noqa: BLE001 -- keep restoring
                log('stopping the %s cluster: %s' % (x.name, e))
        if hp_orig is not None and os.path.exists(os.path.join(S.scratch, 'hugepages_restore')):
            with open('/proc/sys/vm/nr_hugepages', 'w') as f:
                f.write('%d\n' % hp_orig)
            os.unlink(os.path.join(S.scratch, 'hugepages_restore'))
            log('vm.nr_hugepages restored to %d' % hp_orig)

    meta['elapsed_s'] = time.time() - t_start
    write_results(results, meta)
    if failures:
        print('\nBENCHMARK FAILED: %d problem(s):' % len(failures), file=sys.stderr)
        for f_ in failures:
            print('  - ' + f_, file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    try:
        args = parser().parse_args(argv)
        settings(args)
        if args.report:
            return report_only(args.report)
        check_old_env()
        need_psycopg2()
        pgc = resolve_pg_config(S.pg_config)
        S.bindir = pg_config(pgc, 'bindir')
        check_install(pgc)
    except BenchFailure as e:
        print('bench: %s' % e, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    signal.signal(signal.SIGHUP, lambda *a: sys.exit(129))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    rc = 2
    try:
        S.scratch = make_scratch()
        S.pgdata = os.path.join(S.scratch, 'data')
        S.server_log = os.path.join(S.scratch, 'server.log')
        # the baseline ("previous release") cluster
        S.pgdata_base = os.path.join(S.scratch, 'data_base')
        S.server_log_base = os.path.join(S.scratch, 'server_base.log')
        if S.baseline_rev and not S.baseline_bindir:
            S.baseline_bindir, S.baseline_rev = build_baseline(S.baseline_rev, S.baseline_repo, pgc, S.scratch)
        if S.pg18:
            S.pg18_root, S.pg18_scratch, S.pg18_inner = prepare_pg18_root()
        rc = run_bench()
        return rc
    except BenchFailure as e:
        print('bench: %s' % e, file=sys.stderr)
        return 2
    finally:
        if S.scratch:
            cleanup_scratch(rc)


if __name__ == '__main__':
    sys.exit(main())
