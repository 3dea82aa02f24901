/*-------------------------------------------------------------------------
 *
 * stats.h
 *	  Cumulative I/O statistics of the ring and of the sync path.
 *
 * Counters live in shared memory as atomics; anyone may add to them without
 * a lock.  Reset stores zeroes, which can race with concurrent additions;
 * like core's statistics, a reset is approximate under load.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_STATS_H
#define PG_URING_STATS_H

#include "nodes/execnodes.h"

#include "port/atomics.h"
#include "utils/timestamp.h"

typedef enum PguCounter
{
	PGU_C_REQUESTS,
	PGU_C_READS,
	PGU_C_WRITES,
	PGU_C_FSYNCS,
	PGU_C_BLOCKS_READ,
	PGU_C_BLOCKS_WRITTEN,
	PGU_C_BYTES_READ,
	PGU_C_BYTES_WRITTEN,
	PGU_C_COMBINED_IOS,
	PGU_C_ENTER_CALLS,
	PGU_C_SQES_SUBMITTED,
	PGU_C_CQES_REAPED,
	PGU_C_SQ_FULL_WAITS,
	PGU_C_QUEUE_FULL_WAITS,
	PGU_C_QUEUE_WAIT_TIMEOUTS,
	PGU_C_SHORT_IOS,
	PGU_C_RETRIES,
	PGU_C_ERRORS,
	PGU_C_FALLBACK_IOS,
	PGU_C_PAGES_VERIFIED,
	PGU_C_VERIFY_FAILURES,
	PGU_C_VERIFY_SKIPPED_PAGES,
	PGU_C_VERIFY_SKIPPED_RELS,
	PGU_C_DEFERRED_WRITES,
	PGU_C_PREWARM_WORKERS_PLANNED,
	PGU_C_PREWARM_WORKERS_LAUNCHED,
	PGU_C_PREWARM_HELPER_BLOCKS,
	PGU_C_IO_TIME_US,
	PGU_C_READ_TIME_US,			/* (1.2) the part of io_time_us that reads took */
	PGU_C_WRITE_TIME_US,
	PGU_C_FSYNC_TIME_US,
	PGU_NUM_COUNTERS
} PguCounter;

/* Latency histogram: bucket 0 is < 8 us, bucket i < 8 << i us, last open. */
#define PGU_LAT_BUCKETS		20

/* Which set of counters: the ring, or the synchronous path. */
typedef enum PguStatsPath
{
	PGU_PATH_RING = 0,
	PGU_PATH_SYNC = 1,
	PGU_NUM_PATHS
} PguStatsPath;

typedef struct PguStats
{
	pg_atomic_uint64 counters[PGU_NUM_COUNTERS];
	pg_atomic_uint64 latency[PGU_LAT_BUCKETS];
	pg_atomic_uint64 reset_time;	/* TimestampTz */
} PguStats;

extern Size pgu_stats_shmem_size(void);
extern void pgu_stats_shmem_init(void);

extern void pgu_count(PguStatsPath path, PguCounter c, uint64 n);
extern void pgu_count_latency(PguStatsPath path, bool write, uint64 usec);
extern void pgu_check_result_columns(ReturnSetInfo *rsinfo, const char *fn, int ncols);

#endif							/* PG_URING_STATS_H */
