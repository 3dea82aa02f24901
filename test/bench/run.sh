#!/usr/bin/env bash
# test/bench/run.sh -- cold-cache page I/O benchmark (make bench / make bench-quick)
#
# Builds a throwaway cluster (initdb --data-checksums) in a scratch directory,
# loads a pgbench_accounts-like table (1 GB by default) with its primary key,
# draws sorted random block lists of the table at 1%, 10% and 40% of its
# blocks, and then, for every case, makes the relation cold (stop the other
# cluster, restart this one, sync, drop_caches when root, and
# posix_fadvise(DONTNEED) on each segment file of that cluster) and times ONE
# call in a fresh backend.  Cases alternate A B C A B C over the rounds:
#
#   pg_prewarm/buffer, pg_prewarm/read   contrib pg_prewarm
#   sync/buffer                          pg_uring, io_method = sync
#   ring/buffer qd16 c16                 pg_uring, io_uring, the defaults
#   ring/buffer qd16 c16 solo            the defaults without prewarm helpers
#                                        (parallel installs off; BENCH_SOLO=0: none)
#   ring/buffer qd64 c32                 (BENCH_RING_ALT; BENCH_QDS x
#                                        BENCH_COMBINES add more)
#   readahead/buffer qd16 c16            17, BENCH_ZERO_COPY=1: zero-copy off
#   ring+dio/buffer qdQ cC               17, BENCH_ZERO_COPY=1: zero-copy with
#                                        O_DIRECT, per ring configuration
#   claims/buffer qdQ cC                 the previous release (BENCH_BASELINE_REV,
#                                        its claim path) with its defaults
#   ring/read qd16 c16                   pg_uring read mode (seq only)
#   flush-*, verify-*, pg_checksums      seq only (verify when it exists)
#
# on the workloads seq (whole table), index (its primary key) and scat1,
# scat10, scat40 (the block lists: one pg_uring_prewarm_blocks call vs. one
# pg_prewarm(rel,mode,'main',b,b) per block).  Each case runs with 4 kB pages
# and, with BENCH_HUGE=both, huge pages (alternating).  fio (io_uring,
# --readonly, no server running) on the same segment files gives the limit:
# 128k sequential O_DIRECT qd32 (and buffered), 8k random O_DIRECT qd32 and
# qd128.  As root it also runs round(s) at 128 kB read-ahead and restores the
# setting (and vm.nr_hugepages) afterwards, also on failure.
#
# Baseline (BENCH_BASELINE_REV=REV, e.g. 9bb2c65): this script copies the
# PostgreSQL install that PG_CONFIG describes (bindir's parent, sharedir,
# includedir-server's parents; same relative layout) into
# $SCRATCH/pgbase/usr/..., builds `git archive REV` of this repository
# (BENCH_BASELINE_REPO) against that copy and installs it there.  The driver
# copies the data directory after loading, starts it on port BENCH_PORT+1
# with the copy's binaries, recreates the extension (old SQL for the old
# library) and runs the claims cases on it.  Only one cluster runs at a time.
#
# PostgreSQL 18 anchor (BENCH_PG18=1, root): test/debroot.sh ensure 18
# builds/mounts the Debian sid root; a PostgreSQL 18 cluster is created in
# ROOT/var/tmp/pg_uring_bench18.XXXXXX (same disk; initdb --data-checksums,
# the same settings and shared_buffers, no pg_uring, port BENCH_PORT+2) and
# loaded with the same table (same generator and SQL; both block counts are
# reported).  Its cases "pg18 pg_prewarm/buffer io_method=M" (M = worker,
# io_uring, sync; io_workers etc. at their defaults) call contrib pg_prewarm
# exactly as the pg_prewarm/buffer case does on 15 (lists: one
# pg_prewarm(rel,'buffer','main',b,b) per block), alternate in the same
# rounds and cells, and are made cold the same way (restart with the
# io_method, sync, drop_caches, DONTNEED on its files).  Only the cluster
# being measured runs, so only it holds (huge-page) shared memory.  The
# report gains "×pg18 worker" and "cluster CPU s/GB" columns, a table of
# the default ring case against every PostgreSQL 18 io_method (issue 14's
# targets) and a third plot panel.
#
# Cluster CPU (every case, recorded in csv/json; a column in results.md
# with BENCH_PG18=1): before and after the timed call, the postmaster's
# utime+stime+cutime+cstime from /proc (cutime/cstime: children it has
# reaped, e.g. helper workers that exited during the call) plus
# utime+stime+cutime+cstime of every live descendant; the delta is the
# cluster's CPU (io workers, helpers, the ring worker and the backend).
#
# Reported per (read-ahead, page size) cell and workload: median [min-max]
# MB/s, ratio to pg_prewarm and to the baseline, system calls per page
# (backend + ring worker /proc/PID/io syscr+syscw, plus io_uring_enter calls
# from pg_uring_stats), CPU s/GB (backend + worker, all threads), ratio to the
# fio limit; then issue 8's targets for the defaults (PASS/MISS).  Every
# method must return the right block count (and leave that many blocks in
# shared buffers in buffer mode), or the script exits non-zero.
#
# Output: test/bench/out/results.{md,csv,json,png}
#
# The full matrix of issue 8 (root; 1 GB table, 3 rounds at the default
# read-ahead + 2 at 128 kB, 4 kB and huge pages, baseline; about 30 min on a
# 2-core machine; 64 cold runs per round):
#   BENCH_BASELINE_REV=9bb2c65 BENCH_HUGE=both make bench
# With the PostgreSQL 18 anchor (issue 14; 30 more cold runs per round, plus
# a second 1 GB load):
#   BENCH_PG18=1 BENCH_HUGE=both make bench
#
# Environment (defaults in brackets; BENCH_QUICK=1 changes several):
#   BENCH_QUICK=1           smoke test: 200 MB, 1 round, fio 2 s, no 128 kB
#                           round, no baseline unless BENCH_BASELINE_REV (< 3 min)
#   BENCH_SIZE_MB [1024]    table size
#   BENCH_ROUNDS [3]        rounds (each runs every case once)
#   BENCH_WORKLOADS ["seq index scat1 scat10 scat40"]   scatN = N% of the blocks
#   BENCH_DEFAULT_QD [16], BENCH_DEFAULT_COMBINE [16]   the default ring case
#   BENCH_RING_ALT ["64 32"]  qd and combine of the second ring case ("" = none)
#   BENCH_QDS, BENCH_COMBINES ["" ""]  extra ring/buffer grid (every pair)
#   BENCH_BASELINE_REV      git revision of the previous release (unset: none)
#   BENCH_BASELINE_REPO     [this repository]  BENCH_BASELINE_PORT [BENCH_PORT+1]
#   BENCH_BASELINE_CASES    regex: these pg_uring cases also run on the baseline
#                           build, as "before <case>", right after each (a
#                           before/after run of one change; no claims case)
#   BENCH_BASELINE_FIRST [0] 1: each "before" case runs before its twin;
#                           alt: before it in every other round
#   BENCH_CASES             regex: run only the matching cases
#   BENCH_COLD [restart]    restart | evict (uses pg_uring_evict() if it exists)
#   BENCH_HUGE [0]          0 | 1 (huge_pages = on; root sets vm.nr_hugepages
#                           and restores it) | both (alternate per case)
#   BENCH_RA128 [1]         root: extra round(s) at 128 kB read-ahead
#   BENCH_RA_ROUNDS [2]     how many
#   BENCH_FIO [1], BENCH_FIO_RUNTIME [8]
#   BENCH_FLUSH_MB [512]    size of the table the flush case dirties (one row
#                           per page, HOT) and writes back with pg_uring_flush
#   BENCH_SHARED_BUFFERS_MB [table + index + 1024]
#   BENCH_QUEUE_SIZE [128], BENCH_RING_ENTRIES [512]   (restart GUCs)
#   BENCH_PORT [55440]      BENCH_TMPDIR [/var/tmp]     BENCH_OUT [test/bench/out]
#   BENCH_PG18 [0]          1: the PostgreSQL 18 anchor (root; see above)
#   BENCH_PG18_IO_METHODS ["worker io_uring sync"]   its cases
#   BENCH_MAIN_IO_METHODS   [""]  with PG_CONFIG of PostgreSQL 18: the server's
#                           io_method for every case (the first word), plus a
#                           contrib pg_prewarm case for each further one, e.g.
#                           "worker io_uring"
#   BENCH_PG18_WORKLOADS    [every workload]  BENCH_PG18_PORT [BENCH_PORT+2]
#   BENCH_KEEP=1            keep the scratch directory (clusters) afterwards
#   PG_CONFIG               [/usr/lib/postgresql/15/bin/pg_config]
#
# Root: the servers run as user postgres (runuser); apt-get installs fio and
# gnuplot-nox if missing.  Non-root: the server runs as you; no drop_caches,
# read-ahead or huge-page changes (posix_fadvise only).  The extension must be
# installed (make && make install).

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() { printf 'bench: %s\n' "$*" >&2; exit 2; }

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# ---------------------------------------------------------------- packages --
need=()
command -v fio >/dev/null 2>&1 || need+=(fio)
command -v gnuplot >/dev/null 2>&1 || need+=(gnuplot-nox)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$IS_ROOT" -eq 1 ]; then
        echo "bench: apt-get install -y ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${need[@]}" \
            || { apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }
    else
        echo "bench: not root, cannot install ${need[*]}; those parts are skipped" >&2
    fi
fi
command -v python3 >/dev/null 2>&1 || die "python3 is required"

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config) || die "pg_config not found"
BIN=$("$PG_CONFIG" --bindir)
[ -f "$("$PG_CONFIG" --pkglibdir)/pg_uring.so" ] || die "pg_uring is not installed (make && make install)"
[ -f "$("$PG_CONFIG" --sharedir)/extension/pg_prewarm.control" ] || die "contrib pg_prewarm is not installed"
if [ "$IS_ROOT" -eq 1 ]; then
    id postgres >/dev/null 2>&1 || die "user postgres does not exist (the server refuses to run as root)"
fi

# ---------------------------------------------------------------- scratch --
TMPBASE=${BENCH_TMPDIR:-/var/tmp}
SCRATCH=$(mktemp -d "$TMPBASE/pg_uring_bench.XXXXXX")
chmod 755 "$SCRATCH"
[ "$IS_ROOT" -eq 1 ] && chown postgres: "$SCRATCH"
AS_PG=()
[ "$IS_ROOT" -eq 1 ] && AS_PG=(runuser -u postgres --)
# the PostgreSQL 18 anchor (BENCH_PG18=1): the sid root, and a scratch
# directory inside it (host path / path inside the root)
DEBROOT=$HERE/../debroot.sh
ROOT18= SCRATCH18= INNER18=
# a command inside the root, as "test/debroot.sh run" does it, but without
# its bind mount of this checkout at /pg_uring (other sessions build from
# the tree they bound there: the benchmark must not replace it)
in_root18() {
    chroot "$ROOT18" env -i PATH="/usr/lib/postgresql/18/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
        HOME=/root LANG=C.UTF-8 "$@"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    # the driver restores these itself; this is the fallback if it was killed
    if [ -f "$SCRATCH/ra_restore" ]; then
        read -r ra_path ra_kb < "$SCRATCH/ra_restore" || true
        [ -n "${ra_path:-}" ] && echo "$ra_kb" > "$ra_path" 2>/dev/null \
            && echo "bench: read-ahead restored to $ra_kb kB ($ra_path)" >&2
    fi
    if [ -f "$SCRATCH/hugepages_restore" ]; then
        cat "$SCRATCH/hugepages_restore" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
    fi
    # the clusters: the main one and the baseline's copy (same major version)
    for d in "$SCRATCH/data" "$SCRATCH/data_base"; do
        if [ -f "$d/postmaster.pid" ]; then
            "${AS_PG[@]}" "$BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
        fi
    done
    if [ -n "$SCRATCH18" ] && [ -f "$SCRATCH18/data/postmaster.pid" ]; then
        in_root18 runuser -u postgres -- /usr/lib/postgresql/18/bin/pg_ctl \
            -D "$INNER18/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$rc" -ne 0 ]; then
        for l in "$SCRATCH/server.log" "$SCRATCH/server_base.log" ${SCRATCH18:+"$SCRATCH18/server.log"}; do
            [ -f "$l" ] || continue
            echo "---- tail of the server log ($l) ----" >&2
            tail -n 30 "$l" >&2 || true
        done
    fi
    if [ "${BENCH_KEEP:-0}" = "1" ]; then
        echo "bench: scratch directory kept: $SCRATCH" >&2
        [ -n "$SCRATCH18" ] && echo "bench: PostgreSQL 18 scratch directory kept: $SCRATCH18" >&2
    else
        rm -rf "$SCRATCH"
        # inside the root, whose /dev, /proc and /sys are mounted: stay on this file system
        case "$SCRATCH18" in
            "$ROOT18"/var/tmp/pg_uring_bench18.?*) rm -rf --one-file-system "$SCRATCH18" ;;
        esac
    fi
    exit "$rc"
}
# The driver runs in the background so that a signal reaches this shell at
# once; it is passed on as SIGTERM (background jobs ignore SIGINT), and the
# driver restores read-ahead / huge pages and stops the server itself.
PY=
forward() {
    if [ -n "$PY" ]; then
        kill -TERM "$PY" 2>/dev/null || true
        wait "$PY" 2>/dev/null || true
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'forward 130' INT
trap 'forward 143' TERM
trap 'forward 129' HUP

# --------------------------------------------------------------- baseline --
# The previous release, built from git against a private relocated copy of
# the same PostgreSQL install (PostgreSQL finds its share and lib
# directories relative to its binaries, so the copy's pg_config reports the
# copy's paths), installed into that copy only.
BASE_BINDIR=
if [ -n "${BENCH_BASELINE_REV:-}" ]; then
    REPO=${BENCH_BASELINE_REPO:-$(cd "$HERE/../.." && pwd)}
    REV=$(git -C "$REPO" rev-parse --verify --short "${BENCH_BASELINE_REV}^{commit}" 2>&1) \
        || die "BENCH_BASELINE_REV=$BENCH_BASELINE_REV is not a commit of $REPO: $REV"
    # the source install, from the main PG_CONFIG: ROOT/lib/postgresql/MAJOR/bin,
    # ROOT/share/postgresql/MAJOR, ROOT/include/postgresql/MAJOR/server
    SRC_LIB=$(dirname "$BIN")                                   # ROOT/lib/postgresql/MAJOR
    SRC_SHARE=$("$PG_CONFIG" --sharedir)                        # ROOT/share/postgresql/MAJOR
    SRC_INC=$(dirname "$(dirname "$("$PG_CONFIG" --includedir-server)")")   # ROOT/include/postgresql
    MAJOR=$(basename "$SRC_LIB")
    ROOT=$(dirname "$(dirname "$(dirname "$SRC_LIB")")")
    [ "$SRC_SHARE" = "$ROOT/share/postgresql/$MAJOR" ] && [ "$SRC_INC" = "$ROOT/include/postgresql" ] \
        || die "baseline: unexpected install layout (bindir $BIN, sharedir $SRC_SHARE, include $SRC_INC)"
    DST=$SCRATCH/pgbase/usr
    echo "bench: baseline $REV: copying $ROOT/{lib/postgresql/$MAJOR,share/postgresql/$MAJOR,include/postgresql} to $DST"
    mkdir -p "$DST/lib/postgresql" "$DST/share/postgresql" "$DST/include"
    cp -a "$SRC_LIB" "$DST/lib/postgresql/"
    cp -a "$SRC_SHARE" "$DST/share/postgresql/"
    cp -a "$SRC_INC" "$DST/include/"
    BASE_PGC=$DST/lib/postgresql/$MAJOR/bin/pg_config
    for what in bindir sharedir pkglibdir includedir-server pgxs; do
        p=$("$BASE_PGC" --$what)
        case "$p" in
            "$DST"/*) ;;
            *) die "baseline: the copy's pg_config --$what is $p, not inside $DST (not relocatable?)" ;;
        esac
    done
    mkdir -p "$SCRATCH/base_src"
    git -C "$REPO" archive "$REV" | tar -x -C "$SCRATCH/base_src"
    echo "bench: baseline $REV: building against $BASE_PGC (log: base_build.log)"
    if ! { make -C "$SCRATCH/base_src" -j"$(nproc)" PG_CONFIG="$BASE_PGC" \
           && make -C "$SCRATCH/base_src" PG_CONFIG="$BASE_PGC" install; } > "$SCRATCH/base_build.log" 2>&1; then
        tail -n 30 "$SCRATCH/base_build.log" >&2
        die "baseline: build of $REV failed"
    fi
    BASE_SO=$("$BASE_PGC" --pkglibdir)/pg_uring.so
    [ -f "$BASE_SO" ] || die "baseline: $BASE_SO not installed"
    if cmp -s "$BASE_SO" "$("$PG_CONFIG" --pkglibdir)/pg_uring.so"; then
        echo "bench: WARNING: the baseline library is identical to the installed one" >&2
    fi
    BASE_BINDIR=$("$BASE_PGC" --bindir)
    export BENCH_BASE_BINDIR="$BASE_BINDIR" BENCH_BASELINE_REV="$REV"
fi

# ---------------------------------------------------------- PostgreSQL 18 --
# A cluster in the Debian sid root (test/debroot.sh ensure 18 builds and
# mounts it; idempotent).  Its scratch directory is $ROOT18/var/tmp/...: a
# directory on the host's disk, so its data files are on the same device as
# the PostgreSQL 15 clusters'.
if [ "${BENCH_PG18:-0}" = "1" ]; then
    [ "$IS_ROOT" -eq 1 ] || die "BENCH_PG18=1 needs root (the sid root is entered with chroot)"
    ROOT18=$(bash "$DEBROOT" path 18) || die "test/debroot.sh path 18 failed"
    # "ensure" also bind-mounts this checkout at ROOT/pg_uring when nothing
    # is mounted there; undo that (only if it was not there before)
    bound=0
    mountpoint -q "$ROOT18/pg_uring" 2>/dev/null && bound=1
    ROOT18=$(bash "$DEBROOT" ensure 18) || die "test/debroot.sh ensure 18 failed"
    [ -d "$ROOT18" ] || die "test/debroot.sh ensure 18 printed no directory ($ROOT18)"
    if [ "$bound" -eq 0 ] && mountpoint -q "$ROOT18/pg_uring"; then
        umount "$ROOT18/pg_uring" || echo "bench: WARNING: could not unmount $ROOT18/pg_uring" >&2
    fi
    for m in proc sys dev; do
        mountpoint -q "$ROOT18/$m" || die "$ROOT18/$m is not mounted after test/debroot.sh ensure 18"
    done
    [ -x "$ROOT18/usr/lib/postgresql/18/bin/postgres" ] || die "no PostgreSQL 18 server in $ROOT18"
    [ -f "$ROOT18/usr/share/postgresql/18/extension/pg_prewarm.control" ] \
        || die "no contrib pg_prewarm for PostgreSQL 18 in $ROOT18"
    mkdir -p "$ROOT18/var/tmp"
    SCRATCH18=$(mktemp -d "$ROOT18/var/tmp/pg_uring_bench18.XXXXXX")
    INNER18=${SCRATCH18#"$ROOT18"}
    chmod 755 "$SCRATCH18"
    in_root18 chown postgres: "$INNER18" || die "cannot chown $INNER18 in the sid root"
    echo "bench: PostgreSQL 18 anchor in $ROOT18 (scratch $INNER18 inside it)"
    export BENCH_PG18=1 BENCH_PG18_ROOT="$ROOT18" BENCH_PG18_SCRATCH="$INNER18"
fi

export BENCH_SCRATCH="$SCRATCH" BENCH_BINDIR="$BIN"
python3 -u "$HERE/bench.py" &
PY=$!
wait "$PY"
