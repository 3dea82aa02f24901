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
#   bash test/bench/threshold.sh            (as root; pg_uring installed)
#   THRESH_SIZES="16 32 64 128 256" THRESH_ROUNDS=5 THRESH_PG_CONFIG=...
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "threshold.sh: run as root (drop_caches)" >&2; exit 1; }
PGC=${THRESH_PG_CONFIG:-pg_config}
BIN=$("$PGC" --bindir)
SIZES=${THRESH_SIZES:-"16 32 64 128 256"}
ROUNDS=${THRESH_ROUNDS:-5}
PORT=${THRESH_PORT:-55470}
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
echo "Medians of $ROUNDS cold runs each, alternating; $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)."
