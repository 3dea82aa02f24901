/*-------------------------------------------------------------------------
 *
 * replicate.c
 *	  Warm standbys (pg_uring.autoprewarm_replicate): the primary's list of
 *	  blocks in shared buffers reaches its standbys through streaming
 *	  replication, and each standby restores the primary's hot set.
 *
 * The carrier is an ordinary table of the extension,
 * pg_uring_autoprewarm_list, in the database pg_uring.autoprewarm_database:
 * one row per relation fork and usage count, its blocks in an array.  Its
 * changes are plain heap WAL, so any standby replays them, one without
 * pg_uring as well (no custom resource manager, nothing to load).
 *
 * One background worker, "pg_uring autoprewarm replicate", connected to
 * that database:
 *	- on a primary, every pg_uring.autoprewarm_interval and at shutdown, it
 *	  replaces the table's rows with the current buffer list, in one
 *	  transaction (readers see the old list or the new one);
 *	- on a standby, every few seconds, it reads the newest list that has
 *	  arrived, keeps the blocks it does not cache, and restores them
 *	  through restore.c (a worker per database, hottest first, stopping
 *	  when no buffer is free), at pg_uring.autoprewarm_replicate_rate_limit;
 *	- a standby that is promoted starts publishing.
 * A database without pg_uring 1.4 (or without the table) is reported once,
 * with a hint; the worker keeps trying.
 *
 * Locking rules of this file: none of its own.  The table is written in one
 * transaction by the primary's worker only; buffer headers are read
 * through buffers.c; a restore is claimed in autoprewarm.c's shared state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "autoprewarm.h"
#include "buffers.h"
#include "pg_uring.h"
#include "worker.h"

/* How often a standby looks for a newer list, at most. */
#define REPLICATE_POLL_MAX_MS	5000L

/* A missing table was reported (again only after it showed up once). */
static bool missing_reported = false;

/* A FOR ALL TABLES publication was reported (again only after it went). */
static bool publication_reported = false;

/* Newest list a standby has restored. */
static TimestampTz last_applied = 0;

/*
 * The list table's qualified name, or NULL (reported once) when this
 * database has no pg_uring 1.4 or later.  In a transaction, SPI connected.
 */
static char *
list_table(void)
{
	int			rc;

	rc = SPI_execute("SELECT pg_catalog.format('%I.%I', n.nspname, c.relname)"
					 "  FROM pg_catalog.pg_extension e"
					 "  JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
					 "  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid"
					 "   AND c.relname = 'pg_uring_autoprewarm_list'"
					 " WHERE e.extname = 'pg_uring'", true, 1);
	if (rc == SPI_OK_SELECT && SPI_processed == 1)
	{
		missing_reported = false;
		return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	}
	if (!missing_reported)
		ereport(LOG,
				(errmsg("pg_uring.autoprewarm_replicate is on, but database \"%s\" has no pg_uring 1.4 or later",
						pgu_autoprewarm_database),
				 errdetail("The list of blocks in shared buffers reaches standbys through table pg_uring_autoprewarm_list of the extension."),
				 errhint("Run CREATE EXTENSION pg_uring, or ALTER EXTENSION pg_uring UPDATE, in database \"%s\" on the primary.",
						 pgu_autoprewarm_database)));
	missing_reported = true;
	return NULL;
}

/* Begin a transaction with SPI and a snapshot. */
static void
begin_spi(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

/* End it. */
static void
end_spi(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Primary: replace the table's rows with the current buffer list. */
static void
publish(void)
{
	PguBlockEntry *entries;
	int			n;
	int			i;
	char	   *table;
	SPIPlanPtr	plan;
	Oid			argtypes[7] = {TIMESTAMPTZOID, OIDOID, OIDOID, OIDOID, INT2OID, INT2OID,
	INT8ARRAYOID};
	Datum	   *blocks;
	TimestampTz now;

	begin_spi("publishing the autoprewarm list");
	table = list_table();
	if (table == NULL)
	{
		end_spi();
		return;
	}

	/*
	 * A FOR ALL TABLES publication would refuse our DELETE (no replica
	 * identity) or send the rows to subscribers that lack the table: we
	 * stay out of it.
	 */
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_publication WHERE puballtables", true, 1) == SPI_OK_SELECT &&
		SPI_processed > 0)
	{
		if (!publication_reported)
			ereport(LOG,
					(errmsg("pg_uring autoprewarm does not send its list to standbys: database \"%s\" has a publication FOR ALL TABLES",
							pgu_autoprewarm_database),
					 errdetail("Such a publication would take in pg_uring_autoprewarm_list."),
					 errhint("Set pg_uring.autoprewarm_database to a database without one.")));
		publication_reported = true;
		end_spi();
		return;
	}
	publication_reported = false;
	entries = palloc_extended(sizeof(PguBlockEntry) * (Size) NBuffers, MCXT_ALLOC_HUGE);
	blocks = palloc_extended(sizeof(Datum) * (Size) NBuffers, MCXT_ALLOC_HUGE);
	n = pgu_buf_list_all(entries);
	if (n > 1)
		qsort(entries, n, sizeof(PguBlockEntry), pgu_autoprewarm_entry_cmp);

	if (SPI_execute(psprintf("DELETE FROM %s", table), false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not empty %s", table);
	plan = SPI_prepare(psprintf("INSERT INTO %s (dumped_at, database, tablespace, filenode, fork, usage, blocks)"
								" VALUES ($1, $2, $3, $4, $5, $6, $7)", table),
					   7, argtypes);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	now = GetCurrentTimestamp();
	for (i = 0; i < n;)
	{
		int			j = i;
		int			k = 0;
		Datum		values[7];

		CHECK_FOR_INTERRUPTS();
		while (j < n && entries[j].database == entries[i].database &&
			   entries[j].usage == entries[i].usage &&
			   entries[j].tablespace == entries[i].tablespace &&
			   entries[j].filenode == entries[i].filenode &&
			   entries[j].fork == entries[i].fork)
			blocks[k++] = Int64GetDatum((int64) entries[j++].block);
		values[0] = TimestampTzGetDatum(now);
		values[1] = ObjectIdGetDatum(entries[i].database);
		values[2] = ObjectIdGetDatum(entries[i].tablespace);
		values[3] = ObjectIdGetDatum(entries[i].filenode);
		values[4] = Int16GetDatum((int16) entries[i].fork);
		values[5] = Int16GetDatum((int16) entries[i].usage);
		values[6] = PointerGetDatum(construct_array(blocks, k, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		if (SPI_execute_plan(plan, values, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "could not insert into %s", table);
		i = j;
	}
	end_spi();
	elog(DEBUG1, "pg_uring autoprewarm published %d blocks", n);
}

/*
 * Standby: if a newer list has arrived, restore the blocks of it that are
 * not cached.  A restore already running (the startup one, or one on
 * demand) makes this one wait for the next poll.
 */
static void
poll_restore(MemoryContext cxt)
{
	char	   *table;
	Datum		newest;
	bool		isnull;
	TimestampTz dumped_at;
	PguBlockEntry *entries = NULL;
	int64		n = 0;
	int64		cap = 0;
	uint64		r;
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];
	int64		loaded;

	begin_spi("looking for a newer autoprewarm list");
	table = list_table();
	if (table == NULL ||
		SPI_execute(psprintf("SELECT max(dumped_at) FROM %s", table), true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
	{
		end_spi();
		return;
	}
	newest = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	dumped_at = isnull ? 0 : DatumGetTimestampTz(newest);
	if (isnull || dumped_at <= last_applied)
	{
		end_spi();
		return;
	}
	args[0] = TimestampTzGetDatum(dumped_at);
	if (SPI_execute_with_args(psprintf("SELECT database, tablespace, filenode, fork, usage, blocks"
									   "  FROM %s WHERE dumped_at = $1", table),
							  1, argtypes, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read %s", table);

	/* the blocks not cached here, kept beyond the transaction */
	for (r = 0; r < SPI_processed; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		PguBlockEntry e;
		ArrayType  *arr;
		Datum		blocks_datum;
		Datum	   *elems;
		bool	   *elem_nulls;
		int			nelems;
		int			i;
		bool		nul[6];

		e.database = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &nul[0]));
		e.tablespace = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &nul[1]));
		e.filenode = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &nul[2]));
		e.fork = (ForkNumber) DatumGetInt16(SPI_getbinval(tup, desc, 4, &nul[3]));
		e.usage = DatumGetInt16(SPI_getbinval(tup, desc, 5, &nul[4]));
		blocks_datum = SPI_getbinval(tup, desc, 6, &nul[5]);
		if (nul[0] || nul[1] || nul[2] || nul[3] || nul[4] || nul[5] ||
			e.fork < 0 || e.fork > MAX_FORKNUM)
			continue;			/* not ours to interpret: skip the row */
		arr = DatumGetArrayTypeP(blocks_datum);
		if (ARR_NDIM(arr) > 1)
			continue;
		deconstruct_array(arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
						  &elems, &elem_nulls, &nelems);
		for (i = 0; i < nelems; i++)
		{
			int64		b = DatumGetInt64(elems[i]);

			if (elem_nulls[i] || b < 0 || b > (int64) MaxBlockNumber)
				continue;
			e.block = (BlockNumber) b;
			if (pgu_buf_entry_cached(&e))
				continue;
			if (n == cap)
			{
				MemoryContext old = MemoryContextSwitchTo(cxt);

				cap = Max(cap * 2, 1024);
				entries = entries == NULL ?
					palloc_extended(sizeof(PguBlockEntry) * cap, MCXT_ALLOC_HUGE) :
					repalloc_huge(entries, sizeof(PguBlockEntry) * cap);
				MemoryContextSwitchTo(old);
			}
			entries[n++] = e;
		}
		pfree(elems);
		pfree(elem_nulls);
		if ((Pointer) arr != DatumGetPointer(blocks_datum))
			pfree(arr);
	}
	end_spi();

	if (n == 0)
	{
		last_applied = dumped_at;
		if (entries)
			pfree(entries);
		return;
	}
	if (!pgu_autoprewarm_restore_claim(false))
	{
		pfree(entries);
		return;
	}
	/*
	 * A standby's buffers fill up with what replay touched: the primary's
	 * hot set may take their place (core's clock sweep picks the victims),
	 * as long as it fits in shared buffers at all.
	 */
	if (pgu_autoprewarm_restore_claimed(entries, n, "the primary's list", true,
										pgu_autoprewarm_replicate_rate_limit,
										n <= (int64) NBuffers, &loaded))
		last_applied = dumped_at;
}

/* Register the replicate worker (pg_uring.autoprewarm_replicate = on). */
void
pgu_autoprewarm_replicate_register(void)
{
	pgu_register_static_worker("pgu_autoprewarm_replicate_main",
							   "pg_uring autoprewarm replicate", 60);
}

/* Entry point of the replicate worker. */
PGDLLEXPORT void
pgu_autoprewarm_replicate_main(Datum main_arg)
{
	MemoryContext cxt;
	TimestampTz last_publish;
	TimestampTz started = GetCurrentTimestamp();

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(pgu_autoprewarm_database, NULL, 0);
	pgstat_report_appname("pg_uring autoprewarm replicate");

	/*
	 * We run as the bootstrap superuser: no user schema on our path.  A
	 * commit never waits for a synchronous standby that may be gone (the
	 * list is a hint: losing one costs nothing), and no lock is waited for
	 * long, so that a shutdown never hangs on us.
	 */
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("lock_timeout", "5s", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "0", PGC_SUSET, PGC_S_OVERRIDE);
	cxt = AllocSetContextCreate(TopMemoryContext, "pg_uring autoprewarm replicate",
								ALLOCSET_DEFAULT_SIZES);

	ereport(LOG,
			(errmsg("pg_uring autoprewarm replicate worker started"),
			 errdetail("The list of blocks in shared buffers goes from the primary to its standbys through table pg_uring_autoprewarm_list of database \"%s\".",
					   pgu_autoprewarm_database)));

	/* the first list after one interval: not before the primary's own restore */
	last_publish = GetCurrentTimestamp();
	while (!ShutdownRequestPending)
	{
		long		timeout = REPLICATE_POLL_MAX_MS;
		TimestampTz now;

		pgu_autoprewarm_absorb_barriers();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		if (RecoveryInProgress())
		{
			/* the standby's own dump first (autoprewarm.c), a minute at most */
			if (!pgu_autoprewarm_startup_restore_pending() ||
				TimestampDifferenceExceeds(started, now, 60000))
				poll_restore(cxt);
			MemoryContextReset(cxt);
			if (pgu_autoprewarm_interval > 0)
				timeout = Min(timeout, (long) pgu_autoprewarm_interval * 1000L);
		}
		else if (pgu_autoprewarm_interval > 0)
		{
			TimestampTz next = TimestampTzPlusMilliseconds(last_publish,
														   (int64) pgu_autoprewarm_interval * 1000);

			if (now >= next)
			{
				publish();
				last_publish = GetCurrentTimestamp();
				continue;
			}
			timeout = (long) Min((next - now) / 1000 + 1, (TimestampTz) INT_MAX);
		}
		/* else only at shutdown; waking up now and then all the same */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}

	/* a primary's last list, at shutdown (standbys get it before it stops) */
	if (!RecoveryInProgress())
		publish();
	proc_exit(0);
}
