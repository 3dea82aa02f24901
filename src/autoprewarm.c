/*-------------------------------------------------------------------------
 *
 * autoprewarm.c
 *	  The autoprewarm dump: the list of blocks in shared buffers, written to
 *	  a file in the data directory every pg_uring.autoprewarm_interval, at
 *	  shutdown, and on demand (pg_uring_autoprewarm_dump_now()).
 *
 * File format: contrib pg_prewarm's ("<<N>>" on the first line, then one
 * "database,tablespace,filenode,fork,block" line per block), so that
 * pg_prewarm's autoprewarm can read what we write.  pg_prewarm sorts the
 * list itself when it loads it; we write the hottest blocks first (usage
 * count, highest first), which that format allows without a field of its
 * own.  Our file is pg_uring_autoprewarm.blocks, not pg_prewarm's
 * autoprewarm.blocks, so that both modules loaded at once never write the
 * same file.
 *
 * The write is atomic: a temporary file is written and fsynced, renamed
 * over the dump and the directory fsynced (durable_rename).  A crash in
 * the middle leaves the previous dump as it was; the next dump truncates
 * the leftover temporary file.
 *
 * After the last block line comes one line of ours that pg_prewarm never
 * reads (it reads the number of lines the first line gives, and stops):
 * "#pg_uring system_identifier=S usage=5:n5,4:n4,3:n3,2:n2,1:n1,0:n0",
 * the cluster that wrote the dump and how many of the lines, from the top,
 * had each usage count.  The restore (restore.c) uses them to skip another
 * cluster's dump and to read the hottest blocks first.
 *
 * This file also keeps the shared state of autoprewarm: the last dump and
 * restore, for pg_uring_status, and which restore runs.
 *
 * Locking rules of this file:
 *	- one named LWLock ("pg_uring autoprewarm") serializes dumps, so that
 *	  the worker and pg_uring_autoprewarm_dump_now() never write the
 *	  temporary file at once.  It is taken conditionally, in a loop that
 *	  sleeps on the latch and checks for interrupts, so a caller that waits
 *	  behind a slow dump can still be cancelled;
 *	- buffer headers are read through buffers.c (each under its spinlock,
 *	  nothing pinned), before the file is opened;
 *	- the shared state (ApwShared) is read and written under its spinlock,
 *	  a few fields at a time, nothing else done while it is held.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/procsignal.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "access/xlog.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "autoprewarm.h"
#include "buffers.h"
#include "faults.h"
#include "pg_uring.h"
#include "worker.h"

#define AUTOPREWARM_FILE		PGU_APW_FILE
#define AUTOPREWARM_TMP_FILE	PGU_APW_FILE ".tmp"
#define AUTOPREWARM_TRANCHE		"pg_uring autoprewarm"
/*
 * Longest wait of the worker's dumps for another one to finish: a stuck
 * dump_now() must not keep the worker from its next interval, nor the
 * server from shutting down.
 */
#define WORKER_DUMP_WAIT_MS		10000L

PG_FUNCTION_INFO_V1(pg_uring_autoprewarm_dump_now);

/* Autoprewarm's shared state. */
typedef struct ApwShared
{
	slock_t		mutex;
	bool		startup_restore_claimed;	/* the worker's restore began */
	pid_t		restore_pid;	/* process running a restore, or 0 */
	PguApwStatus status;		/* last dump and restore */
} ApwShared;

static ApwShared *apw_shared = NULL;

/* Ask for the dump lock and the shared state (shmem request hook). */
void
pgu_autoprewarm_shmem_request(void)
{
	RequestNamedLWLockTranche(AUTOPREWARM_TRANCHE, 1);
	RequestAddinShmemSpace(MAXALIGN(sizeof(ApwShared)));
}

/* Create or attach to the shared state (shmem startup hook). */
void
pgu_autoprewarm_shmem_init(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	apw_shared = ShmemInitStruct("pg_uring autoprewarm", sizeof(ApwShared), &found);
	if (!found)
	{
		memset(apw_shared, 0, sizeof(ApwShared));
		SpinLockInit(&apw_shared->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Copy out the last dump and restore (pg_uring_status). */
void
pgu_autoprewarm_get_status(PguApwStatus *status)
{
	SpinLockAcquire(&apw_shared->mutex);
	*status = apw_shared->status;
	SpinLockRelease(&apw_shared->mutex);
}

/*
 * Become the one process that runs a restore; false if another does.  The
 * worker's startup restore claims it once per server start (a worker
 * restarted after a crash does not restore again).
 */
bool
pgu_autoprewarm_restore_claim(bool startup)
{
	bool		ok;

	SpinLockAcquire(&apw_shared->mutex);
	ok = apw_shared->restore_pid == 0 &&
		!(startup && apw_shared->startup_restore_claimed);
	if (ok)
		apw_shared->restore_pid = MyProcPid;
	/* tried once: another restore running then stands in for it */
	if (startup)
		apw_shared->startup_restore_claimed = true;
	SpinLockRelease(&apw_shared->mutex);
	return ok;
}

/*
 * Is the autoprewarm worker's startup restore still to come?  Other
 * restores (the standby's of the primary's list) wait for it.
 */
bool
pgu_autoprewarm_startup_restore_pending(void)
{
	bool		pending;

	if (!pgu_autoprewarm)
		return false;
	SpinLockAcquire(&apw_shared->mutex);
	pending = !apw_shared->startup_restore_claimed;
	SpinLockRelease(&apw_shared->mutex);
	return pending;
}

/* End our restore; with record, it is the last one pg_uring_status shows. */
void
pgu_autoprewarm_restore_release(bool record, int64 blocks, double seconds)
{
	TimestampTz now = GetCurrentTimestamp();	/* not under the spinlock */

	SpinLockAcquire(&apw_shared->mutex);
	if (apw_shared->restore_pid == MyProcPid)
	{
		apw_shared->restore_pid = 0;
		if (record)
		{
			apw_shared->status.last_restore_time = now;
			apw_shared->status.last_restore_blocks = blocks;
			apw_shared->status.last_restore_seconds = seconds;
		}
	}
	SpinLockRelease(&apw_shared->mutex);
}

/* Hotter first; then in file order, so that equal counts stay sorted. */
static int
entry_cmp(const void *a, const void *b)
{
	const PguBlockEntry *x = a;
	const PguBlockEntry *y = b;

	if (x->usage != y->usage)
		return x->usage > y->usage ? -1 : 1;
	if (x->database != y->database)
		return x->database < y->database ? -1 : 1;
	return pgu_apw_cmp_file_block(x, y);
}

/*
 * Take the dump lock, sleeping between tries; interrupts are served.  With
 * max_wait_ms >= 0, give up after that long and return NULL (the worker:
 * a shutdown never waits for a dump stuck in a file system).
 */
static LWLock *
dump_lock_acquire(long max_wait_ms)
{
	LWLock	   *lock = &(GetNamedLWLockTranche(AUTOPREWARM_TRANCHE))->lock;
	long		waited = 0;

	while (!LWLockConditionalAcquire(lock, LW_EXCLUSIVE))
	{
		if (max_wait_ms >= 0 && waited >= max_wait_ms)
			return NULL;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		waited += 10;
	}
	return lock;
}

/*
 * Write the dump; returns the number of blocks, or -1 after reporting a
 * failure at elevel (LOG in the worker: the previous dump stays).
 * max_wait_ms bounds the wait for another dump (-1: no bound).
 */
static int64
dump_write(int elevel, long max_wait_ms)
{
	PguBlockEntry *entries;
	int			n;
	int			i;
	FILE	   *file;
	LWLock	   *lock;

	/* before anything is open: an ERROR here leaves nothing behind */
	entries = palloc_extended(sizeof(PguBlockEntry) * (Size) NBuffers, MCXT_ALLOC_HUGE);
	n = pgu_buf_list_all(entries);
	if (n > 1)
		qsort(entries, n, sizeof(PguBlockEntry), entry_cmp);

	lock = dump_lock_acquire(max_wait_ms);
	if (lock == NULL)
	{
		pfree(entries);
		ereport(elevel,
				(errmsg("could not dump the shared buffer list to \"%s\"", AUTOPREWARM_FILE),
				 errdetail("Another dump did not finish within %ld ms.", max_wait_ms),
				 errhint("The previous dump is kept.")));
		return -1;
	}
	file = AllocateFile(AUTOPREWARM_TMP_FILE, PG_BINARY_W);
	if (file == NULL)
	{
		int			save_errno = errno;

		LWLockRelease(lock);
		pfree(entries);
		errno = save_errno;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", AUTOPREWARM_TMP_FILE)));
		return -1;
	}

	errno = 0;
	if (fprintf(file, "<<%d>>\n", n) < 0)
		goto write_failed;
	for (i = 0; i < n; i++)
	{
#ifdef PGU_TESTING
		/* testing build: hold a dump half-written (a crash test kills us) */
		if (i == n / 2)
		{
			if (fflush(file) != 0)
				goto write_failed;
			/* stall: until reset (a reload's SIGHUP would cut a delay short) */
			while (PGU_FAULT(PGU_FP_DUMP_DELAY) == PGU_FA_STALL)
				pg_usleep(10000L);
		}
#endif
		if (fprintf(file, "%u,%u,%u,%u,%u\n",
					entries[i].database, entries[i].tablespace, entries[i].filenode,
					(uint32) entries[i].fork, entries[i].block) < 0)
			goto write_failed;
	}
	/* ours: the cluster, and how many lines (from the top) per usage count */
	{
		int64		per_usage[PGU_BUF_MAX_USAGE + 1] = {0};
		int			u;

		for (i = 0; i < n; i++)
			per_usage[Min(Max(entries[i].usage, 0), PGU_BUF_MAX_USAGE)]++;
		if (fprintf(file, "%s system_identifier=" UINT64_FORMAT " usage=",
					PGU_APW_TRAILER, GetSystemIdentifier()) < 0)
			goto write_failed;
		for (u = PGU_BUF_MAX_USAGE; u >= 0; u--)
			if (fprintf(file, "%d:%lld%s", u, (long long) per_usage[u], u > 0 ? "," : "\n") < 0)
				goto write_failed;
	}
	/* FreeFile is fclose: it flushes, and reports what the flush hit */
	if (FreeFile(file) != 0)
	{
		file = NULL;
		goto write_failed;
	}
	file = NULL;

	/* fsync the file, rename it over the dump, fsync the directory */
	if (durable_rename(AUTOPREWARM_TMP_FILE, AUTOPREWARM_FILE, elevel) != 0)
	{
		(void) unlink(AUTOPREWARM_TMP_FILE);
		LWLockRelease(lock);
		pfree(entries);
		return -1;
	}
	LWLockRelease(lock);
	pfree(entries);
	{
		TimestampTz now = GetCurrentTimestamp();	/* not under the spinlock */

		SpinLockAcquire(&apw_shared->mutex);
		apw_shared->status.last_dump_time = now;
		apw_shared->status.last_dump_blocks = n;
		SpinLockRelease(&apw_shared->mutex);
	}
	return n;

write_failed:
	{
		int			save_errno = errno ? errno : ENOSPC;

		if (file != NULL)
			(void) FreeFile(file);
		(void) unlink(AUTOPREWARM_TMP_FILE);
		LWLockRelease(lock);
		pfree(entries);
		errno = save_errno;
		ereport(elevel,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", AUTOPREWARM_TMP_FILE)));
		return -1;
	}
}

/*
 * Absorb procsignal barriers (DROP DATABASE waits for every connected
 * process to close its files).  Our workers take SIGTERM as a shutdown
 * request, not as die(), so they serve barriers themselves, not through
 * CHECK_FOR_INTERRUPTS.
 */
void
pgu_autoprewarm_absorb_barriers(void)
{
	if (ProcSignalBarrierPending)
		ProcessProcSignalBarrier();
}

/* Register the autoprewarm worker (pg_uring.autoprewarm = on). */
void
pgu_autoprewarm_register(void)
{
	/* on a standby, once it is consistent: the buffers then hold pages */
	pgu_register_static_worker("pgu_autoprewarm_main", "pg_uring autoprewarm", 10);
}

/*
 * Entry point of the autoprewarm worker: dump every
 * pg_uring.autoprewarm_interval (never if 0), and at shutdown.
 */
void
pgu_autoprewarm_main(Datum main_arg)
{
	TimestampTz last_dump = GetCurrentTimestamp();

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	/* no database: this gives us pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_uring autoprewarm");

	ereport(LOG,
			(errmsg("pg_uring autoprewarm worker started"),
			 errdetail("The shared buffer list is dumped to \"%s\".", AUTOPREWARM_FILE)));

	/*
	 * Once per server start (not again after a crash of this worker): the
	 * last dump back into shared buffers, before the first dump replaces
	 * it.  Stopped by a shutdown, the restore leaves the dump as it is.
	 */
	if (pgu_autoprewarm_restore_claim(true))
	{
		bool		complete = pgu_autoprewarm_restore_at_startup();

		if (!complete && ShutdownRequestPending)
		{
			ereport(LOG,
					(errmsg("pg_uring autoprewarm did not dump at shutdown"),
					 errdetail("The restore of the previous dump had not finished; the dump is kept for the next start.")));
			proc_exit(0);
		}
	}
	last_dump = GetCurrentTimestamp();

	while (!ShutdownRequestPending)
	{
		long		timeout = -1;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (pgu_autoprewarm_interval > 0)
		{
			TimestampTz next = TimestampTzPlusMilliseconds(last_dump,
														   (int64) pgu_autoprewarm_interval * 1000);
			TimestampTz now = GetCurrentTimestamp();

			if (now >= next)
			{
				(void) dump_write(LOG, WORKER_DUMP_WAIT_MS);
				last_dump = GetCurrentTimestamp();
				continue;
			}
			timeout = (long) Min((next - now) / 1000 + 1, (TimestampTz) INT_MAX);
		}
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		pgu_autoprewarm_absorb_barriers();
	}

	/* shutdown: the buffers are still there (the checkpointer runs after us) */
	{
		int64		n = dump_write(LOG, WORKER_DUMP_WAIT_MS);

		if (n >= 0)
			ereport(LOG,
					(errmsg_plural("pg_uring autoprewarm dumped %lld block at shutdown",
								   "pg_uring autoprewarm dumped %lld blocks at shutdown",
								   n, (long long) n)));
	}
	proc_exit(0);
}

/* SQL: dump the shared buffer list now; returns the number of blocks. */
Datum
pg_uring_autoprewarm_dump_now(PG_FUNCTION_ARGS)
{
	pgu_check_loaded();
	PG_RETURN_INT64(dump_write(ERROR, -1));
}
