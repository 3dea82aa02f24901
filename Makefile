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

# Not PGXS's REGRESS: the expected output holds for a temporary instance
# with test/regress.conf only, so "make installcheck" against a running
# server refuses (below) and "make check-regress" runs the suite.
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

# A running server's settings are not test/regress.conf's, so its output
# could not match: say what to run instead.
installcheck:
	@echo 'pg_uring: "make installcheck" is not supported: the regression tests need a temporary instance with test/regress.conf.' >&2
	@echo 'Run "make check-regress" (pg_regress, temporary instance) or "bash test/check.sh" (the whole suite) instead.' >&2
	@exit 1

# TAP tests (PostgreSQL::Test::Cluster)
prove-tap: test/seccomp_deny_uring
	PATH="$(bindir):$$PATH" PG_REGRESS="$(top_builddir)/src/test/regress/pg_regress" \
	PG_URING_SECCOMP="$(CURDIR)/test/seccomp_deny_uring" \
	prove -I $(top_srcdir)/src/test/perl -I $(srcdir)/test --timer $(PROVE_FLAGS) \
		$(if $(PROVE_TESTS),$(PROVE_TESTS),$(sort $(wildcard $(srcdir)/test/t/*.pl)))

test/seccomp_deny_uring: test/seccomp_deny_uring.c
	$(CC) -O2 -Wall -Wextra $(if $(filter 1,$(PGU_WERROR)),-Werror) -o $@ $<

bench:
	bash $(srcdir)/test/bench/run.sh

bench-quick:
	BENCH_QUICK=1 bash $(srcdir)/test/bench/run.sh

.PHONY: check-regress installcheck prove-tap bench bench-quick
EXTRA_CLEAN = tmp_check tmp_check_regress test/seccomp_deny_uring results regression.diffs regression.out log
