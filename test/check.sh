#!/usr/bin/env bash
# test/check.sh -- run the whole pg_uring test suite, on every supported
# PostgreSQL major version.
#
#   bash test/check.sh                   every major in PG_MAJORS
#   PG_MAJORS="15 17" bash test/check.sh only these
#
# PostgreSQL 15 runs on the host (Debian 12).  17 and 18 run inside Debian
# roots (trixie, sid) that test/debroot.sh builds the first time ("ensure";
# as root only): this script re-runs itself there as
# "check.sh --local MAJOR", on a private copy of the tree inside the root,
# so that build artifacts of different majors never meet.  16 is in no
# Debian suite, so it cannot be tested here and is refused.
#
# For one major ("--local MAJOR"), as root on a fresh Debian machine it
# installs what it needs through apt (15 only, skipped when everything is
# already installed, unless CI=true; the roots get theirs from
# debroot.sh), builds with -Wall -Wextra -Werror (PGU_WERROR=1), installs the extension,
# copies the tree into a scratch directory owned by the unprivileged user
# "postgres" (PostgreSQL refuses to run as root) and runs, as that user:
#   make check-regress   pg_regress against a temporary instance
#   make prove-tap       the TAP tests in test/t/*.pl
#   make bench-quick     the benchmark smoke test (on 15 only, to keep a
#                        whole run well inside the CI budget)
# As a non-root user it skips apt and the user switch and runs everything as
# the current user (the extension's install directories must then be
# writable); the roots of 17 and 18 need root.
#
# Environment:
#   PG_MAJORS="15 17 18"  the majors to test (the default)
#   CI=true            always run apt-get update/install (on the host)
#   PROVE_FLAGS=...    extra flags for prove (e.g. --verbose)
#   PROVE_TESTS=...    only these TAP files (relative to the tree, e.g. test/t/001_x.pl)
#   PG_URING_SOAK=1    longer soak runs in the TAP tests
#   PG_URING_KEEP=1    keep the scratch directory even when everything passed
#   PG_URING_SKIP_REGRESS=1 / PG_URING_SKIP_TAP=1 / PG_URING_SKIP_BENCH=1
#                      skip pg_regress, the TAP tests, or the benchmark smoke
#                      test (make bench-quick: every method runs and returns
#                      the right block counts; no speed is asserted)
#   PG_URING_SYNC_ONLY=1
#                      a sync-only run is intended: where io_uring is not
#                      available, the ring tests are skipped (with the
#                      reason) instead of failing.  Without it, a ring that is
#                      down fails the run.
#
# After the majors, on the host (as root; each a "skipped" line otherwise):
#   test/package.sh    META.json is valid; dpkg-buildpackage builds the Debian
#                      package; the .deb installs into a clean bookworm root
#                      (no make install), CREATE EXTENSION and a prewarm work
#                      there, and so does its pg_buildext installcheck
#   test/exporter.sh   Debian's prometheus-postgres-exporter scrapes a test
#                      cluster with contrib/postgres_exporter/queries.yaml;
#                      the metrics have the right types and move after a
#                      prewarm; the Grafana dashboard is valid JSON
#   PG_URING_SKIP_PACKAGE=1 / PG_URING_SKIP_EXPORTER=1 skip them.
#
# Before the tests, a throwaway server with pg_uring preloaded tells whether
# the ring comes up here (pg_uring_status.ring_up, reason).
#
# The last line of output is "N passed, N failed, N skipped", summed over
# the majors (per major: pg_regress tests + TAP files + the benchmark smoke
# test; a stage that did not run counts its tests as skipped, a TAP file
# that was asked for but did not run, or bailed out, counts as failed; a
# major whose run produced no result counts as one failure).  Above it, per
# major: its "FAILED: ..." / "not run: ..." / "skipped: ..." lines, the number
# of individually skipped TAP checks, and its own result line with its wall
# time.  The exit status is non-zero on any failure.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

TEST_USER=postgres

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'check.sh: %s\n' "$*" >&2; echo "0 passed, 1 failed, 0 skipped"; exit 1; }

# Variables passed through to the run of each major.
PASS_ENV=(CI PROVE_FLAGS PROVE_TESTS PG_URING_SOAK PG_URING_KEEP PG_URING_SKIP_REGRESS
          PG_URING_SKIP_TAP PG_URING_SKIP_BENCH PG_URING_SYNC_ONLY PG_URING_HANG_TIMEOUT
          PG_TEST_TIMEOUT_DEFAULT)

# ------------------------------------------------------------ every major --
if [ "${1:-}" != "--local" ]; then
    majors=${PG_MAJORS:-15 17 18}
    for m in $majors; do
        case "$m" in
        15|17|18) ;;
        16) die "PG_MAJORS: PostgreSQL 16 is in no Debian suite, so it cannot be built or tested here" ;;
        *) die "PG_MAJORS: PostgreSQL $m is not supported (supported: 15, 17, 18)" ;;
        esac
    done
    OUTDIR=$(mktemp -d /tmp/pg_uring_majors.XXXXXX)
    trap 'rm -rf "$OUTDIR"' EXIT
    # where the tree is bind-mounted inside the roots (debroot.sh run)
    MNT=/pg_uring-check
    total_p=0; total_f=0; total_s=0
    results=()
    for m in $majors; do
        out="$OUTDIR/$m.out"
        start=$(date +%s)
        log "PostgreSQL $m"
        set +e
        if [ "$m" = 15 ]; then
            bash "$ROOT/test/check.sh" --local 15 2>&1 | tee "$out"
        elif [ "$(id -u)" -ne 0 ]; then
            echo "FAILED: PostgreSQL $m: its Debian root needs root (test/debroot.sh); run as root, or set PG_MAJORS" | tee "$out"
        else
            (
                set -e
                export PGU_ROOT_SRC="$ROOT" PGU_ROOT_MNT="$MNT"
                rootdir=$(bash "$ROOT/test/debroot.sh" path "$m")
                # a stale bind of another tree at our mount point: replace it
                if mountpoint -q "$rootdir$MNT" &&
                   [ "$(stat -c %d:%i "$ROOT")" != "$(stat -c %d:%i "$rootdir$MNT")" ]; then
                    umount "$rootdir$MNT"
                fi
                bash "$ROOT/test/debroot.sh" ensure "$m" >/dev/null
                envs=(PGU_CHECK_COPY=1)
                for v in "${PASS_ENV[@]}"; do
                    [ -n "${!v+set}" ] && envs+=("$v=${!v}")
                done
                bash "$ROOT/test/debroot.sh" run "$m" env "${envs[@]}" \
                    bash "$MNT/test/check.sh" --local "$m"
            ) 2>&1 | tee "$out"
        fi
        set -e
        secs=$(( $(date +%s) - start ))
        wall="$((secs / 60))m$((secs % 60))s"
        # the last line, but for the "kept in" notes of PG_URING_KEEP=1
        last=$(grep -v "^check.sh: .* tree kept in " "$out" | tail -n 1)
        if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
            p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}; s=${BASH_REMATCH[3]}
        else
            p=0; f=1; s=0
            echo "FAILED: PostgreSQL $m: the run gave no result line (see above)" >> "$out"
        fi
        total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
        results+=("$m|$p passed, $f failed, $s skipped ($wall)")
    done
    # Stages that are not per major (on the host, after the majors): the
    # Debian package (test/package.sh: META.json, dpkg-buildpackage, the
    # .deb installed into a clean bookworm root, its installcheck) and the
    # postgres_exporter scrape test (test/exporter.sh, against the
    # PostgreSQL 15 build that the 15 stage installed).
    extra_stage() {  # $1 = name, $2 = skip reason or "", then the command
        local name=$1 why=$2; shift 2
        local out="$OUTDIR/extra-$name.out" p f s start secs last
        if [ -n "$why" ]; then
            results+=("$name|0 passed, 0 failed, 1 skipped (not run: $why)")
            total_s=$((total_s + 1))
            return
        fi
        start=$(date +%s)
        log "$name"
        set +e
        "$@" 2>&1 | tee "$out"
        local rc=${PIPESTATUS[0]}
        set -e
        secs=$(( $(date +%s) - start ))
        last=$(tail -n 1 "$out")
        if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
            p=${BASH_REMATCH[1]}; f=${BASH_REMATCH[2]}; s=${BASH_REMATCH[3]}
        else
            p=0; f=1; s=0
        fi
        # a failed exit with no failure counted is still a failure
        [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
        total_p=$((total_p + p)); total_f=$((total_f + f)); total_s=$((total_s + s))
        results+=("$name|$p passed, $f failed, $s skipped ($((secs / 60))m$((secs % 60))s)")
    }
    why=
    [ "$(id -u)" -eq 0 ] || why="it needs root (apt, debootstrap)"
    [ "${PG_URING_SKIP_PACKAGE:-}" = "1" ] && why="PG_URING_SKIP_PACKAGE=1"
    [ -n "${PROVE_TESTS:-}" ] && why="PROVE_TESTS is set"
    extra_stage "Debian package" "$why" bash "$ROOT/test/package.sh"
    why=
    [ "$(id -u)" -eq 0 ] || why="it needs root (apt, runuser)"
    [[ " $majors " == *" 15 "* ]] || why="it scrapes the PostgreSQL 15 build, and 15 was not in PG_MAJORS"
    [ "${PG_URING_SKIP_EXPORTER:-}" = "1" ] && why="PG_URING_SKIP_EXPORTER=1"
    [ -n "${PROVE_TESTS:-}" ] && why="PROVE_TESTS is set"
    extra_stage "postgres_exporter" "$why" bash "$ROOT/test/exporter.sh"

    log "summary, every major"
    for r in "${results[@]}"; do
        m=${r%%|*}
        if [[ ! "$m" =~ ^[0-9]+$ ]]; then
            echo "$m: ${r#*|}"
            continue
        fi
        # the major's own summary block: after its last "==> summary" marker
        awk '/^==> summary/ { n = NR } { line[NR] = $0 }
             END { for (i = n + 1; i < NR; i++) if (line[i] != "") print line[i] }' "$OUTDIR/$m.out" |
            grep -E '^(FAILED|not run|skipped|TAP:|ring tests)' | sed "s/^/PostgreSQL $m: /" || true
        grep -E '^FAILED: PostgreSQL' "$OUTDIR/$m.out" | grep -v "^FAILED: PostgreSQL $m: the run gave" || true
        grep -q "^FAILED: PostgreSQL $m: the run gave" "$OUTDIR/$m.out" &&
            echo "FAILED: PostgreSQL $m: the run gave no result line (see above)"
        echo "PostgreSQL $m: ${r#*|}"
    done
    echo "$total_p passed, $total_f failed, $total_s skipped"
    [ "$total_f" -eq 0 ]
    exit $?
fi

# ------------------------------------------------------------- one major --
MAJOR=${2:-}
case "$MAJOR" in
15|17|18) ;;
*) die "--local: PostgreSQL ${MAJOR:-(none)} is not supported here (15, 17, 18)" ;;
esac

# Inside a root, the tree is a bind mount of the host's checkout: build and
# test a private copy instead (build artifacts are per major), removed at
# the end.
if [ "${PGU_CHECK_COPY:-}" = "1" ]; then
    copy=$(mktemp -d /var/tmp/pg_uring-build.XXXXXX)
    tar -C "$ROOT" --exclude=./.git --exclude='./tmp_check*' --exclude=./results \
        --exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./test/seccomp_deny_uring \
        --exclude=./regression.diffs --exclude=./regression.out --exclude=./log -cf - . \
        | tar -C "$copy" -xf -
    PGU_CHECK_COPY=0 PGU_CHECK_TREE_IS_COPY="$copy" exec bash "$copy/test/check.sh" --local "$MAJOR"
fi

# What building needs, and what only the tests need (TAP's IPC::Run,
# gdb for backtraces of hung tests, contrib's pg_prewarm and amcheck to
# compare with; on 15 also the benchmark smoke test's fio, gnuplot and
# psycopg2).  The roots of 17 and 18 get theirs from test/debroot.sh ensure.
BUILD_PACKAGES=("postgresql-server-dev-$MAJOR" liburing-dev build-essential)
if [ "$MAJOR" = 15 ]; then
    TEST_PACKAGES=(postgresql-15 postgresql-contrib libipc-run-perl gdb
                   fio gnuplot-nox python3 python3-psycopg2)
else
    TEST_PACKAGES=("postgresql-$MAJOR" libipc-run-perl gdb)
fi
PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}")

# ---------------------------------------------------------------- packages --
if [ "$(id -u)" -eq 0 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    if [ "$MAJOR" != 15 ]; then
        [ "${#missing[@]}" -eq 0 ] || die "missing in the root of PostgreSQL $MAJOR: ${missing[*]} (test/debroot.sh ensure $MAJOR installs them)"
        log "packages come from test/debroot.sh ensure $MAJOR"
    elif [ "${CI:-}" = "true" ] || [ "${#missing[@]}" -gt 0 ]; then
        log "apt-get install ${PACKAGES[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${PACKAGES[@]}"
    else
        log "packages already installed; skipping apt (set CI=true to force)"
    fi
    id "$TEST_USER" >/dev/null 2>&1 || die "user '$TEST_USER' does not exist (it comes with postgresql-common)"
    RUN_AS=(runuser -u "$TEST_USER" --)
else
    log "not root: skipping apt, running as $(id -un)"
    RUN_AS=()
fi

# Debian's pg_config is /usr/bin/pg_config (postgresql-common wrapper picks the
# newest server-dev); pin the major explicitly.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$MAJOR/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config) || die "pg_config not found"
pg_major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
[ "$pg_major" = "$MAJOR" ] || die "$PG_CONFIG is PostgreSQL $pg_major, not $MAJOR"
PG_BINDIR=$("$PG_CONFIG" --bindir)
export PATH="$PG_BINDIR:$PATH"
log "PostgreSQL: $("$PG_CONFIG" --version) ($PG_CONFIG)"

# ------------------------------------------------------------ build/install --
log "make"
make -j"$(nproc)" PG_CONFIG="$PG_CONFIG" PGU_WERROR=1 || die "build failed"
log "make install"
if [ "$(id -u)" -ne 0 ] && [ ! -w "$("$PG_CONFIG" --pkglibdir)" ]; then
    die "not root and $("$PG_CONFIG" --pkglibdir) is not writable: run as root (or install first)"
fi
make install PG_CONFIG="$PG_CONFIG" PGU_WERROR=1 || die "make install failed"

# ------------------------------------------------------------ scratch copy --
SCRATCH=$(mktemp -d /tmp/pg_uring_check.XXXXXX)
tar -C "$ROOT" --exclude=./.git --exclude='./tmp_check*' --exclude=./results \
    --exclude=./regression.diffs --exclude=./regression.out -cf - . \
    | tar -C "$SCRATCH" -xf -
if [ "$(id -u)" -eq 0 ]; then
    chown -R "$TEST_USER": "$SCRATCH"
fi
chmod 755 "$SCRATCH"

SCRATCH_DONE=0
bench_rc=0
PROBE_DIR="$SCRATCH/.ring-probe"

cleanup() {
    local rc=$?
    [ "$SCRATCH_DONE" -eq 1 ] && return
    SCRATCH_DONE=1
    if [ -f "$PROBE_DIR/data/postmaster.pid" ]; then
        in_scratch pg_ctl -D "$PROBE_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    # kept after a failure (to read its logs), or when asked to
    if [ "${PG_URING_KEEP:-}" = "1" ] || [ "$rc" -ne 0 ]; then
        echo "check.sh: scratch tree kept in $SCRATCH"
        [ -n "${PGU_CHECK_TREE_IS_COPY:-}" ] && echo "check.sh: build tree kept in $PGU_CHECK_TREE_IS_COPY"
    else
        rm -rf "$SCRATCH"
        # the private copy this run was started in (inside a root)
        if [ -n "${PGU_CHECK_TREE_IS_COPY:-}" ] && [ "$PGU_CHECK_TREE_IS_COPY" = "$ROOT" ]; then
            rm -rf "$ROOT"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Run a command in the scratch tree as the test user, with the pass-through
# environment.
in_scratch() {
    "${RUN_AS[@]}" env -C "$SCRATCH" \
        PATH="$PATH" PG_CONFIG="$PG_CONFIG" \
        PG_URING_SOAK="${PG_URING_SOAK:-}" \
        PG_URING_HANG_TIMEOUT="${PG_URING_HANG_TIMEOUT:-120}" \
        PG_URING_SYNC_ONLY="${PG_URING_SYNC_ONLY:-}" \
        PERL_TEST_HARNESS_DUMP_TAP="$SCRATCH/.tap-spool" \
        PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-180}" \
        "$@"
}

passed=0
failed=0
skipped=0
regress_rc=0
tap_rc=0
notes=()        # "not run: ..." / "skipped: ..." lines for the summary
fail_lines=()   # "FAILED: ..." lines for the summary

# -------------------------------------------------------------- ring probe --
# Does the ring come up here?  A throwaway server with pg_uring preloaded,
# the same one the tests start, asked through pg_uring_status.
log "ring probe: does io_uring work here?"
ring_state=""    # up | down | error
ring_reason=""
probe_ring() {
    in_scratch mkdir -p "$PROBE_DIR" || return 1
    in_scratch initdb -D "$PROBE_DIR/data" -A trust -N >"$PROBE_DIR.log" 2>&1 || return 1
    in_scratch pg_ctl -D "$PROBE_DIR/data" -l "$PROBE_DIR/data/log" -w \
        -o "-c shared_preload_libraries=pg_uring -c listen_addresses='' -c port=5432 -c unix_socket_directories=$PROBE_DIR -c shared_buffers=16MB -c pg_uring.ring_entries=64 -c pg_uring.queue_size=16" \
        start >>"$PROBE_DIR.log" 2>&1 || return 1
    in_scratch psql -XAtq -h "$PROBE_DIR" -d postgres -c 'CREATE EXTENSION pg_uring' >>"$PROBE_DIR.log" 2>&1 || return 1
    local i out
    for i in $(seq 1 300); do
        out=$(in_scratch psql -XAtq -h "$PROBE_DIR" -d postgres -F '|' \
              -c "SELECT ring_up, coalesce(reason, '') FROM pg_uring_status WHERE worker_pid IS NOT NULL AND (ring_up OR reason IS NOT NULL)" 2>>"$PROBE_DIR.log") || return 1
        if [ -n "$out" ]; then
            if [ "${out%%|*}" = "t" ]; then ring_state=up; else ring_state=down; ring_reason=${out#*|}; fi
            break
        fi
        sleep 0.2
    done
    in_scratch pg_ctl -D "$PROBE_DIR/data" -m fast -w stop >>"$PROBE_DIR.log" 2>&1 || true
    [ -n "$ring_state" ]
}
if ! probe_ring; then
    ring_state=error
    cat "$PROBE_DIR.log" 2>/dev/null | tail -n 40 || true
    [ -f "$PROBE_DIR/data/log" ] && tail -n 40 "$PROBE_DIR/data/log"
fi
sync_only=0
case "$ring_state" in
up)
    echo "the pg_uring ring is up"
    [ "${PG_URING_SYNC_ONLY:-}" = "1" ] && echo "PG_URING_SYNC_ONLY=1, but the ring is up: the ring tests run too"
    ;;
down)
    if [ "${PG_URING_SYNC_ONLY:-}" = "1" ]; then
        echo "the pg_uring ring is down ($ring_reason); PG_URING_SYNC_ONLY=1: the ring tests are skipped"
        sync_only=1
    else
        echo "check.sh: the pg_uring ring is down: $ring_reason" >&2
        echo "check.sh: this suite tests io_uring, so the run fails; set PG_URING_SYNC_ONLY=1 for an intended sync-only run" >&2
        fail_lines+=("FAILED: the pg_uring ring is down ($ring_reason) and PG_URING_SYNC_ONLY is not set")
        failed=$((failed + 1))
    fi
    ;;
*)
    fail_lines+=("FAILED: ring probe (a server with pg_uring preloaded did not start or answer; log above)")
    failed=$((failed + 1))
    ;;
esac

# ---------------------------------------------------------------- pg_regress --
regress_all=$(make -s -C "$SCRATCH" --no-print-directory PG_CONFIG="$PG_CONFIG" \
                  --eval='print-regress: ; @echo $(PGU_REGRESS)' print-regress 2>/dev/null || true)
# ring-only: batching, and setup's assertion that the ring is up (a sync-only
# run uses setup_sync_only, setup without that assertion)
regress_run=$regress_all
if [ "$sync_only" -eq 1 ]; then
    regress_run=$(echo "$regress_all" | tr ' ' '\n' | sed -e 's/^setup$/setup_sync_only/' -e '/^batching$/d' | tr '\n' ' ')
fi
n_regress=$(echo "$regress_run" | wc -w)
if [ "${PG_URING_SKIP_REGRESS:-}" != "1" ]; then
    log "pg_regress (make check-regress) in $SCRATCH"
    # "-o install": the extension is already installed (as root, above); the
    # unprivileged test user cannot (and need not) run "make install" again.
    regress_args=(PG_CONFIG="$PG_CONFIG")
    [ "$sync_only" -eq 1 ] && regress_args+=(PGU_REGRESS="$regress_run")
    set +e
    in_scratch make -o install check-regress "${regress_args[@]}" 2>&1 | tee "$SCRATCH/.regress.out"
    regress_rc=${PIPESTATUS[0]}
    set -e
    # PG 15 pg_regress prints "test NAME ... ok|FAILED|failed (ignored)";
    # 16 and later print TAP: "ok N - NAME" / "not ok N - NAME" ("+" in a
    # parallel group).
    r_ok=$(grep -cE '^(test | +)[^ ]+ +\.\.\. +ok( |$)|^ok +[0-9]+ +[-+] +[^ ]+' "$SCRATCH/.regress.out" || true)
    r_fail=$(grep -cE '^(test | +)[^ ]+ +\.\.\. +(FAILED|failed)|^not ok +[0-9]+ +[-+] +[^ ]+' "$SCRATCH/.regress.out" || true)
    if [ "$regress_rc" -ne 0 ] && [ "$r_fail" -eq 0 ]; then
        # pg_regress failed before/outside the tests (build, initdb, startup):
        # every test that did not report ok counts as failed.
        r_fail=$(( n_regress > r_ok ? n_regress - r_ok : 1 ))
    fi
    passed=$((passed + r_ok))
    failed=$((failed + r_fail))
    if [ "$sync_only" -eq 1 ]; then
        notes+=("skipped: pg_regress batching (ring-only; PG_URING_SYNC_ONLY=1)")
        notes+=("skipped: pg_regress setup's assertion that the ring is up (setup_sync_only ran instead; PG_URING_SYNC_ONLY=1)")
        skipped=$((skipped + 2))
    fi
    if [ "$regress_rc" -ne 0 ]; then
        fail_lines+=("FAILED: pg_regress (exit $regress_rc)")
        if [ -f "$SCRATCH/regression.diffs" ]; then
            log "regression.diffs"
            head -n 1000 "$SCRATCH/regression.diffs"
        fi
        for f in "$SCRATCH"/log/postmaster.log "$SCRATCH"/tmp_check_regress/log/postmaster.log; do
            [ -f "$f" ] || continue
            log "tail of $f"
            tail -n 60 "$f"
        done
    fi
else
    notes+=("not run: pg_regress, $(echo "$regress_all" | wc -w) tests (PG_URING_SKIP_REGRESS=1)")
    skipped=$((skipped + $(echo "$regress_all" | wc -w)))
fi

# ---------------------------------------------------------------------- TAP --
# The files asked for, as prove gets them.
if [ -n "${PROVE_TESTS:-}" ]; then
    tap_asked=$PROVE_TESTS
else
    tap_asked=$(cd "$SCRATCH" && ls test/t/*.pl 2>/dev/null | sort)
fi
n_tap=$(echo $tap_asked | wc -w)
tap_subskips=0

# The fault-injection tests (those that use fault_setup*) need the testing
# build (make PGU_TESTING=1, src/faults.h): they run in a second stage, with
# that build installed; everything else runs against the production build.
tap_prod=""
tap_fault=""
for f in $tap_asked; do
    if grep -q 'fault_setup' "$SCRATCH/$f" 2>/dev/null; then
        tap_fault="$tap_fault $f"
    else
        tap_prod="$tap_prod $f"
    fi
done

# Build and install the extension; $1 = 1 for the testing build.
install_build() {
    local testing=$1
    local flags=()
    [ "$testing" -eq 1 ] && flags=(PGU_TESTING=1)
    make -s clean PG_CONFIG="$PG_CONFIG" >/dev/null
    make -j"$(nproc)" PG_CONFIG="$PG_CONFIG" PGU_WERROR=1 "${flags[@]}" >/dev/null \
        && make install PG_CONFIG="$PG_CONFIG" PGU_WERROR=1 "${flags[@]}" >/dev/null
}

# Run one TAP stage: $1 = label, then the files.
run_tap_stage() {
    local label=$1
    shift
    local files="$*"
    local t_pass t_fail t_skip n rc
    log "TAP, $label (make prove-tap) in $SCRATCH"
    tap_args=(PG_CONFIG="$PG_CONFIG" PROVE_FLAGS="${PROVE_FLAGS:-}" PROVE_TESTS="$files")
    rm -rf "$SCRATCH/.tap-spool"
    set +e
    in_scratch make prove-tap "${tap_args[@]}" 2>&1 | tee "$SCRATCH/.tap.out"
    rc=${PIPESTATUS[0]}
    [ "$rc" -ne 0 ] && tap_rc=$rc
    set -e
    # Every file's raw TAP is in .tap-spool (PERL_TEST_HARNESS_DUMP_TAP).
    # Per file asked for: failed (prove lists it in its summary, it has a
    # "not ok", a "Bail out!", no plan, or it never ran), skipped (skip_all,
    # or every one of its checks skipped), or passed.  Plus the checks that
    # were skipped one by one.
    perl - "$SCRATCH/.tap-spool" "$SCRATCH/.tap.out" $files > "$SCRATCH/.tap.summary" <<'PERL'
use strict;
use warnings;
use File::Find;
use File::Basename;
my ($spool, $out, @asked) = @ARGV;
my %seen;
@asked = grep { !$seen{ basename($_) }++ } @asked;    # prove runs a file once
my %spooled;
find(sub { $spooled{$_} = $File::Find::name if -f $_ }, $spool) if -d $spool;
my %prove_failed;
if (open(my $fh, '<', $out))
{
	while (<$fh>)
	{
		$prove_failed{ basename($1) } = 1 if /^(\S+\.(?:pl|t)) +\(Wstat: /;
	}
}
for my $f (@asked)
{
	my $b = basename($f);
	my $path = $spooled{$b};
	if (!defined $path)
	{
		print "FAIL\t$b\tdid not run\n";
		next;
	}
	open(my $fh, '<', $path) or do { print "FAIL\t$b\tcannot read its TAP: $!\n"; next };
	my ($plan, $skip_all, $bail, $ntests, $nfail, %skips) = (undef, undef, undef, 0, 0);
	my $nskip = 0;
	while (my $l = <$fh>)
	{
		chomp $l;
		if ($l =~ /^1\.\.(\d+)(.*)$/)
		{
			my ($n, $directive) = ($1, $2);
			$plan = $n;
			if ($n == 0)
			{
				$skip_all = $directive =~ /#\s*skip\S*\s*(.*)$/i ? $1 : '';
			}
		}
		elsif ($l =~ /^Bail out!\s*(.*)$/) { $bail = $1; }
		elsif ($l =~ /^(not )?ok\b(.*)$/)
		{
			my ($not, $rest) = ($1, $2);
			$ntests++;
			my $todo = $rest =~ /#\s*TODO\b/i;
			$nfail++ if $not && !$todo;
			if (!$not && $rest =~ /#\s*skip\S*\s*(.*)$/i)
			{
				$nskip++;
				$skips{ $1 eq '' ? '(no reason given)' : $1 }++;
			}
		}
	}
	my $why;
	$why = "bailed out: $bail" if defined $bail;
	$why //= 'failed' if $prove_failed{$b} || $nfail;
	$why //= 'no plan (did not finish)' if !defined $plan;
	$why //= "planned $plan, ran $ntests" if defined $plan && $plan != $ntests && !defined $skip_all;
	if (defined $why) { print "FAIL\t$b\t$why\n"; }
	elsif (defined $skip_all) { print "SKIP\t$b\t" . ($skip_all eq '' ? '(no reason given)' : $skip_all) . "\n"; }
	elsif ($ntests > 0 && $nskip == $ntests) { print "SKIP\t$b\tevery check skipped: " . join('; ', sort keys %skips) . "\n"; $nskip = 0; }
	else { print "PASS\t$b\n"; }
	for my $r (sort keys %skips)
	{
		print "SUBSKIP\t$b\t$skips{$r}\t$r\n" if $nskip;
	}
}
PERL
    t_pass=$(grep -c '^PASS' "$SCRATCH/.tap.summary" || true)
    t_fail=$(grep -c '^FAIL' "$SCRATCH/.tap.summary" || true)
    t_skip=$(grep -c '^SKIP' "$SCRATCH/.tap.summary" || true)
    n=$(awk -F'\t' '$1 == "SUBSKIP" { n += $3 } END { print n + 0 }' "$SCRATCH/.tap.summary")
    tap_subskips=$((tap_subskips + n))
    if [ "$rc" -ne 0 ] && [ "$t_fail" -eq 0 ]; then
        # prove failed, yet no file did: count it once
        t_fail=1
        fail_lines+=("FAILED: prove ($label) exited $rc although every file passed or was skipped")
    fi
    passed=$((passed + t_pass))
    failed=$((failed + t_fail))
    skipped=$((skipped + t_skip))
    echo
    awk -F'\t' '$1 == "FAIL" { print "TAP FAILED: " $2 " (" $3 ")" }
                $1 == "SKIP" { print "TAP skipped: " $2 " (" $3 ")" }
                $1 == "SUBSKIP" { print "TAP " $2 ": " $3 " check(s) skipped (" $4 ")" }' "$SCRATCH/.tap.summary"
    while IFS=$'\t' read -r kind file why; do
        case "$kind" in
        FAIL) fail_lines+=("FAILED: TAP $file ($why)") ;;
        SKIP) notes+=("skipped: TAP $file ($why)") ;;
        esac
    done < "$SCRATCH/.tap.summary"
    if [ "$t_fail" -gt 0 ]; then
        # logs of the failed files only: regress_log_<test> and <test>_<node>.log
        failed_files=$(awk -F'\t' '$1 == "FAIL" { sub(/\.pl$/, "", $2); print $2 }' "$SCRATCH/.tap.summary")
        for base in $failed_files; do
            # (tmp_check/log on 15; log on 17 and later)
            for f in "$SCRATCH"/{tmp_check/log,log}/regress_log_"$base" "$SCRATCH"/{tmp_check/log,log}/"${base}"_*.log; do
                [ -f "$f" ] || continue
                log "tail of $f"
                tail -n 80 "$f"
            done
        done
    fi
}

if [ "${PG_URING_SKIP_TAP:-}" != "1" ]; then
    [ -n "${tap_prod// /}" ] && run_tap_stage "production build" $tap_prod
    if [ -n "${tap_fault// /}" ]; then
        log "testing build (make PGU_TESTING=1) for the fault-injection tests"
        if install_build 1; then
            run_tap_stage "testing build" $tap_fault
        else
            n=$(echo $tap_fault | wc -w)
            failed=$((failed + n))
            fail_lines+=("FAILED: the testing build (make PGU_TESTING=1) did not build; $n TAP file(s) not run")
        fi
        log "production build again"
        install_build 0 || die "the production build failed on the second build"
    fi
else
    notes+=("not run: TAP tests, $n_tap files (PG_URING_SKIP_TAP=1)")
    skipped=$((skipped + n_tap))
fi

# ------------------------------------------------------- benchmark smoke --
if [ "${PG_URING_SKIP_BENCH:-}" = "1" ]; then
    notes+=("not run: benchmark smoke test (PG_URING_SKIP_BENCH=1)")
    skipped=$((skipped + 1))
elif [ "$MAJOR" != 15 ]; then
    notes+=("not run: benchmark smoke test (it runs on PostgreSQL 15 only, to keep a whole run inside the CI budget)")
    skipped=$((skipped + 1))
elif [ -n "${PROVE_TESTS:-}" ]; then
    notes+=("not run: benchmark smoke test (PROVE_TESTS is set)")
    skipped=$((skipped + 1))
elif [ "$sync_only" -eq 1 ]; then
    notes+=("not run: benchmark smoke test (it measures the ring; PG_URING_SYNC_ONLY=1)")
    skipped=$((skipped + 1))
else
    log "benchmark smoke test (make bench-quick)"
    set +e
    make bench-quick PG_CONFIG="$PG_CONFIG" BENCH_OUT="$SCRATCH/bench-out" 2>&1 | tail -n 60
    bench_rc=${PIPESTATUS[0]}
    set -e
    if [ "$bench_rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        fail_lines+=("FAILED: bench-quick (exit $bench_rc)")
    fi
fi

log "summary (PostgreSQL $MAJOR)"
for l in "${fail_lines[@]}"; do echo "$l"; done
for l in "${notes[@]}"; do echo "$l"; done
[ "$sync_only" -eq 1 ] && echo "ring tests did not run (PG_URING_SYNC_ONLY=1): the ring is down here: $ring_reason"
echo "TAP: $tap_subskips individual check(s) skipped"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "$failed" -ne 0 ] || [ "$regress_rc" -ne 0 ] || [ "$tap_rc" -ne 0 ] || [ "$bench_rc" -ne 0 ]; then
    exit 1
fi
exit 0
