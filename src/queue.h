/*-------------------------------------------------------------------------
 *
 * queue.h
 *	  The shared-memory request queue between backends and the ring worker.
 *
 * A request slot carries one batch of page reads or writes against one
 * segment file: up to PGU_SLOT_BLOCKS blocks, grouped into I/Os of adjacent
 * blocks.  Each slot owns PGU_SLOT_BLOCKS * BLCKSZ of aligned staging memory.
 *
 * Life of a slot (state field):
 *	 FREE -> FILLING	backend takes it from the free list (queue mutex)
 *	 FILLING -> QUEUED	backend appends it to the FIFO (queue mutex)
 *	 QUEUED -> ACTIVE	worker takes it off the FIFO (queue mutex)
 *	 ACTIVE -> DONE		worker, after every I/O of the slot completed
 *	 QUEUED -> DONE		worker, when it stops without serving it; or owner,
 *						taking it back (pgu_slot_withdraw: off the FIFO under
 *						the queue mutex, then DONE)
 *	 FILLING -> DONE	backend, when the worker does not accept it
 *	 ACTIVE -> DONE		a new worker, for slots an exited worker left
 *						(it could not drain its ring; never claiming slots)
 *	 DONE -> FREE		backend, after it consumed the results
 * Only the owner touches a FILLING or DONE slot, and only the worker an
 * ACTIVE one, so the slot's payload needs no lock; the state changes are
 * published with memory barriers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_QUEUE_H
#define PG_URING_QUEUE_H

#include "datatype/timestamp.h"
#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "pg_uring.h"
#include "ring.h"

typedef enum PguSlotState
{
	PGU_SLOT_FREE = 0,
	PGU_SLOT_FILLING,
	PGU_SLOT_QUEUED,
	PGU_SLOT_ACTIVE,
	PGU_SLOT_DONE
} PguSlotState;

typedef enum PguOp
{
	PGU_OP_READ = 1,
	PGU_OP_WRITE = 2,
	PGU_OP_PREFETCH = 3			/* read into the OS page cache only */
} PguOp;

/*
 * The state word: the PguSlotState in its low bits, the ABANDONED bit (the
 * owner gave up on the slot: it is freed as soon as it is DONE), and above
 * them a use counter bumped at every allocation, so that a stale
 * compare-and-swap of an earlier use of the slot can never succeed.
 */
#define PGU_SLOT_STATE_MASK		0x7F
#define PGU_SLOT_ABANDONED		0x80
#define PGU_SLOT_USE_SHIFT		8

/* Slot flags */
#define PGU_FLAG_DIRECT		0x01	/* open with O_DIRECT */
#define PGU_FLAG_CLAIMS		0x02	/* reads into claimed shared buffers */

/* One readv or writev of adjacent blocks. */
typedef struct PguIoDesc
{
	uint64		offset;			/* byte offset in the file */
	uint16		first;			/* index of its first block in blocks[] */
	uint16		nblocks;
	int32		result;			/* bytes transferred, or -errno */
} PguIoDesc;

typedef struct PguSlot
{
	pg_atomic_uint32 state;		/* PguSlotState | PGU_SLOT_ABANDONED | use << 8 */
	pg_atomic_uint32 waiting;	/* owner sleeps until this slot is DONE */
	int			owner_procno;	/* requester's pgprocno, for its latch */
	int			owner_pid;		/* requester's pid: is the owner still there? */
	uint64		op_id;			/* requester's operation; scopes fd reuse */
	uint8		op;				/* PguOp */
	uint8		flags;			/* PGU_FLAG_* */
	int16		nios;
	int16		nblocks;
	int32		error;			/* first failure: -errno, or 0 */
	int16		error_io;		/* index of the I/O that failed */
	int32		close_error;	/* -errno of a failed close() of a written file */
	uint32		short_ios;		/* short transfers resubmitted */
	TimestampTz taken_at;		/* when its owner took it (pg_uring_inflight) */
	char		path[MAXPGPATH];	/* relative to the data directory */
	PguIoDesc	ios[PGU_SLOT_BLOCKS];
	char	   *blocks[PGU_SLOT_BLOCKS];	/* where each block lands/comes from */
	char	   *staging;		/* PGU_SLOT_BLOCKS * BLCKSZ, aligned */

	/*
	 * PGU_FLAG_CLAIMS: blocks[i] is shared buffer claim_buf[i], whose
	 * I/O-in-progress state the owner took; whoever completes the slot
	 * ends it (pgu_buf_claim_end) and sets claims_ended before DONE.
	 */
	int32		claim_buf[PGU_SLOT_BLOCKS];
	uint32		claim_blkno[PGU_SLOT_BLOCKS];	/* relation block numbers */
	uint32		claims_valid;	/* bit i: claim_buf[i] became valid */
	bool		claims_ended;
} PguSlot;

/*
 * The queue's shared state.  Only queue.c reads or writes it; everybody
 * else goes through the functions below.
 */
typedef struct PguShared PguShared;

/* What pg_uring_status shows of the queue and the worker. */
typedef struct PguQueueSnapshot
{
	PguRingStatus ring;
	bool		accepting;
	int			worker_pid;
	int			nslots;
	int			free_count;
	int			fifo_count;
	int			nactive;
	int			abandoned;		/* slots given up by their owner, not yet back */
	uint64		reclaimed;		/* slots put back after their owner was gone */
	int			waiters;		/* backends waiting in line for a slot */
} PguQueueSnapshot;

/* The slot's state (no lock needed; see queue.c for who may change it). */
static inline uint32
pgu_slot_state(PguSlot *slot)
{
	return pg_atomic_read_u32(&slot->state) & PGU_SLOT_STATE_MASK;
}

/* Has the worker finished with the slot? */
static inline bool
pgu_slot_is_done(PguSlot *slot)
{
	return pgu_slot_state(slot) == PGU_SLOT_DONE;
}

/*
 * Fail every I/O of a slot that will not be served with err (its owner's
 * or the worker's payload; the state is changed by the caller).
 */
static inline void
pgu_slot_fail_ios(PguSlot *slot, int err)
{
	int			i;

	for (i = 0; i < slot->nios; i++)
		slot->ios[i].result = err;
	slot->error = err;
	slot->error_io = 0;
}

/* shared memory */
extern Size pgu_shmem_size(void);
extern void pgu_shmem_init(void);
extern bool pgu_queue_attached(void);

/* backend side */
extern bool pgu_ring_accepting(bool *dio_aligned);
extern bool pgu_worker_alive(uint64 generation);
extern PguSlot *pgu_slot_alloc(int timeout_ms, bool *timed_out);
extern uint64 pgu_slot_enqueue(PguSlot *slot, bool *accepted);
extern void pgu_slot_free(PguSlot *slot);
extern void pgu_slot_abandon(PguSlot *slot);
extern bool pgu_slot_withdraw(PguSlot *slot);
extern int	pgu_slot_index(PguSlot *slot);
extern void pgu_queue_snapshot(PguQueueSnapshot *snap);
extern int	pgu_queue_waiter_position(int pid);
extern int	pgu_queue_slots_held(int pid);

/* worker side */
extern int	pgu_queue_nslots(void);
/* One slot in use, as pg_uring_inflight shows it. */
typedef struct PguSlotInfo
{
	int			index;
	uint32		state;			/* PguSlotState */
	bool		abandoned;
	int			owner_pid;
	uint8		op;				/* PguOp */
	int			nblocks;
	int			nios;
	TimestampTz taken_at;
	char		path[MAXPGPATH];
} PguSlotInfo;

extern int	pgu_queue_inflight(PguSlotInfo *out, int max);
extern bool pgu_queue_has_work(void);
extern bool pgu_queue_all_free(void);
extern int	pgu_queue_take(PguSlot **slots, int max);
extern void pgu_slot_complete(PguSlot *slot);
extern int	pgu_queue_reclaim(void);
extern void pgu_worker_attach(Latch *latch);
extern void pgu_worker_publish_ring(const PguRingStatus *status, bool *first_refusal);
extern void pgu_worker_set_accepting(bool accepting);
extern void pgu_worker_detach(void);

#endif							/* PG_URING_QUEUE_H */
