/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  PostgreSQL version differences, in one place.
 *
 * pg_uring is built and tested on PostgreSQL 15, 17 and 18.  Everything
 * that changes between those major versions and that the rest of the code
 * needs is wrapped here (or, for buffer-manager internals, in buffers.c),
 * so that no other file tests PG_VERSION_NUM.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_COMPAT_H
#define PG_URING_COMPAT_H

#include "postgres.h"

/*
 * Refuse every major version that has not been built and tested.  The
 * buffer-manager code in buffers.c relies on internals that change between
 * majors; building against an untested one would be guessing.
 */
#if PG_VERSION_NUM < 150000
#error "pg_uring requires PostgreSQL 15, 17 or 18"
#elif PG_VERSION_NUM >= 160000 && PG_VERSION_NUM < 170000
#error "pg_uring does not support PostgreSQL 16: it is in no Debian suite, so it was never built or tested; use 15, 17 or 18"
#elif PG_VERSION_NUM >= 190000
#error "pg_uring has been built and tested on PostgreSQL 15, 17 and 18 only"
#endif

#ifdef EXEC_BACKEND
/*
 * The worker reads into shared buffers and staging memory by address, which
 * relies on shared memory being mapped at the same address in every process.
 */
#error "pg_uring does not support EXEC_BACKEND builds"
#endif

#include "common/relpath.h"
#include "executor/instrument.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/proc.h"
#include "utils/rel.h"
#include "utils/wait_event.h"

/*
 * The physical identity of a relation, and of a checkpointer FileTag's
 * relation.  PostgreSQL 16 renamed RelFileNode to RelFileLocator (and its
 * fields: spcNode/dbNode/relNode became spcOid/dbOid/relNumber).  Buffer
 * tags changed too; only buffers.c looks at those.
 */
#if PG_VERSION_NUM >= 160000
#include "storage/relfilelocator.h"
typedef RelFileLocator PguRelLocator;
#define PGU_REL_LOCATOR(rel)			((rel)->rd_locator)
#define PGU_LOCATOR_DB(loc)				((loc).dbOid)
#define PGU_FILETAG_LOCATOR(ftag)		((ftag).rlocator)
#else
#include "storage/relfilenode.h"
typedef RelFileNode PguRelLocator;
#define PGU_REL_LOCATOR(rel)			((rel)->rd_node)
#define PGU_LOCATOR_DB(loc)				((loc).dbNode)
#define PGU_FILETAG_LOCATOR(ftag)		((ftag).rnode)
#endif

/*
 * The relation that has a tablespace's relfilenode now (autoprewarm's
 * restore maps its dump's entries back to relations).  PostgreSQL 16 renamed
 * the function and its header with the rest.
 */
#if PG_VERSION_NUM >= 160000
#include "utils/relfilenumbermap.h"
#define PGU_RELID_BY_FILENODE(spc, filenode)	RelidByRelfilenumber(spc, filenode)
#else
#include "utils/relfilenodemap.h"
#define PGU_RELID_BY_FILENODE(spc, filenode)	RelidByRelfilenode(spc, filenode)
#endif

/*
 * Does role own relation relid?  PostgreSQL 16 replaced the per-catalog
 * ownership checks with object_ownercheck.
 */
#if PG_VERSION_NUM >= 160000
#define PGU_CLASS_OWNERCHECK(relid, role)	object_ownercheck(RelationRelationId, relid, role)
#else
#define PGU_CLASS_OWNERCHECK(relid, role)	pg_class_ownercheck(relid, role)
#endif

/*
 * contrib pg_prewarm, whose errors pg_uring's functions repeat: since 17 it
 * refuses a relation without storage (a view, a partitioned or foreign
 * table) with "relation ... does not have storage" (ERRCODE_WRONG_OBJECT_TYPE)
 * before it looks at the fork; 15 reports that the fork does not exist.
 */
#if PG_VERSION_NUM >= 170000
#define PGU_PREWARM_REFUSES_NO_STORAGE	true
#else
#define PGU_PREWARM_REFUSES_NO_STORAGE	false
#endif

/*
 * The path of a relation fork's first segment, relative to the data
 * directory, into dst (MAXPGPATH bytes).  PostgreSQL 18's relpathbackend
 * returns a RelPathStr by value; earlier majors return a palloc'd string.
 */
static inline void
pgu_relpath(PguRelLocator loc, int backend, ForkNumber fork, char *dst)
{
#if PG_VERSION_NUM >= 180000
	RelPathStr	p = relpathbackend(loc, backend, fork);

	strlcpy(dst, p.str, MAXPGPATH);
#else
	char	   *p = relpathbackend(loc, backend, fork);

	strlcpy(dst, p, MAXPGPATH);
	pfree(p);
#endif
}

/*
 * Zero-copy buffer-mode reads (docs/design.md, "Zero-copy reads on 17"):
 * the ring reads uncached blocks straight into shared buffers that
 * StartReadBuffers pinned, under an I/O-in-progress state pg_uring takes
 * and the ring worker ends.  Only on 17: 15 has no way to pin a buffer
 * without making it valid, and 18's own StartReadBuffers starts core's AIO
 * on the same buffers (pg_uring uses core's read path there).
 */
#if PG_VERSION_NUM >= 170000 && PG_VERSION_NUM < 180000
#define PGU_HAVE_ZERO_COPY 1
#endif

/*
 * This backend's index in ProcGlobal->allProcs.  PostgreSQL 17 replaced
 * PGPROC.pgprocno with MyProcNumber (GetNumberFromPGProc).
 */
#if PG_VERSION_NUM >= 170000
#define PGU_MY_PROCNO()					((int) MyProcNumber)
#else
#define PGU_MY_PROCNO()					(MyProc->pgprocno)
#endif

/*
 * Report checksum failures found in database dboid.  PostgreSQL 18 wants
 * the stats entry prepared first (pgstat_prepare_report_checksum_failure),
 * so that the report itself needs no allocation.  Never call this inside a
 * critical section.
 */
static inline void
pgu_report_checksum_failures(Oid dboid, int count)
{
#if PG_VERSION_NUM >= 180000
	pgstat_prepare_report_checksum_failure(dboid);
#endif
	pgstat_report_checksum_failures_in_db(dboid, count);
}

/*
 * Wait events.  PostgreSQL 17 added named wait events for extensions
 * (WaitEventExtensionNew): pg_stat_activity shows wait_event_type
 * "Extension" with the names below.  On 15 every wait shows as
 * wait_event_type "Extension", wait_event "Extension".
 *
 * pgu_wait_events_init() registers the names; it takes a lock and may
 * raise an ERROR, so it is called where nothing is held: when a stream
 * begins (pgu_stream_begin), when the worker starts, and when verify
 * starts.  pgu_wait_event() only returns what was registered (falling back
 * to the generic class if a caller forgot, so that a wait never ERRORs).
 */
typedef enum PguWaitEvent
{
	PGU_WAIT_BATCH,				/* a backend waits for a batch of its I/O */
	PGU_WAIT_SLOT,				/* a backend waits for a free queue slot */
	PGU_WAIT_VERIFY_RATE,		/* verify sleeps to keep pg_uring.verify_rate */
	PGU_WAIT_WORKER_MAIN,		/* the worker waits for work */
	PGU_WAIT_PREWARM_HELPERS,	/* a prewarm waits for its helpers */
	PGU_WAIT_COUNT
} PguWaitEvent;

/* A wait's name, as pg_stat_activity shows it on 17 and 18 (and pg_uring_waits everywhere). */
static inline const char *
pgu_wait_event_name(int which)
{
	switch ((PguWaitEvent) which)
	{
		case PGU_WAIT_BATCH:
			return "PgUringBatch";
		case PGU_WAIT_SLOT:
			return "PgUringSlot";
		case PGU_WAIT_VERIFY_RATE:
			return "PgUringVerifyRate";
		case PGU_WAIT_WORKER_MAIN:
			return "PgUringWorkerMain";
		case PGU_WAIT_PREWARM_HELPERS:
			return "PgUringPrewarmHelpers";
		case PGU_WAIT_COUNT:
			break;
	}
	return "unknown";
}

/* registered ids, 0 = not yet (pg_uring.c; unused on 15) */
extern uint32 pgu_wait_event_ids[PGU_WAIT_COUNT];

#if PG_VERSION_NUM >= 170000

static inline void
pgu_wait_events_init(void)
{
	int			i;

	for (i = 0; i < PGU_WAIT_COUNT; i++)
	{
		if (pgu_wait_event_ids[i] == 0)
			pgu_wait_event_ids[i] = WaitEventExtensionNew(pgu_wait_event_name(i));
	}
}

static inline uint32
pgu_wait_event(PguWaitEvent which)
{
	return pgu_wait_event_ids[which] != 0 ? pgu_wait_event_ids[which] : PG_WAIT_EXTENSION;
}
#else
static inline void
pgu_wait_events_init(void)
{
}

static inline uint32
pgu_wait_event(PguWaitEvent which)
{
	return PG_WAIT_EXTENSION;
}
#endif

/*
 * Count relation I/O that pg_uring did on a backend's behalf as core counts
 * its own: the blocks in pgBufferUsage (EXPLAIN BUFFERS,
 * pg_stat_statements), the time spent in I/O with track_io_timing, and on
 * 17 and later (16 is not built) pg_stat_io (relation, normal context).  elapsed is the time
 * the backend spent on the I/O; nios how many I/Os carried the blocks.
 */
static inline void
pgu_count_relation_io(bool write, uint32 nblocks, uint32 nios, instr_time elapsed)
{
	if (nblocks == 0)
		return;
	if (write)
		pgBufferUsage.shared_blks_written += nblocks;
	else
		pgBufferUsage.shared_blks_read += nblocks;
#if PG_VERSION_NUM >= 170000
	{
		/*
		 * core measures from a start time: the one elapsed ago, or none
		 * without track_io_timing (18 times whatever has a start)
		 */
		instr_time	start;

		if (track_io_timing)
		{
			INSTR_TIME_SET_CURRENT(start);
			INSTR_TIME_SUBTRACT(start, elapsed);
		}
		else
			INSTR_TIME_SET_ZERO(start);
#if PG_VERSION_NUM >= 180000
		pgstat_count_io_op_time(IOOBJECT_RELATION, IOCONTEXT_NORMAL,
								write ? IOOP_WRITE : IOOP_READ, start,
								nios, (uint64) nblocks * BLCKSZ);
#else
		pgstat_count_io_op_time(IOOBJECT_RELATION, IOCONTEXT_NORMAL,
								write ? IOOP_WRITE : IOOP_READ, start, nblocks);
#endif
	}
#else
	if (track_io_timing)
	{
		if (write)
		{
			pgstat_count_buffer_write_time(INSTR_TIME_GET_MICROSEC(elapsed));
			INSTR_TIME_ADD(pgBufferUsage.blk_write_time, elapsed);
		}
		else
		{
			pgstat_count_buffer_read_time(INSTR_TIME_GET_MICROSEC(elapsed));
			INSTR_TIME_ADD(pgBufferUsage.blk_read_time, elapsed);
		}
	}
#endif
}

#endif							/* PG_URING_COMPAT_H */
