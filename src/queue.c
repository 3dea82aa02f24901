/*-------------------------------------------------------------------------
 *
 * queue.c
 *	  Shared-memory request queue between backends and the ring worker.
 *
 * This file alone touches the queue's shared state (PguShared); the rest
 * of pg_uring goes through the functions declared in queue.h.
 *
 * Locking: pgu_shared->mutex (a spinlock) protects the FIFO, the free list,
 * the counts and the worker fields (accepting, pid, latch, generation, ring
 * status).  It is held only for a few instructions and never across a
 * system call.  A slot's payload belongs to whoever the slot's state says
 * (see queue.h); state changes are made with full memory barriers so that
 * the payload written before a change is visible after it.
 *
 * The state word also holds the ABANDONED bit and a use counter (queue.h).
 * Every change that another process could race is a compare-and-swap of the
 * whole word: the owner setting ABANDONED against the worker completing the
 * slot, the worker's completion freeing an abandoned slot, the reclaimer
 * freeing the DONE slot of an exited owner.  Because the use counter changes
 * at every allocation, a compare-and-swap made for an earlier use of a slot
 * fails on a later one.  A slot goes back to the free list exactly once per
 * use.  Slots being filled are never reclaimed: only their owner touches
 * them (its exit hook frees them; a crash reinitializes shared memory).
 *
 * Slot waits are first come, first served.  A backend that sleeps for a
 * slot joins the waiter list (a FIFO under the mutex, one entry per PGPROC
 * slot); of the free slots, the first free_count waiters may take one,
 * and a caller that does not wait may take one only when more slots are
 * free than backends wait.  Whoever frees a slot, or leaves the line,
 * sets the latch of the waiters now due (at most free_count of them, found
 * under the mutex, woken outside it); waiters sleep on their own latch,
 * with a 100 ms time-out as a backstop.  A waiter leaves the list when it
 * took a slot, when its wait ends without one (time-out, cancel, no
 * worker), on ERROR (PG_CATCH) and at exit (before_shmem_exit), so an
 * entry never outlives its wait.  Each entry carries a ticket (its place
 * in arrival order), so that pg_uring_waits computes places without the
 * mutex.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>

#include "access/parallel.h"
#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/proc.h"
#include "storage/procsignal.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "progress.h"
#include "queue.h"
#include "stats.h"

/* A backend waiting for a free slot (one per PGPROC slot, under the mutex). */
typedef struct PguWaiter
{
	dlist_node	node;			/* in PguShared.waiters while waiting */
	int			pid;
	int			procno;			/* whose latch to set */
	bool		waiting;
	pg_atomic_uint64 ticket;	/* arrival order while waiting, else 0 (read
								 * without the mutex by pg_uring_waits) */
} PguWaiter;

struct PguShared
{
	slock_t		mutex;			/* protects everything up to "slots" */
	bool		accepting;		/* worker serves new requests */
	int			worker_pid;
	Latch	   *worker_latch;
	uint64		worker_generation;	/* bumped at every worker start */
	PguRingStatus ring;
	bool		refusal_logged; /* the LOG about a refused ring was emitted */
	uint64		reclaimed;		/* slots freed for owners that exited or gave up */

	int			nslots;
	int			fifo_head;		/* next slot to serve */
	int			fifo_count;
	int			free_count;
	int			nactive;		/* slots the worker is serving */
	int		   *fifo;			/* circular, nslots entries */
	int		   *freelist;		/* stack, nslots entries */

	dlist_head	waiters;		/* slot waiters, first come first */
	int			nwaiters;
	uint64		next_ticket;
	int			nwaiter_entries;	/* MaxBackends */
	PguWaiter  *waiter_entries;	/* indexed by pgprocno */

	PguSlot		slots[FLEXIBLE_ARRAY_MEMBER];
};

static PguShared *pgu_shared = NULL;

/* Bytes of the slot array plus the FIFO and the free list. */
static Size
queue_struct_size(void)
{
	Size		size;

	size = offsetof(PguShared, slots);
	size = add_size(size, mul_size(pgu_queue_size, sizeof(PguSlot)));
	size = add_size(size, mul_size(pgu_queue_size, sizeof(int) * 2));
	size = MAXALIGN(size);
	size = add_size(size, mul_size(MaxBackends, sizeof(PguWaiter)));
	return MAXALIGN(size);
}

/* Bytes of staging memory, including the slack to align it. */
static Size
queue_staging_size(void)
{
	return add_size(mul_size(mul_size(pgu_queue_size, PGU_SLOT_BLOCKS), BLCKSZ),
					PGU_STAGING_ALIGN);
}

/* Shared memory that the queue needs. */
Size
pgu_shmem_size(void)
{
	return add_size(queue_struct_size(), queue_staging_size());
}

/* Create or attach to the queue's shared memory; called from the startup hook. */
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
		pgu_shared->waiter_entries = (PguWaiter *)
			(base + MAXALIGN(offsetof(PguShared, slots) +
							 pgu_queue_size * sizeof(PguSlot) +
							 pgu_queue_size * sizeof(int) * 2));
		pgu_shared->nwaiter_entries = MaxBackends;
		for (i = 0; i < MaxBackends; i++)
			pg_atomic_init_u64(&pgu_shared->waiter_entries[i].ticket, 0);
		dlist_init(&pgu_shared->waiters);
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
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Is the queue's shared memory there (pg_uring preloaded)? */
bool
pgu_queue_attached(void)
{
	return pgu_shared != NULL;
}

/* Set the state of a slot, keeping its use counter and ABANDONED bit. */
static void
slot_set_state(PguSlot *slot, uint32 newstate)
{
	uint32		v = pg_atomic_read_u32(&slot->state);

	while (!pg_atomic_compare_exchange_u32(&slot->state, &v,
										   (v & ~PGU_SLOT_STATE_MASK) | newstate))
		;
}

/*
 * Owner: a slot of ours that no worker will serve is DONE, every I/O
 * failed with err (-ESHUTDOWN: not accepted; -ECANCELED: taken back).
 */
static void
slot_done_unserved(PguSlot *slot, int err)
{
	pgu_slot_fail_ios(slot, err);
	pg_memory_barrier();
	slot_set_state(slot, PGU_SLOT_DONE);
}

/* The FREE state word of the same use as v. */
static inline uint32
free_word(uint32 v)
{
	return (v & ~(PGU_SLOT_STATE_MASK | PGU_SLOT_ABANDONED)) | PGU_SLOT_FREE;
}

/* Index of a slot in the slot array. */
int
pgu_slot_index(PguSlot *slot)
{
	return slot - pgu_shared->slots;
}

/* Number of slots (worker side: sizes its per-slot arrays). */
int
pgu_queue_nslots(void)
{
	return pgu_shared->nslots;
}

/*
 * Is the worker up and serving requests through the ring?  Also tells
 * whether shared buffers suit O_DIRECT (NULL: not wanted).
 */
bool
pgu_ring_accepting(bool *dio_aligned)
{
	bool		accepting;

	SpinLockAcquire(&pgu_shared->mutex);
	accepting = pgu_shared->accepting;
	if (dio_aligned)
		*dio_aligned = pgu_shared->ring.buffers_dio_aligned;
	SpinLockRelease(&pgu_shared->mutex);
	return accepting;
}

/* Is the worker that took requests of this generation still running? */
bool
pgu_worker_alive(uint64 generation)
{
	bool		alive;

	SpinLockAcquire(&pgu_shared->mutex);
	alive = pgu_shared->worker_pid != 0 &&
		pgu_shared->worker_generation == generation;
	SpinLockRelease(&pgu_shared->mutex);
	return alive;
}

/*
 * Take a free slot.  With timeout_ms = 0, return NULL when none is free.
 * Otherwise sleep until one is (counted as a queue-full wait), for at most
 * timeout_ms: return NULL once that has passed (*timed_out is then set,
 * if given), once the worker no longer
 * accepts requests, when a cancel or terminate request is pending, or when
 * a parallel worker of ours has sent a message (it may be blocked until we
 * read it, holding slots we would wait for).  On NULL the caller does the
 * I/O itself.  So a wait never depends on the holders of slots making
 * progress: a holder may be blocked on its client socket, say (a WARNING
 * its client does not read).  Callers must hold no I/O, pin or content
 * lock while they wait here, and callers that already have requests in
 * flight must not wait at all: they consume their own completions first,
 * which frees slots.
 */
/* Our waiter entry, or NULL where we cannot wait in line (no PGPROC slot). */
static PguWaiter *
my_waiter(void)
{
	if (MyProc == NULL || PGU_MY_PROCNO() >= pgu_shared->nwaiter_entries)
		return NULL;
	return &pgu_shared->waiter_entries[PGU_MY_PROCNO()];
}

/*
 * Mutex held: may the caller take a free slot now?  A waiter may when it is
 * among the first free_count waiters; anybody else when more slots are
 * free than backends wait.
 */
static bool
may_take_slot(PguWaiter *w)
{
	dlist_iter	iter;
	int			pos = 0;

	if (pgu_shared->free_count <= 0)
		return false;
	if (w == NULL || !w->waiting)
		return pgu_shared->free_count > pgu_shared->nwaiters;
	dlist_foreach(iter, &pgu_shared->waiters)
	{
		if (pos >= pgu_shared->free_count)
			return false;
		if (dlist_container(PguWaiter, node, iter.cur) == w)
			return true;
		pos++;
	}
	return false;
}

/* Mutex held: leave the waiter list. */
static void
waiter_leave(PguWaiter *w)
{
	if (w != NULL && w->waiting)
	{
		dlist_delete(&w->node);
		w->waiting = false;
		w->pid = 0;
		pg_atomic_write_u64(&w->ticket, 0);
		pgu_shared->nwaiters--;
	}
}

/*
 * Mutex held: the procno of the last waiter a free slot is due to (place
 * free_count in line), or -1.  After one more slot is free, or one waiter
 * before it left, that is the one waiter who may newly take a slot.  The
 * walk is bounded by free_count, which is at most queue_size.
 */
static int
waiter_newly_due(void)
{
	dlist_iter	iter;
	int			pos = 0;

	dlist_foreach(iter, &pgu_shared->waiters)
	{
		if (++pos == pgu_shared->free_count)
			return dlist_container(PguWaiter, node, iter.cur)->procno;
		if (pos > pgu_shared->free_count)
			break;
	}
	return -1;
}

/* Wake the waiter found by waiter_newly_due() (mutex released). */
static void
wake_waiter(int procno)
{
	if (procno >= 0)
		SetLatch(&GetPGProcByNumber(procno)->procLatch);
}

/*
 * Leave the waiter list without a slot; if slots are free, the waiter
 * behind the ones due may now be due one.
 */
static void
waiter_give_up(void)
{
	PguWaiter  *w = my_waiter();
	int			due = -1;

	if (w == NULL)
		return;
	SpinLockAcquire(&pgu_shared->mutex);
	if (w->waiting)
	{
		waiter_leave(w);
		due = waiter_newly_due();
	}
	SpinLockRelease(&pgu_shared->mutex);
	wake_waiter(due);
}

/* Exit: never leave an entry in the waiter list behind. */
static void
waiter_exit_callback(int code, Datum arg)
{
	if (pgu_shared != NULL)
		waiter_give_up();
}

/*
 * The sleeping part of pgu_slot_alloc: in line with the other waiters, for
 * at most timeout_ms.  Returns the index of the slot taken, or -1.
 */
static int
slot_wait(int timeout_ms, bool *timed_out)
{
	static bool exit_callback_registered = false;
	PguWaiter  *volatile w = my_waiter();
	TimestampTz deadline;
	volatile int idx = -1;

	/* registered before we can be in the list */
	if (w != NULL && !exit_callback_registered)
	{
		before_shmem_exit(waiter_exit_callback, (Datum) 0);
		exit_callback_registered = true;
	}

	pgu_count(PGU_PATH_RING, PGU_C_QUEUE_FULL_WAITS, 1);
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), timeout_ms);
	pgu_wait_report_begin(PGU_WAIT_SLOT);

	PG_TRY();
	{
		for (;;)
		{
			bool		accepting;
			TimestampTz now;
			long		sleep_ms;

			/* before the check: a wakeup after it is not lost */
			ResetLatch(MyLatch);
			SpinLockAcquire(&pgu_shared->mutex);
			if (w != NULL && !w->waiting)
			{
				w->pid = MyProcPid;
				w->procno = PGU_MY_PROCNO();
				w->waiting = true;
				pg_atomic_write_u64(&w->ticket, ++pgu_shared->next_ticket);
				dlist_push_tail(&pgu_shared->waiters, &w->node);
				pgu_shared->nwaiters++;
			}
			if (may_take_slot(w))
			{
				idx = pgu_shared->freelist[--pgu_shared->free_count];
				waiter_leave(w);
			}
			accepting = pgu_shared->accepting;
			SpinLockRelease(&pgu_shared->mutex);

			if (idx >= 0)
				break;
			/* no worker to free slots for, or the caller is being cancelled */
			if (!accepting || QueryCancelPending || ProcDiePending ||
				ParallelMessagePending)
				break;
			/* DROP DATABASE and DROP TABLESPACE must not wait for a free slot */
			if (ProcSignalBarrierPending)
				ProcessProcSignalBarrier();

			now = GetCurrentTimestamp();
			if (now >= deadline)
			{
				if (timed_out)
					*timed_out = true;
				break;
			}
			/* timed, as a backstop: whoever frees a slot sets our latch */
			sleep_ms = Min((deadline - now + 999) / 1000, 100);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, pgu_wait_event(PGU_WAIT_SLOT));
		}
	}
	PG_CATCH();
	{
		waiter_give_up();
		pgu_wait_report_end();
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (idx < 0)
		waiter_give_up();
	pgu_wait_report_end();
	return idx;
}

/*
 * Take a free slot.  With timeout_ms = 0, return NULL when none is free
 * (or the free ones are due to backends waiting in line).
 * Otherwise sleep until one is (counted as a queue-full wait), for at most
 * timeout_ms, first come first served (see the top of this file): return
 * NULL once that has passed (*timed_out is then set,
 * if given), once the worker no longer
 * accepts requests, when a cancel or terminate request is pending, or when
 * a parallel worker of ours has sent a message (it may be blocked until we
 * read it, holding slots we would wait for).  On NULL the caller does the
 * I/O itself.  So a wait never depends on the holders of slots making
 * progress: a holder may be blocked on its client socket, say (a WARNING
 * its client does not read).  Callers must hold no I/O, pin or content
 * lock while they wait here, and callers that already have requests in
 * flight must not wait at all: they consume their own completions first,
 * which frees slots.
 */
PguSlot *
pgu_slot_alloc(int timeout_ms, bool *timed_out)
{
	PguSlot    *slot = NULL;
	bool		accepting;
	int			idx = -1;

	if (timed_out)
		*timed_out = false;

	SpinLockAcquire(&pgu_shared->mutex);
	if (may_take_slot(NULL))
		idx = pgu_shared->freelist[--pgu_shared->free_count];
	accepting = pgu_shared->accepting;
	SpinLockRelease(&pgu_shared->mutex);

	if (idx < 0)
	{
		if (timeout_ms <= 0)
		{
			/* a wait of 0 that finds none free has run out at once */
			if (timed_out && accepting)
				*timed_out = true;
		}
		else if (accepting && !QueryCancelPending && !ProcDiePending &&
				 !ParallelMessagePending)
			idx = slot_wait(timeout_ms, timed_out);
	}
	if (idx >= 0)
		slot = &pgu_shared->slots[idx];

	if (slot != NULL)
	{
		uint32		v = pg_atomic_read_u32(&slot->state);

		Assert((v & PGU_SLOT_STATE_MASK) == PGU_SLOT_FREE);
		slot->owner_procno = PGU_MY_PROCNO();
		slot->owner_pid = MyProcPid;
		slot->taken_at = GetCurrentTimestamp();
		slot->nios = 0;
		slot->nblocks = 0;
		slot->op = 0;			/* set at submission, with the path */
		slot->path[0] = '\0';
		slot->error = 0;
		slot->error_io = -1;
		slot->close_error = 0;
		slot->short_ios = 0;
		slot->flags = 0;
		pg_atomic_write_u32(&slot->waiting, 0);
		pg_write_barrier();		/* owner fields before the state (reclaim) */
		/* a new use: nobody else touches a slot just taken off the free list */
		pg_atomic_write_u32(&slot->state,
							(((v >> PGU_SLOT_USE_SHIFT) + 1) << PGU_SLOT_USE_SHIFT) |
							PGU_SLOT_FILLING);
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
pgu_slot_enqueue(PguSlot *slot, bool *accepted)
{
	Latch	   *latch = NULL;
	bool		queued = false;
	uint64		generation;

	Assert(pgu_slot_state(slot) == PGU_SLOT_FILLING);

	pg_memory_barrier();
	SpinLockAcquire(&pgu_shared->mutex);
	generation = pgu_shared->worker_generation;
	if (pgu_shared->accepting)
	{
		int			tail = (pgu_shared->fifo_head + pgu_shared->fifo_count) %
		pgu_shared->nslots;

		pgu_shared->fifo[tail] = pgu_slot_index(slot);
		pgu_shared->fifo_count++;
		slot_set_state(slot, PGU_SLOT_QUEUED);
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
		slot_done_unserved(slot, -ESHUTDOWN);
	if (accepted)
		*accepted = queued;
	return generation;
}

/*
 * Owner: take a queued slot back before the worker took it (a claiming
 * batch given up on after a cancel: its reads never started, so its claims
 * can be ended by the owner).  Returns true if the slot was still queued:
 * it is then DONE with -ECANCELED on every I/O.  False if the worker has
 * it (or had it): the owner must wait for its completion.
 */
bool
pgu_slot_withdraw(PguSlot *slot)
{
	int			idx = pgu_slot_index(slot);
	bool		found = false;
	int			i;

	SpinLockAcquire(&pgu_shared->mutex);
	if (pgu_slot_state(slot) == PGU_SLOT_QUEUED)
	{
		for (i = 0; i < pgu_shared->fifo_count; i++)
		{
			int			pos = (pgu_shared->fifo_head + i) % pgu_shared->nslots;

			if (found)
			{
				int			prev = (pos + pgu_shared->nslots - 1) % pgu_shared->nslots;

				pgu_shared->fifo[prev] = pgu_shared->fifo[pos];
			}
			else if (pgu_shared->fifo[pos] == idx)
				found = true;
		}
		if (found)
			pgu_shared->fifo_count--;
	}
	SpinLockRelease(&pgu_shared->mutex);
	if (!found)
		return false;
	slot_done_unserved(slot, -ECANCELED);
	return true;
}

/* Put a slot whose state we just set to FREE on the free list. */
static void
slot_push_free(PguSlot *slot, bool reclaimed)
{
	int			due;

	SpinLockAcquire(&pgu_shared->mutex);
	Assert(pgu_shared->free_count < pgu_shared->nslots);
	pgu_shared->freelist[pgu_shared->free_count++] = pgu_slot_index(slot);
	if (reclaimed)
		pgu_shared->reclaimed++;
	due = waiter_newly_due();
	SpinLockRelease(&pgu_shared->mutex);
	/* only the waiter it is due to may take it (see may_take_slot) */
	wake_waiter(due);
}

/* Owner: return a consumed (DONE) or unused (FILLING) slot to the free list. */
void
pgu_slot_free(PguSlot *slot)
{
	uint32		v = pg_atomic_read_u32(&slot->state);

	Assert((v & PGU_SLOT_STATE_MASK) == PGU_SLOT_DONE ||
		   (v & PGU_SLOT_STATE_MASK) == PGU_SLOT_FILLING);
	Assert((v & PGU_SLOT_ABANDONED) == 0);
	/* only the reclaimer could race us, and only for an exited owner */
	if (pg_atomic_compare_exchange_u32(&slot->state, &v, free_word(v)))
		slot_push_free(slot, false);
}

/*
 * The owner gives up on a slot it cannot wait for any longer.  The slot
 * is never reused while an I/O of it may be in flight: if it is DONE it is
 * freed now, else it is marked ABANDONED and the worker frees it when it
 * completes it (pgu_slot_complete).
 */
void
pgu_slot_abandon(PguSlot *slot)
{
	uint32		v = pg_atomic_read_u32(&slot->state);

	for (;;)
	{
		if ((v & PGU_SLOT_STATE_MASK) == PGU_SLOT_DONE)
		{
			if (pg_atomic_compare_exchange_u32(&slot->state, &v, free_word(v)))
			{
				slot_push_free(slot, true);
				return;
			}
		}
		else if (pg_atomic_compare_exchange_u32(&slot->state, &v, v | PGU_SLOT_ABANDONED))
			return;
		/* v was refreshed by the failed exchange: try again */
	}
}

/*
 * Free the slots whose owner is gone (exited, or abandoned them) and that
 * have no I/O in flight (DONE, or never queued).  Returns how many.  The
 * worker calls it from time to time; a slot of a backend that died in the
 * middle of a request is back within one call after its I/O completed.
 */
int
pgu_queue_reclaim(void)
{
	int			n = 0;
	int			i;

	for (i = 0; i < pgu_shared->nslots; i++)
	{
		PguSlot    *slot = &pgu_shared->slots[i];
		uint32		v = pg_atomic_read_u32(&slot->state);

		/* DONE and not abandoned (an abandoned one is freed on completion) */
		if ((v & (PGU_SLOT_STATE_MASK | PGU_SLOT_ABANDONED)) != PGU_SLOT_DONE)
			continue;
		pg_read_barrier();

		/*
		 * The owner exited without freeing it.  The exchange fails if the
		 * slot was freed and reused meanwhile (its use counter changed).
		 */
		if (ProcGlobal->allProcs[slot->owner_procno].pid != slot->owner_pid &&
			pg_atomic_compare_exchange_u32(&slot->state, &v, free_word(v)))
		{
			slot_push_free(slot, true);
			n++;
		}
	}
	return n;
}

/*
 * Place (1 = next) of backend pid in line for a slot; 0 if not waiting.
 * Without the mutex (monitoring): from the tickets, so a place may be off
 * by a waiter that joined or left meanwhile.
 */
int
pgu_queue_waiter_position(int pid)
{
	uint64		mine = 0;
	int			pos = 1;
	int			i;

	for (i = 0; i < pgu_shared->nwaiter_entries; i++)
	{
		PguWaiter  *w = &pgu_shared->waiter_entries[i];

		if (w->pid == pid)
			mine = pg_atomic_read_u64(&w->ticket);
	}
	if (mine == 0)
		return 0;
	for (i = 0; i < pgu_shared->nwaiter_entries; i++)
	{
		uint64		t = pg_atomic_read_u64(&pgu_shared->waiter_entries[i].ticket);

		if (t != 0 && t < mine)
			pos++;
	}
	return pos;
}

/* How many slots backend pid has taken and not given back (no lock). */
int
pgu_queue_slots_held(int pid)
{
	int			i;
	int			n = 0;

	for (i = 0; i < pgu_shared->nslots; i++)
	{
		PguSlot    *slot = &pgu_shared->slots[i];
		uint32		v = pg_atomic_read_u32(&slot->state);

		if ((v & PGU_SLOT_STATE_MASK) != PGU_SLOT_FREE &&
			(v & PGU_SLOT_ABANDONED) == 0 && slot->owner_pid == pid)
			n++;
	}
	return n;
}

/* Copy what pg_uring_status shows. */
void
pgu_queue_snapshot(PguQueueSnapshot *snap)
{
	int			i;

	SpinLockAcquire(&pgu_shared->mutex);
	snap->ring = pgu_shared->ring;
	snap->accepting = pgu_shared->accepting;
	snap->worker_pid = pgu_shared->worker_pid;
	snap->nslots = pgu_shared->nslots;
	snap->free_count = pgu_shared->free_count;
	snap->fifo_count = pgu_shared->fifo_count;
	snap->nactive = pgu_shared->nactive;
	snap->reclaimed = pgu_shared->reclaimed;
	snap->waiters = pgu_shared->nwaiters;
	SpinLockRelease(&pgu_shared->mutex);

	snap->abandoned = 0;
	for (i = 0; i < pgu_shared->nslots; i++)
	{
		PguSlot    *slot = &pgu_shared->slots[i];

		uint32		v = pg_atomic_read_u32(&slot->state);

		if ((v & PGU_SLOT_STATE_MASK) != PGU_SLOT_FREE && (v & PGU_SLOT_ABANDONED))
			snap->abandoned++;
	}
}

/*
 * Copy the slots in use (not FREE) into out, up to max; returns how many.
 * Read without a lock: a slot whose state word changed while it was copied
 * (freed, or taken for a new use) is left out rather than shown half old,
 * half new.
 */
int
pgu_queue_inflight(PguSlotInfo *out, int max)
{
	int			n = 0;
	int			i;

	for (i = 0; i < pgu_shared->nslots && n < max; i++)
	{
		PguSlot    *slot = &pgu_shared->slots[i];
		uint32		v = pg_atomic_read_u32(&slot->state);
		PguSlotInfo *info = &out[n];

		if ((v & PGU_SLOT_STATE_MASK) == PGU_SLOT_FREE)
			continue;
		pg_read_barrier();
		info->index = i;
		info->state = v & PGU_SLOT_STATE_MASK;
		info->abandoned = (v & PGU_SLOT_ABANDONED) != 0;
		info->owner_pid = slot->owner_pid;
		info->op = slot->op;
		info->nblocks = slot->nblocks;
		info->nios = slot->nios;
		info->taken_at = slot->taken_at;
		/* not strlcpy: the path may change under us, the copy must end */
		memcpy(info->path, slot->path, MAXPGPATH);
		info->path[MAXPGPATH - 1] = '\0';
		pg_read_barrier();

		/*
		 * Same use, not freed meanwhile: a new owner writes its fields while
		 * the state word still says FREE with the old use counter.
		 */
		{
			uint32		v2 = pg_atomic_read_u32(&slot->state);

			if ((v2 & PGU_SLOT_STATE_MASK) == PGU_SLOT_FREE ||
				(v2 >> PGU_SLOT_USE_SHIFT) != (v >> PGU_SLOT_USE_SHIFT))
				continue;
		}
		n++;
	}
	return n;
}

/*
 * Worker: is anything queued?  Reads the FIFO count without the lock: it
 * is only a hint, the queue is then taken properly.
 */
bool
pgu_queue_has_work(void)
{
	return ((volatile PguShared *) pgu_shared)->fifo_count > 0;
}

/*
 * Worker: is every slot on the free list?  Then no slot can be waiting for
 * reclaim, and an idle worker needs no timer.  A hint, read without the lock.
 */
bool
pgu_queue_all_free(void)
{
	volatile PguShared *q = pgu_shared;

	return q->free_count == q->nslots;
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
		slot_set_state(slot, PGU_SLOT_ACTIVE);	/* keeps ABANDONED */
		slots[n++] = slot;
	}
	SpinLockRelease(&pgu_shared->mutex);
	pg_memory_barrier();
	return n;
}

/*
 * Worker: mark a slot DONE and wake its owner if it sleeps on it; a slot
 * its owner abandoned is freed instead, in the same exchange.
 */
void
pgu_slot_complete(PguSlot *slot)
{
	PGPROC	   *owner = &ProcGlobal->allProcs[slot->owner_procno];
	uint32		v;
	uint32		newv;

	pg_memory_barrier();
	v = pg_atomic_read_u32(&slot->state);
	do
	{
		if (v & PGU_SLOT_ABANDONED)
			newv = free_word(v);
		else
			newv = (v & ~PGU_SLOT_STATE_MASK) | PGU_SLOT_DONE;
	} while (!pg_atomic_compare_exchange_u32(&slot->state, &v, newv));

	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->nactive--;
	SpinLockRelease(&pgu_shared->mutex);

	if ((newv & PGU_SLOT_STATE_MASK) == PGU_SLOT_FREE)
	{
		slot_push_free(slot, true);
		return;
	}
	pg_memory_barrier();
	if (pg_atomic_read_u32(&slot->waiting) != 0)
		SetLatch(&owner->procLatch);
}

/* Worker: announce ourselves (not yet accepting: the ring is not up). */
void
pgu_worker_attach(Latch *latch)
{
	int			i;

	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->worker_pid = MyProcPid;
	pgu_shared->worker_latch = latch;
	pgu_shared->worker_generation++;
	pgu_shared->accepting = false;
	SpinLockRelease(&pgu_shared->mutex);

	/*
	 * Slots still ACTIVE were taken by a worker that could not drain its
	 * ring (an io_uring_enter error).  That process is gone, and with it
	 * its ring (the postmaster starts us seconds after it exited): fail
	 * them, so that they are not lost until restart.
	 */
	for (i = 0; i < pgu_shared->nslots; i++)
	{
		PguSlot    *slot = &pgu_shared->slots[i];

		if (pgu_slot_state(slot) != PGU_SLOT_ACTIVE)
			continue;
		/* a worker never exits with zero-copy reads in flight (it PANICs) */
		if (slot->flags & PGU_FLAG_CLAIMS)
			elog(PANIC, "request slot %d with zero-copy reads was left in progress by an exited ring worker",
				 i);
		pgu_slot_fail_ios(slot, -ESHUTDOWN);
		pgu_slot_complete(slot);
	}
}

/*
 * Worker: publish the ring's status.  *first_refusal is set if the ring is
 * down and no earlier worker has logged that yet (log it once per server
 * start, not at every worker restart).
 */
void
pgu_worker_publish_ring(const PguRingStatus *status, bool *first_refusal)
{
	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->ring = *status;
	*first_refusal = false;
	if (status->state != PGU_RING_UP && !pgu_shared->refusal_logged)
	{
		pgu_shared->refusal_logged = true;
		*first_refusal = true;
	}
	SpinLockRelease(&pgu_shared->mutex);
}

/* Worker: start or stop taking new requests. */
void
pgu_worker_set_accepting(bool accepting)
{
	SpinLockAcquire(&pgu_shared->mutex);
	pgu_shared->accepting = accepting;
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
		pgu_slot_fail_ios(slots[i], -ESHUTDOWN);
		pgu_slot_complete(slots[i]);
	}
	(void) pgu_queue_reclaim();
}
