#!/usr/bin/env bash
# test/check.sh -- run the whole pg_uring test suite.
#
#   bash test/check.sh
#
# As root on a fresh Debian 12 machine it installs what it needs through apt
# (skipped when everything is already installed, unless CI=true), builds with
# -Wall -Wextra -Werror, installs the extension, copies the tree into a scratch
# directory owned by the unprivileged user "postgres" (PostgreSQL refuses to run
# as root) and runs, as that user:
#   make check-regress   pg_regress against a temporary instance
#   make prove-tap       the TAP tests in test/t/*.pl
# As a non-root user it skips apt and the user switch and runs everything as
# the current user (the extension's install directories must then be writable).
#
# Environment:
#   CI=true            always run apt-get update/install
#   PROVE_FLAGS=...    extra flags for prove (e.g. --verbose)
#   PROVE_TESTS=...    only these TAP files (relative to the tree, e.g. test/t/001_x.pl)
#   PG_URING_SOAK=1    longer soak runs in the TAP tests
#   PG_URING_KEEP=1    keep the scratch directory even when everything passed
#   PG_URING_SKIP_REGRESS=1 / PG_URING_SKIP_TAP=1 / PG_URING_SKIP_BENCH=1
#                      skip pg_regress, the TAP tests, or the benchmark smoke
#                      test (make bench-quick: every method runs and returns
#                      the right block counts; no speed is asserted)
#
# The last line of output is "N passed, N failed" (pg_regress tests + TAP files).
# The exit status is non-zero on any failure.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PACKAGES=(postgresql-15 postgresql-server-dev-15 postgresql-contrib liburing-dev
          libipc-run-perl build-essential gdb fio gnuplot-nox)
TEST_USER=postgres

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'check.sh: %s\n' "$*" >&2; echo "0 passed, 1 failed"; exit 1; }

# ---------------------------------------------------------------- packages --
if [ "$(id -u)" -eq 0 ]; then
    missing=()
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
            missing+=("$p")
        fi
    done
    if [ "${CI:-}" = "true" ] || [ "${#missing[@]}" -gt 0 ]; then
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
# newest server-dev); pin PostgreSQL 15 explicitly.
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config) || die "pg_config not found"
PG_BINDIR=$("$PG_CONFIG" --bindir)
export PATH="$PG_BINDIR:$PATH"
log "PostgreSQL: $("$PG_CONFIG" --version) ($PG_CONFIG)"

# ------------------------------------------------------------ build/install --
log "make"
make -j"$(nproc)" PG_CONFIG="$PG_CONFIG" || die "build failed"
log "make install"
if [ "$(id -u)" -ne 0 ] && [ ! -w "$("$PG_CONFIG" --pkglibdir)" ]; then
    die "not root and $("$PG_CONFIG" --pkglibdir) is not writable: run as root (or install first)"
fi
make install PG_CONFIG="$PG_CONFIG" || die "make install failed"

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

cleanup() {
    [ "$SCRATCH_DONE" -eq 1 ] && return
    SCRATCH_DONE=1
    if [ "${PG_URING_KEEP:-}" = "1" ]; then
        echo "check.sh: scratch tree kept in $SCRATCH"
    else
        rm -rf "$SCRATCH"
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
        PG_TEST_TIMEOUT_DEFAULT="${PG_TEST_TIMEOUT_DEFAULT:-180}" \
        "$@"
}

passed=0
failed=0
regress_rc=0
tap_rc=0

# ---------------------------------------------------------------- pg_regress --
if [ "${PG_URING_SKIP_REGRESS:-}" != "1" ]; then
    log "pg_regress (make check-regress) in $SCRATCH"
    # "-o install": the extension is already installed (as root, above); the
    # unprivileged test user cannot (and need not) run "make install" again.
    set +e
    in_scratch make -o install check-regress PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$SCRATCH/.regress.out"
    regress_rc=${PIPESTATUS[0]}
    set -e
    # PG 15 pg_regress prints "test NAME ... ok|FAILED|failed (ignored)".
    r_ok=$(grep -cE '^(test | +)[^ ]+ +\.\.\. +ok( |$)' "$SCRATCH/.regress.out" || true)
    r_fail=$(grep -cE '^(test | +)[^ ]+ +\.\.\. +(FAILED|failed)' "$SCRATCH/.regress.out" || true)
    if [ "$regress_rc" -ne 0 ] && [ "$r_fail" -eq 0 ]; then
        # pg_regress failed before/outside the tests (build, initdb, startup):
        # every test that did not report ok counts as failed.
        n_tests=$(make -s -C "$SCRATCH" --no-print-directory PG_CONFIG="$PG_CONFIG" \
                      --eval='print-regress: ; @echo $(REGRESS)' print-regress 2>/dev/null | wc -w || true)
        r_fail=$(( n_tests > r_ok ? n_tests - r_ok : 1 ))
    fi
    passed=$((passed + r_ok))
    failed=$((failed + r_fail))
    if [ "$regress_rc" -ne 0 ]; then
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
fi

# ---------------------------------------------------------------------- TAP --
if [ "${PG_URING_SKIP_TAP:-}" != "1" ]; then
    log "TAP (make prove-tap) in $SCRATCH"
    tap_args=(PG_CONFIG="$PG_CONFIG" PROVE_FLAGS="${PROVE_FLAGS:-}")
    if [ -n "${PROVE_TESTS:-}" ]; then
        tap_args+=(PROVE_TESTS="$PROVE_TESTS")
    fi
    set +e
    in_scratch make prove-tap "${tap_args[@]}" 2>&1 | tee "$SCRATCH/.tap.out"
    tap_rc=${PIPESTATUS[0]}
    set -e
    # prove's summary: "Files=N, Tests=M, ..." and one line per failed file
    # under "Test Summary Report": "t/x.pl (Wstat: 256 Tests: 3 Failed: 1)".
    t_files=$(sed -nE 's/^Files=([0-9]+),.*/\1/p' "$SCRATCH/.tap.out" | tail -n 1)
    t_fail=$(grep -cE '^[^ ]+\.(pl|t) +\(Wstat: ' "$SCRATCH/.tap.out" || true)
    if [ -z "$t_files" ]; then
        # prove never got to its summary (build of the helper failed, no tests...)
        t_files=1; t_fail=1
    elif [ "$tap_rc" -ne 0 ] && [ "$t_fail" -eq 0 ]; then
        t_fail=1
    fi
    t_skip=$(grep -cE '\.\.+ skipped:' "$SCRATCH/.tap.out" || true)
    [ "$t_skip" -gt 0 ] && echo "TAP: $t_skip test file(s) skipped entirely (counted as passed; see reasons above)"
    passed=$((passed + t_files - t_fail))
    failed=$((failed + t_fail))
    if [ "$tap_rc" -ne 0 ]; then
        # logs of the failed files only: regress_log_<test> and <test>_<node>.log
        failed_files=$(sed -nE 's/^([^ ]+)\.(pl|t) +\(Wstat: .*/\1/p' "$SCRATCH/.tap.out")
        [ -n "$failed_files" ] || failed_files=$(ls "$SCRATCH"/test/t/*.pl 2>/dev/null | sed 's/\.pl$//')
        for t in $failed_files; do
            base=$(basename "$t")
            for f in "$SCRATCH/tmp_check/log/regress_log_$base" "$SCRATCH/tmp_check/log/${base}"_*.log; do
                [ -f "$f" ] || continue
                log "tail of $f"
                tail -n 80 "$f"
            done
        done
    fi
fi

# ------------------------------------------------------- benchmark smoke --
if [ "${PG_URING_SKIP_BENCH:-}" != "1" ] && [ -z "${PROVE_TESTS:-}" ]; then
    log "benchmark smoke test (make bench-quick)"
    set +e
    make bench-quick PG_CONFIG="$PG_CONFIG" BENCH_OUT="$SCRATCH/bench-out" 2>&1 | tail -n 60
    bench_rc=${PIPESTATUS[0]}
    set -e
    if [ "$bench_rc" -eq 0 ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

echo
[ "$bench_rc" -eq 0 ] || echo "bench-quick FAILED (exit $bench_rc)"
[ "$regress_rc" -eq 0 ] || echo "pg_regress FAILED (exit $regress_rc)"
[ "$tap_rc" -eq 0 ] || echo "TAP FAILED (exit $tap_rc)"
echo "$passed passed, $failed failed"
if [ "$failed" -ne 0 ] || [ "$regress_rc" -ne 0 ] || [ "$tap_rc" -ne 0 ] || [ "$bench_rc" -ne 0 ]; then
    exit 1
fi
exit 0
