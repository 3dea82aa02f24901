"""The report of the benchmark: the summary per (read-ahead, page size) cell,
workload and case (medians, the ×pg_prewarm, ×claims, ×pg18 worker and ×fio
ratios), results.md with issue 8's and issue 14's targets, results.csv
(every run), results.json (only with --json), and the plot (gnuplot)."""
import csv
import datetime
import json
import os
import platform
import re
import shutil
import statistics

from cluster import get_ra
from common import (BLCKSZ, HUGE_ANY, IS_ROOT, MB, NOISE, PG18_PREFIX, PG18_WORKER_CASE, UNITS_NOTE, S,
                    failures, family_of, is_scat, read_file, run, scat_pct, warn, warnings, wl_order)
from cases import CLUSTER_KEYS


# ------------------------------------------------------------- summaries --
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
            cols = [s['workload'], ('**%s**' % s['case']) if s['case'] == S.default_ring else s['case'],
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
        lines += ['', UNITS_NOTE, '']
    off = [s for s in summ if s['huge_pages'] == HUGE_ANY]
    if off:
        lines += ['## Limits and offline references (no server running)', '',
                  '| RA kB | test | MB/s median [min–max] | CPU s/GB | runs | ok |', '|---|---|---|---|---|---|']
        for s in off:
            lines.append('| %s | %s | %s [%s–%s] | %s | %d | %s |' % (
                s['ra_kb'], s['case'], fmt(s['mb_s']), fmt(s['mb_s_min'], 0), fmt(s['mb_s_max'], 0),
                fmt(s['cpu_s_per_gb'], 2), s['runs'], 'ok' if s['all_ok'] else '**WRONG**'))
        lines += ['', UNITS_NOTE, '']
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
            r, p = idx.get((ra, hp, w, S.default_ring)), idx.get((ra, hp, w, 'pg_prewarm/buffer'))
            if r and p and p['mb_s']:
                out[(ra, hp, w)] = (r['mb_s'] / p['mb_s'], r, p)
    return out


def targets(summ, meta):
    """issue 8's targets, with the defaults (informational: the script does not fail on them)"""
    ratios = target_ratios(summ)
    cells = cells_of(summ)
    hpname = {'on': 'huge', 'off': '4 kB'}
    out = ['## Targets (issue 8), pg_uring defaults (%s) vs pg_prewarm/buffer' % S.default_ring, '',
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
        out += ['%s × pg_prewarm/buffer (× claims) per cell:' % S.default_ring, '',
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
        out += ['No 128 kB read-ahead round ran (needs root and --ra128).', '']
    return out


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
            r = idx.get((ra, hp, w, S.default_ring))
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
    out = ['## pg_uring defaults (%s) vs PostgreSQL 18 pg_prewarm/buffer (issue 14)' % S.default_ring, '']
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
            % (S.default_ring, ' / '.join('×' + m for m in methods)), '',
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
    d = os.path.join(S.out, 'plot')
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
          'set ylabel "MB/s (10^6 bytes/s)"', 'set grid ytics', 'set key top right', 'set yrange [0:*]',
          'set title "MB/s (10^6 bytes/s) per method and workload, %s (median, min-max bars)"' % cell_title(ra, hp)]
    parts = []
    for i, m in enumerate(methods):
        col = 2 + 3 * i
        parts.append('"%s/bars.dat" using %d:%d:%d%s title "%s"' % (
            d, col, col + 1, col + 2, ':xtic(1)' if i == 0 else '', m))
    gp.append('plot ' + ', '.join(parts))
    def ratio_plot(ylabel, title, dat):
        gp.extend(['set style histogram clustered gap 2', 'set ylabel "%s"' % ylabel,
                   'set title "%s"' % title])
        parts = ['"%s/%s" using %d%s title "RA %s kB, %s"' % (
            d, dat, 2 + i, ':xtic(1)' if i == 0 else '', c[0], 'huge pages' if c[1] == 'on' else '4 kB pages')
            for i, c in enumerate(cells)]
        parts.append('1 with lines lc rgb "black" dt 2 notitle')
        gp.append('plot ' + ', '.join(parts))
    if ratios:
        ratio_plot('x pg_prewarm/buffer',
                   '%s / pg_prewarm/buffer per cell (targets: >= 0.95 everywhere, seq at 128 kB >= 1.5, '
                   'scat10 >= 4, scat40 >= 2.5)' % S.default_ring, 'ratios.dat')
    if r18:
        ratio_plot('x pg18 worker',
                   '%s / PostgreSQL 18 pg_prewarm/buffer io_method=worker per cell (targets: seq >= 1, '
                   'scat10 >= 4 against every io_method)' % S.default_ring, 'ratios18.dat')
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
            'ra_kb': ra_kb, 'rounds': S.rounds, 'quick': S.quick, 'root': IS_ROOT, 'size_mb': S.size_mb,
            'queue_size': S.queue_size, 'ring_entries': S.ring_entries, 'load_s': ds.load_seconds}


# ----------------------------------------------------------------- output --
def write_results(results, meta):
    """results.md and results.csv (every run) in --out, results.json there
    too with --json, and the plot results.png; prints results.md"""
    summ = summarize(results)
    md = markdown(summ, meta)
    with open(os.path.join(S.out, 'results.md'), 'w') as f:
        f.write(md)
    keys = []
    for r in results:
        for k in r:
            if k not in keys:
                keys.append(k)
    # the cluster CPU columns go last, so that the others keep their places
    keys = [k for k in keys if k not in CLUSTER_KEYS] + [k for k in keys if k in CLUSTER_KEYS]
    with open(os.path.join(S.out, 'results.csv'), 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(results)
    if S.json:
        with open(os.path.join(S.out, 'results.json'), 'w') as f:
            json.dump({'meta': meta, 'summary': summ, 'runs': results, 'failures': failures,
                       'warnings': sorted(set(warnings))}, f, indent=1, default=str)
    plot(summ, meta, os.path.join(S.out, 'results.png'))
    print()
    print(md)
    print('results: %s/results.{%s}' % (S.out, 'md,csv,json,png' if S.json else 'md,csv,png'))


def report_only(path):
    """re-make results.md and the plot from a results.json"""
    j = json.load(open(path))
    meta, runs = j['meta'], j['runs']
    failures.extend(j.get('failures', []))
    warnings.extend(j.get('warnings', []))
    S.default_ring = meta.get('default_ring', S.default_ring)
    os.makedirs(S.out, exist_ok=True)
    for r in runs:
        if r.get('family') not in ('fio', 'pg_checksums'):
            r['family'] = family_of(r['case'])
    summ = summarize(runs)
    md = markdown(summ, meta)
    with open(os.path.join(S.out, 'results.md'), 'w') as f:
        f.write(md)
    plot(summ, meta, os.path.join(S.out, 'results.png'))
    print(md)
    return 0


