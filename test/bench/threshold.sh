#!/usr/bin/env bash
# test/bench/threshold.sh: where do prewarm helpers start to pay?
#
# Cold buffer-mode prewarms of the first N MB of a table, with
# pg_uring.max_prewarm_workers = 0 (the caller alone) and = 2 (the caller
# and two helpers, pg_uring.min_parallel_prewarm_size = 0), alternating,
# each after a server restart, sync and drop_caches.  Prints the median
# time per size and case and the ratio; pg_uring.min_parallel_prewarm_size
# should sit where the ratio drops below 1.
#
#   bash test/bench/threshold.sh [OPTIONS]  (as root; pg_uring installed)
#   bash test/bench/threshold.sh --help     the options and their defaults
#
# Sizes are PostgreSQL's: MB = 2^20 bytes (N MB = N x 128 blocks of 8 kB).
set -euo pipefail

PGC=pg_config
SIZES="16 32 64 128 256"
ROUNDS=5
PORT=55470

usage() {
	cat <<EOF
usage: bash test/bench/threshold.sh [OPTIONS]   (as root)

Where do prewarm helpers start to pay?  Cold buffer-mode prewarms of the
first N MB of a table, caller alone against caller + 2 helpers (see the
comment at the top of this script).

options (defaults in brackets):
  --pg-config PATH   pg_config of the PostgreSQL to use [$PGC]
  --sizes LIST       sizes N to prewarm, MB of 2^20 bytes, commas or blanks [$SIZES]
  --rounds N         cold runs of each size and case, alternating [$ROUNDS]
  --port N           the server's port [$PORT]
  -h, --help         this text
EOF
}
PROG=threshold.sh
. "$(dirname "$0")/opts.sh"
reject_old_env THRESH_
while [ "$#" -gt 0 ]; do
	case "$1" in
	-h|--help) usage; exit 0 ;;
	--pg-config) need_arg "$@"; PGC=$2; shift ;;
	--sizes) need_arg "$@"; SIZES=${2//,/ }; shift ;;
	--rounds) need_arg "$@"; ROUNDS=$2; shift ;;
	--port) need_arg "$@"; PORT=$2; shift ;;
	--*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
	*) echo "threshold.sh: unknown argument: $1 (--help)" >&2; exit 2 ;;
	esac
	shift
done
for v in ROUNDS PORT; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "threshold.sh: $v must be a positive integer, not '${!v}' (--help)" >&2; exit 2; }
done
for s in $SIZES; do
	[[ "$s" =~ ^[1-9][0-9]*$ ]] || { echo "threshold.sh: --sizes: not a positive integer: '$s'" >&2; exit 2; }
done
[ -n "${SIZES// /}" ] || { echo "threshold.sh: --sizes is empty" >&2; exit 2; }

[ "$(id -u)" = 0 ] || { echo "threshold.sh: run as root (drop_caches)" >&2; exit 1; }
BIN=$("$PGC" --bindir)
DIR=$(mktemp -d /var/tmp/pgu-threshold.XXXXXX)
chown postgres: "$DIR"
trap 'runuser -u postgres -- "$BIN/pg_ctl" -D "$DIR/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf --one-file-system "$DIR"' EXIT

max=0; for s in $SIZES; do [ "$s" -gt "$max" ] && max=$s; done
as_pg() { runuser -u postgres -- "$@"; }
psql_() { as_pg "$BIN/psql" -XAtq -v ON_ERROR_STOP=1 -h "$DIR" -p "$PORT" -d postgres "$@"; }

as_pg "$BIN/initdb" -D "$DIR/data" --data-checksums -A trust >/dev/null
cat >>"$DIR/data/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_uring'
shared_buffers = $((max + 256))MB
port = $PORT
unix_socket_directories = '$DIR'
max_wal_size = 4GB
autovacuum = off
EOF
as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
psql_ -c "CREATE EXTENSION pg_uring" \
	-c "CREATE TABLE t (id int, pad text) WITH (fillfactor = 100)" \
	-c "ALTER TABLE t ALTER COLUMN pad SET STORAGE PLAIN" \
	-c "INSERT INTO t SELECT g, repeat(md5(g::text), 7) FROM generate_series(1, $((max * 4096 + 4096))) g" \
	-c "CHECKPOINT" >/dev/null
nb=$(psql_ -c "SELECT pg_relation_size('t') / 8192")
echo "table t: $nb blocks" >&2

declare -A T
for r in $(seq 1 "$ROUNDS"); do
	for s in $SIZES; do
		last=$((s * 128 - 1)); [ "$last" -ge "$nb" ] && last=$((nb - 1))
		for w in 0 2; do
			as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w -m fast restart >/dev/null
			sync; echo 3 >/proc/sys/vm/drop_caches
			ms=$(psql_ -c "SET pg_uring.max_prewarm_workers = $w" \
				-c "SET pg_uring.min_parallel_prewarm_size = 0" \
				-c "\\timing on" -c "SELECT pg_uring_prewarm('t', 'buffer', 'main', 0, $last)" |
				sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p')
			T[$s,$w]="${T[$s,$w]:-} $ms"
		done
	done
	echo "round $r done" >&2
done

med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "| size | caller alone, ms | caller + 2 helpers, ms | ratio (alone / helpers) |"
echo "|---|---|---|---|"
for s in $SIZES; do
	a=$(echo "${T[$s,0]}" | med); b=$(echo "${T[$s,2]}" | med)
	awk -v s="$s" -v a="$a" -v b="$b" 'BEGIN { printf "| %s MB | %s | %s | %.2f× |\n", s, a, b, a / b }'
done
echo
echo "size: MB = 2^20 bytes (PostgreSQL's unit; N MB = the first N x 128 blocks of 8 kB)."
echo "Medians of $ROUNDS cold runs each, alternating; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)."
