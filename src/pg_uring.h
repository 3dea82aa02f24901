/*-------------------------------------------------------------------------
 *
 * pg_uring.h
 *	  Constants and GUC variables shared by every pg_uring subsystem.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_H
#define PG_URING_H

#include "compat.h"

/* Blocks one request slot can carry (all in one segment file). */
#define PGU_SLOT_BLOCKS			32

/* Alignment of staging memory: enough for O_DIRECT on any file system. */
#define PGU_STAGING_ALIGN		4096

/* Values of pg_uring.io_method */
typedef enum PguIoMethod
{
	PGU_IO_METHOD_IO_URING,
	PGU_IO_METHOD_SYNC
} PguIoMethod;

/* GUC defaults and limits */
#define PGU_RING_ENTRIES_DEFAULT	256
#define PGU_RING_ENTRIES_MIN		4
#define PGU_RING_ENTRIES_MAX		32768

#define PGU_QUEUE_SIZE_DEFAULT		64
#define PGU_QUEUE_SIZE_MIN			4
#define PGU_QUEUE_SIZE_MAX			1024

#define PGU_COMBINE_LIMIT_DEFAULT	16	/* blocks: 128 kB */
#define PGU_COMBINE_LIMIT_MIN		1
#define PGU_COMBINE_LIMIT_MAX		PGU_SLOT_BLOCKS

#define PGU_QUEUE_DEPTH_DEFAULT		16
#define PGU_QUEUE_DEPTH_MIN			1
#define PGU_QUEUE_DEPTH_MAX			64

#define PGU_BACKEND_QUEUE_LIMIT_DEFAULT	-1	/* a quarter of queue_size */
#define PGU_BACKEND_QUEUE_LIMIT_MIN		-1
#define PGU_BACKEND_QUEUE_LIMIT_MAX		PGU_QUEUE_SIZE_MAX

#define PGU_SQPOLL_IDLE_DEFAULT		100 /* ms */
#define PGU_SQPOLL_IDLE_MIN			1
#define PGU_SQPOLL_IDLE_MAX			60000

#define PGU_VERIFY_RATE_DEFAULT		0	/* MB/s, 0 = unlimited */
#define PGU_VERIFY_RATE_MIN			0
#define PGU_VERIFY_RATE_MAX			100000

#define PGU_PROGRESS_INTERVAL_DEFAULT	0	/* ms, 0 = no NOTICEs */
#define PGU_PROGRESS_INTERVAL_MIN		0
#define PGU_PROGRESS_INTERVAL_MAX		3600000

#define PGU_MAX_PREWARM_WORKERS_DEFAULT	2
#define PGU_MAX_PREWARM_WORKERS_MIN		0
#define PGU_MAX_PREWARM_WORKERS_MAX		64

#define PGU_QUEUE_WAIT_DEFAULT		1000	/* ms */
#define PGU_QUEUE_WAIT_MIN			0
#define PGU_QUEUE_WAIT_MAX			600000

#define PGU_MIN_PARALLEL_PREWARM_DEFAULT	((128 * 1024 * 1024) / BLCKSZ)	/* 128 MB */
#define PGU_MIN_PARALLEL_PREWARM_MIN		0
#define PGU_MIN_PARALLEL_PREWARM_MAX		(PG_INT32_MAX / 2)

#define PGU_AUTOPREWARM_INTERVAL_DEFAULT	300 /* s, 0 = at shutdown only */
#define PGU_AUTOPREWARM_INTERVAL_MIN		0
#define PGU_AUTOPREWARM_INTERVAL_MAX		(INT_MAX / 1000)

#define PGU_AUTOPREWARM_WORKERS_DEFAULT		4	/* databases restored at once */
#define PGU_AUTOPREWARM_WORKERS_MIN			1
#define PGU_AUTOPREWARM_WORKERS_MAX			64

#define PGU_AUTOPREWARM_RATE_DEFAULT		0	/* MB/s, 0 = unlimited */
#define PGU_AUTOPREWARM_RATE_MIN			0
#define PGU_AUTOPREWARM_RATE_MAX			100000

#define PGU_AUTOPREWARM_REPLICATE_RATE_DEFAULT	64	/* MB/s, 0 = unlimited */

/* GUC variables (guc.c) */
extern int	pgu_io_method;
extern int	pgu_ring_entries;
extern int	pgu_queue_size;
extern int	pgu_combine_limit;
extern int	pgu_queue_depth;
extern int	pgu_queue_wait_timeout;
extern int	pgu_backend_queue_limit;
extern bool pgu_direct_io;
extern bool pgu_zero_copy;
extern bool pgu_sqpoll;
extern int	pgu_sqpoll_idle;
extern int	pgu_verify_rate;
extern int	pgu_max_verify_rate;
extern int	pgu_progress_interval;
extern int	pgu_max_prewarm_workers;
extern int	pgu_min_parallel_prewarm_size;
extern bool pgu_autoprewarm;
extern int	pgu_autoprewarm_interval;
extern int	pgu_autoprewarm_workers;
extern int	pgu_autoprewarm_rate_limit;
extern bool pgu_autoprewarm_replicate;
extern char *pgu_autoprewarm_database;
extern int	pgu_autoprewarm_replicate_rate_limit;

/* guc.c */
extern void pgu_define_gucs(void);
extern const char *pgu_io_method_name(int method);
extern int	pgu_verify_rate_effective(void);
extern int	pgu_queue_depth_effective(void);

/* pg_uring.c */
extern void pgu_check_loaded(void);

#endif							/* PG_URING_H */
