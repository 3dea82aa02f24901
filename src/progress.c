/*-------------------------------------------------------------------------
 *
 * progress.c
 *	  The pg_uring_progress view and periodic progress NOTICEs.
 *
 * One entry per PGPROC slot.  Only the owning backend writes its entry;
 * it brackets each update with a change counter (as core's backend status
 * does), and readers retry until they see an even, unchanged counter.
 *
 * The entry also says what the backend waits on inside pg_uring, if
 * anything (pg_uring_waits): a request slot, a batch, the verify rate
 * limit or its prewarm helpers.  Waits are shown whether or not an
 * operation row is (a prewarm helper has none).  Transaction end and exit
 * clear both.
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
#include "queue.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(pg_uring_progress);
PG_FUNCTION_INFO_V1(pg_uring_progress_1_1);
PG_FUNCTION_INFO_V1(pg_uring_progress_1_2);
PG_FUNCTION_INFO_V1(pg_uring_waits);

/* Columns of pg_uring_progress(): extension version 1.0, 1.1 and 1.2 */
#define PGU_PROGRESS_COLS_1_0	7
#define PGU_PROGRESS_COLS_1_1	10
#define PGU_PROGRESS_COLS	13

/* Columns of pg_uring_waits() */
#define PGU_WAITS_COLS			6

/* The versions of pg_uring_progress()'s SQL definition */
typedef enum PguProgressVersion
{
	PGU_PROGRESS_V1_0,
	PGU_PROGRESS_V1_1,
	PGU_PROGRESS_V1_2
} PguProgressVersion;

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
	char		phase[32];
	int64		relations_done;
	int64		relations_total;	/* -1: not a multi-relation operation */
	/* what the backend waits on (any time, not only in an operation) */
	int			wait_pid;		/* 0: not waiting */
	int			wait_event;		/* PguWaitEvent */
	TimestampTz wait_since;
} PguProgress;

static PguProgress *progress = NULL;
static int	nprogress = 0;
static PguProgress *my_progress = NULL;
static TimestampTz last_notice = 0;
static bool quiet = false;		/* no NOTICEs for the current operation */
static bool callbacks_registered = false;
static bool outlives_xact = false;	/* a worker's operation over many transactions */

/* Transaction end (an ERROR included): no operation or wait outlives it. */
static void
progress_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT || event == XACT_EVENT_PARALLEL_COMMIT)
	{
		pgu_wait_report_end();
		if (!outlives_xact)
			pgu_progress_end();
	}
}

/* Subtransaction abort (an ERROR caught by an EXCEPTION block): no wait. */
static void
progress_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		pgu_wait_report_end();
}

/* Process exit. */
static void
progress_exit_callback(int code, Datum arg)
{
	pgu_wait_report_end();
	pgu_progress_end();
}

/* Our entry, or NULL (no shared memory, no PGPROC slot of a backend). */
static PguProgress *
own_entry(void)
{
	if (progress == NULL || MyProc == NULL || PGU_MY_PROCNO() >= nprogress)
		return NULL;
	return &progress[PGU_MY_PROCNO()];
}

/*
 * The callbacks that clear our entry, registered once per process.  May
 * ERROR (out of memory): called where nothing is held, at the start of an
 * operation and of every stream (pgu_stream_begin), so that the waits of
 * streams, which run with interrupts held, are reported too.
 */
void
pgu_progress_register_callbacks(void)
{
	if (!callbacks_registered)
	{
		RegisterXactCallback(progress_xact_callback, NULL);
		RegisterSubXactCallback(progress_subxact_callback, NULL);
		before_shmem_exit(progress_exit_callback, (Datum) 0);
		callbacks_registered = true;
	}
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

/* Begin writing entry e (ours). */
static inline void
begin_write_entry(PguProgress *e)
{
	pg_atomic_fetch_add_u32(&e->changecount, 1);
	pg_write_barrier();
}

/* Finish writing entry e (ours). */
static inline void
end_write_entry(PguProgress *e)
{
	pg_write_barrier();
	pg_atomic_fetch_add_u32(&e->changecount, 1);
}

/* Begin writing our operation's entry. */
static inline void
begin_write(void)
{
	begin_write_entry(my_progress);
}

/* Finish writing our operation's entry. */
static inline void
end_write(void)
{
	end_write_entry(my_progress);
}

/*
 * We wait on event (a PguWaitEvent) inside pg_uring.  Kept, with its start
 * time, if we already wait on the same event.  Never ERRORs: may be called
 * with anything held.
 */
void
pgu_wait_report_begin(int event)
{
	PguProgress *e = own_entry();

	if (e == NULL)
		return;
	if (e->wait_pid == MyProcPid && e->wait_event == event)
		return;
	if (!callbacks_registered)
	{
		/* registering may ERROR: only where that is safe (nothing held) */
		if (!INTERRUPTS_CAN_BE_PROCESSED())
			return;
		pgu_progress_register_callbacks();
	}
	begin_write_entry(e);
	e->wait_event = event;
	e->wait_since = GetCurrentTimestamp();
	e->wait_pid = MyProcPid;
	end_write_entry(e);
}

/* The wait is over.  Never ERRORs. */
void
pgu_wait_report_end(void)
{
	PguProgress *e = own_entry();

	if (e == NULL || e->wait_pid == 0)
		return;
	begin_write_entry(e);
	e->wait_pid = 0;
	end_write_entry(e);
}

/* Announce an operation of this backend. */
void
pgu_progress_start(const char *operation, Oid relid, int64 total_blocks)
{
	my_progress = NULL;
	outlives_xact = false;
	if (own_entry() == NULL)
		return;
	pgu_progress_register_callbacks();
	my_progress = own_entry();
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
	my_progress->phase[0] = '\0';
	my_progress->relations_done = 0;
	my_progress->relations_total = -1;
	end_write();
	last_notice = my_progress->started;
	quiet = false;
}

/*
 * Start an operation of a background worker that runs over many
 * transactions (autoprewarm's restore): transaction ends leave it be; it
 * ends with pgu_progress_end or the process.
 */
void
pgu_progress_start_session(const char *operation, Oid relid, int64 total_blocks)
{
	pgu_progress_start(operation, relid, total_blocks);
	outlives_xact = true;
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

/* The operation enters a phase (a short lower-case text, as core's). */
void
pgu_progress_set_phase(const char *phase)
{
	if (my_progress == NULL)
		return;
	begin_write();
	strlcpy(my_progress->phase, phase, sizeof(my_progress->phase));
	end_write();
}

/* Relations done of total, for an operation over many relations. */
void
pgu_progress_set_relations(int64 done, int64 total)
{
	if (my_progress == NULL)
		return;
	begin_write();
	my_progress->relations_done = done;
	my_progress->relations_total = total;
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
	outlives_xact = false;
	if (my_progress == NULL)
		return;
	begin_write();
	my_progress->pid = 0;
	end_write();
	my_progress = NULL;
}

/* A consistent copy of entry i (see the top of this file). */
static void
read_entry(int i, PguProgress *copy)
{
	for (;;)
	{
		uint32		before = pg_atomic_read_u32(&progress[i].changecount);

		pg_read_barrier();
		memcpy(copy, &progress[i], sizeof(*copy));
		pg_read_barrier();
		if ((before & 1) == 0 &&
			before == pg_atomic_read_u32(&progress[i].changecount))
			break;
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * SQL: one row per backend running a pg_uring operation.  As in core's
 * pg_stat_progress_* views, a user sees the operations of roles whose
 * privileges he has; pg_read_all_stats (pg_monitor) sees them all.
 */
static void
progress_internal(FunctionCallInfo fcinfo, PguProgressVersion v)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			ncols = v == PGU_PROGRESS_V1_0 ? PGU_PROGRESS_COLS_1_0 :
		v == PGU_PROGRESS_V1_1 ? PGU_PROGRESS_COLS_1_1 : PGU_PROGRESS_COLS;
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
		int			col = 0;

		read_entry(i, &copy);
		if (copy.pid == 0)
			continue;
		if (!all && !has_privs_of_role(GetUserId(), copy.userid))
			continue;

		/* 1.0: pid, operation, relation, blocks, bytes, started_at */
		values[col++] = Int32GetDatum(copy.pid);
		if (v >= PGU_PROGRESS_V1_1)
		{
			values[col++] = ObjectIdGetDatum(copy.datid);
			datname = OidIsValid(copy.datid) ? get_database_name(copy.datid) : NULL;
			if (datname != NULL)
			{
				namestrcpy(&dbname, datname);
				values[col++] = NameGetDatum(&dbname);
			}
			else
				nulls[col++] = true;
		}
		values[col++] = CStringGetTextDatum(copy.operation);
		if (v >= PGU_PROGRESS_V1_2)
		{
			if (copy.phase[0] != '\0')
				values[col++] = CStringGetTextDatum(copy.phase);
			else
				nulls[col++] = true;
		}
		/* a regclass means something only in the database it is from */
		if (OidIsValid(copy.relid) && copy.datid == MyDatabaseId)
			values[col++] = ObjectIdGetDatum(copy.relid);
		else
			nulls[col++] = true;
		values[col++] = Int64GetDatum(copy.blocks_done);
		values[col++] = Int64GetDatum(copy.blocks_total);
		values[col++] = Int64GetDatum(copy.bytes);
		if (v >= PGU_PROGRESS_V1_2)
		{
			if (copy.relations_total >= 0)
			{
				values[col++] = Int64GetDatum(copy.relations_done);
				values[col++] = Int64GetDatum(copy.relations_total);
			}
			else
			{
				nulls[col++] = true;
				nulls[col++] = true;
			}
		}
		values[col++] = TimestampTzGetDatum(copy.started);
		if (v >= PGU_PROGRESS_V1_1)
		{
			if (OidIsValid(copy.relid))
				values[col++] = ObjectIdGetDatum(copy.relid);
			else
				nulls[col++] = true;
		}
		Assert(col == ncols);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* SQL (extension version 1.0): pg_uring_progress() */
Datum
pg_uring_progress(PG_FUNCTION_ARGS)
{
	progress_internal(fcinfo, PGU_PROGRESS_V1_0);
	return (Datum) 0;
}

/* SQL (1.1): pg_uring_progress(), with the database and relid */
Datum
pg_uring_progress_1_1(PG_FUNCTION_ARGS)
{
	progress_internal(fcinfo, PGU_PROGRESS_V1_1);
	return (Datum) 0;
}

/* SQL (1.2): pg_uring_progress(), with the phase and relation counts */
Datum
pg_uring_progress_1_2(PG_FUNCTION_ARGS)
{
	progress_internal(fcinfo, PGU_PROGRESS_V1_2);
	return (Datum) 0;
}

/*
 * SQL: one row per backend waiting inside pg_uring: on what, since when,
 * its place in line for a request slot, and how many slots it holds.
 * pg_monitor only (granted in the SQL), as pg_uring_inflight.
 */
Datum
pg_uring_waits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	pgu_check_result_columns(rsinfo, "pg_uring_waits()", PGU_WAITS_COLS);
	if (progress == NULL)
		return (Datum) 0;

	for (i = 0; i < nprogress; i++)
	{
		PguProgress copy;
		Datum		values[PGU_WAITS_COLS];
		bool		nulls[PGU_WAITS_COLS] = {0};
		long		secs;
		int			usecs;
		int			pos;

		read_entry(i, &copy);
		if (copy.wait_pid == 0)
			continue;
		values[0] = Int32GetDatum(copy.wait_pid);
		values[1] = CStringGetTextDatum(pgu_wait_event_name(copy.wait_event));
		values[2] = TimestampTzGetDatum(copy.wait_since);
		TimestampDifference(copy.wait_since, now, &secs, &usecs);
		values[3] = Float8GetDatum((double) secs + usecs / 1000000.0);
		pos = copy.wait_event == PGU_WAIT_SLOT ? pgu_queue_waiter_position(copy.wait_pid) : 0;
		if (pos > 0)
			values[4] = Int32GetDatum(pos);
		else
			nulls[4] = true;
		values[5] = Int32GetDatum(pgu_queue_slots_held(copy.wait_pid));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
