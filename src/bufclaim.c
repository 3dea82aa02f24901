/*-------------------------------------------------------------------------
 *
 * bufclaim.c
 *	  Claim shared buffers before a read lands in them, and release them
 *	  after, without ever letting a zeroed or stale page become visible.
 *
 * A claim turns an uncached block's buffer into the state core gives a
 * buffer whose read is in progress: tag valid, BM_VALID clear,
 * BM_IO_IN_PROGRESS set, pinned by us.  Any other backend that wants the
 * block then waits on the buffer's I/O condition variable (WaitIO), exactly
 * as it would for a read by core, and takes over the read itself if ours
 * fails.  No content lock is held while the I/O is in flight, so neither
 * MAX_SIMUL_LWLOCKS nor lock ordering limits how many claims we hold.
 *
 * PostgreSQL 15 does not export StartBufferIO, so a claim is built from
 * ReadBufferExtended(RBM_ZERO_AND_LOCK): for an uncached block bufmgr
 * allocates the buffer, zeroes it and takes its content lock before it
 * sets BM_VALID.  Holding that lock, we check under the buffer header lock
 * that nobody else has pinned it yet; then we clear BM_VALID, set
 * BM_IO_IN_PROGRESS, and release the content lock.  If somebody did pin it
 * in that instant (they passed the validity check, and are now waiting for
 * the content lock), we must not invalidate it under them: we read the
 * block synchronously into the buffer right there, with the content lock
 * held, as core would have.  Code that reads a pinned page without the
 * content lock could see the zeroes in that instant; the startup process
 * does (XLogReadBufferExtended), so claims are never made during recovery
 * (see prewarm.c).
 *
 * Finishing a claim: on success BM_VALID is set and BM_IO_IN_PROGRESS
 * cleared in one header update, then waiters are woken; on failure
 * BM_IO_IN_PROGRESS is cleared and BM_IO_ERROR set with BM_VALID still
 * clear, so the next reader reads the block itself.
 *
 * Every claim is recorded here until finished, so that an ERROR (the
 * caller's PG_CATCH) or process exit can finish the leftovers as failed;
 * core's AbortBufferIO does not know about our I/O.  Callers must wait for
 * in-flight I/O into claimed buffers before calling pgu_claim_abort_all().
 *
 * Blocks already cached are skipped: pgu_buffer_is_cached() looks the tag
 * up under the buffer mapping partition lock, so hot pages are never
 * locked by us.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/instrument.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/smgr.h"
#include "storage/bufpage.h"
#include "utils/memutils.h"

#include "bufclaim.h"
#include "compat.h"

/* I/Os on shared buffers that this backend started and has not ended. */
typedef struct HeldIo
{
	Buffer		buf;
	bool		write;
} HeldIo;

static HeldIo *claims = NULL;
static int	nclaims = 0;
static int	maxclaims = 0;
static bool exit_hook_registered = false;

/* Process exit: fail whatever claim is left so no buffer stays in I/O. */
static void
claim_exit_hook(int code, Datum arg)
{
	pgu_claim_abort_all();
}

/* Remember an I/O we hold on a buffer. */
static void
claim_remember(Buffer buf, bool write)
{
	if (!exit_hook_registered)
	{
		before_shmem_exit(claim_exit_hook, (Datum) 0);
		exit_hook_registered = true;
	}
	if (nclaims == maxclaims)
	{
		int			newmax = Max(64, maxclaims * 2);

		if (claims == NULL)
			claims = MemoryContextAlloc(TopMemoryContext, sizeof(HeldIo) * newmax);
		else
			claims = repalloc(claims, sizeof(HeldIo) * newmax);
		maxclaims = newmax;
	}
	claims[nclaims].buf = buf;
	claims[nclaims].write = write;
	nclaims++;
}

/* Forget a claim. */
static void
claim_forget(Buffer buf)
{
	int			i;

	for (i = nclaims - 1; i >= 0; i--)
	{
		if (claims[i].buf == buf)
		{
			claims[i] = claims[--nclaims];
			return;
		}
	}
	elog(ERROR, "pg_uring: buffer %d is not claimed", buf);
}

/* Is the block in shared buffers (valid or being read)?  No pin is taken. */
bool
pgu_buffer_is_cached(Relation rel, ForkNumber fork, BlockNumber blkno)
{
	BufferTag	tag;
	uint32		hash;
	LWLock	   *partition;
	int			buf_id;

	INIT_BUFFERTAG(tag, PGU_REL_LOCATOR(rel), fork, blkno);
	hash = BufTableHashCode(&tag);
	partition = BufMappingPartitionLock(hash);
	LWLockAcquire(partition, LW_SHARED);
	buf_id = BufTableLookup(&tag, hash);
	LWLockRelease(partition);
	return buf_id >= 0;
}

/*
 * Claim the buffer of an uncached block for a read: returns it pinned and
 * in I/O-in-progress state, ready to be filled.  Returns InvalidBuffer if
 * there is nothing to do: the block was cached after all, or somebody else
 * pinned it in the instant it was valid and we filled it synchronously.
 */
Buffer
pgu_claim_buffer(Relation rel, ForkNumber fork, BlockNumber blkno)
{
	int64		hits = pgBufferUsage.shared_blks_hit;
	Buffer		buf;
	BufferDesc *desc;
	uint32		state;

	buf = ReadBufferExtended(rel, fork, blkno, RBM_ZERO_AND_LOCK, NULL);
	if (pgBufferUsage.shared_blks_hit != hits)
	{
		/* found: its contents are valid and untouched */
		UnlockReleaseBuffer(buf);
		return InvalidBuffer;
	}

	desc = GetBufferDescriptor(buf - 1);
	state = LockBufHdr(desc);
	if (BUF_STATE_GET_REFCOUNT(state) == 1 &&
		(state & (BM_DIRTY | BM_IO_IN_PROGRESS)) == 0)
	{
		state &= ~(BM_VALID | BM_IO_ERROR);
		state |= BM_IO_IN_PROGRESS;
		UnlockBufHdr(desc, state);
		LockBuffer(buf, BUFFER_LOCK_UNLOCK);
		claim_remember(buf, false);
		return buf;
	}
	UnlockBufHdr(desc, state);

	/*
	 * Somebody pinned the zeroed page while it was marked valid and now waits
	 * for our content lock.  Read it the way core would, under that lock; if
	 * the read fails, smgrread's ERROR leaves the page zeroed, as core's own
	 * RBM_ZERO_AND_LOCK callers would.
	 */
	smgrread(RelationGetSmgr(rel), fork, blkno, (char *) BufferGetPage(buf));
	if (!PageIsVerifiedExtended(BufferGetPage(buf), blkno,
								PIV_LOG_WARNING | PIV_REPORT_STAT))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("invalid page in block %u of relation %s",
						blkno, relpath(RelationGetSmgr(rel)->smgr_rnode, fork))));
	UnlockReleaseBuffer(buf);
	return InvalidBuffer;
}

/* End the I/O state of a claimed buffer and wake whoever waits for it. */
static void
claim_terminate(Buffer buf, bool valid)
{
	BufferDesc *desc = GetBufferDescriptor(buf - 1);
	uint32		state;

	state = LockBufHdr(desc);
	Assert(state & BM_IO_IN_PROGRESS);
	state &= ~BM_IO_IN_PROGRESS;
	if (valid)
		state |= BM_VALID;
	else
		state |= BM_IO_ERROR;
	UnlockBufHdr(desc, state);
	ConditionVariableBroadcast(BufferDescriptorGetIOCV(desc));
}

/*
 * End a write we started: the buffer becomes clean only if the write
 * succeeded and nobody dirtied the page since we copied it (as core's
 * TerminateBufferIO with clear_dirty).  Returns true if it is now clean.
 */
static bool
write_terminate(Buffer buf, bool ok)
{
	BufferDesc *desc = GetBufferDescriptor(buf - 1);
	uint32		state;
	bool		clean = false;

	state = LockBufHdr(desc);
	Assert(state & BM_IO_IN_PROGRESS);
	state &= ~BM_IO_IN_PROGRESS;
	if (ok && !(state & BM_JUST_DIRTIED))
	{
		state &= ~(BM_DIRTY | BM_CHECKPOINT_NEEDED);
		clean = true;
	}
	if (!ok)
		state |= BM_IO_ERROR;
	else
		state &= ~BM_IO_ERROR;
	UnlockBufHdr(desc, state);
	ConditionVariableBroadcast(BufferDescriptorGetIOCV(desc));
	return clean;
}

/*
 * Start writing a pinned buffer, as FlushBuffer does: take its I/O (skip
 * it, returning false, if it is not dirty or somebody else's I/O is in
 * progress), clear BM_JUST_DIRTIED and return the page LSN.  The caller
 * holds the buffer's content lock in share mode, so the LSN is stable.
 */
bool
pgu_write_start(Buffer buf, XLogRecPtr *lsn, bool *permanent)
{
	BufferDesc *desc = GetBufferDescriptor(buf - 1);
	uint32		state;

	state = LockBufHdr(desc);
	if ((state & (BM_VALID | BM_DIRTY)) != (BM_VALID | BM_DIRTY) ||
		(state & BM_IO_IN_PROGRESS))
	{
		UnlockBufHdr(desc, state);
		return false;
	}
	state |= BM_IO_IN_PROGRESS;
	state &= ~BM_JUST_DIRTIED;
	*lsn = PageGetLSN(BufferGetPage(buf));
	*permanent = (state & BM_PERMANENT) != 0;
	UnlockBufHdr(desc, state);
	claim_remember(buf, true);
	return true;
}

/*
 * Finish a write started by pgu_write_start.  ok = false leaves the buffer
 * dirty.  Returns true if the buffer is clean now.  Keeps the pin.
 */
bool
pgu_write_finish(Buffer buf, bool ok)
{
	claim_forget(buf);
	return write_terminate(buf, ok);
}

/*
 * Drop a clean, unpinned buffer of the given tag from shared buffers, as
 * core's InvalidateBuffer does.  Returns false (and leaves the buffer
 * alone) if it is pinned, dirty, in I/O, or holds another block by now.
 */
bool
pgu_buffer_evict(int buf_id, const BufferTag *expected)
{
	BufferDesc *desc = GetBufferDescriptor(buf_id);
	BufferTag	tag = *expected;
	uint32		hash = BufTableHashCode(&tag);
	LWLock	   *partition = BufMappingPartitionLock(hash);
	uint32		state;

	LWLockAcquire(partition, LW_EXCLUSIVE);
	state = LockBufHdr(desc);
	if (!BUFFERTAGS_EQUAL(desc->tag, tag) ||
		!(state & BM_TAG_VALID) ||
		BUF_STATE_GET_REFCOUNT(state) != 0 ||
		(state & (BM_DIRTY | BM_IO_IN_PROGRESS)) != 0)
	{
		UnlockBufHdr(desc, state);
		LWLockRelease(partition);
		return false;
	}
	CLEAR_BUFFERTAG(desc->tag);
	state &= ~(BUF_FLAG_MASK | BUF_USAGECOUNT_MASK);
	UnlockBufHdr(desc, state);
	BufTableDelete(&tag, hash);
	LWLockRelease(partition);
	StrategyFreeBuffer(desc);
	return true;
}

/*
 * Finish a claim.  valid = true: the page is fully read and verified.
 * valid = false: it is not; the buffer stays invalid for the next reader.
 */
void
pgu_claim_finish(Buffer buf, bool valid)
{
	claim_forget(buf);
	if (!valid)
		MemSet(BufferGetPage(buf), 0, BLCKSZ);
	claim_terminate(buf, valid);
	ReleaseBuffer(buf);
}

/*
 * Fail every unfinished claim and write (after an ERROR, or at exit):
 * reads leave the buffer invalid, writes leave it dirty.  The pins are
 * left to the resource owner of the aborting transaction.  Callers make
 * sure first that none of these I/Os is still in flight.
 */
void
pgu_claim_abort_all(void)
{
	while (nclaims > 0)
	{
		HeldIo		io = claims[--nclaims];

		if (io.write)
			(void) write_terminate(io.buf, false);
		else
			claim_terminate(io.buf, false);
	}
}
