/*-------------------------------------------------------------------------
 *
 * pageio.c
 *	  Backend side of page I/O: batches, the in-flight window, and the
 *	  choice between the ring worker and the synchronous path.
 *
 * pg_uring.io_method is decided here and nowhere else, once per stream:
 * "io_uring" hands batches to the worker through the queue when the ring
 * is up, and serves them synchronously (counted as fallback) when it is
 * not; "sync" performs them in this backend with preadv/pwritev.
 *
 * Memory ownership: a batch's I/O lands in (or comes from) the batch's
 * staging memory: the slot's, in shared memory, or this stream's local
 * buffer on the sync path.  Reads are copied to the caller's memory after
 * they completed.  The one exception is a claiming stream
 * (pgu_stream_claims, zero-copy reads on 17): its reads land in shared
 * buffers whose I/O-in-progress state the caller took; whoever completes
 * the read ends the claims (the worker, or this file for a read it served
 * or that was never served), and such a batch is never given up on once
 * the worker has taken it, as writes are not; one still queued after
 * PGU_GIVE_UP_MS is taken back (pgu_slot_withdraw) and its claims ended
 * here.  A slot is
 * returned to the free list only when its state is DONE, i.e. no I/O of
 * it is in flight.
 *
 * Who waits for what (the "nobody waits forever" rules):
 *	- A stream sleeps on the shared queue for a free slot only when it has
 *	  nothing in flight and nothing in its current batch; otherwise it
 *	  completes its own oldest batch instead.  Features that hold buffer
 *	  state per block (flush) reserve room with pgu_stream_reserve() before
 *	  they pin, lock or take I/O on the block, so pgu_stream_add() never
 *	  sleeps on the queue.  The slot wait ends on cancel or terminate,
 *	  and after pg_uring.queue_wait_timeout: the holders of the slots may
 *	  themselves be stuck (on a client that does not read their WARNINGs,
 *	  say), so no wait depends on them.  The batch is then served here,
 *	  synchronously, and the stream takes a slot from then on only when
 *	  one is free (queue_wait_timeouts, fallback_ios).
 *	- A stream waits for its own batches, which only the worker completes.
 *	  The worker never blocks on anything but the kernel (docs/design.md),
 *	  and completes or fails every slot it took before it exits.
 *	- Read batches land in staging memory only, so after a cancel, an
 *	  ERROR or at exit, a read batch that the worker has not completed
 *	  within PGU_GIVE_UP_MS is abandoned: the slot is never reused until
 *	  the worker completed it (queue.c frees it then).  So cancel is
 *	  bounded even with a stalled worker.
 *	- Claiming read batches (zero-copy, 17) are never abandoned once the
 *	  worker took them: the worker ends their claims when the read is
 *	  complete, and nobody else may.  Still queued, they are taken back
 *	  after PGU_GIVE_UP_MS and their claims ended here as failed.
 *	- Write batches are never abandoned while the worker that took them is
 *	  alive: their buffers keep BM_IO_IN_PROGRESS until the write is
 *	  complete, because ending it earlier would let a newer write of the
 *	  same block be overtaken by our older copy.  The holder of that state
 *	  then only waits for the worker, which completes the write.
 *	- An exit (FATAL, postmaster death) in the middle of a stream runs the
 *	  same abort from a before_shmem_exit hook: in-flight I/O first, then
 *	  the caller's undo, then pins are dropped by core.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "access/parallel.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procsignal.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "buffers.h"
#include "faults.h"
#include "pageio.h"
#include "progress.h"
#include "stats.h"

struct PguBatch
{
	PguSlot    *slot;			/* ring path: our slot; NULL on the sync path */
	PguOp		op;
	int			nblocks;
	int			nios;
	int			close_error;	/* -errno of a failed close() after writing */
	bool		abandoned;		/* slot given up: data[] must not be read */
	bool		claims;			/* data[] are claimed shared buffers */
	bool		claims_ended;	/* ... and their claims have been ended */
	uint32		claims_valid;	/* ... bit i: block i became valid */
	uint64		generation;		/* worker generation when queued */
	instr_time	io_time;		/* time this backend spent on its I/O */
	char		path[MAXPGPATH];
	BlockNumber segblock[PGU_SLOT_BLOCKS];
	BlockNumber blkno[PGU_SLOT_BLOCKS];
	void	   *arg[PGU_SLOT_BLOCKS];
	char	   *dest[PGU_SLOT_BLOCKS];	/* caller's memory, or NULL */
	char	   *data[PGU_SLOT_BLOCKS];	/* staging: where the I/O lands or comes from */
	Buffer		buf[PGU_SLOT_BLOCKS];	/* claims: the buffer of data[i] */
	PguIoDesc	ios[PGU_SLOT_BLOCKS];
	PguBatch   *next;
};

struct PguStream
{
	PguOp		op;
	bool		direct;
	bool		claims;			/* reads into claimed buffers (pgu_stream_claims) */
	bool		use_ring;
	bool		fallback;		/* wanted the ring, but it is not up */
	bool		queue_starved;	/* a slot wait ran out: no more waits */
	int			slots_held;		/* slots of this stream's batches */
	bool		count_relation_io;	/* in pgBufferUsage and pg_stat_io */
	bool		interrupted;
	bool		postmaster_dead;
	int			max_inflight;	/* batches: pg_uring.queue_depth */
	int			inflight;		/* batches submitted, not completed */
	int			pending;		/* blocks in flight or in the current batch */
	uint64		op_id;
	PguBatchCallback callback;
	void	   *callback_arg;
	void		(*undo) (void);
	PguBatch   *cur;			/* being filled */
	PguBatch   *head;			/* submitted, oldest first */
	PguBatch   *tail;
	PguBatch   *completing;		/* handed to the callback right now */
	PguBatch   *free_batches;
	char	   *local_staging;	/* sync path: aligned into local_raw */
	char	   *local_raw;
	int			sync_fd;
	char		sync_path[MAXPGPATH];
	TimestampTz give_up_at;		/* read batches: abandon after this; 0 = never */
	PguStream  *outer;			/* stream open before this one, if any */
};

/*
 * After a cancel, an ERROR or at exit, how long read batches may still take
 * before they are abandoned, for the whole stream.
 */
#define PGU_GIVE_UP_MS			1000

/*
 * After a slot wait ran out, how long the streams this backend starts take
 * slots only when one is free, without waiting.
 */
#define PGU_QUEUE_BACKOFF_MS	10000

static TimestampTz queue_backoff_until = 0;

/* How long a worker may be gone before its slots are given up. */
#define PGU_WORKER_GONE_MS		5000

static uint64 op_counter = 0;
static PguStream *open_streams = NULL;	/* innermost first */
static bool exit_hook_registered = false;

static void stream_abort(PguStream *s);

/* Local staging memory for the sync path, aligned like the slots' staging. */
static void
local_staging_alloc(PguStream *s)
{
	s->local_raw = MemoryContextAlloc(TopMemoryContext,
									  PGU_SLOT_BLOCKS * BLCKSZ + PGU_STAGING_ALIGN);
	s->local_staging = (char *) TYPEALIGN(PGU_STAGING_ALIGN, s->local_raw);
}

/*
 * Process exit (FATAL, postmaster death) with a stream open: no I/O of
 * ours may outlive us, and no buffer state may be ended while an I/O on it
 * is in flight.  Wait for the in-flight I/O first (bounded for reads),
 * then undo.  Core drops our pins later (ShutdownPostgres).
 */
static void
stream_exit_hook(int code, Datum arg)
{
	while (open_streams != NULL)
	{
		PguStream  *s = open_streams;

		stream_abort(s);
		if (s->undo)
			s->undo();
		open_streams = s->outer;
	}
}

/* Decide the method and set up a stream; holds interrupts until end/abort. */
PguStream *
pgu_stream_begin(PguOp op, bool direct, PguBatchCallback callback, void *arg)
{
	PguStream  *s;

	pgu_check_loaded();
	pgu_wait_events_init();		/* nothing is held yet: may take a lock */
	pgu_progress_register_callbacks();	/* so that its waits are shown */

	if (!exit_hook_registered)
	{
		before_shmem_exit(stream_exit_hook, (Datum) 0);
		exit_hook_registered = true;
	}

	s = MemoryContextAllocZero(TopMemoryContext, sizeof(PguStream));
	s->op = op;
	s->direct = direct && op == PGU_OP_READ;
	s->max_inflight = pgu_queue_depth_effective();
	s->callback = callback;
	s->callback_arg = arg;
	s->sync_fd = -1;
	s->op_id = ((uint64) PGU_MY_PROCNO() << 40) | (++op_counter & UINT64CONST(0xFFFFFFFFFF));

	if (pgu_io_method == PGU_IO_METHOD_IO_URING)
	{
		s->use_ring = pgu_ring_accepting(NULL);
		s->fallback = !s->use_ring;
		/* a slot wait ran out lately: no waits for now */
		s->queue_starved = queue_backoff_until != 0 &&
			GetCurrentTimestamp() < queue_backoff_until;
	}
	if (!s->use_ring)
		local_staging_alloc(s);

	s->outer = open_streams;
	open_streams = s;
	HOLD_INTERRUPTS();
	return s;
}

/*
 * Count this stream's reads or writes as core counts its own I/O on
 * relation blocks (pgBufferUsage, track_io_timing, pg_stat_io): for verify
 * and flush, which do that I/O instead of the buffer manager.
 */
void
pgu_stream_count_relation_io(PguStream *s)
{
	s->count_relation_io = true;
}

/* Does this stream hand its I/O to the ring worker? */
bool
pgu_stream_uses_ring(PguStream *s)
{
	return s->use_ring;
}

/*
 * Has a cancel or terminate request arrived?  Interrupts are held while a
 * stream is open; the caller stops adding blocks, ends the stream, and the
 * interrupt is then serviced with nothing in flight.
 */
bool
pgu_stream_interrupted(PguStream *s)
{
	/*
	 * ProcSignal barriers (DROP DATABASE, DROP TABLESPACE) must not wait for
	 * a long stream: absorb them here.  They only close smgr files, which
	 * nothing of ours keeps across the call.
	 */
	if (ProcSignalBarrierPending)
		ProcessProcSignalBarrier();
	if (InterruptPending && (QueryCancelPending || ProcDiePending))
		s->interrupted = true;
	return s->interrupted;
}

/*
 * Let core service an interrupt that is neither a cancel nor a terminate,
 * between two blocks of a feed run by pgu_stream_run, once the stream's
 * I/O is drained.  On 17 and later a
 * recovery conflict on a hot standby sets only InterruptPending: core
 * decides in ProcessInterrupts whether it cancels us, which it cannot do
 * while interrupts are held, and replay would wait for the whole stream.
 * An ERROR from here is undone by pgu_stream_run's PG_CATCH, as an I/O
 * error is.  Not while a helper's message is pending (a NOTICE of it would
 * go to the client), not in a nested stream or under a lock (a holdoff of
 * another), and not for a cancel or terminate, which end the feed through
 * pgu_stream_interrupted with nothing in flight.
 */
void
pgu_stream_service_interrupts(PguStream *s)
{
	if (!InterruptPending || s->interrupted || QueryCancelPending ||
		ProcDiePending || ParallelMessagePending)
		return;
	if (s->outer != NULL || InterruptHoldoffCount != 1 || CritSectionCount != 0)
		return;

	/*
	 * Hold nothing first: ProcessInterrupts may end in a FATAL (a timeout,
	 * a conflict that core turns into one), whose message goes to the
	 * client before the exit hooks run, and a client that does not read
	 * must not keep others waiting for this stream's I/O state or pins.
	 */
	pgu_stream_drain(s);
	RESUME_INTERRUPTS();
	CHECK_FOR_INTERRUPTS();
	HOLD_INTERRUPTS();
}

/* Start the give-up clock for read batches (cancel, ERROR, exit). */
static void
start_giving_up(PguStream *s)
{
	if (s->give_up_at == 0)
		s->give_up_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													PGU_GIVE_UP_MS);
}

/* Get an empty batch structure. */
static PguBatch *
batch_get(PguStream *s)
{
	PguBatch   *b = s->free_batches;

	if (b != NULL)
		s->free_batches = b->next;
	else
		b = MemoryContextAlloc(TopMemoryContext, sizeof(PguBatch));
	b->slot = NULL;
	b->op = s->op;
	b->nblocks = 0;
	b->nios = 0;
	b->close_error = 0;
	b->abandoned = false;
	b->claims = false;
	b->claims_ended = false;
	b->claims_valid = 0;
	INSTR_TIME_SET_ZERO(b->io_time);
	b->next = NULL;
	return b;
}

/* Return a batch structure, and its slot if any, for reuse. */
static void
batch_put(PguStream *s, PguBatch *b)
{
	if (b->slot != NULL)
	{
		pgu_slot_free(b->slot);
		b->slot = NULL;
		s->slots_held--;
	}
	b->next = s->free_batches;
	s->free_batches = b;
}

/* Free a stream's memory (its slots are back already). */
static void
stream_free(PguStream *s)
{
	while (s->free_batches != NULL)
	{
		PguBatch   *b = s->free_batches;

		s->free_batches = b->next;
		pfree(b);
	}
	if (s->local_raw)
		pfree(s->local_raw);
	pfree(s);
}

/* Unlink a stream from the list of open streams. */
static void
stream_unlink(PguStream *s)
{
	PguStream **p;

	for (p = &open_streams; *p != NULL; p = &(*p)->outer)
	{
		if (*p == s)
		{
			*p = s->outer;
			return;
		}
	}
}

/* Open (or reuse) the sync path's descriptor for a segment file. */
static int
sync_open(PguStream *s, const char *path)
{
	if (s->sync_fd >= 0 && strcmp(s->sync_path, path) == 0)
		return s->sync_fd;
	if (s->sync_fd >= 0)
		CloseTransientFile(s->sync_fd);
	s->sync_fd = OpenTransientFile(path, (s->op == PGU_OP_WRITE ? O_RDWR : O_RDONLY) | PG_BINARY);
	if (s->sync_fd < 0)
		return -errno;
	strlcpy(s->sync_path, path, MAXPGPATH);
	return s->sync_fd;
}

/*
 * Close the sync path's descriptor.  For writes, close() can report a
 * writeback error (NFS does): return it as -errno, so the batch fails
 * before any of its buffers is called clean.
 */
static int
sync_close(PguStream *s)
{
	int			rc = 0;

	if (s->sync_fd < 0)
		return 0;
	if (CloseTransientFile(s->sync_fd) != 0)
		rc = -errno;
	if (s->op == PGU_OP_WRITE && PGU_FAULT(PGU_FP_CLOSE) == PGU_FA_EIO)
		rc = -EIO;
	s->sync_fd = -1;
	return rc;
}

/*
 * Apply an injected fault (testing build) to a transfer of n bytes of
 * total; returns the bytes to pretend were transferred, or -errno.
 */
static ssize_t
sync_fault(bool write, ssize_t n, uint64 total, bool *eof)
{
	switch (PGU_FAULT(write ? PGU_FP_WRITE : PGU_FP_READ))
	{
		case PGU_FA_EIO:
			errno = EIO;
			return -1;
		case PGU_FA_EOF:
			*eof = true;
			/* FALLTHROUGH */
		case PGU_FA_SHORT:
			if (n > 0 && (uint64) n == total && total >= 1024)
				return (ssize_t) ((total / 2) & ~(uint64) 511);
			return n;
		case PGU_FA_DELAY:
			/* a slow disk: inside the I/O's wait event */
			PGU_FAULT_SLEEP(write ? PGU_FP_WRITE : PGU_FP_READ);
			return n;
		default:
			return n;
	}
}

/*
 * A prefetch batch on the sync path: posix_fadvise(WILLNEED) per I/O, so
 * the kernel reads the ranges into the page cache while we go on.
 */
static void
sync_prefetch(PguBatch *b, int fd)
{
	int			k;

	for (k = 0; k < b->nios; k++)
	{
		PguIoDesc  *io = &b->ios[k];
		uint64		total = (uint64) io->nblocks * BLCKSZ;
		int			rc = fd < 0 ? -fd : 0;

		if (rc == 0)
		{
			pgstat_report_wait_start(WAIT_EVENT_DATA_FILE_PREFETCH);
			rc = posix_fadvise(fd, (off_t) io->offset, (off_t) total, POSIX_FADV_WILLNEED);
			pgstat_report_wait_end();
		}
		switch (PGU_FAULT(PGU_FP_READ))
		{
			case PGU_FA_EIO:
				rc = EIO;
				break;
			case PGU_FA_EOF:
				if (rc == 0)
				{
					io->result = (int32) ((total / 2) & ~(uint64) 511);
					pgu_count(PGU_PATH_SYNC, PGU_C_ERRORS, 1);
					continue;
				}
				break;
			default:
				break;
		}
		if (rc != 0)
		{
			io->result = -rc;
			pgu_count(PGU_PATH_SYNC, PGU_C_ERRORS, 1);
			continue;
		}
		io->result = (int32) total;
		pgu_count(PGU_PATH_SYNC, PGU_C_READS, 1);
		pgu_count(PGU_PATH_SYNC, PGU_C_BLOCKS_READ, io->nblocks);
		pgu_count(PGU_PATH_SYNC, PGU_C_BYTES_READ, total);
		if (io->nblocks > 1)
			pgu_count(PGU_PATH_SYNC, PGU_C_COMBINED_IOS, 1);
	}
}

/* Perform a batch's I/Os in this backend with preadv/pwritev. */
static void
sync_execute(PguStream *s, PguBatch *b)
{
	bool		write = s->op == PGU_OP_WRITE;
	int			fd = sync_open(s, b->path);
	int			close_rc;
	int			k;

	pgu_count(PGU_PATH_SYNC, PGU_C_REQUESTS, 1);
	if (s->fallback)
		pgu_count(PGU_PATH_RING, PGU_C_FALLBACK_IOS, b->nios);

	if (s->op == PGU_OP_PREFETCH)
	{
		sync_prefetch(b, fd);
		return;
	}

	for (k = 0; k < b->nios; k++)
	{
		PguIoDesc  *io = &b->ios[k];
		struct iovec iov[PGU_SLOT_BLOCKS];
		struct iovec *v = iov;
		int			cnt = io->nblocks;
		uint64		total = (uint64) io->nblocks * BLCKSZ;
		uint64		done = 0;
		bool		first = true;
		bool		eof = false;
		instr_time	start;
		instr_time	now;
		int			i;

		if (fd < 0)
		{
			io->result = fd;
			pgu_count(PGU_PATH_SYNC, PGU_C_ERRORS, 1);
			continue;
		}
		for (i = 0; i < io->nblocks; i++)
		{
			iov[i].iov_base = b->data[io->first + i];
			iov[i].iov_len = BLCKSZ;
		}

		INSTR_TIME_SET_CURRENT(start);
		pgstat_report_wait_start(write ? WAIT_EVENT_DATA_FILE_WRITE : WAIT_EVENT_DATA_FILE_READ);
		while (done < total)
		{
			ssize_t		n;

			if (eof)
				n = 0;			/* injected: the remainder is not there */
			else if (write)
				n = pwritev(fd, v, cnt, io->offset + done);
			else
				n = preadv(fd, v, cnt, io->offset + done);
			if (first)
			{
				first = false;
				n = sync_fault(write, n, total, &eof);
			}
			if (n < 0 && (errno == EINTR || errno == EAGAIN))
			{
				pgu_count(PGU_PATH_SYNC, PGU_C_RETRIES, 1);
				continue;
			}
			if (n <= 0)
			{
				if (n < 0)
					done = (uint64) -errno;
				break;
			}
			done += n;
			if (done < total)
			{
				/* short transfer: continue at offset + done */
				pgu_count(PGU_PATH_SYNC, PGU_C_SHORT_IOS, 1);
				while (n > 0)
				{
					if ((size_t) n >= v->iov_len)
					{
						n -= v->iov_len;
						v++;
						cnt--;
					}
					else
					{
						v->iov_base = (char *) v->iov_base + n;
						v->iov_len -= n;
						n = 0;
					}
				}
			}
		}
		pgstat_report_wait_end();
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		pgu_count_latency(PGU_PATH_SYNC, write, INSTR_TIME_GET_MICROSEC(now));
		INSTR_TIME_ADD(b->io_time, now);

		io->result = (int32) (int64) done;
		if ((int64) done < 0 || done < total)
			pgu_count(PGU_PATH_SYNC, PGU_C_ERRORS, 1);
		else
		{
			pgu_count(PGU_PATH_SYNC, write ? PGU_C_WRITES : PGU_C_READS, 1);
			pgu_count(PGU_PATH_SYNC, write ? PGU_C_BLOCKS_WRITTEN : PGU_C_BLOCKS_READ, io->nblocks);
			pgu_count(PGU_PATH_SYNC, write ? PGU_C_BYTES_WRITTEN : PGU_C_BYTES_READ, total);
			if (io->nblocks > 1)
				pgu_count(PGU_PATH_SYNC, PGU_C_COMBINED_IOS, 1);
		}
	}

	/* a written file is closed, and the close checked, before it is clean */
	if (write && (close_rc = sync_close(s)) < 0)
	{
		for (k = 0; k < b->nios; k++)
			if (b->ios[k].result >= 0)
				b->ios[k].result = close_rc;
		b->close_error = close_rc;
		pgu_count(PGU_PATH_SYNC, PGU_C_ERRORS, 1);
	}
}

/*
 * End the claims of a batch that no I/O of ours is landing in any more:
 * each block becomes valid if its read succeeded (and the page passes),
 * or failed; failed ends every claim as failed.  Once only.
 */
static void
batch_end_claims(PguBatch *b, bool failed)
{
	int			i;

	if (!b->claims || b->claims_ended)
		return;
	for (i = 0; i < b->nblocks; i++)
	{
		if (pgu_buf_claim_end(b->buf[i], b->blkno[i],
							  !failed && pgu_batch_block_result(b, i).err == 0))
			b->claims_valid |= (uint32) 1 << i;
	}
	b->claims_ended = true;
}

/* Has the worker finished with this batch's slot? */
static bool
batch_is_done(PguBatch *b)
{
	return b->slot == NULL ||
		pgu_slot_is_done(b->slot);
}

/* Give up on a batch's slot: its I/Os count as failed with err. */
static void
batch_abandon(PguStream *s, PguBatch *b, int err)
{
	int			k;

	for (k = 0; k < b->nios; k++)
		b->ios[k].result = err;
	/* claiming batches are never abandoned: taken back, or waited for */
	Assert(!b->claims);
	pgu_slot_abandon(b->slot);	/* freed once the worker is done with it */
	b->slot = NULL;
	s->slots_held--;
	b->abandoned = true;		/* a late I/O may still land in its staging */
}

/*
 * Sleep until the worker completes a batch.  Interrupts are held; a cancel
 * only marks the stream interrupted.  Returns false if the batch was
 * abandoned instead (see the rules at the top of this file); its results
 * then say -ECANCELED or -ESHUTDOWN.
 */
static bool batch_wait_inner(PguStream *s, PguBatch *b);

static bool
batch_wait(PguStream *s, PguBatch *b)
{
	bool		done;

	if (b->slot == NULL || pgu_slot_is_done(b->slot))
		return batch_wait_inner(s, b);
	pgu_wait_report_begin(PGU_WAIT_BATCH);	/* shown in pg_uring_waits */
	done = batch_wait_inner(s, b);
	pgu_wait_report_end();
	return done;
}

/* batch_wait without the wait report. */
static bool
batch_wait_inner(PguStream *s, PguBatch *b)
{
	PguSlot    *slot = b->slot;
	TimestampTz gone_since = 0;
	instr_time	wait_start;
	instr_time	waited;
	bool		timed;
	bool		withdrawn = false;

	if (slot == NULL)
		return true;
	/* the time is only wanted for core's I/O timing */
	timed = s->count_relation_io && track_io_timing;
	if (timed)
		INSTR_TIME_SET_CURRENT(wait_start);

	while (!pgu_slot_is_done(slot))
	{
		int			rc;
		TimestampTz now;

		pg_atomic_write_u32(&slot->waiting, 1);
		pg_memory_barrier();
		if (pgu_slot_is_done(slot))
			break;

		if (s->postmaster_dead)
		{
			/* WaitLatch would return at once from now on: do not spin */
			pg_usleep(10000L);
			rc = 0;
		}
		else
			rc = WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_POSTMASTER_DEATH,
						   100L, pgu_wait_event(PGU_WAIT_BATCH));
		ResetLatch(MyLatch);
		if (pgu_slot_is_done(slot))
			break;
		if (rc & WL_POSTMASTER_DEATH)
			s->postmaster_dead = s->interrupted = true;
		if (pgu_stream_interrupted(s))
			start_giving_up(s);

		now = GetCurrentTimestamp();

		/*
		 * Reads into staging may be given up on.  Reads into claimed
		 * buffers may not once the worker has them (it ends the claims when
		 * the read is complete); one still queued is taken back, its reads
		 * never started, and its claims are ended by us as failed.
		 */
		if (s->op != PGU_OP_WRITE && s->give_up_at != 0 && now >= s->give_up_at)
		{
			if (!b->claims)
			{
				batch_abandon(s, b, -ECANCELED);
				return false;
			}
			/* claims: a batch the worker has not taken yet is taken back */
			if (pgu_slot_withdraw(slot))
			{
				withdrawn = true;
				break;
			}
		}

		/* the worker that took it is gone (it crashed): by elapsed time */
		if (!pgu_worker_alive(b->generation))
		{
			if (gone_since == 0)
				gone_since = now;
			else if (b->claims && TimestampDifferenceExceeds(gone_since, now, PGU_WORKER_GONE_MS))
			{
				/*
				 * Claims: a queued batch is taken back; one the worker took
				 * is never given up on (its read could still land).  A
				 * worker cannot exit with such reads in flight (it PANICs
				 * instead, worker_cleanup), so a crash restart ends this.
				 */
				if (pgu_slot_withdraw(slot))
				{
					withdrawn = true;
					break;
				}
			}
			else if (TimestampDifferenceExceeds(gone_since, now, PGU_WORKER_GONE_MS))
			{
				/* to the log only: the client may not be reading */
				ereport(LOG_SERVER_ONLY,
						(errmsg("pg_uring ring worker exited without completing a request"),
						 errdetail("Request slot %d is abandoned.", pgu_slot_index(slot))));
				batch_abandon(s, b, -ESHUTDOWN);
				return false;
			}
		}
		else
			gone_since = 0;
	}
	pg_atomic_write_u32(&slot->waiting, 0);
	pg_memory_barrier();
	/* the backend's share of the I/O time: how long it waited for it */
	if (timed)
	{
		INSTR_TIME_SET_CURRENT(waited);
		INSTR_TIME_SUBTRACT(waited, wait_start);
		INSTR_TIME_ADD(b->io_time, waited);
	}
	memcpy(b->ios, slot->ios, sizeof(PguIoDesc) * b->nios);
	b->close_error = slot->close_error;
	if (b->claims && slot->claims_ended)
	{
		b->claims_ended = true;
		b->claims_valid = slot->claims_valid;
	}
	/* taken back before the worker saw it: nobody else will end its claims */
	if (withdrawn)
		batch_end_claims(b, true);
	return true;
}

/* Group the batch's blocks into I/Os of adjacent blocks. */
static void
batch_build_ios(PguBatch *b)
{
	int			i;

	b->nios = 0;
	for (i = 0; i < b->nblocks; i++)
	{
		PguIoDesc  *last = b->nios > 0 ? &b->ios[b->nios - 1] : NULL;

		if (last != NULL &&
			b->segblock[i] == b->segblock[last->first + last->nblocks - 1] + 1 &&
			last->nblocks < pgu_combine_limit)
			last->nblocks++;
		else
		{
			PguIoDesc  *io = &b->ios[b->nios++];

			io->offset = (uint64) b->segblock[i] * BLCKSZ;
			io->first = i;
			io->nblocks = 1;
			io->result = 0;
		}
	}
}

/* Hand a completed batch to the callback, then recycle it. */
static void
batch_complete(PguStream *s, PguBatch *b)
{
	int			i;

	if (s->op == PGU_OP_READ)
	{
		/* copy staged blocks to the caller's memory where it asked for it */
		for (i = 0; i < b->nblocks; i++)
		{
			if (b->dest[i] != NULL && pgu_batch_block_result(b, i).err == 0)
			{
				memcpy(b->dest[i], b->data[i], BLCKSZ);
				b->data[i] = b->dest[i];
			}
		}
	}
	if (s->count_relation_io && s->op != PGU_OP_PREFETCH)
	{
		uint32		ok = 0;
		uint32		ok_ios = 0;
		int			k;

		/*
		 * Per I/O, not per block: the blocks it transferred whole, and as
		 * core, only the I/Os that transferred all they were for.
		 */
		for (k = 0; k < b->nios; k++)
		{
			PguIoDesc  *io = &b->ios[k];

			if (io->result >= (int64) io->nblocks * BLCKSZ)
			{
				ok += io->nblocks;
				ok_ios++;
			}
			else if (io->result > 0)
				ok += io->result / BLCKSZ;
		}
		pgu_count_relation_io(s->op == PGU_OP_WRITE, ok, ok_ios, b->io_time);
	}
	s->completing = b;
	if (s->callback)
		s->callback(s, b, s->callback_arg);
	s->completing = NULL;
	s->pending -= b->nblocks;
	batch_put(s, b);
}

/* Wait for the oldest submitted batch and complete it. */
static void
complete_oldest(PguStream *s)
{
	PguBatch   *b = s->head;
	bool		shutdown;

	(void) batch_wait(s, b);
	s->head = b->next;
	if (s->head == NULL)
		s->tail = NULL;
	s->inflight--;
	s->completing = b;			/* an ERROR from here on must not lose it */

	/*
	 * Given up on: its staging memory is not ours any more, so no callback
	 * may look at it.  After a cancel that is all; otherwise the worker is
	 * gone, and the caller must not take the batch as done.
	 */
	if (b->abandoned)
	{
		if (!s->interrupted)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("pg_uring ring worker exited without completing a request for file \"%s\"",
							b->path),
					 errhint("Check the server log for why the worker exited; the request can be repeated.")));
		s->completing = NULL;
		s->pending -= b->nblocks;
		batch_put(s, b);
		return;
	}

	/*
	 * The worker stopped before serving it: serve it here instead.  Not a
	 * claiming batch: its claims were ended as failed when it came back
	 * unserved (by the worker, or at enqueue), and core reads those blocks
	 * again.
	 */
	shutdown = b->slot != NULL && b->slot->error == -ESHUTDOWN && !b->claims;
	if (shutdown)
	{
		bool		saved = s->fallback;

		s->fallback = true;
		sync_execute(s, b);
		s->fallback = saved;
	}
	batch_end_claims(b, false);
	batch_complete(s, b);
}

/* Append a submitted batch to the window. */
static void
window_append(PguStream *s, PguBatch *b)
{
	b->next = NULL;
	if (s->tail)
		s->tail->next = b;
	else
		s->head = b;
	s->tail = b;
	s->inflight++;
}

/* Submit the batch being filled. */
static void
submit_current(PguStream *s)
{
	PguBatch   *b = s->cur;
	PguSlot    *slot = b->slot;
	bool		accepted;

	Assert(b->nblocks > 0);
	s->cur = NULL;
	batch_build_ios(b);

	if (slot == NULL)
	{
		bool		saved = s->fallback;

		/* a ring stream without a slot: the worker is gone, count fallback */
		s->fallback = s->fallback || s->use_ring;
		s->completing = b;
		sync_execute(s, b);
		batch_end_claims(b, false);
		s->fallback = saved;
		s->completing = NULL;

		/*
		 * A prefetch is done once the kernel has it: keep the batch in the
		 * window, so the caller reads it only a window later, when the
		 * kernel has had time to read it.  Anything else completes now.
		 */
		if (s->op == PGU_OP_PREFETCH)
			window_append(s, b);
		else
			batch_complete(s, b);
		return;
	}

	slot->op = s->op;
	slot->op_id = s->op_id;
	slot->flags = (s->direct ? PGU_FLAG_DIRECT : 0) | (b->claims ? PGU_FLAG_CLAIMS : 0);
	slot->claims_ended = false;
	slot->claims_valid = 0;
	if (b->claims)
	{
		int			i;

		for (i = 0; i < b->nblocks; i++)
		{
			slot->claim_buf[i] = b->buf[i];
			slot->claim_blkno[i] = b->blkno[i];
		}
	}
	slot->nblocks = b->nblocks;
	slot->nios = b->nios;
	strlcpy(slot->path, b->path, MAXPGPATH);
	memcpy(slot->ios, b->ios, sizeof(PguIoDesc) * b->nios);
	memcpy(slot->blocks, b->data, sizeof(char *) * b->nblocks);

	b->generation = pgu_slot_enqueue(slot, &accepted);
	/* not accepted (the worker stopped): end the claims now, core reads them */
	if (!accepted)
		batch_end_claims(b, true);
	window_append(s, b);
}

/* Start a new batch for a segment file, making room in the window first. */
static void
start_batch(PguStream *s, const char *path)
{
	PguBatch   *b;

	/*
	 * Complete whatever is already done, without waiting.  Not prefetches:
	 * a prefetch is "done" as soon as the kernel has started reading, so
	 * it stays in the window until the window is full; that window is the
	 * prefetch distance.
	 */
	while (s->head != NULL && batch_is_done(s->head) && s->op != PGU_OP_PREFETCH)
		complete_oldest(s);

	/*
	 * Window full: drain to half, so that refills come in bursts.  Sleep
	 * only on the last batch that has to complete (the worker completes
	 * roughly in order), so that the worker wakes us once per drain rather
	 * than once per batch.
	 */
	if (s->inflight >= s->max_inflight)
	{
		PguBatch   *target = s->head;
		int			k;

		for (k = 1; k < s->inflight - s->max_inflight / 2 && target->next; k++)
			target = target->next;
		(void) batch_wait(s, target);
		while (s->head != NULL && s->inflight > s->max_inflight / 2)
			complete_oldest(s);
	}

	b = batch_get(s);
	strlcpy(b->path, path, MAXPGPATH);
	s->cur = b;					/* linked: an ERROR below must not lose it */
	if (s->use_ring)
	{
		/*
		 * A free slot, or else our own oldest completion, while we hold
		 * slots: never sleep on the shared queue while holding any.  (A
		 * window of batches served here, without a slot, frees none.)
		 */
		while (s->slots_held > 0 && s->head != NULL &&
			   (b->slot = pgu_slot_alloc(0, NULL)) == NULL)
		{
			pgu_count(PGU_PATH_RING, PGU_C_QUEUE_FULL_WAITS, 1);
			complete_oldest(s);
		}

		/*
		 * No slot of ours, and the current batch was submitted: we hold no
		 * buffer state (see pgu_stream_reserve), so we may sleep, for
		 * pg_uring.queue_wait_timeout at most.  The holders of the slots may
		 * not be moving (blocked on their clients, say): once a wait ran
		 * out, this stream no longer waits, it takes a slot only when one is
		 * free; and for PGU_QUEUE_BACKOFF_MS the streams this backend starts
		 * do not wait either (a verify of many relations would else wait
		 * once per fork).
		 */
		if (b->slot == NULL)
		{
			bool		timed_out = false;

			if (s->queue_starved)
			{
				b->slot = pgu_slot_alloc(0, NULL);
				if (b->slot != NULL)
					queue_backoff_until = 0;	/* the queue has room again */
			}
			else
				b->slot = pgu_slot_alloc(pgu_queue_wait_timeout, &timed_out);
			if (timed_out)
			{
				s->queue_starved = true;
				queue_backoff_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																  PGU_QUEUE_BACKOFF_MS);
				pgu_count(PGU_PATH_RING, PGU_C_QUEUE_WAIT_TIMEOUTS, 1);
			}
		}
		if (b->slot != NULL)
			s->slots_held++;
		/* no slot: no worker, a cancel, or none free: served here */
		if (b->slot == NULL && s->local_staging == NULL)
			local_staging_alloc(s);
	}
}

/*
 * Make sure the next pgu_stream_add() for path cannot sleep on the shared
 * queue, and that no more than max_pending blocks are in flight or in the
 * current batch before it.  Callers that pin, lock or take I/O on a buffer
 * for each block call this first, holding nothing: it may complete batches
 * (running their callbacks) and sleep for a slot.
 */
void
pgu_stream_reserve(PguStream *s, const char *path, int max_pending)
{
	max_pending = Max(max_pending, 1);
	while (s->pending >= max_pending && (s->cur != NULL || s->head != NULL))
	{
		if (s->cur != NULL && s->cur->nblocks > 0)
			submit_current(s);
		else if (s->head != NULL)
			complete_oldest(s);
		else
			break;
	}
	if (s->cur != NULL && s->cur->nblocks == 0)
		strlcpy(s->cur->path, path, MAXPGPATH);	/* empty: just retarget it */
	else if (s->cur != NULL &&
			 (s->cur->nblocks == PGU_SLOT_BLOCKS || strcmp(s->cur->path, path) != 0))
		submit_current(s);
	if (s->cur == NULL)
		start_batch(s, path);
}

/*
 * Add one block.  dest is where a read should be copied once it completed
 * (NULL: leave it in staging); for writes it is ignored.  Returns where the
 * data will be (reads) or where the caller must put the page image
 * (writes): staging memory, valid until the batch's callback returned.
 */
char *
pgu_stream_add(PguStream *s, const char *path, BlockNumber segblock,
			   BlockNumber blkno, char *dest, void *block_arg)
{
	PguBatch   *b;
	int			i;

	pgu_stream_reserve(s, path, INT_MAX);

	b = s->cur;
	i = b->nblocks++;
	s->pending++;
	b->segblock[i] = segblock;
	b->blkno[i] = blkno;
	b->arg[i] = block_arg;
	b->dest[i] = s->op == PGU_OP_READ ? dest : NULL;
	b->data[i] = (b->slot ? b->slot->staging : s->local_staging) + (Size) i * BLCKSZ;

	/*
	 * A full batch of reads or prefetches goes out at once, so the worker can start on it.
	 * Writes wait for the next call: the caller still has to fill the page.
	 */
	if (b->nblocks == PGU_SLOT_BLOCKS && s->op != PGU_OP_WRITE)
		submit_current(s);

	(void) pgu_stream_interrupted(s);
	return b->data[i];
}

/*
 * Make this read stream one that reads into claimed shared buffers
 * (zero-copy, see buffers.c): blocks are added with
 * pgu_stream_add_claimed only.  Call it right after pgu_stream_begin.
 */
void
pgu_stream_claims(PguStream *s)
{
	Assert(s->op == PGU_OP_READ && s->cur == NULL && s->head == NULL);
	s->claims = true;
}

/*
 * Make room for a whole claiming batch of up to PGU_SLOT_BLOCKS blocks of
 * path: afterwards fewer than max_batches batches are in flight (the
 * caller bounds its pins so), and the current batch is empty and has its
 * slot (or will be served here).  Call it holding no claim that has not
 * been submitted; it may complete batches and sleep for a slot.
 */
void
pgu_stream_reserve_batch(PguStream *s, const char *path, int max_batches)
{
	Assert(s->claims);
	Assert(s->cur == NULL || s->cur->nblocks == 0);
	while (s->inflight >= Max(max_batches, 1) && s->head != NULL)
		complete_oldest(s);
	pgu_stream_reserve(s, path, INT_MAX);
	Assert(s->cur != NULL && s->cur->nblocks == 0);
}

/*
 * Add a claimed buffer's block to the current batch (pgu_stream_reserve_batch
 * made room): the read lands in page, the buffer's page.  Never sleeps and
 * never submits; the caller submits (pgu_stream_submit) as soon as the
 * group's claims are added.
 */
void
pgu_stream_add_claimed(PguStream *s, BlockNumber segblock, BlockNumber blkno,
					   char *page, Buffer buf, void *block_arg)
{
	PguBatch   *b = s->cur;
	int			i;

	Assert(s->claims && b != NULL && b->nblocks < PGU_SLOT_BLOCKS);
	i = b->nblocks++;
	s->pending++;
	b->claims = true;
	b->segblock[i] = segblock;
	b->blkno[i] = blkno;
	b->arg[i] = block_arg;
	b->dest[i] = NULL;
	b->data[i] = page;
	b->buf[i] = buf;
}

/* Submit the current batch, if it has blocks. */
void
pgu_stream_submit(PguStream *s)
{
	if (s->cur != NULL && s->cur->nblocks > 0)
		submit_current(s);
}

/*
 * Submit what is pending and complete everything in flight, callbacks
 * included.  Afterwards this stream holds no I/O.
 */
void
pgu_stream_drain(PguStream *s)
{
	if (s->cur != NULL)
	{
		if (s->cur->nblocks > 0)
			submit_current(s);
		else
		{
			batch_put(s, s->cur);
			s->cur = NULL;
		}
	}
	/* one wakeup for the lot: sleep on the newest batch first */
	if (s->tail != NULL)
		(void) batch_wait(s, s->tail);
	while (s->head != NULL)
		complete_oldest(s);
}

/*
 * Submit what is left, wait for everything, free the stream and resume
 * interrupts.  Returns whether the postmaster died meanwhile.
 */
static bool
stream_finish(PguStream *s)
{
	bool		postmaster_dead;

	pgu_stream_drain(s);
	if (s->sync_fd >= 0)
		CloseTransientFile(s->sync_fd);
	s->sync_fd = -1;
	postmaster_dead = s->postmaster_dead;
	stream_unlink(s);
	stream_free(s);
	RESUME_INTERRUPTS();
	return postmaster_dead;
}

/* Service what stream_finish left pending: postmaster death, cancel. */
static void
after_stream(bool postmaster_dead)
{
	if (postmaster_dead)
		ereport(FATAL,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("terminating connection due to unexpected postmaster exit")));
	CHECK_FOR_INTERRUPTS();
}

/* Submit what is left, wait for everything, and resume interrupts. */
void
pgu_stream_end(PguStream *s)
{
	after_stream(stream_finish(s));
}

/*
 * Wait until no I/O of this stream is in flight (reads: at most
 * PGU_GIVE_UP_MS in all, then abandoned), then give back its slots.  No
 * callbacks run.
 */
static void
stream_abort(PguStream *s)
{
	start_giving_up(s);
	if (s->completing != NULL)
	{
		/* its I/O is over (a batch is completed only once it is done) */
		batch_end_claims(s->completing, true);
		batch_put(s, s->completing);
		s->completing = NULL;
	}
	while (s->head != NULL)
	{
		PguBatch   *b = s->head;

		/* claiming batches are waited for until the worker completed them */
		(void) batch_wait(s, b);
		batch_end_claims(b, true);	/* if not served (ESHUTDOWN) */
		s->head = b->next;
		batch_put(s, b);
	}
	s->tail = NULL;
	s->inflight = 0;
	s->pending = 0;
	if (s->cur != NULL)
	{
		batch_end_claims(s->cur, true); /* not submitted: nothing was read */
		batch_put(s, s->cur);
		s->cur = NULL;
	}
	/* transient files are closed by the abort itself */
	s->sync_fd = -1;
}

/*
 * After an ERROR: wait until no I/O of this stream is in flight, give back
 * its slots, and resume interrupts.  The caller then undoes what it holds.
 */
void
pgu_stream_abort(PguStream *s)
{
	/* errfinish() zeroed the holdoff count before we got here: balance */
	HOLD_INTERRUPTS();
	stream_abort(s);
	stream_unlink(s);
	stream_free(s);
	RESUME_INTERRUPTS();
}

/*
 * Feed a stream and end it.  On an ERROR (or exit), wait until none of its
 * I/O is in flight, then call undo (the caller's cleanup of buffer state it
 * holds, such as write I/O), then re-throw.
 */
void
pgu_stream_run(PguStream *s, PguFeedFunction feed, void *arg, void (*undo) (void))
{
	bool		postmaster_dead;

	s->undo = undo;
	PG_TRY();
	{
		feed(s, arg);
		postmaster_dead = stream_finish(s);
	}
	PG_CATCH();
	{
		pgu_stream_abort(s);
		if (undo)
			undo();
		PG_RE_THROW();
	}
	PG_END_TRY();
	after_stream(postmaster_dead);
}

/* Number of blocks in a batch. */
int
pgu_batch_nblocks(PguBatch *b)
{
	return b->nblocks;
}

/* The caller's argument for block i. */
void *
pgu_batch_block_arg(PguBatch *b, int i)
{
	return b->arg[i];
}

/* Where block i's data is. */
char *
pgu_batch_block_data(PguBatch *b, int i)
{
	return b->data[i];
}

/* Claiming batches: did block i's buffer become valid by our read? */
bool
pgu_batch_claim_valid(PguBatch *b, int i)
{
	return b->claims && (b->claims_valid & ((uint32) 1 << i)) != 0;
}

/* Relation block number of block i. */
BlockNumber
pgu_batch_block_number(PguBatch *b, int i)
{
	return b->blkno[i];
}

/*
 * Did closing the batch's file after writing fail (-errno, or 0)?  Then
 * every block of the batch also failed with that error.
 */
int
pgu_batch_close_error(PguBatch *b)
{
	return b->close_error;
}

/* Segment file path of a batch. */
const char *
pgu_batch_path(PguBatch *b)
{
	return b->path;
}

/* Find the I/O that carried block i. */
static PguIoDesc *
batch_io_of(PguBatch *b, int i)
{
	int			k;

	for (k = 0; k < b->nios; k++)
		if (i >= b->ios[k].first && i < b->ios[k].first + b->ios[k].nblocks)
			return &b->ios[k];
	return NULL;
}

/* Outcome of block i: error, short, or complete. */
PguBlockResult
pgu_batch_block_result(PguBatch *b, int i)
{
	PguBlockResult r = {0, BLCKSZ};
	PguIoDesc  *io = batch_io_of(b, i);
	int64		start;

	if (io == NULL)
	{
		r.err = -EIO;
		r.bytes = 0;
		return r;
	}
	start = (int64) (i - io->first) * BLCKSZ;
	if (io->result < 0)
	{
		r.err = io->result;
		r.bytes = 0;
	}
	else if (io->result < start + BLCKSZ)
	{
		r.err = -ENODATA;
		r.bytes = io->result > start ? io->result - start : 0;
	}
	return r;
}

/* Report a failed block at elevel, naming the file and the I/O's range. */
void
pgu_batch_report(PguBatch *b, int i, int elevel)
{
	PguBlockResult r = pgu_batch_block_result(b, i);
	PguIoDesc  *io = batch_io_of(b, i);
	bool		write = b->op == PGU_OP_WRITE;
	BlockNumber first = io ? b->blkno[io->first] : b->blkno[i];
	BlockNumber last = io ? b->blkno[io->first + io->nblocks - 1] : b->blkno[i];

	if (r.err == 0)
		return;
	if (r.err == -ENODATA && write)
		ereport(elevel,
				(errcode(ERRCODE_DISK_FULL),
				 errmsg("could not write block %u in file \"%s\": wrote only %u of %d bytes",
						b->blkno[i], b->path, r.bytes, BLCKSZ),
				 errdetail("The failed I/O covered blocks %u to %u.", first, last),
				 errhint("Check free disk space.")));
	else if (r.err == -ENODATA)
		ereport(elevel,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not read block %u in file \"%s\": read only %u of %d bytes",
						b->blkno[i], b->path, r.bytes, BLCKSZ),
				 errdetail("The failed I/O covered blocks %u to %u.", first, last)));
	else if (r.err == -ESHUTDOWN || r.err == -ECANCELED)
	{
		/* not an error of the file: the request was not served */
		if (write)
			ereport(elevel,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not write block %u in file \"%s\": the pg_uring ring worker did not complete the request",
							b->blkno[i], b->path),
					 errdetail("The request covered blocks %u to %u.", first, last),
					 errhint("Check the server log for why the ring worker stopped; the call can be repeated.")));
		else
			ereport(elevel,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("could not read block %u in file \"%s\": the pg_uring ring worker did not complete the request",
							b->blkno[i], b->path),
					 errdetail("The request covered blocks %u to %u.", first, last),
					 errhint("Check the server log for why the ring worker stopped; the call can be repeated.")));
	}
	else
	{
		errno = -r.err;
		if (write)
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not write block %u in file \"%s\": %m",
							b->blkno[i], b->path),
					 errdetail("The failed I/O covered blocks %u to %u.", first, last)));
		else
			ereport(elevel,
					(errcode_for_file_access(),
					 errmsg("could not read block %u in file \"%s\": %m",
							b->blkno[i], b->path),
					 errdetail("The failed I/O covered blocks %u to %u.", first, last)));
	}
}
