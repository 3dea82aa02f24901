/*-------------------------------------------------------------------------
 *
 * progress.h
 *	  Progress of long pg_uring operations, one entry per backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_PROGRESS_H
#define PG_URING_PROGRESS_H

#include "datatype/timestamp.h"

extern Size pgu_progress_shmem_size(void);
extern void pgu_progress_shmem_init(void);

extern void pgu_progress_register_callbacks(void);
extern void pgu_progress_start(const char *operation, Oid relid, int64 total_blocks);
extern void pgu_progress_start_session(const char *operation, Oid relid,
									   int64 total_blocks);
extern void pgu_progress_quiet(void);
extern void pgu_progress_set_relation(Oid relid, int64 total_blocks);
extern void pgu_progress_update(int64 blocks_done, int64 bytes);
extern void pgu_progress_record(int64 blocks_done, int64 bytes);
extern void pgu_progress_end(void);
extern void pgu_progress_set_phase(const char *phase);
extern void pgu_progress_set_relations(int64 done, int64 total);

/* what a backend waits on inside pg_uring (pg_uring_waits) */
extern void pgu_wait_report_begin(int event);
extern void pgu_wait_report_end(void);

#endif							/* PG_URING_PROGRESS_H */
