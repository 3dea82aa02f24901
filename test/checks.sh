# test/checks.sh -- the check counting shared by test/package.sh and
# test/exporter.sh (sourced).  The script sets PROG (its name, for messages)
# and defines cleanup(); it runs each check with run_check, sets
# finished=1 at its end, and the EXIT trap prints the closing line
# "N passed, N failed, 0 skipped" and sets the exit status.

passed=0
failed=0
finished=

log() { printf '\n==> %s\n' "$*"; }
note() { printf '%s: %s\n' "$PROG" "$*"; }

# At exit: a run that stopped early is a failure; clean up; the result line.
on_exit() {
	local rc=$?
	trap - EXIT
	set +e
	if [ -z "$finished" ]; then
		echo "FAILED: $PROG stopped early (exit status $rc)"
		failed=$((failed + 1))
	fi
	declare -F cleanup >/dev/null && cleanup
	echo "$passed passed, $failed failed, 0 skipped"
	[ "$failed" -eq 0 ] && exit 0
	exit 1
}
trap on_exit EXIT
trap 'exit 130' INT TERM HUP

# apt-get install those of the packages given that are not installed.
install_missing() {
	local p missing=()
	for p in "$@"; do
		[ "$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null)" = installed ] || missing+=("$p")
	done
	[ "${#missing[@]}" -gt 0 ] || return 0
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=300 update -q >/dev/null
	apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# Run a check in a subshell with errexit in force (a function called in an
# "if" would run with errexit off), and count it.
run_check() {
	local name=$1 start rc
	shift
	log "$name"
	start=$(date +%s)
	set +e
	(set -e; "$@")
	rc=$?
	set -e
	if [ "$rc" -eq 0 ]; then
		echo "ok: $name ($(( $(date +%s) - start ))s)"
		passed=$((passed + 1))
	else
		echo "FAILED: $name ($(( $(date +%s) - start ))s)"
		failed=$((failed + 1))
	fi
}
