"""The cases and workloads of the benchmark: which cases run (the methods,
ring configurations, baseline twins, PostgreSQL 18 anchor), one timed call
per case with its accounting (/proc of the backend and the ring worker,
pg_uring_stats, the CPU of the whole cluster) and correctness checks, the
offline pg_checksums reference and the fio limits."""
import copy
import json
import os
import re
import subprocess
import time

from cluster import DBError, block_residency, drop_os_cache, make_cold, pg18_workloads
from common import (AS_PG, BLCKSZ, CLK_TCK, FLUSH_ROWS_PER_PAGE, FLUSH_TABLE, HUGE_ANY, INDEX, MB, TABLE,
                    VERIFY_COMBINE, VERIFY_QD, BenchFailure, S, fail, family_of, is_scat, log, read_file,
                    run, warn)


# ----------------------------------------------------------- /proc, CPU --
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


# --------------------------------------------------------------- the cases --
class Case:
    def __init__(self, name, kind, mode='buffer', io_method=None, direct=False,
                 qd=None, combine=None, workloads=None, cluster='main', pg_io_method=None,
                 helpers=None, zero_copy=None):
        self.name, self.kind, self.mode = name, kind, mode
        self.zero_copy = zero_copy              # pg_uring.zero_copy (None: default)
        self.helpers = helpers                  # pg_uring.max_prewarm_workers (None: default)
        self.io_method, self.direct, self.qd, self.combine = io_method, direct, qd, combine
        self.pg_io_method = pg_io_method        # the server's io_method (PostgreSQL 18 cluster)
        self.workloads = tuple(S.workloads) if workloads is None else workloads
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
    """the cases of round rnd: with --baseline-first alt, each pair of a
    case and its "before" twin swaps places every other round"""
    if not (S.baseline_cases and S.baseline_first == 'alt' and rnd % 2 == 0):
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
    out = [(S.default_qd, S.default_combine)]
    if len(S.ring_alt) == 2:
        out.append(tuple(S.ring_alt))
    if S.qds or S.combines:
        for c in (S.combines or [S.default_combine]):
            for q in (S.qds or [S.default_qd]):
                out.append((q, c))
    seen = []
    for x in out:
        if x not in seen:
            seen.append(x)
    return seen


def build_cases(has_verify, base=None, pg18=False):
    cases = [Case('pg_prewarm/buffer', 'prewarm', 'buffer'),
             Case('sync/buffer', 'uring', 'buffer', 'sync')]
    for q, c in ring_configs():
        cases.append(Case('ring/buffer qd%d c%d' % (q, c), 'uring', 'buffer', 'io_uring', False, q, c))
    if S.solo:
        # the defaults without parallel installs: what the helpers add
        cases.append(Case('ring/buffer qd%d c%d solo' % (S.default_qd, S.default_combine), 'uring', 'buffer',
                          'io_uring', False, S.default_qd, S.default_combine, helpers=0))
    if S.zero_copy:
        # PostgreSQL 17: the read-ahead path (zero-copy off), and zero-copy
        # with O_DIRECT in every ring configuration, against the defaults
        # (zero-copy, buffered)
        cases.append(Case('readahead/buffer qd%d c%d' % (S.default_qd, S.default_combine), 'uring', 'buffer',
                          'io_uring', False, S.default_qd, S.default_combine, zero_copy=False))
        for q, c in ring_configs():
            # O_DIRECT has no read-ahead behind it: the deeper configuration too
            cases.append(Case('ring+dio/buffer qd%d c%d' % (q, c), 'uring', 'buffer',
                              'io_uring', True, q, c))
    if base and not S.baseline_cases:
        # the previous release with its own defaults (the claim path)
        cases.append(Case(base['case'], 'uring', 'buffer', 'io_uring', False, None, None, cluster='base'))
    if pg18:
        # PostgreSQL 18's contrib pg_prewarm, called exactly as on 15, per io_method
        for m in S.pg18_io_methods:
            cases.append(Case('pg18 pg_prewarm/buffer io_method=%s' % m, 'prewarm', 'buffer',
                              workloads=pg18_workloads(), cluster='pg18', pg_io_method=m))
    cases += [Case('pg_prewarm/read', 'prewarm', 'read', workloads=('seq',)),
              Case('ring/read qd%d c%d' % (S.default_qd, S.default_combine), 'uring', 'read', 'io_uring',
                   False, S.default_qd, S.default_combine, workloads=('seq',)),
              Case('flush-sync', 'flush', 'flush', 'sync', workloads=('seq',)),
              Case('flush-ring qd%d' % S.default_qd, 'flush', 'flush', 'io_uring', False, S.default_qd,
                   workloads=('seq',))]
    if has_verify:
        cases += [Case('verify-sync', 'verify', 'verify', 'sync', workloads=('seq',)),
                  Case('verify-ring qd%d c%d' % (VERIFY_QD, VERIFY_COMBINE), 'verify', 'verify', 'io_uring',
                       False, VERIFY_QD, VERIFY_COMBINE, workloads=('seq',)),
                  Case('verify-ring+dio qd%d c%d' % (VERIFY_QD, VERIFY_COMBINE), 'verify', 'verify',
                       'io_uring', True, VERIFY_QD, VERIFY_COMBINE, workloads=('seq',))]
    if S.main_io_methods:
        for i, m in enumerate(S.main_io_methods[1:]):
            cases.insert(1 + i, Case('pg_prewarm/buffer io_method=%s' % m, 'prewarm', 'buffer',
                                     pg_io_method=m))
        for c in cases:
            if c.cluster == 'main' and not c.pg_io_method:
                c.pg_io_method = S.main_io_methods[0]
    if S.cases:
        cases = [c for c in cases if re.search(S.cases, c.name)]
    if base and S.baseline_cases:
        # the same pg_uring cases on the baseline build, right after each
        twins = []
        for c in cases:
            twins.append(c)
            if c.cluster == 'main' and c.kind in ('uring', 'verify', 'flush') and re.search(S.baseline_cases, c.name):
                t = copy.copy(c)
                t.name, t.cluster = 'before ' + c.name, 'base'
                if S.baseline_first == 'yes':
                    twins.insert(len(twins) - 1, t)
                else:
                    twins.append(t)
        cases = twins
    return cases


# --------------------------------------------------------------- one case --
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


def wait_ring(c, need):
    """worker pid (and whether the ring is up); waits for the ring after a restart"""
    deadline = time.time() + 15
    while True:
        r = c.query('SELECT worker_pid, ring_up, effective_method, ring_state, reason FROM pg_uring_status')
        wpid = int(r[0][0]) if r and r[0][0] else 0
        up = bool(r) and r[0][1] is True
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
    except (DBError, BenchFailure, ConnectionError, OSError) as e:
        res['error'] = str(e)
        fail('%s %s round %d: %s' % (workload, case.name, rnd, e))
    finally:
        c.close()
    if res.get('seconds'):
        log('r%d %-6s %-3s %-22s %7.1f MB/s %9.0f pages/s  %.4f sys/page  %5.2f cpu-s/GB  %s'
            % (rnd, workload, 'hp' if setting['huge'] == 'on' else '', case.name, res['mb_s'], res['pages_s'],
               res['syscalls_per_page'], res['cpu_s_per_gb'], 'ok' if res['ok'] else 'WRONG')
            + ('  cluster %.2f cpu-s/GB (%s)' % (res['cluster_cpu_s_per_gb'], res['cluster_cpu_detail'])
               if S.pg18 and res.get('cluster_cpu_s_per_gb') is not None else ''))
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
               '--runtime=%d' % S.fio_runtime, '--numjobs=1', '--output-format=json', '--invalidate=1']
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


