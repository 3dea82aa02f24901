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
 *	 QUEUED -> DONE		worker, when it stops without serving it
 *	 DONE -> FREE		backend, after it consumed the results
 * Only the owner touches a FILLING or DONE slot, and only the worker an
 * ACTIVE one, so the slot's payload needs no lock; the state changes are
 * published with memory barriers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_QUEUE_H
#define PG_URING_QUEUE_H

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/spin.h"

#include "pg_uring.h"
#include "stats.h"

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
	PGU_OP_WRITE = 2
} PguOp;

/* Slot flags */
#define PGU_FLAG_DIRECT		0x01	/* open with O_DIRECT */

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
	pg_atomic_uint32 state;		/* PguSlotState */
	pg_atomic_uint32 waiting;	/* owner sleeps until this slot is DONE */
	int			owner_procno;	/* requester's pgprocno, for its latch */
	uint64		op_id;			/* requester's operation; scopes fd reuse */
	uint8		op;				/* PguOp */
	uint8		flags;			/* PGU_FLAG_* */
	int16		nios;
	int16		nblocks;
	int32		error;			/* first failure: -errno, or 0 */
	int16		error_io;		/* index of the I/O that failed */
	uint32		short_ios;		/* short transfers resubmitted */
	char		path[MAXPGPATH];	/* relative to the data directory */
	PguIoDesc	ios[PGU_SLOT_BLOCKS];
	char	   *blocks[PGU_SLOT_BLOCKS];	/* where each block lands/comes from */
	char	   *staging;		/* PGU_SLOT_BLOCKS * BLCKSZ, aligned */
} PguSlot;

/* Status of the ring, published by the worker. */
typedef enum PguRingState
{
	PGU_RING_NOT_STARTED = 0,
	PGU_RING_UP,
	PGU_RING_DOWN,
	PGU_RING_STOPPED
} PguRingState;

#define PGU_REASON_LEN 256

typedef struct PguRingStatus
{
	PguRingState state;
	int			setup_errno;
	char		reason[PGU_REASON_LEN];
	int			sq_entries;
	int			cq_entries;
	bool		sqpoll;
	uint32		features;		/* IORING_FEAT_* */
	uint64		opcodes;		/* bit n set: opcode n supported */
	int			dio_mem_align;
	int			dio_offset_align;
	bool		buffers_dio_aligned;
	char		kernel_release[64];
} PguRingStatus;

typedef struct PguShared
{
	slock_t		mutex;			/* protects everything up to "stats" */
	bool		accepting;		/* worker serves new requests */
	int			worker_pid;
	Latch	   *worker_latch;
	uint64		worker_generation;	/* bumped at every worker start */
	PguRingStatus ring;
	bool		refusal_logged;	/* the LOG about a refused ring was emitted */

	int			nslots;
	int			fifo_head;		/* next slot to serve */
	int			fifo_count;
	int			free_count;
	int			nactive;		/* slots the worker is serving */
	int		   *fifo;			/* circular, nslots entries */
	int		   *freelist;		/* stack, nslots entries */

	ConditionVariable slot_freed;	/* broadcast when a slot is freed */

	PguStats	stats[PGU_NUM_PATHS];

	PguSlot		slots[FLEXIBLE_ARRAY_MEMBER];
} PguShared;

extern PguShared *pgu_shared;

/* shared memory */
extern Size pgu_shmem_size(void);
extern void pgu_shmem_init(void);

/* backend side */
extern bool pgu_ring_accepting(void);
extern PguSlot *pgu_slot_alloc(bool wait);
extern uint64 pgu_slot_enqueue(PguSlot *slot);
extern void pgu_slot_free(PguSlot *slot);
extern int	pgu_slot_index(PguSlot *slot);

/* worker side */
extern int	pgu_queue_take(PguSlot **slots, int max);
extern void pgu_slot_complete(PguSlot *slot);
extern void pgu_worker_attach(Latch *latch);
extern void pgu_worker_detach(void);

#endif							/* PG_URING_QUEUE_H */
