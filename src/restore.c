/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Restoring the autoprewarm dump: the blocks it lists go back into
 *	  shared buffers, through the same path as a buffer-mode
 *	  pg_uring_prewarm_blocks (prewarm.c: the ring reads ahead, core's read
 *	  installs and verifies every page).
 *
 * Who does what:
 *	- the leader (the autoprewarm worker at startup, the backend that
 *	  calls pg_uring_autoprewarm_restore(), or on a standby the replicate
 *	  worker with the primary's list, replicate.c) reads and checks the dump,
 *	  sorts it by database, then (if it does not fit in the free buffers)
 *	  hottest first, then by file and block,
 *	  drops the databases that no longer exist, and puts the list in a
 *	  dynamic shared memory segment;
 *	- it starts one background worker per database, up to
 *	  pg_uring.autoprewarm_workers at a time, and waits for them.  A
 *	  worker connects to its database, maps each (tablespace, relfilenode)
 *	  back to the relation that has it now, skips what no longer exists,
 *	  and prewarms the rest, a relation fork at a time, until no buffer is
 *	  free (then every worker stops; a standby's restore of the primary's
 *	  list reads on: core's clock sweep makes room), under the rate limit
 *	  shared by all of them.  Blocks of shared catalogs (database 0) go
 *	  with the first database (to template1 only when there is none);
 *	- a leader that ends (an ERROR, a cancel, a shutdown) terminates the
 *	  workers it started first: none outlives the restore.
 *
 * Which dump: ours (PGU_APW_FILE) if there is one, else contrib
 * pg_prewarm's (PGU_APW_CONTRIB_FILE), so that switching from pg_prewarm's
 * autoprewarm keeps its last dump; at startup, not while pg_prewarm's own
 * autoprewarm is on (it restores that file itself).
 *
 * Bad dumps never stop the server: an unreadable file, a first line that is
 * not "<<N>>", a malformed line, fewer lines than announced, or a dump of
 * another cluster (our last line's system identifier) is reported with a
 * LOG line and a hint, and what can safely be used is used: the well-formed
 * lines before the damage (they only say which blocks to read; every page
 * still comes from disk, verified), nothing of another cluster's dump.
 *
 * Locking rules of this file: one restore at a time (claimed in
 * autoprewarm.c's shared state).  The workers share the segment's atomics
 * (the "no free buffer" flag, the bytes read for the rate limit, each
 * database's counts); the entries are written by the leader before any
 * worker starts and only read after.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <unistd.h>

#include "access/relation.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/dsm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "autoprewarm.h"
#include "buffers.h"
#include "compat.h"
#include "pg_uring.h"
#include "prewarm.h"
#include "progress.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(pg_uring_autoprewarm_restore);

/* Most blocks prewarmed in one call, and (rate-limited) per 100 ms. */
#define RESTORE_PIECE_MAX		65536
#define RESTORE_PIECE_MIN		32

/* Longest line of a dump we accept: five 10-digit numbers and commas. */
#define DUMP_LINE_MAX			128

/* One database's share of a restore. */
typedef struct RestoreDb
{
	Oid			database;		/* InvalidOid: shared catalogs */
	int64		start;			/* its entries */
	int64		count;
	pg_atomic_uint64 loaded;	/* blocks read into shared buffers (or found there) */
	pg_atomic_uint64 skipped;	/* blocks whose relation, fork or block is gone */
	pg_atomic_uint32 finished;	/* the worker went through its list */
} RestoreDb;

/* The segment the leader and its workers share. */
typedef struct RestoreShared
{
	int			ndbs;
	int			rate_limit;		/* MB/s, 0 = none */
	bool		evict;			/* read on when no buffer is free (the clock sweep) */
	Size		entries_offset; /* from the start of the segment */
	TimestampTz started;
	pg_atomic_uint32 full;		/* no buffer was free: everybody stops */
	pg_atomic_uint64 bytes;		/* read by all workers, for the rate limit */
	RestoreDb	dbs[FLEXIBLE_ARRAY_MEMBER];
} RestoreShared;

/* The workers a leader started, for its cleanup. */
static BackgroundWorkerHandle **restore_handles = NULL;
static int	restore_nhandles = 0;

/* Restore order: by database, hottest first, then by file and block. */
int
pgu_autoprewarm_entry_cmp(const void *a, const void *b)
{
	const PguBlockEntry *x = a;
	const PguBlockEntry *y = b;

	if (x->database != y->database)
		return x->database < y->database ? -1 : 1;
	if (x->usage != y->usage)
		return x->usage > y->usage ? -1 : 1;
	return pgu_apw_cmp_file_block(x, y);
}

/* Parse an unsigned 32-bit decimal at *p, followed by sep; advance past it. */
static bool
parse_u32(char **p, char sep, uint32 *out)
{
	char	   *s = *p;
	unsigned long v;
	char	   *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || v > PG_UINT32_MAX || *end != sep)
		return false;
	*out = (uint32) v;
	*p = end + 1;
	return true;
}

/* Parse one block line, "database,tablespace,filenode,fork,block\n". */
static bool
parse_entry(char *line, PguBlockEntry *e)
{
	char	   *p = line;
	uint32		fork;

	if (!parse_u32(&p, ',', &e->database) ||
		!parse_u32(&p, ',', &e->tablespace) ||
		!parse_u32(&p, ',', &e->filenode) ||
		!parse_u32(&p, ',', &fork) ||
		!parse_u32(&p, '\n', &e->block) ||
		*p != '\0' || fork > MAX_FORKNUM || e->filenode == InvalidOid)
		return false;
	e->fork = (ForkNumber) fork;
	e->usage = 0;
	return true;
}

/*
 * Parse our last line: the system identifier, and how many lines from the
 * top had each usage count (*per_usage, highest first: 5, 4, ... 0).
 */
static bool
parse_trailer(const char *line, uint64 *sysid, int64 *per_usage)
{
	const char *p;
	unsigned long long id;
	int			u;

	if (strncmp(line, PGU_APW_TRAILER " ", strlen(PGU_APW_TRAILER) + 1) != 0)
		return false;
	p = strstr(line, " system_identifier=");
	if (p == NULL || sscanf(p, " system_identifier=%llu", &id) != 1)
		return false;
	*sysid = (uint64) id;
	p = strstr(line, " usage=");
	if (p == NULL)
		return false;
	p += strlen(" usage=");
	for (u = PGU_BUF_MAX_USAGE; u >= 0; u--)
	{
		int			got;
		long long	count;
		int			len;

		if (sscanf(p, "%d:%lld%n", &got, &count, &len) != 2 || got != u || count < 0)
			return false;
		per_usage[PGU_BUF_MAX_USAGE - u] = count;
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

/*
 * Read and check the dump at path.  Returns its entries (palloc'd) and
 * their number, or -1 when nothing of it may be used; every problem is
 * reported with a LOG line (a bad dump never stops anything) and *bad is
 * set.  Ours carries usage counts, which give each entry its usage.
 */
static int64
dump_read(const char *path, PguBlockEntry **entries_out, bool *bad)
{
	FILE	   *file;
	char		line[DUMP_LINE_MAX + 2];
	long long	declared;
	int64		n = 0;
	int64		cap;
	PguBlockEntry *entries;
	bool		truncated = false;

	*bad = false;
	file = AllocateFile(path, PG_BINARY_R);
	if (file == NULL)
	{
		*bad = true;
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path),
				 errhint("The autoprewarm dump is not restored.")));
		return -1;
	}

	if (fgets(line, sizeof(line), file) == NULL ||
		sscanf(line, "<<%lld>>", &declared) != 1 || declared < 0 ||
		declared > (long long) (MaxAllocHugeSize / sizeof(PguBlockEntry)))
	{
		bool		err = ferror(file);
		int			save_errno = errno;

		*bad = true;
		FreeFile(file);
		errno = save_errno;
		if (err)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path),
					 errhint("The autoprewarm dump is not restored.")));
		else
			ereport(LOG,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("autoprewarm dump \"%s\" is corrupt", path),
					 errdetail("Its first line is not a block count of the form \"<<N>>\"."),
					 errhint("The dump is not restored; the next dump replaces it.")));
		return -1;
	}

	/* a bogus count must not allocate much: grow as lines come */
	cap = Max(Min((int64) declared, (int64) 65536), 1);
	entries = palloc_extended(sizeof(PguBlockEntry) * cap, MCXT_ALLOC_HUGE);
	while (n < declared)
	{
		/* a long dump: stay cancellable, and absorb barriers (a worker) */
		if ((n & 4095) == 0)
		{
			CHECK_FOR_INTERRUPTS();
			pgu_autoprewarm_absorb_barriers();
		}
		if (fgets(line, sizeof(line), file) == NULL)
		{
			if (ferror(file))
			{
				*bad = true;
				ereport(LOG,
						(errcode_for_file_access(),
						 errmsg("could not read file \"%s\": %m", path),
						 errhint_plural("The %lld block listed before the failed read is restored.",
										"The %lld blocks listed before the failed read are restored.",
										n, (long long) n)));
			}
			else
				truncated = true;
			break;
		}
		if (n == cap)
		{
			cap = Min(cap * 2, (int64) declared);
			entries = repalloc_huge(entries, sizeof(PguBlockEntry) * cap);
		}
		if (!parse_entry(line, &entries[n]))
		{
			*bad = true;
			ereport(LOG,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("autoprewarm dump \"%s\" is corrupt at line %lld", path,
							(long long) n + 2),
					 errdetail("A line must be \"database,tablespace,filenode,fork,block\", five unsigned numbers."),
					 errhint_plural("The %lld block listed before that line is restored; the next dump replaces the file.",
									"The %lld blocks listed before that line are restored; the next dump replaces the file.",
									n, (long long) n)));
			break;
		}
		n++;
	}
	if (truncated)
	{
		*bad = true;
		ereport(LOG,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("autoprewarm dump \"%s\" is truncated", path),
				 errdetail_plural("It lists %lld of the %lld block its first line announces.",
								  "It lists %lld of the %lld blocks its first line announces.",
								  (unsigned long) Min(declared, (long long) ULONG_MAX),
								  (long long) n, declared),
				 errhint("The blocks it lists are restored; the next dump replaces the file.")));
	}
	else if (n == declared && fgets(line, sizeof(line), file) != NULL)
	{
		uint64		sysid;
		int64		per_usage[PGU_BUF_MAX_USAGE + 1];

		if (parse_trailer(line, &sysid, per_usage))
		{
			int64		sum = 0;
			int			u;

			if (sysid != GetSystemIdentifier())
			{
				*bad = true;
				FreeFile(file);
				pfree(entries);
				ereport(LOG,
						(errcode(ERRCODE_DATA_CORRUPTED),
						 errmsg("autoprewarm dump \"%s\" belongs to another cluster", path),
						 errdetail("Its system identifier is " UINT64_FORMAT "; this cluster's is " UINT64_FORMAT ".",
								   sysid, GetSystemIdentifier()),
						 errhint("The dump is not restored; the next dump replaces it.")));
				return -1;
			}
			for (u = 0; u <= PGU_BUF_MAX_USAGE; u++)
			{
				/* no count beyond what is left: the sum cannot wrap */
				if (per_usage[u] > n - sum)
				{
					sum = -1;
					break;
				}
				sum += per_usage[u];
			}
			/* hottest first: the lines from the top, a usage count at a time */
			if (sum == n)
			{
				int64		i = 0;

				for (u = 0; u <= PGU_BUF_MAX_USAGE; u++)
				{
					int64		k;

					for (k = 0; k < per_usage[u] && i < n; k++)
						entries[i++].usage = PGU_BUF_MAX_USAGE - u;
				}
			}
		}
	}
	if (FreeFile(file) != 0)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not close file \"%s\": %m", path)));
	*entries_out = entries;
	return n;
}

/* Does a file exist (stat succeeds, or fails other than with ENOENT)? */
static bool
file_exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 || errno != ENOENT;
}

/* Is contrib pg_prewarm's own autoprewarm on (it then restores its file)? */
static bool
contrib_autoprewarm_on(void)
{
	const char *v = GetConfigOption("pg_prewarm.autoprewarm", true, false);

	return v != NULL && strcmp(v, "on") == 0;
}

/* Does a database exist?  In a transaction of our own if need be. */
static bool
database_exists(Oid dboid)
{
	bool		own = !IsTransactionState();
	bool		exists;

	if (own)
		StartTransactionCommand();
	exists = SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(dboid));
	if (own)
		CommitTransactionCommand();
	return exists;
}

/*
 * Hold the restore under pg_uring.autoprewarm_rate_limit, shared by all
 * workers: sleep until the bytes read by all of them are within the rate
 * since the restore began.
 */
static void
restore_throttle(RestoreShared *rs, int64 nblocks)
{
	uint64		bytes;

	if (rs->rate_limit <= 0)
		return;
	bytes = pg_atomic_add_fetch_u64(&rs->bytes, (uint64) nblocks * BLCKSZ);
	for (;;)
	{
		long		secs;
		int			usecs;
		double		allowed;

		TimestampDifference(rs->started, GetCurrentTimestamp(), &secs, &usecs);
		allowed = (secs + usecs / 1000000.0) * rs->rate_limit * 1048576.0;
		if ((double) bytes <= allowed)
			return;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(1, Min(1000, (long) (((double) bytes - allowed) * 1000.0 /
												  (rs->rate_limit * 1048576.0)))),
						 PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/* Blocks prewarmed per call: all, or about 100 ms of the rate limit. */
static int64
restore_piece(RestoreShared *rs)
{
	int64		piece;

	if (rs->rate_limit <= 0)
		return RESTORE_PIECE_MAX;
	piece = (int64) rs->rate_limit * (1048576 / BLCKSZ) / 10;
	return Max(Min(piece, RESTORE_PIECE_MAX), RESTORE_PIECE_MIN);
}

/* Error context: which relation file the restore was reading. */
static void
restore_error_callback(void *arg)
{
	const PguBlockEntry *e = (const PguBlockEntry *) arg;

	errcontext("autoprewarm restore of relation file %u/%u/%u, fork %d",
			   e->tablespace, e->database, e->filenode, (int) e->fork);
}

/*
 * Restore one piece of the entries of a relation fork (all alike but in
 * block), in a transaction of its own, so that nothing is held between
 * pieces (on a standby, replay never waits long for us).  The relation's
 * lock is taken conditionally: a relation locked by DDL, or by the caller
 * of pg_uring_autoprewarm_restore() itself, is skipped, never waited for.
 * Once no buffer is free, it sets the flag that stops every worker.  A
 * relation that cannot be read (an ERROR: a failed read, say) is logged
 * and skipped; a cancel or a shutdown ends the worker.
 */
static void
restore_piece_xact(RestoreShared *rs, RestoreDb *db, const PguBlockEntry *e, int64 n,
				   BlockNumber *blocks, int64 done)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ErrorContextCallback errcb;
	volatile int64 loaded = 0;
	volatile int64 skipped = 0;

	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	errcb.callback = restore_error_callback;
	errcb.arg = (void *) e;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	PG_TRY();
	{
		Oid			relid = PGU_RELID_BY_FILENODE(e->tablespace, e->filenode);
		Relation	rel = NULL;

		if (OidIsValid(relid) && ConditionalLockRelationOid(relid, AccessShareLock))
		{
			rel = try_relation_open(relid, NoLock);
			if (rel == NULL)
				UnlockRelationOid(relid, AccessShareLock);
		}
		if (rel == NULL)
			skipped = n;
		else
		{
			pgu_progress_set_relation(relid, 0);
			if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind) ||
				RelationUsesLocalBuffers(rel) ||
				!smgrexists(RelationGetSmgr(rel), e->fork))
				skipped = n;
			else
			{
				BlockNumber nblocks = RelationGetNumberOfBlocksInFork(rel, e->fork);
				int64		k = 0;
				int64		i;
				bool		full = false;

				/* ascending already; drop duplicates and what was truncated away */
				for (i = 0; i < n; i++)
				{
					if (e[i].block >= nblocks)
						skipped++;
					else if (k == 0 || blocks[k - 1] != e[i].block)
						blocks[k++] = e[i].block;
				}
				if (k > 0)
					loaded = pgu_prewarm_restore_list(rel, e->fork, blocks, k, done,
													  !rs->evict, &full);
				if (full)
					pg_atomic_write_u32(&rs->full, 1);
			}
			relation_close(rel, AccessShareLock);
		}
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		/* a cancel ends the restore; anything else skips the piece */
		if (geterrcode() == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		MemoryContextSwitchTo(oldcxt);
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		skipped = n - loaded;
	}
	PG_END_TRY();
	error_context_stack = errcb.previous;

	pg_atomic_add_fetch_u64(&db->loaded, loaded);
	pg_atomic_add_fetch_u64(&db->skipped, skipped);
}

/*
 * Restore the entries of one relation fork, a piece at a time, under the
 * rate limit (slept outside any transaction); *done counts the entries
 * gone through, for progress.
 */
static void
restore_relation(RestoreShared *rs, RestoreDb *db, const PguBlockEntry *e, int64 n,
				 BlockNumber *blocks, int64 *done)
{
	int64		piece = restore_piece(rs);
	int64		i;

	for (i = 0; i < n && !pg_atomic_read_u32(&rs->full); i += piece)
	{
		int64		m = Min(piece, n - i);

		CHECK_FOR_INTERRUPTS();
		restore_piece_xact(rs, db, e + i, m, blocks, *done);
		*done += m;
		pgu_progress_update(*done, *done * BLCKSZ);
		restore_throttle(rs, m);
	}
}

/* Entry point of a restore worker: one database's share of the dump. */
PGDLLEXPORT void
pgu_autoprewarm_restore_main(Datum main_arg)
{
	int			idx = DatumGetInt32(main_arg);
	dsm_handle	handle;
	dsm_segment *seg;
	RestoreShared *rs;
	RestoreDb  *db;
	PguBlockEntry *entries;
	BlockNumber *blocks;
	int64		i;
	int64		end;
	int64		done = 0;

	/* terminated (the leader ended): at the next interrupt check */
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	memcpy(&handle, MyBgworkerEntry->bgw_extra, sizeof(dsm_handle));
	seg = dsm_attach(handle);
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("could not map dynamic shared memory segment")));
	rs = dsm_segment_address(seg);
	if (idx < 0 || idx >= rs->ndbs)
		elog(ERROR, "autoprewarm restore worker started for database %d of %d",
			 idx, rs->ndbs);
	db = &rs->dbs[idx];
	entries = (PguBlockEntry *) ((char *) rs + rs->entries_offset);

	BackgroundWorkerInitializeConnectionByOid(OidIsValid(db->database) ? db->database : Template1DbOid,
											  InvalidOid, BGWORKER_BYPASS_ALLOWCONN);
	pgstat_report_appname("pg_uring autoprewarm restore");
	pgu_check_loaded();

	blocks = palloc_extended(sizeof(BlockNumber) * Max(db->count, 1), MCXT_ALLOC_HUGE);
	/* over all of the worker's transactions */
	pgu_progress_start_session("autoprewarm restore", InvalidOid, db->count);
	pgu_progress_quiet();
	pgu_progress_set_phase("restoring");

	end = db->start + db->count;
	for (i = db->start; i < end;)
	{
		int64		j = i + 1;

		while (j < end && entries[j].database == entries[i].database &&
			   entries[j].tablespace == entries[i].tablespace &&
			   entries[j].filenode == entries[i].filenode &&
			   entries[j].fork == entries[i].fork &&
			   entries[j].usage == entries[i].usage)
			j++;
		CHECK_FOR_INTERRUPTS();
		if (pg_atomic_read_u32(&rs->full))
			break;
		if (!rs->evict && !pgu_buf_have_free())
		{
			pg_atomic_write_u32(&rs->full, 1);
			break;
		}
		restore_relation(rs, db, entries + i, j - i, blocks, &done);
		i = j;
	}
	pgu_progress_update(done, done * BLCKSZ);
	pgu_progress_end();
	pg_atomic_write_u32(&db->finished, 1);
	dsm_detach(seg);
	proc_exit(0);
}

/* Longest wait of a leader's cleanup for its terminated workers to exit. */
#define RESTORE_CLEANUP_WAIT_MS		10000L

/*
 * Terminate the workers a leader started and wait (boundedly, without
 * serving interrupts: this also runs on the way out of an ERROR or FATAL)
 * until they have exited, then release the claim: no restore worker
 * outlives its restore, and the next restore never overlaps one.
 */
static void
restore_stop_workers(void)
{
	int			i;
	long		waited = 0;

	for (i = 0; i < restore_nhandles; i++)
		if (restore_handles[i] != NULL)
			TerminateBackgroundWorker(restore_handles[i]);
	for (;;)
	{
		bool		alive = false;

		for (i = 0; i < restore_nhandles; i++)
		{
			pid_t		pid;

			if (restore_handles[i] != NULL &&
				GetBackgroundWorkerPid(restore_handles[i], &pid) != BGWH_STOPPED)
				alive = true;
		}
		if (!alive || waited >= RESTORE_CLEANUP_WAIT_MS)
			break;
		pg_usleep(10000L);
		waited += 10;
	}
	for (i = 0; i < restore_nhandles; i++)
		if (restore_handles[i] != NULL)
			pfree(restore_handles[i]);
	restore_nhandles = 0;
	if (restore_handles != NULL)
	{
		pfree(restore_handles);
		restore_handles = NULL;
	}
}

/* Error cleanup of a leader: its workers first, then the claim. */
static void
restore_cleanup(int code, Datum arg)
{
	restore_stop_workers();
	pgu_autoprewarm_restore_release(false, 0, 0);
}

/* Start a restore worker for database idx; false if no slot is free. */
static bool
restore_start_worker(dsm_segment *seg, int idx)
{
	BackgroundWorker worker;
	dsm_handle	handle = dsm_segment_handle(seg);

	pgu_worker_init(&worker, "pgu_autoprewarm_restore_main", "pg_uring autoprewarm restore");
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = Int32GetDatum(idx);
	memcpy(worker.bgw_extra, &handle, sizeof(dsm_handle));
	worker.bgw_notify_pid = MyProcPid;
	return RegisterDynamicBackgroundWorker(&worker, &restore_handles[idx]);
}

/*
 * Run the workers, up to pg_uring.autoprewarm_workers at a time, until all
 * are done or no buffer is free.  Returns false if stopped early: a
 * shutdown (in_worker), or workers that could not be started at all.
 */
static bool
restore_run_workers(dsm_segment *seg, RestoreShared *rs, bool in_worker)
{
	int			next = 0;
	int			running = 0;
	bool	   *ended = palloc0(sizeof(bool) * rs->ndbs);
	bool		complete = true;
	int			i;

	restore_handles = MemoryContextAllocZero(TopMemoryContext,
											 sizeof(BackgroundWorkerHandle *) * rs->ndbs);
	restore_nhandles = rs->ndbs;
	for (;;)
	{
		while (next < rs->ndbs && running < pgu_autoprewarm_workers &&
			   !pg_atomic_read_u32(&rs->full))
		{
			if (!restore_start_worker(seg, next))
			{
				if (running > 0)
					break;		/* one will end and free a slot */
				ereport(LOG,
						(errmsg("pg_uring autoprewarm could not start a restore worker"),
						 errdetail_plural("%d database of the dump is not restored.",
										  "%d databases of the dump are not restored.",
										  rs->ndbs - next, rs->ndbs - next),
						 errhint("Raise max_worker_processes; each database restored at once takes one background worker.")));
				next = rs->ndbs;
				complete = false;
				break;
			}
			next++;
			running++;
		}
		if (pg_atomic_read_u32(&rs->full))
			next = rs->ndbs;	/* start no more */

		for (i = 0; i < rs->ndbs; i++)
		{
			pid_t		pid;

			if (ended[i] || restore_handles[i] == NULL)
				continue;
			if (GetBackgroundWorkerPid(restore_handles[i], &pid) == BGWH_STOPPED)
			{
				ended[i] = true;
				running--;
				if (!pg_atomic_read_u32(&rs->dbs[i].finished) && !pg_atomic_read_u32(&rs->full))
					ereport(LOG,
							(errmsg("pg_uring autoprewarm restore of database %u ended early",
									rs->dbs[i].database),
							 errdetail("Its restore worker exited before it went through the blocks of the dump; the server log has its reason.")));
			}
		}
		if (running == 0 && next >= rs->ndbs)
			break;

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 100L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		if (in_worker)
		{
			pgu_autoprewarm_absorb_barriers();
			if (ShutdownRequestPending)
			{
				complete = false;
				break;
			}
		}
		else
			CHECK_FOR_INTERRUPTS();
	}
	pfree(ended);
	return complete;
}

/*
 * Restore a list of blocks (the leader's part; see the banner): by
 * database, hottest first, dropping the databases that are gone, a worker
 * per database.  in_worker: the leader is one of our background workers,
 * which a shutdown request stops; else a backend, which a cancel stops.
 * source names the list in the LOG lines.  entries is consumed (pfree'd).
 * Returns whether it went through the whole list (or stopped only for want
 * of a free buffer); *loaded_out gets the number of blocks restored.
 */
bool
pgu_autoprewarm_restore_entries(PguBlockEntry *entries, int64 n, const char *source,
								bool in_worker, int rate_limit, bool evict,
								int64 *loaded_out)
{
	int64		i;
	int64		kept;
	int64		gone_db_blocks = 0;
	int			gone_dbs = 0;
	int			ndbs;
	bool		complete;
	Size		size;
	Size		entries_offset;
	dsm_segment *seg;
	RestoreShared *rs;
	int64		loaded = 0;
	int64		skipped = 0;
	TimestampTz started = GetCurrentTimestamp();
	long		secs;
	int			usecs;
	double		seconds;

	*loaded_out = 0;
	/*
	 * Hottest first matters only if the list does not fit; if it does, one
	 * pass in file and block order reads it fastest (ranges, not scattered
	 * blocks a usage count at a time).
	 */
	if (n <= (int64) NBuffers - pgu_buf_count_in_use())
	{
		for (i = 0; i < n; i++)
			entries[i].usage = 0;
	}

	/* by database, hottest first; then drop the databases that are gone */
	if (n > 1)
		qsort(entries, n, sizeof(PguBlockEntry), pgu_autoprewarm_entry_cmp);
	ndbs = 0;
	kept = 0;
	for (i = 0; i < n;)
	{
		int64		j = i;

		while (j < n && entries[j].database == entries[i].database)
			j++;
		if (OidIsValid(entries[i].database) && !database_exists(entries[i].database))
		{
			gone_dbs++;
			gone_db_blocks += j - i;
		}
		else
		{
			if (kept != i)
				memmove(&entries[kept], &entries[i], sizeof(PguBlockEntry) * (j - i));
			kept += j - i;
			ndbs++;
		}
		i = j;
	}
	if (gone_dbs > 0)
		ereport(LOG,
				(errmsg_plural("pg_uring autoprewarm skipped %d database that no longer exists",
							   "pg_uring autoprewarm skipped %d databases that no longer exist",
							   gone_dbs, gone_dbs),
				 errdetail_plural("The dump listed %lld block of them.",
								  "The dump listed %lld blocks of them.",
								  gone_db_blocks, (long long) gone_db_blocks)));
	if (ndbs == 0)
	{
		pfree(entries);
		pgu_autoprewarm_restore_release(true, 0, 0);
		return true;
	}

	/* the shared segment: the databases, then the entries */
	entries_offset = MAXALIGN(add_size(offsetof(RestoreShared, dbs),
									   mul_size(sizeof(RestoreDb), ndbs)));
	size = add_size(entries_offset, mul_size(sizeof(PguBlockEntry), Max(kept, 1)));
	seg = dsm_create(size, 0);
	rs = dsm_segment_address(seg);
	rs->ndbs = ndbs;
	rs->rate_limit = rate_limit;
	rs->evict = evict;
	rs->entries_offset = entries_offset;
	rs->started = started;
	pg_atomic_init_u32(&rs->full, 0);
	pg_atomic_init_u64(&rs->bytes, 0);
	memcpy((char *) rs + entries_offset, entries, sizeof(PguBlockEntry) * kept);
	ndbs = 0;
	for (i = 0; i < kept;)
	{
		int64		j = i;
		RestoreDb  *db = &rs->dbs[ndbs++];

		while (j < kept && entries[j].database == entries[i].database)
			j++;
		/*
		 * Shared catalogs (database 0, sorted first) go with the first
		 * database, as in contrib: a worker of their own would sit in
		 * template1 and make CREATE DATABASE fail meanwhile.
		 */
		if (!OidIsValid(entries[i].database) && j < kept)
		{
			int64		k = j;

			while (k < kept && entries[k].database == entries[j].database)
				k++;
			db->database = entries[j].database;
			db->start = i;
			db->count = k - i;
			j = k;
		}
		else
		{
			db->database = entries[i].database;
			db->start = i;
			db->count = j - i;
		}
		pg_atomic_init_u64(&db->loaded, 0);
		pg_atomic_init_u64(&db->skipped, 0);
		pg_atomic_init_u32(&db->finished, 0);
		i = j;
	}
	rs->ndbs = ndbs;
	pfree(entries);

	complete = restore_run_workers(seg, rs, in_worker);

	for (i = 0; i < rs->ndbs; i++)
	{
		loaded += (int64) pg_atomic_read_u64(&rs->dbs[i].loaded);
		skipped += (int64) pg_atomic_read_u64(&rs->dbs[i].skipped);
	}
	TimestampDifference(started, GetCurrentTimestamp(), &secs, &usecs);
	seconds = secs + usecs / 1000000.0;
	if (pg_atomic_read_u32(&rs->full))
		ereport(LOG,
				(errmsg_plural("pg_uring autoprewarm restored %lld of %lld block from %s in %.3f s",
							   "pg_uring autoprewarm restored %lld of %lld blocks from %s in %.3f s",
							   (unsigned long) n,
							   (long long) loaded, (long long) n, source, seconds),
				 errdetail("It stopped when no buffer was free (it does not evict cached pages); the hottest blocks were read first.")));
	else if (skipped > 0)
		ereport(LOG,
				(errmsg_plural("pg_uring autoprewarm restored %lld of %lld block from %s in %.3f s",
							   "pg_uring autoprewarm restored %lld of %lld blocks from %s in %.3f s",
							   (unsigned long) n,
							   (long long) loaded, (long long) n, source, seconds),
				 errdetail_plural("%lld block was skipped: its relation, fork or block no longer exists, or could not be read.",
								  "%lld blocks were skipped: their relation, fork or block no longer exists, or could not be read.",
								  skipped, (long long) skipped)));
	else
		ereport(LOG,
				(errmsg_plural("pg_uring autoprewarm restored %lld of %lld block from %s in %.3f s",
							   "pg_uring autoprewarm restored %lld of %lld blocks from %s in %.3f s",
							   (unsigned long) n,
							   (long long) loaded, (long long) n, source, seconds)));
	/* a leader stopped early: its workers are terminated before the claim goes */
	restore_stop_workers();
	dsm_detach(seg);
	*loaded_out = loaded;
	pgu_autoprewarm_restore_release(true, loaded, seconds);
	return complete;
}

/*
 * Restore the dump file (see the banner for which).  At startup, from the
 * autoprewarm worker; else from pg_uring_autoprewarm_restore(), which
 * errors out where startup only logs.  Returns as
 * pgu_autoprewarm_restore_entries.
 */
static bool
restore_internal(bool startup, int64 *loaded_out)
{
	const char *path;
	PguBlockEntry *entries = NULL;
	int64		n;
	bool		bad;

	*loaded_out = 0;
	if (file_exists(PGU_APW_FILE))
		path = PGU_APW_FILE;
	else if (file_exists(PGU_APW_CONTRIB_FILE) && !(startup && contrib_autoprewarm_on()))
		path = PGU_APW_CONTRIB_FILE;
	else
	{
		if (!startup)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FILE),
					 errmsg("there is no autoprewarm dump to restore"),
					 errdetail("Neither \"%s\" nor \"%s\" exists in the data directory.",
							   PGU_APW_FILE, PGU_APW_CONTRIB_FILE),
					 errhint("pg_uring_autoprewarm_dump_now() writes one.")));
		return true;
	}

	n = dump_read(path, &entries, &bad);
	if (n < 0)
	{
		if (!startup)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("autoprewarm dump \"%s\" cannot be restored", path),
					 errhint("The server log says why.")));
		return true;
	}

	return pgu_autoprewarm_restore_entries(entries, n, psprintf("\"%s\"", path), startup,
										   pgu_autoprewarm_rate_limit, false, loaded_out);
}

/*
 * Restore a list of blocks (see pgu_autoprewarm_restore_entries) in a
 * restore the caller has claimed (pgu_autoprewarm_restore_claim): the
 * workers it starts are terminated and the claim released also on an
 * ERROR or exit.
 */
bool
pgu_autoprewarm_restore_claimed(PguBlockEntry *entries, int64 n, const char *source,
								bool in_worker, int rate_limit, bool evict,
								int64 *loaded_out)
{
	bool		complete;

	PG_ENSURE_ERROR_CLEANUP(restore_cleanup, (Datum) 0);
	{
		complete = pgu_autoprewarm_restore_entries(entries, n, source, in_worker,
												   rate_limit, evict, loaded_out);
	}
	PG_END_ENSURE_ERROR_CLEANUP(restore_cleanup, (Datum) 0);
	restore_cleanup(0, (Datum) 0);
	return complete;
}

/*
 * Restore the dump file in a restore the caller has claimed, its workers
 * terminated and the claim released also on an ERROR or exit.
 */
static bool
restore_file_claimed(bool startup, int64 *loaded_out)
{
	bool		complete;

	PG_ENSURE_ERROR_CLEANUP(restore_cleanup, (Datum) 0);
	{
		complete = restore_internal(startup, loaded_out);
	}
	PG_END_ENSURE_ERROR_CLEANUP(restore_cleanup, (Datum) 0);
	restore_cleanup(0, (Datum) 0);
	return complete;
}

/*
 * Restore the dump at startup (the autoprewarm worker, which has claimed
 * the restore).  Returns false if stopped early (by a shutdown).
 */
bool
pgu_autoprewarm_restore_at_startup(void)
{
	int64		loaded;

	return restore_file_claimed(true, &loaded);
}

/* SQL: restore the autoprewarm dump now; returns the blocks restored. */
Datum
pg_uring_autoprewarm_restore(PG_FUNCTION_ARGS)
{
	int64		loaded = 0;

	pgu_check_loaded();
	if (!pgu_autoprewarm_restore_claim(false))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("an autoprewarm restore is already running"),
				 errhint("Wait for it to end; pg_uring_progress shows it.")));
	(void) restore_file_claimed(false, &loaded);
	PG_RETURN_INT64(loaded);
}
