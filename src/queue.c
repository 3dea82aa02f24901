/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Shared-memory request queue between backends and the ring worker.
 *
 * Locking: pgu_shared->mutex (a spinlock) protects the FIFO, the free list,
 * the counts and the worker fields (accepting, pid, latch, generation, ring
 * status).  It is held only for a few instructions and never across a
 * system call.  A slot's payload belongs to whoever the slot's state says
 * (see queue.h); state changes are made with full memory barriers so that
 * the payload written before a change is visible after it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#include "queue.h"

PguShared  *pgu_shared = NULL;

/* Bytes of the slot array plus the FIFO and the free list. */
static Size
queue_struct_size(void)
{
	Size		size;

	size = offsetof(PguShared, slots);
	size = add_size(size, mul_size(pgu_queue_size, sizeof(PguSlot)));
	size = add_size(size, mul_size(pgu_queue_size, sizeof(int) * 2));
	return MAXALIGN(size);
}

/* Bytes of staging memory, including the slack to align it. */
static Size
queue_staging_size(void)
{
	return add_size(mul_size(mul_size(pgu_queue_size, PGU_SLOT_BLOCKS), BLCKSZ),
					PGU_STAGING_ALIGN);
}

/* Shared memory that pg_uring needs. */
Size
pgu_shmem_size(void)
{
	return add_size(queue_struct_size(), queue_staging_size());
}

/* Create or attach to pg_uring's shared memory; called from the startup hook. */
void
pgu_shmem_init(void)
{
	bool		found;
	char	   *base;
	char	   *staging;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("pg_uring", pgu_shmem_size(), &found);
	pgu_shared = (PguShared *) base;

	if (!found)
	{
		memset(base, 0, queue_struct_size());
		SpinLockInit(&pgu_shared->mutex);
		pgu_shared->nslots = pgu_queue_size;
		pgu_shared->fifo = (int *) (base + offsetof(PguShared, slots) +
									pgu_queue_size * sizeof(PguSlot));
		pgu_shared->freelist = pgu_shared->fifo + pgu_queue_size;
		ConditionVariableInit(&pgu_shared->slot_freed);
		pgu_shared->ring.state = PGU_RING_NOT_STARTED;

		staging = (char *) TYPEALIGN(PGU_STAGING_ALIGN, base + queue_struct_size());
		for (i = 0; i < pgu_queue_size; i++)
		{
			PguSlot    *slot = &pgu_shared->slots[i];

			pg_atomic_init_u32(&slot->state, PGU_SLOT_FREE);
			pg_atomic_init_u32(&slot->waiting, 0);
			slot->staging = staging + (Size) i * PGU_SLOT_BLOCKS * BLCKSZ;
			/* pop order: slot 0 first */
			pgu_shared->freelist[i] = pgu_queue_size - 1 - i;
		}
		pgu_shared->free_count = pgu_queue_size;

		for (i = 0; i < PGU_NUM_PATHS; i++)
			pgu_stats_shmem_init(&pgu_shared->stats[i], false);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Index of a slot in the slot array. */
int
pgu_slot_index(PguSlot *slot)
{
	return slot - pgu_shared->slots;
}

/* Is the worker up and serving requests through the ring? */
bool
pgu_ring_accepting(void)
{
	bool		accepting;

	SpinLockAcquire(&pgu_shared->mutex);
	accepting = pgu_shared->accepting;
	SpinLockRelease(&pgu_shared->mutex);
	return accepting;
}

/*
 * Take a free slot.  With wait = false, return NULL when none is free.
 * With wait = true, sleep until one is (counted as a queue-full wait), or
 * return NULL once the worker no longer accepts requests.
 * Callers that already have requests in flight must not wait here: they
 * consume their own completions first, which frees slots.
 */
PguSlot *
pgu_slot_alloc(bool wait)
{
	PguSlot    *slot = NULL;
	bool		counted = false;

	for (;;)
	{
		SpinLockAcquire(&pgu_shared->mutex);
		if (pgu_shared->free_count > 0)
		{
			int			idx = pgu_shared->freelist[--pgu_shared->free_count];

			slot = &pgu_shared->slots[idx];
		}
		SpinLockRelease(&pgu_shared->mutex);

		if (slot != NULL || !wait)
			break;

		/* no worker to free slots for (abandoned ones stay taken): give up */
		if (!pgu_ring_accepting())
			break;

		if (!counted)
		{
			pgu_count(PGU_PATH_RING, PGU_C_QUEUE_FULL_WAITS, 1);
			counted = true;
		}
		/* timed, so that a lost wakeup cannot stall us */
		ConditionVariableTimedSleep(&pgu_shared->slot_freed, 100,
									PG_WAIT_EXTENSION);
	}
	if (counted)
		ConditionVariableCancelSleep();

	if (slot != NULL)
	{
		Assert(pg_atomic_read_u32(&slot->state) == PGU_SLOT_FREE);
		slot->owner_procno = MyProc->pgprocno;
		slot->nios = 0;
		slot->nblocks = 0;
		slot->error = 0;
		slot->error_io = -1;
		slot->short_ios = 0;
		slot->flags = 0;
		pg_atomic_write_u32(&slot->waiting, 0);
		pg_atomic_write_u32(&slot->state, PGU_SLOT_FILLING);
	}
	return slot;
}

/*
 * Hand a filled slot to the worker.  If the worker has stopped accepting,
 * the slot is completed at once with -ESHUTDOWN on every I/O, so that the
 * caller's wait and error paths are the same either way.  Returns the
 * worker generation the slot was handed to.
 */
uint64
pgu_slot_enqueue(PguSlot *slot)
{
	Latch	   *latch = NULL;
	bool		queued = false;
	uint64		generation;

	Assert(pg_atomic_read_u32(&slot->state) == PGU_SLOT_FILLING);

	pg_memory_barrier();
	SpinLockAcquire(&pgu_shared->mutex);
	generation = pgu_shared->worker_generation;
	if (pgu_shared->accepting)
	{
		int			tail = (pgu_shared->fifo_head + pgu_shared->fifo_count) %
		pgu_shared->nslots;

		pgu_shared->fifo[tail] = pgu_slot_index(slot);
		pgu_shared->fifo_count++;
		pg_atomic_write_u32(&slot->state, PGU_SLOT_QUEUED);
		latch = pgu_shared->worker_latch;
		queued = true;
	}
	SpinLockRelease(&pgu_shared->mutex);

	if (queued)
	{
		if (latch)
			SetLatch(latch);
	}
	else
	{
		int			i;

		for (i = 0; i < slot->nios; i++)
			slot->ios[i].result = -ESHUTDOWN;
		slot->error = -ESHUTDOWN;
		slot->error_io = 0;
		pg_memory_barrier();
		pg_atomic_write_u32(&slot->state, PGU_SLOT_DONE);
	}
	return generation;
}

/* Return a consumed slot to the free list and wake one waiter. */
void
pgu_slot_free(PguSlot *slot)
{
	Assert(pg_atomic_read_u32(&slot->state) == PGU_SLOT_DONE ||
		   pg_atomic_read_u32(&slot->state) == PGU_SLOT_FILLING);

	pg_atomic_write_u32(&slot->state, PGU_SLOT_FREE);
	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->freelist[pgu_shared->free_count++] = pgu_slot_index(slot);
	SpinLockRelease(&pgu_shared->mutex);
	ConditionVariableSignal(&pgu_shared->slot_freed);
}

/* Worker: take up to max queued slots off the FIFO, marking them ACTIVE. */
int
pgu_queue_take(PguSlot **slots, int max)
{
	int			n = 0;

	SpinLockAcquire(&pgu_shared->mutex);
	while (n < max && pgu_shared->fifo_count > 0)
	{
		PguSlot    *slot = &pgu_shared->slots[pgu_shared->fifo[pgu_shared->fifo_head]];

		pgu_shared->fifo_head = (pgu_shared->fifo_head + 1) % pgu_shared->nslots;
		pgu_shared->fifo_count--;
		pgu_shared->nactive++;
		pg_atomic_write_u32(&slot->state, PGU_SLOT_ACTIVE);
		slots[n++] = slot;
	}
	SpinLockRelease(&pgu_shared->mutex);
	pg_memory_barrier();
	return n;
}

/* Worker: mark a slot DONE and wake its owner if it sleeps on it. */
void
pgu_slot_complete(PguSlot *slot)
{
	PGPROC	   *owner = &ProcGlobal->allProcs[slot->owner_procno];

	pg_memory_barrier();
	pg_atomic_write_u32(&slot->state, PGU_SLOT_DONE);
	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->nactive--;
	SpinLockRelease(&pgu_shared->mutex);
	pg_memory_barrier();
	if (pg_atomic_read_u32(&slot->waiting) != 0)
		SetLatch(&owner->procLatch);
}

/* Worker: announce ourselves (not yet accepting: the ring is not up). */
void
pgu_worker_attach(Latch *latch)
{
	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->worker_pid = MyProcPid;
	pgu_shared->worker_latch = latch;
	pgu_shared->worker_generation++;
	pgu_shared->accepting = false;
	SpinLockRelease(&pgu_shared->mutex);
}

/*
 * Worker: stop accepting and fail whatever is still queued with -ESHUTDOWN.
 * Called only after every ACTIVE slot has completed (the ring is drained).
 */
void
pgu_worker_detach(void)
{
	PguSlot    *slots[PGU_QUEUE_SIZE_MAX];
	int			n;
	int			i;
	int			j;

	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->accepting = false;
	pgu_shared->worker_latch = NULL;
	pgu_shared->worker_pid = 0;
	if (pgu_shared->ring.state == PGU_RING_UP)
		pgu_shared->ring.state = PGU_RING_STOPPED;
	SpinLockRelease(&pgu_shared->mutex);

	n = pgu_queue_take(slots, PGU_QUEUE_SIZE_MAX);
	for (i = 0; i < n; i++)
	{
		for (j = 0; j < slots[i]->nios; j++)
			slots[i]->ios[j].result = -ESHUTDOWN;
		slots[i]->error = -ESHUTDOWN;
		slots[i]->error_io = 0;
		pgu_slot_complete(slots[i]);
	}
}
