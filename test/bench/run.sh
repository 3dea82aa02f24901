#!/usr/bin/env bash
# test/bench/run.sh -- cold-cache page I/O benchmark (make bench / make bench-quick)
#
#   bash test/bench/run.sh [OPTIONS]      options: bash test/bench/run.sh --help
#   make bench BENCH_ARGS="--huge both --workloads seq,scat10"
#   make bench-quick [BENCH_OUT=DIR]      (--quick [--out DIR])
#
# The benchmark itself is test/bench/bench.py (the cases: cases.py; the
# clusters, cold state, read-ahead, huge pages, baseline build and the
# PostgreSQL 18 root: cluster.py; results.md/csv and the plot: report.py).
# This wrapper does what needs the machine:
#   - as root, apt-get installs what is missing of fio, gnuplot-nox, python3
#     and python3-psycopg2 (not root: fio and gnuplot are skipped if missing,
#     psycopg2 is required);
#   - runs bench.py with Debian's /usr/bin/python3 (psycopg2 is installed for
#     it only) and every argument of this script;
#   - if the driver dies without its own cleanup (killed), restores what it
#     changed on the machine -- the read-ahead of the data disk and
#     vm.nr_hugepages -- stops its servers and removes its scratch
#     directories (unless --keep), from what the driver noted in --state-dir.
# A signal to this script reaches the driver as SIGTERM; the driver then
# restores read-ahead and huge pages and stops the servers itself.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3
die() { printf 'bench: %s\n' "$*" >&2; exit 2; }

for a in "$@"; do
    case "$a" in
    -h|--help)
        sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        [ -x "$PY" ] || die "$PY is required (apt-get install python3 python3-psycopg2)"
        exec "$PY" "$HERE/bench.py" --help
        ;;
    esac
done

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# ---------------------------------------------------------------- packages --
need=()
command -v fio >/dev/null 2>&1 || need+=(fio)
command -v gnuplot >/dev/null 2>&1 || need+=(gnuplot-nox)
[ -x "$PY" ] || need+=(python3)
{ [ -x "$PY" ] && "$PY" -c 'import psycopg2' 2>/dev/null; } || need+=(python3-psycopg2)
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$IS_ROOT" -eq 1 ]; then
        echo "bench: apt-get install -y ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${need[@]}" \
            || { apt-get update && apt-get install -y --no-install-recommends "${need[@]}"; }
    else
        echo "bench: not root, cannot install ${need[*]}; fio and gnuplot parts are skipped" >&2
    fi
fi
[ -x "$PY" ] || die "$PY is required (apt-get install python3 python3-psycopg2)"
"$PY" -c 'import psycopg2' 2>/dev/null || die "psycopg2 is required for $PY (apt-get install python3-psycopg2)"

# ---------------------------------------------------------------- fallback --
# The driver notes its scratch directories in $STATE (one a line; "keep"
# with --keep).  In them: ra_restore ("PATH KB") and hugepages_restore
# while it has changed those.
STATE=$(mktemp -d "${TMPDIR:-/tmp}/pg_uring_bench_state.XXXXXX")
PYPID=
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    local s pidf pid
    if [ -f "$STATE/scratch" ]; then
        while read -r s; do
            if [ -z "$s" ] || [ ! -d "$s" ]; then continue; fi
            if [ -f "$s/ra_restore" ]; then
                read -r ra_path ra_kb < "$s/ra_restore" || true
                [ -n "${ra_path:-}" ] && echo "$ra_kb" > "$ra_path" 2>/dev/null \
                    && echo "bench: read-ahead restored to $ra_kb kB ($ra_path)" >&2
            fi
            if [ -f "$s/hugepages_restore" ]; then
                cat "$s/hugepages_restore" > /proc/sys/vm/nr_hugepages 2>/dev/null \
                    && echo "bench: vm.nr_hugepages restored to $(cat "$s/hugepages_restore")" >&2
            fi
            # its servers (the main cluster, the baseline's copy, PostgreSQL
            # 18's): an immediate shutdown (SIGQUIT) of each postmaster
            for pidf in "$s"/data*/postmaster.pid; do
                [ -f "$pidf" ] || continue
                pid=$(head -n 1 "$pidf")
                case "$(readlink "/proc/$pid/exe" 2>/dev/null)" in
                */bin/postgres)
                    kill -QUIT "$pid" 2>/dev/null || true
                    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
                    echo "bench: stopped the server of ${pidf%/postmaster.pid} (pid $pid)" >&2
                    ;;
                esac
            done
            if [ -f "$STATE/keep" ]; then
                [ "$rc" -eq 0 ] || echo "bench: scratch directory kept: $s" >&2
            else
                # a directory in the sid root, whose /dev, /proc and /sys are
                # mounted: stay on this file system
                case "$(basename "$s")" in
                pg_uring_bench.?*|pg_uring_bench18.?*) rm -rf --one-file-system "$s" ;;
                esac
            fi
        done < "$STATE/scratch"
    fi
    rm -rf "$STATE"
    exit "$rc"
}
# The driver runs in the background so that a signal reaches this shell at
# once; it is passed on as SIGTERM (background jobs ignore SIGINT).
forward() {
    if [ -n "$PYPID" ]; then
        kill -TERM "$PYPID" 2>/dev/null || true
        wait "$PYPID" 2>/dev/null || true
    fi
    exit "$1"
}
trap cleanup EXIT
trap 'forward 130' INT
trap 'forward 143' TERM
trap 'forward 129' HUP

"$PY" -u "$HERE/bench.py" --state-dir "$STATE" "$@" &
PYPID=$!
wait "$PYPID"
