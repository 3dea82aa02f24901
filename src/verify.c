/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  pg_uring_verify() and pg_uring_verify_database(): online checksum and
 *	  page header verification through the ring, into staging memory.
 *
 * Pages are read into staging memory, never into shared buffers, and
 * judged there.  A page that fails is not reported at once: a read can be
 * torn by a concurrent write of the same block.  It is read again; if the
 * second read is clean the first was torn (counted as a skipped page).
 * If it still fails, the failure is confirmed where no write can tear it
 * (pgu_buf_reread_uncached, under the block's buffer mapping partition
 * lock):
 *	- if the block is in shared buffers, the buffer is the current version
 *	  and core will write it out with a fresh checksum; the on-disk copy is
 *	  not judged (a skipped page);
 *	- if it is not, nobody can be writing it, so that read is judged.
 * This is what keeps the scan free of false positives under write load.
 *
 * Storage written outside shared buffers is never judged while it is
 * being written: indexes that are not ready or not valid (CREATE INDEX
 * CONCURRENTLY, REINDEX CONCURRENTLY build them with smgrextend, block 0
 * last) are skipped, and relations rewritten by CLUSTER, VACUUM FULL,
 * REINDEX and the like are locked AccessExclusive by their builder, so a
 * database scan skips them (it never queues for such a lock) and a scan of
 * one relation waits for the builder to commit.  Skips are counted in
 * pg_uring_stats and in pg_uring_verify_database's closing NOTICE.
 *
 * Only checksum mismatches are reported to the cumulative statistics
 * (pg_stat_database.checksum_failures); header problems and short reads
 * are reported in the result rows only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/fd.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "buffers.h"
#include "checksum.h"
#include "compat.h"
#include "pageio.h"
#include "progress.h"
#include "relation.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(pg_uring_verify);
PG_FUNCTION_INFO_V1(pg_uring_verify_database);

#define VERIFY_COLS 7

typedef struct VerifyState
{
	Relation	rel;
	ForkNumber	fork;
	Tuplestorestate *tupstore;
	TupleDesc	tupdesc;
	bool		checksums;		/* data checksums enabled */
	bool		is_index;
	int64		blocks_done;	/* over the whole call */
	int64		bytes_done;
	int64		bytes_queued;	/* handed to the stream, for the rate limit */
	int64		failures;		/* rows emitted for this relation */
	int64		checksum_failures;	/* of them, checksum mismatches */
	int64		skipped;		/* failed reads not confirmed: torn or cached */
	instr_time	started;		/* for the rate limit */
	PguStatsPath path;
} VerifyState;

/* What is wrong with a page, or NULL if nothing is. */
static const char *
judge_page(VerifyState *st, char *page, BlockNumber blkno,
		   int *expected, int *found)
{
	PageHeader	ph = (PageHeader) page;
	bool		zero = true;
	int			i;

	*expected = -1;
	*found = -1;

	for (i = 0; i < BLCKSZ / (int) sizeof(size_t); i++)
	{
		if (((size_t *) page)[i] != 0)
		{
			zero = false;
			break;
		}
	}
	if (zero)
	{
		/* core accepts all-zero pages, except where a metapage must be */
		if (st->is_index && st->fork == MAIN_FORKNUM && blkno == 0)
			return "all-zero page";
		return NULL;
	}
	if (PageIsNew((Page) page))
		return "bad page header";

	if (st->checksums)
	{
		uint16		sum = pgu_checksum_page(page, blkno);

		if (sum != ph->pd_checksum)
		{
			*expected = sum;
			*found = ph->pd_checksum;
			return "checksum mismatch";
		}
	}
	if ((ph->pd_flags & ~PD_VALID_FLAG_BITS) != 0 ||
		ph->pd_lower < SizeOfPageHeaderData ||
		ph->pd_lower > ph->pd_upper ||
		ph->pd_upper > ph->pd_special ||
		ph->pd_special > BLCKSZ ||
		ph->pd_special != MAXALIGN(ph->pd_special))
		return "bad page header";
	return NULL;
}

/* Emit one result row. */
static void
emit_row(VerifyState *st, int64 blkno, const char *reason,
		 int expected, int found, const char *detail)
{
	Datum		values[VERIFY_COLS];
	bool		nulls[VERIFY_COLS] = {0};

	values[0] = ObjectIdGetDatum(RelationGetRelid(st->rel));
	values[1] = CStringGetTextDatum(forkNames[st->fork]);
	values[2] = Int64GetDatum(blkno);
	values[3] = CStringGetTextDatum(reason);
	if (expected >= 0)
		values[4] = Int32GetDatum(expected);
	else
		nulls[4] = true;
	if (found >= 0)
		values[5] = Int32GetDatum(found);
	else
		nulls[5] = true;
	if (detail)
		values[6] = CStringGetTextDatum(detail);
	else
		nulls[6] = true;
	tuplestore_putvalues(st->tupstore, st->tupdesc, values, nulls);
	st->failures++;
	if (strcmp(reason, "checksum mismatch") == 0)
		st->checksum_failures++;
	pgu_count(st->path, PGU_C_VERIFY_FAILURES, 1);
}

/* A failed page turned out not to be a failure (torn read, or cached). */
static void
count_skipped(VerifyState *st)
{
	st->skipped++;
	pgu_count(st->path, PGU_C_VERIFY_SKIPPED_PAGES, 1);
}

/*
 * Confirm a failed page: read it again; if it still fails, judge the
 * version that no write can tear (pgu_buf_reread_uncached): none if the
 * block is cached (skipped), else a read from disk under the mapping lock.
 */
static void
confirm_failure(VerifyState *st, const char *path, BlockNumber segblock,
				BlockNumber blkno, const char *reason, int expected, int found)
{
	PGAlignedBlock buf;
	int			fd;
	ssize_t		n;
	bool		cached;
	const char *again;

	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));

	/* a plain second read: a torn first read is over by now, mostly */
	n = pg_pread(fd, buf.data, BLCKSZ, (off_t) segblock * BLCKSZ);
	if (n == BLCKSZ && judge_page(st, buf.data, blkno, &expected, &found) == NULL)
	{
		CloseTransientFile(fd);
		count_skipped(st);
		return;
	}

	n = pgu_buf_reread_uncached(st->rel, st->fork, blkno, fd,
								(off_t) segblock * BLCKSZ, buf.data, &cached);
	if (n < 0)
	{
		int			save_errno = errno;

		CloseTransientFile(fd);
		errno = save_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read block %u in file \"%s\": %m", blkno, path)));
	}
	CloseTransientFile(fd);
	if (cached)
	{
		/* the buffer is the current version: not ours to judge */
		count_skipped(st);
		return;
	}
	if (n < BLCKSZ)
	{
		char		detail[128];

		snprintf(detail, sizeof(detail), "read only %zd of %d bytes", n, BLCKSZ);
		emit_row(st, blkno, "short read", -1, -1, detail);
		return;
	}
	again = judge_page(st, buf.data, blkno, &expected, &found);
	if (again != NULL)
		emit_row(st, blkno, again, expected, found, NULL);
	else
		count_skipped(st);
}

/* Batch callback: judge every page of the batch. */
static void
verify_batch_done(PguStream *stream, PguBatch *batch, void *arg)
{
	VerifyState *st = (VerifyState *) arg;
	int			n = pgu_batch_nblocks(batch);
	int			i;

	for (i = 0; i < n; i++)
	{
		BlockNumber blkno = pgu_batch_block_number(batch, i);
		BlockNumber segblock = (BlockNumber) (intptr_t) pgu_batch_block_arg(batch, i);
		PguBlockResult r = pgu_batch_block_result(batch, i);
		const char *reason;
		int			expected;
		int			found;

		if (r.err == -ENODATA)
		{
			char		detail[128];

			snprintf(detail, sizeof(detail), "read only %u of %d bytes", r.bytes, BLCKSZ);
			emit_row(st, blkno, "short read", -1, -1, detail);
			continue;
		}
		if (r.err != 0)
			pgu_batch_report(batch, i, ERROR);

		reason = judge_page(st, pgu_batch_block_data(batch, i), blkno, &expected, &found);
		if (reason != NULL)
			confirm_failure(st, pgu_batch_path(batch), segblock, blkno,
							reason, expected, found);
	}
	pgu_count(st->path, PGU_C_PAGES_VERIFIED, n);
	st->blocks_done += n;
	st->bytes_done += (int64) n * BLCKSZ;
	pgu_progress_update(st->blocks_done, st->bytes_done);
}

/*
 * Sleep as needed to keep the scan under pg_uring.verify_rate_limit, and
 * under pg_uring.max_verify_rate_limit, the DBA's ceiling.
 */
static void
throttle(PguStream *stream, VerifyState *st, int64 bytes_queued)
{
	instr_time	now;
	double		elapsed;
	double		allowed;
	int			rate = pgu_verify_rate_effective();

	if (rate <= 0)
		return;
	for (;;)
	{
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, st->started);
		elapsed = INSTR_TIME_GET_DOUBLE(now);
		allowed = elapsed * rate * 1048576.0;
		if (bytes_queued <= allowed || pgu_stream_interrupted(stream))
		{
			pgu_wait_report_end();
			return;
		}
		pgu_stream_service_interrupts(stream);
		pgu_wait_report_begin(PGU_WAIT_VERIFY_RATE);	/* kept while it lasts */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(1, Min(100, (long) ((bytes_queued - allowed) * 1000.0 /
												 (rate * 1048576.0)))),
						 pgu_wait_event(PGU_WAIT_VERIFY_RATE));
		ResetLatch(MyLatch);
	}
}

/* What check_segment_tails measured of a fork's last segments. */
typedef struct TailMeasure
{
	BlockNumber nblocks;		/* smgrnblocks */
	BlockNumber lastseg;		/* its last segment */
	off_t		partial;		/* bytes of a trailing partial block, or 0 */
	off_t		next_size;		/* size of the segment after the last, or 0 */
	char		last_path[MAXPGPATH];
	char		next_path[MAXPGPATH];
} TailMeasure;

/* Measure the fork's last segment and the one after it. */
static void
measure_tails(VerifyState *st, TailMeasure *m)
{
	struct stat stbuf;
	BlockNumber lastseg;

	m->nblocks = smgrnblocks(RelationGetSmgr(st->rel), st->fork);
	m->lastseg = lastseg = m->nblocks / RELSEG_SIZE;
	m->partial = 0;
	m->next_size = 0;
	m->next_path[0] = '\0';
	(void) pgu_segment_path(st->rel, st->fork, lastseg * RELSEG_SIZE, m->last_path);
	if (stat(m->last_path, &stbuf) == 0)
		m->partial = stbuf.st_size % BLCKSZ;
	if ((uint64) (lastseg + 1) * RELSEG_SIZE <= (uint64) MaxBlockNumber)
	{
		(void) pgu_segment_path(st->rel, st->fork, (lastseg + 1) * RELSEG_SIZE, m->next_path);
		if (stat(m->next_path, &stbuf) == 0)
			m->next_size = stbuf.st_size;
	}
}

/*
 * Report a trailing partial block or a truncated middle segment.  An
 * extension grows the file page by page, and may start a new segment while
 * we measure; most extensions hold the relation extension lock, which we
 * take, but recovery (a hot standby's replay) and hash indexes extend
 * without it.  So a finding counts only if it is still there, unchanged,
 * when measured again a moment later: an extension in progress has moved
 * on by then, damage has not.  Later segments of size zero are allowed:
 * md.c leaves them behind after a truncation.
 */
static void
check_segment_tails(VerifyState *st)
{
	TailMeasure m1;
	TailMeasure m2;
	bool		locked = !RelationUsesLocalBuffers(st->rel);

	if (locked)
		LockRelationForExtension(st->rel, ExclusiveLock);
	measure_tails(st, &m1);
	if (locked)
		UnlockRelationForExtension(st->rel, ExclusiveLock);
	if (m1.partial == 0 && m1.next_size == 0)
		return;

	/* a finding: measure again, after any extension in progress is done */
	pg_usleep(50 * 1000L);
	if (locked)
		LockRelationForExtension(st->rel, ExclusiveLock);
	measure_tails(st, &m2);
	if (locked)
		UnlockRelationForExtension(st->rel, ExclusiveLock);
	/*
	 * A partial block counts if it is still there, the same: an extension
	 * in progress has completed its page, or moved on, by now.
	 */
	if (m1.partial != 0 &&
		(m2.nblocks != m1.nblocks || m2.partial != m1.partial))
		pgu_count(st->path, PGU_C_VERIFY_SKIPPED_PAGES, 1);
	else if (m1.partial != 0)
	{
		char		detail[MAXPGPATH + 64];

		snprintf(detail, sizeof(detail),
				 "file \"%s\" ends with a partial block of %d bytes",
				 m2.last_path, (int) m2.partial);
		emit_row(st, m2.nblocks, "short read", -1, -1, detail);
	}
	/*
	 * A later, non-empty segment after a short one (md.c stops at the gap)
	 * counts if it is still there after the same last segment.  Growth
	 * does not hide it: md.c writes into the short segment then, and
	 * never makes one like it (a segment is full before the next one is
	 * started).
	 */
	if (m1.next_size > 0 && (m2.lastseg != m1.lastseg || m2.next_size == 0))
		pgu_count(st->path, PGU_C_VERIFY_SKIPPED_PAGES, 1);
	else if (m1.next_size > 0)
	{
		char		detail[MAXPGPATH + 64];

		snprintf(detail, sizeof(detail),
				 "segment before file \"%s\" is truncated", m2.next_path);
		emit_row(st, m2.nblocks, "short read", -1, -1, detail);
	}
}

/* What verify_feed works on. */
typedef struct VerifyFeed
{
	VerifyState *st;
	ForkNumber	fork;
	int64		first;
	int64		last;
} VerifyFeed;

/* Feed a fork's block range to the stream, throttled. */
static void
verify_feed(PguStream *stream, void *arg)
{
	VerifyFeed *f = (VerifyFeed *) arg;
	VerifyState *st = f->st;
	ForkNumber	fork = f->fork;
	int64		first = f->first;
	int64		last = f->last;
	char		path[MAXPGPATH];
	BlockNumber cur_seg = InvalidBlockNumber;
	int64		b;

	for (b = first; b <= last && !pgu_stream_interrupted(stream); b++)
	{
		BlockNumber blkno = (BlockNumber) b;

		if (blkno / RELSEG_SIZE != cur_seg)
		{
			cur_seg = blkno / RELSEG_SIZE;
			(void) pgu_segment_path(st->rel, fork, blkno, path);
		}
		pgu_stream_add(stream, path, blkno % RELSEG_SIZE, blkno, NULL,
					   (void *) (intptr_t) (blkno % RELSEG_SIZE));
		st->bytes_queued += BLCKSZ;
		if ((st->bytes_queued % (PGU_SLOT_BLOCKS * BLCKSZ)) == 0)
			throttle(stream, st, st->bytes_queued);
		pgu_stream_service_interrupts(stream);
	}
}

/* Verify one fork's block range. */
static void
verify_fork(VerifyState *st, ForkNumber fork, int64 first, int64 last)
{
	PguStream  *stream;
	VerifyFeed	feed;

	st->fork = fork;
	if (last < first)
		return;

	stream = pgu_stream_begin(PGU_OP_READ, pgu_direct_io,
							  verify_batch_done, st);
	pgu_stream_count_relation_io(stream);
	st->path = pgu_stream_uses_ring(stream) ? PGU_PATH_RING : PGU_PATH_SYNC;
	feed.st = st;
	feed.fork = fork;
	feed.first = first;
	feed.last = last;
	pgu_stream_run(stream, verify_feed, &feed, NULL);
	/* interrupts are serviceable again: a progress NOTICE may go out now */
	pgu_progress_update(st->blocks_done, st->bytes_done);
}

/* Verify the given forks (or all) of an open relation. */
static void
verify_relation(VerifyState *st, int forkarg, bool has_range,
				int64 first_block, int64 last_block)
{
	ForkNumber	fork;

	st->is_index = st->rel->rd_rel->relkind == RELKIND_INDEX;

	/* our own temporary relation: its current pages may be in local buffers */
	if (RelationUsesLocalBuffers(st->rel))
		FlushRelationBuffers(st->rel);
	for (fork = 0; fork <= MAX_FORKNUM; fork++)
	{
		BlockNumber nblocks;
		int64		first = 0;
		int64		last;

		if (forkarg >= 0 && fork != forkarg)
			continue;
		if (!smgrexists(RelationGetSmgr(st->rel), fork))
			continue;
		nblocks = smgrnblocks(RelationGetSmgr(st->rel), fork);
		last = (int64) nblocks - 1;
		if (has_range)
		{
			first = first_block;
			if (last_block >= 0)
				last = Min(last, last_block);
		}
		pgu_progress_set_relation(RelationGetRelid(st->rel), last - first + 1);
		verify_fork(st, fork, first, last);
		if (!has_range || last_block < 0 || last_block >= (int64) nblocks)
			check_segment_tails(st);
	}
	if (st->checksum_failures > 0)
		pgu_report_checksum_failures(PGU_LOCATOR_DB(PGU_REL_LOCATOR(st->rel)),
									 (int) Min(st->checksum_failures, INT_MAX));
}

/*
 * Why a relation's storage must not be judged now, or NULL if it may be.
 * Called with the relation locked, so the relcache entry is current.
 */
static const char *
storage_not_judgeable(Relation rel)
{
	if (rel->rd_rel->relkind == RELKIND_INDEX && rel->rd_index != NULL)
	{
		if (!rel->rd_index->indisready)
			return "it is being built";
		if (!rel->rd_index->indisvalid)
			return "it is not valid";
	}
	return NULL;
}

/* Set up the materialized result and the state. */
static void
verify_setup(FunctionCallInfo fcinfo, VerifyState *st)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	memset(st, 0, sizeof(*st));
	st->tupstore = rsinfo->setResult;
	st->tupdesc = rsinfo->setDesc;
	st->checksums = DataChecksumsEnabled();
	INSTR_TIME_SET_CURRENT(st->started);
	if (!st->checksums)
		ereport(NOTICE,
				(errmsg("data checksums are disabled"),
				 errdetail("Only page headers are verified.")));
}

/* SQL: pg_uring_verify(rel, fork, first_block, last_block) */
Datum
pg_uring_verify(PG_FUNCTION_ARGS)
{
	VerifyState st;
	int			forkarg = -1;
	char	   *forkname = NULL;
	int64		first_block = 0;
	int64		last_block = -1;
	bool		has_range = false;
	BlockNumber nblocks;
	Oid			relid = pgu_relid_arg(fcinfo, 0);

	verify_setup(fcinfo, &st);

	if (!PG_ARGISNULL(1))
	{
		forkname = text_to_cstring(PG_GETARG_TEXT_PP(1));
		forkarg = pgu_fork_from_name(forkname);
	}

	st.rel = pgu_relation_open(relid, AccessShareLock, PGU_PRIV_SELECT);
	pgu_check_not_other_temp(st.rel);
	if (forkarg >= 0)
		pgu_check_fork_exists(st.rel, forkarg, forkname);
	else if (!RELKIND_HAS_STORAGE(st.rel->rd_rel->relkind))
		pgu_check_fork_exists(st.rel, MAIN_FORKNUM, "main");

	if (!PG_ARGISNULL(2) || !PG_ARGISNULL(3))
	{
		if (forkarg < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("a block range needs a fork"),
					 errhint("Pass the fork, for example \"main\", together with first_block and last_block.")));
		nblocks = smgrnblocks(RelationGetSmgr(st.rel), forkarg);
		has_range = true;
		if (!PG_ARGISNULL(2))
		{
			first_block = PG_GETARG_INT64(2);
			pgu_check_block_arg(st.rel, forkname, nblocks, first_block, false);
		}
		if (!PG_ARGISNULL(3))
		{
			last_block = PG_GETARG_INT64(3);
			pgu_check_block_arg(st.rel, forkname, nblocks, last_block, true);
		}
	}

	/* an index that is being built is written outside shared buffers */
	if (storage_not_judgeable(st.rel) != NULL)
	{
		pgu_count(PGU_PATH_SYNC, PGU_C_VERIFY_SKIPPED_RELS, 1);
		if (!st.rel->rd_index->indisready)
			ereport(NOTICE,
					(errmsg("skipping index \"%s\" because it is being built",
							RelationGetRelationName(st.rel)),
					 errdetail("Its storage is written outside shared buffers until the build is done.")));
		else
			ereport(NOTICE,
					(errmsg("skipping index \"%s\" because it is not valid",
							RelationGetRelationName(st.rel)),
					 errhint("Rebuild it with REINDEX INDEX CONCURRENTLY, or drop it.")));
		relation_close(st.rel, AccessShareLock);
		return (Datum) 0;
	}

	pgu_progress_start("verify", RelationGetRelid(st.rel), 0);
	pgu_progress_set_phase("verifying");
	verify_relation(&st, forkarg, has_range, first_block, last_block);
	pgu_progress_end();
	relation_close(st.rel, AccessShareLock);
	return (Datum) 0;
}

/* SQL: pg_uring_verify_database() -- every readable relation with storage */
Datum
pg_uring_verify_database(PG_FUNCTION_ARGS)
{
	VerifyState st;
	Relation	pgclass;
	SysScanDesc scan;
	HeapTuple	tup;
	List	   *relids = NIL;
	ListCell   *lc;
	int64		skipped_privilege = 0;
	int64		skipped_building = 0;
	int64		skipped_locked = 0;
	StringInfoData skipped;
	int64		relations = 0;
	bool		superuser_ = superuser();

	verify_setup(fcinfo, &st);

	pgu_progress_start("verify_database", InvalidOid, 0);
	pgu_progress_set_phase("listing relations");
	pgclass = table_open(RelationRelationId, AccessShareLock);
	scan = systable_beginscan(pgclass, InvalidOid, false, NULL, 0, NULL);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tup);

		if (!RELKIND_HAS_STORAGE(form->relkind))
			continue;
		if (form->relpersistence == RELPERSISTENCE_TEMP)
			continue;			/* their pages live in local buffers */
		if (form->relisshared && !superuser_)
		{
			skipped_privilege++;
			continue;
		}
		relids = lappend_oid(relids, form->oid);
	}
	systable_endscan(scan);
	table_close(pgclass, AccessShareLock);

	pgu_progress_set_phase("verifying");
	foreach(lc, relids)
	{
		Oid			relid = lfirst_oid(lc);
		Oid			checkid = relid;
		Relation	rel;

		CHECK_FOR_INTERRUPTS();
		/* relations looked at (verified or skipped) of those listed */
		pgu_progress_set_relations(foreach_current_index(lc), list_length(relids));

		/*
		 * Never queue behind an exclusive lock: its holder (CLUSTER, VACUUM
		 * FULL, REINDEX, TRUNCATE, ...) may be writing new storage for the
		 * relation outside shared buffers, and everyone else would queue
		 * behind us.  Skip it; it is counted.
		 */
		if (!ConditionalLockRelationOid(relid, AccessShareLock))
		{
			skipped_locked++;
			pgu_count(PGU_PATH_SYNC, PGU_C_VERIFY_SKIPPED_RELS, 1);
			continue;
		}
		rel = try_relation_open(relid, NoLock);
		if (rel == NULL)
		{
			UnlockRelationOid(relid, AccessShareLock);
			continue;			/* dropped meanwhile */
		}
		if (rel->rd_rel->relkind == RELKIND_INDEX)
			checkid = rel->rd_index->indrelid;
		if (pg_class_aclcheck(checkid, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		{
			relation_close(rel, AccessShareLock);
			skipped_privilege++;
			continue;
		}
		/* re-checked under the lock: the catalog scan's view may be old */
		if (storage_not_judgeable(rel) != NULL)
		{
			relation_close(rel, AccessShareLock);
			skipped_building++;
			pgu_count(PGU_PATH_SYNC, PGU_C_VERIFY_SKIPPED_RELS, 1);
			continue;
		}
		st.rel = rel;
		st.failures = 0;
		st.checksum_failures = 0;
		verify_relation(&st, -1, false, 0, -1);
		relation_close(rel, AccessShareLock);
		relations++;
	}
	pgu_progress_set_relations(list_length(relids), list_length(relids));
	pgu_progress_end();

	/* the detail: one whole sentence per kind of skipped relation, if any */
	initStringInfo(&skipped);
	if (skipped_privilege > 0)
		appendStringInfo(&skipped,
						 ngettext("Skipped %lld relation you may not read.",
								  "Skipped %lld relations you may not read.",
								  (unsigned long) skipped_privilege),
						 (long long) skipped_privilege);
	if (skipped_building > 0)
	{
		if (skipped.len > 0)
			appendStringInfoChar(&skipped, ' ');
		appendStringInfo(&skipped,
						 ngettext("Skipped %lld index being built or not valid.",
								  "Skipped %lld indexes being built or not valid.",
								  (unsigned long) skipped_building),
						 (long long) skipped_building);
	}
	if (skipped_locked > 0)
	{
		if (skipped.len > 0)
			appendStringInfoChar(&skipped, ' ');
		appendStringInfo(&skipped,
						 ngettext("Skipped %lld relation locked exclusively by others.",
								  "Skipped %lld relations locked exclusively by others.",
								  (unsigned long) skipped_locked),
						 (long long) skipped_locked);
	}
	ereport(NOTICE,
			(errmsg_plural("verified %lld relation (%lld blocks)",
						   "verified %lld relations (%lld blocks)",
						   (unsigned long) relations,
						   (long long) relations, (long long) st.blocks_done),
			 skipped.len > 0 ? errdetail_internal("%s", skipped.data) : 0));
	return (Datum) 0;
}
