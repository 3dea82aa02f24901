/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  pg_uring_flush() and pg_uring_evict(): write a relation's dirty shared
 *	  buffers back in batches, and optionally drop them from shared buffers.
 *
 * Each buffer is written the way core's FlushBuffer writes it:
 *	0. reserve room in the stream first (pgu_stream_reserve), holding
 *	   nothing: so we never sleep on the shared queue while we hold a pin,
 *	   a content lock or I/O, and never pin more than a fair share of
 *	   shared buffers (pgu_buf_pin_limit);
 *	1. pin it (only if it still holds the block), take its content lock in
 *	   share mode, but only if it is free right now;
 *	2. take its I/O (BM_IO_IN_PROGRESS, which serializes us with the
 *	   checkpointer, the bgwriter and other backends), clear
 *	   BM_JUST_DIRTIED, and read the page LSN;
 *	3. copy the page into staging memory (a private copy: hint bits may
 *	   change under a share lock) and release the content lock;
 *	4. XLogFlush up to the page LSN for permanent relations, before the
 *	   copy can be submitted (XLogFlush writes out all WAL inserted so far,
 *	   so one real flush covers the batch);
 *	5. set the checksum on the copy;
 *	6. after the write completed in full, register the segment with the
 *	   checkpointer's sync queue (or fsync it here if the queue is full),
 *	   and only then end the I/O: BM_DIRTY is cleared unless the page was
 *	   dirtied again meanwhile (BM_JUST_DIRTIED).  A failed write leaves it
 *	   dirty and raises an ERROR naming the file and block.
 * No content lock is held while I/O is in flight, and we never wait for a
 * content lock while we hold anything: a buffer whose content lock is
 * taken is put aside, and after the stream has ended (nothing in flight,
 * no pins) each of those is written by core (FlushOneBuffer), waiting for
 * its lock like any backend.  An ERROR or cancel in the middle waits for
 * in-flight writes and then ends every I/O we hold as failed
 * (pgu_buf_abort_writes), so no buffer stays in I/O and none is marked
 * clean without its write.  No progress NOTICE is sent while the stream
 * runs: the client may not be reading, and we hold I/O state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/xlog.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/checksum.h"
#include "storage/fd.h"
#include "storage/sync.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "buffers.h"
#include "faults.h"
#include "compat.h"
#include "pageio.h"
#include "progress.h"
#include "relation.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(pg_uring_flush);
PG_FUNCTION_INFO_V1(pg_uring_evict);

/* One buffer of the relation found in shared buffers. */
typedef struct FlushItem
{
	PguBufRef	ref;
	Buffer		pinned;			/* while we write it */
	bool		deferred;		/* content lock was taken: core writes it later */
} FlushItem;

typedef struct FlushState
{
	Relation	rel;
	int64		flushed;		/* written and clean now */
	int64		redirtied;		/* written, but dirtied again meanwhile */
	int64		skipped;		/* dirty, but in I/O by others or gone */
	int64		deferred;		/* content lock busy: written by core after */
	int			pin_limit;		/* blocks in flight at most */
} FlushState;

/* The relation's buffers, as flush items. */
static FlushItem *
collect_items(Relation rel, int *nitems)
{
	PguBufRef  *refs = pgu_buf_collect(rel, nitems);
	FlushItem  *items = palloc(sizeof(FlushItem) * Max(*nitems, 1));
	int			i;

	for (i = 0; i < *nitems; i++)
	{
		items[i].ref = refs[i];
		items[i].pinned = InvalidBuffer;
		items[i].deferred = false;
	}
	if (refs)
		pfree(refs);
	return items;
}

/* Register a written segment for the next checkpoint's fsync. */
static void
register_segment(Relation rel, const PguBufRef *ref, const char *path)
{
	FileTag		ftag;

	memset(&ftag, 0, sizeof(ftag));
	ftag.handler = SYNC_HANDLER_MD;
	ftag.forknum = ref->fork;
	PGU_FILETAG_LOCATOR(ftag) = PGU_REL_LOCATOR(rel);
	ftag.segno = ref->block / ((BlockNumber) RELSEG_SIZE);

	if (!RegisterSyncRequest(&ftag, SYNC_REQUEST, false))
	{
		/* the checkpointer's queue is full: sync it ourselves, as md.c does */
		int			fd = OpenTransientFile(path, O_RDWR | PG_BINARY);
		int			rc = -1;

		instr_time	start;
		instr_time	took;

		INSTR_TIME_SET_CURRENT(start);
		if (fd >= 0)
		{
			pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_SYNC);
			rc = pg_fsync(fd);
			pgstat_report_wait_end();
		}
		INSTR_TIME_SET_CURRENT(took);
		INSTR_TIME_SUBTRACT(took, start);
		pgu_count(PGU_PATH_SYNC, PGU_C_FSYNC_TIME_US, INSTR_TIME_GET_MICROSEC(took));
		if (rc < 0)
		{
			int			save_errno = errno;

			if (fd >= 0)
				CloseTransientFile(fd);
			errno = save_errno;
			ereport(data_sync_elevel(ERROR),
					(errcode_for_file_access(),
					 errmsg("could not fsync file \"%s\": %m", path)));
		}
		CloseTransientFile(fd);
		pgu_count(PGU_PATH_SYNC, PGU_C_FSYNCS, 1);
	}
}

/* Batch callback: register the segment, then end each buffer's write. */
static void
write_batch_done(PguStream *stream, PguBatch *batch, void *arg)
{
	FlushState *st = (FlushState *) arg;
	int			n = pgu_batch_nblocks(batch);
	int			failed = -1;
	bool		any_ok = false;
	int			i;

	for (i = 0; i < n; i++)
	{
		if (pgu_batch_block_result(batch, i).err != 0)
		{
			if (failed < 0)
				failed = i;
		}
		else
			any_ok = true;
	}

	/* the fsync bookkeeping must be in place before any buffer is clean */
	if (any_ok)
	{
		FlushItem  *first = (FlushItem *) pgu_batch_block_arg(batch, 0);

		register_segment(st->rel, &first->ref, pgu_batch_path(batch));
	}

	for (i = 0; i < n; i++)
	{
		FlushItem  *item = (FlushItem *) pgu_batch_block_arg(batch, i);
		bool		ok = pgu_batch_block_result(batch, i).err == 0;

		if (pgu_buf_write_finish(item->pinned, ok))
			st->flushed++;
		else if (ok)
			st->redirtied++;
		ReleaseBuffer(item->pinned);
		item->pinned = InvalidBuffer;
	}
	pgu_progress_update(st->flushed + st->redirtied, (st->flushed + st->redirtied) * BLCKSZ);

	/* a failed close() may mean lost writes: escalate as md.c/fd.c do */
	if (pgu_batch_close_error(batch) != 0)
	{
		errno = -pgu_batch_close_error(batch);
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", pgu_batch_path(batch))));
	}
	if (failed >= 0)
		pgu_batch_report(batch, failed, ERROR);
}

/*
 * Start the write of one item: reserve, pin, lock (if free), take I/O,
 * copy, WAL flush.
 */
static void
flush_item(PguStream *stream, FlushState *st, FlushItem *item)
{
	Buffer		buf;
	XLogRecPtr	lsn;
	bool		permanent;
	char		path[MAXPGPATH];
	char	   *copy;
	BlockNumber segblock;

	/* holding nothing yet: room in the stream, so that nothing below sleeps */
	segblock = pgu_segment_path(st->rel, item->ref.fork, item->ref.block, path);
	pgu_buf_reserve_write();
	pgu_stream_reserve(stream, path, st->pin_limit);

	buf = pgu_buf_pin_recent(st->rel, &item->ref);
	if (buf == InvalidBuffer)
	{
		st->skipped++;			/* evicted or reused since we looked */
		return;
	}

	/*
	 * Never wait for a content lock while we hold anything: the checkpointer
	 * may be waiting for our I/O while holding a content lock that the
	 * holder of this one waits for (a btree split locks siblings in key
	 * order, not block order).  If the lock is not free, write this buffer
	 * after the stream, through core.
	 */
	if (!pgu_buf_try_share_lock(buf))
	{
		ReleaseBuffer(buf);
		item->deferred = true;
		st->deferred++;
		pgu_count(PGU_PATH_SYNC, PGU_C_DEFERRED_WRITES, 1);
		return;
	}
	if (!pgu_buf_write_start(buf, &lsn, &permanent))
	{
		/* clean by now, or somebody else is writing it */
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(buf);
		if (item->ref.dirty)
			st->skipped++;
		return;
	}
	item->pinned = buf;

	copy = pgu_stream_add(stream, path, segblock, item->ref.block, NULL, item);
	memcpy(copy, BufferGetPage(buf), BLCKSZ);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	/* WAL before data: the copy cannot be submitted before this returns */
	if (permanent)
		XLogFlush(lsn);
	PageSetChecksumInplace((Page) copy, item->ref.block);
	PGU_FAULT_DELAY(PGU_FP_WRITE_DELAY);
}

/*
 * Write a buffer whose content lock was busy, the way any backend would:
 * we hold nothing else now, so waiting for the lock is safe.
 */
static void
flush_deferred(FlushState *st, FlushItem *item)
{
	Buffer		buf = pgu_buf_pin_recent(st->rel, &item->ref);

	if (buf == InvalidBuffer)
	{
		st->skipped++;
		return;
	}
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	if (pgu_buf_is_dirty(buf))
	{
		FlushOneBuffer(buf);
		if (pgu_buf_is_dirty(buf))
			st->redirtied++;
		else
			st->flushed++;
	}
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	ReleaseBuffer(buf);
}

/* What flush_feed works on. */
typedef struct FlushFeed
{
	FlushState *st;
	FlushItem  *items;
	int			nitems;
} FlushFeed;

/* Start the write of every dirty item. */
static void
flush_feed(PguStream *stream, void *arg)
{
	FlushFeed  *f = (FlushFeed *) arg;
	int			i;

	for (i = 0; i < f->nitems && !pgu_stream_interrupted(stream); i++)
	{
		if (f->items[i].ref.dirty)
			flush_item(stream, f->st, &f->items[i]);
		pgu_stream_service_interrupts(stream);
	}
}

/* Write back every dirty buffer in items[]. */
static void
flush_items(Relation rel, const char *operation, FlushItem *items, int nitems,
			FlushState *st)
{
	PguStream  *stream;
	FlushFeed	feed;
	int			i;

	st->pin_limit = Min(pgu_buf_pin_limit(), (pgu_queue_depth_effective() + 1) * PGU_SLOT_BLOCKS);
	pgu_progress_start(operation, RelationGetRelid(rel), nitems);
	pgu_progress_quiet();
	pgu_progress_set_phase("writing buffers");
	stream = pgu_stream_begin(PGU_OP_WRITE, false,
							  write_batch_done, st);
	pgu_stream_count_relation_io(stream);
	feed.st = st;
	feed.items = items;
	feed.nitems = nitems;
	pgu_stream_run(stream, flush_feed, &feed, pgu_buf_abort_writes);

	/* the stream is over: nothing in flight, no pins, interrupts resumed */
	pgu_progress_set_phase("writing busy buffers");
	for (i = 0; i < nitems; i++)
	{
		if (items[i].deferred)
		{
			CHECK_FOR_INTERRUPTS();
			flush_deferred(st, &items[i]);
		}
	}
	/* the caller ends the progress row (evict has a phase more) */
}

/* Open a relation for flush or evict: owner only, shared buffers only. */
static Relation
open_for_write(FunctionCallInfo fcinfo, const char *fname)
{
	Relation	rel;

	pgu_check_loaded();
	rel = pgu_relation_open(pgu_relid_arg(fcinfo, 0), AccessShareLock, PGU_PRIV_OWNER);
	pgu_check_not_other_temp(rel);
	if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("relation \"%s\" does not have storage",
						RelationGetRelationName(rel))));
	if (RelationUsesLocalBuffers(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("relation uses local buffers, %s() is intended to be used for shared buffers only",
						fname)));
	return rel;
}

/* Build the result tuple. */
static Datum
make_result(FunctionCallInfo fcinfo, int64 *vals, int n)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {0};
	int			i;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (i = 0; i < n; i++)
		values[i] = Int64GetDatum(vals[i]);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls));
}

/* SQL: pg_uring_flush(rel) -> (flushed, redirtied, skipped) */
Datum
pg_uring_flush(PG_FUNCTION_ARGS)
{
	Relation	rel = open_for_write(fcinfo, "pg_uring_flush");
	FlushState	st = {rel, 0, 0, 0, 0, 0};
	FlushItem  *items;
	int			nitems;
	int64		vals[3];

	items = collect_items(rel, &nitems);
	flush_items(rel, "flush", items, nitems, &st);
	pgu_progress_end();
	relation_close(rel, AccessShareLock);

	vals[0] = st.flushed;
	vals[1] = st.redirtied;
	vals[2] = st.skipped;
	PG_RETURN_DATUM(make_result(fcinfo, vals, 3));
}

/* SQL: pg_uring_evict(rel) -> (evicted, flushed, skipped) */
Datum
pg_uring_evict(PG_FUNCTION_ARGS)
{
	Relation	rel = open_for_write(fcinfo, "pg_uring_evict");
	FlushState	st = {rel, 0, 0, 0, 0, 0};
	FlushItem  *items;
	int			nitems;
	int64		evicted = 0;
	int64		skipped = 0;
	int64		vals[3];
	int			i;

	items = collect_items(rel, &nitems);
	flush_items(rel, "evict", items, nitems, &st);

	pgu_progress_set_phase("dropping buffers");
	for (i = 0; i < nitems; i++)
	{
		PGU_FAULT_DELAY(PGU_FP_DROP_DELAY);
		if (pgu_buf_evict(rel, &items[i].ref))
			evicted++;
		else
			skipped++;
		if ((i & 1023) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			/* the buffers looked at; the bytes stay those written */
			pgu_progress_record(i, (st.flushed + st.redirtied) * BLCKSZ);
		}
	}
	pgu_progress_record(nitems, (st.flushed + st.redirtied) * BLCKSZ);
	pgu_progress_end();
	relation_close(rel, AccessShareLock);

	vals[0] = evicted;
	vals[1] = st.flushed;
	vals[2] = skipped;
	PG_RETURN_DATUM(make_result(fcinfo, vals, 3));
}
