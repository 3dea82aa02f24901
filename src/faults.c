/*-------------------------------------------------------------------------
 *
 * faults.c
 *	  Fault injection points of the testing build (see faults.h).
 *
 * The points live in shared memory so that the worker and every backend
 * see what a test armed.  Each point counts its hits with an atomic; a hit
 * fires when skip <= hit < skip + count.  Arming is not atomic with
 * respect to concurrent hits; tests arm a point before they start the
 * operation that hits it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#ifdef PGU_TESTING

#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"

#include "faults.h"
#include "pg_uring.h"

PG_FUNCTION_INFO_V1(pg_uring_fault_set);
PG_FUNCTION_INFO_V1(pg_uring_fault_reset);
PG_FUNCTION_INFO_V1(pg_uring_fault_hits);

typedef struct PguFault
{
	pg_atomic_uint32 action;	/* PguFaultAction */
	pg_atomic_uint64 skip;
	pg_atomic_uint64 count;		/* PG_UINT64_MAX: until reset */
	pg_atomic_uint32 arg;
	pg_atomic_uint64 calls;		/* hits since armed */
	pg_atomic_uint64 fired;		/* times it fired since armed */
} PguFault;

static PguFault *faults = NULL;

static const char *const point_names[PGU_NUM_FAULT_POINTS] = {
	"read", "write", "close", "install_delay", "write_delay",
	"complete_delay", "worker_stall", "drop_delay", "dump_delay",
	"submit"
};

static const char *const action_names[] = {
	"none", "eio", "short", "eof", "delay", "stall"
};

/* Shared memory for the points. */
Size
pgu_faults_shmem_size(void)
{
	return mul_size(PGU_NUM_FAULT_POINTS, sizeof(PguFault));
}

/* Create or attach to the points. */
void
pgu_faults_shmem_init(void)
{
	bool		found;
	int			i;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	faults = ShmemInitStruct("pg_uring faults", pgu_faults_shmem_size(), &found);
	if (!found)
	{
		for (i = 0; i < PGU_NUM_FAULT_POINTS; i++)
		{
			pg_atomic_init_u32(&faults[i].action, PGU_FA_NONE);
			pg_atomic_init_u64(&faults[i].skip, 0);
			pg_atomic_init_u64(&faults[i].count, 0);
			pg_atomic_init_u32(&faults[i].arg, 0);
			pg_atomic_init_u64(&faults[i].calls, 0);
			pg_atomic_init_u64(&faults[i].fired, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Is the point armed (without counting a hit)? */
bool
pgu_fault_armed(PguFaultPoint point)
{
	return faults != NULL &&
		pg_atomic_read_u32(&faults[point].action) != PGU_FA_NONE;
}

/* Count a hit of the point; return the action if it fires. */
PguFaultAction
pgu_fault_fire(PguFaultPoint point)
{
	PguFault   *f;
	uint32		action;
	uint64		hit;
	uint64		skip;
	uint64		count;

	if (!pgu_fault_armed(point))
		return PGU_FA_NONE;
	f = &faults[point];
	action = pg_atomic_read_u32(&f->action);
	if (action == PGU_FA_STALL)
		return PGU_FA_STALL;	/* while armed */
	hit = pg_atomic_fetch_add_u64(&f->calls, 1);
	skip = pg_atomic_read_u64(&f->skip);
	count = pg_atomic_read_u64(&f->count);
	if (hit < skip || hit - skip >= count)
		return PGU_FA_NONE;
	pg_atomic_fetch_add_u64(&f->fired, 1);
	return (PguFaultAction) action;
}

/* A delay point: sleep its arg milliseconds if it fires. */
void
pgu_fault_delay(PguFaultPoint point)
{
	if (pgu_fault_fire(point) == PGU_FA_DELAY)
		pg_usleep((long) pg_atomic_read_u32(&faults[point].arg) * 1000L);
}

/* A point that fired with "delay": sleep its arg milliseconds. */
void
pgu_fault_sleep(PguFaultPoint point)
{
	pg_usleep((long) pg_atomic_read_u32(&faults[point].arg) * 1000L);
}

/* Look a name up in a table of points (or of actions), or ERROR. */
static int
lookup(const char *const *names, int n, const char *name, bool action)
{
	int			i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	if (action)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown fault action \"%s\"", name)));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown fault point \"%s\"", name)));
	return -1;
}

/* Error out unless there are fault points and we are a superuser. */
static void
check_faults(void)
{
	if (faults == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_uring must be loaded via shared_preload_libraries")));
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be superuser to inject faults")));
}

/* SQL: pg_uring_fault_set(point, action, skip, count, arg) */
Datum
pg_uring_fault_set(PG_FUNCTION_ARGS)
{
	int			point;
	int			action;
	int64		skip = PG_GETARG_INT64(2);
	int64		count = PG_GETARG_INT64(3);
	int32		arg = PG_GETARG_INT32(4);
	PguFault   *f;

	check_faults();
	point = lookup(point_names, PGU_NUM_FAULT_POINTS,
				   text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	action = lookup(action_names, lengthof(action_names),
					text_to_cstring(PG_GETARG_TEXT_PP(1)), true);
	f = &faults[point];
	pg_atomic_write_u32(&f->action, PGU_FA_NONE);
	pg_memory_barrier();
	pg_atomic_write_u64(&f->skip, (uint64) Max(skip, 0));
	pg_atomic_write_u64(&f->count, count < 0 ? PG_UINT64_MAX : (uint64) count);
	pg_atomic_write_u32(&f->arg, (uint32) Max(arg, 0));
	pg_atomic_write_u64(&f->calls, 0);
	pg_atomic_write_u64(&f->fired, 0);
	pg_memory_barrier();
	pg_atomic_write_u32(&f->action, (uint32) action);
	PG_RETURN_VOID();
}

/* SQL: pg_uring_fault_reset() disarms every point. */
Datum
pg_uring_fault_reset(PG_FUNCTION_ARGS)
{
	int			i;

	check_faults();
	for (i = 0; i < PGU_NUM_FAULT_POINTS; i++)
		pg_atomic_write_u32(&faults[i].action, PGU_FA_NONE);
	PG_RETURN_VOID();
}

/* SQL: pg_uring_fault_hits(point) -> times it fired since it was armed */
Datum
pg_uring_fault_hits(PG_FUNCTION_ARGS)
{
	int			point;

	check_faults();
	point = lookup(point_names, PGU_NUM_FAULT_POINTS,
				   text_to_cstring(PG_GETARG_TEXT_PP(0)), false);
	PG_RETURN_INT64((int64) pg_atomic_read_u64(&faults[point].fired));
}

#endif							/* PGU_TESTING */
