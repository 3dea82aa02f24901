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
 * held, as core would have.
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
#include "utils/memutils.h"

#include "bufclaim.h"
#include "compat.h"

/* Claims of this backend that are not finished yet. */
static Buffer *claims = NULL;
static int	nclaims = 0;
static int	maxclaims = 0;
static bool exit_hook_registered = false;

/* Process exit: fail whatever claim is left so no buffer stays in I/O. */
static void
claim_exit_hook(int code, Datum arg)
{
	pgu_claim_abort_all();
}

/* Remember a claim. */
static void
claim_remember(Buffer buf)
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
			claims = MemoryContextAlloc(TopMemoryContext, sizeof(Buffer) * newmax);
		else
			claims = repalloc(claims, sizeof(Buffer) * newmax);
		maxclaims = newmax;
	}
	claims[nclaims++] = buf;
}

/* Forget a claim. */
static void
claim_forget(Buffer buf)
{
	int			i;

	for (i = nclaims - 1; i >= 0; i--)
	{
		if (claims[i] == buf)
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
		claim_remember(buf);
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
 * Fail every unfinished claim (after an ERROR, or at exit).  The pins are
 * left to the resource owner of the aborting transaction.
 */
void
pgu_claim_abort_all(void)
{
	while (nclaims > 0)
	{
		Buffer		buf = claims[--nclaims];

		claim_terminate(buf, false);
	}
}
