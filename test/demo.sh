#!/usr/bin/env bash
# test/demo.sh -- the main job, end to end:
#
#   bash test/demo.sh
#
# As root on a fresh Debian 12 machine: installs what it needs through apt,
# builds and installs pg_uring, starts a throwaway cluster (as the user
# "postgres", with data checksums and pg_uring preloaded), creates a sample
# table (~500 MB), then cold-prewarms it with contrib pg_prewarm, with
# pg_uring.io_method = sync and with io_method = io_uring (also with O_DIRECT),
# and prints MB/s, system calls per page and CPU time, then pg_uring_status and
# pg_uring_stats.  The cluster is stopped and removed at the end.
#
# Environment:
#   DEMO_ROWS=2000000        rows in demo_table (~270 bytes each; 2M ~ 520 MB)
#   DEMO_RUNS=1              cold runs per method (alternating methods)
#   DEMO_METHODS="pg_prewarm sync io_uring"  (io_uring+direct: O_DIRECT, for verify-style reads)
#   DEMO_MODE=buffer         prewarm mode (buffer | read | prefetch)
#   DEMO_PORT=54329          port of the throwaway cluster
#   DEMO_SHARED_BUFFERS=1GB
#   DEMO_KEEP=1              keep the cluster's directory afterwards
#   DEMO_COLD=restart        how each run is made cold: restart (a server
#                            restart, drop_caches, DONTNEED) or evict (the
#                            table's buffers evicted, its page cache dropped)
#   DEMO_PG=15               the PostgreSQL major: 15 on the host; 17 or 18 in
#                            the Debian root (trixie, sid) that test/debroot.sh
#                            builds (root only), on a copy of this tree
#   CI=true                  always run apt-get
# As a non-root user: no apt, no drop_caches (posix_fadvise DONTNEED only),
# and the extension's install directories must be writable.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DEMO_ROWS=${DEMO_ROWS:-2000000}
DEMO_RUNS=${DEMO_RUNS:-1}
DEMO_METHODS=${DEMO_METHODS:-pg_prewarm sync io_uring}
DEMO_MODE=${DEMO_MODE:-buffer}
DEMO_PORT=${DEMO_PORT:-54329}
DEMO_SHARED_BUFFERS=${DEMO_SHARED_BUFFERS:-1GB}
DEMO_PG=${DEMO_PG:-15}
PG_USER=postgres

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'demo.sh: %s\n' "$*" >&2; exit 1; }

case "$DEMO_PG" in
    15) PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib liburing-dev
                  libipc-run-perl build-essential) ;;
    17|18) PACKAGES=("postgresql-$DEMO_PG" "postgresql-server-dev-$DEMO_PG" liburing-dev
                     build-essential) ;;
    16) die "DEMO_PG=16: PostgreSQL 16 is in no Debian suite, so pg_uring was never built or tested on it; use 15, 17 or 18" ;;
    *) die "DEMO_PG must be 15, 17 or 18" ;;
esac

# 17 and 18 come from Debian roots: run this script in there, on a copy of
# the tree (so that the host's build is left alone)
if [ "$DEMO_PG" != 15 ] && [ -z "${PGU_DEMO_IN_ROOT:-}" ]; then
    [ "$(id -u)" -eq 0 ] || die "DEMO_PG=$DEMO_PG runs in a Debian root (test/debroot.sh), which needs root"
    export PGU_ROOT_SRC="$ROOT" PGU_ROOT_MNT=/pg_uring-demo
    rootdir=$(bash "$ROOT/test/debroot.sh" path "$DEMO_PG")
    # a stale bind of another tree at our mount point: replace it
    if mountpoint -q "$rootdir$PGU_ROOT_MNT" &&
       [ "$(stat -c %d:%i "$ROOT")" != "$(stat -c %d:%i "$rootdir$PGU_ROOT_MNT")" ]; then
        umount "$rootdir$PGU_ROOT_MNT"
    fi
    log "PostgreSQL $DEMO_PG: the Debian root $rootdir (test/debroot.sh ensure $DEMO_PG)"
    bash "$ROOT/test/debroot.sh" ensure "$DEMO_PG" >/dev/null
    envs=(PGU_DEMO_IN_ROOT=1 "DEMO_PG=$DEMO_PG")
    for v in DEMO_ROWS DEMO_RUNS DEMO_METHODS DEMO_MODE DEMO_PORT DEMO_SHARED_BUFFERS DEMO_KEEP DEMO_COLD; do
        [ -n "${!v+set}" ] && envs+=("$v=${!v}")
    done
    exec bash "$ROOT/test/debroot.sh" run "$DEMO_PG" env "${envs[@]}" bash -c \
        'set -e; src=$(mktemp -d /tmp/pg_uring_demo_src.XXXXXX); trap "rm -rf $src" EXIT
         cp -a /pg_uring-demo/. "$src"; cd "$src"
         make -s clean PG_CONFIG=/usr/lib/postgresql/$DEMO_PG/bin/pg_config >/dev/null
         bash test/demo.sh'
fi

case "$DEMO_MODE" in buffer|read|prefetch) ;; *) die "DEMO_MODE must be buffer, read or prefetch" ;; esac
[[ "$DEMO_ROWS" =~ ^[0-9]+$ ]] || die "DEMO_ROWS must be a number"

# ---------------------------------------------------------------- packages --
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1
if [ "$IS_ROOT" -eq 1 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
    done
    if [ "${CI:-}" = "true" ] || [ "${#missing[@]}" -gt 0 ]; then
        log "apt-get install ${PACKAGES[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${PACKAGES[@]}"
    fi
    id "$PG_USER" >/dev/null 2>&1 || die "user '$PG_USER' does not exist"
    AS_PG=(runuser -u "$PG_USER" --)
else
    AS_PG=()
fi

PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$DEMO_PG/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config) || die "pg_config not found"
BIN=$("$PG_CONFIG" --bindir)

# ------------------------------------------------------------ build/install --
log "build and install pg_uring"
make -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
make install PG_CONFIG="$PG_CONFIG"

# -------------------------------------------------------- throwaway cluster --
DEMO_DIR=$(mktemp -d /tmp/pg_uring_demo.XXXXXX)
chmod 755 "$DEMO_DIR"
[ "$IS_ROOT" -eq 1 ] && chown "$PG_USER": "$DEMO_DIR"
PGDATA="$DEMO_DIR/data"

pgctl() { "${AS_PG[@]}" "$BIN/pg_ctl" -D "$PGDATA" -l "$DEMO_DIR/server.log" "$@"; }
psql_demo() {
    "${AS_PG[@]}" "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DEMO_DIR" -p "$DEMO_PORT" -d demo "$@"
}

cleanup() {
    local rc=$?
    if [ -f "$PGDATA/postmaster.pid" ]; then
        pgctl -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ "$rc" -ne 0 ] && [ -f "$DEMO_DIR/server.log" ]; then
        echo "---- tail of the server log ----" >&2
        tail -n 40 "$DEMO_DIR/server.log" >&2 || true
    fi
    if [ "${DEMO_KEEP:-}" = "1" ]; then
        echo "demo.sh: cluster kept in $DEMO_DIR" >&2
    else
        rm -rf "$DEMO_DIR"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "initdb (data checksums) in $PGDATA"
"${AS_PG[@]}" "$BIN/initdb" --data-checksums -A trust -U postgres -D "$PGDATA" >/dev/null
cat >> "$PGDATA/postgresql.conf" <<EOF

# pg_uring demo
port = $DEMO_PORT
listen_addresses = ''
unix_socket_directories = '$DEMO_DIR'
shared_preload_libraries = 'pg_uring'
shared_buffers = $DEMO_SHARED_BUFFERS
max_wal_size = 4GB
checkpoint_timeout = 30min
autovacuum = off
log_line_prefix = '%m [%p] %b '
EOF
pgctl -w start >/dev/null
"${AS_PG[@]}" "$BIN/psql" -X -q -h "$DEMO_DIR" -p "$DEMO_PORT" -d postgres -c 'CREATE DATABASE demo'

log "ring worker"
grep -E 'pg_uring' "$DEMO_DIR/server.log" | head -n 5 || true

psql_demo <<'EOF'
CREATE EXTENSION pg_uring;
CREATE EXTENSION pg_prewarm;

-- /proc/<pid>/io and CPU time of a process of this cluster (same OS user)
CREATE FUNCTION demo_proc(pid int, OUT syscalls int8, OUT cpu_s float8)
LANGUAGE plpgsql AS $$
DECLARE
  io text;
  st text[];
BEGIN
  IF pid IS NULL OR pid <= 0 THEN
    syscalls := 0; cpu_s := 0; RETURN;
  END IF;
  io := pg_read_file('/proc/' || pid || '/io');
  syscalls := (regexp_match(io, 'syscr: (\d+)'))[1]::int8
            + (regexp_match(io, 'syscw: (\d+)'))[1]::int8;
  -- fields after "pid (comm) ": utime and stime are the 12th and 13th
  st := regexp_split_to_array(substring(pg_read_file('/proc/' || pid || '/stat') from '\) (.*)$'), ' ');
  cpu_s := (st[12]::int8 + st[13]::int8) / 100.0;   -- USER_HZ
EXCEPTION WHEN OTHERS THEN
  syscalls := NULL; cpu_s := NULL;                    -- /proc not readable
END
$$;

CREATE TABLE demo_results (run int, method text, blocks int8, seconds float8,
                           backend_syscalls int8, worker_syscalls int8,
                           enter_calls int8, cpu_s float8);
EOF

log "create demo_table with $DEMO_ROWS rows"
t0=$(date +%s)
psql_demo <<EOF
CREATE TABLE demo_table (id int8, payload text) WITH (autovacuum_enabled = off);
INSERT INTO demo_table SELECT g, repeat(md5(g::text), 7) FROM generate_series(1, $DEMO_ROWS) g;
VACUUM (FREEZE, ANALYZE) demo_table;
CHECKPOINT;
EOF
psql_demo -At -c "SELECT format('demo_table: %s blocks, %s (loaded in %s s)', pg_relation_size('demo_table') / 8192, pg_size_pretty(pg_relation_size('demo_table')), $(date +%s) - $t0)"

HAS_EVICT=$(psql_demo -At -c "SELECT count(*) > 0 FROM pg_proc WHERE proname = 'pg_uring_evict'")
REL_PATH=$(psql_demo -At -c "SELECT pg_relation_filepath('demo_table')")

dev=$(df --output=source "$PGDATA" 2>/dev/null | tail -n 1 || true)
ra_file="/sys/block/$(basename "${dev:-none}")/queue/read_ahead_kb"
[ -r "$ra_file" ] && echo "read-ahead of $dev: $(cat "$ra_file") kB"

# Evict demo_table from shared buffers and from the OS page cache.
# A restart (the default) also gives every run fresh, never-touched shared
# memory, as after a real restart or failover; DEMO_COLD=evict keeps the
# server up and empties the buffers with pg_uring_evict() instead.
make_cold() {
    if [ "${DEMO_COLD:-restart}" = "evict" ] && [ "$HAS_EVICT" = "t" ]; then
        psql_demo -At -c "SELECT pg_uring_evict('demo_table')" >/dev/null
    else
        pgctl -m fast -w restart >/dev/null     # empties shared buffers
    fi
    sync
    if [ "$IS_ROOT" -eq 1 ]; then
        echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || echo "(drop_caches not permitted; using posix_fadvise only)"
    fi
    # posix_fadvise(DONTNEED) on every segment file of the relation
    for f in "$PGDATA/$REL_PATH" "$PGDATA/$REL_PATH".[0-9]*; do
        [ -f "$f" ] && dd if="$f" iflag=nocache count=0 status=none 2>/dev/null || true
    done
    # let the worker come back after a restart
    for _ in $(seq 1 100); do
        [ "$(psql_demo -At -c "SELECT coalesce(worker_pid, 0) > 0 FROM pg_uring_status" 2>/dev/null)" = "t" ] && break
        sleep 0.1
    done
}

# One cold prewarm, measured inside the backend that runs it.
measure() {
    local run=$1 method=$2 setup call
    case "$method" in
        pg_prewarm)      setup="";                                    call="pg_prewarm('demo_table', '$DEMO_MODE')" ;;
        sync)            setup="SET pg_uring.io_method = sync;";      call="pg_uring_prewarm('demo_table', '$DEMO_MODE')" ;;
        io_uring)        setup="SET pg_uring.io_method = io_uring; SET pg_uring.direct_io = off;"
                         call="pg_uring_prewarm('demo_table', '$DEMO_MODE')" ;;
        io_uring+direct) setup="SET pg_uring.io_method = io_uring; SET pg_uring.direct_io = on;"
                         call="pg_uring_prewarm('demo_table', '$DEMO_MODE')" ;;
        *) die "unknown method $method" ;;
    esac
    psql_demo <<EOF
$setup
SELECT coalesce(worker_pid, 0) AS wpid FROM pg_uring_status \gset
CREATE TEMP TABLE before AS
  SELECT b.syscalls AS b_sys, b.cpu_s AS b_cpu, w.syscalls AS w_sys, w.cpu_s AS w_cpu,
         (SELECT sum(enter_calls) FROM pg_uring_stats) AS enters
    FROM demo_proc(pg_backend_pid()) b, demo_proc(:wpid) w;
SELECT clock_timestamp() AS t0 \gset
SELECT $call AS blocks \gset
SELECT clock_timestamp() AS t1 \gset
INSERT INTO demo_results
  SELECT $run, '$method', :blocks,
         extract(epoch FROM :'t1'::timestamptz - :'t0'::timestamptz),
         b.syscalls - b_sys, w.syscalls - w_sys,
         (SELECT sum(enter_calls) FROM pg_uring_stats) - enters,
         (b.cpu_s - b_cpu) + coalesce(w.cpu_s - w_cpu, 0)
    FROM before, demo_proc(pg_backend_pid()) b, demo_proc(:wpid) w;
EOF
}

log "cold prewarm ($DEMO_MODE mode), $DEMO_RUNS run(s) per method: $DEMO_METHODS"
{ [ "${DEMO_COLD:-restart}" = "evict" ] && [ "$HAS_EVICT" = "t" ]; } \
    && echo "cold = pg_uring_evict() + drop caches" \
    || echo "cold = server restart + drop caches"
for run in $(seq 1 "$DEMO_RUNS"); do
    for method in $DEMO_METHODS; do
        make_cold
        measure "$run" "$method"
        psql_demo -At -c "SELECT format('run %s %-16s %s blocks in %s s', run, method, blocks, round(seconds::numeric, 3)) FROM demo_results WHERE run = $run AND method = '$method'"
    done
done

log "results (median over runs; syscalls are read/write-type calls from /proc/PID/io, plus io_uring_enter)"
psql_demo <<'EOF'
\pset footer off
SELECT method,
       max(blocks) AS blocks,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds))::numeric, 3) AS seconds,
       round((max(blocks) * 8192 / 1048576.0
              / nullif(percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds), 0))::numeric, 1) AS "MB/s",
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY backend_syscalls))::numeric / nullif(max(blocks), 0), 3)
         AS backend_sys_per_page,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY worker_syscalls))::numeric / nullif(max(blocks), 0), 3)
         AS worker_sys_per_page,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY enter_calls))::numeric / nullif(max(blocks), 0), 4)
         AS enters_per_page,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY backend_syscalls + coalesce(worker_syscalls, 0) + coalesce(enter_calls, 0)))::numeric
             / nullif(max(blocks), 0), 3) AS total_sys_per_page,
       round((percentile_cont(0.5) WITHIN GROUP (ORDER BY cpu_s))::numeric
             / nullif(max(blocks) * 8192 / 1073741824.0, 0), 2) AS cpu_s_per_gb
  FROM demo_results
 GROUP BY method
 ORDER BY min(array_position('{pg_prewarm,sync,io_uring,io_uring+direct}'::text[], method));
EOF

log "pg_uring_status"
psql_demo -c '\x on' -c 'SELECT * FROM pg_uring_status'
log "pg_uring_stats"
psql_demo -c '\x on' -c 'SELECT * FROM pg_uring_stats ORDER BY method'

log "done; stopping and removing the cluster"
