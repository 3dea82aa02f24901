"""What every module of the benchmark shares: the settings (bench.py fills S
from its options), logging, the failure and warning lists, constants, the
workload names and two small OS helpers."""
import os
import re
import subprocess
import time
import types

BLCKSZ = 8192
MB = 1e6                     # throughput is reported in MB/s = 10^6 bytes/s
CLK_TCK = os.sysconf('SC_CLK_TCK')
PAGESIZE = os.sysconf('SC_PAGE_SIZE')

IS_ROOT = os.geteuid() == 0
PG_USER = 'postgres' if IS_ROOT else None
AS_PG = ['runuser', '-u', 'postgres', '--'] if IS_ROOT else []

DB = 'bench'
TABLE = 'bench_table'
INDEX = 'bench_table_pkey'
FLUSH_TABLE = 'bench_flush'
FLUSH_ROWS_PER_PAGE = 30        # char(84) rows at fillfactor 50
VERIFY_QD, VERIFY_COMBINE = 64, 32
NOISE = 0.95                    # "never slower, beyond 5% noise"
HUGE_ANY = 'any'                # huge_pages of results that do not depend on it (fio, pg_checksums)
PG18_BINDIR = '/usr/lib/postgresql/18/bin'        # inside the root
PG18_WORKER_CASE = 'pg18 pg_prewarm/buffer io_method=worker'
PG18_PREFIX = 'pg18 pg_prewarm/buffer io_method='

# The units of every table: say them under each one (README and the GUCs
# such as pg_uring.verify_rate_limit use PostgreSQL's MB = 2^20 bytes).
UNITS_NOTE = ('Units: MB/s = 10^6 bytes/s (not PostgreSQL\'s MB of 2^20 bytes, as in shared_buffers or '
              'pg_uring.verify_rate_limit); CPU s/GB = CPU seconds per 2^30 bytes.')

# The settings: bench.py's options (argparse), plus what the run derives
# (scratch directory, data directories, binaries, the default ring case).
S = types.SimpleNamespace()

failures = []      # hard failures: wrong counts, errors, methods not run
warnings = []      # soft findings worth reporting


def log(msg):
    print('[bench %s] %s' % (time.strftime('%H:%M:%S'), msg), flush=True)


class BenchFailure(Exception):
    pass


def fail(msg):
    failures.append(msg)
    log('FAIL: ' + msg)


def warn(msg):
    warnings.append(msg)
    log('WARNING: ' + msg)


# -------------------------------------------------------------- workloads --
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
            log("--workloads: 'scattered' is now scat1 / scat10 / scat40; using scat10")
            w = 'scat10'
        p = scat_pct(w)
        if w not in ('seq', 'index') and (p is None or not 0 < p <= 100):
            raise BenchFailure("--workloads: unknown workload %r (seq, index, scatN with N in (0, 100])" % w)
        if w not in out:
            out.append(w)
    return out


def wl_order(w):
    """report order: seq, index, then the lists by density"""
    return (0, 0) if w == 'seq' else (1, 0) if w == 'index' else (2, scat_pct(w) or 0) if is_scat(w) else (3, 0)


def family_of(name):
    """'ring/buffer qd4 c32' -> 'ring'"""
    return name.split('/')[0].split(' ')[0]


# ----------------------------------------------------------- OS utilities --
def run(cmd, check=True, capture=False, **kw):
    if capture:
        return subprocess.run(cmd, check=check, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, **kw)
    return subprocess.run(cmd, check=check, **kw)


def read_file(path):
    with open(path) as f:
        return f.read()
