/*-------------------------------------------------------------------------
 *
 * stats.c
 *	  Cumulative statistics and the monitoring views of pg_uring.
 *
 * Counters are pg_atomic_uint64 in their own shared memory, one
 * set for the ring and one for the synchronous path.  Readers take no lock;
 * a view row is therefore not an atomic snapshot across counters, which is
 * the same contract as core's cumulative statistics.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "autoprewarm.h"
#include "queue.h"
#include "ring.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(pg_uring_stats);
PG_FUNCTION_INFO_V1(pg_uring_stats_1_1);
PG_FUNCTION_INFO_V1(pg_uring_stats_1_2);
PG_FUNCTION_INFO_V1(pg_uring_latency);
PG_FUNCTION_INFO_V1(pg_uring_latency_1_2);
PG_FUNCTION_INFO_V1(pg_uring_status);
PG_FUNCTION_INFO_V1(pg_uring_status_1_2);
PG_FUNCTION_INFO_V1(pg_uring_status_1_4);
PG_FUNCTION_INFO_V1(pg_uring_stats_reset);
PG_FUNCTION_INFO_V1(pg_uring_stats_reset_1_2);
PG_FUNCTION_INFO_V1(pg_uring_inflight);

static PguStats *pgu_stats = NULL;	/* PGU_NUM_PATHS sets */

/* Zero one set of counters and stamp the reset time. */
static void
stats_zero(PguStats *stats, bool init)
{
	int			i;

	for (i = 0; i < PGU_NUM_COUNTERS; i++)
	{
		if (init)
			pg_atomic_init_u64(&stats->counters[i], 0);
		else
			pg_atomic_write_u64(&stats->counters[i], 0);
	}
	for (i = 0; i < PGU_LAT_BUCKETS; i++)
	{
		if (init)
			pg_atomic_init_u64(&stats->latency[i], 0);
		else
			pg_atomic_write_u64(&stats->latency[i], 0);
	}
	if (init)
		pg_atomic_init_u64(&stats->reset_time, (uint64) GetCurrentTimestamp());
	else
		pg_atomic_write_u64(&stats->reset_time, (uint64) GetCurrentTimestamp());
}

/* Shared memory for the counters. */
Size
pgu_stats_shmem_size(void)
{
	return mul_size(PGU_NUM_PATHS, sizeof(PguStats));
}

/* Create or attach to the counters; called from the startup hook. */
void
pgu_stats_shmem_init(void)
{
	bool		found;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pgu_stats = ShmemInitStruct("pg_uring stats", pgu_stats_shmem_size(), &found);
	if (!found)
	{
		for (i = 0; i < PGU_NUM_PATHS; i++)
			stats_zero(&pgu_stats[i], true);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Add n to one counter. */
void
pgu_count(PguStatsPath path, PguCounter c, uint64 n)
{
	if (pgu_stats != NULL && n != 0)
		pg_atomic_fetch_add_u64(&pgu_stats[path].counters[c], n);
}

/* Record one I/O's latency in the histogram and the total I/O time. */
void
pgu_count_latency(PguStatsPath path, bool write, uint64 usec)
{
	int			bucket = 0;
	uint64		bound = 8;

	if (pgu_stats == NULL)
		return;
	while (bucket < PGU_LAT_BUCKETS - 1 && usec >= bound)
	{
		bucket++;
		bound <<= 1;
	}
	pg_atomic_fetch_add_u64(&pgu_stats[path].latency[bucket], 1);
	pg_atomic_fetch_add_u64(&pgu_stats[path].counters[PGU_C_IO_TIME_US], usec);
	pg_atomic_fetch_add_u64(&pgu_stats[path].counters[write ? PGU_C_WRITE_TIME_US :
													   PGU_C_READ_TIME_US], usec);
}

/* Error out unless the library was preloaded (pg_stat_statements style). */
void
pgu_check_loaded(void)
{
	if (!pgu_queue_attached())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_uring must be loaded via shared_preload_libraries"),
				 errhint("Add pg_uring to shared_preload_libraries in postgresql.conf and restart the server.")));
}

/*
 * A library newer or older than the SQL definition must not write past it:
 * ERROR unless the function fn returns ncols columns.
 */
void
pgu_check_result_columns(ReturnSetInfo *rsinfo, const char *fn, int ncols)
{
	if (rsinfo->setDesc->natts != ncols)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg_plural("%s returns %d column, but the installed library has %d",
							   "%s returns %d columns, but the installed library has %d",
							   rsinfo->setDesc->natts,
							   fn, rsinfo->setDesc->natts, ncols),
				 errhint("Run ALTER EXTENSION pg_uring UPDATE, or install the library that matches the extension's SQL.")));
}

/* Versions of the SQL definition of pg_uring_stats() */
typedef enum PguStatsVersion
{
	PGU_STATS_V1_0,				/* 1.0: no queue_wait_timeouts, no prewarm helper counters */
	PGU_STATS_V1_1
} PguStatsVersion;

/* Is counter c a column of this version's pg_uring_stats()? */
static bool
stats_has_counter(PguStatsVersion v, int c)
{
	if (c == PGU_C_READ_TIME_US || c == PGU_C_WRITE_TIME_US || c == PGU_C_FSYNC_TIME_US)
		return false;			/* 1.2 only, which has a shape of its own */
	if (v >= PGU_STATS_V1_1)
		return true;
	return c != PGU_C_QUEUE_WAIT_TIMEOUTS &&
		c != PGU_C_PREWARM_WORKERS_PLANNED &&
		c != PGU_C_PREWARM_WORKERS_LAUNCHED &&
		c != PGU_C_PREWARM_HELPER_BLOCKS;
}

/* Columns of this version's pg_uring_stats(). */
static int
stats_ncols(PguStatsVersion v)
{
	int			n = 4;			/* method, ring, latency_histogram, stats_reset */
	int			c;

	for (c = 0; c < PGU_NUM_COUNTERS; c++)
		if (stats_has_counter(v, c))
			n++;
	return n;
}

/*
 * One row per ring plus one for the sync path, in the shape of the SQL
 * definition of version v (versioned entry points, as pg_stat_statements).
 */
static void
stats_internal(FunctionCallInfo fcinfo, PguStatsVersion v)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			ncols = stats_ncols(v);
	int			path;

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);

	pgu_check_result_columns(rsinfo, "pg_uring_stats()", ncols);

	for (path = 0; path < PGU_NUM_PATHS; path++)
	{
		PguStats   *st = &pgu_stats[path];
		Datum		values[PGU_NUM_COUNTERS + 4];
		bool		nulls[PGU_NUM_COUNTERS + 4] = {0};
		Datum		hist[PGU_LAT_BUCKETS];
		int			col = 0;
		int			i;

		values[col++] = CStringGetTextDatum(path == PGU_PATH_RING ? "io_uring" : "sync");
		if (path == PGU_PATH_RING)
			values[col++] = Int32GetDatum(0);
		else
			nulls[col++] = true;
		for (i = 0; i < PGU_NUM_COUNTERS; i++)
			if (stats_has_counter(v, i))
				values[col++] = Int64GetDatum((int64) pg_atomic_read_u64(&st->counters[i]));
		for (i = 0; i < PGU_LAT_BUCKETS; i++)
			hist[i] = Int64GetDatum((int64) pg_atomic_read_u64(&st->latency[i]));
		values[col++] = PointerGetDatum(construct_array(hist, PGU_LAT_BUCKETS, INT8OID,
														sizeof(int64), FLOAT8PASSBYVAL,
														TYPALIGN_DOUBLE));
		values[col++] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&st->reset_time));
		Assert(col == ncols);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
}

/* SQL (extension version 1.0): pg_uring_stats() */
Datum
pg_uring_stats(PG_FUNCTION_ARGS)
{
	stats_internal(fcinfo, PGU_STATS_V1_0);
	return (Datum) 0;
}

/* SQL (1.1): pg_uring_stats() */
Datum
pg_uring_stats_1_1(PG_FUNCTION_ARGS)
{
	stats_internal(fcinfo, PGU_STATS_V1_1);
	return (Datum) 0;
}

/*
 * 1.2, in the manner of pg_stat_io: which columns a row has.  A column that
 * does not apply to a method is NULL in its row (the sync path has no
 * ring, no queue; only the sync path defers or syncs writes, and verify's
 * relation skips are counted there).
 */
typedef struct PguStatsColumn
{
	int			counter;		/* PguCounter */
	int			kind;			/* 0: int8, 1: float8 ms from us */
	int			only_path;		/* -1: both rows */
} PguStatsColumn;

static const PguStatsColumn stats_columns_1_2[] = {
	{PGU_C_REQUESTS, 0, -1},
	{PGU_C_READS, 0, -1},
	{PGU_C_BYTES_READ, 0, -1},
	{PGU_C_READ_TIME_US, 1, -1},
	{PGU_C_WRITES, 0, -1},
	{PGU_C_BYTES_WRITTEN, 0, -1},
	{PGU_C_WRITE_TIME_US, 1, -1},
	{PGU_C_FSYNCS, 0, PGU_PATH_SYNC},
	{PGU_C_FSYNC_TIME_US, 1, PGU_PATH_SYNC},
	{PGU_C_BLOCKS_READ, 0, -1},
	{PGU_C_BLOCKS_WRITTEN, 0, -1},
	{PGU_C_COMBINED_IOS, 0, -1},
	{PGU_C_ENTER_CALLS, 0, PGU_PATH_RING},
	{PGU_C_SQES_SUBMITTED, 0, PGU_PATH_RING},
	{PGU_C_CQES_REAPED, 0, PGU_PATH_RING},
	{PGU_C_SQ_FULL_WAITS, 0, PGU_PATH_RING},
	{PGU_C_QUEUE_FULL_WAITS, 0, PGU_PATH_RING},
	{PGU_C_QUEUE_WAIT_TIMEOUTS, 0, PGU_PATH_RING},
	{PGU_C_SHORT_IOS, 0, -1},
	{PGU_C_RETRIES, 0, -1},
	{PGU_C_ERRORS, 0, -1},
	{PGU_C_FALLBACK_IOS, 0, PGU_PATH_RING},
	{PGU_C_PAGES_VERIFIED, 0, -1},
	{PGU_C_VERIFY_FAILURES, 0, -1},
	{PGU_C_VERIFY_SKIPPED_PAGES, 0, -1},
	{PGU_C_VERIFY_SKIPPED_RELS, 0, PGU_PATH_SYNC},
	{PGU_C_DEFERRED_WRITES, 0, PGU_PATH_SYNC},
	{PGU_C_PREWARM_WORKERS_PLANNED, 0, -1},
	{PGU_C_PREWARM_WORKERS_LAUNCHED, 0, -1},
	{PGU_C_PREWARM_HELPER_BLOCKS, 0, -1},
};

/* Columns of pg_uring_stats() 1.2: method, the above, stats_reset */
#define PGU_STATS_COLS_1_2	((int) lengthof(stats_columns_1_2) + 2)

/* SQL (1.2): pg_uring_stats(), aligned with pg_stat_io */
Datum
pg_uring_stats_1_2(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			path;

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	pgu_check_result_columns(rsinfo, "pg_uring_stats()", PGU_STATS_COLS_1_2);

	for (path = 0; path < PGU_NUM_PATHS; path++)
	{
		PguStats   *st = &pgu_stats[path];
		Datum		values[PGU_STATS_COLS_1_2];
		bool		nulls[PGU_STATS_COLS_1_2] = {0};
		int			col = 0;
		int			i;

		values[col++] = CStringGetTextDatum(path == PGU_PATH_RING ? "io_uring" : "sync");
		for (i = 0; i < (int) lengthof(stats_columns_1_2); i++)
		{
			const PguStatsColumn *c = &stats_columns_1_2[i];
			uint64		v = pg_atomic_read_u64(&st->counters[c->counter]);

			if (c->only_path >= 0 && c->only_path != path)
				nulls[col++] = true;
			else if (c->kind == 1)
				values[col++] = Float8GetDatum((double) v / 1000.0);
			else
				values[col++] = Int64GetDatum((int64) v);
		}
		values[col++] = TimestampTzGetDatum((TimestampTz) pg_atomic_read_u64(&st->reset_time));
		Assert(col == PGU_STATS_COLS_1_2);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * The latency histograms, one row per bucket; up to 1.1 with a "ring"
 * column (always 0) after the method.
 */
static void
latency_internal(FunctionCallInfo fcinfo, bool with_ring)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			path;

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	pgu_check_result_columns(rsinfo, "pg_uring_latency()", with_ring ? 6 : 5);

	for (path = 0; path < PGU_NUM_PATHS; path++)
	{
		int			b;

		for (b = 0; b < PGU_LAT_BUCKETS; b++)
		{
			Datum		values[6];
			bool		nulls[6] = {0};
			int			col = 0;

			values[col++] = CStringGetTextDatum(path == PGU_PATH_RING ? "io_uring" : "sync");
			if (with_ring)
			{
				if (path == PGU_PATH_RING)
					values[col++] = Int32GetDatum(0);
				else
					nulls[col++] = true;
			}
			values[col++] = Int32GetDatum(b);
			values[col++] = Int64GetDatum(b == 0 ? 0 : (int64) 8 << (b - 1));
			if (b == PGU_LAT_BUCKETS - 1)
				nulls[col++] = true;
			else
				values[col++] = Int64GetDatum((int64) 8 << b);
			values[col++] = Int64GetDatum((int64) pg_atomic_read_u64(&pgu_stats[path].latency[b]));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
}

/* SQL (1.0, 1.1): pg_uring_latency(), with the "ring" column */
Datum
pg_uring_latency(PG_FUNCTION_ARGS)
{
	latency_internal(fcinfo, true);
	return (Datum) 0;
}

/* SQL (1.2): pg_uring_latency() */
Datum
pg_uring_latency_1_2(PG_FUNCTION_ARGS)
{
	latency_internal(fcinfo, false);
	return (Datum) 0;
}

/* Build a text[] from a NULL-terminated list of C strings. */
static Datum
text_array(const char **items, int n)
{
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	return PointerGetDatum(construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * One row describing the method in effect and the ring.  Up to 1.1 with
 * blocks_per_request (a constant) after reclaimed_slots; 1.2 has
 * slot_waiters there instead; 1.4 adds the last autoprewarm dump and
 * restore at the end.
 */
static void
status_internal(FunctionCallInfo fcinfo, int version)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PguQueueSnapshot q;
	PguRingStatus ring;
	Datum		values[31];
	bool		nulls[31] = {0};
	const char *names[64];
	int			n;
	int			col = 0;
	int			ncols = version >= 14 ? 31 : 26;
	bool		v1_2 = version >= 12;

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	pgu_check_result_columns(rsinfo, "pg_uring_status()", ncols);

	pgu_queue_snapshot(&q);
	ring = q.ring;

	values[col++] = CStringGetTextDatum(pgu_io_method_name(pgu_io_method));
	values[col++] = CStringGetTextDatum(pgu_io_method == PGU_IO_METHOD_IO_URING && q.accepting ?
										"io_uring" : "sync");
	values[col++] = BoolGetDatum(ring.state == PGU_RING_UP && q.accepting);
	values[col++] = CStringGetTextDatum(ring.state == PGU_RING_UP ? "up" :
										ring.state == PGU_RING_DOWN ? "down" :
										ring.state == PGU_RING_STOPPED ? "stopped" :
										"not started");
	if (ring.reason[0] != '\0')
		values[col++] = CStringGetTextDatum(ring.reason);
	else
		nulls[col++] = true;
	if (q.worker_pid != 0)
		values[col++] = Int32GetDatum(q.worker_pid);
	else
		nulls[col++] = true;
	values[col++] = Int32GetDatum(pgu_ring_entries);
	values[col++] = Int32GetDatum(ring.sq_entries);
	values[col++] = Int32GetDatum(ring.cq_entries);
	values[col++] = BoolGetDatum(ring.sqpoll);
	if (ring.kernel_release[0] != '\0')
		values[col++] = CStringGetTextDatum(ring.kernel_release);
	else
		nulls[col++] = true;
	n = pgu_ring_feature_names(ring.features, names, lengthof(names));
	values[col++] = text_array(names, n);
	n = pgu_ring_opcode_names(ring.opcodes, names, lengthof(names));
	values[col++] = text_array(names, n);
	values[col++] = Int32GetDatum(q.nslots);
	values[col++] = Int32GetDatum(q.free_count);
	values[col++] = Int32GetDatum(q.fifo_count);
	values[col++] = Int32GetDatum(q.nactive);
	values[col++] = Int32GetDatum(q.abandoned);
	values[col++] = Int64GetDatum((int64) q.reclaimed);
	if (v1_2)
		values[col++] = Int32GetDatum(q.waiters);
	else
		values[col++] = Int32GetDatum(PGU_SLOT_BLOCKS);
	values[col++] = Int32GetDatum(pgu_combine_limit);
	values[col++] = BoolGetDatum(pgu_direct_io);
	values[col++] = BoolGetDatum(ring.buffers_dio_aligned);
	values[col++] = Int32GetDatum(ring.dio_mem_align);
	values[col++] = Int32GetDatum(ring.dio_offset_align);
	values[col++] = Int64GetDatum((int64) q.nslots * PGU_SLOT_BLOCKS * BLCKSZ);
	Assert(col == 26);
	if (version >= 14)
	{
		PguApwStatus apw;

		/* NULL until this server has dumped, or restored, once */
		pgu_autoprewarm_get_status(&apw);
		nulls[col] = apw.last_dump_time == 0;
		values[col++] = TimestampTzGetDatum(apw.last_dump_time);
		nulls[col] = apw.last_dump_time == 0;
		values[col++] = Int64GetDatum(apw.last_dump_blocks);
		nulls[col] = apw.last_restore_time == 0;
		values[col++] = TimestampTzGetDatum(apw.last_restore_time);
		nulls[col] = apw.last_restore_time == 0;
		values[col++] = Int64GetDatum(apw.last_restore_blocks);
		nulls[col] = apw.last_restore_time == 0;
		values[col++] = Float8GetDatum(apw.last_restore_seconds);
		Assert(col == 31);
	}

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/* SQL (1.0, 1.1): pg_uring_status() */
Datum
pg_uring_status(PG_FUNCTION_ARGS)
{
	status_internal(fcinfo, 10);
	return (Datum) 0;
}

/* SQL (1.2): pg_uring_status(), with slot_waiters */
Datum
pg_uring_status_1_2(PG_FUNCTION_ARGS)
{
	status_internal(fcinfo, 12);
	return (Datum) 0;
}

/* SQL (1.4): pg_uring_status(), with the last autoprewarm dump and restore */
Datum
pg_uring_status_1_4(PG_FUNCTION_ARGS)
{
	status_internal(fcinfo, 14);
	return (Datum) 0;
}

/* SQL (1.0, 1.1): pg_uring_stats_reset(), every counter of both methods */
Datum
pg_uring_stats_reset(PG_FUNCTION_ARGS)
{
	int			path;

	pgu_check_loaded();
	for (path = 0; path < PGU_NUM_PATHS; path++)
		stats_zero(&pgu_stats[path], false);
	PG_RETURN_VOID();
}

/*
 * SQL (1.2): pg_uring_stats_reset(target text DEFAULT NULL), as core's
 * pg_stat_reset_shared(): NULL resets both rows (and their latency
 * histograms), 'io_uring' or 'sync' one of them.
 */
Datum
pg_uring_stats_reset_1_2(PG_FUNCTION_ARGS)
{
	int			path;

	pgu_check_loaded();
	if (PG_ARGISNULL(0))
	{
		for (path = 0; path < PGU_NUM_PATHS; path++)
			stats_zero(&pgu_stats[path], false);
	}
	else
	{
		char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));

		if (strcmp(target, "io_uring") == 0)
			stats_zero(&pgu_stats[PGU_PATH_RING], false);
		else if (strcmp(target, "sync") == 0)
			stats_zero(&pgu_stats[PGU_PATH_SYNC], false);
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unrecognized reset target: \"%s\"", target),
					 errhint("Target must be \"io_uring\" or \"sync\", or NULL for both.")));
	}
	PG_RETURN_VOID();
}

/* Columns of pg_uring_inflight() */
#define PGU_INFLIGHT_COLS	9

/* SQL: one row per request slot in use, as PostgreSQL 18's pg_aios. */
Datum
pg_uring_inflight(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PguSlotInfo *info;
	int			n;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	pgu_check_loaded();
	InitMaterializedSRF(fcinfo, 0);
	pgu_check_result_columns(rsinfo, "pg_uring_inflight()", PGU_INFLIGHT_COLS);

	info = palloc(sizeof(PguSlotInfo) * pgu_queue_nslots());
	n = pgu_queue_inflight(info, pgu_queue_nslots());
	for (i = 0; i < n; i++)
	{
		Datum		values[PGU_INFLIGHT_COLS];
		bool		nulls[PGU_INFLIGHT_COLS] = {0};
		const char *state;
		const char *op = NULL;
		long		secs;
		int			usecs;

		switch (info[i].state)
		{
			case PGU_SLOT_FILLING:
				state = "filling";
				break;
			case PGU_SLOT_QUEUED:
				state = "queued";
				break;
			case PGU_SLOT_ACTIVE:
				state = "active";
				break;
			default:
				state = "done";
				break;
		}
		if (info[i].state != PGU_SLOT_FILLING)
		{
			switch (info[i].op)
			{
				case PGU_OP_READ:
					op = "read";
					break;
				case PGU_OP_WRITE:
					op = "write";
					break;
				case PGU_OP_PREFETCH:
					op = "prefetch";
					break;
			}
		}
		values[0] = Int32GetDatum(info[i].index);
		values[1] = Int32GetDatum(info[i].owner_pid);
		values[2] = CStringGetTextDatum(state);
		values[3] = BoolGetDatum(info[i].abandoned);
		if (op)
			values[4] = CStringGetTextDatum(op);
		else
			nulls[4] = true;
		if (info[i].path[0] != '\0' && info[i].state != PGU_SLOT_FILLING)
			values[5] = CStringGetTextDatum(info[i].path);
		else
			nulls[5] = true;
		values[6] = Int32GetDatum(info[i].nblocks);
		values[7] = Int32GetDatum(info[i].nios);
		TimestampDifference(info[i].taken_at, now, &secs, &usecs);
		values[8] = Float8GetDatum((double) secs + usecs / 1000000.0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
