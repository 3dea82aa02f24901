/*-------------------------------------------------------------------------
 *
 * worker.h
 *	  The ring worker: a static background worker that owns the io_uring
 *	  ring and serves the shared-memory request queue.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_WORKER_H
#define PG_URING_WORKER_H

#include "postmaster/bgworker.h"

extern void pgu_worker_init(BackgroundWorker *worker, const char *function,
							const char *name);
extern void pgu_register_static_worker(const char *function, const char *name,
									   int restart_secs);
extern void pgu_register_worker(void);
extern PGDLLEXPORT void pgu_worker_main(Datum main_arg);

#endif							/* PG_URING_WORKER_H */
