/*-------------------------------------------------------------------------
 *
 * buffers.c
 *	  pg_uring's one module of buffer-manager internals: write I/O state on
 *	  shared buffers, collecting and evicting a relation's buffers, the
 *	  buffer-mapping look-ups of prewarm and verify.
 *
 * Reads claim buffers only on PostgreSQL 17 (zero-copy reads, see the
 * comment above pgu_buf_group_begin).  On 15 a claim cannot be built
 * without a window in which a zeroed page is valid (see docs/design.md),
 * so pages enter shared buffers only through core's ReadBufferExtended;
 * on 18, StartReadBuffers starts core's own AIO on the buffers it pins,
 * so pg_uring uses core's read path there too.
 *
 * Writes take the buffer's I/O state the way FlushBuffer does: while we
 * hold BM_IO_IN_PROGRESS nobody else writes the block (the checkpointer,
 * the bgwriter and other backends wait in WaitIO), and BM_DIRTY is cleared
 * only after a full write, and only if nobody dirtied the page meanwhile
 * (BM_JUST_DIRTIED).
 *
 * Per major version (the only place that differs; see write_io_begin and
 * write_io_end):
 *	- 15: StartBufferIO/TerminateBufferIO are static in bufmgr.c, and core
 *	  tracks one I/O per backend (InProgressBuf) that it aborts itself; ours
 *	  are replicas on the buffer header, tracked only by our own records.
 *	- 17: the same replicas, and each I/O is also remembered in the current
 *	  resource owner (ResourceOwnerRememberBufferIO, buf_internals.h), as
 *	  core's StartBufferIO does since 17.
 *	- 18: core's StartBufferIO and TerminateBufferIO are exported; we call
 *	  them (they remember the I/O in the current resource owner).
 * On 17 and 18 the resource owner is a backstop only: our undo
 * (pgu_buf_abort_writes, from pgu_stream_run's PG_CATCH or the exit hook)
 * runs before the transaction's resource owners are released, and it
 * forgets every I/O it ends, so core never ends one of ours.  Were a record
 * ever missed, core's AbortBufferIO would end that I/O as failed at
 * transaction end (the buffer stays dirty) instead of leaving it in
 * progress forever.
 *
 * Locking rules of this file:
 *	- buffer header spinlock (LockBufHdr): held for a few instructions, no
 *	  call that can fail or sleep inside it;
 *	- buffer mapping partition locks: shared for look-ups; exclusive only
 *	  in pgu_buf_evict, as InvalidateBuffer does; held across a read only
 *	  in pgu_buf_reread_uncached (see there why that is needed and bounded);
 *	- content locks: only taken conditionally here (pgu_buf_try_share_lock).
 *
 * Bookkeeping: every write I/O we start is recorded before the buffer
 * header changes (the record's memory is reserved first), so that an ERROR
 * or exit can always end it: the stream's undo (pgu_buf_abort_writes)
 * ends every recorded write as failed, after pageio has waited for every
 * in-flight I/O.  No buffer is ever left in I/O without a record.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

/* first: its guards refuse an untested major before anything else fails */
#include "compat.h"

#include <unistd.h>

#include "access/xlog.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "storage/bufpage.h"
#include "storage/condition_variable.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"

#include "buffers.h"
#include "checksum.h"
#include "pg_uring.h"

/*
 * Buffer tags.  PostgreSQL 16 replaced the tag's RelFileNode by its fields
 * and the tag macros by inline functions.
 */
#if PG_VERSION_NUM >= 160000
static inline void
tag_init(BufferTag *tag, const PguRelLocator *loc, ForkNumber fork, BlockNumber blkno)
{
	InitBufferTag(tag, loc, fork, blkno);
}

static inline bool
tag_matches_rel(const BufferTag *tag, const PguRelLocator *loc)
{
	return BufTagMatchesRelFileLocator(tag, loc);
}

static inline bool
tags_equal(const BufferTag *a, const BufferTag *b)
{
	return BufferTagsEqual(a, b);
}

static inline void
tag_clear(BufferTag *tag)
{
	ClearBufferTag(tag);
}

static inline ForkNumber
tag_fork(const BufferTag *tag)
{
	return BufTagGetForkNum(tag);
}

static inline void
entry_locator(const PguBlockEntry *e, PguRelLocator *loc)
{
	loc->spcOid = e->tablespace;
	loc->dbOid = e->database;
	loc->relNumber = e->filenode;
}

static inline void
tag_to_entry(const BufferTag *tag, PguBlockEntry *e)
{
	e->database = tag->dbOid;
	e->tablespace = tag->spcOid;
	e->filenode = BufTagGetRelNumber(tag);
	e->fork = BufTagGetForkNum(tag);
	e->block = tag->blockNum;
}
#else
static inline void
tag_init(BufferTag *tag, const PguRelLocator *loc, ForkNumber fork, BlockNumber blkno)
{
	INIT_BUFFERTAG(*tag, *loc, fork, blkno);
}

static inline bool
tag_matches_rel(const BufferTag *tag, const PguRelLocator *loc)
{
	return RelFileNodeEquals(tag->rnode, *loc);
}

static inline bool
tags_equal(const BufferTag *a, const BufferTag *b)
{
	return BUFFERTAGS_EQUAL(*a, *b);
}

static inline void
tag_clear(BufferTag *tag)
{
	CLEAR_BUFFERTAG(*tag);
}

static inline ForkNumber
tag_fork(const BufferTag *tag)
{
	return tag->forkNum;
}

static inline void
entry_locator(const PguBlockEntry *e, PguRelLocator *loc)
{
	loc->spcNode = e->tablespace;
	loc->dbNode = e->database;
	loc->relNode = e->filenode;
}

static inline void
tag_to_entry(const BufferTag *tag, PguBlockEntry *e)
{
	e->database = tag->rnode.dbNode;
	e->tablespace = tag->rnode.spcNode;
	e->filenode = tag->rnode.relNode;
	e->fork = tag->forkNum;
	e->block = tag->blockNum;
}
#endif

/*
 * Write I/Os this backend started and has not ended, with the resource
 * owner that remembers each (17 and later; NULL on 15).
 */
typedef struct WriteRecord
{
	Buffer		buf;
	ResourceOwner owner;
} WriteRecord;

static WriteRecord *writes = NULL;
static int	nwrites = 0;
static int	maxwrites = 0;

/* Is the tag's block in shared buffers (valid or being read)? */
static bool
tag_is_cached(const BufferTag *tag)
{
	uint32		hash;
	LWLock	   *partition;
	int			buf_id;

	hash = BufTableHashCode((BufferTag *) tag);
	partition = BufMappingPartitionLock(hash);
	LWLockAcquire(partition, LW_SHARED);
	buf_id = BufTableLookup((BufferTag *) tag, hash);
	LWLockRelease(partition);
	return buf_id >= 0;
}

/* Is a listed block in shared buffers (autoprewarm's standby restore)? */
bool
pgu_buf_entry_cached(const PguBlockEntry *e)
{
	BufferTag	tag;
	PguRelLocator loc;

	entry_locator(e, &loc);
	tag_init(&tag, &loc, e->fork, e->block);
	return tag_is_cached(&tag);
}

/* Is the block in shared buffers (valid or being read)?  No pin is taken. */
bool
pgu_buf_is_cached(Relation rel, ForkNumber fork, BlockNumber blkno)
{
	BufferTag	tag;
	PguRelLocator loc = PGU_REL_LOCATOR(rel);

	tag_init(&tag, &loc, fork, blkno);
	return tag_is_cached(&tag);
}

#if PG_VERSION_NUM >= 180000
/* we wait at once: with io_method = worker the backend reads it itself */
#define PGU_READ_BUFFERS_FLAGS	READ_BUFFERS_SYNCHRONOUSLY
#else
#define PGU_READ_BUFFERS_FLAGS	0
#endif

/*
 * Read blocks first .. first + nblocks - 1 of a relation fork into shared
 * buffers through core's read path, and release them; core verifies each
 * page and marks it valid (or raises its ERROR).  No buffer state of ours
 * is held across the call, so it may run with interrupts allowed.
 *
 *	- 15: one ReadBufferExtended(RBM_NORMAL) per block, as pg_prewarm does.
 *	- 17 and 18: StartReadBuffers/WaitReadBuffers, core's multi-block read
 *	  (one preadv of up to io_combine_limit blocks straight into the
 *	  buffers on 17; on 18 an AIO flagged READ_BUFFERS_SYNCHRONOUSLY, since
 *	  we wait for it at once: io_method = worker then reads in the backend
 *	  instead of handing the copy from the page cache to an I/O worker,
 *	  io_uring submits it through core's own ring).  It pins
 *	  the buffers of uncached blocks and reads them under core's own I/O
 *	  state, so a concurrent reader waits for core's read, never for us.
 *	  Runs are cut at this backend's share of shared buffers (pins held at
 *	  once), as core's own pin limits are computed.
 *	  A call may accept fewer blocks than asked (a cached block, somebody
 *	  else's I/O); on 18 the pins of the rest are handed forward for the
 *	  next call ("forwarded buffers"), which starts where this one ended.
 */
void
pgu_buf_read_run(Relation rel, ForkNumber fork, BlockNumber first, int nblocks)
{
#if PG_VERSION_NUM >= 170000
	Buffer		bufs[MAX_IO_COMBINE_LIMIT];
	int			limit = Min(io_combine_limit, MAX_IO_COMBINE_LIMIT);
	int			i;

	/* pins at once: no more than this backend's share, as core limits them */
	limit = Min(limit, NBuffers / (MaxBackends + NUM_AUXILIARY_PROCS));
	/* local buffers (our own temporary tables) have limits of their own */
	if (RelationUsesLocalBuffers(rel))
		limit = 1;
	limit = Max(limit, 1);

	for (i = 0; i < MAX_IO_COMBINE_LIMIT; i++)
		bufs[i] = InvalidBuffer;
	while (nblocks > 0)
	{
		ReadBuffersOperation op;
		int			want = Min(nblocks, limit);
		int			got = want;

		op.rel = rel;
		op.smgr = RelationGetSmgr(rel);
#if PG_VERSION_NUM >= 180000
		op.persistence = rel->rd_rel->relpersistence;
#else
		op.smgr_persistence = rel->rd_rel->relpersistence;
#endif
		op.forknum = fork;
		op.strategy = NULL;
		if (StartReadBuffers(&op, bufs, first, &got, PGU_READ_BUFFERS_FLAGS))
			WaitReadBuffers(&op);
		Assert(got >= 1 && got <= want);
		for (i = 0; i < got; i++)
			ReleaseBuffer(bufs[i]);
		/* forwarded pins (18) belong to the blocks right after: slide them */
		memmove(bufs, bufs + got, sizeof(Buffer) * (want - got));
		for (i = want - got; i < want; i++)
			bufs[i] = InvalidBuffer;
		first += got;
		nblocks -= got;
	}
#else
	for (; nblocks > 0; nblocks--, first++)
		ReleaseBuffer(ReadBufferExtended(rel, fork, first, RBM_NORMAL, NULL));
#endif
}

/*
 * Zero-copy reads (PostgreSQL 17).  A group is up to PGU_SLOT_BLOCKS pinned
 * buffers of one relation fork, pinned by core's StartReadBuffers, which
 * pins the buffers of uncached blocks without making them valid and
 * without starting their I/O (17 starts it only in WaitReadBuffers).  Of
 * those, the ones that are neither valid nor in somebody's I/O are claimed:
 * BM_IO_IN_PROGRESS is set under the header spinlock, exactly as core's
 * StartBufferIO(forInput) does, so a concurrent reader of the block waits
 * for the claim in WaitIO and never sees the buffer's contents, and nobody
 * can evict it (it is pinned).  The ring then reads into the buffer pages.
 *
 * A claim is ended by whoever completes its read, never by the resource
 * owner: the ring worker at the slot's completion, or the claiming backend
 * for a read it served itself, one the worker did not accept, or one it
 * took back off the queue before the worker saw it (pgu_buf_claim_end).  The page is judged first; only a fully read page
 * that passes becomes BM_VALID, anything else gets BM_IO_ERROR and stays
 * invalid, and the waiters are woken.  Claims are not remembered in any
 * resource owner, so an ERROR or exit cannot end one while its read may
 * still land; pageio waits for every claiming batch the worker has taken
 * (and takes back the ones it has not), then the pins go with the resource
 * owner.  A worker that cannot drain such reads before it exits PANICs.
 *
 * pgu_buf_group_finish then runs core's WaitReadBuffers on every pinned
 * run: it skips what is valid, waits for reads in progress elsewhere, and
 * reads again, through core with core's own checks, messages and
 * zero_damaged_pages, every block the ring did not make valid.  So a
 * failed, short or corrupt ring read costs one more read, never a visible
 * page.  WaitReadBuffers counts the blocks in pgBufferUsage; pg_stat_io
 * gets the ring's reads from us.
 */
#ifdef PGU_HAVE_ZERO_COPY
/* a group is one StartReadBuffers-sized run at most (its Asserts, its arrays) */
StaticAssertDecl(PGU_SLOT_BLOCKS <= MAX_IO_COMBINE_LIMIT,
				 "a zero-copy group must fit one StartReadBuffers call");

struct PguBufGroup
{
	Relation	rel;
	ForkNumber	fork;
	int			nbufs;
	int			nops;
	int			nclaims;
	Buffer		bufs[PGU_SLOT_BLOCKS];
	bool		need[PGU_SLOT_BLOCKS];	/* op needs WaitReadBuffers */
	ReadBuffersOperation ops[PGU_SLOT_BLOCKS];
	Buffer		claim_buf[PGU_SLOT_BLOCKS];
	BlockNumber claim_blkno[PGU_SLOT_BLOCKS];
};

/* An empty group for a relation fork (in CurrentMemoryContext). */
PguBufGroup *
pgu_buf_group_begin(Relation rel, ForkNumber fork)
{
	PguBufGroup *g = palloc0(sizeof(PguBufGroup));

	Assert(!RelationUsesLocalBuffers(rel));
	g->rel = rel;
	g->fork = fork;
	return g;
}

/*
 * Pin up to nblocks blocks from first on (one segment, at most the room
 * left): one StartReadBuffers, which may stop early at a cached block (then
 * pinned too).  Returns how many blocks were pinned.  May ERROR (no free
 * buffer, a failed write of a dirty victim): nothing is claimed yet then.
 */
int
pgu_buf_group_pin(PguBufGroup *g, BlockNumber first, int nblocks)
{
	ReadBuffersOperation *op = &g->ops[g->nops];
	int			got = Min(nblocks, PGU_SLOT_BLOCKS - g->nbufs);

	Assert(got > 0);
	op->rel = g->rel;
	op->smgr = RelationGetSmgr(g->rel);
	op->smgr_persistence = g->rel->rd_rel->relpersistence;
	op->forknum = g->fork;
	op->strategy = NULL;
	g->need[g->nops] = StartReadBuffers(op, &g->bufs[g->nbufs], first, &got, 0);
	Assert(got >= 1);
	g->nops++;
	g->nbufs += got;
	return got;
}

/* How many buffers the group has pinned. */
int
pgu_buf_group_size(PguBufGroup *g)
{
	return g->nbufs;
}

/*
 * The buffers of the group that core's WaitReadBuffers would read or wait
 * for (the I/O part of each run that needs it), and their block numbers;
 * returns how many (at most PGU_SLOT_BLOCKS).
 */
static int
group_io_buffers(PguBufGroup *g, Buffer *bufs, BlockNumber *blknos)
{
	int			n = 0;
	int			k;
	int			i;

	for (k = 0; k < g->nops; k++)
	{
		ReadBuffersOperation *op = &g->ops[k];

		if (!g->need[k])
			continue;
		for (i = 0; i < op->io_buffers_len; i++)
		{
			bufs[n] = op->buffers[i];
			blknos[n] = op->blocknum + i;
			n++;
		}
	}
	return n;
}

/*
 * Claim the pinned buffers that still need a read and that nobody else is
 * reading; returns how many.  Infallible: nothing between the header
 * changes can fail, so no claim is ever left without a record.
 */
int
pgu_buf_group_claim(PguBufGroup *g)
{
	Buffer		bufs[PGU_SLOT_BLOCKS];
	BlockNumber blknos[PGU_SLOT_BLOCKS];
	int			n = group_io_buffers(g, bufs, blknos);
	int			i;

	for (i = 0; i < n; i++)
	{
		BufferDesc *desc = GetBufferDescriptor(bufs[i] - 1);
		uint32		state = LockBufHdr(desc);

		if (!(state & (BM_VALID | BM_IO_IN_PROGRESS)))
		{
			state |= BM_IO_IN_PROGRESS;
			g->claim_buf[g->nclaims] = bufs[i];
			g->claim_blkno[g->nclaims] = blknos[i];
			g->nclaims++;
		}
		UnlockBufHdr(desc, state);
	}
	return g->nclaims;
}

/* Claimed buffer k of the group, and its block number. */
Buffer
pgu_buf_group_claimed(PguBufGroup *g, int k, BlockNumber *blkno)
{
	Assert(k >= 0 && k < g->nclaims);
	*blkno = g->claim_blkno[k];
	return g->claim_buf[k];
}

/*
 * Finish a group whose claims have all ended: if wait, let core complete
 * every pinned run (WaitReadBuffers: waits for others' reads, reads again
 * what the ring did not make valid); then drop the pins and free it.
 * nread: blocks the ring read into the group, for pg_stat_io.  With wait,
 * call it with interrupts allowed: core's read may send a WARNING.
 */
void
pgu_buf_group_finish(PguBufGroup *g, bool wait, int nread)
{
	int			k;

	if (wait)
	{
		for (k = 0; k < g->nops; k++)
			if (g->need[k])
				WaitReadBuffers(&g->ops[k]);
	}
	for (k = 0; k < g->nbufs; k++)
		ReleaseBuffer(g->bufs[k]);
	if (nread > 0)
		pgstat_count_io_op_n(IOOBJECT_RELATION, IOCONTEXT_NORMAL, IOOP_READ, nread);
	pfree(g);
}

/*
 * Has the ring made valid every buffer that core's WaitReadBuffers would
 * otherwise read or wait for?  They are pinned, so a valid one stays
 * valid.  If so, WaitReadBuffers has no I/O to do and nothing to report.
 */
bool
pgu_buf_group_all_valid(PguBufGroup *g)
{
	Buffer		bufs[PGU_SLOT_BLOCKS];
	BlockNumber blknos[PGU_SLOT_BLOCKS];
	int			n = group_io_buffers(g, bufs, blknos);
	int			i;

	for (i = 0; i < n; i++)
		if (!(pg_atomic_read_u32(&GetBufferDescriptor(bufs[i] - 1)->state) & BM_VALID))
			return false;
	return true;
}

/*
 * Drop the group's pins without core finishing it, and return its runs
 * that needed I/O (runs[]: at most PGU_SLOT_BLOCKS of them), for
 * the caller to have core read later, when it holds no other pins: core's
 * read of a bad page may send a WARNING to a client that does not read.
 */
int
pgu_buf_group_release(PguBufGroup *g, PguBlockRun *runs, int nread)
{
	int			n = 0;
	int			k;

	for (k = 0; k < g->nops; k++)
	{
		if (!g->need[k])
			continue;
		runs[n].first = g->ops[k].blocknum;
		runs[n].nblocks = g->ops[k].io_buffers_len;
		n++;
	}
	pgu_buf_group_finish(g, false, nread);
	return n;
}

/*
 * May a page read by the ring become valid?  Stricter than core's
 * PageIsVerifiedExtended, never looser: a rejected page is read again by
 * core, which then applies its own rules (ignore_checksum_failure,
 * zero_damaged_pages) and messages; nothing is logged here.
 */
static bool
claim_page_ok(Page page, BlockNumber blkno)
{
	PageHeader	ph = (PageHeader) page;
	int			i;

	if (PageIsNew(page))
	{
		for (i = 0; i < BLCKSZ / (int) sizeof(size_t); i++)
			if (((size_t *) page)[i] != 0)
				return false;
		return true;			/* all zeros: core accepts it too */
	}
	if (DataChecksumsEnabled() && pgu_checksum_page((char *) page, blkno) != ph->pd_checksum)
		return false;
	return (ph->pd_flags & ~PD_VALID_FLAG_BITS) == 0 &&
		ph->pd_lower >= SizeOfPageHeaderData &&
		ph->pd_lower <= ph->pd_upper &&
		ph->pd_upper <= ph->pd_special &&
		ph->pd_special <= BLCKSZ &&
		ph->pd_special == MAXALIGN(ph->pd_special);
}

/*
 * End a claim (any process: the ring worker, or the claimer): the buffer
 * becomes valid if read_ok and its page passes claim_page_ok, else it gets
 * BM_IO_ERROR and stays invalid; waiters in WaitIO are woken, as by core's
 * TerminateBufferIO.  Returns whether it became valid.
 */
bool
pgu_buf_claim_end(Buffer buf, BlockNumber blkno, bool read_ok)
{
	BufferDesc *desc = GetBufferDescriptor(buf - 1);
	bool		ok = read_ok && claim_page_ok((Page) BufferGetBlock(buf), blkno);
	uint32		state;

	state = LockBufHdr(desc);
	if (!(state & BM_IO_IN_PROGRESS) || (state & BM_VALID))
	{
		/* ended twice, or by the wrong party: stop before it spreads */
		UnlockBufHdr(desc, state);
		elog(PANIC, "zero-copy claim on buffer %d ended in state 0x%x", buf, state);
	}
	state &= ~(BM_IO_IN_PROGRESS | BM_IO_ERROR);
	state |= ok ? BM_VALID : BM_IO_ERROR;
	UnlockBufHdr(desc, state);
	ConditionVariableBroadcast(BufferDescriptorGetIOCV(desc));
	return ok;
}

/* The page of a pinned shared buffer (same address in every process). */
char *
pgu_buf_page(Buffer buf)
{
	return (char *) BufferGetBlock(buf);
}

#else							/* !PGU_HAVE_ZERO_COPY */

/*
 * 15 and 18: no zero-copy reads (see compat.h).  Nothing reaches these:
 * prewarm never takes the zero-copy path there and no slot carries
 * PGU_FLAG_CLAIMS; the entry point and the claim end refuse loudly if one
 * ever did.
 */
PguBufGroup *
pgu_buf_group_begin(Relation rel, ForkNumber fork)
{
	elog(ERROR, "zero-copy reads are not available on this PostgreSQL version");
	return NULL;				/* keep compiler quiet */
}

/* Not reached: see pgu_buf_group_begin. */
int
pgu_buf_group_pin(PguBufGroup *g, BlockNumber first, int nblocks)
{
	return 0;
}

/* Not reached: see pgu_buf_group_begin. */
int
pgu_buf_group_size(PguBufGroup *g)
{
	return 0;
}

/* Not reached: see pgu_buf_group_begin. */
int
pgu_buf_group_claim(PguBufGroup *g)
{
	return 0;
}

/* Not reached: see pgu_buf_group_begin. */
Buffer
pgu_buf_group_claimed(PguBufGroup *g, int k, BlockNumber *blkno)
{
	return InvalidBuffer;
}

/* Not reached: see pgu_buf_group_begin. */
void
pgu_buf_group_finish(PguBufGroup *g, bool wait, int nread)
{
}

/* Not reached: see pgu_buf_group_begin. */
bool
pgu_buf_group_all_valid(PguBufGroup *g)
{
	return true;
}

/* Not reached: see pgu_buf_group_begin. */
int
pgu_buf_group_release(PguBufGroup *g, PguBlockRun *runs, int nread)
{
	return 0;
}

/* Not reached: see pgu_buf_group_begin. */
char *
pgu_buf_page(Buffer buf)
{
	return NULL;
}

/* Not reached: no slot ever carries claims here. */
bool
pgu_buf_claim_end(Buffer buf, BlockNumber blkno, bool read_ok)
{
	elog(PANIC, "zero-copy claim on a PostgreSQL version without zero-copy reads");
	return false;
}
#endif							/* PGU_HAVE_ZERO_COPY */

/* Order refs by fork, then block. */
static int
ref_cmp(const void *a, const void *b)
{
	const PguBufRef *x = a;
	const PguBufRef *y = b;

	if (x->fork != y->fork)
		return x->fork < y->fork ? -1 : 1;
	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return 0;
}

/* The relation's valid shared buffers (all forks), sorted by fork and block. */
PguBufRef *
pgu_buf_collect(Relation rel, int *nrefs)
{
	PguRelLocator loc = PGU_REL_LOCATOR(rel);
	PguBufRef  *refs = NULL;
	int			n = 0;
	int			max = 0;
	int			i;

	for (i = 0; i < NBuffers; i++)
	{
		BufferDesc *desc = GetBufferDescriptor(i);
		uint32		state;

		/* unlocked precheck, as DropRelFileNodeBuffers does */
		if (!tag_matches_rel(&desc->tag, &loc))
			continue;

		if (n == max)
		{
			/* allocate before taking the header lock */
			max = Max(64, max * 2);
			refs = refs ? repalloc(refs, sizeof(PguBufRef) * max) :
				palloc(sizeof(PguBufRef) * max);
		}
		state = LockBufHdr(desc);
		if (tag_matches_rel(&desc->tag, &loc) && (state & BM_VALID))
		{
			refs[n].buf_id = i;
			refs[n].fork = tag_fork(&desc->tag);
			refs[n].block = desc->tag.blockNum;
			refs[n].dirty = (state & BM_DIRTY) != 0;
			n++;
		}
		UnlockBufHdr(desc, state);
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	if (n > 1)
		qsort(refs, n, sizeof(PguBufRef), ref_cmp);
	*nrefs = n;
	return refs;
}

/*
 * How many buffers hold a page now?  Read without the header locks: a
 * hint, for autoprewarm's restore to tell whether a dump fits.
 */
int
pgu_buf_count_in_use(void)
{
	int			i;
	int			n = 0;

	for (i = 0; i < NBuffers; i++)
	{
		BufferDesc *desc = GetBufferDescriptor(i);

		if (pg_atomic_read_u32(&desc->state) & BM_TAG_VALID)
			n++;
	}
	return n;
}

StaticAssertDecl(BM_MAX_USAGE_COUNT == PGU_BUF_MAX_USAGE,
				 "PGU_BUF_MAX_USAGE must match BM_MAX_USAGE_COUNT");

/*
 * Is a buffer on the free list?  Autoprewarm's restore stops when none is,
 * as contrib's does, rather than evict what it loaded.  No lock: a hint.
 */
bool
pgu_buf_have_free(void)
{
	return have_free_buffer();
}

/*
 * Every valid buffer of a permanent relation, with its usage count, into
 * entries (room for NBuffers); returns how many.  As contrib autoprewarm
 * lists them: each header is read under its spinlock, nothing is pinned,
 * and unlogged relations (reset by crash recovery) are left out.
 */
int
pgu_buf_list_all(PguBlockEntry *entries)
{
	int			n = 0;
	int			i;

	for (i = 0; i < NBuffers; i++)
	{
		BufferDesc *desc = GetBufferDescriptor(i);
		uint32		state = LockBufHdr(desc);

		if ((state & BM_TAG_VALID) && (state & BM_VALID) && (state & BM_PERMANENT))
		{
			tag_to_entry(&desc->tag, &entries[n]);
			entries[n].usage = BUF_STATE_GET_USAGECOUNT(state);
			n++;
		}
		UnlockBufHdr(desc, state);
	}
	return n;
}

/* Pin ref's buffer if it still holds that block; InvalidBuffer if not. */
Buffer
pgu_buf_pin_recent(Relation rel, const PguBufRef *ref)
{
	if (!ReadRecentBuffer(PGU_REL_LOCATOR(rel), ref->fork, ref->block,
						  ref->buf_id + 1))
		return InvalidBuffer;
	return ref->buf_id + 1;
}

/* Take a pinned buffer's content lock in share mode if it is free now. */
bool
pgu_buf_try_share_lock(Buffer buf)
{
	return LWLockConditionalAcquire(BufferDescriptorGetContentLock(GetBufferDescriptor(buf - 1)),
									LW_SHARED);
}

/* Is a pinned buffer dirty? */
bool
pgu_buf_is_dirty(Buffer buf)
{
	BufferDesc *desc = GetBufferDescriptor(buf - 1);
	uint32		state = LockBufHdr(desc);

	UnlockBufHdr(desc, state);
	return (state & BM_DIRTY) != 0;
}

/*
 * Make room to record one more write, so that recording it after the
 * buffer header changed cannot fail.  Called by pgu_buf_write_start;
 * exported so that callers can fail early, before they pin anything.
 */
void
pgu_buf_reserve_write(void)
{
	if (nwrites < maxwrites)
		return;
	if (writes == NULL)
	{
		writes = MemoryContextAlloc(TopMemoryContext, sizeof(WriteRecord) * 64);
		maxwrites = 64;
	}
	else
	{
		writes = repalloc(writes, sizeof(WriteRecord) * maxwrites * 2);
		maxwrites *= 2;
	}
}

/* Forget a recorded write; returns the resource owner that remembers it. */
static ResourceOwner
write_forget(Buffer buf)
{
	int			i;

	for (i = nwrites - 1; i >= 0; i--)
	{
		if (writes[i].buf == buf)
		{
			ResourceOwner owner = writes[i].owner;

			writes[i] = writes[--nwrites];
			return owner;
		}
	}
	elog(ERROR, "no write in progress on buffer %d", buf);
	return NULL;				/* keep compiler quiet */
}

#if PG_VERSION_NUM >= 180000

/*
 * PostgreSQL 18: core's StartBufferIO and TerminateBufferIO are exported
 * (buf_internals.h).
 *
 * StartBufferIO(nowait) takes the buffer's I/O, returning false if
 * somebody else's I/O is in progress (an AIO read included: it holds
 * BM_IO_IN_PROGRESS) or if the buffer is not dirty.  It enlarges and then
 * remembers in CurrentResourceOwner; we record that owner so that we can
 * forget the I/O from it when we end it, whatever the current owner is by
 * then.  Then, as FlushBuffer does, we clear BM_JUST_DIRTIED and read the
 * LSN under the header lock.
 */
static bool
write_io_begin(BufferDesc *desc, Buffer buf, XLogRecPtr *lsn, bool *permanent)
{
	ResourceOwner owner = CurrentResourceOwner;
	uint32		state;

	if (!StartBufferIO(desc, false, true))
		return false;
	/* infallible (reserved): nothing between the header change and this */
	writes[nwrites].buf = buf;
	writes[nwrites].owner = owner;
	nwrites++;

	state = LockBufHdr(desc);
	if (!(state & BM_VALID))
	{
		/* dirty but not valid cannot happen; never write such a page */
		UnlockBufHdr(desc, state);
		(void) write_forget(buf);
		TerminateBufferIO(desc, false, 0, false, false);
		ResourceOwnerForgetBufferIO(owner, buf);
		return false;
	}
	state &= ~BM_JUST_DIRTIED;
	*lsn = PageGetLSN(BufferGetPage(buf));
	*permanent = (state & BM_PERMANENT) != 0;
	UnlockBufHdr(desc, state);
	return true;
}

/*
 * End a write: TerminateBufferIO clears BM_DIRTY (and
 * BM_CHECKPOINT_NEEDED) only if clear_dirty and BM_JUST_DIRTIED is not set,
 * sets BM_IO_ERROR on failure (clears it on success), and wakes the
 * waiters.  forget_owner is false because we forget the I/O from the owner
 * that remembered it.  Returns whether the buffer is clean now (we still
 * hold our pin).
 */
static bool
write_io_end(BufferDesc *desc, Buffer buf, ResourceOwner owner, bool ok)
{
	uint32		state;

	TerminateBufferIO(desc, ok, ok ? 0 : BM_IO_ERROR, false, false);
	ResourceOwnerForgetBufferIO(owner, buf);
	if (!ok)
		return false;
	state = LockBufHdr(desc);
	UnlockBufHdr(desc, state);
	return (state & BM_DIRTY) == 0;
}

#else							/* 15 and 17 */

/*
 * PostgreSQL 15 and 17: StartBufferIO is static in bufmgr.c; this is its
 * nowait output case on the buffer header.  On 17 the I/O is remembered in
 * the current resource owner as core's does (enlarged before the header
 * changes, remembered after, which cannot fail then).
 */
static bool
write_io_begin(BufferDesc *desc, Buffer buf, XLogRecPtr *lsn, bool *permanent)
{
	ResourceOwner owner = NULL;
	uint32		state;

#if PG_VERSION_NUM >= 170000
	owner = CurrentResourceOwner;
	ResourceOwnerEnlarge(owner);
#endif

	state = LockBufHdr(desc);
	if ((state & (BM_VALID | BM_DIRTY)) != (BM_VALID | BM_DIRTY) ||
		(state & BM_IO_IN_PROGRESS))
	{
		UnlockBufHdr(desc, state);
		return false;
	}
	/* before the header change becomes visible; infallible (reserved) */
	writes[nwrites].buf = buf;
	writes[nwrites].owner = owner;
	nwrites++;
	state |= BM_IO_IN_PROGRESS;
	state &= ~BM_JUST_DIRTIED;
	*lsn = PageGetLSN(BufferGetPage(buf));
	*permanent = (state & BM_PERMANENT) != 0;
	UnlockBufHdr(desc, state);

#if PG_VERSION_NUM >= 170000
	ResourceOwnerRememberBufferIO(owner, buf);
#endif
	return true;
}

/*
 * End a write, as core's TerminateBufferIO with clear_dirty: the buffer
 * becomes clean only if the write succeeded and nobody dirtied the page
 * since we copied it.  Returns true if it is now clean.
 */
static bool
write_io_end(BufferDesc *desc, Buffer buf, ResourceOwner owner, bool ok)
{
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

#if PG_VERSION_NUM >= 170000
	ResourceOwnerForgetBufferIO(owner, buf);
#endif

	ConditionVariableBroadcast(BufferDescriptorGetIOCV(desc));
	return clean;
}

#endif							/* PG_VERSION_NUM >= 180000 */

/*
 * Start writing a pinned buffer, as FlushBuffer does: take its I/O (skip
 * it, returning false, if it is not dirty or somebody else's I/O is in
 * progress), clear BM_JUST_DIRTIED and return the page LSN.  The caller
 * holds the buffer's content lock in share mode, so the LSN is stable.
 */
bool
pgu_buf_write_start(Buffer buf, XLogRecPtr *lsn, bool *permanent)
{
	/* the record must be infallible once the header says I/O */
	pgu_buf_reserve_write();

	return write_io_begin(GetBufferDescriptor(buf - 1), buf, lsn, permanent);
}

/*
 * Finish a write started by pgu_buf_write_start.  ok = false leaves the
 * buffer dirty.  Returns true if the buffer is clean now.  Keeps the pin.
 */
bool
pgu_buf_write_finish(Buffer buf, bool ok)
{
	ResourceOwner owner = write_forget(buf);

	return write_io_end(GetBufferDescriptor(buf - 1), buf, owner, ok);
}

/*
 * End every unfinished write as failed (after an ERROR, or at exit): the
 * buffers stay dirty.  The pins are left to the resource owner of the
 * aborting transaction.  Callers make sure first that none of these
 * writes is still in flight (pgu_stream_abort), and run before the
 * resource owners are released (PG_CATCH, or a before_shmem_exit hook
 * that runs before ShutdownPostgres), so the owners are still intact.
 */
void
pgu_buf_abort_writes(void)
{
	while (nwrites > 0)
	{
		WriteRecord w = writes[--nwrites];

		(void) write_io_end(GetBufferDescriptor(w.buf - 1), w.buf, w.owner, false);
	}
}

/*
 * Drop a clean, unpinned buffer from shared buffers, as core's
 * InvalidateBuffer does.  Returns false (and leaves the buffer alone) if it
 * is pinned, dirty, in I/O, or holds another block by now.
 */
bool
pgu_buf_evict(Relation rel, const PguBufRef *ref)
{
	BufferDesc *desc = GetBufferDescriptor(ref->buf_id);
	BufferTag	tag;
	uint32		hash;
	LWLock	   *partition;
	uint32		state;
	PguRelLocator loc = PGU_REL_LOCATOR(rel);

	tag_init(&tag, &loc, ref->fork, ref->block);
	hash = BufTableHashCode(&tag);
	partition = BufMappingPartitionLock(hash);

	LWLockAcquire(partition, LW_EXCLUSIVE);
	state = LockBufHdr(desc);
	if (!tags_equal(&desc->tag, &tag) ||
		!(state & BM_TAG_VALID) ||
		BUF_STATE_GET_REFCOUNT(state) != 0 ||
		(state & (BM_DIRTY | BM_IO_IN_PROGRESS)) != 0)
	{
		UnlockBufHdr(desc, state);
		LWLockRelease(partition);
		return false;
	}
	tag_clear(&desc->tag);
	state &= ~(BUF_FLAG_MASK | BUF_USAGECOUNT_MASK);
	UnlockBufHdr(desc, state);
	BufTableDelete(&tag, hash);
	LWLockRelease(partition);
	StrategyFreeBuffer(desc);
	return true;
}

/*
 * How many buffers one stream may keep pinned: a fair share of shared
 * buffers, as core's pin limits (PostgreSQL 17's LimitAdditionalPins)
 * compute it, but at least a few so that small pools still make progress.
 */
int
pgu_buf_pin_limit(void)
{
	return Max(8, NBuffers / (MaxBackends + NUM_AUXILIARY_PROCS));
}

/* Does buffer buf_id hold a valid page?  Caller holds its mapping partition. */
static bool
buffer_is_valid(int buf_id)
{
	BufferDesc *desc = GetBufferDescriptor(buf_id);
	uint32		state = LockBufHdr(desc);

	UnlockBufHdr(desc, state);
	return (state & BM_VALID) != 0;
}

/*
 * Read a block from disk in a way that no concurrent write can tear, for
 * verify's confirmation of a failure.  If the block has a valid buffer,
 * that buffer is the current version and nothing is read (*cached = true).
 * Otherwise the block is read from fd at offset into page, while its
 * buffer-mapping partition lock is held in share mode; returns what
 * pg_pread returned (errno set on -1).
 *
 * Why the lock is needed: a block is written to its file only from a shared
 * buffer (or by a build that bypasses shared buffers, which verify skips).
 * A buffer for the block cannot be created while we hold its partition
 * lock, and one that exists but is not valid (a failed or unfinished read)
 * cannot be written.  So while we hold it nobody writes the block, and
 * what we read is what is on disk.
 *
 * Why it is bounded: it is one pg_pread of BLCKSZ on a descriptor opened
 * beforehand (no open() under the lock), in share mode (only backends
 * that must insert a buffer of this partition, 1/NUM_BUFFER_PARTITIONS of
 * all, wait), and only for a page that failed verification twice: at most
 * once per reported bad block.
 */
ssize_t
pgu_buf_reread_uncached(Relation rel, ForkNumber fork, BlockNumber blkno,
						int fd, off_t offset, char *page, bool *cached)
{
	BufferTag	tag;
	uint32		hash;
	LWLock	   *partition;
	int			buf_id = -1;
	ssize_t		n;
	int			save_errno;
	PguRelLocator loc = PGU_REL_LOCATOR(rel);

	tag_init(&tag, &loc, fork, blkno);
	hash = BufTableHashCode(&tag);
	partition = BufMappingPartitionLock(hash);

	*cached = false;
	LWLockAcquire(partition, LW_SHARED);
	if (!RelationUsesLocalBuffers(rel))
		buf_id = BufTableLookup(&tag, hash);
	if (buf_id >= 0 && buffer_is_valid(buf_id))
	{
		LWLockRelease(partition);
		*cached = true;
		return 0;
	}
	n = pg_pread(fd, page, BLCKSZ, offset);
	save_errno = errno;

	/*
	 * An invalid buffer cannot be written out; if it became valid while we
	 * read (somebody read the block into it), its version is the current
	 * one: judge neither.
	 */
	if (buf_id >= 0 && buffer_is_valid(buf_id))
		*cached = true;
	LWLockRelease(partition);
	errno = save_errno;
	return n;
}
