/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  The pg_uring_progress view and periodic progress NOTICEs.
 *
 * One entry per PGPROC slot.  Only the owning backend writes its entry;
 * it brackets each update with a change counter (as core's backend status
 * does), and readers retry until they see an even, unchanged counter.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "commands/dbcommands.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "pg_uring.h"
#include "progress.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(pg_uring_progress);
PG_FUNCTION_INFO_V1(pg_uring_progress_1_1);

/* Columns of pg_uring_progress(): extension version 1.0, and 1.1 */
#define PGU_PROGRESS_COLS_1_0	7
#define PGU_PROGRESS_COLS	10

typedef struct PguProgress
{
	pg_atomic_uint32 changecount;
	int			pid;			/* 0: no operation running */
	Oid			userid;			/* who runs it: who may see it */
	Oid			datid;			/* in which database */
	char		operation[32];
	Oid			relid;
	int64		blocks_done;
	int64		blocks_total;
	int64		bytes;
	TimestampTz started;
} PguProgress;

static PguProgress *progress = NULL;
static int	nprogress = 0;
static PguProgress *my_progress = NULL;
static TimestampTz last_notice = 0;
static bool quiet = false;		/* no NOTICEs for the current operation */
static bool callbacks_registered = false;

/* Transaction end (an ERROR included): no operation can outlive it. */
static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT)
		pgu_progress_end();
}

/* Process exit. */
static void
progress_exit_callback(int code, Datum arg)
{
	pgu_progress_end();
}

/* Shared memory for the progress array. */
Size
pgu_progress_shmem_size(void)
{
	return mul_size(MaxBackends, sizeof(PguProgress));
}

/* Create or attach to the progress array. */
void
pgu_progress_shmem_init(void)
{
	bool		found;
	int			i;

	nprogress = MaxBackends;
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	progress = ShmemInitStruct("pg_uring progress", pgu_progress_shmem_size(), &found);
	if (!found)
	{
		memset(progress, 0, pgu_progress_shmem_size());
		for (i = 0; i < nprogress; i++)
			pg_atomic_init_u32(&progress[i].changecount, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Begin writing our entry. */
static inline void
begin_write(void)
{
	pg_atomic_fetch_add_u32(&my_progress->changecount, 1);
	pg_write_barrier();
}

/* Finish writing our entry. */
static inline void
end_write(void)
{
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&my_progress->changecount, 1);
}

/* Announce an operation of this backend. */
void
pgu_progress_start(const char *operation, Oid relid, int64 total_blocks)
{
	my_progress = NULL;
	if (progress == NULL || MyProc == NULL || PGU_MY_PROCNO() >= nprogress)
		return;
	if (!callbacks_registered)
	{
		RegisterXactCallback(progress_xact_callback, NULL);
		before_shmem_exit(progress_exit_callback, (Datum) 0);
		callbacks_registered = true;
	}
	my_progress = &progress[PGU_MY_PROCNO()];
	begin_write();
	my_progress->pid = MyProcPid;
	my_progress->userid = GetSessionUserId();	/* as core's backend status */
	my_progress->datid = MyDatabaseId;
	strlcpy(my_progress->operation, operation, sizeof(my_progress->operation));
	my_progress->relid = relid;
	my_progress->blocks_done = 0;
	my_progress->blocks_total = total_blocks;
	my_progress->bytes = 0;
	my_progress->started = GetCurrentTimestamp();
	end_write();
	last_notice = my_progress->started;
	quiet = false;
}

/*
 * No progress NOTICEs for the current operation: it holds buffer I/O state
 * while it runs, and a NOTICE can block on a client that is not reading.
 */
void
pgu_progress_quiet(void)
{
	quiet = true;
}

/* Switch to the next relation of a multi-relation operation. */
void
pgu_progress_set_relation(Oid relid, int64 total_blocks)
{
	if (my_progress == NULL)
		return;
	begin_write();
	my_progress->relid = relid;
	my_progress->blocks_total += total_blocks;
	end_write();
}

/* Record progress, never with a NOTICE. */
void
pgu_progress_record(int64 blocks_done, int64 bytes)
{
	if (my_progress == NULL)
		return;
	begin_write();
	my_progress->blocks_done = blocks_done;
	my_progress->bytes = bytes;
	end_write();
}

/* Record progress; emit a NOTICE if pg_uring.progress_interval says so. */
void
pgu_progress_update(int64 blocks_done, int64 bytes)
{
	if (my_progress == NULL)
		return;
	pgu_progress_record(blocks_done, bytes);

	/*
	 * A NOTICE can block on a client that is not reading; with interrupts
	 * held (inside a stream) that would make us unkillable while we hold
	 * request slots.  So only where interrupts can be serviced: the next
	 * update outside a stream sends it.
	 */
	if (pgu_progress_interval > 0 && !quiet && INTERRUPTS_CAN_BE_PROCESSED())
	{
		TimestampTz now = GetCurrentTimestamp();

		if (TimestampDifferenceExceeds(last_notice, now, pgu_progress_interval))
		{
			last_notice = now;
			ereport(NOTICE,
					(errmsg_plural("%s: %lld of %lld block done (%.1f MB)",
								   "%s: %lld of %lld blocks done (%.1f MB)",
								   (unsigned long) my_progress->blocks_total,
								   my_progress->operation,
								   (long long) blocks_done,
								   (long long) my_progress->blocks_total,
								   bytes / 1048576.0)));
		}
	}
}

/* The operation is over. */
void
pgu_progress_end(void)
{
	if (my_progress == NULL)
		return;
	begin_write();
	my_progress->pid = 0;
	end_write();
	my_progress = NULL;
}

/*
 * SQL: one row per backend running a pg_uring operation.  As in core's
 * pg_stat_progress_* views, a user sees the operations of roles whose
 * privileges he has; pg_read_all_stats (pg_monitor) sees them all.
 */
static void
progress_internal(FunctionCallInfo fcinfo, bool v1_0)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			ncols = v1_0 ? PGU_PROGRESS_COLS_1_0 : PGU_PROGRESS_COLS;
	bool		all;
	int			i;

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	pgu_check_result_columns(rsinfo, "pg_uring_progress()", ncols);
	if (progress == NULL)
		return;
	all = has_privs_of_role(GetUserId(), ROLE_PG_READ_ALL_STATS);

	for (i = 0; i < nprogress; i++)
	{
		PguProgress copy;
		Datum		values[PGU_PROGRESS_COLS];
		bool		nulls[PGU_PROGRESS_COLS] = {0};
		NameData	dbname;
		char	   *datname;

		for (;;)
		{
			uint32		before = pg_atomic_read_u32(&progress[i].changecount);

			pg_read_barrier();
			memcpy(&copy, &progress[i], sizeof(copy));
			pg_read_barrier();
			if ((before & 1) == 0 &&
				before == pg_atomic_read_u32(&progress[i].changecount))
				break;
			CHECK_FOR_INTERRUPTS();
		}
		if (copy.pid == 0)
			continue;
		if (!all && !has_privs_of_role(GetUserId(), copy.userid))
			continue;

		values[0] = Int32GetDatum(copy.pid);
		values[1] = ObjectIdGetDatum(copy.datid);
		datname = OidIsValid(copy.datid) ? get_database_name(copy.datid) : NULL;
		if (datname != NULL)
		{
			namestrcpy(&dbname, datname);
			values[2] = NameGetDatum(&dbname);
		}
		else
			nulls[2] = true;
		values[3] = CStringGetTextDatum(copy.operation);
		/* a regclass means something only in the database it is from */
		if (OidIsValid(copy.relid) && copy.datid == MyDatabaseId)
			values[4] = ObjectIdGetDatum(copy.relid);
		else
			nulls[4] = true;
		values[5] = Int64GetDatum(copy.blocks_done);
		values[6] = Int64GetDatum(copy.blocks_total);
		values[7] = Int64GetDatum(copy.bytes);
		values[8] = TimestampTzGetDatum(copy.started);
		if (OidIsValid(copy.relid))
			values[9] = ObjectIdGetDatum(copy.relid);
		else
			nulls[9] = true;
		if (v1_0)
		{
			/* 1.0: pid, operation, relation, blocks, bytes, started_at */
			Datum		v0[PGU_PROGRESS_COLS_1_0];
			bool		n0[PGU_PROGRESS_COLS_1_0];
			int			k;

			v0[0] = values[0];
			n0[0] = nulls[0];
			for (k = 1; k < PGU_PROGRESS_COLS_1_0; k++)
			{
				v0[k] = values[k + 2];
				n0[k] = nulls[k + 2];
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v0, n0);
		}
		else
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* SQL (extension version 1.0): pg_uring_progress() */
Datum
pg_uring_progress(PG_FUNCTION_ARGS)
{
	progress_internal(fcinfo, true);
	return (Datum) 0;
}

/* SQL (1.1): pg_uring_progress(), with the database and relid */
Datum
pg_uring_progress_1_1(PG_FUNCTION_ARGS)
{
	progress_internal(fcinfo, false);
	return (Datum) 0;
}
