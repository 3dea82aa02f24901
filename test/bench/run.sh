#!/usr/bin/env bash
# test/bench/run.sh -- cold-cache page I/O benchmark (make bench / make bench-quick)
#
# Builds a throwaway cluster (initdb --data-checksums) in a scratch directory,
# loads a pgbench_accounts-like table with its primary key plus a scattered
# list of random blocks of the table, and then, for every case, makes the
# relation cold (server restart, sync, drop_caches when root, and
# posix_fadvise(DONTNEED) on each segment file) and times ONE call in a fresh
# backend.  Cases alternate A B C A B C over the rounds:
#
#   pg_prewarm/buffer, pg_prewarm/read           contrib pg_prewarm
#   sync/buffer                                  pg_uring, io_method = sync
#   ring/read                                    pg_uring, io_uring, read mode
#   ring/buffer qdQ cC, ring+dio/buffer qdQ cC   pg_uring, io_uring, buffered and
#                                                O_DIRECT, per queue_depth Q and
#                                                combine_limit C
#   verify-*, pg_checksums                       only when pg_uring_verify exists
#
# on the workloads seq (whole table), index (its primary key) and scattered (the
# block list: pg_uring_prewarm_blocks vs. one pg_prewarm(rel,mode,'main',b,b)
# per block).  fio (io_uring, --readonly) on the same segment files gives the
# limit: 128k sequential O_DIRECT qd32 (and buffered), 8k random O_DIRECT
# qd32 and qd128.  As root it also runs a round at 128 kB read-ahead and
# restores the setting afterwards.
#
# Reported per case: median [min-max] MB/s and pages/s, system calls per page
# (backend + ring worker /proc/PID/io syscr+syscw, plus io_uring_enter calls
# from pg_uring_stats), CPU s/GB (backend + worker, all threads), ratio to
# pg_prewarm and to the fio limit.  Every method must return the right block
# count (and leave that many blocks in shared buffers in buffer mode), or the
# script exits non-zero.
#
# Output: test/bench/out/results.{md,csv,json,png}
#
# Environment (defaults in brackets; BENCH_QUICK=1 changes several):
#   BENCH_QUICK=1           smoke test: 300 MB, 1 round, 10k blocks, qd 4/64,
#                           combine 32, short fio, no 128 kB round (< 2 min)
#   BENCH_SIZE_MB [2048]    table size
#   BENCH_ROUNDS [3]        rounds (each runs every case once)
#   BENCH_BLOCKS [100000]   scattered list length (capped at 3/8 of the table)
#   BENCH_QDS ["4 16 64"]   pg_uring.queue_depth values for the ring cases
#   BENCH_COMBINES ["16 32"] pg_uring.combine_limit values
#   BENCH_DEFAULT_QD [16], BENCH_DEFAULT_COMBINE [16]   for ring/read
#   BENCH_WORKLOADS ["seq index scattered"]
#   BENCH_CASES             regex: run only the matching cases
#   BENCH_COLD [restart]    restart | evict (uses pg_uring_evict() if it exists)
#   BENCH_HUGE [0]          0 | 1 (huge_pages = on; root sets vm.nr_hugepages
#                           and restores it) | both (alternate per case)
#   BENCH_RA128 [1]         root: extra round(s) at 128 kB read-ahead
#   BENCH_RA_ROUNDS [1]     how many
#   BENCH_FIO [1], BENCH_FIO_RUNTIME [8]
#   BENCH_FLUSH_MB [512]    size of the table the flush case dirties (one row
#                           per page, HOT) and writes back with pg_uring_flush
#   BENCH_SHARED_BUFFERS_MB [table + index + 1024]
#   BENCH_QUEUE_SIZE [128], BENCH_RING_ENTRIES [512]   (restart GUCs)
#   BENCH_PORT [55440]      BENCH_TMPDIR [/var/tmp]     BENCH_OUT [test/bench/out]
#   BENCH_KEEP=1            keep the scratch directory (cluster) afterwards
#   PG_CONFIG               [/usr/lib/postgresql/15/bin/pg_config]
#
# Root: the server runs as user postgres (runuser); apt-get installs fio and
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
    if [ -f "$SCRATCH/data/postmaster.pid" ]; then
        "${AS_PG[@]}" "$BIN/pg_ctl" -D "$SCRATCH/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$rc" -ne 0 ] && [ -f "$SCRATCH/server.log" ]; then
        echo "---- tail of the server log ($SCRATCH/server.log) ----" >&2
        tail -n 30 "$SCRATCH/server.log" >&2 || true
    fi
    if [ "${BENCH_KEEP:-0}" = "1" ]; then
        echo "bench: scratch directory kept: $SCRATCH" >&2
    else
        rm -rf "$SCRATCH"
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

export BENCH_SCRATCH="$SCRATCH" BENCH_BINDIR="$BIN"
python3 -u "$HERE/bench.py" &
PY=$!
wait "$PY"
