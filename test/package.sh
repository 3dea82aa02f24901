#!/usr/bin/env bash
# test/package.sh -- pg_uring shipped as a contrib-style Debian package, and
# its PGXN metadata.
#
#   bash test/package.sh        as root, on a Debian 12 (bookworm) machine
#
# Four checks, one "ok: ..." or "FAILED: ..." line each:
#   1. META.json       parses (Debian's /usr/bin/python3), has the keys that
#                      PGXN's meta-spec 1.0.0 requires, with values of the
#                      right shape, and its versions match pg_uring.control's
#                      default_version (1.4 <-> 1.4.0) and the upstream part of
#                      debian/changelog's version; provides' file exists.
#   2. package built   a scratch copy of the tree (the files git knows of,
#                      committed or not, as they are on disk, or the whole
#                      tree but .git and build artefacts if it is no git
#                      checkout), an orig tarball made from it, then
#                      "dpkg-buildpackage -us -uc" as the unprivileged user
#                      postgres (no root, no fakeroot needed): source package
#                      and postgresql-15-pg-uring_VERSION_ARCH.deb, with the
#                      files in /usr/lib/postgresql/15/lib and
#                      /usr/share/postgresql/15/extension, Depends on
#                      postgresql-15 and liburing2, and a production build
#                      (no PGU_TESTING, no -Werror).
#   3. clean root      debootstrap --variant=minbase bookworm (no make
#                      install, nothing of the host's): apt-get installs the
#                      .deb and pulls postgresql-15 and liburing2 from
#                      Debian's registry; a cluster with
#                      shared_preload_libraries = 'pg_uring' starts, CREATE
#                      EXTENSION works and pg_uring_prewarm of a 100000-row
#                      table returns its block count; pg_uring_status is
#                      printed.
#   4. installcheck    in the same root, the autopkgtest (debian/tests) on the
#                      source package built in 2: pg_buildext installcheck
#                      through pg_virtualenv, a cluster with test/regress.conf's
#                      settings, running the pg_regress suite (sql/, expected/)
#                      against the installed package, while the root's own
#                      15/main cluster runs on port 5432, as on a testbed.
# A check that cannot run because an earlier one failed counts as failed.
#
# It installs what it needs with apt-get (only what is missing), works in
# /var/tmp/pg_uring-package.XXXXXX and removes it at the end; the root's
# /proc, /sys and /dev are unmounted first (also on failure or interrupt,
# through a trap), and the directory is only deleted, with rm
# --one-file-system, once nothing under it is mounted any more.  Apart from
# installing missing packages, it leaves the host's PostgreSQL installation
# and clusters alone (the root's servers listen on their own sockets, or on
# a TCP port that pg_createcluster finds free).  Takes about 1.5 minutes on
# a 2-core machine, most of it debootstrap and apt-get in the root, which
# download from Debian's registry.
#
# Environment:
#   PGU_DEBIAN_MIRROR=URL  the Debian mirror (default http://deb.debian.org/debian;
#                      security updates from URL-security, or
#                      PGU_DEBIAN_SECURITY_MIRROR)
#   PG_URING_KEEP=1    keep the work directory (build products, logs, root),
#                      unmounted
#
# The last line of output is "N passed, N failed, 0 skipped"; the exit status
# is non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MIRROR="${PGU_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${PGU_DEBIAN_SECURITY_MIRROR:-${MIRROR}-security}"
SUITE=bookworm
MAJOR=15
BUILD_USER=postgres

WORK=

PROG=package.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

# ---------------------------------------------------------------- cleanup --
# Every mount under the root, deepest first, from the kernel's own list.
mounts_under() {
	awk -v d="$1/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r
}

cleanup() {
	[ -n "$WORK" ] && [ -d "$WORK" ] || return 0
	local r="$WORK/root" p m left=0
	if [ -d "$r" ]; then
		# processes of ours still running inside the root (a server that
		# a failed step left behind): end them, by pid
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$r" ] || continue
			note "ending process ${p#/proc/} left in the root"
			kill -TERM "${p#/proc/}" 2>/dev/null || true
		done
		sleep 0.5
		for p in /proc/[0-9]*; do
			[ "$(readlink "$p/root" 2>/dev/null)" = "$r" ] || continue
			kill -KILL "${p#/proc/}" 2>/dev/null || true
		done
		for m in $(mounts_under "$r"); do
			umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
		done
		for m in "$r/proc" "$r/sys" "$r/dev"; do
			if mountpoint -q "$m" 2>/dev/null; then left=1; fi
		done
		[ -z "$(mounts_under "$r")" ] || left=1
	fi
	if [ "$left" = 1 ]; then
		note "something under $r is still mounted; NOT deleting $WORK:"
		mounts_under "$r" >&2
		failed=$((failed + 1))
		echo "FAILED: cleanup: $r could not be unmounted"
		return 0
	fi
	if [ "${PG_URING_KEEP:-}" = 1 ]; then
		note "work directory kept in $WORK (PG_URING_KEEP=1)"
	else
		rm -rf --one-file-system "$WORK"
	fi
}


# -------------------------------------------------------------- packages --
[ "$(id -u)" -eq 0 ] || { note "must run as root (apt-get, debootstrap, chroot)"; exit 1; }

HOST_PACKAGES=(dpkg-dev debhelper build-essential fakeroot postgresql-common
	postgresql-server-dev-all "postgresql-$MAJOR" "postgresql-server-dev-$MAJOR"
	liburing-dev debootstrap python3 util-linux)
install_missing "${HOST_PACKAGES[@]}"
PY=/usr/bin/python3     # Debian's, not whatever python3 PATH finds first

WORK=$(mktemp -d /var/tmp/pg_uring-package.XXXXXX)
chmod 755 "$WORK"
BUILD="$WORK/build"     # source copy, orig tarball, build products
R="$WORK/root"          # the clean bookworm root
note "working in $WORK"

# Versions, from the files themselves
CONTROL_VERSION=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" "$ROOT/pg_uring.control")
DEB_VERSION=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Version 2>/dev/null || true)
DEB_SOURCE=$(dpkg-parsechangelog -l "$ROOT/debian/changelog" -S Source 2>/dev/null || true)
UPSTREAM_VERSION=${DEB_VERSION#*:}
UPSTREAM_VERSION=${UPSTREAM_VERSION%-*}
ARCH=$(dpkg --print-architecture)
PKG="postgresql-$MAJOR-pg-uring"
DEB="$BUILD/${PKG}_${DEB_VERSION#*:}_${ARCH}.deb"
DSC="$BUILD/${DEB_SOURCE}_${DEB_VERSION#*:}.dsc"

# ------------------------------------------------------------ 1. META.json --
check_meta() {
	"$PY" - "$ROOT" "$CONTROL_VERSION" "$UPSTREAM_VERSION" <<'PYEOF'
import json, os, re, sys

root, control_version, upstream_version = sys.argv[1:4]
errors = []
def err(msg):
    errors.append(msg)

try:
    with open(os.path.join(root, "META.json"), encoding="utf-8") as f:
        meta = json.load(f)
except (OSError, ValueError) as e:
    print(f"META.json does not parse: {e}")
    sys.exit(1)
if not isinstance(meta, dict):
    print("META.json is not a JSON object")
    sys.exit(1)

SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
                    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$")
ONE_RANGE = r"(([=!]=|[<>]=?)\s*)?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?"
RANGE = re.compile(rf"^(0|{ONE_RANGE}(,\s*{ONE_RANGE})*)$")
LICENSES = {"agpl_3", "apache_1_1", "apache_2_0", "artistic_1", "artistic_2", "bsd",
            "freebsd", "gfdl_1_2", "gfdl_1_3", "gpl_1", "gpl_2", "gpl_3", "lgpl_2_1",
            "lgpl_3_0", "mit", "mozilla_1_0", "mozilla_1_1", "openssl", "perl_5",
            "postgresql", "qpl_1_0", "ssleay", "sun", "zlib", "open_source",
            "restricted", "unrestricted", "unknown"}

def nonempty_str(v):
    return isinstance(v, str) and v.strip() != ""

for key in ("name", "abstract", "maintainer", "license", "provides", "meta-spec", "version"):
    if key not in meta:
        err(f"required key {key!r} is missing")

ms = meta.get("meta-spec")
if "meta-spec" in meta:
    if not isinstance(ms, dict) or ms.get("version") != "1.0.0":
        err(f"meta-spec.version must be \"1.0.0\", not {ms!r}")
for key in ("name", "abstract"):
    if key in meta and not nonempty_str(meta[key]):
        err(f"{key} must be a non-empty string")
if "name" in meta and nonempty_str(meta["name"]) and not re.fullmatch(r"[A-Za-z0-9_.-]{2,}", meta["name"]):
    err(f"name {meta['name']!r} is not a valid term")
m = meta.get("maintainer")
if "maintainer" in meta and not (nonempty_str(m) or
        (isinstance(m, list) and m and all(nonempty_str(x) for x in m))):
    err("maintainer must be a string or a non-empty list of strings")
lic = meta.get("license")
if "license" in meta and not ((isinstance(lic, str) and lic in LICENSES) or
        (isinstance(lic, list) and lic and all(x in LICENSES for x in lic)) or
        (isinstance(lic, dict) and lic and all(nonempty_str(v) for v in lic.values()))):
    err(f"license {lic!r} is not a known license shortcut, list of them, or name-to-URL object")

version = meta.get("version")
if "version" in meta:
    if not (isinstance(version, str) and SEMVER.match(version)):
        err(f"version {version!r} is not a semantic version")

# pg_uring.control's default_version (major.minor) as a semantic version
cv = control_version + ".0" if re.fullmatch(r"\d+\.\d+", control_version) else control_version
if version != cv:
    err(f"version {version!r} does not match pg_uring.control's default_version "
        f"{control_version!r} (expected {cv!r})")
if version != upstream_version:
    err(f"version {version!r} does not match debian/changelog's upstream version "
        f"{upstream_version!r}")

prov = meta.get("provides")
if "provides" in meta:
    if not isinstance(prov, dict) or not prov:
        err("provides must be a non-empty object")
        prov = {}
    if "pg_uring" not in prov:
        err("provides has no pg_uring extension")
    for ext, p in prov.items():
        if not isinstance(p, dict):
            err(f"provides.{ext} is not an object")
            continue
        for key in ("file", "version"):
            if key not in p:
                err(f"provides.{ext}.{key} is missing")
        extra = set(p) - {"file", "version", "abstract", "docfile"}
        extra = {k for k in extra if not k.lower().startswith("x_")}
        if extra:
            err(f"provides.{ext} has unknown keys {sorted(extra)}")
        if "version" in p and not (isinstance(p["version"], str) and SEMVER.match(p["version"])):
            err(f"provides.{ext}.version {p['version']!r} is not a semantic version")
        for key in ("file", "docfile"):
            if key in p:
                path = p[key]
                if (not nonempty_str(path) or path.startswith("/") or "\\" in path
                        or not os.path.isfile(os.path.join(root, path))):
                    err(f"provides.{ext}.{key} {path!r} is not a relative path to a file of the tree")
        if ext == "pg_uring":
            if p.get("version") != cv:
                err(f"provides.pg_uring.version {p.get('version')!r} is not {cv!r}")
            want = f"pg_uring--{control_version}.sql"
            if p.get("file") != want:
                err(f"provides.pg_uring.file {p.get('file')!r} is not the default version's script {want!r}")

if "release_status" in meta and meta["release_status"] not in ("stable", "testing", "unstable"):
    err(f"release_status {meta['release_status']!r} is not stable, testing or unstable")
if "tags" in meta and not (isinstance(meta["tags"], list) and all(nonempty_str(t) for t in meta["tags"])):
    err("tags must be a list of strings")
pre = meta.get("prereqs", {})
if not isinstance(pre, dict):
    err("prereqs must be an object")
    pre = {}
for phase, rels in pre.items():
    if phase not in ("configure", "build", "test", "runtime", "develop") and not phase.lower().startswith("x_"):
        err(f"prereqs has an unknown phase {phase!r}")
        continue
    if not isinstance(rels, dict):
        err(f"prereqs.{phase} must be an object")
        continue
    for rel, deps in rels.items():
        if rel not in ("requires", "recommends", "suggests", "conflicts"):
            err(f"prereqs.{phase} has an unknown relationship {rel!r}")
            continue
        if not isinstance(deps, dict):
            err(f"prereqs.{phase}.{rel} must be an object")
            continue
        for name, rng in deps.items():
            if not (rng == 0 or (isinstance(rng, str) and RANGE.match(rng))):
                err(f"prereqs.{phase}.{rel}.{name}: {rng!r} is not a version range")
pg = pre.get("runtime", {}).get("requires", {}).get("PostgreSQL") if isinstance(pre.get("runtime"), dict) else None
if pg is None:
    err("prereqs.runtime.requires.PostgreSQL is missing")
if "resources" in meta and not (isinstance(meta["resources"], dict) and meta["resources"]):
    err("resources must be a non-empty object")

for e in errors:
    print(f"META.json: {e}")
if errors:
    sys.exit(1)
print(f"META.json: {meta['name']} {version} (meta-spec 1.0.0), provides "
      + ", ".join(f"{k} {v['version']} ({v['file']})" for k, v in prov.items())
      + f"; PostgreSQL {pg}; matches pg_uring.control {control_version!r} "
      f"and debian/changelog {upstream_version!r}")
PYEOF
}

# -------------------------------------------------------- 2. package built --
# The tree as it is on disk: the files git knows of (committed, changed or
# new but not ignored), or, outside a git checkout, everything but .git and
# build artefacts.
copy_tree() {
	local dest=$1
	mkdir -p "$dest"
	if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				# a tracked file deleted on disk is not part of the tree
				if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
			done | tar --null -T - -cf -) | tar -C "$dest" -xf -
	else
		tar -C "$ROOT" --exclude=./.git --exclude='./tmp_check*' --exclude=./results \
			--exclude='*.o' --exclude='*.so' --exclude='*.bc' --exclude=./test/seccomp_deny_uring \
			--exclude=./regression.diffs --exclude=./regression.out --exclude=./log \
			--exclude=./test/bench/out -cf - . | tar -C "$dest" -xf -
	fi
}

check_build() {
	local src="$BUILD/$DEB_SOURCE-$UPSTREAM_VERSION" f ok=1 x
	[ -n "$DEB_VERSION" ] && [ -n "$DEB_SOURCE" ] || { echo "cannot read debian/changelog"; return 1; }
	echo "source package $DEB_SOURCE $DEB_VERSION, binary $PKG, in $BUILD"
	copy_tree "$src"
	# 3.0 (quilt): the orig tarball is the tree without debian/
	tar -C "$BUILD" --exclude="$DEB_SOURCE-$UPSTREAM_VERSION/debian" --sort=name \
		--owner=0 --group=0 --numeric-owner \
		-czf "$BUILD/${DEB_SOURCE}_$UPSTREAM_VERSION.orig.tar.gz" "$DEB_SOURCE-$UPSTREAM_VERSION"
	chown -R "$BUILD_USER:" "$BUILD"
	# Not root: the build must not need it (Rules-Requires-Root: no).  The
	# environment must not turn on the testing build or -Werror either.
	if ! (cd "$src" && runuser -u "$BUILD_USER" -- env -u PGU_TESTING -u PGU_WERROR \
			HOME="$BUILD" dpkg-buildpackage -us -uc) >"$BUILD/build.log" 2>&1; then
		echo "dpkg-buildpackage failed; the end of $BUILD/build.log:"
		tail -n 60 "$BUILD/build.log"
		return 1
	fi
	grep -E '^dpkg-(source|deb): |^ dpkg-genchanges|^dpkg-buildpackage: info: (source|binary)' "$BUILD/build.log" || true
	for f in "$DEB" "$DSC"; do
		[ -f "$f" ] || { echo "missing: $f"; ok=0; }
	done
	[ "$ok" = 1 ] || { ls -l "$BUILD"; return 1; }
	ls -l "$BUILD"/*.deb "$BUILD"/*.dsc "$BUILD"/*.tar.* "$BUILD"/*.changes "$BUILD"/*.buildinfo

	# Files where PostgreSQL 15 looks for them: the library, the control file
	# and every SQL script of the tree
	dpkg-deb -c "$DEB" | awk '{ print $NF }' | sed 's|^\./|/|' >"$BUILD/contents"
	local want=("/usr/lib/postgresql/$MAJOR/lib/pg_uring.so"
		"/usr/share/postgresql/$MAJOR/extension/pg_uring.control")
	for x in "$src"/pg_uring--*.sql; do
		want+=("/usr/share/postgresql/$MAJOR/extension/${x##*/}")
	done
	for x in "${want[@]}"; do
		if grep -qxF "$x" "$BUILD/contents"; then echo "  has $x"; else echo "missing in the .deb: $x"; ok=0; fi
	done
	# Depends: the server and liburing (from shlibs)
	x=$(dpkg-deb -f "$DEB" Depends)
	echo "  Depends: $x"
	grep -Eq "(^|, )postgresql-$MAJOR( |,|$)" <<<"$x" || { echo "Depends lacks postgresql-$MAJOR"; ok=0; }
	grep -Eq "(^|, )liburing2( |,|$)" <<<"$x" || { echo "Depends lacks liburing2"; ok=0; }
	# A production build: no fault injection (its SQL entry point is only in
	# the testing build), no PGU_TESTING and no plain -Werror on any compile
	mkdir -p "$BUILD/deb-x"
	dpkg-deb -x "$DEB" "$BUILD/deb-x"
	if grep -q pg_uring_fault_set "$BUILD/deb-x/usr/lib/postgresql/$MAJOR/lib/pg_uring.so"; then
		echo "pg_uring.so is a testing build (it has pg_uring_fault_set)"; ok=0
	fi
	if grep -E -- '-DPGU_TESTING|-Werror( |$)' "$BUILD/build.log" | head -n 3 | grep .; then
		echo "the build used PGU_TESTING or -Werror (above)"; ok=0
	fi
	grep -q -- '-c -o src/pg_uring.o' "$BUILD/build.log" || { echo "no compile of src/pg_uring.o in the log"; ok=0; }
	[ "$ok" = 1 ]
}

# ------------------------------------------------- 3. install in a clean root --
inroot() {
	chroot "$R" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive TERM=dumb "$@"
}

mount_root() {
	mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
	if ! mountpoint -q "$R/sys"; then
		mount --rbind /sys "$R/sys"
		mount --make-rslave "$R/sys"
	fi
	if ! mountpoint -q "$R/dev"; then
		# /dev/shm (POSIX shared memory) and /dev/pts are submounts; slave,
		# so that nothing done inside propagates back
		mount --rbind /dev "$R/dev"
		mount --make-rslave "$R/dev"
	fi
}

make_root() {
	echo "debootstrap --variant=minbase $SUITE $R $MIRROR"
	if ! debootstrap --variant=minbase "$SUITE" "$R" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
		echo "debootstrap failed; the end of $WORK/debootstrap.log:"
		tail -n 30 "$WORK/debootstrap.log"
		return 1
	fi
	mount_root
	# A bookworm machine as installed: with its updates and security suites
	# (pg_buildext makes the package depend on the server's current minor)
	cat >"$R/etc/apt/sources.list" <<-EOF
		deb $MIRROR $SUITE main
		deb $MIRROR $SUITE-updates main
		deb $SECURITY_MIRROR $SUITE-security main
	EOF
	[ -s "$R/etc/resolv.conf" ] || cp /etc/resolv.conf "$R/etc/resolv.conf" 2>/dev/null || true
	# Services are not started by package scripts inside the root
	printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
	chmod 755 "$R/usr/sbin/policy-rc.d"
	if ! inroot apt-get update -q >"$WORK/apt.log" 2>&1; then
		echo "apt-get update in the root failed; the end of $WORK/apt.log:"
		tail -n 20 "$WORK/apt.log"
		return 1
	fi
	touch "$WORK/root.ready"
}

# psql as postgres in the root, on the cluster 15/main
rpsql() {
	inroot runuser -u postgres -- psql --cluster "$MAJOR/main" -X -q -v ON_ERROR_STOP=1 "$@"
}

check_install() {
	local x blocks pages ok=1
	[ -f "$DEB" ] || { echo "not run: no package was built"; return 1; }
	make_root
	# Nothing of PostgreSQL or liburing is in the root before the .deb comes
	for x in "postgresql-$MAJOR" liburing2; do
		if [ "$(inroot dpkg-query -W -f '${db:Status-Status}' "$x" 2>/dev/null)" = installed ]; then
			echo "$x is already in the fresh root"; return 1
		fi
	done
	mkdir -p "$R/tmp/pkg"
	cp "$DEB" "$R/tmp/pkg/"
	chmod -R a+rX "$R/tmp/pkg"
	echo "apt-get install /tmp/pkg/$(basename "$DEB") (in the root)"
	if ! inroot apt-get install -y -q --no-install-recommends "/tmp/pkg/$(basename "$DEB")" \
			>>"$WORK/apt.log" 2>&1; then
		echo "apt-get install of the .deb failed; the end of $WORK/apt.log:"
		tail -n 30 "$WORK/apt.log"
		return 1
	fi
	for x in "$PKG" "postgresql-$MAJOR" liburing2; do
		echo "  installed: $x $(inroot dpkg-query -W -f '${Version}' "$x")"
	done
	# the library resolves liburing through the package's dependencies
	x=$(inroot ldd "/usr/lib/postgresql/$MAJOR/lib/pg_uring.so")
	grep 'liburing' <<<"$x" | sed 's/^[[:space:]]*/  ldd: /'
	if grep -q 'not found' <<<"$x"; then echo "unresolved libraries:"; grep 'not found' <<<"$x"; return 1; fi
	inroot dpkg -L "$PKG" | grep -E '/(pg_uring\.so|pg_uring\.control|pg_uring--1\.4\.sql)$' | sed 's/^/  file: /'

	# The cluster that postgresql-15's postinst created (not started: no
	# services in the root), with pg_uring preloaded and no TCP listener
	# (the root shares the host's network)
	inroot pg_lsclusters
	cat >"$R/etc/postgresql/$MAJOR/main/conf.d/pg_uring.conf" <<-EOF
		shared_preload_libraries = 'pg_uring'
		listen_addresses = ''
	EOF
	if ! inroot pg_ctlcluster "$MAJOR" main start; then
		echo "the cluster did not start; its log:"
		tail -n 30 "$R/var/log/postgresql/postgresql-$MAJOR-main.log"
		return 1
	fi
	rpsql -c "CREATE EXTENSION pg_uring" || ok=0
	rpsql -At -c "SELECT 'pg_uring ' || extversion FROM pg_extension WHERE extname = 'pg_uring'" || ok=0
	rpsql -c "CREATE TABLE t AS SELECT g FROM generate_series(1, 100000) g" || ok=0
	blocks=$(rpsql -At -c "SELECT pg_uring_prewarm('t')") || ok=0
	pages=$(rpsql -At -c "SELECT pg_relation_size('t') / 8192") || ok=0
	echo "pg_uring_prewarm('t') = ${blocks:-?}, pg_relation_size('t') / 8192 = ${pages:-?}"
	if [ "$ok" = 1 ] && { [ -z "$blocks" ] || [ "$blocks" != "$pages" ] || [ "$blocks" -le 0 ]; }; then
		echo "the prewarm's block count is not the table's size"; ok=0
	fi
	echo "pg_uring_status:"
	rpsql -x -c "SELECT * FROM pg_uring_status" || ok=0
	inroot pg_ctlcluster "$MAJOR" main stop || ok=0
	[ "$ok" = 1 ] || { echo "the end of the server log:"; tail -n 20 "$R/var/log/postgresql/postgresql-$MAJOR-main.log"; }
	[ "$ok" = 1 ]
}

# --------------------------------------------------------- 4. installcheck --
check_installcheck() {
	local out="$WORK/installcheck.log" want n
	[ -f "$WORK/root.ready" ] && [ -f "$DSC" ] &&
		[ "$(inroot dpkg-query -W -f '${db:Status-Status}' "$PKG" 2>/dev/null)" = installed ] ||
		{ echo "not run: no root with the package installed"; return 1; }
	# What debian/tests/control's Depends bring beyond the package ("@")
	x=$(sed -n '/^Depends:/,/^[A-Z]/p' "$ROOT/debian/tests/control" | sed -e '1s/^Depends://' -e '/^[A-Z]/d' |
		tr ',\n' '  ' | tr -s ' ' '\n' | { grep -v -e '^@$' -e '^$' || true; } | tr '\n' ' ')
	echo "apt-get install $x(in the root, debian/tests/control's Depends)"
	# shellcheck disable=SC2086
	if ! inroot apt-get install -y -q --no-install-recommends $x >>"$WORK/apt.log" 2>&1; then
		echo "apt-get install failed; the end of $WORK/apt.log:"
		tail -n 30 "$WORK/apt.log"
		return 1
	fi
	# A testbed has the package's own cluster running (postinst starts it
	# there): so does this root, on the default port 5432 (socket only), so
	# that a test reaching for libpq's default port finds the wrong server
	if ! inroot pg_ctlcluster "$MAJOR" main start; then
		echo "the cluster $MAJOR/main did not start"; return 1
	fi
	# The source package, unpacked as autopkgtest does, and its test
	rm -rf "$R/tmp/src"
	dpkg-source -x "$DSC" "$R/tmp/src" >/dev/null
	echo "debian/tests/installcheck (in the unpacked source package, in the root)"
	set +e
	inroot sh -c 'cd /tmp/src && exec debian/tests/installcheck' >"$out" 2>&1
	rc=$?
	set -e
	cat "$out"
	inroot pg_ctlcluster "$MAJOR" main stop || true
	[ "$rc" -eq 0 ] || { echo "debian/tests/installcheck exited with $rc"; return 1; }
	# every test of the suite ran and passed
	want=$(sed -n 's/^PGU_REGRESS[[:space:]]*=//p' "$ROOT/Makefile" | wc -w)
	n=$(sed -n 's/.*All \([0-9][0-9]*\) tests passed.*/\1/p' "$out" | tail -n 1)
	[ "${n:-0}" = "$want" ] || { echo "expected 'All $want tests passed', got ${n:-none}"; return 1; }
	echo "all $want pg_regress tests passed against the installed package"
}

run_check "META.json valid" check_meta
run_check "package built (dpkg-buildpackage -us -uc)" check_build
run_check "package installs into a clean $SUITE root; CREATE EXTENSION and prewarm" check_install
run_check "installcheck (debian/tests: pg_buildext installcheck)" check_installcheck
finished=1
[ "$failed" -eq 0 ]
