#!/usr/bin/env python3
"""pg_uring cold-cache benchmark driver (called by test/bench/run.sh).

See run.sh for the environment variables.  Stdlib only.

Per case: make the relation cold (restart the server, or pg_uring_evict when
BENCH_COLD=evict and it exists; then sync, drop_caches when root, and
posix_fadvise(DONTNEED) on every segment file), open a fresh backend, set the
GUCs, snapshot /proc of the backend and the ring worker plus pg_uring_stats,
run ONE statement, snapshot again.  Cases alternate A B C A B C over rounds.
"""
import csv
import ctypes
import ctypes.util
import datetime
import glob
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
SIZE_MB = int(env('BENCH_SIZE_MB', '300' if QUICK else '2048'))
ROUNDS = int(env('BENCH_ROUNDS', '1' if QUICK else '3'))
NBLOCKS_LIST = int(env('BENCH_BLOCKS', '10000' if QUICK else '100000'))
QDS = [int(x) for x in env('BENCH_QDS', '4 64' if QUICK else '4 16 64').split()]
COMBINES = [int(x) for x in env('BENCH_COMBINES', '32' if QUICK else '16 32').split()]
DEF_QD = int(env('BENCH_DEFAULT_QD', '16'))
DEF_COMBINE = int(env('BENCH_DEFAULT_COMBINE', '16'))
WORKLOADS = env('BENCH_WORKLOADS', 'seq index scattered').split()
COLD = env('BENCH_COLD', 'restart')          # restart | evict
HUGE = env('BENCH_HUGE', '0')                 # 0 | 1 | both
RA_ROUND = env('BENCH_RA128', '0' if QUICK else '1') == '1'   # extra round(s) at 128 kB read-ahead (root)
RA_ROUNDS = int(env('BENCH_RA_ROUNDS', '1'))
FIO = env('BENCH_FIO', '1') == '1'
FIO_RUNTIME = int(env('BENCH_FIO_RUNTIME', '2' if QUICK else '8'))
QUEUE_SIZE = int(env('BENCH_QUEUE_SIZE', '128'))
RING_ENTRIES = int(env('BENCH_RING_ENTRIES', '512'))
SEED = int(env('BENCH_SEED', '20240615'))
CASE_FILTER = env('BENCH_CASES', '')          # regex on case names
PG_USER = 'postgres' if IS_ROOT else None
AS_PG = ['runuser', '-u', 'postgres', '--'] if IS_ROOT else []
PGDATA = os.path.join(SCRATCH, 'data')
SERVER_LOG = os.path.join(SCRATCH, 'server.log')
DB = 'bench'
TABLE = 'bench_table'
INDEX = 'bench_table_pkey'
FLUSH_TABLE = 'bench_flush'
FLUSH_MB = int(env('BENCH_FLUSH_MB', '64' if QUICK else '512'))
FLUSH_ROWS_PER_PAGE = 30        # char(84) rows at fillfactor 50

failures = []      # hard failures: wrong counts, errors, methods not run
warnings = []      # soft findings worth reporting


def fail(msg):
    failures.append(msg)
    log('FAIL: ' + msg)


def warn(msg):
    warnings.append(msg)
    log('WARNING: ' + msg)


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
    def __init__(self):
        self.conf_case = os.path.join(PGDATA, 'bench_case.conf')
        self.shared_buffers_mb = 1024
        self.huge = 'off'

    def pgctl(self, *args, check=True):
        return run(AS_PG + [os.path.join(BINDIR, 'pg_ctl'), '-D', PGDATA, '-l', SERVER_LOG] + list(args),
                   check=check, capture=True)

    def initdb(self):
        r = run(AS_PG + [os.path.join(BINDIR, 'initdb'), '--data-checksums', '-A', 'trust',
                         '-U', 'postgres', '-E', 'UTF8', '--locale=C', '-D', PGDATA],
                capture=True, check=False)
        if r.returncode != 0:
            raise BenchFailure('initdb failed:\n' + r.stdout)
        with open(os.path.join(PGDATA, 'postgresql.conf'), 'a') as f:
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
include_if_exists = 'bench_case.conf'
""" % (PORT, SCRATCH, QUEUE_SIZE, RING_ENTRIES))
        self.write_case_conf()

    def write_case_conf(self, huge=None):
        if huge is not None:
            self.huge = huge
        with open(self.conf_case, 'w') as f:
            f.write("shared_buffers = '%dMB'\nhuge_pages = %s\n" % (self.shared_buffers_mb, self.huge))
        if IS_ROOT:
            shutil.chown(self.conf_case, 'postgres', 'postgres')

    def running(self):
        return os.path.exists(os.path.join(PGDATA, 'postmaster.pid'))

    hp_need = 0
    hp_late = []

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
            log('start with huge pages failed (attempt %d); retrying' % (attempt + 1))
            time.sleep(0.2)
        if r.returncode != 0:
            tail = ''
            try:
                tail = ''.join(open(SERVER_LOG).readlines()[-20:])
            except OSError:
                pass
            raise BenchFailure('server did not start:\n%s\n%s' % (r.stdout, tail))

    def stop(self, mode='fast'):
        if not self.running():
            return
        r = self.pgctl('-w', '-t', '120', '-m', mode, 'stop', check=False)
        if r.returncode != 0 and mode != 'immediate':
            warn('pg_ctl stop -m %s failed (%s); stopping immediately' % (mode, r.stdout.strip()))
            self.pgctl('-w', '-m', 'immediate', 'stop', check=False)

    def connect(self, dbname=DB):
        last = None
        for _ in range(100):
            try:
                return pgwire.Conn(SCRATCH, PORT, 'postgres', dbname)
            except (OSError, pgwire.PGError) as e:      # starting up
                last = e
                time.sleep(0.1)
        raise BenchFailure('cannot connect: %s' % last)

    def huge_pages_needed(self):
        r = run(AS_PG + [os.path.join(BINDIR, 'postgres'), '-D', PGDATA, '-C',
                         'shared_memory_size_in_huge_pages'], capture=True, check=False)
        try:
            return int(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchFailure('postgres -C shared_memory_size_in_huge_pages: ' + r.stdout)


# --------------------------------------------------------------- the cases --
def family_of(name):
    """'ring+dio/buffer qd4 c32' -> 'ring+dio'"""
    return name.split('/')[0].split(' ')[0]


class Case:
    def __init__(self, name, kind, mode='buffer', io_method=None, direct=False,
                 qd=None, combine=None, workloads=('seq', 'index', 'scattered')):
        self.name, self.kind, self.mode = name, kind, mode
        self.io_method, self.direct, self.qd, self.combine = io_method, direct, qd, combine
        self.workloads = workloads

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
        return s

    def call_sql(self, workload, ds):
        rel = INDEX if workload == 'index' else TABLE
        if self.kind == 'prewarm':
            if workload == 'scattered':
                return ("SELECT sum(pg_prewarm('%s', '%s', 'main', b, b))::int8 FROM unnest('%s'::int8[]) b"
                        % (TABLE, self.mode, ds.blocks_literal))
            return "SELECT pg_prewarm('%s', '%s')" % (rel, self.mode)
        if self.kind == 'uring':
            if workload == 'scattered':
                return ("SELECT pg_uring_prewarm_blocks('%s', '%s'::int8[], '%s')"
                        % (TABLE, ds.blocks_literal, self.mode))
            return "SELECT pg_uring_prewarm('%s', '%s')" % (rel, self.mode)
        if self.kind == 'verify':
            return "SELECT count(*) FROM pg_uring_verify('%s', 'main')" % rel
        if self.kind == 'flush':
            return "SELECT flushed FROM pg_uring_flush('%s')" % FLUSH_TABLE
        raise ValueError(self.kind)


def build_cases(has_verify):
    cases = [Case('pg_prewarm/buffer', 'prewarm', 'buffer'),
             Case('pg_prewarm/read', 'prewarm', 'read'),
             Case('sync/buffer', 'uring', 'buffer', 'sync'),
             Case('ring/read qd%d c%d' % (DEF_QD, DEF_COMBINE), 'uring', 'read', 'io_uring',
                  False, DEF_QD, DEF_COMBINE)]
    for direct in (False, True):
        for c in COMBINES:
            for q in QDS:
                cases.append(Case('%s/buffer qd%d c%d' % ('ring+dio' if direct else 'ring', q, c),
                                  'uring', 'buffer', 'io_uring', direct, q, c))
    cases += [Case('flush-sync', 'flush', 'flush', 'sync', workloads=('seq',)),
              Case('flush-ring qd%d' % DEF_QD, 'flush', 'flush', 'io_uring', False, DEF_QD,
                   workloads=('seq',))]
    if has_verify:
        cases += [Case('verify-sync', 'verify', 'verify', 'sync', workloads=('seq', 'index')),
                  Case('verify-ring qd%d c32' % max(QDS), 'verify', 'verify', 'io_uring', False,
                       max(QDS), 32, workloads=('seq', 'index')),
                  Case('verify-ring+dio qd%d c32' % max(QDS), 'verify', 'verify', 'io_uring', True,
                       max(QDS), 32, workloads=('seq', 'index'))]
    if CASE_FILTER:
        cases = [c for c in cases if re.search(CASE_FILTER, c.name)]
    return cases


# ------------------------------------------------------------- dataset --
class Dataset:
    pass


def copy_rows(nrows):
    step = 200000
    for start in range(1, nrows + 1, step):
        end = min(nrows, start + step - 1)
        yield ''.join('%d\t%d\t0\t\n' % (i, (i - 1) // 100000 + 1)
                      for i in range(start, end + 1)).encode()


def build_dataset(cl):
    ds = Dataset()
    rows_per_page = 61          # pgbench_accounts-like rows: 61 per 8 kB page
    nrows = SIZE_MB * (1 << 20) // BLCKSZ * rows_per_page
    log('loading %s: %d rows (~%d MB) with COPY FREEZE, then its primary key'
        % (TABLE, nrows, SIZE_MB))
    t0 = time.time()
    with cl.connect('postgres') as c:
        c.query('CREATE DATABASE %s' % DB)
    with cl.connect() as c:
        c.query('CREATE EXTENSION pg_uring')
        c.query('CREATE EXTENSION pg_prewarm')
        c.query('CREATE EXTENSION pg_buffercache')
        c.query('BEGIN')
        c.query('CREATE TABLE %s (aid int8 NOT NULL, bid int4, abalance int4, filler char(84)) '
                'WITH (autovacuum_enabled = off)' % TABLE)
        c.copy_in('COPY %s FROM STDIN WITH (FREEZE)' % TABLE, copy_rows(nrows))
        c.query('COMMIT')
        c.query('ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY (aid)' % (TABLE, INDEX))
        c.query('ANALYZE %s' % TABLE)
        c.query('CHECKPOINT')
        ds.nblocks = int(c.scalar("SELECT pg_relation_size('%s') / 8192" % TABLE))
        ds.index_nblocks = int(c.scalar("SELECT pg_relation_size('%s') / 8192" % INDEX))
        ds.table_path = os.path.join(PGDATA, c.scalar("SELECT pg_relation_filepath('%s')" % TABLE))
        ds.index_path = os.path.join(PGDATA, c.scalar("SELECT pg_relation_filepath('%s')" % INDEX))
        ds.table_filenode = int(c.scalar("SELECT pg_relation_filenode('%s')" % TABLE))
        ds.has_evict = c.scalar("SELECT count(*) > 0 FROM pg_proc WHERE proname = 'pg_uring_evict'") == 't'
        ds.has_verify = c.scalar("SELECT count(*) > 0 FROM pg_proc WHERE proname = 'pg_uring_verify'") == 't'
        # the scattered list: random distinct blocks of the table, in the
        # order autoprewarm would restore them (sorted by block number)
        n = min(NBLOCKS_LIST, ds.nblocks * 3 // 8)
        rnd = random.Random(SEED)
        ds.blocks = sorted(rnd.sample(range(ds.nblocks), n))
        ds.blocks_literal = '{' + ','.join(map(str, ds.blocks)) + '}'
        # the flush case dirties one row per page of this table with HOT
        # updates (fillfactor 50), so that its size never changes
        c.query('CREATE TABLE %s (id int8, v int4, filler char(84)) '
                'WITH (fillfactor = 50, autovacuum_enabled = off)' % FLUSH_TABLE)
        c.query("INSERT INTO %s SELECT g, 0, '' FROM generate_series(1, %d) g"
                % (FLUSH_TABLE, FLUSH_MB * (1 << 20) // BLCKSZ * FLUSH_ROWS_PER_PAGE))
        ds.flush_nblocks = int(c.scalar("SELECT pg_relation_size('%s') / 8192" % FLUSH_TABLE))
        c.query('CREATE TABLE bench_blocks (blk int8)')
        c.copy_in('COPY bench_blocks FROM STDIN', iter([''.join('%d\n' % b for b in ds.blocks).encode()]))
        c.query('CHECKPOINT')
    with open(os.path.join(SCRATCH, 'blocks.txt'), 'w') as f:
        f.write(''.join('%d\n' % b for b in ds.blocks))
    ds.load_seconds = time.time() - t0
    ds.segments = {'seq': segs(ds.table_path), 'scattered': segs(ds.table_path),
                   'index': segs(ds.index_path)}
    ds.expected = {'seq': ds.nblocks, 'index': ds.index_nblocks, 'scattered': len(ds.blocks)}
    log('dataset: table %d blocks (%.0f MB, %d segment file(s)), index %d blocks (%.0f MB), '
        'scattered list %d blocks; built in %.0f s'
        % (ds.nblocks, ds.nblocks * BLCKSZ / MB, len(ds.segments['seq']), ds.index_nblocks,
           ds.index_nblocks * BLCKSZ / MB, len(ds.blocks), ds.load_seconds))
    return ds


def segs(base):
    out = [base]
    i = 1
    while os.path.exists('%s.%d' % (base, i)):
        out.append('%s.%d' % (base, i))
        i += 1
    return out


def block_residency(ds, workload, blocks=None):
    """fraction of the workload's blocks resident in the OS page cache"""
    files = ds.segments[workload]
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


def drop_os_cache(ds):
    os.sync()
    if IS_ROOT:
        try:
            with open('/proc/sys/vm/drop_caches', 'w') as f:
                f.write('3\n')
        except OSError as e:
            warn('drop_caches: %s' % e)
    for files in (ds.segments['seq'], ds.segments['index']):
        for path in files:
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


def ring_stats(c):
    rows = c.query('SELECT method, %s FROM pg_uring_stats GROUP BY method' %
                   ', '.join('coalesce(sum(%s), 0)::int8' % k for k in STATS_COLS))
    out = {}
    for r in rows:
        out[r[0]] = {k: int(v) for k, v in zip(STATS_COLS, r[1:])}
    return out


def stats_delta(a, b, method, key):
    return b.get(method, {}).get(key, 0) - a.get(method, {}).get(key, 0)


def make_cold(cl, ds, huge):
    if COLD == 'evict' and ds.has_evict and cl.huge == huge:
        with cl.connect() as c:
            c.query("SELECT pg_uring_evict('%s'), pg_uring_evict('%s')" % (TABLE, INDEX))
            left = int(c.scalar("SELECT count(*) FROM pg_buffercache WHERE relfilenode IN "
                                "(pg_relation_filenode('%s'), pg_relation_filenode('%s')) AND reldatabase = "
                                "(SELECT oid FROM pg_database WHERE datname = current_database())"
                                % (TABLE, INDEX)))
            if left:
                fail('pg_uring_evict left %d buffers of the relations in shared buffers' % left)
        drop_os_cache(ds)
    else:
        cl.stop()
        drop_os_cache(ds)
        if cl.huge != huge:
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


def run_case(cl, ds, case, workload, rnd, setting):
    res = {'round': rnd, 'workload': workload, 'case': case.name, 'family': case.family,
           'mode': case.mode, 'io_method': case.io_method or '', 'direct_io': case.direct,
           'queue_depth': case.qd or '', 'combine_limit': case.combine or '',
           'ra_kb': setting['ra_kb'], 'huge_pages': setting['huge'], 'ok': False, 'error': ''}
    expected = ds.expected[workload]
    res['expected_blocks'] = expected
    make_cold(cl, ds, setting['huge'])
    try:
        cold_res = block_residency(ds, workload)
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
        wpid, up, st = wait_ring(c, need_ring)
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
        s0 = ring_stats(c)
        cpu0 = cpu_totals()
        b0, w0 = proc_snapshot(bpid), proc_snapshot(wpid)
        t0 = time.perf_counter()
        rows = c.query(sql)
        t1 = time.perf_counter()
        b1, w1 = proc_snapshot(bpid), proc_snapshot(wpid)
        cpu1 = cpu_totals()
        s1 = ring_stats(c)
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
            got = res['ring_blocks_read'] + res['sync_blocks_read']
            if got != expected:
                warn('%s %s round %d: pg_uring_stats blocks_read rose by %d (ring %d + sync %d), expected %d'
                     % (workload, case.name, rnd, got, res['ring_blocks_read'], res['sync_blocks_read'],
                        expected))
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
            frac = block_residency(ds, workload, ds.blocks if workload == 'scattered' else None)
            res['os_resident_pct'] = round(100 * frac, 2)
            if frac < 0.99:
                warn('%s %s round %d: only %.1f%% of the blocks are in the OS cache after read mode'
                     % (workload, case.name, rnd, 100 * frac))
    except (pgwire.PGError, BenchFailure, ConnectionError, OSError) as e:
        res['error'] = str(e)
        fail('%s %s round %d: %s' % (workload, case.name, rnd, e))
    finally:
        c.close()
    if res.get('seconds'):
        log('r%d %-9s %-24s %7.1f MB/s %9.0f pages/s  %.4f sys/page  %5.2f cpu-s/GB  %s'
            % (rnd, workload, case.name, res['mb_s'], res['pages_s'], res['syscalls_per_page'],
               res['cpu_s_per_gb'], 'ok' if res['ok'] else 'WRONG'))
    return res


def run_pg_checksums(cl, ds, rnd, setting):
    """offline reference for verify: pg_checksums --check on the table's files"""
    res = {'round': rnd, 'workload': 'seq', 'case': 'pg_checksums (offline)', 'family': 'pg_checksums',
           'mode': 'verify', 'ra_kb': setting['ra_kb'], 'huge_pages': setting['huge'],
           'expected_blocks': ds.nblocks, 'ok': False, 'error': ''}
    cl.stop()
    drop_os_cache(ds)
    t0 = time.perf_counter()
    r = run(AS_PG + [os.path.join(BINDIR, 'pg_checksums'), '--check', '-D', PGDATA,
                     '--filenode', str(ds.table_filenode)], capture=True, check=False)
    secs = time.perf_counter() - t0
    cl.start()
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
    log('r%d seq       pg_checksums (offline)   %7.1f MB/s (%s blocks, all forks)' % (rnd, res['mb_s'], scanned))
    return res


# --------------------------------------------------------------------- fio --
FIO_TESTS = [
    # name, rw, bs, iodepth, direct, workload it bounds
    ('fio seq 128k dio qd32', 'read', '128k', 32, 1, 'seq'),
    ('fio seq 128k buffered qd32', 'read', '128k', 32, 0, 'seq'),
    ('fio rand 8k dio qd32', 'randread', '8k', 32, 1, 'scattered'),
    ('fio rand 8k dio qd128', 'randread', '8k', 128, 1, 'scattered'),
]


def run_fio(ds, rnd, setting):
    out = []
    files = ds.segments['seq']
    if any(':' in f for f in files):
        warn('fio: segment path contains ":"; skipped')
        return out
    for name, rw, bs, qd, direct, wl in FIO_TESTS:
        drop_os_cache(ds)
        cmd = ['fio', '--name=limit', '--ioengine=io_uring', '--readonly', '--rw=' + rw, '--bs=' + bs,
               '--iodepth=%d' % qd, '--direct=%d' % direct, '--filename=' + ':'.join(files),
               '--file_service_type=sequential' if rw == 'read' else '--file_service_type=random',
               '--runtime=%d' % FIO_RUNTIME, '--numjobs=1', '--output-format=json', '--invalidate=1']
        if rw == 'randread':
            cmd += ['--time_based', '--randrepeat=0']
        r = run(cmd, capture=False, check=False, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        res = {'round': rnd, 'workload': wl, 'case': name, 'family': 'fio', 'mode': 'fio',
               'ra_kb': setting['ra_kb'], 'huge_pages': setting['huge'], 'ok': False, 'error': ''}
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
            log('r%d %-9s %-24s %7.1f MB/s %9.0f IOPS  sys CPU %.0f%%'
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
             'backend_minflt': med([x.get('backend_minflt') for x in rs]),
             'machine_busy_pct': med([x.get('machine_busy_pct') for x in rs])}
        summ.append(s)
    # ratios
    idx = {(s['ra_kb'], s['huge_pages'], s['workload'], s['case']): s for s in summ}
    for s in summ:
        base = None
        if s['family'] not in ('fio',):
            bname = 'pg_prewarm/buffer' if s['mode'] == 'buffer' else 'pg_prewarm/read'
            b = idx.get((s['ra_kb'], s['huge_pages'], s['workload'], bname))
            base = b['mb_s'] if b else None
        s['x_pg_prewarm'] = s['mb_s'] / base if base else None
        if s['workload'] == 'scattered':
            lims = [idx.get((s['ra_kb'], s['huge_pages'], 'scattered', n)) for n in
                    ('fio rand 8k dio qd32', 'fio rand 8k dio qd128')]
            lims = [x['mb_s'] for x in lims if x]
            lim = max(lims) if lims else None
        else:
            lim = idx.get((s['ra_kb'], s['huge_pages'], 'seq', 'fio seq 128k dio qd32'))
            lim = lim['mb_s'] if lim else None
        s['x_fio'] = s['mb_s'] / lim if lim else None
    return summ


def markdown(summ, meta):
    lines = ['# pg_uring cold-cache benchmark', '',
             '%s. Machine: %s, %d CPUs, %.1f GiB RAM, kernel %s; data on %s (%s, rotational=%s). '
             'PostgreSQL %s, data checksums on, shared_buffers %s MB, huge_pages %s.'
             % (meta['date'], meta['cpu'], meta['ncpu'], meta['mem_gib'], meta['kernel'], meta['device'],
                meta['fs'], meta['rotational'], meta['pg_version'], meta['shared_buffers_mb'],
                meta['huge_pages']),
             '',
             'Dataset: table %d blocks (%.0f MB), primary-key index %d blocks (%.0f MB), scattered list %d '
             'random distinct blocks of the table (passed sorted; pg_prewarm baseline = one '
             '`pg_prewarm(rel, mode, \'main\', b, b)` per block in one statement). Cold = %s, then sync, %s'
             '`posix_fadvise(DONTNEED)` on every segment. %d round(s), cases alternating A B C … '
             'Read-ahead of %s: %s kB%s.'
             % (meta['nblocks'], meta['nblocks'] * BLCKSZ / MB, meta['index_nblocks'],
                meta['index_nblocks'] * BLCKSZ / MB, meta['scattered_blocks'], meta['cold'],
                'drop_caches, ' if IS_ROOT else '', meta['rounds'], meta['device'], meta['ra_kb'],
                ' (extra round(s) at 128 kB)' if meta.get('ra128_rounds') else ''),
             '',
             'MB/s = 10^6 bytes/s of 8 kB pages; median [min–max] over rounds. syscalls/page = backend '
             '(`/proc/PID/io` syscr+syscw) + ring worker (same) + `io_uring_enter` calls (pg_uring_stats '
             'enter_calls), per page. CPU s/GB = user+system CPU of backend + worker (all its threads) '
             'per GiB. ×pg_prewarm: against `pg_prewarm` of the same mode and workload; ×fio: against '
             'fio 128k O_DIRECT qd32 (seq, index) or the best of 8k random O_DIRECT qd32/qd128 '
             '(scattered), same files.', '']
    hdr = ('| RA kB | workload | case | MB/s median [min–max] | pages/s | syscalls/page (be+wk+enter) '
           '| CPU s/GB | ×pg_prewarm | ×fio | host busy % | runs | counts |')
    lines += [hdr, '|' + '---|' * 12]
    for s in summ:
        if s['family'] == 'fio':
            sp = '–'
        else:
            sp = '%s (%s+%s+%s)' % (fmt(s['syscalls_per_page'], 4), fmt(s['backend_syscalls_per_page'], 3),
                                    fmt(s['worker_syscalls_per_page'], 3), fmt(s['enter_per_page'], 4))
        lines.append('| %s | %s | %s | %s [%s–%s] | %s | %s | %s | %s | %s | %s | %d | %s |' % (
            s['ra_kb'], s['workload'], s['case'] + (' (hp)' if s['huge_pages'] == 'on' else ''),
            fmt(s['mb_s']), fmt(s['mb_s_min'], 0), fmt(s['mb_s_max'], 0), fmt(s['pages_s'], 0), sp,
            fmt(s['cpu_s_per_gb'], 2), fmt(s['x_pg_prewarm'], 2), fmt(s['x_fio'], 2),
            fmt(s.get('machine_busy_pct'), 0), s['runs'],
            ('ok (%s)' % s['blocks'] if s['blocks'] is not None else 'ok') if s['all_ok'] else '**WRONG**'))
    lines.append('')
    lines += ['host busy % = share of all CPUs busy (any process) during the timed call: '
              'other load on the machine makes numbers noisy.', '']
    lines += targets(summ)
    if failures:
        lines += ['## FAILURES', ''] + ['- ' + f for f in failures] + ['']
    if warnings:
        lines += ['## Warnings', ''] + ['- ' + w for w in sorted(set(warnings))] + ['']
    lines += ['Runtime: %.0f s (dataset %.0f s).' % (meta['elapsed_s'], meta['load_s']), '']
    return '\n'.join(lines)


def targets(summ):
    """issue 3's targets, measured (informational: the script does not fail on them)"""
    out = ['## Targets (issue 3), best ring configuration per line', '',
           '| RA kB | huge pages | target | measured | met |', '|---|---|---|---|---|']
    keys = []
    for s in summ:
        if (s['ra_kb'], s['huge_pages']) not in keys:
            keys.append((s['ra_kb'], s['huge_pages']))
    for ra, hp in keys:
        g = [s for s in summ if s['ra_kb'] == ra and s['huge_pages'] == hp]

        def get(w, name):
            return next((s for s in g if s['workload'] == w and s['case'] == name), None)

        def best(w, fams, mode):
            c = [s for s in g if s['workload'] == w and s['family'] in fams and s['mode'] == mode]
            return max(c, key=lambda s: s['mb_s']) if c else None

        def row(target, text, ok):
            out.append('| %s | %s | %s | %s | %s |' % (ra, hp, target, text, '–' if ok is None else
                                                          ('yes' if ok else '**no**')))
        for w, want in (('seq', 1.6), ('scattered', 4.0)):
            b, p = best(w, ('ring', 'ring+dio'), 'buffer'), get(w, 'pg_prewarm/buffer')
            if b and p:
                x = b['mb_s'] / p['mb_s']
                row('%s buffer ≥ %.1f× pg_prewarm' % (w, want),
                    '%.2f× (%s %.0f vs %.0f MB/s)' % (x, b['case'], b['mb_s'], p['mb_s']), x >= want)
        b, p = best('seq', ('ring',), 'read'), get('seq', 'pg_prewarm/read')
        if b and p:
            x = b['mb_s'] / p['mb_s']
            row('seq read ≥ 0.9× pg_prewarm read', '%.2f× (%s)' % (x, b['case']), x >= 0.9)
        b, f = best('seq', ('verify-ring+dio',), 'verify'), get('seq', 'fio seq 128k dio qd32')
        if b and f:
            x = b['mb_s'] / f['mb_s']
            row('verify O_DIRECT ≥ 0.7 L', '%.2f L (%.0f vs %.0f MB/s)' % (x, b['mb_s'], f['mb_s']), x >= 0.7)
        for w in ('seq', 'scattered'):
            b, sy = best(w, ('ring', 'ring+dio'), 'buffer'), get(w, 'sync/buffer')
            if b and b.get('syscalls_per_page') is not None:
                row('%s ≤ 0.03 syscalls/page' % w, '%.4f (%s)' % (b['syscalls_per_page'], b['case']),
                    b['syscalls_per_page'] <= 0.03)
            if b and sy and b.get('cpu_s_per_gb') is not None and sy.get('cpu_s_per_gb') is not None:
                row('%s CPU s/GB ≤ sync' % w, '%.2f vs %.2f (%s)' % (b['cpu_s_per_gb'], sy['cpu_s_per_gb'],
                                                                    b['case']),
                    b['cpu_s_per_gb'] <= sy['cpu_s_per_gb'])
    out += ['', 'CPU seconds come from 10 ms ticks: on small tables they are coarse.', '']
    return out


def plot(summ, meta, png):
    if not shutil.which('gnuplot'):
        warn('gnuplot not installed; no plot')
        return
    d = os.path.join(OUT, 'plot')
    os.makedirs(d, exist_ok=True)
    ra = meta['ra_kb']
    hp = meta['plot_huge']
    base = [s for s in summ if s['ra_kb'] == ra and s['huge_pages'] == hp]
    wls = [w for w in ('seq', 'index', 'scattered') if any(s['workload'] == w for s in base)]
    # panel 1: one row per case (plus fio), columns per workload: median min max
    cases = []
    for s in base:
        if s['case'] not in cases:
            cases.append(s['case'])
    with open(os.path.join(d, 'bars.dat'), 'w') as f:
        f.write('# case ' + ' '.join('%s %s_min %s_max' % (w, w, w) for w in wls) + '\n')
        for cname in cases:
            row = ['"%s"' % cname]
            for w in wls:
                s = next((x for x in base if x['case'] == cname and x['workload'] == w), None)
                row += (['%.2f' % s['mb_s'], '%.2f' % s['mb_s_min'], '%.2f' % s['mb_s_max']] if s
                        else ['NaN', 'NaN', 'NaN'])
            f.write(' '.join(row) + '\n')
    # panel 2: MB/s vs queue depth, one line per (direct, combine, workload)
    series = []
    with open(os.path.join(d, 'qd.dat'), 'w') as f:
        for w in ('seq', 'scattered', 'index'):
            for fam in ('ring', 'ring+dio'):
                for comb in COMBINES:
                    pts = sorted((int(s['queue_depth']), s['mb_s']) for s in base
                                 if s['workload'] == w and s['family'] == fam and s['mode'] == 'buffer'
                                 and s['combine_limit'] == comb and s['queue_depth'])
                    if not pts:
                        continue
                    f.write('# %s %s c%d\n' % (w, fam, comb))
                    for q, v in pts:
                        f.write('%d %.2f\n' % (q, v))
                    f.write('\n\n')
                    series.append('%s %s c%d' % (w, fam, comb))
    refs = []
    for w in ('seq', 'scattered', 'index'):
        for cname in ('pg_prewarm/buffer', 'sync/buffer'):
            s = next((x for x in base if x['case'] == cname and x['workload'] == w), None)
            if s:
                refs.append((w, cname, s['mb_s']))
    qmin, qmax = (min(QDS), max(QDS)) if QDS else (1, 64)
    gp = ['set terminal pngcairo size 1600,1300 font "DejaVu Sans,10"' if _has_cairo()
          else 'set terminal png size 1600,1300',
          'set output "%s"' % png, 'set termoption noenhanced',
          'set multiplot layout 2,1 title "pg_uring cold-cache prewarm, %d-block table, read-ahead %s kB%s (median, min-max bars)"'
          % (meta['nblocks'], ra, ', huge pages' if hp == 'on' else ''),
          'set style data histograms', 'set style histogram errorbars gap 2 lw 1',
          'set style fill solid 0.7 border -1', 'set boxwidth 0.9',
          'set ylabel "MB/s"', 'set grid ytics', 'set key top left',
          'set xtics rotate by -35 scale 0 font ",9"', 'set yrange [0:*]',
          'set title "Throughput per method and workload"', 'set rmargin 12']
    parts = []
    for i, w in enumerate(wls):
        col = 2 + 3 * i
        parts.append('"%s/bars.dat" using %d:%d:%d%s title "%s"' % (
            d, col, col + 1, col + 2, ':xtic(1)' if i == 0 else '', w))
    gp.append('plot ' + ', '.join(parts))
    gp += ['unset xtics', 'set xtics nomirror', 'unset rmargin', 'set logscale x 2', 'set xrange [%g:%g]' % (qmin / 1.2, qmax * 1.2),
           'set xlabel "pg_uring.queue_depth (requests in flight)"', 'set key outside right top',
           'set title "Ring throughput vs queue depth (buffer mode); dashed: pg_prewarm / sync at the same workload"',
           'set style data linespoints']
    parts = []
    colors = {'seq': 1, 'scattered': 2, 'index': 3}
    for i, name in enumerate(series):
        w = name.split()[0]
        dt = 1 if '+dio' not in name else 4
        parts.append('"%s/qd.dat" index %d using 1:2 with linespoints lw 2 lc %d dt %d pt %d title "%s"'
                     % (d, i, colors[w], dt, 5 + 2 * ('c32' in name), name))
    for w, cname, v in refs:
        parts.append('%f with lines lc %d dt %d lw 1 title "%s %s"' % (v, colors[w], 2 if 'prewarm' in cname else 3,
                                                                       w, cname))
    if parts:
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
    fs = run(['df', '--output=fstype', PGDATA], capture=True, check=False).stdout.split()[-1]
    rot = get_ra('/sys/block/%s/queue/rotational' % dev)
    pgv = run([os.path.join(BINDIR, 'postgres'), '--version'], capture=True, check=False).stdout.strip()
    return {'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'), 'cpu': cpu, 'ncpu': os.cpu_count(),
            'mem_gib': mem, 'kernel': platform.release(), 'device': dev, 'fs': fs, 'rotational': rot,
            'pg_version': (re.findall(r'\d+\.\d+', pgv) or ['?'])[0], 'shared_buffers_mb': cl.shared_buffers_mb,
            'nblocks': ds.nblocks, 'index_nblocks': ds.index_nblocks, 'scattered_blocks': len(ds.blocks),
            'ra_kb': ra_kb, 'rounds': ROUNDS, 'quick': QUICK, 'root': IS_ROOT, 'size_mb': SIZE_MB,
            'queue_size': QUEUE_SIZE, 'ring_entries': RING_ENTRIES, 'load_s': ds.load_seconds}


# ------------------------------------------------------------------ main --
def main():
    t_start = time.time()
    os.makedirs(OUT, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cl = Cluster()
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
        huge_modes = {'0': ['off'], '1': ['on'], 'both': ['off', 'on']}.get(HUGE)
        if huge_modes is None:
            raise BenchFailure('BENCH_HUGE must be 0, 1 or both')
        if 'on' in huge_modes:
            cl.hp_need = cl.huge_pages_needed()
            hp_orig = int(read_file('/proc/sys/vm/nr_hugepages'))
            cl.ensure_huge_pages()
            log('huge pages: %d of 2 MB needed for shared memory' % cl.hp_need)
        cl.write_case_conf(huge_modes[0])
        cl.start()
        cases = build_cases(ds.has_verify)
        log('pg_uring_evict: %s; pg_uring_verify: %s; cold state by %s'
            % ('yes' if ds.has_evict else 'no', 'yes' if ds.has_verify else 'no',
               'pg_uring_evict' if COLD == 'evict' and ds.has_evict else 'server restart'))
        if COLD == 'evict' and not ds.has_evict:
            warn('BENCH_COLD=evict but pg_uring_evict() does not exist; restarting instead')
        if FIO and not shutil.which('fio'):
            warn('fio not installed; no limit measured')
        # one-off sanity check (not timed): duplicates are counted once
        with cl.connect() as c:
            dup = ds.blocks[:50] + ds.blocks[:50] + [ds.blocks[0]]
            got = int(c.scalar("SELECT pg_uring_prewarm_blocks('%s', '{%s}'::int8[])"
                               % (TABLE, ','.join(map(str, dup)))))
            if got != min(50, len(ds.blocks)):
                fail('pg_uring_prewarm_blocks with duplicates returned %d, expected %d'
                     % (got, min(50, len(ds.blocks))))

        ra_rounds = 0
        if RA_ROUND and IS_ROOT and ra_path and ra_orig is not None and ra_orig != 128:
            ra_rounds = RA_ROUNDS
        elif RA_ROUND and not IS_ROOT:
            log('not root: no round at 128 kB read-ahead')
        plan = [(ra_orig, ROUNDS)] + ([(128, ra_rounds)] if ra_rounds else [])
        ntotal = sum(n for _, n in plan) * (sum(len([w for w in c.workloads if w in WORKLOADS]) for c in cases)
                                             * len(huge_modes))
        log('%d cases x workloads x rounds = %d cold runs, plus fio' % (len(cases), ntotal))
        if COLD == 'evict' and ds.has_evict:
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
                log('---- round %d (read-ahead %s kB) ----' % (rnd_no, ra_kb))
                for w in WORKLOADS:
                    for case in cases:
                        if w not in case.workloads:
                            continue
                        for h in huge_modes:
                            results.append(run_case(cl, ds, case, w, rnd_no, {'ra_kb': ra_kb, 'huge': h}))
                if ds.has_verify and 'seq' in WORKLOADS:
                    results.append(run_pg_checksums(cl, ds, rnd_no, {'ra_kb': ra_kb, 'huge': cl.huge}))
                if FIO and shutil.which('fio'):
                    for h in huge_modes:
                        results += run_fio(ds, rnd_no, {'ra_kb': ra_kb, 'huge': h})
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
        meta.update(cold='server restart' if not (COLD == 'evict' and ds.has_evict) else 'pg_uring_evict()',
                    huge_pages={'0': 'off', '1': 'on', 'both': 'off and on, alternating'}[HUGE], plot_huge=huge_modes[0], ra128_rounds=ra_rounds,
                    elapsed_s=time.time() - t_start, has_evict=ds.has_evict, has_verify=ds.has_verify,
                    queue_depths=QDS, combine_limits=COMBINES)
    finally:
        if ra_path and os.path.exists(os.path.join(SCRATCH, 'ra_restore')):
            set_ra(ra_path, dev, ra_orig)
            os.unlink(os.path.join(SCRATCH, 'ra_restore'))
            log('read-ahead of %s restored to %s kB' % (dev, ra_orig))
        cl.stop()
        if hp_orig is not None and os.path.exists(os.path.join(SCRATCH, 'hugepages_restore')):
            with open('/proc/sys/vm/nr_hugepages', 'w') as f:
                f.write('%d\n' % hp_orig)
            os.unlink(os.path.join(SCRATCH, 'hugepages_restore'))

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
    global QDS, COMBINES
    j = json.load(open(path))
    meta, runs = j['meta'], j['runs']
    failures.extend(j.get('failures', []))
    warnings.extend(j.get('warnings', []))
    QDS = meta.get('queue_depths', QDS)
    COMBINES = meta.get('combine_limits', COMBINES)
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
