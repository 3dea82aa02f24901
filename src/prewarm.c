/*-------------------------------------------------------------------------
 *
 * prewarm.c
 *	  pg_uring_prewarm() and pg_uring_prewarm_blocks(): a drop-in for
 *	  contrib pg_prewarm that reads through the page I/O interface.
 *
 * Modes, as in pg_prewarm:
 *	buffer		load blocks into shared buffers.  On 17, with
 *				pg_uring.zero_copy, the ring reads them straight into buffers
 *				that core's StartReadBuffers pinned and pg_uring claimed
 *				(zero_copy_feed; docs/design.md, "Zero-copy reads on 17").
 *				Otherwise pages enter shared buffers
 *				only through core's read path (ReadBufferExtended with
 *				RBM_NORMAL on 15; StartReadBuffers/WaitReadBuffers, a run of
 *				up to io_combine_limit blocks at a time, on 17 and 18; see
 *				pgu_buf_read_run), which verifies them and marks them valid;
 *				no buffer is claimed or written by pg_uring.  The ring
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
 * Parallel installs (buffer mode): a prewarm of at least
 * pg_uring.min_parallel_prewarm_size blocks is split between the caller and
 * up to pg_uring.max_prewarm_workers helpers, core parallel workers
 * (access/parallel.c) that each claim chunks of blocks (PGU_PREWARM_CHUNK_*)
 * from a shared counter and prewarm them exactly as the caller does, with
 * their own read-ahead window through the same ring.  Core's parallel
 * machinery gives the rest: helpers share the caller's locks (group
 * locking), snapshot and settings; an ERROR in a helper is re-thrown in the
 * caller with the helper's context; the caller's cancel or ERROR
 * terminates the helpers and waits for them to exit, so none outlives the
 * call; helpers that cannot be started (max_worker_processes,
 * max_parallel_workers) leave their share to those that did start,
 * ultimately the caller.  Their buffer usage is added to the caller's.
 *
 * For block lists, small gaps between listed blocks are read ahead too
 * when that lets one readv replace several (PGU_READAHEAD_GAP): those
 * filler blocks go to the page cache only, and are neither installed nor
 * counted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/parallel.h"
#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/instrument.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "optimizer/optimizer.h"
#include "port/atomics.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/smgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "buffers.h"
#include "faults.h"
#include "pageio.h"
#include "pg_uring.h"
#include "progress.h"
#include "queue.h"
#include "relation.h"
#include "prewarm.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(pg_uring_prewarm);
PG_FUNCTION_INFO_V1(pg_uring_prewarm_blocks);

/* found by name by core's parallel machinery (CreateParallelContext) */
PGDLLEXPORT void pgu_prewarm_helper_main(dsm_segment *seg, shm_toc *toc);

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

/*
 * Blocks a participant claims at a time from a shared prewarm: large enough
 * that claims are rare and each participant's read-ahead stays sequential,
 * small enough that the participants end together (at least eight chunks
 * each, down to the smallest).
 */
#define PGU_PREWARM_CHUNK_MAX	512
#define PGU_PREWARM_CHUNK_MIN	32

/* Most block-list entries one parallel context carries (16 MB of them). */
#define PGU_PARALLEL_LIST_MAX	(4 * 1024 * 1024)

/* shm_toc keys of a parallel prewarm */
#define PGU_KEY_WORK			UINT64CONST(0x5047550000000001)
#define PGU_KEY_BUFFER_USAGE	UINT64CONST(0x5047550000000002)
#define PGU_KEY_WAL_USAGE		UINT64CONST(0x5047550000000003)

/*
 * The work of one prewarm: a range of blocks, or a list, handed out in
 * chunks.  In dynamic shared memory when helpers share it, else local.
 */
typedef struct PrewarmWork
{
	Oid			relid;
	ForkNumber	fork;
	int64		nentries;		/* blocks to prewarm */
	int			chunk;			/* entries claimed at a time */
	int64		base;			/* caller's progress: blocks of earlier pieces */
	BlockNumber first;			/* range: first block (when !is_list) */
	bool		is_list;		/* the blocks follow the struct */
	bool		stop_when_full; /* stop once no buffer is free (autoprewarm) */
	pg_atomic_uint32 full;		/* ... and it happened: every participant stops */
	pg_atomic_uint64 next;		/* next entry to claim */
	pg_atomic_uint64 done;		/* blocks warmed, by all participants */
	BlockNumber list[FLEXIBLE_ARRAY_MEMBER];	/* ascending, distinct */
} PrewarmWork;

/* One participant's state, shared with its batch callbacks. */
typedef struct PrewarmState
{
	Relation	rel;
	ForkNumber	fork;
	PrewarmWork *work;			/* what all participants share */
	int64		done;			/* blocks warmed by this participant */
	bool		leader;			/* reports progress */
	/* zero-copy runs left for core to read after the stream (redo_runs) */
	MemoryContext cxt;
	PguBlockRun *redo;
	int			nredo;
	int			maxredo;
} PrewarmState;

/* Add a batch's warmed blocks to the total; the caller shows progress. */
static void
count_done(PrewarmState *st, int64 n)
{
	int64		total;

	st->done += n;
	total = (int64) pg_atomic_add_fetch_u64(&st->work->done, n) + st->work->base;
	if (st->leader)
		pgu_progress_update(total, total * BLCKSZ);
	else
		pgu_count(pgu_io_method == PGU_IO_METHOD_SYNC ? PGU_PATH_SYNC : PGU_PATH_RING,
				  PGU_C_PREWARM_HELPER_BLOCKS, n);
}

/* The block of entry i of the work. */
static inline BlockNumber
work_block(PrewarmWork *w, int64 i)
{
	return w->is_list ? w->list[i] : w->first + (BlockNumber) i;
}

/* Has a participant found no free buffer (stop_when_full)? */
static inline bool
work_full(PrewarmWork *w)
{
	return w->stop_when_full && pg_atomic_read_u32(&w->full) != 0;
}

/* Is anything of the work left to claim? */
static inline bool
work_left(PrewarmWork *w)
{
	return !work_full(w) && pg_atomic_read_u64(&w->next) < (uint64) w->nentries;
}

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
 * Install a run of consecutive blocks through core's read path (see
 * pgu_buf_read_run), which verifies each page.  Core may send a WARNING
 * from inside its read (a page accepted under ignore_checksum_failure or
 * zeroed under zero_damaged_pages) and block on a client that does not read
 * it.  With interrupts held, not even pg_terminate_backend could end that;
 * so core reads with interrupts allowed, as in any scan.  A cancel or FATAL
 * from in there is the stream's abort: it waits (boundedly: prefetches are
 * given up on as reads are) for what is in flight, then exits.
 */
static void
install_run(PrewarmState *st, BlockNumber first, int nblocks)
{
	int			i;

	if (nblocks <= 0)
		return;
	/* autoprewarm: no free buffer, no install (the blocks stay read ahead) */
	if (st->work->stop_when_full && (work_full(st->work) || !pgu_buf_have_free()))
	{
		pg_atomic_write_u32(&st->work->full, 1);
		return;
	}
	/* testing build: a delay per block installed, as one read per block had */
	for (i = 0; i < nblocks; i++)
		PGU_FAULT_DELAY(PGU_FP_INSTALL_DELAY);
	RESUME_INTERRUPTS();
	pgu_buf_read_run(st->rel, st->fork, first, nblocks);
	HOLD_INTERRUPTS();
	count_done(st, nblocks);
}

/*
 * Batch callback for buffer mode: the batch's blocks are in the page cache
 * now; read them into shared buffers through core, a run of consecutive
 * listed blocks at a time.  A block whose read-ahead failed is reported
 * (naming the file and block range, as core would) after the blocks before
 * it are installed.
 */
static void
buffer_batch_done(PguStream *stream, PguBatch *batch, void *arg)
{
	PrewarmState *st = (PrewarmState *) arg;
	int			n = pgu_batch_nblocks(batch);
	int			i;
	BlockNumber run_first = InvalidBlockNumber;
	int			run_len = 0;

	for (i = 0; i < n; i++)
	{
		BlockNumber blkno = pgu_batch_block_number(batch, i);

		/* cancelled or terminated: the call ends in an ERROR, stop now */
		if (pgu_stream_interrupted(stream))
			return;
		if (pgu_batch_block_arg(batch, i) == FILLER_ARG ||
			pgu_batch_block_result(batch, i).err != 0 ||
			(run_len > 0 && blkno != run_first + run_len))
		{
			install_run(st, run_first, run_len);
			run_len = 0;
			if (pgu_stream_interrupted(stream))
				return;
			if (pgu_batch_block_arg(batch, i) == FILLER_ARG)
				continue;
			if (pgu_batch_block_result(batch, i).err != 0)
				pgu_batch_report(batch, i, ERROR);
		}
		if (run_len == 0)
			run_first = blkno;
		run_len++;
	}
	if (!pgu_stream_interrupted(stream))
		install_run(st, run_first, run_len);
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
	}
	count_done(st, n);
}

/*
 * Zero-copy batch callback (PostgreSQL 17): the ring has read the group's
 * claimed blocks straight into their buffers, and the worker has ended the
 * claims (valid, or failed).  A failed read is reported as core would
 * (naming the file and range); a request the worker did not serve is not
 * an error of the file: core reads those blocks itself.  Then core
 * finishes the group (WaitReadBuffers: re-reads whatever is not valid, with
 * interrupts allowed, as any install) and the pins go.
 */
static void
zero_copy_batch_done(PguStream *stream, PguBatch *batch, void *arg)
{
	PrewarmState *st = (PrewarmState *) arg;
	PguBufGroup *g;
	int			n = pgu_batch_nblocks(batch);
	int			nread = 0;
	int			size;
	int			i;

	if (n == 0)
		return;					/* (never submitted empty; see pageio.c) */
	g = (PguBufGroup *) pgu_batch_block_arg(batch, 0);
	for (i = 0; i < n; i++)
	{
		PguBlockResult r = pgu_batch_block_result(batch, i);

		/* pg_stat_io: the ring's reads that made a buffer valid */
		if (pgu_batch_claim_valid(batch, i))
			nread++;
		if (r.err != 0 && r.err != -ESHUTDOWN && r.err != -ECANCELED)
			pgu_batch_report(batch, i, ERROR);	/* the pins go with the ERROR */
	}
	size = pgu_buf_group_size(g);
	if (pgu_stream_interrupted(stream))
	{
		pgu_buf_group_finish(g, false, nread);
		return;
	}
	if (!pgu_buf_group_all_valid(g))
	{
		/*
		 * Core must read (or wait for) some of it: a read that failed, a
		 * page the worker rejected, a block another backend is reading.
		 * Its read of a bad page sends a WARNING, which may block on a
		 * client that does not read, and
		 * this stream pins other groups' buffers meanwhile; so core reads
		 * these runs after the stream (redo_runs), with nothing pinned.
		 */
		int			nruns;
		int			deferred = 0;

		if (st->nredo + PGU_SLOT_BLOCKS > st->maxredo)
		{
			st->maxredo = Max(64, 2 * (st->nredo + PGU_SLOT_BLOCKS));
			st->redo = st->redo == NULL ?
				MemoryContextAlloc(st->cxt, st->maxredo * sizeof(PguBlockRun)) :
				repalloc(st->redo, st->maxredo * sizeof(PguBlockRun));
		}
		nruns = pgu_buf_group_release(g, &st->redo[st->nredo], nread);
		for (i = 0; i < nruns; i++)
			deferred += st->redo[st->nredo + i].nblocks;
		st->nredo += nruns;
		count_done(st, size - deferred);
		return;
	}
	RESUME_INTERRUPTS();
	pgu_buf_group_finish(g, true, nread);
	HOLD_INTERRUPTS();
	count_done(st, size);
}

/*
 * Have core read the zero-copy runs that the ring did not make valid
 * (zero_copy_batch_done): after the stream, with interrupts allowed and
 * nothing pinned, as any install.
 */
static void
redo_runs(PrewarmState *st)
{
	int			i;

	for (i = 0; i < st->nredo; i++)
	{
		CHECK_FOR_INTERRUPTS();
		/* a cancel held off by our caller: stop, as prewarm_participate */
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			break;
		/* autoprewarm: no free buffer, no install (as install_run) */
		if (st->work->stop_when_full && (work_full(st->work) || !pgu_buf_have_free()))
		{
			pg_atomic_write_u32(&st->work->full, 1);
			break;
		}
		pgu_buf_read_run(st->rel, st->fork, st->redo[i].first, st->redo[i].nblocks);
		count_done(st, st->redo[i].nblocks);
	}
	st->nredo = 0;
}

/* What prewarm_feed works on. */
typedef struct PrewarmFeed
{
	PrewarmState *st;
	PrewarmMode mode;
	bool		zero_copy;		/* claims: zero_copy_feed */
	bool		stop_for_messages;	/* caller: end the stream for a helper's message */
	int64		pos;			/* next entry of the claimed chunk */
	int64		end;			/* end of the claimed chunk */
} PrewarmFeed;

static void zero_copy_feed(PguStream *stream, PrewarmFeed *f);

/* Claim the next chunk of the work for f; false when none is left. */
static bool
feed_next_chunk(PrewarmFeed *f, PrewarmWork *w)
{
	int64		start = (int64) pg_atomic_fetch_add_u64(&w->next, w->chunk);

	if (start >= w->nentries)
		return false;
	f->pos = start;
	f->end = Min(start + w->chunk, w->nentries);
	return true;
}

/*
 * Autoprewarm stops once no buffer is free, as contrib's does: reading on
 * would evict what it loaded first (the hottest).  True if it stops now;
 * the rest of the chunk is dropped, and every participant stops.
 */
static bool
feed_full(PrewarmFeed *f, PrewarmWork *w)
{
	if (!w->stop_when_full || pgu_buf_have_free())
		return false;
	pg_atomic_write_u32(&w->full, 1);
	f->pos = f->end;
	return true;
}

/*
 * Feed blocks to the stream, a chunk at a time from the work's shared
 * counter, until none is left.  In buffer mode, blocks already in shared
 * buffers are not read ahead; core finds them (and counts the use) at once.
 *
 * A chunk once claimed is fed whole unless the stream is interrupted (the
 * call then ends in an ERROR).  The caller ends its stream as soon as a
 * helper has sent a message (an ERROR, say), so that it is seen at once,
 * and goes on where it stopped in its next stream.
 */
static void
prewarm_feed(PguStream *stream, void *arg)
{
	PrewarmFeed *f = (PrewarmFeed *) arg;
	PrewarmState *st = f->st;
	PrewarmWork *w = st->work;
	bool		buffer = f->mode == PREWARM_BUFFER;
	char		path[MAXPGPATH];
	BlockNumber cur_seg = InvalidBlockNumber;
	BlockNumber last_added = InvalidBlockNumber;

	if (f->zero_copy)
	{
		zero_copy_feed(stream, f);
		return;
	}

	for (;;)
	{
		if (work_full(w))
			return;
		if (f->pos >= f->end)
		{
			if (!feed_next_chunk(f, w))
				break;
			/* a gap filler never reaches back into another participant's chunk */
			last_added = InvalidBlockNumber;
		}

		while (f->pos < f->end)
		{
			BlockNumber blkno;

			pgu_stream_service_interrupts(stream);
			if (pgu_stream_interrupted(stream) ||
				(f->stop_for_messages && ParallelMessagePending))
				return;

			/* what was fed is still installed, at most a read-ahead window */
			if (feed_full(f, w))
				return;
			blkno = work_block(w, f->pos++);

			/*
			 * Cached (or being read by somebody): core finds it at once.  It
			 * may have been evicted since, or not be valid yet, and then core
			 * reads it here: with interrupts allowed, as any install.
			 */
			if (buffer && pgu_buf_is_cached(st->rel, st->fork, blkno))
			{
				install_run(st, blkno, 1);
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
}

/*
 * Zero-copy feed (PostgreSQL 17): per group of up to PGU_SLOT_BLOCKS listed
 * blocks of one segment, make room for a whole batch first (holding
 * nothing), pin the blocks through core's StartReadBuffers, claim the ones
 * that need a read, add them and submit at once: no claim is ever held
 * unsubmitted across anything that can wait, and only the worker ends the
 * claims.  The pins of the groups in flight stay within this backend's
 * share of shared buffers.  A group with nothing to read is finished by
 * core at once.
 */
static void
zero_copy_feed(PguStream *stream, PrewarmFeed *f)
{
	PrewarmState *st = f->st;
	PrewarmWork *w = st->work;
	char		path[MAXPGPATH];
	BlockNumber cur_seg = InvalidBlockNumber;
	int			limit = pgu_buf_pin_limit();
	int			gmax = Max(1, Min(PGU_SLOT_BLOCKS, limit / 2));

	/*
	 * Pins: each group holds up to gmax (claimed blocks, hits and blocks
	 * that others are reading), so at most max_batches of them are
	 * in flight with the one pinned next (pgu_stream_reserve_batch leaves
	 * fewer in flight): within this backend's share.
	 */
	int			max_batches = Max(1, limit / gmax);

	for (;;)
	{
		PguBufGroup *g;
		BlockNumber seg;
		int			room;
		int			nclaims;
		int			k;

		if (work_full(w))
			return;
		if (f->pos >= f->end && !feed_next_chunk(f, w))
			break;
		pgu_stream_service_interrupts(stream);
		if (pgu_stream_interrupted(stream) ||
			(f->stop_for_messages && ParallelMessagePending))
			return;
		if (feed_full(f, w))
			return;

		seg = work_block(w, f->pos) / RELSEG_SIZE;
		if (seg != cur_seg)
		{
			cur_seg = seg;
			(void) pgu_segment_path(st->rel, st->fork, work_block(w, f->pos), path);
		}

		/* room first, holding nothing: this may complete batches and sleep */
		pgu_stream_reserve_batch(stream, path, max_batches);

		/* pin runs of consecutive listed blocks of this segment */
		g = pgu_buf_group_begin(st->rel, st->fork);
		room = gmax;
		while (room > 0 && f->pos < f->end)
		{
			BlockNumber first = work_block(w, f->pos);
			int			n = 1;

			if (first / RELSEG_SIZE != cur_seg)
				break;
			/* autoprewarm: no more once no buffer is free (next round stops) */
			if (room < gmax && w->stop_when_full && !pgu_buf_have_free())
				break;
			while (n < room && f->pos + n < f->end &&
				   work_block(w, f->pos + n) == first + n &&
				   (first + n) / RELSEG_SIZE == cur_seg)
				n++;
			n = pgu_buf_group_pin(g, first, n);
			f->pos += n;
			room -= n;
		}
		/* testing build: a delay per block, between its pin and its claim */
		for (k = 0; k < pgu_buf_group_size(g); k++)
			PGU_FAULT_DELAY(PGU_FP_INSTALL_DELAY);

		nclaims = pgu_buf_group_claim(g);
		if (nclaims == 0)
		{
			int			size = pgu_buf_group_size(g);

			/* all cached, or being read by others: core finishes it */
			RESUME_INTERRUPTS();
			pgu_buf_group_finish(g, true, 0);
			HOLD_INTERRUPTS();
			count_done(st, size);
			continue;
		}
		for (k = 0; k < nclaims; k++)
		{
			BlockNumber blkno;
			Buffer		buf = pgu_buf_group_claimed(g, k, &blkno);

			pgu_stream_add_claimed(stream, blkno % RELSEG_SIZE, blkno,
								   pgu_buf_page(buf), buf, g);
		}
		pgu_stream_submit(stream);
	}
}

#ifdef PGU_HAVE_ZERO_COPY
/*
 * Is shared memory in huge pages (huge_pages_status)?  Then a buffered
 * zero-copy read is slower than the read-ahead path: the kernel copies
 * each page from the page cache in the ring worker's context, one CPU for
 * every participant, while on the read-ahead path core copies in each
 * participant.  With 4 kB pages zero-copy is still ahead (each first touch
 * of fresh shared memory costs a fault either way, and zero-copy spares a
 * copy); O_DIRECT has no copy at all.  Measured on 17: README, "Zero-copy
 * reads on 17".
 */
static bool
shared_buffers_huge(void)
{
	const char *status = GetConfigOption("huge_pages_status", true, false);

	return status != NULL && strcmp(status, "on") == 0;
}
#endif

/*
 * Does a buffer-mode prewarm of rel read zero-copy (PostgreSQL 17, the
 * ring up, pg_uring.zero_copy on)?  Not for temporary tables (local
 * buffers: core reads those), not buffered when shared memory is in huge
 * pages (shared_buffers_huge), and not under zero_damaged_pages or
 * ignore_checksum_failure, where core, not the worker, must judge a page.
 */
static bool
use_zero_copy(Relation rel, PrewarmMode mode, bool *direct)
{
#ifdef PGU_HAVE_ZERO_COPY
	bool		dio_aligned = false;

	const char *icf = GetConfigOption("ignore_checksum_failure", true, false);

	if (mode == PREWARM_BUFFER && pgu_zero_copy && !RelationUsesLocalBuffers(rel) &&
		!zero_damaged_pages && !(icf != NULL && strcmp(icf, "on") == 0) &&
		pgu_io_method == PGU_IO_METHOD_IO_URING && pgu_ring_accepting(&dio_aligned))
	{
		/* O_DIRECT straight into shared buffers, where they are aligned */
		*direct = pgu_direct_io && dio_aligned;
		if (*direct || !shared_buffers_huge())
			return true;
	}
#endif
	*direct = false;
	return false;
}

/*
 * One participant's share: stream chunks of the work until none is left.
 * The caller (leader) ends its stream when a helper has a message for it,
 * services the message (an ERROR is re-thrown here), and goes on.
 */
static void
prewarm_participate(Relation rel, PrewarmWork *w, PrewarmMode mode, bool leader,
					bool helpers)
{
	PrewarmState st;
	PrewarmFeed feed;
	bool		direct = false;
	static bool zero_copy_logged = false;

	st.rel = rel;
	st.fork = w->fork;
	st.work = w;
	st.done = 0;
	st.leader = leader;
	st.cxt = CurrentMemoryContext;
	st.redo = NULL;
	st.nredo = 0;
	st.maxredo = 0;
	feed.st = &st;
	feed.mode = mode;
	feed.zero_copy = use_zero_copy(rel, mode, &direct);
	feed.stop_for_messages = leader && helpers;
	if (feed.zero_copy && !zero_copy_logged)
	{
		/* once per session: tells tests and operators which path serves */
		elog(DEBUG1, "buffer-mode prewarm reads zero-copy into shared buffers%s",
			 direct ? " with O_DIRECT" : "");
		zero_copy_logged = true;
	}
	feed.pos = feed.end = 0;

	while ((feed.pos < feed.end && !work_full(w)) || work_left(w))
	{
		PguStream  *stream;

		if (feed.zero_copy)
		{
			stream = pgu_stream_begin(PGU_OP_READ, direct, zero_copy_batch_done, &st);
			pgu_stream_claims(stream);
		}
		else
			stream = pgu_stream_begin(mode == PREWARM_BUFFER ? PGU_OP_PREFETCH : PGU_OP_READ,
									  false,
									  mode == PREWARM_BUFFER ? buffer_batch_done : read_batch_done,
									  &st);
		/*
		 * nothing to undo: zero-copy claims are ended by the stream (its
		 * abort waits for the worker to end them), pins go with the
		 * resource owner
		 */
		pgu_stream_run(stream, prewarm_feed, &feed, NULL);
		/* a cancel, or a helper's ERROR, is raised here */
		CHECK_FOR_INTERRUPTS();
		redo_runs(&st);
		/* interrupted but not ended (a cancel held off): stop, as before */
		if (InterruptPending && (QueryCancelPending || ProcDiePending))
			break;
		/*
		 * Messages that cannot be serviced here (interrupts held) wait for
		 * the end.  One that came in just now is serviced after the next
		 * stream: the feed stops for it.
		 */
		if (ParallelMessagePending && !INTERRUPTS_CAN_BE_PROCESSED())
			feed.stop_for_messages = false;
	}
}

/*
 * How many helpers a buffer-mode prewarm of this many blocks gets: none
 * below pg_uring.min_parallel_prewarm_size, where starting one costs more
 * than it saves; one more for each further multiple of it, up to
 * pg_uring.max_prewarm_workers.  On the ring, all participants' windows
 * together stay within three quarters of the shared queue, so that other
 * sessions keep a share.  None inside a parallel operation, where a
 * parallel context cannot be set up, or where interrupts (and so the
 * helpers' messages) cannot be serviced.
 */
static int
prewarm_helpers(Relation rel, int64 nblocks)
{
	int64		n;

	if (pgu_max_prewarm_workers <= 0 || nblocks < pgu_min_parallel_prewarm_size)
		return 0;
	if (!IsUnderPostmaster || IsInParallelMode() || IsParallelWorker() ||
		!IsTransactionState() || !ActiveSnapshotSet() ||
		!INTERRUPTS_CAN_BE_PROCESSED() || RelationUsesLocalBuffers(rel))
		return 0;
	n = pgu_min_parallel_prewarm_size > 0 ? nblocks / pgu_min_parallel_prewarm_size : nblocks;
	/* every participant, the caller too, has a smallest chunk to start with */
	n = Min(n, nblocks / PGU_PREWARM_CHUNK_MIN - 1);
	if (pgu_io_method == PGU_IO_METHOD_IO_URING)
		n = Min(n, (int64) (pgu_queue_nslots() * 3 / 4) / pgu_queue_depth_effective() - 1);
	return (int) Max(Min(n, (int64) pgu_max_prewarm_workers), 0);
}

/* Chunk size for this many blocks and participants. */
static int
prewarm_chunk(int64 nblocks, int nparticipants)
{
	int64		c = nblocks / (8 * (int64) nparticipants);

	return (int) Max(Min(c, PGU_PREWARM_CHUNK_MAX), PGU_PREWARM_CHUNK_MIN);
}

/* Size of a work descriptor with this many list entries. */
static Size
work_size(int64 nlisted)
{
	return add_size(offsetof(PrewarmWork, list), mul_size(sizeof(BlockNumber), nlisted));
}

/* Fill in a work descriptor for entries [start, start + count) of another. */
static void
work_piece(PrewarmWork *piece, PrewarmWork *whole, int64 start, int64 count,
		   int nparticipants, int64 base)
{
	piece->relid = whole->relid;
	piece->fork = whole->fork;
	piece->nentries = count;
	piece->is_list = whole->is_list;
	piece->first = whole->is_list ? InvalidBlockNumber : whole->first + (BlockNumber) start;
	if (whole->is_list)
		memcpy(piece->list, whole->list + start, sizeof(BlockNumber) * count);
	piece->chunk = prewarm_chunk(count, nparticipants);
	piece->base = base;
	piece->stop_when_full = whole->stop_when_full;
	pg_atomic_init_u32(&piece->full, 0);
	pg_atomic_init_u64(&piece->next, 0);
	pg_atomic_init_u64(&piece->done, 0);
}

/*
 * Prewarm entries [start, start + count) of the work with helpers: set up a
 * parallel context whose shared memory holds that piece, launch them, take
 * part (unless parallel_leader_participation is off and some helper
 * started), wait for the piece to be done while showing its progress.
 * Returns the number of blocks warmed.
 */
static int64
prewarm_parallel(Relation rel, PrewarmWork *whole, int64 start, int64 count,
				 PrewarmMode mode, int nhelpers, int64 base)
{
	ParallelContext *pcxt;
	Size		worksize = work_size(whole->is_list ? count : 0);
	PrewarmWork *w;
	BufferUsage *bufusage;
	WalUsage   *walusage;
	int64		done;
	int			i;

	pgu_wait_events_init();		/* nothing is held: may take a lock */
	EnterParallelMode();
	pcxt = CreateParallelContext("pg_uring", "pgu_prewarm_helper_main", nhelpers);
	shm_toc_estimate_chunk(&pcxt->estimator, worksize);
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(BufferUsage), nhelpers));
	shm_toc_estimate_chunk(&pcxt->estimator, mul_size(sizeof(WalUsage), nhelpers));
	shm_toc_estimate_keys(&pcxt->estimator, 3);
	InitializeParallelDSM(pcxt);

	/* no dynamic shared memory after all: do it alone */
	if (pcxt->seg == NULL)
	{
		DestroyParallelContext(pcxt);
		ExitParallelMode();
		w = palloc(worksize);
		work_piece(w, whole, start, count, 1, base);
		prewarm_participate(rel, w, mode, true, false);
		done = (int64) pg_atomic_read_u64(&w->done);
		if (work_full(w))
			pg_atomic_write_u32(&whole->full, 1);
		pfree(w);
		return done;
	}

	w = shm_toc_allocate(pcxt->toc, worksize);
	work_piece(w, whole, start, count, nhelpers + 1, base);
	shm_toc_insert(pcxt->toc, PGU_KEY_WORK, w);
	bufusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(BufferUsage), nhelpers));
	memset(bufusage, 0, mul_size(sizeof(BufferUsage), nhelpers));
	shm_toc_insert(pcxt->toc, PGU_KEY_BUFFER_USAGE, bufusage);
	walusage = shm_toc_allocate(pcxt->toc, mul_size(sizeof(WalUsage), nhelpers));
	memset(walusage, 0, mul_size(sizeof(WalUsage), nhelpers));
	shm_toc_insert(pcxt->toc, PGU_KEY_WAL_USAGE, walusage);

	LaunchParallelWorkers(pcxt);
	pgu_count(pgu_io_method == PGU_IO_METHOD_SYNC ? PGU_PATH_SYNC : PGU_PATH_RING,
			  PGU_C_PREWARM_WORKERS_PLANNED, nhelpers);
	pgu_count(pgu_io_method == PGU_IO_METHOD_SYNC ? PGU_PATH_SYNC : PGU_PATH_RING,
			  PGU_C_PREWARM_WORKERS_LAUNCHED, pcxt->nworkers_launched);

	/* as core's parallel scans: the caller works too, unless told not to */
	if (parallel_leader_participation || pcxt->nworkers_launched == 0)
		prewarm_participate(rel, w, mode, true, pcxt->nworkers_launched > 0);

	if (pcxt->nworkers_launched > 0)
	{
		/* a helper that failed to start is an ERROR here, as in core */
		WaitForParallelWorkersToAttach(pcxt);

		/*
		 * Until every block is in, or no helper is left: service the
		 * helpers' messages (an ERROR is re-thrown here, with its context)
		 * and show their progress.  We hold nothing, so we may wait.
		 */
		pgu_progress_set_phase("waiting for helpers");
		pgu_wait_report_begin(PGU_WAIT_PREWARM_HELPERS);
		for (;;)
		{
			bool		alive = false;

			CHECK_FOR_INTERRUPTS();
			done = (int64) pg_atomic_read_u64(&w->done);
			pgu_progress_record(base + done, (base + done) * BLCKSZ);
			if (done >= w->nentries)
				break;
			for (i = 0; i < pcxt->nworkers_launched; i++)
				if (pcxt->worker[i].error_mqh != NULL)
					alive = true;
			if (!alive)
				break;
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 100L, pgu_wait_event(PGU_WAIT_PREWARM_HELPERS));
			ResetLatch(MyLatch);
		}
		pgu_wait_report_end();
		pgu_progress_set_phase("prewarming");
	}

	/* the helpers' last messages; an ERROR of one is re-thrown here */
	WaitForParallelWorkersToFinish(pcxt);

	/*
	 * Every helper ran its share to the end or raised an ERROR (re-thrown
	 * above), and so did we, so every chunk is done; unless a cancel held
	 * off made us stop early (see prewarm_participate).  Then, as without
	 * helpers, what was done is returned.
	 */
	if (work_left(w))
		prewarm_participate(rel, w, mode, true, false);
	if (work_full(w))
		pg_atomic_write_u32(&whole->full, 1);

	for (i = 0; i < pcxt->nworkers_launched; i++)
		InstrAccumParallelQuery(&bufusage[i], &walusage[i]);

	done = (int64) pg_atomic_read_u64(&w->done);
	DestroyParallelContext(pcxt);
	ExitParallelMode();
	return done;
}

/*
 * Entry point of a prewarm helper (a core parallel worker): prewarm chunks
 * of the caller's work until none is left.
 */
PGDLLEXPORT void
pgu_prewarm_helper_main(dsm_segment *seg, shm_toc *toc)
{
	PrewarmWork *w = shm_toc_lookup(toc, PGU_KEY_WORK, false);
	BufferUsage *bufusage = shm_toc_lookup(toc, PGU_KEY_BUFFER_USAGE, false);
	WalUsage   *walusage = shm_toc_lookup(toc, PGU_KEY_WAL_USAGE, false);
	Relation	rel;

	pgu_check_loaded();
	InstrStartParallelQuery();
	/* the caller holds this lock; group locking grants it at once */
	rel = relation_open(w->relid, AccessShareLock);
	prewarm_participate(rel, w, PREWARM_BUFFER, false, false);
	relation_close(rel, AccessShareLock);
	InstrEndParallelQuery(&bufusage[ParallelWorkerNumber],
						  &walusage[ParallelWorkerNumber]);
}

/*
 * Prewarm the work's blocks (ascending, distinct, all < the fork's size).
 * Returns the number of blocks warmed.  Nested (autoprewarm's restore), the
 * caller owns the progress entry, and base is what it did before.
 */
static int64
prewarm_work(Relation rel, PrewarmWork *w, PrewarmMode mode, int64 base, bool nested)
{
	int64		i;
	int64		done = 0;
	int			nhelpers;

	if (w->nentries == 0)
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
		for (i = 0; i < w->nentries; i++)
		{
			CHECK_FOR_INTERRUPTS();
			(void) PrefetchBuffer(rel, w->fork, work_block(w, i));
			done++;
		}
		return done;
	}

	/* our own temporary tables live in local buffers: core does the work */
	if (mode == PREWARM_BUFFER && RelationUsesLocalBuffers(rel))
	{
		for (i = 0; i < w->nentries; i++)
		{
			CHECK_FOR_INTERRUPTS();
			ReleaseBuffer(ReadBufferExtended(rel, w->fork, work_block(w, i),
											 RBM_NORMAL, NULL));
			done++;
		}
		return done;
	}

	/*
	 * Buffer mode reads ahead buffered (O_DIRECT would bypass the page cache
	 * that core then reads from); the same path serves primaries and hot
	 * standbys, since nothing but core ever touches a buffer.
	 */
	if (!nested)
	{
		pgu_progress_start(mode == PREWARM_BUFFER ? "prewarm buffer" : "prewarm read",
						   RelationGetRelid(rel), w->nentries);
		pgu_progress_set_phase("prewarming");
	}
	nhelpers = mode == PREWARM_BUFFER ? prewarm_helpers(rel, w->nentries) : 0;
	pg_atomic_init_u32(&w->full, 0);
	if (nhelpers == 0)
	{
		w->chunk = prewarm_chunk(w->nentries, 1);
		w->base = base;
		pg_atomic_init_u64(&w->next, 0);
		pg_atomic_init_u64(&w->done, 0);
		prewarm_participate(rel, w, mode, true, false);
		done = (int64) pg_atomic_read_u64(&w->done);
	}
	else
	{
		int64		start;

		/*
		 * A long block list goes to the helpers in pieces, each in a
		 * parallel context of its own, so that the dynamic shared memory
		 * stays small.
		 */
		for (start = 0; start < w->nentries;)
		{
			int64		count = w->nentries - start;
			int64		piece_done;

			if (w->is_list)
				count = Min(count, PGU_PARALLEL_LIST_MAX);
			piece_done = prewarm_parallel(rel, w, start, count, mode, nhelpers,
										  base + done);
			done += piece_done;
			/* stopped early (a cancel held off, no free buffer): return what was done */
			if (piece_done < count)
				break;
			start += count;
		}
	}
	/* interrupts are serviceable again: a progress NOTICE may go out now */
	pgu_progress_update(base + done, (base + done) * BLCKSZ);
	if (!nested)
		pgu_progress_end();

	return done;
}

/*
 * Autoprewarm's restore: read a list of blocks of a relation's fork
 * (ascending, distinct, all < the fork's size) into shared buffers, as a
 * buffer-mode pg_uring_prewarm_blocks does; with stop_when_full, only
 * until no buffer is free (else core's clock sweep makes room).  The
 * caller shows progress (base: blocks it restored before).  Returns the
 * number of blocks warmed; *full says whether it stopped for want of a
 * free buffer.
 */
int64
pgu_prewarm_restore_list(Relation rel, ForkNumber fork, const BlockNumber *blocks,
						 int64 n, int64 base, bool stop_when_full, bool *full)
{
	PrewarmWork *w;
	int64		done;

	w = palloc0(work_size(Max(n, 1)));
	memcpy(w->list, blocks, sizeof(BlockNumber) * n);
	w->relid = RelationGetRelid(rel);
	w->fork = fork;
	w->nentries = n;
	w->is_list = true;
	w->stop_when_full = stop_when_full;
	done = prewarm_work(rel, w, PREWARM_BUFFER, base, true);
	*full = work_full(w);
	pfree(w);
	return done;
}

/* A work descriptor for a range of blocks. */
static PrewarmWork *
work_range(Relation rel, ForkNumber fork, BlockNumber first, int64 count)
{
	PrewarmWork *w = palloc0(offsetof(PrewarmWork, list));

	w->relid = RelationGetRelid(rel);
	w->fork = fork;
	w->nentries = count;
	w->first = first;
	w->is_list = false;
	return w;
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
	PrewarmWork *w;

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
		pgu_check_block_arg(rel, forkname, nblocks, first_block, false);
	}
	if (PG_ARGISNULL(4))
		last_block = nblocks - 1;
	else
	{
		last_block = PG_GETARG_INT64(4);
		pgu_check_block_arg(rel, forkname, nblocks, last_block, true);
	}

	count = last_block >= first_block ? last_block - first_block + 1 : 0;
	w = work_range(rel, fork, (BlockNumber) Max(first_block, 0), count);
	count = prewarm_work(rel, w, mode, 0, false);

	pfree(w);
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
	PrewarmWork *w;
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
	w = palloc0(add_size(offsetof(PrewarmWork, list),
						 mul_size(sizeof(BlockNumber), Max(nelems, 1))));
	blocks = w->list;
	for (i = 0; i < nelems; i++)
	{
		int64		b;

		if (elem_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("block list cannot contain null values")));
		b = DatumGetInt64(elems[i]);
		if (b < 0 || b >= nblocks)
		{
			if (nblocks == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("block number %lld is out of range", (long long) b),
						 errdetail("Fork \"%s\" of relation \"%s\" is empty.",
								   forkname, RelationGetRelationName(rel))));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("block number %lld is out of range", (long long) b),
					 errdetail("Block numbers must be between 0 and %lld.",
							   (long long) (nblocks - 1))));
		}
		blocks[i] = (BlockNumber) b;
	}

	/* ascending and distinct: one read per block, combined where adjacent */
	if (nelems > 1)
		qsort(blocks, nelems, sizeof(BlockNumber), block_cmp);
	for (i = 0; i < nelems; i++)
		if (n == 0 || blocks[n - 1] != blocks[i])
			blocks[n++] = blocks[i];

	w->relid = RelationGetRelid(rel);
	w->fork = fork;
	w->nentries = n;
	w->is_list = true;
	count = prewarm_work(rel, w, mode, 0, false);

	pfree(w);
	relation_close(rel, AccessShareLock);
	PG_RETURN_INT64(count);
}
