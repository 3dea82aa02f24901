#!/usr/bin/env bash
# test/bench/restart.sh: a real restart, warm again how fast?  (issue 10)
#
# A pgbench database (--scale) in shared buffers of --shared-buffers:
# loaded, every relation prewarmed, then a
# select-only pgbench run for the usage counts; one dump of that buffer list
# (pg_uring_autoprewarm_dump_now(); pg_prewarm's autoprewarm reads the same
# file as its autoprewarm.blocks).  Then, alternating over the rounds, each a
# stop -m fast, sync, drop_caches, the dumps put back, and pg_ctl start:
#
#   uring     pg_uring.autoprewarm = on  (restore through the ring)
#   contrib   pg_prewarm.autoprewarm = on  (contrib's restore, same list)
#   none      neither
#
# For each start: the seconds from `pg_ctl start` to the restore's LOG line
# ("pg_uring autoprewarm restored ..." / "autoprewarm successfully
# prewarmed ..."), and the select-only TPS of every second of the first
# --seconds seconds (pgbench -S -P 1 from the moment the server accepts
# connections).  Warm steady state: the median TPS of a run with everything
# cached.  Time to 90 %: the first second whose TPS reaches 90 % of it.
# Prints medians and the ratios pg_uring / pg_prewarm; writes the TPS
# series of the median round as a gnuplot SVG (--plot).
#
#   bash test/bench/restart.sh [OPTIONS]   (as root; pg_uring and contrib installed)
#   bash test/bench/restart.sh --help      the options and their defaults
#
# Sizes are PostgreSQL's: MB = 2^20 bytes (the dump's size, shared_buffers).
set -euo pipefail

PGC=pg_config
ROUNDS=3
SCALE=200
SB=4GB
SECS=60
DIR=/var/tmp/pgu_restart
PLOT=
CLIENTS=4
PORT=5497
REUSE=0

usage() {
	cat <<EOF
usage: bash test/bench/restart.sh [OPTIONS]   (as root)

A real restart, warm again how fast?  Times pg_uring's autoprewarm restore,
contrib pg_prewarm's and none over alternating cold starts (see the
comment at the top of this script).

options (defaults in brackets):
  --pg-config PATH       pg_config of the PostgreSQL to use [$PGC]
  --rounds N             starts of each variant, alternating [$ROUNDS]
  --scale N              pgbench scale of the database [$SCALE]
  --shared-buffers SIZE  shared_buffers (PostgreSQL units: 4GB, 512MB) [$SB]
  --seconds N            seconds of select-only pgbench after each start [$SECS]
  --clients N            pgbench clients [$CLIENTS]
  --port N               the server's port [$PORT]
  --dir DIR              the cluster, its dump and the TPS series [$DIR]
  --plot FILE.svg        the TPS series of the median round, as a gnuplot SVG [none]
  --reuse                reuse the cluster and dump of an earlier run in --dir
  -h, --help             this text
EOF
}
PROG=restart.sh
. "$(dirname "$0")/opts.sh"
reject_old_env RESTART_
while [ "$#" -gt 0 ]; do
	case "$1" in
	-h|--help) usage; exit 0 ;;
	--pg-config) need_arg "$@"; PGC=$2; shift ;;
	--rounds) need_arg "$@"; ROUNDS=$2; shift ;;
	--scale) need_arg "$@"; SCALE=$2; shift ;;
	--shared-buffers) need_arg "$@"; SB=$2; shift ;;
	--seconds) need_arg "$@"; SECS=$2; shift ;;
	--clients) need_arg "$@"; CLIENTS=$2; shift ;;
	--port) need_arg "$@"; PORT=$2; shift ;;
	--dir) need_arg "$@"; DIR=$2; shift ;;
	--plot) need_arg "$@"; PLOT=$2; shift ;;
	--reuse) REUSE=1 ;;
	--*=*) set -- "${1%%=*}" "${1#*=}" "${@:2}"; continue ;;
	*) echo "restart.sh: unknown argument: $1 (--help)" >&2; exit 2 ;;
	esac
	shift
done
for v in ROUNDS SCALE SECS CLIENTS PORT; do
	[[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "restart.sh: $v must be a positive integer, not '${!v}' (--help)" >&2; exit 2; }
done

[ "$(id -u)" = 0 ] || { echo "restart.sh: run as root (drop_caches)" >&2; exit 1; }
BIN=$("$PGC" --bindir)

as_pg() { runuser -u postgres -- "$@"; }
psql_() { as_pg "$BIN/psql" -h "$DIR" -p "$PORT" -X -q -At -d postgres "$@"; }
stop_() { as_pg "$BIN/pg_ctl" -D "$DIR/data" -w -m fast stop >/dev/null 2>&1 || true; }
trap stop_ EXIT

pgb() { as_pg "$BIN/pgbench" -h "$DIR" -p "$PORT" -n -S -c "$CLIENTS" -j 2 "$@" postgres; }
variant() {
	case "$1" in
	uring) printf 'pg_uring.autoprewarm = on\npg_prewarm.autoprewarm = off\n' ;;
	contrib) printf 'pg_uring.autoprewarm = off\npg_prewarm.autoprewarm = on\n' ;;
	none) printf 'pg_uring.autoprewarm = off\npg_prewarm.autoprewarm = off\n' ;;
	esac >"$DIR/data/bench_variant.conf"
	chown postgres "$DIR/data/bench_variant.conf"
}
if [ "$REUSE" = 1 ] && [ -f "$DIR/dump.blocks" ]; then
	echo "reusing the cluster and dump in $DIR" >&2
	rm -f "$DIR"/tps.* "$DIR"/run.*
else
	rm -rf --one-file-system "$DIR"
	mkdir -p "$DIR"
	chown postgres "$DIR"
	as_pg "$BIN/initdb" -D "$DIR/data" --data-checksums >/dev/null
	cat >>"$DIR/data/postgresql.conf" <<EOF
port = $PORT
unix_socket_directories = '$DIR'
listen_addresses = ''
shared_buffers = $SB
max_wal_size = 8GB
checkpoint_timeout = 1h
autovacuum = off
max_worker_processes = 16
shared_preload_libraries = 'pg_uring,pg_prewarm'
pg_uring.autoprewarm_interval = 0
pg_prewarm.autoprewarm_interval = 0
log_line_prefix = '%m [%p] '
include_if_exists = 'bench_variant.conf'
EOF
	variant none
	as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
	psql_ -c "CREATE EXTENSION pg_uring" -c "CREATE EXTENSION pg_prewarm"
	echo "loading pgbench scale $SCALE ..." >&2
	as_pg "$BIN/pgbench" -h "$DIR" -p "$PORT" -i -q -s "$SCALE" postgres >/dev/null 2>&1
	psql_ -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
	psql_ -c "SELECT sum(pg_prewarm(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i')" >/dev/null
	# the usage counts of a select-only workload
	pgb -T 30 >/dev/null 2>&1
	psql_ -c "SELECT pg_uring_autoprewarm_dump_now()" >/dev/null
	stop_
	cp "$DIR/data/pg_uring_autoprewarm.blocks" "$DIR/dump.blocks"
fi
n=$(head -1 "$DIR/dump.blocks" | tr -dc 0-9)
echo "dump: $n blocks ($((n * 8 / 1024)) MB of 2^20 bytes)" >&2

for r in $(seq 1 "$ROUNDS"); do
	for v in uring contrib none; do
		variant "$v"
		rm -f "$DIR/data/pg_uring_autoprewarm.blocks" "$DIR/data/autoprewarm.blocks"
		case "$v" in
		uring) cp "$DIR/dump.blocks" "$DIR/data/pg_uring_autoprewarm.blocks" ;;
		contrib) cp "$DIR/dump.blocks" "$DIR/data/autoprewarm.blocks" ;;
		esac
		chown postgres "$DIR"/data/*.blocks 2>/dev/null || true
		: >"$DIR/log"
		sync
		echo 3 >/proc/sys/vm/drop_caches
		t0=$(date +%s.%N)
		as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/log" -w start >/dev/null
		t1=$(date +%s.%N)
		pgb -T "$SECS" -P 1 >"$DIR/tps.$v.$r.raw" 2>&1 || true
		sed -n 's/^progress: \([0-9.]*\) s, \([0-9.]*\) tps.*/\1 \2/p' "$DIR/tps.$v.$r.raw" >"$DIR/tps.$v.$r"
		# seconds from pg_ctl start to the restore's LOG line, and to pgbench's start
		line=$(grep -m1 -E 'pg_uring autoprewarm restored|autoprewarm successfully prewarmed' "$DIR/log" || true)
		restore=
		if [ -n "$line" ]; then
			ts=$(date -d "$(echo "$line" | awk '{print $1" "$2" "$3}')" +%s.%N)
			restore=$(awk -v a="$ts" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
		fi
		echo "${restore:--} $(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')" >"$DIR/run.$v.$r"
		stop_
		echo "round $r $v: restore ${restore:-none} s; $(echo "$line" | sed 's/.*LOG: *//')" >&2
	done
done

# Warm steady state: the median TPS of the last 20 s of the runs with a
# restore (by then every variant with one is warm).
warm=$(for v in uring contrib; do for r in $(seq 1 "$ROUNDS"); do
	awk -v s="$SECS" '$1 > s - 20 { print $2 }' "$DIR/tps.$v.$r"
done; done | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
declare -A RESTORE T90
for r in $(seq 1 "$ROUNDS"); do
	for v in uring contrib none; do
		read -r restore startup <"$DIR/run.$v.$r"
		[ "$restore" != - ] && RESTORE[$v]="${RESTORE[$v]:-} $restore"
		t90=$(awk -v w="$warm" -v s="$startup" '$2 >= 0.9 * w { printf "%.1f\n", $1 + s; found = 1; exit }
			END { if (!found) print "" }' "$DIR/tps.$v.$r")
		T90[$v]="${T90[$v]:-} ${t90:-$SECS}"
	done
done

med() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ru=$(echo "${RESTORE[uring]:-}" | med); rc=$(echo "${RESTORE[contrib]:-}" | med)
tu=$(echo "${T90[uring]}" | med); tc=$(echo "${T90[contrib]}" | med); tn=$(echo "${T90[none]}" | med)
echo "| | pg_uring autoprewarm | pg_prewarm autoprewarm | none | pg_uring / pg_prewarm |"
echo "|---|---|---|---|---|"
awk -v a="$ru" -v b="$rc" 'BEGIN { printf "| restore done, s after pg_ctl start | %.2f | %.2f | – | %.2f× |\n", a, b, a / b }'
awk -v a="$tu" -v b="$tc" -v c="$tn" 'BEGIN { printf "| TPS at 90 %% of warm, s after pg_ctl start | %.1f | %.1f | %.1f | %.2f× |\n", a, b, c, a / b }'
echo
echo "Scale $SCALE, shared_buffers $SB, dump $n blocks; select-only, $CLIENTS clients; warm steady state $warm tps (median of the last 20 s of the runs with a restore)."
echo "Medians of $ROUNDS starts each, alternating uring, contrib, none; cold OS cache; $(nproc) CPUs; $(uname -r)."

if [ -n "$PLOT" ] && command -v gnuplot >/dev/null; then
	# the median round's series of each variant (by its time to 90 %)
	pick() {
		local v=$1 best=1 bestd=1e9 k
		for k in $(seq 1 "$ROUNDS"); do
			local t; t=$(echo "${T90[$v]}" | awk -v k="$k" '{print $k}')
			local d; d=$(awk -v a="$t" -v b="$2" 'BEGIN { printf "%.6f", (a - b) * (a - b) }')
			if awk -v a="$d" -v b="$bestd" 'BEGIN { exit !(a < b) }'; then best=$k; bestd=$d; fi
		done
		echo "$DIR/tps.$v.$best"
	}
	gnuplot <<EOF
set terminal svg size 800,420 font "sans,12"
set output "$PLOT"
set title "select-only TPS after a restart (scale $SCALE, shared_buffers $SB, cold OS cache)"
set xlabel "seconds since pgbench started (right after pg_ctl start)"
set ylabel "TPS"
set key bottom right
set grid
plot "$(pick uring "$tu")" using 1:2 with lines lw 2 title "pg_uring autoprewarm", \
     "$(pick contrib "$tc")" using 1:2 with lines lw 2 title "pg_prewarm autoprewarm", \
     "$(pick none "$tn")" using 1:2 with lines lw 2 title "no autoprewarm", \
     $warm * 0.9 with lines dt 2 lc rgb "gray" title "90 % of warm"
EOF
	echo "plot: $PLOT" >&2
fi
