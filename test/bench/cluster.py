"""The clusters of the benchmark: the scratch directory, initdb, start and
stop (huge pages topped up first), connections (psycopg2, autocommit), the
dataset and its loading, making a relation cold (restart or pg_uring_evict,
sync, drop_caches, posix_fadvise DONTNEED), read-ahead, the baseline build
(the previous release, from git, against a private copy of the same
PostgreSQL) and the PostgreSQL 18 anchor in the Debian sid root
(test/debroot.sh)."""
import ctypes
import ctypes.util
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

from common import (AS_PG, BLCKSZ, DB, FLUSH_ROWS_PER_PAGE, FLUSH_TABLE, INDEX, IS_ROOT, MB, PAGESIZE,
                    PG18_BINDIR, TABLE, BenchFailure, S, fail, log, read_file, run, scat_pct, warn)

try:
    import psycopg2
except ImportError:             # --help works without it; a run needs it
    psycopg2 = None

HERE = os.path.dirname(os.path.abspath(__file__))
DEBROOT = os.path.join(HERE, '..', 'debroot.sh')

# the pg_uring_stats columns the benchmark reads (Cluster.stats_columns:
# those this build's view has)
STATS_COLS = ['enter_calls', 'sqes_submitted', 'requests', 'reads', 'blocks_read', 'combined_ios',
              'fallback_ios', 'errors', 'short_ios', 'retries', 'sq_full_waits', 'queue_full_waits',
              'pages_verified', 'verify_failures']

DBError = psycopg2.Error if psycopg2 else BenchFailure


def need_psycopg2():
    if psycopg2 is None:
        raise BenchFailure('psycopg2 is missing for %s: install python3-psycopg2 (apt-get install '
                           'python3-psycopg2) and run the benchmark with Debian\'s /usr/bin/python3 '
                           '(test/bench/run.sh does both)' % sys.executable)


# ------------------------------------------------------------ connections --

def base_conf(port, socket_dir):
    """the postgresql.conf lines every benchmark cluster shares"""
    return """port = %d
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
""" % (port, socket_dir)

class _Chunks:
    """a file-like reader over an iterator of bytes chunks (COPY FROM STDIN)"""

    def __init__(self, chunks):
        self.it = iter(chunks)
        self.cur = memoryview(b'')
        self.pos = 0

    def read(self, n=-1):
        while self.pos >= len(self.cur):
            try:
                self.cur, self.pos = memoryview(next(self.it)), 0
            except StopIteration:
                return b''
        if n is None or n < 0:
            n = len(self.cur) - self.pos
        out = self.cur[self.pos:self.pos + n]
        self.pos += len(out)
        return bytes(out)


class Conn:
    """A psycopg2 connection over the cluster's Unix socket, in autocommit
    mode: every query() is sent as it is (no implicit BEGIN, no parameter
    interpolation) and returns when the server is ready again, so that a
    statement can be timed alone and /proc of its backend read right before
    and after it.  Rows come back with psycopg2's Python types."""

    def __init__(self, sockdir, port, user='postgres', dbname='postgres', appname='pg_uring_bench'):
        need_psycopg2()
        self.conn = psycopg2.connect(host=sockdir, port=port, user=user, dbname=dbname,
                                     application_name=appname, client_encoding='UTF8')
        self.conn.autocommit = True
        self.cur = self.conn.cursor()
        self.pid = self.conn.get_backend_pid()

    @property
    def notices(self):
        return self.conn.notices

    def query(self, sql):
        """Run one statement; return the rows of its result (a list of
        tuples; [] for a statement without one).  Raises psycopg2.Error."""
        self.cur.execute(sql)
        return self.cur.fetchall() if self.cur.description is not None else []

    def copy_in(self, sql, chunks):
        """COPY ... FROM STDIN from an iterator of bytes chunks"""
        self.cur.copy_expert(sql, _Chunks(chunks), size=1 << 20)

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def close(self):
        try:
            self.conn.close()
        except DBError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ----------------------------------------------------------- OS utilities --
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


def stdout_of(cmd, what):
    """a command's standard output, stripped (its standard error passes
    through, as in $(...)); BenchFailure if it fails"""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise BenchFailure('%s failed (exit %d)' % (what, r.returncode))
    return r.stdout.strip()


# ------------------------------------------------------- binaries, scratch --
def resolve_pg_config(path):
    """--pg-config as run.sh took PG_CONFIG: the path if it is executable,
    else pg_config from PATH"""
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    p = shutil.which('pg_config')
    if not p:
        raise BenchFailure('pg_config not found (%s is not executable, and there is none in PATH)' % path)
    return p


def pg_config(pgc, what):
    return stdout_of([pgc, '--' + what], '%s --%s' % (pgc, what))


def check_install(pgc):
    """what run.sh checked: pg_uring and contrib pg_prewarm installed, user
    postgres (root: the servers run as that user)"""
    if not os.path.isfile(os.path.join(pg_config(pgc, 'pkglibdir'), 'pg_uring.so')):
        raise BenchFailure('pg_uring is not installed (make && make install)')
    if not os.path.isfile(os.path.join(pg_config(pgc, 'sharedir'), 'extension', 'pg_prewarm.control')):
        raise BenchFailure('contrib pg_prewarm is not installed')
    if IS_ROOT:
        try:
            import pwd
            pwd.getpwnam('postgres')
        except KeyError:
            raise BenchFailure('user postgres does not exist (the server refuses to run as root)')


def note_state(name, line):
    """run.sh's fallback (--state-dir): what to restore and remove if this
    driver is killed before its own cleanup"""
    if S.state_dir:
        with open(os.path.join(S.state_dir, name), 'a') as f:
            f.write(line + '\n')


def make_scratch():
    """the scratch directory: clusters, logs, the baseline's build and
    install, block lists; and the files that tell what to restore"""
    os.makedirs(S.tmpdir, exist_ok=True)
    d = tempfile.mkdtemp(prefix='pg_uring_bench.', dir=S.tmpdir)
    os.chmod(d, 0o755)
    if IS_ROOT:
        shutil.chown(d, 'postgres', 'postgres')
    note_state('scratch', d)
    if S.keep:
        note_state('keep', '1')
    return d


# --------------------------------------------------------------- baseline --
def build_baseline(rev_arg, repo, pgc, scratch):
    """The previous release, built from git against a private relocated copy
    of the same PostgreSQL install (PostgreSQL finds its share and lib
    directories relative to its binaries, so the copy's pg_config reports
    the copy's paths), installed into that copy only.  Returns (bindir of
    the copy, short revision)."""
    r = run(['git', '-C', repo, 'rev-parse', '--verify', '--short', rev_arg + '^{commit}'],
            capture=True, check=False)
    if r.returncode != 0:
        raise BenchFailure('--baseline-rev %s is not a commit of %s: %s' % (rev_arg, repo, r.stdout.strip()))
    rev = r.stdout.strip()
    # the source install, from the main pg_config: ROOT/lib/postgresql/MAJOR/bin,
    # ROOT/share/postgresql/MAJOR, ROOT/include/postgresql/MAJOR/server
    bindir = pg_config(pgc, 'bindir')
    src_lib = os.path.dirname(bindir)                                   # ROOT/lib/postgresql/MAJOR
    src_share = pg_config(pgc, 'sharedir')                              # ROOT/share/postgresql/MAJOR
    src_inc = os.path.dirname(os.path.dirname(pg_config(pgc, 'includedir-server')))   # ROOT/include/postgresql
    major = os.path.basename(src_lib)
    root = os.path.dirname(os.path.dirname(os.path.dirname(src_lib)))
    if not (src_share == '%s/share/postgresql/%s' % (root, major) and src_inc == root + '/include/postgresql'):
        raise BenchFailure('baseline: unexpected install layout (bindir %s, sharedir %s, include %s)'
                           % (bindir, src_share, src_inc))
    dst = os.path.join(scratch, 'pgbase', 'usr')
    log('baseline %s: copying %s/{lib/postgresql/%s,share/postgresql/%s,include/postgresql} to %s'
        % (rev, root, major, major, dst))
    for sub in ('lib/postgresql', 'share/postgresql', 'include'):
        os.makedirs(os.path.join(dst, sub), exist_ok=True)
    for src, to in ((src_lib, 'lib/postgresql/'), (src_share, 'share/postgresql/'), (src_inc, 'include/')):
        r = run(['cp', '-a', src, os.path.join(dst, to)], capture=True, check=False)
        if r.returncode != 0:
            raise BenchFailure('baseline: cp -a %s: %s' % (src, r.stdout.strip()))
    base_pgc = os.path.join(dst, 'lib/postgresql', major, 'bin/pg_config')
    for what in ('bindir', 'sharedir', 'pkglibdir', 'includedir-server', 'pgxs'):
        p = pg_config(base_pgc, what)
        if not p.startswith(dst + '/'):
            raise BenchFailure("baseline: the copy's pg_config --%s is %s, not inside %s (not relocatable?)"
                               % (what, p, dst))
    src = os.path.join(scratch, 'base_src')
    os.makedirs(src)
    arch = subprocess.Popen(['git', '-C', repo, 'archive', rev], stdout=subprocess.PIPE)
    tar = subprocess.run(['tar', '-x', '-C', src], stdin=arch.stdout)
    arch.stdout.close()
    if arch.wait() != 0 or tar.returncode != 0:
        raise BenchFailure('baseline: git archive %s | tar -x failed' % rev)
    blog = os.path.join(scratch, 'base_build.log')
    log('baseline %s: building against %s (log: base_build.log)' % (rev, base_pgc))
    with open(blog, 'w') as f:
        ok = (subprocess.run(['make', '-C', src, '-j%d' % len(os.sched_getaffinity(0)), 'PG_CONFIG=' + base_pgc],
                             stdout=f, stderr=subprocess.STDOUT).returncode == 0
              and subprocess.run(['make', '-C', src, 'PG_CONFIG=' + base_pgc, 'install'],
                                 stdout=f, stderr=subprocess.STDOUT).returncode == 0)
    if not ok:
        sys.stderr.write(''.join(open(blog, errors='replace').readlines()[-30:]))
        raise BenchFailure('baseline: build of %s failed' % rev)
    base_so = os.path.join(pg_config(base_pgc, 'pkglibdir'), 'pg_uring.so')
    if not os.path.isfile(base_so):
        raise BenchFailure('baseline: %s not installed' % base_so)
    if run(['cmp', '-s', base_so, os.path.join(pg_config(pgc, 'pkglibdir'), 'pg_uring.so')],
           check=False).returncode == 0:
        warn('the baseline library is identical to the installed one')
    return pg_config(base_pgc, 'bindir'), rev


# ---------------------------------------------------------- PostgreSQL 18 --
def in_root18(root, args):
    """a command inside the root, as "test/debroot.sh run" does it, but
    without its bind mount of this checkout at /pg_uring (other sessions
    build from the tree they bound there: the benchmark must not replace it)"""
    return (['chroot', root, 'env', '-i',
             'PATH=%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' % PG18_BINDIR,
             'HOME=/root', 'LANG=C.UTF-8'] + list(args))


def prepare_pg18_root():
    """A cluster's home in the Debian sid root (test/debroot.sh ensure 18
    builds and mounts it; idempotent).  Its scratch directory is
    ROOT/var/tmp/...: a directory on the host's disk, so its data files are
    on the same device as the other clusters'.  Returns (root, scratch
    directory as the host sees it, the same inside the root)."""
    if not IS_ROOT:
        raise BenchFailure('--pg18 needs root (the sid root is entered with chroot)')
    root = stdout_of(['bash', DEBROOT, 'path', '18'], 'test/debroot.sh path 18')
    # "ensure" also bind-mounts this checkout at ROOT/pg_uring when nothing
    # is mounted there; undo that (only if it was not there before)
    bound = os.path.ismount(os.path.join(root, 'pg_uring'))
    root = stdout_of(['bash', DEBROOT, 'ensure', '18'], 'test/debroot.sh ensure 18')
    if not os.path.isdir(root):
        raise BenchFailure('test/debroot.sh ensure 18 printed no directory (%s)' % root)
    if not bound and os.path.ismount(os.path.join(root, 'pg_uring')):
        if run(['umount', os.path.join(root, 'pg_uring')], check=False).returncode != 0:
            warn('could not unmount %s/pg_uring' % root)
    for m in ('proc', 'sys', 'dev'):
        if not os.path.ismount(os.path.join(root, m)):
            raise BenchFailure('%s/%s is not mounted after test/debroot.sh ensure 18' % (root, m))
    if not os.access(os.path.join(root, PG18_BINDIR.lstrip('/'), 'postgres'), os.X_OK):
        raise BenchFailure('no PostgreSQL 18 server in %s' % root)
    if not os.path.isfile(os.path.join(root, 'usr/share/postgresql/18/extension/pg_prewarm.control')):
        raise BenchFailure('no contrib pg_prewarm for PostgreSQL 18 in %s' % root)
    os.makedirs(os.path.join(root, 'var/tmp'), exist_ok=True)
    scratch = tempfile.mkdtemp(prefix='pg_uring_bench18.', dir=os.path.join(root, 'var/tmp'))
    note_state('scratch', scratch)
    inner = scratch[len(root):]
    os.chmod(scratch, 0o755)
    if run(in_root18(root, ['chown', 'postgres:', inner]), check=False).returncode != 0:
        raise BenchFailure('cannot chown %s in the sid root' % inner)
    log('PostgreSQL 18 anchor in %s (scratch %s inside it)' % (root, inner))
    return root, scratch, inner


def cleanup_scratch(rc):
    """what run.sh's exit trap did: stop whatever cluster still runs in the
    scratch directories (immediately), show the servers' logs after a
    failure, and remove the directories unless --keep"""
    for d in (os.path.join(S.scratch, 'data'), os.path.join(S.scratch, 'data_base')):
        if os.path.exists(os.path.join(d, 'postmaster.pid')):
            run(AS_PG + [os.path.join(S.bindir, 'pg_ctl'), '-D', d, '-m', 'immediate', '-w', 'stop'],
                check=False, capture=True)
    if S.pg18_scratch and os.path.exists(os.path.join(S.pg18_scratch, 'data', 'postmaster.pid')):
        run(in_root18(S.pg18_root, ['runuser', '-u', 'postgres', '--', PG18_BINDIR + '/pg_ctl',
                                    '-D', S.pg18_inner + '/data', '-m', 'immediate', '-w', 'stop']),
            check=False, capture=True)
    if rc != 0:
        for lf in [os.path.join(S.scratch, 'server.log'), os.path.join(S.scratch, 'server_base.log')] + \
                ([os.path.join(S.pg18_scratch, 'server.log')] if S.pg18_scratch else []):
            if not os.path.isfile(lf):
                continue
            sys.stderr.write('---- tail of the server log (%s) ----\n' % lf)
            try:
                sys.stderr.write(''.join(open(lf, errors='replace').readlines()[-30:]))
            except OSError:
                pass
    if S.keep:
        log('scratch directory kept: %s' % S.scratch)
        if S.pg18_scratch:
            log('PostgreSQL 18 scratch directory kept: %s' % S.pg18_scratch)
        return
    shutil.rmtree(S.scratch, ignore_errors=True)
    # inside the root, whose /dev, /proc and /sys are mounted: stay on this file system
    if S.pg18_scratch and re.fullmatch(re.escape(S.pg18_root) + r'/var/tmp/pg_uring_bench18\.[^/]+', S.pg18_scratch):
        run(['rm', '-rf', '--one-file-system', S.pg18_scratch], check=False)


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
        self.sockdir = S.scratch
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
shared_preload_libraries = 'pg_uring'
""" + base_conf(self.port, S.scratch) + """pg_uring.queue_size = %d
pg_uring.ring_entries = %d
# one call at a time is measured: it may use the whole queue
pg_uring.backend_queue_limit = %d
include_if_exists = 'bench_case.conf'
""" % (S.queue_size, S.ring_entries, S.queue_size))
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
            raise BenchFailure('--huge: %d huge pages needed, %d free, and not root' % (self.hp_need, free))
        restore = os.path.join(S.scratch, 'hugepages_restore')
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
            raise BenchFailure('--huge: could only get %d of %d huge pages' % (free, self.hp_need))

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
        need_psycopg2()
        last = None
        for _ in range(100):
            try:
                return Conn(self.sockdir, self.port, 'postgres', dbname)
            except (OSError, psycopg2.OperationalError) as e:      # starting up
                last = e
                time.sleep(0.1)
        raise BenchFailure('cannot connect to the %s cluster: %s' % (self.name, str(last).strip()))

    def huge_pages_needed(self):
        r = run(AS_PG + [os.path.join(self.bindir, 'postgres'), '-D', self.pgdata, '-C',
                         'shared_memory_size_in_huge_pages'], capture=True, check=False)
        try:
            return int(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchFailure('postgres -C shared_memory_size_in_huge_pages: ' + r.stdout)

    def probe_functions(self, c):
        self.has_evict = c.scalar("SELECT count(*) > 0 FROM pg_proc WHERE proname = 'pg_uring_evict'") is True
        self.has_verify = c.scalar("SELECT count(*) > 0 FROM pg_proc WHERE proname = 'pg_uring_verify'") is True

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
        self.io_method = S.pg18_io_methods[0] if S.pg18_io_methods else 'worker'
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
        other sessions use for their own trees (prepare_pg18_root mounted the rest)"""
        for m in ('proc', 'dev'):
            if not os.path.ismount(os.path.join(self.root, m)):
                raise BenchFailure('pg18: %s/%s is no longer mounted (test/debroot.sh umount 18 by someone?)'
                                   % (self.root, m))
        return in_root18(self.root, ['runuser', '-u', 'postgres', '--'] + list(args))

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
""" + base_conf(self.port, self.inner) + """include_if_exists = 'bench_case.conf'
""")
        self.write_case_conf()

    def huge_pages_needed(self):
        """the most any io_method needs (io_uring's rings live in shared memory)"""
        need = 0
        for m in S.pg18_io_methods or ['worker']:
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
    return S.size_mb * (1 << 20) // BLCKSZ * rows_per_page


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
    log('loading %s: %d rows (~%d MB of 2^20 bytes) with COPY FREEZE, then its primary key'
        % (TABLE, nrows, S.size_mb))
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
        for w in S.workloads:
            p = scat_pct(w)
            if p is None:
                continue
            n = min(ds.nblocks, max(1, int(round(ds.nblocks * p / 100.0))))
            rnd = random.Random(S.seed * 1000 + int(round(p * 10)))
            ds.blocks[w] = sorted(rnd.sample(range(ds.nblocks), n))
            ds.literal[w] = '{' + ','.join(map(str, ds.blocks[w])) + '}'
        # the flush case dirties one row per page of this table with HOT
        # updates (fillfactor 50), so that its size never changes
        c.query('CREATE TABLE %s (id int8, v int4, filler char(84)) '
                'WITH (fillfactor = 50, autovacuum_enabled = off)' % FLUSH_TABLE)
        c.query("INSERT INTO %s SELECT g, 0, '' FROM generate_series(1, %d) g"
                % (FLUSH_TABLE, S.flush_mb * (1 << 20) // BLCKSZ * FLUSH_ROWS_PER_PAGE))
        ds.flush_nblocks = int(c.scalar("SELECT pg_relation_size('%s') / 8192" % FLUSH_TABLE))
        c.query('CREATE TABLE bench_blocks (workload text, blk int8)')
        if ds.blocks:
            c.copy_in('COPY bench_blocks FROM STDIN',
                      iter([''.join('%s\t%d\n' % (w, b) for w, bl in ds.blocks.items() for b in bl).encode()]))
        c.query('CHECKPOINT')
    for w, bl in ds.blocks.items():
        with open(os.path.join(S.scratch, 'blocks_%s.txt' % w), 'w') as f:
            f.write(''.join('%d\n' % b for b in bl))
    ds.load_seconds = time.time() - t0
    for w in S.workloads:
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
    base = Cluster('base', S.baseline_bindir, S.pgdata_base, S.baseline_port, S.server_log_base)
    main.stop()
    log('baseline (%s): copying the data directory to %s (port %d)'
        % (S.baseline_rev or S.baseline_bindir, S.pgdata_base, S.baseline_port))
    base.clone_from(main)
    base.write_case_conf('off')
    base.start()
    info = {'rev': S.baseline_rev, 'bindir': S.baseline_bindir, 'port': S.baseline_port}
    with base.connect() as c:
        c.query('DROP EXTENSION pg_uring')
        c.query('CREATE EXTENSION pg_uring')
        if c.scalar("SELECT count(*) FROM pg_proc WHERE proname = 'pg_uring_prewarm_blocks'") != 1:
            raise BenchFailure('baseline: pg_uring_prewarm_blocks does not exist in %s' % S.baseline_rev)
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
        % (S.baseline_rev or 'baseline', info['queue_depth'], info['combine_limit'], info['case']))
    return base, info


def pg18_workloads():
    ws = S.pg18_workloads or S.workloads
    return tuple(w for w in S.workloads if w in ws)


def setup_pg18(main, ds):
    """the PostgreSQL 18 anchor: initdb in the sid root, the same table (same
    generator, SQL and row layout) and primary key, contrib pg_prewarm and
    pg_buffercache; main is stopped first, so only one cluster runs"""
    if not (S.pg18_root and S.pg18_inner):
        raise BenchFailure('--pg18: the sid root is not prepared (prepare_pg18_root)')
    for m in S.pg18_io_methods:
        if m not in ('worker', 'io_uring', 'sync'):
            raise BenchFailure('--pg18-io-methods: unknown io_method %r' % m)
    main.stop()
    x = Cluster18(S.pg18_root, S.pg18_inner, S.pg18_port)
    log('pg18: initdb --data-checksums in %s (root %s, port %d)' % (x.inner_pgdata, S.pg18_root, S.pg18_port))
    x.initdb()
    x.start()
    t0 = time.time()
    info = {'root': S.pg18_root, 'pgdata': x.inner_pgdata, 'port': S.pg18_port, 'io_methods': S.pg18_io_methods,
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
    for w in S.workloads:
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


# -------------------------------------------------------------- cold state --
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


def make_cold(cl, clusters, ds, huge, io_method=None):
    stop_others(cl, clusters)          # only one cluster runs at a time
    if S.cold == 'evict' and cl.has_evict and cl.running() and cl.huge == huge:
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


# ------------------------------------------------------------ read-ahead --
def data_device():
    st = os.stat(S.pgdata)
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
