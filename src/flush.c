/*-------------------------------------------------------------------------
 *
 * flush.c
 *	  pg_uring_flush() and pg_uring_evict(): write a relation's dirty shared
 *	  buffers back in batches, and optionally drop them from shared buffers.
 *
 * Each buffer is written the way core's FlushBuffer writes it:
 *	1. pin it (ReadRecentBuffer: only if it still holds the block), take its
 *	   content lock in share mode;
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
 * content lock while we hold I/O on other buffers (we drain first).  An ERROR or cancel in
 * the middle waits for in-flight writes and then ends every I/O we hold
 * as failed (bufclaim.c), so no buffer stays in I/O and none is marked
 * clean without its write.
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
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/checksum.h"
#include "storage/fd.h"
#include "storage/sync.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "bufclaim.h"
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
	int			buf_id;
	BufferTag	tag;
	bool		dirty;
	Buffer		pinned;			/* while we write it */
} FlushItem;

typedef struct FlushState
{
	Relation	rel;
	int64		flushed;		/* written and clean now */
	int64		redirtied;		/* written, but dirtied again meanwhile */
	int64		skipped;		/* dirty, but in I/O by others or gone */
} FlushState;

/* Order items by fork, then block. */
static int
item_cmp(const void *a, const void *b)
{
	const FlushItem *x = a;
	const FlushItem *y = b;

	if (x->tag.forkNum != y->tag.forkNum)
		return x->tag.forkNum < y->tag.forkNum ? -1 : 1;
	if (x->tag.blockNum != y->tag.blockNum)
		return x->tag.blockNum < y->tag.blockNum ? -1 : 1;
	return 0;
}

/* Collect the relation's buffers (all forks), sorted by fork and block. */
static FlushItem *
collect_buffers(Relation rel, int *nitems)
{
	RelFileNode rnode = PGU_REL_LOCATOR(rel);
	FlushItem  *items = NULL;
	int			n = 0;
	int			max = 0;
	int			i;

	for (i = 0; i < NBuffers; i++)
	{
		BufferDesc *desc = GetBufferDescriptor(i);
		uint32		state;

		/* unlocked precheck, as DropRelFileNodeBuffers does */
		if (!RelFileNodeEquals(PGU_TAG_LOCATOR(desc->tag), rnode))
			continue;

		state = LockBufHdr(desc);
		if (RelFileNodeEquals(PGU_TAG_LOCATOR(desc->tag), rnode) && (state & BM_VALID))
		{
			if (n == max)
			{
				max = Max(64, max * 2);
				items = items ? repalloc(items, sizeof(FlushItem) * max) :
					palloc(sizeof(FlushItem) * max);
			}
			items[n].buf_id = i;
			items[n].tag = desc->tag;
			items[n].dirty = (state & BM_DIRTY) != 0;
			items[n].pinned = InvalidBuffer;
			n++;
		}
		UnlockBufHdr(desc, state);
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if (n > 1)
		qsort(items, n, sizeof(FlushItem), item_cmp);
	*nitems = n;
	return items;
}

/* Register a written segment for the next checkpoint's fsync. */
static void
register_segment(const BufferTag *tag, const char *path)
{
	FileTag		ftag;

	memset(&ftag, 0, sizeof(ftag));
	ftag.handler = SYNC_HANDLER_MD;
	ftag.forknum = tag->forkNum;
	ftag.rnode = PGU_TAG_LOCATOR(*tag);
	ftag.segno = tag->blockNum / ((BlockNumber) RELSEG_SIZE);

	if (!RegisterSyncRequest(&ftag, SYNC_REQUEST, false))
	{
		/* the checkpointer's queue is full: sync it ourselves, as md.c does */
		int			fd = OpenTransientFile(path, O_RDWR | PG_BINARY);

		if (fd < 0 || pg_fsync(fd) < 0)
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

		register_segment(&first->tag, pgu_batch_path(batch));
	}

	for (i = 0; i < n; i++)
	{
		FlushItem  *item = (FlushItem *) pgu_batch_block_arg(batch, i);
		bool		ok = pgu_batch_block_result(batch, i).err == 0;

		if (pgu_write_finish(item->pinned, ok))
			st->flushed++;
		else if (ok)
			st->redirtied++;
		ReleaseBuffer(item->pinned);
		item->pinned = InvalidBuffer;
	}
	pgu_progress_update(st->flushed + st->redirtied, (st->flushed + st->redirtied) * BLCKSZ);
	if (failed >= 0)
		pgu_batch_report(batch, failed, ERROR);
}

/* Start the write of one item: pin, lock, take I/O, copy, WAL flush. */
static void
flush_item(PguStream *stream, FlushState *st, FlushItem *item)
{
	Buffer		buf;
	XLogRecPtr	lsn;
	bool		permanent;
	char		path[MAXPGPATH];
	char	   *copy;
	BlockNumber segblock;

	if (!ReadRecentBuffer(PGU_TAG_LOCATOR(item->tag), item->tag.forkNum,
						  item->tag.blockNum, item->buf_id + 1))
	{
		st->skipped++;			/* evicted or reused since we looked */
		return;
	}
	buf = item->buf_id + 1;

	/*
	 * Never wait for a content lock while we hold I/O on other buffers: the
	 * checkpointer may be waiting for that I/O while holding a content lock
	 * that the holder of this one waits for (a btree split locks siblings
	 * in key order, not block order).  If the lock is not free, finish all
	 * our I/O first, then wait for it like anyone else.
	 */
	if (!LWLockConditionalAcquire(BufferDescriptorGetContentLock(GetBufferDescriptor(buf - 1)),
								  LW_SHARED))
	{
		pgu_stream_drain(stream);
		LockBuffer(buf, BUFFER_LOCK_SHARE);
	}
	if (!pgu_write_start(buf, &lsn, &permanent))
	{
		/* clean by now, or somebody else is writing it */
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		ReleaseBuffer(buf);
		if (item->dirty)
			st->skipped++;
		return;
	}
	item->pinned = buf;

	segblock = pgu_segment_path(st->rel, item->tag.forkNum, item->tag.blockNum, path);
	copy = pgu_stream_add(stream, path, segblock, item->tag.blockNum, NULL, item);
	memcpy(copy, BufferGetPage(buf), BLCKSZ);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);

	/* WAL before data: the copy cannot be submitted before this returns */
	if (permanent)
		XLogFlush(lsn);
	PageSetChecksumInplace((Page) copy, item->tag.blockNum);
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
		if (f->items[i].dirty)
			flush_item(stream, f->st, &f->items[i]);
	}
}

/* Write back every dirty buffer in items[]. */
static void
flush_items(Relation rel, FlushItem *items, int nitems, FlushState *st)
{
	PguStream  *stream;
	FlushFeed	feed;

	pgu_progress_start("flush", RelationGetRelid(rel), nitems);
	stream = pgu_stream_begin(PGU_OP_WRITE, false,
							  write_batch_done, st);
	feed.st = st;
	feed.items = items;
	feed.nitems = nitems;
	pgu_stream_run(stream, flush_feed, &feed, pgu_claim_abort_all);
	pgu_progress_end();
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
	FlushState	st = {rel, 0, 0, 0};
	FlushItem  *items;
	int			nitems;
	int64		vals[3];

	items = collect_buffers(rel, &nitems);
	flush_items(rel, items, nitems, &st);
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
	FlushState	st = {rel, 0, 0, 0};
	FlushItem  *items;
	int			nitems;
	int64		evicted = 0;
	int64		skipped = 0;
	int64		vals[3];
	int			i;

	items = collect_buffers(rel, &nitems);
	flush_items(rel, items, nitems, &st);

	for (i = 0; i < nitems; i++)
	{
		if (pgu_buffer_evict(items[i].buf_id, &items[i].tag))
			evicted++;
		else
			skipped++;
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	relation_close(rel, AccessShareLock);

	vals[0] = evicted;
	vals[1] = st.flushed;
	vals[2] = skipped;
	PG_RETURN_DATUM(make_result(fcinfo, vals, 3));
}
