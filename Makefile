# pg_uring/Makefile

MODULE_big = pg_uring
OBJS = \
	src/autoprewarm.o \
	src/buffers.o \
	src/checksum.o \
	src/faults.o \
	src/flush.o \
	src/guc.o \
	src/pageio.o \
	src/pg_uring.o \
	src/progress.o \
	src/prewarm.o \
	src/queue.o \
	src/relation.o \
	src/replicate.o \
	src/restore.o \
	src/ring.o \
	src/stats.o \
	src/verify.o \
	src/worker.o

EXTENSION = pg_uring
DATA = pg_uring--1.0.sql pg_uring--1.1.sql pg_uring--1.2.sql pg_uring--1.3.sql pg_uring--1.4.sql \
	pg_uring--1.0--1.1.sql pg_uring--1.1--1.2.sql pg_uring--1.2--1.3.sql \
	pg_uring--1.3--1.4.sql
PGFILEDESC = "pg_uring - batched asynchronous page I/O through io_uring"

SHLIB_LINK += -luring
PG_CPPFLAGS += -I$(srcdir)/src
# The testing build (fault injection, src/faults.h): make PGU_TESTING=1.
# Run "make clean" when switching between it and the production build.
ifdef PGU_TESTING
PG_CPPFLAGS += -DPGU_TESTING
endif
PG_CFLAGS += -Wall -Wextra -Wno-unused-parameter
# Warnings are errors in CI and developer builds (test/check.sh passes
# PGU_WERROR=1), not for packagers, whose compilers may warn where ours
# does not.
ifeq ($(PGU_WERROR),1)
PG_CFLAGS += -Werror
endif

# Not PGXS's REGRESS: the expected output holds only for a server with
# test/regress.conf's settings.  "make check-regress" runs the suite on a
# temporary instance with them; "make installcheck" (installcheck-regress)
# runs it against a running server, and refuses unless that server has
# exactly those settings (debian/tests/installcheck starts one through
# pg_buildext installcheck).
PGU_REGRESS = setup guc prewarm privileges views batching flush verify
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS does not track headers: rebuild everything when one changes.
$(OBJS): $(wildcard $(srcdir)/src/*.h)

# pg_regress against a throwaway instance; no running server needed.
check-regress:
	$(pg_regress_installcheck) --temp-instance=./tmp_check_regress $(REGRESS_OPTS) $(PGU_REGRESS)

# pg_regress against the running server that libpq's environment (PGHOST,
# PGPORT, PGUSER, ...) names.  Its output can only match on a server with
# test/regress.conf's settings: refuse, naming each one that differs, unless
# current_setting() has every one of them (values without quotes or blanks).
PGU_REGRESS_SETTINGS = $(shell sed -e 's/\#.*//' -e "s/'//g" -e 's/[[:space:]]//g' '$(srcdir)/test/regress.conf')

installcheck-regress:
	@rows=; for kv in $(PGU_REGRESS_SETTINGS); do \
		rows="$${rows:+$$rows, }('$${kv%%=*}', '$${kv#*=}')"; \
	done; \
	bad=$$('$(bindir)/psql' -X -A -t -q -v ON_ERROR_STOP=1 -d postgres -c \
		"SELECT string_agg(format('%s is %s (needs %L)', name, coalesce(quote_literal(current_setting(name, true)), 'not set'), want), '; ' ORDER BY name) FROM (VALUES $$rows) v(name, want) WHERE current_setting(name, true) IS DISTINCT FROM want") || { \
		echo 'pg_uring: installcheck: cannot query the running server (see above).' >&2; exit 1; }; \
	if [ -n "$$bad" ]; then \
		echo "pg_uring: installcheck: the running server's settings are not test/regress.conf's, so the expected output could not match: $$bad." >&2; \
		echo 'Start a server with test/regress.conf (as debian/tests/installcheck does), or run "make check-regress" (pg_regress, temporary instance) or "bash test/check.sh" (the whole suite) instead.' >&2; \
		exit 1; \
	fi
	$(pg_regress_installcheck) $(PGU_REGRESS)

installcheck: installcheck-regress

# TAP tests (PostgreSQL::Test::Cluster)
prove-tap: test/seccomp_deny_uring
	PATH="$(bindir):$$PATH" PG_REGRESS="$(top_builddir)/src/test/regress/pg_regress" \
	PG_URING_SECCOMP="$(CURDIR)/test/seccomp_deny_uring" \
	prove -I $(top_srcdir)/src/test/perl -I $(srcdir)/test --timer $(PROVE_FLAGS) \
		$(if $(PROVE_TESTS),$(PROVE_TESTS),$(sort $(wildcard $(srcdir)/test/t/*.pl)))

test/seccomp_deny_uring: test/seccomp_deny_uring.c
	$(CC) -O2 -Wall -Wextra $(if $(filter 1,$(PGU_WERROR)),-Werror) -o $@ $<

# The benchmark (test/bench/run.sh --help lists its options):
#   make bench BENCH_ARGS="--huge both --workloads seq,scat10"
#   make bench-quick [BENCH_OUT=DIR]     the smoke test (--quick [--out DIR])
# PG_CONFIG, when given to make, becomes --pg-config (run.sh's default is
# PostgreSQL 15's); BENCH_OUT becomes --out.  BENCH_ARGS is passed as written
# (a "$" in it needs no doubling).
BENCH_RUN = bash $(srcdir)/test/bench/run.sh \
	$(if $(filter-out default file,$(origin PG_CONFIG)),--pg-config '$(PG_CONFIG)') \
	$(if $(BENCH_OUT),--out '$(BENCH_OUT)')

bench:
	$(BENCH_RUN) $(value BENCH_ARGS)

bench-quick:
	$(BENCH_RUN) --quick $(value BENCH_ARGS)

.PHONY: check-regress installcheck installcheck-regress prove-tap bench bench-quick
EXTRA_CLEAN = tmp_check tmp_check_regress test/seccomp_deny_uring results regression.diffs regression.out log
