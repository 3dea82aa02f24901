#!/usr/bin/env bash
# test/debroot.sh: Debian roots that carry other PostgreSQL majors.
#
# Only Debian's registry is reachable, and it has PostgreSQL 17 in trixie
# and 18 in sid.  This script builds such a root with debootstrap, installs
# the server, its headers, liburing and the TAP test dependencies, and runs
# commands inside it (chroot, with /proc, /sys and /dev mounted: io_uring
# works there, since it is the same kernel).
#
#   test/debroot.sh path MAJOR          print the root's directory
#   test/debroot.sh ensure MAJOR        build (if missing) and mount it
#   test/debroot.sh run MAJOR CMD...    run CMD inside it (as root)
#   test/debroot.sh umount MAJOR        unmount /proc, /sys, /dev and binds
#   test/debroot.sh destroy MAJOR       unmount, then delete the root
#
# Roots live in $PGU_ROOTS (default /var/tmp/pg_uring-roots), one per
# suite.  The source tree is bind-mounted at /pg_uring inside the root by
# "ensure" and "run" (PGU_ROOT_SRC, default: this checkout; PGU_ROOT_MNT,
# default /pg_uring), so builds inside see the same files.  Must run as root.
set -euo pipefail

ROOTS="${PGU_ROOTS:-/var/tmp/pg_uring-roots}"
MIRROR="${PGU_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SRC="${PGU_ROOT_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
MNT="${PGU_ROOT_MNT:-/pg_uring}"

die() { echo "debroot: $*" >&2; exit 1; }

suite_of() {
	case "$1" in
		17) echo trixie ;;
		18) echo sid ;;
		15) die "PostgreSQL 15 runs on the host (bookworm), not in a root" ;;
		16) die "PostgreSQL 16 is in no Debian suite, so it cannot be tested here" ;;
		*) die "no Debian suite is known for PostgreSQL $1" ;;
	esac
}

root_of() { echo "$ROOTS/$(suite_of "$1")"; }

apt_opts() {
	# sid's snapshot Release file may have expired
	if [ "$(suite_of "$1")" = sid ]; then
		echo "-o Acquire::Check-Valid-Until=false"
	fi
}

is_mounted() { mountpoint -q "$1"; }

do_mount() {
	local dir="$1"
	is_mounted "$dir/proc" || mount -t proc proc "$dir/proc"
	is_mounted "$dir/sys" || mount --rbind /sys "$dir/sys"
	if ! is_mounted "$dir/dev"; then
		# /dev/shm (POSIX DSM) and /dev/pts are submounts: recursive bind,
		# kept slave so that nothing done inside propagates back
		mount --rbind /dev "$dir/dev"
		mount --make-rslave "$dir/dev"
	fi
	mkdir -p "$dir$MNT"
	is_mounted "$dir$MNT" || mount --bind "$SRC" "$dir$MNT"
}

do_umount() {
	local dir="$1" m
	[ -d "$dir" ] || return 0
	# every mount under the root, deepest first (binds of other trees too)
	for m in $(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
}

ensure() {
	local major="$1" dir suite
	dir="$(root_of "$major")"
	suite="$(suite_of "$major")"
	[ "$(id -u)" = 0 ] || die "must run as root"
	command -v debootstrap >/dev/null || {
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
	}
	if [ ! -e "$dir/.pgu-ready-$major" ]; then
		if [ ! -x "$dir/usr/bin/apt-get" ]; then
			do_umount "$dir"
			[ -d "$dir" ] && rm -rf --one-file-system "$dir"
			mkdir -p "$ROOTS"
			echo "debroot: building a $suite root in $dir" >&2
			debootstrap --variant=minbase "$suite" "$dir" "$MIRROR" >"$ROOTS/$suite.debootstrap.log" 2>&1 ||
				die "debootstrap $suite failed; see $ROOTS/$suite.debootstrap.log"
		fi
		do_mount "$dir"
		echo "debroot: installing PostgreSQL $major in $dir" >&2
		# shellcheck disable=SC2046
		chroot "$dir" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
			apt-get $(apt_opts "$major") update -q >"$ROOTS/$suite.apt.log" 2>&1 ||
			die "apt-get update in $suite failed; see $ROOTS/$suite.apt.log"
		# shellcheck disable=SC2046
		chroot "$dir" env DEBIAN_FRONTEND=noninteractive LC_ALL=C \
			apt-get $(apt_opts "$major") install -y -q --no-install-recommends \
			"postgresql-$major" "postgresql-server-dev-$major" postgresql-common \
			liburing-dev build-essential libipc-run-perl perl procps gdb \
			util-linux python3 >>"$ROOTS/$suite.apt.log" 2>&1 ||
			die "apt-get install in $suite failed; see $ROOTS/$suite.apt.log"
		# the Debian packages create a cluster we do not use
		chroot "$dir" sh -c "pg_dropcluster --stop $major main 2>/dev/null || true"
		touch "$dir/.pgu-ready-$major"
	fi
	do_mount "$dir"
	echo "$dir"
}

cmd="${1:-}"; shift || true
case "$cmd" in
	path) root_of "$1" ;;
	ensure) ensure "$1" >/dev/null; root_of "$1" ;;
	run)
		major="$1"; shift
		dir="$(root_of "$major")"
		[ -e "$dir/.pgu-ready-$major" ] || die "no root for PostgreSQL $major; run: $0 ensure $major"
		do_mount "$dir"
		exec chroot "$dir" env -i PATH="/usr/lib/postgresql/$major/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
			HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@"
		;;
	umount) do_umount "$(root_of "$1")" ;;
	destroy)
		dir="$(root_of "$1")"
		do_umount "$dir"
		if awk -v d="$dir/" 'index($2, d) == 1 { f = 1 } END { exit !f }' /proc/self/mounts; then
			die "something under $dir is still mounted; not deleting"
		fi
		[ -d "$dir" ] && rm -rf --one-file-system "$dir"
		;;
	*) die "usage: $0 {path|ensure|run|umount|destroy} MAJOR [CMD...]" ;;
esac
