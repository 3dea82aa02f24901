/*-------------------------------------------------------------------------
 *
 * prewarm.c
 *	  pg_uring_prewarm() and pg_uring_prewarm_blocks(): a drop-in for
 *	  contrib pg_prewarm that reads through the page I/O interface.
 *
 * Modes, as in pg_prewarm:
 *	buffer		load blocks into shared buffers.  Pages enter shared buffers
 *				only through core's read path (ReadBufferExtended with
 *				RBM_NORMAL), which verifies them and marks them valid; no
 *				buffer is ever claimed or written by pg_uring.  The ring
 *				reads the uncached blocks ahead into the OS page cache
 *				(fadvise(WILLNEED) through the ring, ranges of up to
 *				pg_uring.combine_limit blocks; readv into staging where
 *				the kernel lacks it), a window of pg_uring.queue_depth
 *				batches ahead, and the backend follows behind, installing
 *				each batch's blocks once the ring has handed it to the
 *				kernel, while the kernel reads the next ones: the two run
 *				concurrently.  So a failed,
 *				short or corrupt read can never leave anything visible in
 *				shared buffers: the ring's failure is reported as an ERROR
 *				naming the file and block range, and core's own read
 *				judges every page it installs.
 *	read		read blocks into the kernel page cache (always buffered).
 *	prefetch	posix_fadvise(WILLNEED), issued by the backend.
 *
 * For block lists, small gaps between listed blocks are read ahead too
 * when that lets one readv replace several (PGU_READAHEAD_GAP): those
 * filler blocks go to the page cache only, and are neither installed nor
 * counted.
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

#include "buffers.h"
#include "faults.h"
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

/*
 * Largest gap of unlisted blocks that buffer-mode read-ahead reads through
 * (into the page cache only) to combine two listed blocks into one readv.
 */
#define PGU_READAHEAD_GAP		3

/* block_arg of a filler block: read ahead, not installed or counted */
#define FILLER_ARG				((void *) (intptr_t) 1)

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

/*
 * Batch callback for buffer mode: the batch's blocks are in the page cache
 * now; read them into shared buffers through core, which verifies them.
 */
static void
buffer_batch_done(PguStream *stream, PguBatch *batch, void *arg)
{
	PrewarmState *st = (PrewarmState *) arg;
	int			n = pgu_batch_nblocks(batch);
	int			i;

	for (i = 0; i < n; i++)
	{
		if (pgu_batch_block_arg(batch, i) == FILLER_ARG)
			continue;
		/* the read-ahead failed: say which file and blocks, as core would */
		if (pgu_batch_block_result(batch, i).err != 0)
			pgu_batch_report(batch, i, ERROR);

		PGU_FAULT_DELAY(PGU_FP_INSTALL_DELAY);
		ReleaseBuffer(ReadBufferExtended(st->rel, st->fork,
										 pgu_batch_block_number(batch, i),
										 RBM_NORMAL, NULL));
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

/*
 * Feed the blocks to the stream.  In buffer mode, blocks already in shared
 * buffers are not read ahead; core finds them (and counts the use) at once.
 */
static void
prewarm_feed(PguStream *stream, void *arg)
{
	PrewarmFeed *f = (PrewarmFeed *) arg;
	PrewarmState *st = f->st;
	bool		buffer = f->mode == PREWARM_BUFFER;
	const BlockNumber *blocks = f->blocks;
	int64		nblocks = f->nblocks;
	char		path[MAXPGPATH];
	BlockNumber cur_seg = InvalidBlockNumber;
	BlockNumber last_added = InvalidBlockNumber;
	int64		i;

	for (i = 0; i < nblocks && !pgu_stream_interrupted(stream); i++)
	{
		BlockNumber blkno = blocks[i];

		if (buffer && pgu_buf_is_cached(st->rel, st->fork, blkno))
		{
			ReleaseBuffer(ReadBufferExtended(st->rel, st->fork, blkno,
											 RBM_NORMAL, NULL));
			st->done++;
			continue;
		}
		if (blkno / RELSEG_SIZE != cur_seg)
		{
			cur_seg = blkno / RELSEG_SIZE;
			(void) pgu_segment_path(st->rel, st->fork, blkno, path);
			last_added = InvalidBlockNumber;
		}

		/* read a small gap ahead too, if that makes one readv of two */
		if (buffer && last_added != InvalidBlockNumber &&
			blkno > last_added + 1 && blkno - last_added - 1 <= PGU_READAHEAD_GAP)
		{
			BlockNumber g;

			for (g = last_added + 1; g < blkno; g++)
				pgu_stream_add(stream, path, g % RELSEG_SIZE, g, NULL, FILLER_ARG);
		}
		pgu_stream_add(stream, path, blkno % RELSEG_SIZE, blkno, NULL, NULL);
		last_added = blkno;
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
	 * Buffer mode reads ahead buffered (O_DIRECT would bypass the page cache
	 * that core then reads from); the same path serves primaries and hot
	 * standbys, since nothing but core ever touches a buffer.
	 */
	pgu_progress_start(mode == PREWARM_BUFFER ? "prewarm buffer" : "prewarm read",
					   RelationGetRelid(rel), nblocks);
	stream = pgu_stream_begin(mode == PREWARM_BUFFER ? PGU_OP_PREFETCH : PGU_OP_READ,
							  false,
							  mode == PREWARM_BUFFER ? buffer_batch_done : read_batch_done,
							  &st);
	feed.st = &st;
	feed.mode = mode;
	feed.blocks = blocks;
	feed.nblocks = nblocks;
	/* nothing to undo: we hold no buffer state across the stream */
	pgu_stream_run(stream, prewarm_feed, &feed, NULL);
	/* interrupts are serviceable again: a progress NOTICE may go out now */
	pgu_progress_update(st.done, st.done * BLCKSZ);
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

	/* ascending and distinct: one read per block, combined where adjacent */
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
