/*-------------------------------------------------------------------------
 *
 * pg_uring.c
 *	  Module entry point: GUCs, shared memory, the ring worker and the
 *	  autoprewarm worker.
 *
 * pg_uring must be loaded through shared_preload_libraries: it reserves
 * shared memory for its request queue and staging memory, and registers
 * the ring worker.  Loaded any other way, it does nothing, and every SQL
 * function errors out with a hint.
 *
 * Locking overview (details in each file's banner):
 *	- queue.c: one spinlock over the FIFO, free list and worker fields;
 *	  slot payloads are owned by whoever the slot's state says.
 *	- buffers.c: write I/O state is taken under the buffer header lock;
 *	  reads claim buffers only on 17 (zero-copy: core pins, pg_uring
 *	  takes the I/O state, the ring worker ends it); elsewhere pages
 *	  enter through core's read path;
 *	  no content lock is waited for while I/O state is held.
 *	- autoprewarm.c: one named LWLock serializes dumps of the buffer list;
 *	  a spinlock guards its shared state (last dump and restore, who
 *	  restores).  restore.c: its workers share a dynamic shared memory
 *	  segment of atomics and read-only entries.
 *	- stats.c: lock-free atomic counters.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/shmem.h"

#include "autoprewarm.h"
#include "faults.h"
#include "pg_uring.h"
#include "progress.h"
#include "queue.h"
#include "stats.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/* named wait events, registered per process (compat.h) */
uint32		pgu_wait_event_ids[PGU_WAIT_COUNT];

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Ask for pg_uring's shared memory. */
static void
pgu_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(pgu_shmem_size());
	RequestAddinShmemSpace(pgu_progress_shmem_size());
	RequestAddinShmemSpace(pgu_stats_shmem_size());
	pgu_autoprewarm_shmem_request();
#ifdef PGU_TESTING
	RequestAddinShmemSpace(pgu_faults_shmem_size());
#endif
}

/* Create or attach to pg_uring's shared memory. */
static void
pgu_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	pgu_shmem_init();
	pgu_progress_shmem_init();
	pgu_stats_shmem_init();
	pgu_autoprewarm_shmem_init();
#ifdef PGU_TESTING
	pgu_faults_shmem_init();
#endif
}

/* Module load. */
void
_PG_init(void)
{
	/*
	 * Without shared_preload_libraries there is no shared memory and no
	 * worker; the SQL functions then say so with a hint.  (Our sizing GUCs
	 * are PGC_POSTMASTER, which cannot be defined after startup.)
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;

	pgu_define_gucs();

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgu_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgu_shmem_startup;

	pgu_register_worker();
	if (pgu_autoprewarm)
		pgu_autoprewarm_register();
	if (pgu_autoprewarm_replicate)
		pgu_autoprewarm_replicate_register();
}
