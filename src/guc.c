/*-------------------------------------------------------------------------
 *
 * guc.c
 *	  Configuration parameters of pg_uring.
 *
 * Every parameter lives under the reserved prefix "pg_uring.".  Sizing
 * parameters that shape shared memory or the ring are PGC_POSTMASTER; the
 * method switch is superuser-settable at run time; per-call tuning is
 * user-settable.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/guc.h"

#include "pg_uring.h"

int			pgu_io_method = PGU_IO_METHOD_IO_URING;
int			pgu_ring_entries = PGU_RING_ENTRIES_DEFAULT;
int			pgu_queue_size = PGU_QUEUE_SIZE_DEFAULT;
int			pgu_combine_limit = PGU_COMBINE_LIMIT_DEFAULT;
int			pgu_queue_depth = PGU_QUEUE_DEPTH_DEFAULT;
int			pgu_queue_wait_timeout = PGU_QUEUE_WAIT_DEFAULT;
int			pgu_backend_queue_limit = PGU_BACKEND_QUEUE_LIMIT_DEFAULT;
bool		pgu_direct_io = false;
bool		pgu_zero_copy = true;
bool		pgu_sqpoll = false;
int			pgu_sqpoll_idle = PGU_SQPOLL_IDLE_DEFAULT;
int			pgu_verify_rate = PGU_VERIFY_RATE_DEFAULT;
int			pgu_max_verify_rate = PGU_VERIFY_RATE_DEFAULT;
int			pgu_progress_interval = PGU_PROGRESS_INTERVAL_DEFAULT;
int			pgu_max_prewarm_workers = PGU_MAX_PREWARM_WORKERS_DEFAULT;
int			pgu_min_parallel_prewarm_size = PGU_MIN_PARALLEL_PREWARM_DEFAULT;
bool		pgu_autoprewarm = false;
int			pgu_autoprewarm_interval = PGU_AUTOPREWARM_INTERVAL_DEFAULT;
int			pgu_autoprewarm_workers = PGU_AUTOPREWARM_WORKERS_DEFAULT;
int			pgu_autoprewarm_rate_limit = PGU_AUTOPREWARM_RATE_DEFAULT;
bool		pgu_autoprewarm_replicate = false;
char	   *pgu_autoprewarm_database = NULL;
int			pgu_autoprewarm_replicate_rate_limit = PGU_AUTOPREWARM_REPLICATE_RATE_DEFAULT;

static const struct config_enum_entry pgu_io_method_options[] = {
	{"io_uring", PGU_IO_METHOD_IO_URING, false},
	{"sync", PGU_IO_METHOD_SYNC, false},
	{NULL, 0, false}
};

/* Name of an io_method value, as the GUC spells it. */
const char *
pgu_io_method_name(int method)
{
	return method == PGU_IO_METHOD_SYNC ? "sync" : "io_uring";
}

/*
 * The verify rate in force, in MB/s (0: none): the session's
 * pg_uring.verify_rate_limit, within the DBA's pg_uring.max_verify_rate_limit.
 */
int
pgu_verify_rate_effective(void)
{
	if (pgu_max_verify_rate <= 0)
		return pgu_verify_rate;
	if (pgu_verify_rate <= 0)
		return pgu_max_verify_rate;
	return Min(pgu_verify_rate, pgu_max_verify_rate);
}

/*
 * Requests one stream keeps in flight: pg_uring.queue_depth, within the
 * DBA's pg_uring.backend_queue_limit (-1: a quarter of the queue).  A limit
 * at or above queue_size lets one stream ask for every slot (it then finds
 * the queue full, and consumes its own completions to go on).
 */
int
pgu_queue_depth_effective(void)
{
	int			limit = pgu_backend_queue_limit;

	if (limit < 0)
		limit = pgu_queue_size / 4;
	limit = Max(limit, 1);
	return Max(Min(pgu_queue_depth, limit), 1);
}

/* Define all pg_uring GUCs and reserve the prefix. */
void
pgu_define_gucs(void)
{
	DefineCustomEnumVariable("pg_uring.io_method",
							 "Selects how pg_uring performs page I/O.",
							 "io_uring hands batches to the ring worker; sync performs them in the calling backend.",
							 &pgu_io_method,
							 PGU_IO_METHOD_IO_URING,
							 pgu_io_method_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.ring_entries",
							"Number of submission queue entries of the io_uring ring.",
							NULL,
							&pgu_ring_entries,
							PGU_RING_ENTRIES_DEFAULT,
							PGU_RING_ENTRIES_MIN,
							PGU_RING_ENTRIES_MAX,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.queue_size",
							"Number of request slots in the shared-memory queue.",
							"Each slot carries up to 32 blocks and owns 256 kB of staging memory.",
							&pgu_queue_size,
							PGU_QUEUE_SIZE_DEFAULT,
							PGU_QUEUE_SIZE_MIN,
							PGU_QUEUE_SIZE_MAX,
							PGC_POSTMASTER,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.combine_limit",
							"Largest number of adjacent blocks combined into one readv or writev.",
							NULL,
							&pgu_combine_limit,
							PGU_COMBINE_LIMIT_DEFAULT,
							PGU_COMBINE_LIMIT_MIN,
							PGU_COMBINE_LIMIT_MAX,
							PGC_USERSET,
							GUC_UNIT_BLOCKS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.queue_depth",
							"Number of requests one backend keeps in flight.",
							NULL,
							&pgu_queue_depth,
							PGU_QUEUE_DEPTH_DEFAULT,
							PGU_QUEUE_DEPTH_MIN,
							PGU_QUEUE_DEPTH_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.backend_queue_limit",
							"Largest number of request slots one process may hold at once.",
							"Caps pg_uring.queue_depth for every session, so that none takes the whole shared queue; -1 means a quarter of pg_uring.queue_size.",
							&pgu_backend_queue_limit,
							PGU_BACKEND_QUEUE_LIMIT_DEFAULT,
							PGU_BACKEND_QUEUE_LIMIT_MIN,
							PGU_BACKEND_QUEUE_LIMIT_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.queue_wait_timeout",
							"Longest time a call waits for a free request slot before it does its I/O itself.",
							"When every slot of the shared queue stays taken this long, the call performs the rest of its I/O synchronously instead of waiting further.",
							&pgu_queue_wait_timeout,
							PGU_QUEUE_WAIT_DEFAULT,
							PGU_QUEUE_WAIT_MIN,
							PGU_QUEUE_WAIT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_uring.direct_io",
							 "Reads pages with O_DIRECT, bypassing the kernel page cache.",
							 "Applies to ring reads of verify and, on PostgreSQL 17, of zero-copy buffer-mode prewarm; all other I/O uses the page cache.",
							 &pgu_direct_io,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_uring.zero_copy",
							 "Reads buffer-mode prewarm through the ring straight into shared buffers.",
							 "PostgreSQL 17 only; elsewhere, and when off, the ring reads ahead into the page cache and pages enter shared buffers through core's read.",
							 &pgu_zero_copy,
							 true,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_uring.sqpoll",
							 "Lets a kernel thread poll the ring's submission queue.",
							 NULL,
							 &pgu_sqpoll,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.sqpoll_idle",
							"Idle time after which the SQPOLL kernel thread sleeps.",
							NULL,
							&pgu_sqpoll_idle,
							PGU_SQPOLL_IDLE_DEFAULT,
							PGU_SQPOLL_IDLE_MIN,
							PGU_SQPOLL_IDLE_MAX,
							PGC_POSTMASTER,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.verify_rate_limit",
							"Caps the read rate of pg_uring_verify, in megabytes per second.",
							"0 means no limit.",
							&pgu_verify_rate,
							PGU_VERIFY_RATE_DEFAULT,
							PGU_VERIFY_RATE_MIN,
							PGU_VERIFY_RATE_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.max_verify_rate_limit",
							"Caps the read rate of every pg_uring_verify, in megabytes per second.",
							"A ceiling that users can lower with pg_uring.verify_rate_limit but not raise; 0 means no ceiling.",
							&pgu_max_verify_rate,
							PGU_VERIFY_RATE_DEFAULT,
							PGU_VERIFY_RATE_MIN,
							PGU_VERIFY_RATE_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.progress_interval",
							"Emits a progress NOTICE this often during long pg_uring operations.",
							"0 disables the NOTICEs; pg_uring_progress always shows progress.",
							&pgu_progress_interval,
							PGU_PROGRESS_INTERVAL_DEFAULT,
							PGU_PROGRESS_INTERVAL_MIN,
							PGU_PROGRESS_INTERVAL_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.max_prewarm_workers",
							"Sets the maximum number of helper processes of one buffer-mode prewarm.",
							"Helpers are parallel workers, taken from max_parallel_workers and max_worker_processes; 0 makes the caller work alone.",
							&pgu_max_prewarm_workers,
							PGU_MAX_PREWARM_WORKERS_DEFAULT,
							PGU_MAX_PREWARM_WORKERS_MIN,
							PGU_MAX_PREWARM_WORKERS_MAX,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.min_parallel_prewarm_size",
							"Sets the minimum size of a buffer-mode prewarm that uses helper processes.",
							"Each further multiple of this size adds a helper, up to pg_uring.max_prewarm_workers.",
							&pgu_min_parallel_prewarm_size,
							PGU_MIN_PARALLEL_PREWARM_DEFAULT,
							PGU_MIN_PARALLEL_PREWARM_MIN,
							PGU_MIN_PARALLEL_PREWARM_MAX,
							PGC_USERSET,
							GUC_UNIT_BLOCKS,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_uring.autoprewarm",
							 "Starts the autoprewarm worker, which restores the last dump of the shared buffer list at startup and dumps it again.",
							 "The dump is written every pg_uring.autoprewarm_interval and at shutdown, in contrib pg_prewarm's format.",
							 &pgu_autoprewarm,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.autoprewarm_interval",
							"Sets the interval between dumps of the shared buffer list.",
							"0 dumps only at shutdown.",
							&pgu_autoprewarm_interval,
							PGU_AUTOPREWARM_INTERVAL_DEFAULT,
							PGU_AUTOPREWARM_INTERVAL_MIN,
							PGU_AUTOPREWARM_INTERVAL_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.autoprewarm_workers",
							"Sets how many databases an autoprewarm restore reads at once.",
							"Each takes a background worker from max_worker_processes while it runs.",
							&pgu_autoprewarm_workers,
							PGU_AUTOPREWARM_WORKERS_DEFAULT,
							PGU_AUTOPREWARM_WORKERS_MIN,
							PGU_AUTOPREWARM_WORKERS_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.autoprewarm_rate_limit",
							"Caps the read rate of an autoprewarm restore, in megabytes per second.",
							"0 means no limit.  The cap is shared by all databases being restored.",
							&pgu_autoprewarm_rate_limit,
							PGU_AUTOPREWARM_RATE_DEFAULT,
							PGU_AUTOPREWARM_RATE_MIN,
							PGU_AUTOPREWARM_RATE_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("pg_uring.autoprewarm_replicate",
							 "Sends the primary's list of blocks in shared buffers to its standbys, which restore it.",
							 "The list goes through table pg_uring_autoprewarm_list in pg_uring.autoprewarm_database.",
							 &pgu_autoprewarm_replicate,
							 false,
							 PGC_POSTMASTER,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("pg_uring.autoprewarm_database",
							   "Sets the database whose pg_uring_autoprewarm_list carries the list to standbys.",
							   "pg_uring 1.4 or later must be installed there.",
							   &pgu_autoprewarm_database,
							   "postgres",
							   PGC_POSTMASTER,
							   0,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("pg_uring.autoprewarm_replicate_rate_limit",
							"Caps the read rate of a standby's restores of the primary's list, in megabytes per second.",
							"0 means no limit.",
							&pgu_autoprewarm_replicate_rate_limit,
							PGU_AUTOPREWARM_REPLICATE_RATE_DEFAULT,
							PGU_AUTOPREWARM_RATE_MIN,
							PGU_AUTOPREWARM_RATE_MAX,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("pg_uring");
}
