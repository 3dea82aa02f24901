/*-------------------------------------------------------------------------
 *
 * prewarm.c
 *	  pg_uring_prewarm() and pg_uring_prewarm_blocks(): a drop-in for
 *	  contrib pg_prewarm that reads through the page I/O interface.
 *
 * Modes, as in pg_prewarm:
 *	buffer		load blocks into shared buffers.  Uncached blocks are
 *				claimed (bufclaim.c) before their read is issued, read
 *				straight into the buffer (or through aligned staging for
 *				O_DIRECT into unaligned buffers), verified, and only then
 *				made valid.  Cached blocks are left alone.
 *	read		read blocks into the kernel page cache (always buffered).
 *	prefetch	posix_fadvise(WILLNEED), issued by the backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "bufclaim.h"
#include "pageio.h"
#include "progress.h"
#include "relation.h"

PG_FUNCTION_INFO_V1(pg_uring_prewarm);
PG_FUNCTION_INFO_V1(pg_uring_prewarm_blocks);

typedef enum PrewarmMode
{
	PREWARM_PREFETCH,
	PREWARM_READ,
	PREWARM_BUFFER
} PrewarmMode;

/* State shared with the batch callbacks. */
typedef struct PrewarmState
{
	Relation	rel;
	ForkNumber	fork;
	int64		done;			/* blocks warmed */
} PrewarmState;

/* Parse a mode argument, with pg_prewarm's messages. */
static PrewarmMode
parse_mode(FunctionCallInfo fcinfo, int argno)
{
	char	   *mode;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prewarm type cannot be null")));
	mode = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (strcmp(mode, "prefetch") == 0)
		return PREWARM_PREFETCH;
	if (strcmp(mode, "read") == 0)
		return PREWARM_READ;
	if (strcmp(mode, "buffer") == 0)
		return PREWARM_BUFFER;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid prewarm type"),
			 errhint("Valid prewarm types are \"prefetch\", \"read\", and \"buffer\".")));
	return PREWARM_BUFFER;		/* keep compiler quiet */
}

/* Parse a fork argument, with pg_prewarm's messages. */
static char *
parse_fork(FunctionCallInfo fcinfo, int argno, ForkNumber *fork)
{
	char	   *forkname;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation fork cannot be null")));
	forkname = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	*fork = pgu_fork_from_name(forkname);
	return forkname;
}

/* Batch callback for buffer mode: verify and publish, or fail, each page. */
static void
buffer_batch_done(PguStream *stream, PguBatch *batch, void *arg)
{
	PrewarmState *st = (PrewarmState *) arg;
	int			n = pgu_batch_nblocks(batch);
	int			i;

	for (i = 0; i < n; i++)
	{
		Buffer		buf = (Buffer) (intptr_t) pgu_batch_block_arg(batch, i);
		BlockNumber blkno = pgu_batch_block_number(batch, i);

		if (pgu_batch_block_result(batch, i).err != 0)
		{
			pgu_claim_finish(buf, false);
			pgu_batch_report(batch, i, ERROR);
		}
		if (!PageIsVerifiedExtended(BufferGetPage(buf), blkno,
									PIV_LOG_WARNING | PIV_REPORT_STAT))
		{
			pgu_claim_finish(buf, false);
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("invalid page in block %u of relation %s",
							blkno,
							relpath(RelationGetSmgr(st->rel)->smgr_rnode, st->fork))));
		}
		pgu_claim_finish(buf, true);
		st->done++;
	}
	pgu_progress_update(st->done, st->done * BLCKSZ);
}

/* Batch callback for read mode: every block must have been read in full. */
static void
read_batch_done(PguStream *stream, PguBatch *batch, void *arg)
{
	PrewarmState *st = (PrewarmState *) arg;
	int			n = pgu_batch_nblocks(batch);
	int			i;

	for (i = 0; i < n; i++)
	{
		if (pgu_batch_block_result(batch, i).err != 0)
			pgu_batch_report(batch, i, ERROR);
		st->done++;
	}
	pgu_progress_update(st->done, st->done * BLCKSZ);
}

/* What prewarm_feed works on. */
typedef struct PrewarmFeed
{
	PrewarmState *st;
	PrewarmMode mode;
	const BlockNumber *blocks;
	int64		nblocks;
} PrewarmFeed;

/* Feed the blocks to the stream, claiming buffers in buffer mode. */
static void
prewarm_feed(PguStream *stream, void *arg)
{
	PrewarmFeed *f = (PrewarmFeed *) arg;
	PrewarmState *st = f->st;
	PrewarmMode mode = f->mode;
	const BlockNumber *blocks = f->blocks;
	int64		nblocks = f->nblocks;
	char		path[MAXPGPATH];
	BlockNumber cur_seg = InvalidBlockNumber;
	int64		i;

	for (i = 0; i < nblocks && !pgu_stream_interrupted(stream); i++)
	{
		BlockNumber blkno = blocks[i];
		char	   *dest = NULL;
		Buffer		buf = InvalidBuffer;

		if (mode == PREWARM_BUFFER)
		{
			if (pgu_buffer_is_cached(st->rel, st->fork, blkno) ||
				(buf = pgu_claim_buffer(st->rel, st->fork, blkno)) == InvalidBuffer)
			{
				st->done++;
				continue;
			}
			dest = (char *) BufferGetPage(buf);
		}
		if (blkno / RELSEG_SIZE != cur_seg)
		{
			cur_seg = blkno / RELSEG_SIZE;
			(void) pgu_segment_path(st->rel, st->fork, blkno, path);
		}
		pgu_stream_add(stream, path, blkno % RELSEG_SIZE, blkno, dest,
					   (void *) (intptr_t) buf);
	}
}

/*
 * Prewarm the given blocks (ascending, distinct, all < nblocks) of a fork.
 * Returns the number of blocks warmed.
 */
static int64
prewarm_blocks(Relation rel, ForkNumber fork, PrewarmMode mode,
			   const BlockNumber *blocks, int64 nblocks)
{
	PrewarmState st;
	PrewarmFeed feed;
	PguStream  *stream;
	int64		i;

	st.rel = rel;
	st.fork = fork;
	st.done = 0;

	if (nblocks == 0)
		return 0;

	/*
	 * As pg_prewarm: buffer and prefetch modes go through buffers, which
	 * core refuses for other sessions' temporary tables; read mode reads
	 * the files and is allowed.
	 */
	if (mode != PREWARM_READ)
		pgu_check_not_other_temp(rel);

	if (mode == PREWARM_PREFETCH)
	{
		for (i = 0; i < nblocks; i++)
		{
			CHECK_FOR_INTERRUPTS();
			(void) PrefetchBuffer(rel, fork, blocks[i]);
			st.done++;
		}
		return st.done;
	}

	/* our own temporary tables live in local buffers: core does the work */
	if (mode == PREWARM_BUFFER && RelationUsesLocalBuffers(rel))
	{
		for (i = 0; i < nblocks; i++)
		{
			CHECK_FOR_INTERRUPTS();
			ReleaseBuffer(ReadBufferExtended(rel, fork, blocks[i], RBM_NORMAL, NULL));
			st.done++;
		}
		return st.done;
	}

	/*
	 * During recovery, claims are not safe: the startup process looks at a
	 * pinned page without its content lock (XLogReadBufferExtended's
	 * PageIsNew check), so it could see the zeroed page in the instant
	 * between bufmgr marking a claimed buffer valid and our taking it over,
	 * and PANIC with "WAL contains references to invalid pages".  On a hot
	 * standby, buffer mode therefore reads the blocks into the OS cache
	 * through the ring first, then lets core read them into shared buffers.
	 */
	if (mode == PREWARM_BUFFER && RecoveryInProgress())
	{
		(void) prewarm_blocks(rel, fork, PREWARM_READ, blocks, nblocks);
		for (i = 0; i < nblocks; i++)
		{
			CHECK_FOR_INTERRUPTS();
			ReleaseBuffer(ReadBufferExtended(rel, fork, blocks[i], RBM_NORMAL, NULL));
			st.done++;
		}
		return st.done;
	}

	pgu_progress_start(mode == PREWARM_BUFFER ? "prewarm buffer" : "prewarm read",
					   RelationGetRelid(rel), nblocks);
	stream = pgu_stream_begin(PGU_OP_READ,
							  mode == PREWARM_BUFFER && pgu_direct_io,
							  mode == PREWARM_BUFFER ? buffer_batch_done : read_batch_done,
							  &st);
	feed.st = &st;
	feed.mode = mode;
	feed.blocks = blocks;
	feed.nblocks = nblocks;
	/* on an ERROR: first no I/O in flight into our buffers, then undo claims */
	pgu_stream_run(stream, prewarm_feed, &feed, pgu_claim_abort_all);
	pgu_progress_end();

	return st.done;
}

/* SQL: pg_uring_prewarm(rel, mode, fork, first_block, last_block) */
Datum
pg_uring_prewarm(PG_FUNCTION_ARGS)
{
	Oid			relid;
	PrewarmMode mode;
	ForkNumber	fork;
	char	   *forkname;
	Relation	rel;
	int64		nblocks;
	int64		first_block;
	int64		last_block;
	int64		count;
	int64		i;
	BlockNumber *blocks;

	pgu_check_loaded();

	relid = pgu_relid_arg(fcinfo, 0);
	mode = parse_mode(fcinfo, 1);
	forkname = parse_fork(fcinfo, 2, &fork);

	rel = pgu_relation_open(relid, AccessShareLock, PGU_PRIV_SELECT);
	pgu_check_fork_exists(rel, fork, forkname);

	nblocks = RelationGetNumberOfBlocksInFork(rel, fork);
	if (PG_ARGISNULL(3))
		first_block = 0;
	else
	{
		first_block = PG_GETARG_INT64(3);
		if (first_block < 0 || first_block >= nblocks)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("starting block number must be between 0 and %lld",
							(long long) (nblocks - 1))));
	}
	if (PG_ARGISNULL(4))
		last_block = nblocks - 1;
	else
	{
		last_block = PG_GETARG_INT64(4);
		if (last_block < 0 || last_block >= nblocks)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ending block number must be between 0 and %lld",
							(long long) (nblocks - 1))));
	}

	count = last_block >= first_block ? last_block - first_block + 1 : 0;
	blocks = palloc(sizeof(BlockNumber) * Max(count, 1));
	for (i = 0; i < count; i++)
		blocks[i] = (BlockNumber) (first_block + i);

	count = prewarm_blocks(rel, fork, mode, blocks, count);

	pfree(blocks);
	relation_close(rel, AccessShareLock);
	PG_RETURN_INT64(count);
}

/* qsort comparator for block numbers. */
static int
block_cmp(const void *a, const void *b)
{
	BlockNumber x = *(const BlockNumber *) a;
	BlockNumber y = *(const BlockNumber *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* SQL: pg_uring_prewarm_blocks(rel, blocks int8[], mode, fork) */
Datum
pg_uring_prewarm_blocks(PG_FUNCTION_ARGS)
{
	Oid			relid;
	ArrayType  *arr;
	PrewarmMode mode;
	ForkNumber	fork;
	char	   *forkname;
	Relation	rel;
	int64		nblocks;
	Datum	   *elems;
	bool	   *elem_nulls;
	int			nelems;
	BlockNumber *blocks;
	int			n = 0;
	int			i;
	int64		count;

	pgu_check_loaded();

	relid = pgu_relid_arg(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("block list cannot be null")));
	arr = PG_GETARG_ARRAYTYPE_P(1);
	mode = parse_mode(fcinfo, 2);
	forkname = parse_fork(fcinfo, 3, &fork);

	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("block list must be a one-dimensional array")));

	rel = pgu_relation_open(relid, AccessShareLock, PGU_PRIV_SELECT);
	pgu_check_fork_exists(rel, fork, forkname);
	nblocks = RelationGetNumberOfBlocksInFork(rel, fork);

	deconstruct_array(arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &elem_nulls, &nelems);
	blocks = palloc(sizeof(BlockNumber) * Max(nelems, 1));
	for (i = 0; i < nelems; i++)
	{
		int64		b;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("block list cannot contain null values")));
		b = DatumGetInt64(elems[i]);
		if (b < 0 || b >= nblocks)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("block number %lld is out of range", (long long) b),
					 errdetail("Block numbers must be between 0 and %lld.",
							   (long long) (nblocks - 1))));
		blocks[i] = (BlockNumber) b;
	}

	/* ascending and distinct: one read per block, claims in order */
	if (nelems > 1)
		qsort(blocks, nelems, sizeof(BlockNumber), block_cmp);
	for (i = 0; i < nelems; i++)
		if (n == 0 || blocks[n - 1] != blocks[i])
			blocks[n++] = blocks[i];

	count = prewarm_blocks(rel, fork, mode, blocks, n);

	pfree(blocks);
	relation_close(rel, AccessShareLock);
	PG_RETURN_INT64(count);
}
