#!/usr/bin/env bash
# test/exporter.sh -- pg_uring's Prometheus queries file
# (contrib/postgres_exporter/queries.yaml) and Grafana dashboard
# (contrib/grafana/pg_uring.json), through Debian's real postgres_exporter.
#
#   bash test/exporter.sh       as root, on a Debian 12 (bookworm) machine
#                               whose PostgreSQL 15 has pg_uring installed
#                               ("make install", as test/check.sh's 15 stage
#                               does before it runs this)
#
# It makes a throwaway PostgreSQL 15 cluster with shared_preload_libraries =
# 'pg_uring' (on 127.0.0.1 and a free TCP port only, its socket in the work
# directory), CREATE EXTENSION pg_uring and a 20000-row table there, a role
# pgu_exporter that is a member of pg_monitor and nothing else, and starts
# /usr/bin/prometheus-postgres-exporter as the user postgres, connected as
# that role, with --extend.query-path=contrib/postgres_exporter/queries.yaml,
# on 127.0.0.1 and another free port.  Eight checks, one "ok: ..." or
# "FAILED: ..." line each:
#   1. queries.yaml     parses (Debian's python3-yaml); every query has a
#                       query and metrics, each metric a known usage and a
#                       description; COUNTERs end in _total, every HISTOGRAM
#                       column has its _bucket, _sum and _count columns; no
#                       two columns make the same metric name.
#   2. cluster          initdb, start, CREATE EXTENSION, the table and the
#                       roles; prints pg_uring's version and the ring's state.
#   3. queries run      every query runs as pgu_exporter (pg_monitor) and
#                       returns exactly the columns it declares (an
#                       undeclared column would be exported as "untyped");
#                       a role without pg_monitor is refused pg_uring_stats,
#                       _latency, _status, _inflight and _waits, as the
#                       file's header says.
#   4. exporter up      the exporter serves /metrics (bounded retries),
#                       pg_up is 1 and pg_uring_info is there.
#   5. dashboard        pg_uring.json parses, is a dashboard (schemaVersion
#                       >= 36, panels with unique ids and grid positions)
#                       whose Prometheus data source is the ${DS_PROMETHEUS}
#                       input and templating variable; every metric name in
#                       every expr (functions, keywords, label matchers,
#                       ranges and by/on clauses stripped) is one that
#                       queries.yaml makes and that the scrape has, a
#                       _bucket / _sum / _count name only of a histogram.
#   6. metric types     every metric of queries.yaml is in the scrape with
#                       its "# TYPE": counter, gauge or histogram, with the
#                       query's LABEL columns as labels; the histogram has
#                       cumulative _bucket{le=...} series up to le="+Inf"
#                       (= _count), _sum and _count; no untyped pg_uring_*
#                       metric.
#   7. no errors        pg_exporter_user_queries_load_error of the file is 0,
#                       pg_exporter_last_scrape_error is 0, and the
#                       exporter's log has no error line naming a pg_uring
#                       query.
#   8. counters move    pg_uring_prewarm('t', 'read') with pg_uring.io_method
#                       sync, then io_uring, then pg_uring_evict('t') and
#                       pg_uring_prewarm('t') (buffer mode, through the
#                       ring): in a second scrape, for both methods, the
#                       read block counter has grown by at least the
#                       table's blocks, the read byte counter by at least
#                       that times 8 kB, the read ops, requests, the
#                       histogram's _count and its le="+Inf" bucket by at
#                       least 1 (_sum and the seconds have not shrunk), and
#                       the ring's write blocks and bytes by what the
#                       evict flushed.  With the ring down here this fails,
#                       unless PG_URING_SYNC_ONLY=1 (then only sync is asked
#                       for).
# A check that cannot run because an earlier one failed counts as failed.
#
# It installs what is missing with apt-get (prometheus-postgres-exporter,
# python3, python3-yaml; PostgreSQL 15 itself must be there), works in
# /var/tmp/pg_uring-exporter.XXXXXX (owned by postgres) and, in an EXIT trap,
# stops the exporter, stops the cluster (pg_ctl -m immediate) and removes
# the directory.  It leaves the host's clusters and services alone: if the
# package's postinst started its own exporter service (on :9187), that one
# keeps running and is not used.  If postgres may not read this tree, the
# exporter reads a copy of queries.yaml in the work directory.  Takes about
# 5 seconds on a 2-core machine (more the first time, for apt-get).
#
# Environment:
#   PG_URING_KEEP=1       keep the work directory (cluster, logs, scrapes);
#                         the exporter and the cluster are stopped all the same
#   PG_URING_SYNC_ONLY=1  a host where io_uring is not available: check 8
#                         asks only the sync path to move
#
# The last line of output is "N passed, N failed, 0 skipped"; the exit status
# is non-zero on any failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
QUERIES="$ROOT/contrib/postgres_exporter/queries.yaml"
DASHBOARD="$ROOT/contrib/grafana/pg_uring.json"
MAJOR=15
PGBIN=/usr/lib/postgresql/$MAJOR/bin
EXPORTER=/usr/bin/prometheus-postgres-exporter
PY=/usr/bin/python3     # Debian's, not whatever python3 PATH finds first
RUN_USER=postgres
ROLE=pgu_exporter       # the exporter's role: pg_monitor, nothing more
NOMON_ROLE=pgu_nobody   # a role without pg_monitor
ROWS=20000

WORK=
PGPORT=
EXPORTER_PORT=
QUERIES_USED=
# Each check runs in a subshell: what a later check or the cleanup needs of
# an earlier one is a file in $WORK (exporter.pid, exporter.wrapper,
# exporter.ok; the cluster's postmaster.pid).

PROG=exporter.sh
. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

# ---------------------------------------------------------------- cleanup --
# The exporter (by the pid its shell wrote before exec), then runuser,
# which waits for it; by pid, TERM first, and only while that pid is still
# the process we started (its command name), not one that reused the pid.
stop_exporter() {
	local p i comm
	for p in "$(cat "$WORK/exporter.pid" 2>/dev/null)" "$(cat "$WORK/exporter.wrapper" 2>/dev/null)"; do
		[[ "$p" =~ ^[0-9]+$ ]] || continue
		comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
		case "$comm" in prometheus-pos*|runuser) ;; *) continue ;; esac
		kill -TERM "$p" 2>/dev/null || continue
		for i in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$comm" ] && kill -KILL "$p" 2>/dev/null
	done
	rm -f "$WORK/exporter.pid" "$WORK/exporter.wrapper"
}

cleanup() {
	[ -n "$WORK" ] && [ -d "$WORK" ] || return 0
	stop_exporter
	if [ -f "$WORK/data/postmaster.pid" ]; then
		as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ "${PG_URING_KEEP:-}" = 1 ]; then
		note "work directory kept in $WORK (PG_URING_KEEP=1)"
	else
		rm -rf --one-file-system "$WORK"
	fi
}


# As the unprivileged user, from a directory that user may enter.
as_pg() { (cd "${WORK:-/}" && runuser -u "$RUN_USER" -- "$@"); }

# psql as the superuser through the cluster's socket
spsql() { as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$WORK" -p "$PGPORT" -d postgres "$@"; }

# A TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

scrape() {  # $1 = output file
	"$PY" - "http://127.0.0.1:$EXPORTER_PORT/metrics" "$1" <<-'PYEOF'
	import sys, urllib.request
	with urllib.request.urlopen(sys.argv[1], timeout=20) as r:
	    body = r.read()
	with open(sys.argv[2], "wb") as f:
	    f.write(body)
	PYEOF
}

# -------------------------------------------------------------- packages --
[ "$(id -u)" -eq 0 ] || { note "must run as root (apt-get, runuser)"; exit 1; }

PACKAGES=(prometheus-postgres-exporter python3 python3-yaml util-linux)
install_missing "${PACKAGES[@]}"
for f in "$EXPORTER" "$PGBIN/initdb" "$PGBIN/pg_ctl" "$PGBIN/psql"; do
	[ -x "$f" ] || { note "$f is missing (PostgreSQL $MAJOR and prometheus-postgres-exporter are needed)"; exit 1; }
done
for f in "/usr/lib/postgresql/$MAJOR/lib/pg_uring.so" "/usr/share/postgresql/$MAJOR/extension/pg_uring.control"; do
	[ -f "$f" ] || { note "$f is missing: run \"make install PG_CONFIG=$PGBIN/pg_config\" first"; exit 1; }
done
note "$("$EXPORTER" --version 2>&1 | head -n 1)"

WORK=$(mktemp -d /var/tmp/pg_uring-exporter.XXXXXX)
chown "$RUN_USER:" "$WORK"
chmod 700 "$WORK"
note "working in $WORK"
# Free TCP ports on 127.0.0.1 for the cluster and the exporter
PGPORT=$(free_port)
EXPORTER_PORT=$(free_port)
while [ "$EXPORTER_PORT" = "$PGPORT" ]; do EXPORTER_PORT=$(free_port); done

# The exporter, as postgres, must read the queries file where it is; if this
# tree is closed to postgres, a copy in the work directory it is.
if as_pg test -r "$QUERIES"; then
	QUERIES_USED=$QUERIES
else
	QUERIES_USED="$WORK/queries.yaml"
	cp "$QUERIES" "$QUERIES_USED"
	chown "$RUN_USER:" "$QUERIES_USED"
	note "$QUERIES is not readable by $RUN_USER: the exporter reads a copy, $QUERIES_USED"
fi

# The checks' Python: parsing of the queries file and of the exposition
# format, shared by checks 1 and 3 to 7.
cat >"$WORK/checks.py" <<'PYEOF'
import json, math, os, re, subprocess, sys

USAGES = {"LABEL", "COUNTER", "GAUGE", "HISTOGRAM", "DISCARD", "MAPPEDMETRIC", "DURATION"}
QUERY_KEYS = {"query", "metrics", "master", "cache_seconds", "runonserver"}
PROM_TYPE = {"COUNTER": "counter", "GAUGE": "gauge", "HISTOGRAM": "histogram",
             "MAPPEDMETRIC": "gauge", "DURATION": "gauge"}


def fail(msgs):
    for m in msgs:
        print(m)
    sys.exit(1 if msgs else 0)


def load_queries(path):
    import yaml
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def query_columns(spec):
    """[(column, usage, description)] of one query, in file order."""
    out = []
    for m in spec.get("metrics") or []:
        if isinstance(m, dict) and len(m) == 1 and isinstance(list(m.values())[0], dict):
            (col, opts), = m.items()
            out.append((col, opts.get("usage"), opts.get("description")))
    return out


def expected_metrics(queries):
    """{metric family name: (prometheus type, [label names], query name)}"""
    fams = {}
    for name, spec in queries.items():
        cols = query_columns(spec)
        labels = [c for c, u, _ in cols if u == "LABEL"]
        for col, usage, _ in cols:
            if usage in PROM_TYPE:
                fam = f"{name}_{col}" + ("_milliseconds" if usage == "DURATION" else "")
                fams[fam] = (PROM_TYPE[usage], labels, name)
    return fams


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*')


def parse_exposition(path):
    """(types {family: type}, samples [(name, {labels}, value)])"""
    types, samples = {}, []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("# TYPE "):
                _, _, fam, typ = line.split(None, 3)
                types[fam] = typ.strip()
                continue
            if not line or line.startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                raise ValueError(f"unparseable exposition line: {line!r}")
            labels = {}
            if m.group(3):
                pos = 0
                body = m.group(3)
                while pos < len(body):
                    lm = LABEL.match(body, pos)
                    if not lm:
                        raise ValueError(f"unparseable labels: {body!r}")
                    labels[lm.group(1)] = lm.group(2)
                    pos = lm.end()
            samples.append((m.group(1), labels, float(m.group(4))))
    return types, samples


def family_of(name, types):
    """The family a sample name belongs to (histogram/summary suffixes stripped)."""
    if name in types:
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[: -len(suffix)]) in ("histogram", "summary"):
            return name[: -len(suffix)]
    return None


# --------------------------------------------------------- 1. queries.yaml --
def cmd_lint(path):
    errs = []
    try:
        q = load_queries(path)
    except Exception as e:  # yaml.YAMLError, OSError
        fail([f"{path} does not parse: {e}"])
    if not isinstance(q, dict) or not q:
        fail([f"{path}: not a non-empty mapping of query names"])
    names = {}
    nmetrics = 0
    for name, spec in q.items():
        if not re.fullmatch(r"pg_uring[a-z0-9_]*", str(name)):
            errs.append(f"{name}: a query name should be pg_uring or start with pg_uring_")
        if not isinstance(spec, dict):
            errs.append(f"{name}: not a mapping")
            continue
        extra = set(spec) - QUERY_KEYS
        if extra:
            errs.append(f"{name}: unknown keys {sorted(extra)}")
        if not isinstance(spec.get("query"), str) or not spec["query"].strip():
            errs.append(f"{name}: no query")
        ms = spec.get("metrics")
        if not isinstance(ms, list) or not ms:
            errs.append(f"{name}: no metrics list")
            continue
        cols = []
        for m in ms:
            if not (isinstance(m, dict) and len(m) == 1 and isinstance(list(m.values())[0], dict)):
                errs.append(f"{name}: metric entry {m!r} is not 'column: {{usage, description}}'")
                continue
            (col, opts), = m.items()
            cols.append(col)
            usage, desc = opts.get("usage"), opts.get("description")
            if usage not in USAGES:
                errs.append(f"{name}.{col}: unknown usage {usage!r}")
            if not isinstance(desc, str) or not desc.strip():
                errs.append(f"{name}.{col}: no description")
            if set(opts) - {"usage", "description", "metric_mapping", "pg_version"}:
                errs.append(f"{name}.{col}: unknown keys {sorted(set(opts) - {'usage', 'description'})}")
            if not re.fullmatch(r"[a-z_][a-z0-9_]*", str(col)):
                errs.append(f"{name}.{col}: not a valid metric / label name")
            if usage == "COUNTER" and not str(col).endswith("_total"):
                errs.append(f"{name}.{col}: a COUNTER's name should end in _total")
            if usage in ("GAUGE", "HISTOGRAM") and str(col).endswith("_total"):
                errs.append(f"{name}.{col}: only counters end in _total")
            if usage == "HISTOGRAM":
                for suffix in ("_bucket", "_sum", "_count"):
                    if not re.search(rf"\b{re.escape(col + suffix)}\b", spec.get("query", "")):
                        errs.append(f"{name}.{col}: HISTOGRAM without a {col}{suffix} column in the query")
            if usage in PROM_TYPE:
                nmetrics += 1
                metric = f"{name}_{col}"
                if metric in names:
                    errs.append(f"{metric} is made by both {names[metric]} and {name}")
                names[metric] = name
        if len(set(cols)) != len(cols):
            errs.append(f"{name}: a column is listed twice")
        if not any(u in PROM_TYPE for _, u, _ in query_columns(spec)):
            errs.append(f"{name}: no metric column (only labels)")
    # a sample name of one family must not be another family's name
    for metric, qn in names.items():
        for suffix in ("_bucket", "_sum", "_count"):
            if metric + suffix in names:
                errs.append(f"{metric + suffix} ({names[metric + suffix]}) collides with {metric}'s {suffix}")
    if errs:
        fail(errs)
    print(f"{path}: {len(q)} queries ({', '.join(q)}), {nmetrics} metrics; "
          f"{sum(1 for s in q.values() for _, u, _ in query_columns(s) if u == 'COUNTER')} counters, "
          f"{sum(1 for s in q.values() for _, u, _ in query_columns(s) if u == 'GAUGE')} gauges, "
          f"{sum(1 for s in q.values() for _, u, _ in query_columns(s) if u == 'HISTOGRAM')} histogram(s)")


# ---------------------------------------------------------- 2. queries run --
def cmd_columns(path, outdir):
    """Write one file per query: NAME.sql (SELECT * FROM (query) LIMIT 0) and NAME.cols."""
    q = load_queries(path)
    for name, spec in q.items():
        body = spec["query"].strip().rstrip(";")
        with open(os.path.join(outdir, name + ".sql"), "w") as f:
            f.write(f"SELECT * FROM (\n{body}\n) AS q;\n")
        cols = []
        for c, usage, _ in query_columns(spec):
            cols.append(c)
            if usage == "HISTOGRAM":    # read with the column: bounds, counts, sum, count
                cols += [c + "_bucket", c + "_sum", c + "_count"]
        with open(os.path.join(outdir, name + ".cols"), "w") as f:
            f.write("\n".join(cols) + "\n")
    print("\n".join(q))


# ---------------------------------------------------------- 4. dashboard --
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan", "atan2"}


def expr_metrics(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)   # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                                   # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                                  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"\$\{?[A-Za-z_][A-Za-z0-9_]*\}?", " ", e)               # dashboard variables
    names = set()
    for m in re.finditer(r"(?<![A-Za-z0-9_:.])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call or word.lower() in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def walk(node, fn):
    if isinstance(node, dict):
        fn(node)
        for v in node.values():
            walk(v, fn)
    elif isinstance(node, list):
        for v in node:
            walk(v, fn)


def cmd_dashboard(dash_path, queries_path, scrape_path):
    errs = []
    try:
        with open(dash_path, encoding="utf-8") as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        fail([f"{dash_path} does not parse: {e}"])
    if not isinstance(d, dict):
        fail([f"{dash_path} is not a JSON object"])
    if not isinstance(d.get("schemaVersion"), int) or d["schemaVersion"] < 36:
        errs.append(f"schemaVersion {d.get('schemaVersion')!r} is not 36 or later")
    for key in ("title", "uid"):
        if not isinstance(d.get(key), str) or not d[key]:
            errs.append(f"no {key}")
    inputs = [i for i in d.get("__inputs", []) if i.get("name") == "DS_PROMETHEUS"]
    if not inputs or inputs[0].get("pluginId") != "prometheus" or inputs[0].get("type") != "datasource":
        errs.append("no __inputs entry DS_PROMETHEUS (type datasource, pluginId prometheus)")
    tvars = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    dsv = tvars.get("DS_PROMETHEUS")
    if not dsv or dsv.get("type") != "datasource" or dsv.get("query") != "prometheus":
        errs.append("no templating variable DS_PROMETHEUS of type datasource, query prometheus")
    panels = []
    def collect(p):
        panels.append(p)
        for sub in p.get("panels", []) or []:
            collect(sub)
    for p in d.get("panels", []):
        collect(p)
    if not [p for p in panels if p.get("type") != "row"]:
        errs.append("no panels")
    ids = [p.get("id") for p in panels]
    if len(set(ids)) != len(ids) or None in ids:
        errs.append(f"panel ids are not unique: {ids}")
    for p in panels:
        gp = p.get("gridPos", {})
        if not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")):
            errs.append(f"panel {p.get('title')!r}: no gridPos h/w/x/y")
        elif gp["x"] + gp["w"] > 24:
            errs.append(f"panel {p.get('title')!r}: wider than the grid")
    # every data source reference is the input variable
    def check_ds(node):
        ds = node.get("datasource")
        if isinstance(ds, dict) and ds.get("type") == "prometheus" and ds.get("uid") != "${DS_PROMETHEUS}":
            errs.append(f"a Prometheus data source with uid {ds.get('uid')!r}, not ${{DS_PROMETHEUS}}")
        if isinstance(ds, str) and ds not in ("${DS_PROMETHEUS}", "-- Grafana --"):
            errs.append(f"data source {ds!r}, not ${{DS_PROMETHEUS}}")
    walk(d, check_ds)
    exprs = []
    def grab(node):
        if isinstance(node.get("expr"), str):
            exprs.append(node["expr"])
        q = node.get("query")
        if isinstance(q, dict) and isinstance(q.get("query"), str):
            exprs.append(q["query"])
        elif isinstance(node.get("definition"), str):
            exprs.append(node["definition"])
    walk(d.get("panels", []), grab)
    walk(d.get("templating", {}), grab)
    made = {}
    for fam, (typ, _, _) in expected_metrics(load_queries(queries_path)).items():
        made[fam] = typ
        if typ == "histogram":
            for s in ("_bucket", "_sum", "_count"):
                made[fam + s] = "histogram sample"
    types, samples = parse_exposition(scrape_path)
    scraped = {n for n, _, _ in samples}
    used = set()
    for e in exprs:
        if e.startswith("label_values("):
            m = re.match(r"label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", e)
            names = {m.group(1)} if m else set()
        else:
            names = expr_metrics(e)
        if not names:
            errs.append(f"expr names no metric: {e}")
        for n in sorted(names):
            used.add(n)
            if n not in made:
                errs.append(f"{n} (in {e!r}) is not a metric that queries.yaml makes")
            elif n not in scraped:
                errs.append(f"{n} (in {e!r}) is not in the scrape")
            fam = family_of(n, types)
            if n != fam and fam is not None and types.get(fam) != "histogram":
                errs.append(f"{n} is a {types.get(fam)} sample, not a histogram's")
            if n.endswith(("_bucket", "_sum", "_count")) and fam is None and n not in types:
                errs.append(f"{n}: no family of that name in the scrape")
    if errs:
        fail(errs)
    print(f"{dash_path}: {len([p for p in panels if p.get('type') != 'row'])} panels, {len(exprs)} "
          f"expressions, schemaVersion {d['schemaVersion']}; metrics used ({len(used)}), all in "
          f"queries.yaml and in the scrape: {' '.join(sorted(used))}")


# -------------------------------------------------------- 5. metric types --
def cmd_types(queries_path, scrape_path):
    errs = []
    types, samples = parse_exposition(scrape_path)
    fams = expected_metrics(load_queries(queries_path))
    by_name = {}
    for n, l, v in samples:
        by_name.setdefault(n, []).append((l, v))
    summary = {}
    for fam, (typ, labels, qname) in sorted(fams.items()):
        got = types.get(fam)
        if got != typ:
            errs.append(f"{fam}: # TYPE {got}, not {typ}")
            continue
        summary.setdefault(typ, []).append(fam)
        if typ != "histogram":
            rows = by_name.get(fam, [])
            if not rows:
                errs.append(f"{fam}: no sample")
            for l, v in rows:
                if set(labels) - set(l):
                    errs.append(f"{fam}{l}: lacks the labels {sorted(set(labels) - set(l))}")
                if math.isnan(v):
                    errs.append(f"{fam}{l}: NaN (a NULL the query does not handle)")
            continue
        buckets = by_name.get(fam + "_bucket", [])
        sums = by_name.get(fam + "_sum", [])
        counts = by_name.get(fam + "_count", [])
        if not buckets or not sums or not counts:
            errs.append(f"{fam}: _bucket {len(buckets)}, _sum {len(sums)}, _count {len(counts)} samples")
            continue
        if fam in by_name:
            errs.append(f"{fam}: a plain sample of a histogram's own name")
        series = {}
        for l, v in buckets:
            if "le" not in l:
                errs.append(f"{fam}_bucket{l}: no le label")
                continue
            key = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
            series.setdefault(key, []).append((float(l["le"]), v))
        count_of = {tuple(sorted(l.items())): v for l, v in counts}
        sum_of = {tuple(sorted(l.items())): v for l, v in sums}
        for key, bs in series.items():
            lab = dict(key)
            if set(labels) - set(lab):
                errs.append(f"{fam}_bucket{lab}: lacks the labels {sorted(set(labels) - set(lab))}")
            bs.sort()
            les = [le for le, _ in bs]
            if not les or les[-1] != math.inf:
                errs.append(f"{fam}_bucket{lab}: no le=\"+Inf\" bucket")
            vals = [v for _, v in bs]
            if any(b < a for a, b in zip(vals, vals[1:])):
                errs.append(f"{fam}_bucket{lab}: not cumulative: {vals}")
            if key not in count_of or key not in sum_of:
                errs.append(f"{fam}{lab}: no _count or _sum")
            elif vals and vals[-1] != count_of[key]:
                errs.append(f"{fam}{lab}: +Inf bucket {vals[-1]} != _count {count_of[key]}")
            elif sum_of[key] < 0 or math.isnan(sum_of[key]):
                errs.append(f"{fam}{lab}: _sum {sum_of[key]}")
            finite = [le for le in les if le != math.inf]
            if finite and not (finite[0] < 1e-3 and finite[-1] >= 1):
                errs.append(f"{fam}{lab}: bounds {finite[0]} .. {finite[-1]} do not look like seconds")
        print(f"  {fam}: {len(series)} series ({', '.join(sorted(str(dict(k)) for k in series))}), "
              f"{len(buckets) // max(len(series), 1)} buckets each, le from "
              f"{min(le for s in series.values() for le, _ in s)} to +Inf")
    # columns the file does not declare would come out untyped
    for fam, typ in types.items():
        if fam.startswith("pg_uring") and typ == "untyped":
            errs.append(f"{fam}: untyped (a column queries.yaml does not declare)")
    if errs:
        fail(errs)
    for typ in ("counter", "gauge", "histogram"):
        print(f"  {typ} ({len(summary.get(typ, []))}): {' '.join(summary.get(typ, []))}")


# ----------------------------------------------------------- 6. no errors --
def cmd_errors(queries_path, scrape_path, log_path, queries_used):
    errs = []
    types, samples = parse_exposition(scrape_path)
    load = [(l, v) for n, l, v in samples if n == "pg_exporter_user_queries_load_error"]
    mine = [(l, v) for l, v in load if l.get("filename") == queries_used]
    if not mine:
        errs.append(f"no pg_exporter_user_queries_load_error for {queries_used}: {load}")
    for l, v in mine:
        if v != 0:
            errs.append(f"pg_exporter_user_queries_load_error{l} = {v}")
        else:
            print(f"pg_exporter_user_queries_load_error{{filename={l['filename']!r}, "
                  f"hashsum={l.get('hashsum', '')[:12]}...}} = 0")
    lse = [v for n, _, v in samples if n == "pg_exporter_last_scrape_error"]
    if lse != [0.0]:
        errs.append(f"pg_exporter_last_scrape_error = {lse}")
    else:
        print("pg_exporter_last_scrape_error = 0")
    names = set(load_queries(queries_path))
    other = []
    with open(log_path, encoding="utf-8", errors="replace") as f:
        for line in f:
            bad = re.search(r"level=(error|warn)|\berr=|error running|missing column|unexpected error"
                            r"|unparseable|failed to reload", line, re.I)
            if not bad:
                continue
            if any(re.search(rf"\b{re.escape(n)}\b", line) for n in names) or "queries.yaml" in line:
                errs.append(f"exporter log: {line.strip()}")
            else:
                other.append(line.strip())
    for line in other:
        print(f"  (not about pg_uring's queries, not counted) {line}")
    if errs:
        fail(errs)
    print(f"the exporter's log ({log_path}) has no error line naming a pg_uring query")


# ------------------------------------------------------- 7. counters move --
def value(samples, name, **labels):
    vals = [v for n, l, v in samples if n == name and all(l.get(k) == x for k, x in labels.items())]
    return sum(vals) if vals else None


def cmd_moved(before_path, after_path, blocks, methods, write_blocks):
    errs = []
    _, a = parse_exposition(before_path)
    _, b = parse_exposition(after_path)
    blocks = int(blocks)
    write_blocks = int(write_blocks)
    def need(name, at_least, strict=True, **labels):
        x, y = value(a, name, **labels), value(b, name, **labels)
        what = name + "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
        if x is None or y is None:
            errs.append(f"{what}: not in both scrapes ({x}, {y})")
            return
        d = y - x
        ok = d >= at_least and (d > 0 if strict else True)
        print(f"  {'ok' if ok else 'NOT'}: {what} {x:g} -> {y:g} (+{d:g}, want "
              f"{'> 0 and ' if strict else ''}>= {at_least:g})")
        if not ok:
            errs.append(f"{what} moved by {d:g}")
    for m in methods.split(","):
        need("pg_uring_io_blocks_total", blocks, method=m, op="read")
        need("pg_uring_io_bytes_total", blocks * 8192, method=m, op="read")
        need("pg_uring_io_ops_total", 1, method=m, op="read")
        need("pg_uring_io_seconds_total", 0, strict=False, method=m, op="read")
        need("pg_uring_stats_requests_total", 1, method=m)
        need("pg_uring_latency_seconds_count", 1, method=m)
        need("pg_uring_latency_seconds_sum", 0, strict=False, method=m)
        need("pg_uring_latency_seconds_bucket", 1, method=m, le="+Inf")
    if write_blocks > 0:
        m = methods.split(",")[-1]
        need("pg_uring_io_blocks_total", write_blocks, method=m, op="write")
        need("pg_uring_io_bytes_total", write_blocks * 8192, method=m, op="write")
    if errs:
        fail(errs)


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"lint": cmd_lint, "columns": cmd_columns, "dashboard": cmd_dashboard, "types": cmd_types,
     "errors": cmd_errors, "moved": cmd_moved}[cmd](*args)
PYEOF

# --------------------------------------------------------- 1. queries.yaml --
check_yaml() {
	"$PY" "$WORK/checks.py" lint "$QUERIES"
}

# ------------------------------------------------------------- 2. cluster --
setup_cluster() {
	echo "initdb in $WORK/data; port $PGPORT on 127.0.0.1, socket in $WORK"
	as_pg "$PGBIN/initdb" -D "$WORK/data" -U postgres -A trust -E UTF8 --locale=C --no-sync \
		>"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log"; return 1; }
	cat >>"$WORK/data/postgresql.conf" <<-EOF

		# test/exporter.sh
		shared_preload_libraries = 'pg_uring'
		listen_addresses = '127.0.0.1'
		port = $PGPORT
		unix_socket_directories = '$WORK'
		max_connections = 20
		shared_buffers = 32MB
		fsync = off
		log_line_prefix = '%m [%p] %q%u@%d '
	EOF
	if ! as_pg "$PGBIN/pg_ctl" -D "$WORK/data" -l "$WORK/postgres.log" -w -t 60 start >/dev/null; then
		echo "the cluster did not start; its log:"
		tail -n 30 "$WORK/postgres.log"
		return 1
	fi
	spsql <<-EOF
		CREATE EXTENSION pg_uring;
		CREATE TABLE t AS SELECT g, md5(g::text) AS m FROM generate_series(1, $ROWS) AS g;
		CREATE ROLE $ROLE LOGIN;
		GRANT pg_monitor TO $ROLE;
		CREATE ROLE $NOMON_ROLE LOGIN;
	EOF
	spsql -At -c "SELECT 'pg_uring ' || extversion FROM pg_extension WHERE extname = 'pg_uring'"
	spsql -At -F ' ' -c "SELECT 'ring_up', ring_up, 'ring_state', ring_state, 'reason', coalesce(reason, '-') FROM pg_uring_status"
}

# ---------------------------------------------------------- 3. queries run --
check_columns() {
	local dir="$WORK/columns" name got ok=1 out
	[ -f "$WORK/data/postmaster.pid" ] || { echo "not run: no cluster"; return 1; }
	mkdir -p "$dir"
	"$PY" "$WORK/checks.py" columns "$QUERIES" "$dir" >"$dir/names"
	chown -R "$RUN_USER:" "$dir"
	while read -r name; do
		# the exporter's connection: TCP, as the pg_monitor member
		if ! out=$(as_pg "$PGBIN/psql" -X -q -A -F , -P footer=off -v ON_ERROR_STOP=1 \
				-h 127.0.0.1 -p "$PGPORT" -U "$ROLE" -d postgres -f "$dir/$name.sql" 2>&1); then
			echo "$name: the query fails as $ROLE: $out"; ok=0; continue
		fi
		got=$(head -n 1 <<<"$out" | tr ',' '\n')
		if [ "$got" != "$(cat "$dir/$name.cols")" ]; then
			echo "$name: returns the columns [$(tr '\n' ' ' <<<"$got")], declares [$(tr '\n' ' ' <"$dir/$name.cols")]"
			ok=0; continue
		fi
		echo "  $name: $(( $(wc -l <<<"$out") - 1 )) rows as $ROLE, columns as declared ($(wc -l <"$dir/$name.cols"))"
	done <"$dir/names"
	# without pg_monitor: refused
	for name in pg_uring_stats pg_uring_latency pg_uring_status pg_uring_inflight pg_uring_waits; do
		if out=$(as_pg "$PGBIN/psql" -X -q -At -h 127.0.0.1 -p "$PGPORT" -U "$NOMON_ROLE" -d postgres \
				-c "SELECT count(*) FROM $name" 2>&1); then
			echo "$name is readable by $NOMON_ROLE, a role without pg_monitor ($out)"; ok=0
		elif grep -q "permission denied" <<<"$out"; then
			echo "  $name: permission denied for a role without pg_monitor"
		else
			echo "$name as $NOMON_ROLE: $out"; ok=0
		fi
	done
	[ "$ok" = 1 ]
}

# --------------------------------------------------------- 4. exporter up --
start_exporter() {
	local i pidfile="$WORK/exporter.pid" pid
	echo "$EXPORTER --extend.query-path=$QUERIES_USED --web.listen-address=127.0.0.1:$EXPORTER_PORT"
	echo "  as $RUN_USER, DATA_SOURCE_NAME=postgresql://$ROLE@127.0.0.1:$PGPORT/postgres?sslmode=disable"
	rm -f "$pidfile"
	# The exporter with a clean environment (no PG_EXPORTER_* of the host's),
	# its pid written by the shell that execs it.
	# shellcheck disable=SC2016  # $$ and $@ are the inner shell's
	(cd "$WORK" && exec runuser -u "$RUN_USER" -- /bin/sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" \
		/usr/bin/env -i PATH=/usr/bin:/bin HOME="$WORK" \
		DATA_SOURCE_NAME="postgresql://$ROLE@127.0.0.1:$PGPORT/postgres?sslmode=disable" \
		"$EXPORTER" --extend.query-path="$QUERIES_USED" \
		--web.listen-address="127.0.0.1:$EXPORTER_PORT" --log.level=info) \
		>"$WORK/exporter.log" 2>&1 &
	echo $! >"$WORK/exporter.wrapper"
	for i in $(seq 1 50); do
		[ -s "$pidfile" ] && break
		sleep 0.1
	done
	pid=$(cat "$pidfile" 2>/dev/null || true)
	[ -n "$pid" ] || { echo "the exporter did not start"; cat "$WORK/exporter.log"; return 1; }
	# bounded wait for /metrics
	for i in $(seq 1 60); do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "the exporter exited; its log:"; cat "$WORK/exporter.log"; return 1
		fi
		if scrape "$WORK/scrape0.txt" 2>/dev/null; then
			echo "  /metrics answered after $i tries (pid $pid)"
			return 0
		fi
		sleep 0.25
	done
	echo "the exporter did not answer on 127.0.0.1:$EXPORTER_PORT in 15 s; its log:"
	cat "$WORK/exporter.log"
	return 1
}

check_exporter_up() {
	local up
	[ -f "$WORK/data/postmaster.pid" ] || { echo "not run: no cluster"; return 1; }
	start_exporter
	scrape "$WORK/scrape1.txt"
	up=$(sed -n 's/^pg_up\({[^}]*}\)\{0,1\} \([0-9.e+-]*\)$/\2/p' "$WORK/scrape1.txt")
	echo "  pg_up $up; $(grep -c '^pg_uring' "$WORK/scrape1.txt") pg_uring samples; $(wc -l <"$WORK/scrape1.txt") lines"
	[ "$up" = 1 ] || { echo "pg_up is not 1; the exporter's log:"; tail -n 20 "$WORK/exporter.log"; return 1; }
	grep -E '^pg_uring_info\{' "$WORK/scrape1.txt" | sed 's/^/  /'
	grep -qE '^pg_uring_info\{' "$WORK/scrape1.txt" || { echo "no pg_uring_info"; return 1; }
	touch "$WORK/exporter.ok"
}

# ------------------------------------------------------------ 5. dashboard --
check_dashboard() {
	[ -f "$WORK/exporter.ok" ] || { echo "not run: no scrape"; return 1; }
	"$PY" "$WORK/checks.py" dashboard "$DASHBOARD" "$QUERIES" "$WORK/scrape1.txt"
}

# -------------------------------------------------------- 6. metric types --
check_types() {
	[ -f "$WORK/exporter.ok" ] || { echo "not run: no scrape"; return 1; }
	"$PY" "$WORK/checks.py" types "$QUERIES" "$WORK/scrape1.txt"
}

# ----------------------------------------------------------- 7. no errors --
check_errors() {
	[ -f "$WORK/exporter.ok" ] || { echo "not run: no scrape"; return 1; }
	"$PY" "$WORK/checks.py" errors "$QUERIES" "$WORK/scrape1.txt" "$WORK/exporter.log" "$QUERIES_USED"
}

# ------------------------------------------------------- 8. counters move --
check_moved() {
	local blocks ring_up methods=sync got flushed
	[ -f "$WORK/exporter.ok" ] || { echo "not run: no scrape"; return 1; }
	ring_up=$(sed -n 's/^pg_uring_status_ring_up\({[^}]*}\)\{0,1\} \([0-9.e+-]*\)$/\2/p' "$WORK/scrape1.txt")
	if [ "$ring_up" = 1 ]; then
		methods=sync,io_uring
	elif [ "${PG_URING_SYNC_ONLY:-}" = 1 ]; then
		echo "the ring is down here ($(grep '^pg_uring_info' "$WORK/scrape1.txt")); PG_URING_SYNC_ONLY=1: sync only"
	else
		echo "the ring is down here: $(grep '^pg_uring_info' "$WORK/scrape1.txt")"
		echo "(set PG_URING_SYNC_ONLY=1 on a host without io_uring)"
		return 1
	fi
	blocks=$(spsql -At -c "SELECT pg_relation_size('t') / 8192")
	scrape "$WORK/scrape-before.txt"
	got=$(spsql -At -c "SET pg_uring.io_method = sync" -c "SELECT pg_uring_prewarm('t', 'read')")
	echo "  io_method sync:     pg_uring_prewarm('t', 'read') = $got (the table has $blocks blocks)"
	[ "$got" = "$blocks" ] || { echo "the prewarm's block count is not the table's"; return 1; }
	flushed=0
	if [ "$methods" = sync,io_uring ]; then
		got=$(spsql -At -c "SET pg_uring.io_method = io_uring" -c "SELECT pg_uring_prewarm('t', 'read')")
		echo "  io_method io_uring: pg_uring_prewarm('t', 'read') = $got"
		[ "$got" = "$blocks" ] || { echo "the prewarm's block count is not the table's"; return 1; }
		flushed=$(spsql -At -c "SET pg_uring.io_method = io_uring" -c "SELECT flushed FROM pg_uring_evict('t')")
		got=$(spsql -At -c "SET pg_uring.io_method = io_uring" -c "SELECT pg_uring_prewarm('t')")
		echo "  io_method io_uring: pg_uring_evict('t') flushed $flushed; then pg_uring_prewarm('t') = $got"
	fi
	scrape "$WORK/scrape-after.txt"
	"$PY" "$WORK/checks.py" moved "$WORK/scrape-before.txt" "$WORK/scrape-after.txt" "$blocks" "$methods" "$flushed"
}

run_check "queries.yaml valid (YAML, usages, names)" check_yaml
run_check "the cluster: PostgreSQL $MAJOR with pg_uring preloaded" setup_cluster
run_check "every query runs as a pg_monitor member and returns its declared columns" check_columns
run_check "the exporter serves /metrics with pg_uring's metrics" check_exporter_up
run_check "Grafana dashboard valid, its metrics in queries.yaml and in the scrape" check_dashboard
run_check "metric types: counters, gauges, the latency histogram" check_types
run_check "no query errors (load error 0, last scrape error 0, exporter log)" check_errors
run_check "counters and histogram move after prewarms (sync and io_uring)" check_moved
finished=1
[ "$failed" -eq 0 ]
