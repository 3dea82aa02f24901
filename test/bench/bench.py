#!/usr/bin/env python3
"""pg_uring cold-cache benchmark driver (called by test/bench/run.sh).

See run.sh for the environment variables.  Stdlib only.

Per case: make the relation cold (stop every other cluster, restart this
one, or pg_uring_evict when BENCH_COLD=evict and it exists; then sync,
drop_caches when root, and posix_fadvise(DONTNEED) on every segment file of
that cluster), open a fresh backend, set the GUCs, snapshot /proc of the
backend and the ring worker plus pg_uring_stats, run ONE statement, snapshot
again.  Cases alternate A B C A B C over rounds.

With BENCH_BASE_BINDIR (run.sh sets it when BENCH_BASELINE_REV is given) a
second cluster runs the previous release: a copy of the data directory, on
its own port, started with the baseline build's binaries (a private copy of
the same PostgreSQL with the old pg_uring installed).  Its cases ("claims")
alternate with the others; only one cluster runs at a time.

With BENCH_PG18=1 (run.sh sets BENCH_PG18_ROOT and BENCH_PG18_SCRATCH) a
PostgreSQL 18 cluster in the Debian sid root (test/debroot.sh) gets the same
table and runs contrib pg_prewarm under each io_method ("pg18 ..." cases),
alternating with the others in the same rounds and cells.

Every case also records the CPU of the whole cluster (cluster_snapshot:
postmaster utime+stime+cutime+cstime plus every live descendant's).
"""
import copy
import csv
import ctypes
import ctypes.util
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True       # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pgwire  # noqa: E402

BLCKSZ = 8192
MB = 1e6                     # throughput is reported in MB/s = 10^6 bytes/s
CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGESIZE = os.sysconf('SC_PAGE_SIZE')


def env(name, default):
    v = os.environ.get(name)
    return default if v is None or v == '' else v


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


class BenchFailure(Exception):
    pass


# --------------------------------------------------------------- settings --
QUICK = env('BENCH_QUICK', '0') == '1'
IS_ROOT = os.geteuid() == 0
SCRATCH = env('BENCH_SCRATCH', '/nonexistent')
BINDIR = env('BENCH_BINDIR', '/usr/lib/postgresql/15/bin')
OUT = env('BENCH_OUT', os.path.join(os.path.dirname(os.path.abspath(__file__)), 'out'))
PORT = int(env('BENCH_PORT', '55440'))
SIZE_MB = int(env('BENCH_SIZE_MB', '200' if QUICK else '1024'))
ROUNDS = int(env('BENCH_ROUNDS', '1' if QUICK else '3'))
DEF_QD = int(env('BENCH_DEFAULT_QD', '16'))
DEF_COMBINE = int(env('BENCH_DEFAULT_COMBINE', '16'))
# the second ring configuration, next to the defaults ("" = none)
ALT_RING = [int(x) for x in env('BENCH_RING_ALT', '64 32').split()]
# a case with the defaults but no prewarm helpers (pg_uring.max_prewarm_workers = 0)
SOLO = env('BENCH_SOLO', '1') == '1'
# optional extra grid of ring/buffer cases: every (qd, combine) pair
QDS = [int(x) for x in env('BENCH_QDS', '').split()]
COMBINES = [int(x) for x in env('BENCH_COMBINES', '').split()]
VERIFY_QD, VERIFY_COMBINE = 64, 32
WORKLOADS = env('BENCH_WORKLOADS', 'seq index scat1 scat10 scat40').split()
COLD = env('BENCH_COLD', 'restart')          # restart | evict
HUGE = env('BENCH_HUGE', '0')                 # 0 | 1 | both
RA_ROUND = env('BENCH_RA128', '0' if QUICK else '1') == '1'   # extra round(s) at 128 kB read-ahead (root)
RA_ROUNDS = int(env('BENCH_RA_ROUNDS', '2'))
FIO = env('BENCH_FIO', '1') == '1'
FIO_RUNTIME = int(env('BENCH_FIO_RUNTIME', '2' if QUICK else '8'))
QUEUE_SIZE = int(env('BENCH_QUEUE_SIZE', '128'))
RING_ENTRIES = int(env('BENCH_RING_ENTRIES', '512'))
SEED = int(env('BENCH_SEED', '20240615'))
ZERO_COPY = env('BENCH_ZERO_COPY', '0') == '1'   # 17: zero-copy vs read-ahead cases
CASE_FILTER = env('BENCH_CASES', '')          # regex on case names
PG_USER = 'postgres' if IS_ROOT else None
AS_PG = ['runuser', '-u', 'postgres', '--'] if IS_ROOT else []
PGDATA = os.path.join(SCRATCH, 'data')
SERVER_LOG = os.path.join(SCRATCH, 'server.log')
# the baseline ("previous release") cluster
BASE_BINDIR = env('BENCH_BASE_BINDIR', '')
BASE_REV = env('BENCH_BASELINE_REV', '')
BASE_PORT = int(env('BENCH_BASELINE_PORT', str(PORT + 1)))
# regex: pg_uring cases that also run on the baseline build as "before <case>"
# (a before/after run of one change; the claims case is then not run)
BASE_CASES = env('BENCH_BASELINE_CASES', '')
BASE_FIRST = env('BENCH_BASELINE_FIRST', '0') == '1'    # "before" runs first in each pair
BASE_ALT = env('BENCH_BASELINE_FIRST', '0') == 'alt'    # ... in every other round
PGDATA_BASE = os.path.join(SCRATCH, 'data_base')
SERVER_LOG_BASE = os.path.join(SCRATCH, 'server_base.log')
# the PostgreSQL 18 anchor (BENCH_PG18=1): a cluster in the Debian sid root
# (test/debroot.sh), run with contrib pg_prewarm under each io_method
PG18 = env('BENCH_PG18', '0') == '1'
PG18_ROOT = env('BENCH_PG18_ROOT', '')            # the root, as the host sees it (run.sh)
PG18_INNER = env('BENCH_PG18_SCRATCH', '')        # its scratch directory, as seen inside the root
PG18_PORT = int(env('BENCH_PG18_PORT', str(PORT + 2)))
PG18_METHODS = env('BENCH_PG18_IO_METHODS', 'worker io_uring sync').split()
# pg_uring built against PostgreSQL 18 itself (PG_CONFIG): the server's
# io_method for every case (the first), and a contrib pg_prewarm case per
# further one ("pg_prewarm/buffer io_method=M")
MAIN_IO_METHODS = env('BENCH_MAIN_IO_METHODS', '').split()
PG18_WORKLOADS_ENV = env('BENCH_PG18_WORKLOADS', '')    # default: every workload
PG18_BINDIR = '/usr/lib/postgresql/18/bin'        # inside the root
PG18_WORKER_CASE = 'pg18 pg_prewarm/buffer io_method=worker'
DB = 'bench'
TABLE = 'bench_table'
INDEX = 'bench_table_pkey'
FLUSH_TABLE = 'bench_flush'
FLUSH_MB = int(env('BENCH_FLUSH_MB', '64' if QUICK else '512'))
FLUSH_ROWS_PER_PAGE = 30        # char(84) rows at fillfactor 50
DEFAULT_RING = 'ring/buffer qd%d c%d' % (DEF_QD, DEF_COMBINE)
NOISE = 0.95                    # "never slower, beyond 5% noise"
HUGE_ANY = 'any'                # huge_pages of results that do not depend on it (fio, pg_checksums)

failures = []      # hard failures: wrong counts, errors, methods not run
warnings = []      # soft findings worth reporting


def fail(msg):
    failures.append(msg)
    log('FAIL: ' + msg)


def warn(msg):
    warnings.append(msg)
    log('WARNING: ' + msg)


def scat_pct(w):
    """'scat10' -> 10.0 (percent of the table's blocks); None for seq/index"""
    m = re.fullmatch(r'scat(\d+(?:\.\d+)?)', w)
    return float(m.group(1)) if m else None


def is_scat(w):
    return scat_pct(w) is not None


def check_workloads(wls):
    out = []
    for w in wls:
        if w == 'scattered':
            log("BENCH_WORKLOADS: 'scattered' is now scat1 / scat10 / scat40; using scat10")
            w = 'scat10'
        p = scat_pct(w)
        if w not in ('seq', 'index') and (p is None or not 0 < p <= 100):
            raise BenchFailure("BENCH_WORKLOADS: unknown workload %r (seq, index, scatN with N in (0, 100])" % w)
        if w not in out:
            out.append(w)
    return out


def wl_order(w):
    """report order: seq, index, then the lists by density"""
    return (0, 0) if w == 'seq' else (1, 0) if w == 'index' else (2, scat_pct(w) or 0) if is_scat(w) else (3, 0)


# ----------------------------------------------------------- OS utilities --
def run(cmd, check=True, capture=False, **kw):
    if capture:
        return subprocess.run(cmd, check=check, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, **kw)
    return subprocess.run(cmd, check=check, **kw)


def read_file(path):
    with open(path) as f:
        return f.read()


def proc_io(pid):
    d = {}
    for line in read_file('/proc/%d/io' % pid).splitlines():
        k, v = line.split(':')
        d[k.strip()] = int(v)
    return d


def proc_stat(pid, task=None):
    path = '/proc/%d/stat' % pid if task is None else '/proc/%d/task/%d/stat' % (pid, task)
    s = read_file(path)
    comm = s[s.index('(') + 1:s.rindex(')')]
    f = s[s.rindex(')') + 2:].split()
    return {'comm': comm, 'minflt': int(f[7]), 'majflt': int(f[9]),
            'utime': int(f[11]), 'stime': int(f[12])}


def proc_snapshot(pid):
    """syscalls, CPU ticks, faults of a process (all its threads, live and
    exited), plus the names and CPU of its current threads."""
    if not pid:
        return None
    try:
        io = proc_io(pid)
        st = proc_stat(pid)
        tasks = {}
        for t in os.listdir('/proc/%d/task' % pid):
            try:
                ts = proc_stat(pid, int(t))
                tasks[int(t)] = (ts['comm'], ts['utime'] + ts['stime'])
            except (OSError, ValueError):
                pass
        return {'syscr': io['syscr'], 'syscw': io['syscw'],
                'read_bytes': io.get('read_bytes', 0),
                'utime': st['utime'], 'stime': st['stime'],
                'minflt': st['minflt'], 'majflt': st['majflt'], 'tasks': tasks}
    except (OSError, KeyError, ValueError) as e:
        warn('cannot read /proc/%d: %s' % (pid, e))
        return None


def _stat_times(pid):
    """(ppid, utime+stime, cutime+cstime) of a process, in ticks; None if gone"""
    try:
        s = read_file('/proc/%d/stat' % pid)
    except OSError:
        return None
    f = s[s.rindex(')') + 2:].split()
    return int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def _proc_title(pid):
    try:
        t = read_file('/proc/%d/cmdline' % pid).replace('\0', ' ').strip()
    except OSError:
        return '?'
    return t


def cluster_snapshot(pmpid):
    """CPU of a whole cluster: the postmaster's utime+stime+cutime+cstime
    (cutime/cstime hold every child it has reaped, e.g. exited helper
    workers) plus utime+stime+cutime+cstime of every live descendant (all
    threads: /proc/PID/stat of a process sums its threads, live and exited).
    The postmaster is read before and after the descendants; if a child was
    reaped in between (its time moved into cutime, so it could be counted
    twice or not at all), the scan is repeated.  Returns {'ticks', 'pids':
    {pid: (title, ticks)}} or None."""
    if not pmpid:
        return None
    for _ in range(10):
        a = _stat_times(pmpid)
        if a is None:
            return None
        kids = {}
        for d in os.listdir('/proc'):
            if d.isdigit():
                t = _stat_times(int(d))
                if t is not None:
                    kids.setdefault(t[0], []).append((int(d), t[1] + t[2]))
        b = _stat_times(pmpid)
        if b is None:
            return None
        if b[2] == a[2]:
            break
    pids = {pmpid: ('postmaster', b[1])}       # its own time; reaped children apart
    stack = [pmpid]
    while stack:
        p = stack.pop()
        for k, ticks in kids.get(p, []):
            if k not in pids:
                pids[k] = (_proc_title(k), ticks)
                stack.append(k)
    return {'ticks': sum(t for _, t in pids.values()) + b[2], 'reaped': b[2], 'pids': pids}


def _title_kind(title, bpid, pid):
    if pid == bpid:
        return 'backend'
    if title == 'postmaster':
        return title
    t = re.sub(r'^postgres:\s*', '', title)
    t = re.sub(r'\s+\d+$', '', t)          # io worker 2 -> io worker
    return t or '?'


CLUSTER_KEYS = ('cluster_cpu_s', 'cluster_cpu_s_per_gb', 'cluster_cpu_detail', 'cluster_procs_started',
                'cluster_procs_exited')


def cluster_delta(c0, c1, bpid):
    """(CPU seconds of the cluster between two snapshots, detail string,
    processes started, processes gone)"""
    if not c0 or not c1:
        return None, '', None, None
    kinds = {}
    for pid, (title, ticks) in c1['pids'].items():
        k = _title_kind(title, bpid, pid)
        kinds[k] = kinds.get(k, 0) + ticks - (c0['pids'].get(pid, (None, 0))[1])
    gone = [pid for pid in c0['pids'] if pid not in c1['pids']]
    # processes that exited in the window: their whole life is in the
    # postmaster's cutime/cstime now, less what was counted at the start
    kinds['exited'] = (c1['reaped'] - c0['reaped']) - sum(c0['pids'][p][1] for p in gone)
    started = len([p for p in c1['pids'] if p not in c0['pids']])
    detail = ', '.join('%s %.2f' % (k, v / CLK_TCK) for k, v in sorted(kinds.items(), key=lambda x: -x[1]) if v)
    return (c1['ticks'] - c0['ticks']) / CLK_TCK, detail, started, len(gone)


def cpu_totals():
    f = read_file('/proc/stat').splitlines()[0].split()[1:]
    v = [int(x) for x in f]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]), idle


_libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]


def resident_pages(path):
    """OS page-cache residency of a file: bytearray, one byte per OS page
    (bit 0 = resident), via mmap + mincore (does not fault pages in)."""
    size = os.path.getsize(path)
    if size == 0:
        return bytearray()
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = _libc.mmap(None, size, 1, 1, fd, 0)       # PROT_READ, MAP_SHARED
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), 'mmap failed')
        try:
            n = (size + PAGESIZE - 1) // PAGESIZE
            vec = ctypes.create_string_buffer(n)
            if _libc.mincore(addr, size, vec) != 0:
                raise OSError(ctypes.get_errno(), 'mincore failed')
            return bytearray(vec.raw[:n])
        finally:
            _libc.munmap(addr, size)
    finally:
        os.close(fd)


HP_MARGIN = 64      # extra free huge pages, for the other clusters' benefit


def hp_available():
    """huge pages free and not reserved by another mapping"""
    mi = read_file('/proc/meminfo')
    return (int(re.search(r'HugePages_Free:\s+(\d+)', mi).group(1))
            - int(re.search(r'HugePages_Rsvd:\s+(\d+)', mi).group(1)))


# ------------------------------------------------------------ the cluster --
class Cluster:
    """one PostgreSQL cluster: binaries, data directory, port, log"""
    hp_late = []

    def __init__(self, name, bindir, pgdata, port, logfile):
        self.name, self.bindir, self.pgdata, self.port, self.logfile = name, bindir, pgdata, port, logfile
        self.conf_case = os.path.join(pgdata, 'bench_case.conf')
        self.shared_buffers_mb = 1024
        self.huge = 'off'
        self.hp_need = 0
        self.has_evict = self.has_verify = False
        self.stats_cols = None          # pg_uring_stats columns the benchmark reads, as this build has them
        self.has_uring = True           # pg_uring is loaded (not in the PostgreSQL 18 cluster)
        self.sockdir = SCRATCH
        self.io_method = None           # PostgreSQL 18's io_method (restart GUC), None = not set
        self.relpaths = None            # {'table': ..., 'index': ...} when they differ from the dataset's
        self.expected = None            # {workload: blocks} when they differ from the dataset's

    def pgctl(self, *args, check=True):
        return run(AS_PG + [os.path.join(self.bindir, 'pg_ctl'), '-D', self.pgdata, '-l', self.logfile]
                   + list(args), check=check, capture=True)

    def initdb(self):
        r = run(AS_PG + [os.path.join(self.bindir, 'initdb'), '--data-checksums', '-A', 'trust',
                         '-U', 'postgres', '-E', 'UTF8', '--locale=C', '-D', self.pgdata],
                capture=True, check=False)
        if r.returncode != 0:
            raise BenchFailure('initdb failed:\n' + r.stdout)
        with open(os.path.join(self.pgdata, 'postgresql.conf'), 'a') as f:
            f.write("""
# ---- pg_uring benchmark (test/bench/run.sh) ----
port = %d
listen_addresses = ''
unix_socket_directories = '%s'
shared_preload_libraries = 'pg_uring'
max_connections = 20
wal_level = minimal
max_wal_senders = 0
max_wal_size = 8GB
checkpoint_timeout = 1h
autovacuum = off
jit = off
log_line_prefix = '%%m [%%p] %%b '
pg_uring.queue_size = %d
pg_uring.ring_entries = %d
# one call at a time is measured: it may use the whole queue
pg_uring.backend_queue_limit = %d
include_if_exists = 'bench_case.conf'
""" % (self.port, SCRATCH, QUEUE_SIZE, RING_ENTRIES, QUEUE_SIZE))
        self.write_case_conf()

    def clone_from(self, other):
        """this cluster's data directory as a copy of other's (stopped)"""
        if other.running():
            raise BenchFailure('cannot copy the data directory of a running cluster')
        if os.path.exists(self.pgdata):
            shutil.rmtree(self.pgdata)
        r = run(['cp', '-a', other.pgdata, self.pgdata], capture=True, check=False)
        if r.returncode != 0:
            raise BenchFailure('cp -a %s %s: %s' % (other.pgdata, self.pgdata, r.stdout))
        for f in ('postmaster.pid', 'postmaster.opts'):
            if os.path.exists(os.path.join(self.pgdata, f)):
                os.unlink(os.path.join(self.pgdata, f))
        with open(os.path.join(self.pgdata, 'postgresql.conf'), 'a') as f:
            f.write('\n# ---- %s cluster: a copy of %s ----\nport = %d\n' % (self.name, other.pgdata, self.port))
        self.shared_buffers_mb, self.huge = other.shared_buffers_mb, other.huge
        self.write_case_conf()

    def write_case_conf(self, huge=None):
        if huge is not None:
            self.huge = huge
        with open(self.conf_case, 'w') as f:
            f.write("shared_buffers = '%dMB'\nhuge_pages = %s\n" % (self.shared_buffers_mb, self.huge))
            if self.io_method:
                f.write("io_method = %s\n" % self.io_method)
        self.chown(self.conf_case)

    def chown(self, path):
        if IS_ROOT:
            shutil.chown(path, 'postgres', 'postgres')

    def postmaster_pid(self):
        try:
            return int(read_file(os.path.join(self.pgdata, 'postmaster.pid')).split('\n')[0])
        except (OSError, ValueError, IndexError):
            return None

    def running(self):
        return os.path.exists(os.path.join(self.pgdata, 'postmaster.pid'))

    def ensure_huge_pages(self):
        """make sure enough huge pages are free before a start with
        huge_pages = on (other clusters on the machine, with the default
        huge_pages = try, take free huge pages when they start)"""
        free = hp_available()
        if free >= self.hp_need + HP_MARGIN:
            return
        # the last server's huge pages can come back a moment after it exits
        # (io_uring tears its rings down asynchronously): wait a little first
        t0 = time.time()
        while time.time() - t0 < 3 and hp_available() < self.hp_need + HP_MARGIN:
            time.sleep(0.05)
        free = hp_available()
        if free >= self.hp_need + HP_MARGIN:
            self.hp_late.append(time.time() - t0)
            log('(huge pages of the previous server came back after %.2f s)' % self.hp_late[-1])
            return
        if not IS_ROOT:
            raise BenchFailure('BENCH_HUGE: %d huge pages needed, %d free, and not root' % (self.hp_need, free))
        restore = os.path.join(SCRATCH, 'hugepages_restore')
        if os.path.exists(restore):
            warn('free huge pages were taken by another process (huge_pages = try elsewhere?); '
                 'vm.nr_hugepages raised again (%d available, %d needed)' % (free, self.hp_need))
        else:
            with open(restore, 'w') as f:
                f.write(read_file('/proc/sys/vm/nr_hugepages'))
        # nr_hugepages absorbs surplus pages in use by others: count from the total
        have = int(re.search(r'HugePages_Total:\s+(\d+)', read_file('/proc/meminfo')).group(1))
        with open('/proc/sys/vm/nr_hugepages', 'w') as f:
            f.write('%d\n' % (have + self.hp_need + HP_MARGIN - free))
        free = hp_available()
        if free < self.hp_need:
            raise BenchFailure('BENCH_HUGE: could only get %d of %d huge pages' % (free, self.hp_need))

    def start(self):
        for attempt in range(6):
            if self.huge == 'on' and self.hp_need:
                self.ensure_huge_pages()
            r = self.pgctl('-w', '-t', '120', 'start', check=False)
            if r.returncode == 0 or self.huge != 'on':
                break
            # other clusters here run with huge_pages = try and grab free huge
            # pages as they start: top up and try again
            log('start of the %s cluster with huge pages failed (attempt %d); retrying' % (self.name, attempt + 1))
            time.sleep(0.2)
        if r.returncode != 0:
            tail = ''
            try:
                tail = ''.join(open(self.logfile).readlines()[-20:])
            except OSError:
                pass
            raise BenchFailure('%s server did not start:\n%s\n%s' % (self.name, r.stdout, tail))

    def stop(self, mode='fast'):
        if not self.running():
            return
        r = self.pgctl('-w', '-t', '120', '-m', mode, 'stop', check=False)
        if r.returncode != 0 and mode != 'immediate':
            warn('%s: pg_ctl stop -m %s failed (%s); stopping immediately' % (self.name, mode, r.stdout.strip()))
            self.pgctl('-w', '-m', 'immediate', 'stop', check=False)

    def connect(self, dbname=DB):
        last = None
        for _ in range(100):
            try:
                return pgwire.Conn(self.sockdir, self.port, 'postgres', dbname)
            except (OSError, pgwire.PGError) as e:      # starting up
                last = e
                time.sleep(0.1)
        raise BenchFailure('cannot connect to the %s cluster: %s' % (self.name, last))

    def huge_pages_needed(self):
        r = run(AS_PG + [os.path.join(self.bindir, 'postgres'), '-D', self.pgdata, '-C',
                         'shared_memory_size_in_huge_pages'], capture=True, check=False)
        try:
            return int(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchFailure('postgres -C shared_memory_size_in_huge_pages: ' + r.stdout)

    def probe_functions(self, c):
        self.has_evict = c.scalar("SELECT count(*) > 0 FROM pg_proc WHERE proname = 'pg_uring_evict'") == 't'
        self.has_verify = c.scalar("SELECT count(*) > 0 FROM pg_proc WHERE proname = 'pg_uring_verify'") == 't'

    def stats_columns(self, c):
        """the STATS_COLS this build's pg_uring_stats view has (the view's
        column set differs between releases)"""
        if self.stats_cols is None:
            have = {r[0] for r in c.query("SELECT attname FROM pg_attribute WHERE attrelid = "
                                          "'pg_uring_stats'::regclass AND attnum > 0 AND NOT attisdropped")}
            self.stats_cols = [k for k in STATS_COLS if k in have]
            missing = [k for k in STATS_COLS if k not in have]
            if missing:
                warn('%s cluster: pg_uring_stats lacks %s (counted as 0)' % (self.name, ', '.join(missing)))
        return self.stats_cols


class Cluster18(Cluster):
    """PostgreSQL 18 in the Debian sid root (test/debroot.sh): its commands
    run inside the root as the root's postgres user; the benchmark reads its
    files, socket and /proc from the host (the root is a directory on the
    same disk and shares the kernel, so the postmaster's pid is a host pid)"""

    def __init__(self, root, inner, port):
        self.root, self.inner = root, inner
        self.inner_pgdata = inner + '/data'
        super().__init__('pg18', PG18_BINDIR, root + self.inner_pgdata, port, root + inner + '/server.log')
        self.inner_log = inner + '/server.log'
        self.has_uring = False
        self.sockdir = root + inner
        self.io_method = PG18_METHODS[0] if PG18_METHODS else 'worker'
        self.uid = self.gid = None
        for line in read_file(os.path.join(root, 'etc/passwd')).splitlines():
            f = line.split(':')
            if f[0] == 'postgres':
                self.uid, self.gid = int(f[2]), int(f[3])
        if self.uid is None:
            raise BenchFailure('pg18: no user postgres in %s/etc/passwd' % root)

    def cmd(self, args):
        """args inside the root as its postgres user: what `test/debroot.sh run
        18` does, without (re)binding this checkout at ROOT/pg_uring, which
        other sessions use for their own trees (run.sh mounted the rest)"""
        for m in ('proc', 'dev'):
            if not os.path.ismount(os.path.join(self.root, m)):
                raise BenchFailure('pg18: %s/%s is no longer mounted (test/debroot.sh umount 18 by someone?)'
                                   % (self.root, m))
        return (['chroot', self.root, 'env', '-i',
                 'PATH=%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' % PG18_BINDIR,
                 'HOME=/root', 'LANG=C.UTF-8', 'runuser', '-u', 'postgres', '--'] + list(args))

    def chown(self, path):
        os.chown(path, self.uid, self.gid)

    def pgctl(self, *args, check=True):
        return run(self.cmd([PG18_BINDIR + '/pg_ctl', '-D', self.inner_pgdata, '-l', self.inner_log]
                            + list(args)), check=check, capture=True)

    def initdb(self):
        r = run(self.cmd([PG18_BINDIR + '/initdb', '--data-checksums', '-A', 'trust', '-U', 'postgres',
                          '-E', 'UTF8', '--locale=C', '-D', self.inner_pgdata]), capture=True, check=False)
        if r.returncode != 0:
            raise BenchFailure('pg18: initdb failed:\n' + r.stdout)
        # the host cluster's settings, without pg_uring; io_method comes
        # with each case (bench_case.conf), io_workers etc. stay at the defaults
        with open(os.path.join(self.pgdata, 'postgresql.conf'), 'a') as f:
            f.write("""
# ---- pg_uring benchmark (test/bench/run.sh): PostgreSQL 18 anchor ----
port = %d
listen_addresses = ''
unix_socket_directories = '%s'
max_connections = 20
wal_level = minimal
max_wal_senders = 0
max_wal_size = 8GB
checkpoint_timeout = 1h
autovacuum = off
jit = off
log_line_prefix = '%%m [%%p] %%b '
include_if_exists = 'bench_case.conf'
""" % (self.port, self.inner))
        self.write_case_conf()

    def huge_pages_needed(self):
        """the most any io_method needs (io_uring's rings live in shared memory)"""
        need = 0
        for m in PG18_METHODS or ['worker']:
            r = run(self.cmd([PG18_BINDIR + '/postgres', '-D', self.inner_pgdata, '-c', 'io_method=' + m,
                              '-C', 'shared_memory_size_in_huge_pages']), capture=True, check=False)
            try:
                need = max(need, int(r.stdout.strip().splitlines()[-1]))
            except (ValueError, IndexError):
                raise BenchFailure('pg18: postgres -C shared_memory_size_in_huge_pages: ' + r.stdout)
        return need


def stop_others(cl, clusters):
    for o in clusters:
        if o is not cl:
            o.stop()


# --------------------------------------------------------------- the cases --
def family_of(name):
    """'ring/buffer qd4 c32' -> 'ring'"""
    return name.split('/')[0].split(' ')[0]


class Case:
    def __init__(self, name, kind, mode='buffer', io_method=None, direct=False,
                 qd=None, combine=None, workloads=None, cluster='main', pg_io_method=None,
                 helpers=None, zero_copy=None):
        self.name, self.kind, self.mode = name, kind, mode
        self.zero_copy = zero_copy              # pg_uring.zero_copy (None: default)
        self.helpers = helpers                  # pg_uring.max_prewarm_workers (None: default)
        self.io_method, self.direct, self.qd, self.combine = io_method, direct, qd, combine
        self.pg_io_method = pg_io_method        # the server's io_method (PostgreSQL 18 cluster)
        self.workloads = tuple(WORKLOADS) if workloads is None else workloads
        self.cluster = cluster

    @property
    def family(self):
        """method family, for the plot and the ratios"""
        return family_of(self.name)

    def setup_sql(self):
        s = []
        if self.kind in ('uring', 'verify', 'flush'):
            s.append("SET pg_uring.io_method = '%s'" % self.io_method)
            s.append("SET pg_uring.direct_io = %s" % ('on' if self.direct else 'off'))
            if self.qd:
                s.append("SET pg_uring.queue_depth = %d" % self.qd)
            if self.combine:
                s.append("SET pg_uring.combine_limit = %d" % self.combine)
            if self.helpers is not None:
                s.append("SET pg_uring.max_prewarm_workers = %d" % self.helpers)
            if self.zero_copy is not None:
                s.append("SET pg_uring.zero_copy = %s" % ('on' if self.zero_copy else 'off'))
        return s

    def call_sql(self, workload, ds):
        rel = INDEX if workload == 'index' else TABLE
        lit = ds.literal.get(workload)          # the block list of a scatN workload
        if self.kind == 'prewarm':
            if lit:
                return ("SELECT sum(pg_prewarm('%s', '%s', 'main', b, b))::int8 FROM unnest('%s'::int8[]) b"
                        % (TABLE, self.mode, lit))
            return "SELECT pg_prewarm('%s', '%s')" % (rel, self.mode)
        if self.kind == 'uring':
            if lit:
                return ("SELECT pg_uring_prewarm_blocks('%s', '%s'::int8[], '%s')"
                        % (TABLE, lit, self.mode))
            return "SELECT pg_uring_prewarm('%s', '%s')" % (rel, self.mode)
        if self.kind == 'verify':
            return "SELECT count(*) FROM pg_uring_verify('%s', 'main')" % rel
        if self.kind == 'flush':
            return "SELECT flushed FROM pg_uring_flush('%s')" % FLUSH_TABLE
        raise ValueError(self.kind)


def round_order(cases, rnd):
    """the cases of round rnd: with BENCH_BASELINE_FIRST=alt, each pair of a
    case and its "before" twin swaps places every other round"""
    if not (BASE_CASES and BASE_ALT and rnd % 2 == 0):
        return cases
    out = list(cases)
    i = 0
    while i + 1 < len(out):
        a, b = out[i], out[i + 1]
        if b.cluster == 'base' and b.name == 'before ' + a.name or \
           a.cluster == 'base' and a.name == 'before ' + b.name:
            out[i], out[i + 1] = b, a
            i += 2
        else:
            i += 1
    return out


def ring_configs():
    """(qd, combine) of the ring/buffer cases: the defaults first"""
    out = [(DEF_QD, DEF_COMBINE)]
    if len(ALT_RING) == 2:
        out.append(tuple(ALT_RING))
    if QDS or COMBINES:
        for c in (COMBINES or [DEF_COMBINE]):
            for q in (QDS or [DEF_QD]):
                out.append((q, c))
    seen = []
    for x in out:
        if x not in seen:
            seen.append(x)
    return seen


def pg18_workloads():
    ws = PG18_WORKLOADS_ENV.split() if PG18_WORKLOADS_ENV else WORKLOADS
    return tuple(w for w in WORKLOADS if w in ws)


def build_cases(has_verify, base=None, pg18=False):
    cases = [Case('pg_prewarm/buffer', 'prewarm', 'buffer'),
             Case('sync/buffer', 'uring', 'buffer', 'sync')]
    for q, c in ring_configs():
        cases.append(Case('ring/buffer qd%d c%d' % (q, c), 'uring', 'buffer', 'io_uring', False, q, c))
    if SOLO:
        # the defaults without parallel installs: what the helpers add
        cases.append(Case('ring/buffer qd%d c%d solo' % (DEF_QD, DEF_COMBINE), 'uring', 'buffer',
                          'io_uring', False, DEF_QD, DEF_COMBINE, helpers=0))
    if ZERO_COPY:
        # PostgreSQL 17: the read-ahead path (zero-copy off), and zero-copy
        # with O_DIRECT in every ring configuration, against the defaults
        # (zero-copy, buffered)
        cases.append(Case('readahead/buffer qd%d c%d' % (DEF_QD, DEF_COMBINE), 'uring', 'buffer',
                          'io_uring', False, DEF_QD, DEF_COMBINE, zero_copy=False))
        for q, c in ring_configs():
            # O_DIRECT has no read-ahead behind it: the deeper configuration too
            cases.append(Case('ring+dio/buffer qd%d c%d' % (q, c), 'uring', 'buffer',
                              'io_uring', True, q, c))
    if base and not BASE_CASES:
        # the previous release with its own defaults (the claim path)
        cases.append(Case(base['case'], 'uring', 'buffer', 'io_uring', False, None, None, cluster='base'))
    if pg18:
        # PostgreSQL 18's contrib pg_prewarm, called exactly as on 15, per io_method
        for m in PG18_METHODS:
            cases.append(Case('pg18 pg_prewarm/buffer io_method=%s' % m, 'prewarm', 'buffer',
                              workloads=pg18_workloads(), cluster='pg18', pg_io_method=m))
    cases += [Case('pg_prewarm/read', 'prewarm', 'read', workloads=('seq',)),
              Case('ring/read qd%d c%d' % (DEF_QD, DEF_COMBINE), 'uring', 'read', 'io_uring',
                   False, DEF_QD, DEF_COMBINE, workloads=('seq',)),
              Case('flush-sync', 'flush', 'flush', 'sync', workloads=('seq',)),
              Case('flush-ring qd%d' % DEF_QD, 'flush', 'flush', 'io_uring', False, DEF_QD,
                   workloads=('seq',))]
    if has_verify:
        cases += [Case('verify-sync', 'verify', 'verify', 'sync', workloads=('seq',)),
                  Case('verify-ring qd%d c%d' % (VERIFY_QD, VERIFY_COMBINE), 'verify', 'verify', 'io_uring',
                       False, VERIFY_QD, VERIFY_COMBINE, workloads=('seq',)),
                  Case('verify-ring+dio qd%d c%d' % (VERIFY_QD, VERIFY_COMBINE), 'verify', 'verify',
                       'io_uring', True, VERIFY_QD, VERIFY_COMBINE, workloads=('seq',))]
    if MAIN_IO_METHODS:
        for i, m in enumerate(MAIN_IO_METHODS[1:]):
            cases.insert(1 + i, Case('pg_prewarm/buffer io_method=%s' % m, 'prewarm', 'buffer',
                                     pg_io_method=m))
        for c in cases:
            if c.cluster == 'main' and not c.pg_io_method:
                c.pg_io_method = MAIN_IO_METHODS[0]
    if CASE_FILTER:
        cases = [c for c in cases if re.search(CASE_FILTER, c.name)]
    if base and BASE_CASES:
        # the same pg_uring cases on the baseline build, right after each
        twins = []
        for c in cases:
            twins.append(c)
            if c.cluster == 'main' and c.kind in ('uring', 'verify', 'flush') and re.search(BASE_CASES, c.name):
                t = copy.copy(c)
                t.name, t.cluster = 'before ' + c.name, 'base'
                if BASE_FIRST:
                    twins.insert(len(twins) - 1, t)
                else:
                    twins.append(t)
        cases = twins
    return cases


# ------------------------------------------------------------- dataset --
class Dataset:
    """the relations; file paths are relative to a cluster's data directory"""

    def __init__(self):
        self.blocks, self.literal, self.expected = {}, {}, {}
        self._segs = {}

    def relpath_of(self, workload, cl=None):
        if cl is not None and cl.relpaths:       # another cluster (PostgreSQL 18): its own file names
            return cl.relpaths['index' if workload == 'index' else 'table']
        return self.index_relpath if workload == 'index' else self.table_relpath

    def segments(self, cl, workload):
        """segment files of the workload's relation in cl's data directory"""
        key = (cl.pgdata, workload == 'index')
        if key not in self._segs:
            self._segs[key] = segs(os.path.join(cl.pgdata, self.relpath_of(workload, cl)))
        return self._segs[key]

    def expected_of(self, cl, workload):
        if cl.expected and workload in cl.expected:
            return cl.expected[workload]
        return self.expected[workload]


def copy_rows(nrows):
    step = 200000
    for start in range(1, nrows + 1, step):
        end = min(nrows, start + step - 1)
        yield ''.join('%d\t%d\t0\t\n' % (i, (i - 1) // 100000 + 1)
                      for i in range(start, end + 1)).encode()


def table_rows():
    rows_per_page = 61          # pgbench_accounts-like rows: 61 per 8 kB page
    return SIZE_MB * (1 << 20) // BLCKSZ * rows_per_page


def load_table(c):
    """the benchmark table and its primary key (the same SQL and rows on
    every cluster): returns (table blocks, index blocks, table file, index file)"""
    c.query('BEGIN')
    c.query('CREATE TABLE %s (aid int8 NOT NULL, bid int4, abalance int4, filler char(84)) '
            'WITH (autovacuum_enabled = off)' % TABLE)
    c.copy_in('COPY %s FROM STDIN WITH (FREEZE)' % TABLE, copy_rows(table_rows()))
    c.query('COMMIT')
    c.query('ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (aid)' % (TABLE, INDEX))
    c.query('ANALYZE %s' % TABLE)
    c.query('CHECKPOINT')
    return (int(c.scalar("SELECT pg_relation_size('%s') / 8192" % TABLE)),
            int(c.scalar("SELECT pg_relation_size('%s') / 8192" % INDEX)),
            c.scalar("SELECT pg_relation_filepath('%s')" % TABLE),
            c.scalar("SELECT pg_relation_filepath('%s')" % INDEX))


def build_dataset(cl):
    ds = Dataset()
    nrows = table_rows()
    log('loading %s: %d rows (~%d MB) with COPY FREEZE, then its primary key'
        % (TABLE, nrows, SIZE_MB))
    t0 = time.time()
    with cl.connect('postgres') as c:
        c.query('CREATE DATABASE %s' % DB)
    with cl.connect() as c:
        c.query('CREATE EXTENSION pg_uring')
        c.query('CREATE EXTENSION pg_prewarm')
        c.query('CREATE EXTENSION pg_buffercache')
        ds.nblocks, ds.index_nblocks, ds.table_relpath, ds.index_relpath = load_table(c)
        ds.table_filenode = int(c.scalar("SELECT pg_relation_filenode('%s')" % TABLE))
        cl.probe_functions(c)
        # the scattered lists: random distinct blocks of the table at each
        # density, in the order autoprewarm would restore them (sorted)
        for w in WORKLOADS:
            p = scat_pct(w)
            if p is None:
                continue
            n = min(ds.nblocks, max(1, int(round(ds.nblocks * p / 100.0))))
            rnd = random.Random(SEED * 1000 + int(round(p * 10)))
            ds.blocks[w] = sorted(rnd.sample(range(ds.nblocks), n))
            ds.literal[w] = '{' + ','.join(map(str, ds.blocks[w])) + '}'
        # the flush case dirties one row per page of this table with HOT
        # updates (fillfactor 50), so that its size never changes
        c.query('CREATE TABLE %s (id int8, v int4, filler char(84)) '
                'WITH (fillfactor = 50, autovacuum_enabled = off)' % FLUSH_TABLE)
        c.query("INSERT INTO %s SELECT g, 0, '' FROM generate_series(1, %d) g"
                % (FLUSH_TABLE, FLUSH_MB * (1 << 20) // BLCKSZ * FLUSH_ROWS_PER_PAGE))
        ds.flush_nblocks = int(c.scalar("SELECT pg_relation_size('%s') / 8192" % FLUSH_TABLE))
        c.query('CREATE TABLE bench_blocks (workload text, blk int8)')
        if ds.blocks:
            c.copy_in('COPY bench_blocks FROM STDIN',
                      iter([''.join('%s\t%d\n' % (w, b) for w, bl in ds.blocks.items() for b in bl).encode()]))
        c.query('CHECKPOINT')
    for w, bl in ds.blocks.items():
        with open(os.path.join(SCRATCH, 'blocks_%s.txt' % w), 'w') as f:
            f.write(''.join('%d\n' % b for b in bl))
    ds.load_seconds = time.time() - t0
    for w in WORKLOADS:
        ds.expected[w] = (ds.nblocks if w == 'seq' else ds.index_nblocks if w == 'index'
                          else len(ds.blocks[w]))
    log('dataset: table %d blocks (%.0f MB, %d segment file(s)), index %d blocks (%.0f MB), '
        'lists %s; built in %.0f s'
        % (ds.nblocks, ds.nblocks * BLCKSZ / MB, len(ds.segments(cl, 'seq')), ds.index_nblocks,
           ds.index_nblocks * BLCKSZ / MB,
           ', '.join('%s %d blocks' % (w, len(b)) for w, b in ds.blocks.items()) or 'none', ds.load_seconds))
    return ds


def setup_baseline(main, ds):
    """the previous release's cluster: a copy of main's data directory on its
    own port, started with the baseline binaries; the extension is
    recreated so that its SQL objects match the old library"""
    base = Cluster('base', BASE_BINDIR, PGDATA_BASE, BASE_PORT, SERVER_LOG_BASE)
    main.stop()
    log('baseline (%s): copying the data directory to %s (port %d)' % (BASE_REV or BASE_BINDIR, PGDATA_BASE,
                                                                     BASE_PORT))
    base.clone_from(main)
    base.write_case_conf('off')
    base.start()
    info = {'rev': BASE_REV, 'bindir': BASE_BINDIR, 'port': BASE_PORT}
    with base.connect() as c:
        c.query('DROP EXTENSION pg_uring')
        c.query('CREATE EXTENSION pg_uring')
        if c.scalar("SELECT count(*) FROM pg_proc WHERE proname = 'pg_uring_prewarm_blocks'") != '1':
            raise BenchFailure('baseline: pg_uring_prewarm_blocks does not exist in %s' % BASE_REV)
        for g in ('queue_depth', 'combine_limit'):      # in blocks / requests, not '128kB'
            info[g] = int(c.scalar("SELECT setting FROM pg_settings WHERE name = 'pg_uring.%s'" % g))
        info['stats_columns'] = int(c.scalar("SELECT count(*) FROM pg_attribute WHERE attrelid = "
                                             "'pg_uring_stats'::regclass AND attnum > 0"))
        base.probe_functions(c)
        # the same answer as the current build on a small list, untimed
        bl = ds.blocks[next(iter(ds.blocks))][:50] if ds.blocks else list(range(min(50, ds.nblocks)))
        got = int(c.scalar("SELECT pg_uring_prewarm_blocks('%s', '{%s}'::int8[])" % (TABLE, ','.join(map(str, bl)))))
        if got != len(bl):
            fail('baseline: pg_uring_prewarm_blocks returned %d for %d blocks' % (got, len(bl)))
        base.stats_columns(c)
    base.stop()
    info['case'] = 'claims/buffer qd%d c%d' % (info['queue_depth'], info['combine_limit'])
    log('baseline cluster ready: %s defaults queue_depth %d, combine_limit %d; case %r'
        % (BASE_REV or 'baseline', info['queue_depth'], info['combine_limit'], info['case']))
    return base, info


def setup_pg18(main, ds):
    """the PostgreSQL 18 anchor: initdb in the sid root, the same table (same
    generator, SQL and row layout) and primary key, contrib pg_prewarm and
    pg_buffercache; main is stopped first, so only one cluster runs"""
    if not (PG18_ROOT and PG18_INNER):
        raise BenchFailure('BENCH_PG18=1 needs BENCH_PG18_ROOT and BENCH_PG18_SCRATCH (run.sh sets them)')
    for m in PG18_METHODS:
        if m not in ('worker', 'io_uring', 'sync'):
            raise BenchFailure('BENCH_PG18_IO_METHODS: unknown io_method %r' % m)
    main.stop()
    x = Cluster18(PG18_ROOT, PG18_INNER, PG18_PORT)
    log('pg18: initdb --data-checksums in %s (root %s, port %d)' % (x.inner_pgdata, PG18_ROOT, PG18_PORT))
    x.initdb()
    x.start()
    t0 = time.time()
    info = {'root': PG18_ROOT, 'pgdata': x.inner_pgdata, 'port': PG18_PORT, 'io_methods': PG18_METHODS,
            'workloads': list(pg18_workloads())}
    with x.connect('postgres') as c:
        c.query('CREATE DATABASE %s' % DB)
    with x.connect() as c:
        c.query('CREATE EXTENSION pg_prewarm')
        c.query('CREATE EXTENSION pg_buffercache')
        info['version'] = c.scalar('SHOW server_version')
        nb, nib, trel, irel = load_table(c)
        for g in ('io_workers', 'io_combine_limit', 'io_max_combine_limit', 'effective_io_concurrency',
                  'maintenance_io_concurrency', 'io_max_concurrency', 'data_checksums'):
            info[g] = c.scalar("SELECT current_setting('%s', true)" % g)
    x.stop()
    x.relpaths = {'table': trel, 'index': irel}
    info.update(nblocks=nb, index_nblocks=nib, load_s=time.time() - t0)
    log('pg18: PostgreSQL %s: table %d blocks (main: %d), index %d blocks (main: %d); loaded in %.0f s'
        % (info['version'], nb, ds.nblocks, nib, ds.index_nblocks, info['load_s']))
    # PostgreSQL 16+ extends a relation by several blocks at a time during
    # COPY, so its table can end in a few empty blocks: more than 1% is odd
    if abs(nb - ds.nblocks) > 0.01 * ds.nblocks or abs(nib - ds.index_nblocks) > 0.01 * ds.index_nblocks:
        warn('pg18: block counts differ from the PostgreSQL 15 cluster: table %d vs %d, index %d vs %d'
             % (nb, ds.nblocks, nib, ds.index_nblocks))
    x.expected = {}
    for w in WORKLOADS:
        if w == 'seq':
            x.expected[w] = nb
        elif w == 'index':
            x.expected[w] = nib
        else:
            bl = ds.blocks[w]
            if bl and bl[-1] >= nb:
                fail('pg18: the %s list reaches block %d, the PostgreSQL 18 table has %d' % (w, bl[-1], nb))
            x.expected[w] = len(bl)
    x.shared_buffers_mb = main.shared_buffers_mb
    x.write_case_conf('off')
    return x, info


def segs(base):
    out = [base]
    i = 1
    while os.path.exists('%s.%d' % (base, i)):
        out.append('%s.%d' % (base, i))
        i += 1
    return out


def block_residency(cl, ds, workload, blocks=None):
    """fraction of the workload's blocks (of cl's files) resident in the OS page cache"""
    files = ds.segments(cl, workload)
    per_seg = (1 << 30) // BLCKSZ
    vecs = [resident_pages(f) for f in files]
    ppb = BLCKSZ // PAGESIZE
    if blocks is None:
        tot = sum(len(v) for v in vecs)
        return (sum(b & 1 for v in vecs for b in v) / tot) if tot else 0.0
    hit = 0
    for b in blocks:
        v = vecs[b // per_seg]
        o = (b % per_seg) * ppb
        if all(v[o + k] & 1 for k in range(ppb) if o + k < len(v)):
            hit += 1
    return hit / len(blocks) if blocks else 0.0


def drop_os_cache(ds, cl):
    os.sync()
    if IS_ROOT:
        try:
            with open('/proc/sys/vm/drop_caches', 'w') as f:
                f.write('3\n')
        except OSError as e:
            warn('drop_caches: %s' % e)
    for path in ds.segments(cl, 'seq') + ds.segments(cl, 'index'):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


# ------------------------------------------------------------ read-ahead --
def data_device():
    st = os.stat(PGDATA)
    maj, mnr = os.major(st.st_dev), os.minor(st.st_dev)
    sysdev = os.path.realpath('/sys/dev/block/%d:%d' % (maj, mnr))
    q = os.path.join(sysdev, 'queue')
    if not os.path.isdir(q):                       # a partition: use the disk
        q = os.path.join(os.path.dirname(sysdev), 'queue')
    name = os.path.basename(sysdev)
    return name, os.path.join(q, 'read_ahead_kb') if os.path.isdir(q) else None


def get_ra(ra_path):
    try:
        return int(read_file(ra_path).strip())
    except (OSError, TypeError, ValueError):
        return None


def set_ra(ra_path, dev, kb):
    try:
        with open(ra_path, 'w') as f:
            f.write('%d\n' % kb)
    except OSError:
        r = run(['blockdev', '--setra', str(kb * 2), '/dev/' + dev], check=False, capture=True)
        if r.returncode != 0:
            return False
    return get_ra(ra_path) == kb


# --------------------------------------------------------------- one case --
STATS_COLS = ['enter_calls', 'sqes_submitted', 'requests', 'reads', 'blocks_read', 'combined_ios',
              'fallback_ios', 'errors', 'short_ios', 'retries', 'sq_full_waits', 'queue_full_waits',
              'pages_verified', 'verify_failures']


def ring_stats(c, cols):
    """pg_uring_stats per method, summed over rings; only the columns this
    build has (cols); the others read as 0"""
    rows = c.query('SELECT method%s FROM pg_uring_stats GROUP BY method' %
                   ''.join(', coalesce(sum(%s), 0)::int8' % k for k in cols))
    out = {}
    for r in rows:
        out[r[0]] = {k: int(v) for k, v in zip(cols, r[1:])}
    return out


def stats_delta(a, b, method, key):
    return b.get(method, {}).get(key, 0) - a.get(method, {}).get(key, 0)


def make_cold(cl, clusters, ds, huge, io_method=None):
    stop_others(cl, clusters)          # only one cluster runs at a time
    if COLD == 'evict' and cl.has_evict and cl.running() and cl.huge == huge:
        with cl.connect() as c:
            c.query("SELECT pg_uring_evict('%s'), pg_uring_evict('%s')" % (TABLE, INDEX))
            left = int(c.scalar("SELECT count(*) FROM pg_buffercache WHERE relfilenode IN "
                                "(pg_relation_filenode('%s'), pg_relation_filenode('%s')) AND reldatabase = "
                                "(SELECT oid FROM pg_database WHERE datname = current_database())"
                                % (TABLE, INDEX)))
            if left:
                fail('%s: pg_uring_evict left %d buffers of the relations in shared buffers' % (cl.name, left))
        drop_os_cache(ds, cl)
    else:
        cl.stop()
        drop_os_cache(ds, cl)
        if io_method and cl.io_method != io_method:
            cl.io_method = io_method
            cl.write_case_conf(huge)
        elif cl.huge != huge:
            cl.write_case_conf(huge)
        cl.start()


def wait_ring(c, need):
    """worker pid (and whether the ring is up); waits for the ring after a restart"""
    deadline = time.time() + 15
    while True:
        r = c.query('SELECT worker_pid, ring_up, effective_method, ring_state, reason FROM pg_uring_status')
        wpid = int(r[0][0]) if r and r[0][0] else 0
        up = bool(r) and r[0][1] == 't'
        if up or not need or time.time() > deadline:
            return wpid, up, r[0] if r else None
        time.sleep(0.1)


def run_case(cl, clusters, ds, case, workload, rnd, setting):
    res = {'round': rnd, 'workload': workload, 'case': case.name, 'family': case.family,
           'cluster': cl.name, 'mode': case.mode, 'io_method': case.io_method or case.pg_io_method or '',
           'direct_io': case.direct,
           'queue_depth': case.qd or '', 'combine_limit': case.combine or '',
           'ra_kb': setting['ra_kb'], 'huge_pages': setting['huge'], 'ok': False, 'error': ''}
    expected = ds.expected_of(cl, workload)
    res['expected_blocks'] = expected
    make_cold(cl, clusters, ds, setting['huge'], case.pg_io_method)
    try:
        cold_res = block_residency(cl, ds, workload)
    except OSError as e:
        cold_res = None
        warn('mincore: %s' % e)
    res['cold_resident_pct'] = None if cold_res is None else round(100 * cold_res, 2)
    if cold_res is not None and cold_res > 0.02:
        warn('%s/%s round %d: %.1f%% of the files still in the OS cache after dropping it'
             % (workload, case.name, rnd, 100 * cold_res))
    c = cl.connect()
    try:
        bpid = c.pid
        for s in case.setup_sql():
            c.query(s)
        if case.kind == 'prewarm':
            c.query("LOAD 'pg_prewarm'")
        rel = INDEX if workload == 'index' else TABLE
        c.query("SELECT '%s'::regclass::oid, pg_relation_size('%s')" % (rel, rel))
        need_ring = case.io_method == 'io_uring'
        if cl.has_uring:
            wpid, up, st = wait_ring(c, need_ring)
        else:
            wpid, up, st = 0, False, None
            if case.pg_io_method:
                got_m = c.scalar('SHOW io_method')
                if got_m != case.pg_io_method:
                    raise BenchFailure('%s: io_method is %s, not %s' % (cl.name, got_m, case.pg_io_method))
        res['worker_pid'] = wpid
        if need_ring and not up:
            raise BenchFailure('ring not up: %s' % (st,))
        if need_ring and st and st[2] != 'io_uring':
            raise BenchFailure('effective_method is %s, not io_uring' % st[2])
        sql = case.call_sql(workload, ds)
        if case.kind == 'flush':
            # warm and dirty the flush table (one row per page, HOT), untimed
            c.query("SELECT pg_uring_prewarm('%s')" % FLUSH_TABLE)
            c.query("UPDATE %s SET v = v + 1 WHERE id %% %d = 0" % (FLUSH_TABLE, FLUSH_ROWS_PER_PAGE))
            expected = int(c.scalar("SELECT count(*) FROM pg_buffercache WHERE isdirty AND relfilenode = "
                                    "pg_relation_filenode('%s')" % FLUSH_TABLE))
            res['expected_blocks'] = expected
        cols = cl.stats_columns(c) if cl.has_uring else None
        s0 = ring_stats(c, cols) if cl.has_uring else {}
        pmpid = cl.postmaster_pid()
        cpu0 = cpu_totals()
        k0 = cluster_snapshot(pmpid)
        b0, w0 = proc_snapshot(bpid), proc_snapshot(wpid)
        t0 = time.perf_counter()
        rows = c.query(sql)
        t1 = time.perf_counter()
        b1, w1 = proc_snapshot(bpid), proc_snapshot(wpid)
        k1 = cluster_snapshot(pmpid)
        cpu1 = cpu_totals()
        s1 = ring_stats(c, cols) if cl.has_uring else {}
        secs = t1 - t0
        ret = int(rows[0][0]) if rows and rows[0][0] is not None else None
        res['returned'] = ret
        res['seconds'] = secs
        # pages moved: for prewarm the expected block count; verify scans it too
        pages = expected
        res['pages'] = pages
        res['mb_s'] = pages * BLCKSZ / MB / secs
        res['pages_s'] = pages / secs
        if b0 and b1:
            res['backend_syscalls'] = (b1['syscr'] + b1['syscw']) - (b0['syscr'] + b0['syscw'])
            res['backend_cpu_s'] = ((b1['utime'] + b1['stime']) - (b0['utime'] + b0['stime'])) / CLK_TCK
            res['backend_sys_cpu_s'] = (b1['stime'] - b0['stime']) / CLK_TCK
            res['backend_minflt'] = b1['minflt'] - b0['minflt']
        if w0 and w1:
            res['worker_syscalls'] = (w1['syscr'] + w1['syscw']) - (w0['syscr'] + w0['syscw'])
            res['worker_cpu_s'] = ((w1['utime'] + w1['stime']) - (w0['utime'] + w0['stime'])) / CLK_TCK
            names = sorted({re.sub(r'\d+$', '', n) for n, _ in list(w1['tasks'].values())
                            + list(w0['tasks'].values())})
            # CPU of the worker's other threads (io-wq iou-wrk-*, iou-sqp-*)
            # that are still alive; exited ones are in the process total above
            res['worker_other_threads_cpu_s'] = sum(
                cpu - w0['tasks'].get(tid, (None, 0))[1] for tid, (_, cpu) in w1['tasks'].items()
                if tid != wpid) / CLK_TCK
            res['worker_threads'] = len(w1['tasks'])
            res['worker_thread_names'] = ' '.join(names)
        else:
            res['worker_syscalls'] = 0
            res['worker_cpu_s'] = 0.0
        res['enter_calls'] = stats_delta(s0, s1, 'io_uring', 'enter_calls')
        for k in ('requests', 'reads', 'blocks_read', 'sqes_submitted', 'fallback_ios', 'errors',
                  'short_ios', 'retries', 'sq_full_waits', 'queue_full_waits'):
            res['ring_' + k] = stats_delta(s0, s1, 'io_uring', k)
        res['sync_blocks_read'] = stats_delta(s0, s1, 'sync', 'blocks_read')
        res['pages_verified'] = (stats_delta(s0, s1, 'io_uring', 'pages_verified')
                                 + stats_delta(s0, s1, 'sync', 'pages_verified'))
        tot = (res.get('backend_syscalls') or 0) + (res.get('worker_syscalls') or 0) + res['enter_calls']
        res['syscalls_per_page'] = tot / pages
        res['backend_syscalls_per_page'] = (res.get('backend_syscalls') or 0) / pages
        res['worker_syscalls_per_page'] = (res.get('worker_syscalls') or 0) / pages
        res['enter_per_page'] = res['enter_calls'] / pages
        cpu = (res.get('backend_cpu_s') or 0) + (res.get('worker_cpu_s') or 0)
        res['cpu_s'] = cpu
        res['cpu_s_per_gb'] = cpu / (pages * BLCKSZ / 2**30)
        dt, di = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        res['machine_busy_pct'] = round(100.0 * (dt - di) / dt, 1) if dt else None
        kcpu, kdetail, kstarted, kgone = cluster_delta(k0, k1, bpid)
        if kcpu is None:
            warn('%s: cannot read /proc of the postmaster (pid %s); no cluster CPU' % (cl.name, pmpid))

        # ---- correctness checks (not timed) ----
        if case.kind == 'flush':
            left = int(c.scalar("SELECT count(*) FROM pg_buffercache WHERE isdirty AND relfilenode = "
                                "pg_relation_filenode('%s')" % FLUSH_TABLE))
            if left != 0 or ret is None or ret < expected * 0.9:
                fail('%s %s round %d: flushed %s of %d dirty buffers, %d left dirty'
                     % (workload, case.name, rnd, ret, expected, left))
            else:
                res['ok'] = True
        elif case.kind == 'verify':
            if ret != 0:
                fail('%s %s round %d: pg_uring_verify reported %s bad block(s) on a clean relation'
                     % (workload, case.name, rnd, ret))
            elif res['pages_verified'] != expected:
                warn('%s %s round %d: pages_verified rose by %d, expected %d'
                     % (workload, case.name, rnd, res['pages_verified'], expected))
            else:
                res['ok'] = True
        elif ret != expected:
            fail('%s %s round %d: returned %s blocks, expected %d' % (workload, case.name, rnd, ret, expected))
        else:
            res['ok'] = True
        if case.io_method == 'io_uring' and res['ring_requests'] == 0:
            fail('%s %s round %d: the ring served no requests (silent fallback?)' % (workload, case.name, rnd))
            res['ok'] = False
        if case.kind == 'uring' and case.io_method == 'sync' and res['ring_requests'] != 0:
            warn('%s %s round %d: io_method=sync but the ring served %d requests'
                 % (workload, case.name, rnd, res['ring_requests']))
        if case.kind == 'uring' and case.mode == 'buffer':
            # whole relations: every block read once; lists: the current build
            # also reads small gaps between listed blocks ahead (filler blocks,
            # page cache only), so at least the listed ones
            got = res['ring_blocks_read'] + res['sync_blocks_read']
            res['filler_blocks_read'] = got - expected
            if got < expected or (got != expected and not is_scat(workload)):
                warn('%s %s round %d: pg_uring_stats blocks_read rose by %d (ring %d + sync %d), expected %s%d'
                     % (workload, case.name, rnd, got, res['ring_blocks_read'], res['sync_blocks_read'],
                        '>= ' if is_scat(workload) else '', expected))
        if res['ring_errors'] or res['ring_short_ios'] or res['ring_fallback_ios']:
            warn('%s %s round %d: ring errors %d, short I/Os %d, fallback I/Os %d'
                 % (workload, case.name, rnd, res['ring_errors'], res['ring_short_ios'],
                    res['ring_fallback_ios']))
        # what really landed where: shared buffers (buffer mode) / OS cache (read mode)
        relfn = "pg_relation_filenode('%s')" % rel
        inbuf = int(c.scalar("SELECT count(*) FROM pg_buffercache WHERE relfilenode = %s AND relforknumber = 0 "
                             "AND reldatabase = (SELECT oid FROM pg_database WHERE datname = current_database())"
                             % relfn))
        res['in_shared_buffers'] = inbuf
        if case.mode == 'buffer' and inbuf != expected:
            fail('%s %s round %d: %d blocks of the relation in shared buffers afterwards, expected %d'
                 % (workload, case.name, rnd, inbuf, expected))
            res['ok'] = False
        if case.mode in ('read', 'verify') and inbuf != 0:
            warn('%s %s round %d: %s mode left %d blocks in shared buffers' % (workload, case.name, rnd,
                                                                                case.mode, inbuf))
        if case.mode == 'read':
            frac = block_residency(cl, ds, workload, ds.blocks.get(workload))
            res['os_resident_pct'] = round(100 * frac, 2)
            if frac < 0.99:
                warn('%s %s round %d: only %.1f%% of the blocks are in the OS cache after read mode'
                     % (workload, case.name, rnd, 100 * frac))
        # the whole cluster (last, so that the csv's earlier columns keep their places)
        res['cluster_cpu_s'] = kcpu
        res['cluster_cpu_s_per_gb'] = None if kcpu is None else kcpu / (pages * BLCKSZ / 2**30)
        res['cluster_cpu_detail'] = kdetail
        res['cluster_procs_started'] = kstarted
        res['cluster_procs_exited'] = kgone
    except (pgwire.PGError, BenchFailure, ConnectionError, OSError) as e:
        res['error'] = str(e)
        fail('%s %s round %d: %s' % (workload, case.name, rnd, e))
    finally:
        c.close()
    if res.get('seconds'):
        log('r%d %-6s %-3s %-22s %7.1f MB/s %9.0f pages/s  %.4f sys/page  %5.2f cpu-s/GB  %s'
            % (rnd, workload, 'hp' if setting['huge'] == 'on' else '', case.name, res['mb_s'], res['pages_s'],
               res['syscalls_per_page'], res['cpu_s_per_gb'], 'ok' if res['ok'] else 'WRONG')
            + ('  cluster %.2f cpu-s/GB (%s)' % (res['cluster_cpu_s_per_gb'], res['cluster_cpu_detail'])
               if PG18 and res.get('cluster_cpu_s_per_gb') is not None else ''))
    return res


def run_pg_checksums(cl, clusters, ds, rnd, setting):
    """offline reference for verify: pg_checksums --check on the table's files"""
    res = {'round': rnd, 'workload': 'seq', 'case': 'pg_checksums (offline)', 'family': 'pg_checksums',
           'cluster': cl.name, 'mode': 'verify', 'ra_kb': setting['ra_kb'], 'huge_pages': HUGE_ANY,
           'expected_blocks': ds.nblocks, 'ok': False, 'error': ''}
    for o in clusters:
        o.stop()
    drop_os_cache(ds, cl)
    t0 = time.perf_counter()
    r = run(AS_PG + [os.path.join(cl.bindir, 'pg_checksums'), '--check', '-D', cl.pgdata,
                     '--filenode', str(ds.table_filenode)], capture=True, check=False)
    secs = time.perf_counter() - t0
    m = re.search(r'Blocks scanned:\s+(\d+)', r.stdout)
    scanned = int(m.group(1)) if m else None
    res.update(seconds=secs, returned=scanned, pages=scanned or ds.nblocks)
    res['mb_s'] = res['pages'] * BLCKSZ / MB / secs
    res['pages_s'] = res['pages'] / secs
    if r.returncode != 0 or scanned is None or scanned < ds.nblocks:
        fail('pg_checksums --check failed (rc %d): %s' % (r.returncode, r.stdout.strip()[-300:]))
        res['error'] = r.stdout.strip()[-300:]
    else:
        res['ok'] = True
    log('r%d seq        pg_checksums (offline)   %7.1f MB/s (%s blocks, all forks)' % (rnd, res['mb_s'], scanned))
    return res


# --------------------------------------------------------------------- fio --
FIO_TESTS = [
    # name, rw, bs, iodepth, direct, workload it bounds ('scat': every scatN)
    ('fio seq 128k dio qd32', 'read', '128k', 32, 1, 'seq'),
    ('fio seq 128k buffered qd32', 'read', '128k', 32, 0, 'seq'),
    ('fio rand 8k dio qd32', 'randread', '8k', 32, 1, 'scat'),
    ('fio rand 8k dio qd128', 'randread', '8k', 128, 1, 'scat'),
]


def run_fio(cl, clusters, ds, rnd, setting):
    """fio on cl's table segments with no server running (huge pages do not
    matter to it: one run per round)"""
    out = []
    files = ds.segments(cl, 'seq')
    if any(':' in f for f in files):
        warn('fio: segment path contains ":"; skipped')
        return out
    for o in clusters:
        o.stop()
    for name, rw, bs, qd, direct, wl in FIO_TESTS:
        drop_os_cache(ds, cl)
        cmd = ['fio', '--name=limit', '--ioengine=io_uring', '--readonly', '--rw=' + rw, '--bs=' + bs,
               '--iodepth=%d' % qd, '--direct=%d' % direct, '--filename=' + ':'.join(files),
               '--file_service_type=sequential' if rw == 'read' else '--file_service_type=random',
               '--runtime=%d' % FIO_RUNTIME, '--numjobs=1', '--output-format=json', '--invalidate=1']
        if rw == 'randread':
            cmd += ['--time_based', '--randrepeat=0']
        r = run(cmd, capture=False, check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        res = {'round': rnd, 'workload': wl, 'case': name, 'family': 'fio', 'mode': 'fio',
               'ra_kb': setting['ra_kb'], 'huge_pages': HUGE_ANY, 'ok': False, 'error': ''}
        try:
            j = json.loads(r.stdout[r.stdout.index('{'):])
            job = j['jobs'][0]
            rd = job['read']
            secs = rd['runtime'] / 1000.0
            res.update(seconds=secs, mb_s=rd['bw_bytes'] / MB, pages_s=rd['iops'] * (
                int(bs[:-1]) * 1024 // BLCKSZ), iops=rd['iops'],
                cpu_s=(job['usr_cpu'] + job['sys_cpu']) / 100.0 * secs,
                fio_sys_cpu_pct=job['sys_cpu'], ok=True)
            res['cpu_s_per_gb'] = res['cpu_s'] / (rd['io_bytes'] / 2**30) if rd['io_bytes'] else None
            log('r%d %-6s     %-22s %7.1f MB/s %9.0f IOPS  sys CPU %.0f%%'
                % (rnd, wl, name, res['mb_s'], rd['iops'], job['sys_cpu']))
        except (ValueError, KeyError, IndexError) as e:
            res['error'] = 'fio failed: %s %s' % (e, (r.stderr or '')[-300:])
            fail('%s: %s' % (name, res['error']))
        out.append(res)
    return out


# ------------------------------------------------------------- reporting --
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, nd=1):
    if x is None:
        return '–'
    if isinstance(x, float):
        return ('%.' + str(nd) + 'f') % x
    return str(x)


def fmt_x(x):
    return '–' if x is None else '%.2f×' % x


def summarize(results):
    groups = {}
    order = []
    for r in results:
        if not r.get('seconds'):
            continue
        k = (r['ra_kb'], r['huge_pages'], r['workload'], r['case'])
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(r)
    summ = []
    for k in order:
        rs = groups[k]
        r0 = rs[0]
        s = {'ra_kb': k[0], 'huge_pages': k[1], 'workload': k[2], 'case': k[3], 'family': r0['family'],
             'cluster': r0.get('cluster', 'main'),
             'mode': r0['mode'], 'direct_io': r0.get('direct_io'), 'queue_depth': r0.get('queue_depth'),
             'combine_limit': r0.get('combine_limit'), 'runs': len(rs),
             'all_ok': all(x['ok'] for x in rs),
             'blocks': r0.get('returned'),
             'mb_s': med([x['mb_s'] for x in rs]), 'mb_s_min': min(x['mb_s'] for x in rs),
             'mb_s_max': max(x['mb_s'] for x in rs), 'pages_s': med([x['pages_s'] for x in rs]),
             'syscalls_per_page': med([x.get('syscalls_per_page') for x in rs]),
             'backend_syscalls_per_page': med([x.get('backend_syscalls_per_page') for x in rs]),
             'worker_syscalls_per_page': med([x.get('worker_syscalls_per_page') for x in rs]),
             'enter_per_page': med([x.get('enter_per_page') for x in rs]),
             'cpu_s_per_gb': med([x.get('cpu_s_per_gb') for x in rs]),
             'cluster_cpu_s_per_gb': med([x.get('cluster_cpu_s_per_gb') for x in rs]),
             'backend_minflt': med([x.get('backend_minflt') for x in rs]),
             'machine_busy_pct': med([x.get('machine_busy_pct') for x in rs])}
        summ.append(s)
    # ratios
    idx = {(s['ra_kb'], s['huge_pages'], s['workload'], s['case']): s for s in summ}
    claims = {(s['ra_kb'], s['huge_pages'], s['workload']): s for s in summ if s['family'] == 'claims'}
    for s in summ:
        base = None
        if s['mode'] in ('buffer', 'read', 'verify') and s['family'] != 'pg_checksums':
            # verify reads like read mode; flush has no pg_prewarm counterpart
            bname = 'pg_prewarm/buffer' if s['mode'] == 'buffer' else 'pg_prewarm/read'
            b = idx.get((s['ra_kb'], s['huge_pages'], s['workload'], bname))
            base = b['mb_s'] if b else None
        s['x_pg_prewarm'] = s['mb_s'] / base if base else None
        cb = claims.get((s['ra_kb'], s['huge_pages'], s['workload'])) if s['mode'] == 'buffer' else None
        s['x_claims'] = s['mb_s'] / cb['mb_s'] if cb and s['family'] != 'fio' else None
        # against PostgreSQL 18's pg_prewarm with io_method = worker (buffer mode)
        w18 = idx.get((s['ra_kb'], s['huge_pages'], s['workload'], PG18_WORKER_CASE))
        s['x_pg18_worker'] = (s['mb_s'] / w18['mb_s'] if w18 and w18['mb_s'] and s['mode'] == 'buffer'
                              else None)
        if is_scat(s['workload']) or s['workload'] == 'scat':
            lims = [idx.get((s['ra_kb'], HUGE_ANY, 'scat', n)) for n in
                    ('fio rand 8k dio qd32', 'fio rand 8k dio qd128')]
            lims = [x['mb_s'] for x in lims if x]
            lim = max(lims) if lims else None
        else:
            lim = idx.get((s['ra_kb'], HUGE_ANY, 'seq', 'fio seq 128k dio qd32'))
            lim = lim['mb_s'] if lim else None
        s['x_fio'] = s['mb_s'] / lim if lim else None
    return summ


def cells_of(summ):
    """(read-ahead, huge pages) cells in the order measured"""
    out = []
    for s in summ:
        k = (s['ra_kb'], s['huge_pages'])
        if s['huge_pages'] != HUGE_ANY and k not in out:
            out.append(k)
    return out


def cell_title(ra, hp):
    return 'read-ahead %s kB, %s' % (ra, 'huge pages (2 MB)' if hp == 'on' else '4 kB pages')


def sort_rows(rows):
    # stable: workload order, then the order measured (cases alternate as built)
    return sorted(rows, key=lambda s: wl_order(s['workload']))


def markdown(summ, meta):
    lists = meta.get('lists') or {}
    base = meta.get('baseline')
    lines = ['# pg_uring cold-cache benchmark', '',
             '%s. Machine: %s, %d CPUs, %.1f GiB RAM, kernel %s; data on %s (%s, rotational=%s). '
             'PostgreSQL %s, data checksums on, shared_buffers %s MB, huge_pages %s.'
             % (meta['date'], meta['cpu'], meta['ncpu'], meta['mem_gib'], meta['kernel'], meta['device'],
                meta['fs'], meta['rotational'], meta['pg_version'], meta['shared_buffers_mb'],
                meta['huge_pages']),
             '',
             'Dataset: table %d blocks (%.0f MB), primary-key index %d blocks (%.0f MB)%s. Lists are random '
             'distinct blocks of the table, passed sorted: pg_uring = one `pg_uring_prewarm_blocks` call, '
             'pg_prewarm = one `pg_prewarm(rel, mode, \'main\', b, b)` per block in one statement. '
             'Cold = %s, then sync, %s`posix_fadvise(DONTNEED)` on every segment of that cluster. '
             '%d round(s), cases alternating A B C …; default read-ahead of %s: %s kB%s.'
             % (meta['nblocks'], meta['nblocks'] * BLCKSZ / MB, meta['index_nblocks'],
                meta['index_nblocks'] * BLCKSZ / MB,
                ''.join('; %s = %d blocks (%s%%)' % (w, n, fmt(scat_pct(w), 0)) for w, n in
                        sorted(lists.items(), key=lambda x: wl_order(x[0]))),
                meta['cold'], 'drop_caches, ' if meta.get('root', IS_ROOT) else '', meta['rounds'],
                meta['device'], meta['ra_kb'],
                ' (plus %d round(s) at 128 kB)' % meta['ra128_rounds'] if meta.get('ra128_rounds') else ''),
             '']
    if base:
        lines += ['Baseline "claims" = the previous release (%s: buffer mode claims buffers and the ring '
                  'reads straight into them), built against a private copy of the same PostgreSQL, run on '
                  'a copy of the data directory (own port, extension recreated) with its defaults '
                  '(queue_depth %s, combine_limit %s, io_method io_uring), alternating with the other '
                  'cases; only one cluster runs at a time.'
                  % (base.get('rev') or '?', base.get('queue_depth'), base.get('combine_limit')), '']
    lines += ['MB/s = 10^6 bytes/s of 8 kB pages; median [min–max] over rounds. ×pg_prewarm: against '
              '`pg_prewarm` of the same mode, workload and cell; ×claims: against the baseline. '
              'syscalls/page = backend (`/proc/PID/io` syscr+syscw) + ring worker (same) + '
              '`io_uring_enter` calls (pg_uring_stats enter_calls), per page. CPU s/GB = user+system '
              'CPU of backend + worker (all its threads) per GiB. ×fio: against fio 128k O_DIRECT qd32 '
              '(seq, index, verify) or the best of 8k random O_DIRECT qd32/qd128 (lists), same files.', '']
    p18 = meta.get('pg18')
    if p18:
        lines += pg18_paragraphs(meta)
    hdr = ('| workload | case | MB/s median [min–max] | ×pg_prewarm | ×claims | syscalls/page (be+wk+enter) '
           '| CPU s/GB | ×fio | host busy % | runs | counts |')
    if p18:     # two more columns, only with the PostgreSQL 18 anchor (the format stays otherwise)
        hdr = ('| workload | case | MB/s median [min–max] | ×pg_prewarm | ×claims | ×pg18 worker '
               '| syscalls/page (be+wk+enter) | CPU s/GB | cluster CPU s/GB | ×fio | host busy % | runs | counts |')
    for ra, hp in cells_of(summ):
        rows = sort_rows([s for s in summ if s['ra_kb'] == ra and s['huge_pages'] == hp])
        lines += ['## %s' % cell_title(ra, hp), '', hdr, '|' + '---|' * (13 if p18 else 11)]
        for s in rows:
            sp = '%s (%s+%s+%s)' % (fmt(s['syscalls_per_page'], 4), fmt(s['backend_syscalls_per_page'], 3),
                                    fmt(s['worker_syscalls_per_page'], 3), fmt(s['enter_per_page'], 4))
            cols = [s['workload'], ('**%s**' % s['case']) if s['case'] == DEFAULT_RING else s['case'],
                    '%s [%s–%s]' % (fmt(s['mb_s']), fmt(s['mb_s_min'], 0), fmt(s['mb_s_max'], 0)),
                    fmt_x(s['x_pg_prewarm']), fmt_x(s['x_claims'])]
            if p18:
                cols.append(fmt_x(s.get('x_pg18_worker')))
            cols += [sp, fmt(s['cpu_s_per_gb'], 2)]
            if p18:
                cols.append(fmt(s.get('cluster_cpu_s_per_gb'), 2))
            cols += [fmt(s['x_fio'], 2), fmt(s.get('machine_busy_pct'), 0), str(s['runs']),
                     ('ok (%s)' % s['blocks'] if s['blocks'] is not None else 'ok') if s['all_ok'] else '**WRONG**']
            lines.append('| ' + ' | '.join(cols) + ' |')
        lines.append('')
    off = [s for s in summ if s['huge_pages'] == HUGE_ANY]
    if off:
        lines += ['## Limits and offline references (no server running)', '',
                  '| RA kB | test | MB/s median [min–max] | CPU s/GB | runs | ok |', '|---|---|---|---|---|---|']
        for s in off:
            lines.append('| %s | %s | %s [%s–%s] | %s | %d | %s |' % (
                s['ra_kb'], s['case'], fmt(s['mb_s']), fmt(s['mb_s_min'], 0), fmt(s['mb_s_max'], 0),
                fmt(s['cpu_s_per_gb'], 2), s['runs'], 'ok' if s['all_ok'] else '**WRONG**'))
        lines.append('')
    lines += ['host busy % = share of all CPUs busy (any process) during the timed call: '
              'other load on the machine makes numbers noisy. CPU seconds come from 10 ms ticks: '
              'on small tables they are coarse.', '']
    lines += targets(summ, meta)
    if p18:
        lines += pg18_targets(summ)
    if failures:
        lines += ['## FAILURES', ''] + ['- ' + f for f in failures] + ['']
    if warnings:
        lines += ['## Warnings', ''] + ['- ' + w for w in sorted(set(warnings))] + ['']
    lines += ['Runtime: %.0f s (dataset %.0f s).' % (meta['elapsed_s'], meta['load_s']), '']
    return '\n'.join(lines)


def target_ratios(summ):
    """{(ra, huge, workload): (ring default / pg_prewarm buffer, ring s, pg_prewarm s)}"""
    idx = {(s['ra_kb'], s['huge_pages'], s['workload'], s['case']): s for s in summ}
    out = {}
    for ra, hp in cells_of(summ):
        for w in sorted({s['workload'] for s in summ}, key=wl_order):
            r, p = idx.get((ra, hp, w, DEFAULT_RING)), idx.get((ra, hp, w, 'pg_prewarm/buffer'))
            if r and p and p['mb_s']:
                out[(ra, hp, w)] = (r['mb_s'] / p['mb_s'], r, p)
    return out


def targets(summ, meta):
    """issue 8's targets, with the defaults (informational: the script does not fail on them)"""
    ratios = target_ratios(summ)
    cells = cells_of(summ)
    hpname = {'on': 'huge', 'off': '4 kB'}
    out = ['## Targets (issue 8), pg_uring defaults (%s) vs pg_prewarm/buffer' % DEFAULT_RING, '',
           '| target | measured | result |', '|---|---|---|']

    def where(k):
        return '%s, RA %s kB, %s' % (k[2], k[0], hpname.get(k[1], k[1]))

    def row(text, keys, want, detail=True):
        keys = [k for k in keys if k in ratios]
        if not keys:
            out.append('| %s | not measured | – |' % text)
            return
        worst = min(keys, key=lambda k: ratios[k][0])
        x = ratios[worst][0]
        below = [k for k in keys if ratios[k][0] < want]
        if detail and len(keys) > 1:
            more = '; per cell: ' + ', '.join('%s (RA %s kB, %s)' % (fmt_x(ratios[k][0]), k[0], hpname.get(k[1], k[1]))
                                             for k in keys)
        else:
            more = '; %d of %d cells below %.2f×' % (len(below), len(keys), want)
        out.append('| %s | %s (worst: %s)%s | %s |' % (
            text, fmt_x(x), where(worst), more, '**PASS**' if x >= want else '**MISS**'))

    tw = [w for w in sorted({k[2] for k in ratios}, key=wl_order) if w == 'seq' or is_scat(w)]
    row('never slower than pg_prewarm beyond 5%% noise (≥ %.2f×) in any cell (%s × read-ahead × page size)'
        % (NOISE, ', '.join(tw) or 'seq, lists'),
        [(ra, hp, w) for ra, hp in cells for w in tw], NOISE, detail=False)
    row('≥ 1.5× on seq at 128 kB read-ahead', [(ra, hp, 'seq') for ra, hp in cells if ra == 128], 1.5)
    row('≥ 4× on scat10 (10% scattered)', [(ra, hp, 'scat10') for ra, hp in cells], 4.0)
    row('≥ 2.5× on scat40 (40% scattered)', [(ra, hp, 'scat40') for ra, hp in cells], 2.5)
    out.append('')
    # the ratio matrix behind them (and against the baseline)
    wls = sorted({k[2] for k in ratios}, key=wl_order)
    if ratios:
        out += ['%s × pg_prewarm/buffer (× claims) per cell:' % DEFAULT_RING, '',
                '| workload | ' + ' | '.join('RA %s kB, %s' % (ra, hpname.get(hp, hp)) for ra, hp in cells) + ' |',
                '|---|' + '---|' * len(cells)]
        for w in wls:
            vals = []
            for ra, hp in cells:
                t = ratios.get((ra, hp, w))
                xc = t[1].get('x_claims') if t else None
                vals.append('–' if not t else fmt_x(t[0]) + (' (%s)' % fmt_x(xc) if xc else ''))
            out.append('| %s | %s |' % (w, ' | '.join(vals)))
        out.append('')
    if not any(ra == 128 for ra, _ in cells):
        out += ['No 128 kB read-ahead round ran (needs root and BENCH_RA128=1).', '']
    return out


PG18_PREFIX = 'pg18 pg_prewarm/buffer io_method='


def pg18_paragraphs(meta):
    p = meta['pg18']
    cpu = ('cluster CPU s/GB = user+system CPU of the WHOLE cluster during the call, per GiB: the '
           'postmaster\'s utime+stime+cutime+cstime (cutime/cstime hold the children it has reaped, e.g. '
           'helper workers that exited during the call) plus utime+stime+cutime+cstime of every live '
           'descendant (backends, io workers, the pg_uring worker and helpers, with all their threads), '
           'read from /proc before and after the timed call; the postmaster is read before and after the '
           'descendants and the scan repeated if a child was reaped in between. It leaves out kernel '
           'threads (kworkers, block-layer completions) that work for the cluster; the CPU s/GB column '
           'before it counts only the backend and the pg_uring ring worker (none on PostgreSQL 18, whose '
           'io workers are in the cluster figure only).')
    return ['PostgreSQL 18 anchor ("pg18 …" rows): PostgreSQL %s from the Debian sid root %s '
            '(test/debroot.sh), its cluster in %s (port %s; data checksums %s; same disk as the other '
            'clusters), the same table from the same generator and SQL: table %d blocks (PostgreSQL 15: %d), '
            'index %d blocks (15: %d). Same shared_buffers, huge_pages and other settings as the '
            'PostgreSQL 15 cluster (without pg_uring); contrib `pg_prewarm` called exactly as on 15 '
            '(whole relation: `pg_prewarm(rel, \'buffer\')`; lists: one `pg_prewarm(rel, \'buffer\', '
            '\'main\', b, b)` per block in one statement). Cold the same way: the server restarted with '
            'the case\'s io_method (%s), sync, drop_caches, DONTNEED on its segment files. Left at their '
            'defaults: io_workers %s, io_combine_limit %s, effective_io_concurrency %s. Only one cluster '
            'runs at a time (every other one is stopped before a case), so only the measured cluster holds '
            'shared memory and huge pages. ×pg18 worker = MB/s over `%s` of the same workload and cell.'
            % (p.get('version'), p.get('root'), p.get('pgdata'), p.get('port'), p.get('data_checksums'),
               p.get('nblocks', 0), meta['nblocks'], p.get('index_nblocks', 0), meta['index_nblocks'],
               ', '.join(p.get('io_methods') or []), p.get('io_workers'), p.get('io_combine_limit'),
               p.get('effective_io_concurrency'), PG18_WORKER_CASE), '', cpu, '',
            'On the pg18 rows, syscalls/page counts only the backend\'s read/write calls: not the io '
            'workers\', nor io_uring_enter (io_method = io_uring).', '']


def pg18_ratios(summ):
    """{(ra, huge, workload): {io_method: pg_uring default MB/s / PG18 MB/s}}"""
    idx = {(s['ra_kb'], s['huge_pages'], s['workload'], s['case']): s for s in summ}
    methods = []
    for s in summ:
        if s['case'].startswith(PG18_PREFIX) and s['case'][len(PG18_PREFIX):] not in methods:
            methods.append(s['case'][len(PG18_PREFIX):])
    out = {}
    for ra, hp in cells_of(summ):
        for w in sorted({s['workload'] for s in summ}, key=wl_order):
            r = idx.get((ra, hp, w, DEFAULT_RING))
            if not r:
                continue
            for m in methods:
                p = idx.get((ra, hp, w, PG18_PREFIX + m))
                if p and p['mb_s']:
                    out.setdefault((ra, hp, w), {})[m] = r['mb_s'] / p['mb_s']
    return out, methods


def pg18_targets(summ):
    """issue 14's targets against PostgreSQL 18 (informational)"""
    ratios, methods = pg18_ratios(summ)
    cells = cells_of(summ)
    hpname = {'on': 'huge', 'off': '4 kB'}
    out = ['## pg_uring defaults (%s) vs PostgreSQL 18 pg_prewarm/buffer (issue 14)' % DEFAULT_RING, '']
    if not ratios:
        return out + ['No PostgreSQL 18 case ran next to the default ring case.', '']
    out += ['| target | measured | result |', '|---|---|---|']

    def row(text, keys, fn, want):
        keys = [k for k in keys if k in ratios and fn(ratios[k]) is not None]
        if not keys:
            out.append('| %s | not measured | – |' % text)
            return
        worst = min(keys, key=lambda k: fn(ratios[k]))
        x = fn(ratios[worst])
        per = ', '.join('%s (RA %s kB, %s)' % (fmt_x(fn(ratios[k])), k[0], hpname.get(k[1], k[1])) for k in keys)
        out.append('| %s | %s; per cell: %s | %s |' % (text, fmt_x(x), per, '**PASS**' if x >= want else '**MISS**'))

    row('seq: at least as fast as io_method = worker (≥ 1×), 4 kB and huge pages',
        [(ra, hp, 'seq') for ra, hp in cells], lambda d: d.get('worker'), 1.0)
    row('scat10: ≥ 4× every PostgreSQL 18 io_method', [(ra, hp, 'scat10') for ra, hp in cells],
        lambda d: min(d.values()) if d else None, 4.0)
    out += ['', '%s × PostgreSQL 18 pg_prewarm/buffer per cell (%s):'
            % (DEFAULT_RING, ' / '.join('×' + m for m in methods)), '',
            '| workload | ' + ' | '.join('RA %s kB, %s' % (ra, hpname.get(hp, hp)) for ra, hp in cells) + ' |',
            '|---|' + '---|' * len(cells)]
    for w in sorted({k[2] for k in ratios}, key=wl_order):
        vals = []
        for ra, hp in cells:
            d = ratios.get((ra, hp, w))
            vals.append(' / '.join(fmt_x(d.get(m)) for m in methods) if d else '–')
        out.append('| %s | %s |' % (w, ' | '.join(vals)))
    out.append('')
    return out


def plot(summ, meta, png):
    if not shutil.which('gnuplot'):
        warn('gnuplot not installed; no plot')
        return
    d = os.path.join(OUT, 'plot')
    os.makedirs(d, exist_ok=True)
    ra = meta['ra_kb']
    hp = meta['plot_huge']
    base = [s for s in summ if s['ra_kb'] == ra and s['huge_pages'] == hp and s['mode'] == 'buffer']
    wls = sorted({s['workload'] for s in base}, key=wl_order)
    methods = []
    for s in base:
        if s['case'] not in methods:
            methods.append(s['case'])
    if not wls or not methods:
        warn('nothing to plot')
        return
    # panel 1: MB/s, one cluster per workload, one bar per method (median, min, max)
    with open(os.path.join(d, 'bars.dat'), 'w') as f:
        f.write('# workload ' + ' '.join('"%s" min max' % m for m in methods) + '\n')
        for w in wls:
            row = ['"%s"' % w]
            for m in methods:
                s = next((x for x in base if x['case'] == m and x['workload'] == w), None)
                row += (['%.2f' % s['mb_s'], '%.2f' % s['mb_s_min'], '%.2f' % s['mb_s_max']] if s
                        else ['NaN', 'NaN', 'NaN'])
            f.write(' '.join(row) + '\n')
    # panel 2: the default ring's ratio to pg_prewarm, per workload and cell
    ratios = target_ratios(summ)
    cells = cells_of(summ)
    with open(os.path.join(d, 'ratios.dat'), 'w') as f:
        f.write('# workload ' + ' '.join('"RA %s %s"' % c for c in cells) + '\n')
        for w in sorted({k[2] for k in ratios}, key=wl_order):
            f.write('"%s" %s\n' % (w, ' '.join('%.3f' % ratios[(c[0], c[1], w)][0] if (c[0], c[1], w) in ratios
                                               else 'NaN' for c in cells)))
    # panel 3 (with the PostgreSQL 18 anchor): the default ring's ratio to PG18 io_method = worker
    r18, _ = pg18_ratios(summ)
    r18 = {k: v['worker'] for k, v in r18.items() if 'worker' in v}
    if r18:
        with open(os.path.join(d, 'ratios18.dat'), 'w') as f:
            f.write('# workload ' + ' '.join('"RA %s %s"' % c for c in cells) + '\n')
            for w in sorted({k[2] for k in r18}, key=wl_order):
                f.write('"%s" %s\n' % (w, ' '.join('%.3f' % r18[(c[0], c[1], w)] if (c[0], c[1], w) in r18
                                                   else 'NaN' for c in cells)))
    npanel, height = (3, 1700) if r18 else (2, 1200)
    gp = ['set terminal pngcairo size 1600,%d font "DejaVu Sans,10"' % height if _has_cairo()
          else 'set terminal png size 1600,%d' % height,
          'set output "%s"' % png, 'set termoption noenhanced',
          'set multiplot layout %d,1 title "pg_uring cold-cache prewarm (buffer mode), %d-block table"'
          % (npanel, meta['nblocks']),
          'set style data histograms', 'set style histogram errorbars gap 2 lw 1',
          'set style fill solid 0.7 border -1', 'set boxwidth 0.9',
          'set ylabel "MB/s"', 'set grid ytics', 'set key top right', 'set yrange [0:*]',
          'set title "MB/s per method and workload, %s (median, min-max bars)"' % cell_title(ra, hp)]
    parts = []
    for i, m in enumerate(methods):
        col = 2 + 3 * i
        parts.append('"%s/bars.dat" using %d:%d:%d%s title "%s"' % (
            d, col, col + 1, col + 2, ':xtic(1)' if i == 0 else '', m))
    gp.append('plot ' + ', '.join(parts))
    if ratios:
        gp += ['set style histogram clustered gap 2', 'set ylabel "x pg_prewarm/buffer"',
               'set title "%s / pg_prewarm/buffer per cell (targets: >= 0.95 everywhere, seq at 128 kB >= 1.5, '
               'scat10 >= 4, scat40 >= 2.5)"' % DEFAULT_RING]
        parts = ['"%s/ratios.dat" using %d%s title "RA %s kB, %s"' % (
            d, 2 + i, ':xtic(1)' if i == 0 else '', c[0], 'huge pages' if c[1] == 'on' else '4 kB pages')
            for i, c in enumerate(cells)]
        parts.append('1 with lines lc rgb "black" dt 2 notitle')
        gp.append('plot ' + ', '.join(parts))
    if r18:
        gp += ['set style histogram clustered gap 2', 'set ylabel "x pg18 worker"',
               'set title "%s / PostgreSQL 18 pg_prewarm/buffer io_method=worker per cell (targets: seq >= 1, '
               'scat10 >= 4 against every io_method)"' % DEFAULT_RING]
        parts = ['"%s/ratios18.dat" using %d%s title "RA %s kB, %s"' % (
            d, 2 + i, ':xtic(1)' if i == 0 else '', c[0], 'huge pages' if c[1] == 'on' else '4 kB pages')
            for i, c in enumerate(cells)]
        parts.append('1 with lines lc rgb "black" dt 2 notitle')
        gp.append('plot ' + ', '.join(parts))
    gp.append('unset multiplot')
    with open(os.path.join(d, 'plot.gp'), 'w') as f:
        f.write('\n'.join(gp) + '\n')
    r = run(['gnuplot', os.path.join(d, 'plot.gp')], capture=True, check=False)
    if r.returncode != 0:
        warn('gnuplot failed: ' + r.stdout[-500:])


def _has_cairo():
    r = run(['gnuplot', '-e', 'set terminal'], capture=True, check=False)
    return 'pngcairo' in (r.stdout or '')


def machine_meta(ds, cl, dev, ra_kb):
    cpu = 'unknown CPU'
    try:
        m = re.search(r'model name\s*:\s*(.*)', read_file('/proc/cpuinfo'))
        cpu = m.group(1).strip() if m else cpu
    except OSError:
        pass
    mem = int(re.search(r'MemTotal:\s+(\d+)', read_file('/proc/meminfo')).group(1)) / 2**20
    fs = run(['df', '--output=fstype', cl.pgdata], capture=True, check=False).stdout.split()[-1]
    rot = get_ra('/sys/block/%s/queue/rotational' % dev)
    pgv = run([os.path.join(cl.bindir, 'postgres'), '--version'], capture=True, check=False).stdout.strip()
    return {'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), 'cpu': cpu, 'ncpu': os.cpu_count(),
            'mem_gib': mem, 'kernel': platform.release(), 'device': dev, 'fs': fs, 'rotational': rot,
            'pg_version': (re.findall(r'\d+\.\d+', pgv) or ['?'])[0], 'shared_buffers_mb': cl.shared_buffers_mb,
            'nblocks': ds.nblocks, 'index_nblocks': ds.index_nblocks,
            'lists': {w: len(b) for w, b in ds.blocks.items()},
            'ra_kb': ra_kb, 'rounds': ROUNDS, 'quick': QUICK, 'root': IS_ROOT, 'size_mb': SIZE_MB,
            'queue_size': QUEUE_SIZE, 'ring_entries': RING_ENTRIES, 'load_s': ds.load_seconds}


# ------------------------------------------------------------------ main --
def main():
    global WORKLOADS
    t_start = time.time()
    os.makedirs(OUT, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    WORKLOADS = check_workloads(WORKLOADS)
    huge_modes = {'0': ['off'], '1': ['on'], 'both': ['off', 'on']}.get(HUGE)
    if huge_modes is None:
        raise BenchFailure('BENCH_HUGE must be 0, 1 or both')
    if BASE_BINDIR and not os.path.exists(os.path.join(BASE_BINDIR, 'postgres')):
        raise BenchFailure('BENCH_BASE_BINDIR %s has no postgres binary' % BASE_BINDIR)
    cl = Cluster('main', BINDIR, PGDATA, PORT, SERVER_LOG)
    clusters = [cl]
    base, base_info = None, None
    pg18, pg18_info = None, None
    dev, ra_path = None, None
    ra_orig = None
    hp_orig = None
    results = []
    meta = {}
    try:
        log('initdb --data-checksums in %s (port %d)%s' % (PGDATA, PORT, '' if IS_ROOT else ' [not root: '
            'no drop_caches, no read-ahead change, no huge pages]'))
        cl.initdb()
        cl.start()
        ds = build_dataset(cl)
        dev, ra_path = data_device()
        ra_orig = get_ra(ra_path)
        log('data directory on /dev/%s, read-ahead %s kB (%s)' % (dev, ra_orig, ra_path))
        # size shared buffers to hold table + index, plus 1 GB
        need_mb = (ds.nblocks + ds.index_nblocks) * BLCKSZ // (1 << 20)
        cl.shared_buffers_mb = int(env('BENCH_SHARED_BUFFERS_MB', str(need_mb + 1024)))
        cl.stop()
        cl.write_case_conf('off')
        if BASE_BINDIR:
            base, base_info = setup_baseline(cl, ds)
            clusters.append(base)
        if PG18:
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
               'pg_uring_evict' if COLD == 'evict' and cl.has_evict else 'server restart'))
        if COLD == 'evict' and not cl.has_evict:
            warn('BENCH_COLD=evict but pg_uring_evict() does not exist; restarting instead')
        if FIO and not shutil.which('fio'):
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
        if RA_ROUND and IS_ROOT and ra_path and ra_orig is not None and ra_orig != 128:
            ra_rounds = RA_ROUNDS
        elif RA_ROUND and not IS_ROOT:
            log('not root: no round at 128 kB read-ahead')
        plan = [(ra_orig, ROUNDS)] + ([(128, ra_rounds)] if ra_rounds else [])
        per_round = sum(len([w for w in c.workloads if w in WORKLOADS]) for c in cases) * len(huge_modes)
        ntotal = sum(n for _, n in plan) * per_round
        log('%d cases (%s); %d cold runs per round, %d in all, plus fio and pg_checksums'
            % (len(cases), ', '.join(c.name for c in cases), per_round, ntotal))
        if COLD == 'evict' and cl.has_evict:
            # evicting keeps shared memory mapped: touch it all once first, so
            # that the first case does not pay every first-touch page fault
            with cl.connect() as c:
                c.query("SELECT pg_prewarm('%s'), pg_prewarm('%s')" % (TABLE, INDEX))
        rnd_no = 0
        for ra_kb, nrounds in plan:
            if ra_kb != ra_orig:
                with open(os.path.join(SCRATCH, 'ra_restore'), 'w') as f:
                    f.write('%s %d\n' % (ra_path, ra_orig))
                if not set_ra(ra_path, dev, ra_kb):
                    warn('could not set read-ahead to %d kB; skipped those rounds' % ra_kb)
                    continue
                log('read-ahead of %s set to %d kB' % (dev, ra_kb))
            for _ in range(nrounds):
                rnd_no += 1
                t_round = time.time()
                log('---- round %d (read-ahead %s kB) ----' % (rnd_no, ra_kb))
                for w in WORKLOADS:
                    for case in round_order(cases, rnd_no):
                        if w not in case.workloads:
                            continue
                        for h in huge_modes:
                            x = by_name[case.cluster]
                            results.append(run_case(x, clusters, ds, case, w, rnd_no,
                                                    {'ra_kb': ra_kb, 'huge': h}))
                if cl.has_verify and 'seq' in WORKLOADS and (not CASE_FILTER or re.search(CASE_FILTER, 'pg_checksums')):
                    results.append(run_pg_checksums(cl, clusters, ds, rnd_no, {'ra_kb': ra_kb}))
                if FIO and shutil.which('fio'):
                    results += run_fio(cl, clusters, ds, rnd_no, {'ra_kb': ra_kb})
                log('round %d took %.0f s' % (rnd_no, time.time() - t_round))
            if ra_kb != ra_orig:
                set_ra(ra_path, dev, ra_orig)
                os.unlink(os.path.join(SCRATCH, 'ra_restore'))
                log('read-ahead of %s restored to %d kB' % (dev, ra_orig))

        # every method must have run, on every workload, with the right counts
        for case in cases:
            for w in WORKLOADS:
                if w in case.workloads and not any(r['case'] == case.name and r['workload'] == w and r['ok']
                                                   for r in results):
                    fail('%s on %s never ran successfully' % (case.name, w))

        meta = machine_meta(ds, cl, dev, ra_orig)
        meta.update(cold='server restart' if not (COLD == 'evict' and cl.has_evict) else 'pg_uring_evict()',
                    huge_pages={'0': 'off', '1': 'on', 'both': 'off and on, alternating'}[HUGE],
                    plot_huge=huge_modes[0], ra128_rounds=ra_rounds,
                    elapsed_s=time.time() - t_start, has_evict=cl.has_evict, has_verify=cl.has_verify,
                    default_ring=DEFAULT_RING, ring_configs=ring_configs(), workloads=WORKLOADS,
                    baseline=base_info)
        if pg18_info:
            meta['pg18'] = pg18_info
    finally:
        if ra_path and os.path.exists(os.path.join(SCRATCH, 'ra_restore')):
            set_ra(ra_path, dev, ra_orig)
            os.unlink(os.path.join(SCRATCH, 'ra_restore'))
            log('read-ahead of %s restored to %s kB' % (dev, ra_orig))
        for x in clusters:
            try:
                x.stop()
            except Exception as e:          # noqa: BLE001 -- keep restoring
                log('stopping the %s cluster: %s' % (x.name, e))
        if hp_orig is not None and os.path.exists(os.path.join(SCRATCH, 'hugepages_restore')):
            with open('/proc/sys/vm/nr_hugepages', 'w') as f:
                f.write('%d\n' % hp_orig)
            os.unlink(os.path.join(SCRATCH, 'hugepages_restore'))
            log('vm.nr_hugepages restored to %d' % hp_orig)

    summ = summarize(results)
    meta['elapsed_s'] = time.time() - t_start
    md = markdown(summ, meta)
    with open(os.path.join(OUT, 'results.md'), 'w') as f:
        f.write(md)
    keys = []
    for r in results:
        for k in r:
            if k not in keys:
                keys.append(k)
    # the cluster CPU columns go last, so that the others keep their places
    keys = [k for k in keys if k not in CLUSTER_KEYS] + [k for k in keys if k in CLUSTER_KEYS]
    with open(os.path.join(OUT, 'results.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(results)
    with open(os.path.join(OUT, 'results.json'), 'w') as f:
        json.dump({'meta': meta, 'summary': summ, 'runs': results, 'failures': failures,
                   'warnings': sorted(set(warnings))}, f, indent=1, default=str)
    plot(summ, meta, os.path.join(OUT, 'results.png'))
    print()
    print(md)
    print('results: %s/results.{md,csv,json,png}' % OUT)
    if failures:
        print('\nBENCHMARK FAILED: %d problem(s):' % len(failures), file=sys.stderr)
        for f_ in failures:
            print('  - ' + f_, file=sys.stderr)
        return 1
    return 0


def report_only(path):
    """re-make results.md and the plot from a results.json"""
    global DEFAULT_RING
    j = json.load(open(path))
    meta, runs = j['meta'], j['runs']
    failures.extend(j.get('failures', []))
    warnings.extend(j.get('warnings', []))
    DEFAULT_RING = meta.get('default_ring', DEFAULT_RING)
    os.makedirs(OUT, exist_ok=True)
    for r in runs:
        if r.get('family') not in ('fio', 'pg_checksums'):
            r['family'] = family_of(r['case'])
    summ = summarize(runs)
    md = markdown(summ, meta)
    with open(os.path.join(OUT, 'results.md'), 'w') as f:
        f.write(md)
    plot(summ, meta, os.path.join(OUT, 'results.png'))
    print(md)
    return 0


if __name__ == '__main__':
    if len(sys.argv) == 3 and sys.argv[1] == '--report':
        sys.exit(report_only(sys.argv[2]))
    try:
        sys.exit(main())
    except BenchFailure as e:
        print('bench: %s' % e, file=sys.stderr)
        sys.exit(2)
