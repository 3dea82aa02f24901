/*-------------------------------------------------------------------------
 *
 * autoprewarm.h
 *	  The autoprewarm worker, its dump of the shared buffer list
 *	  (autoprewarm.c), the restore of that dump (restore.c), and its
 *	  way to standbys (replicate.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_AUTOPREWARM_H
#define PG_URING_AUTOPREWARM_H

#include "datatype/timestamp.h"
#include "fmgr.h"

#include "buffers.h"

/* our dump, in the data directory; contrib pg_prewarm's is PGU_APW_CONTRIB_FILE */
#define PGU_APW_FILE			"pg_uring_autoprewarm.blocks"
#define PGU_APW_CONTRIB_FILE	"autoprewarm.blocks"
/* how our line after the block lines begins (autoprewarm.c) */
#define PGU_APW_TRAILER			"#pg_uring"

/* The last dump and the last restore, as pg_uring_status shows them. */
typedef struct PguApwStatus
{
	TimestampTz last_dump_time; /* 0: none since the server started */
	int64		last_dump_blocks;
	TimestampTz last_restore_time;	/* when it ended; 0: none */
	int64		last_restore_blocks;
	double		last_restore_seconds;
} PguApwStatus;

/* Order of two entries by file and block (the last keys of both sorts). */
static inline int
pgu_apw_cmp_file_block(const PguBlockEntry *x, const PguBlockEntry *y)
{
	if (x->tablespace != y->tablespace)
		return x->tablespace < y->tablespace ? -1 : 1;
	if (x->filenode != y->filenode)
		return x->filenode < y->filenode ? -1 : 1;
	if (x->fork != y->fork)
		return x->fork < y->fork ? -1 : 1;
	if (x->block != y->block)
		return x->block < y->block ? -1 : 1;
	return 0;
}

/* autoprewarm.c */
extern void pgu_autoprewarm_shmem_request(void);
extern void pgu_autoprewarm_shmem_init(void);
extern void pgu_autoprewarm_register(void);
extern PGDLLEXPORT void pgu_autoprewarm_main(Datum main_arg);
extern void pgu_autoprewarm_get_status(PguApwStatus *status);
extern void pgu_autoprewarm_absorb_barriers(void);
extern bool pgu_autoprewarm_restore_claim(bool startup);
extern bool pgu_autoprewarm_startup_restore_pending(void);
extern void pgu_autoprewarm_restore_release(bool record, int64 blocks, double seconds);

/* restore.c */
extern bool pgu_autoprewarm_restore_at_startup(void);
extern bool pgu_autoprewarm_restore_entries(PguBlockEntry *entries, int64 n,
											const char *source, bool in_worker,
											int rate_limit, bool evict,
											int64 *loaded_out);
extern bool pgu_autoprewarm_restore_claimed(PguBlockEntry *entries, int64 n,
											const char *source, bool in_worker,
											int rate_limit, bool evict,
											int64 *loaded_out);
extern int	pgu_autoprewarm_entry_cmp(const void *a, const void *b);

/* replicate.c */
extern void pgu_autoprewarm_replicate_register(void);
extern PGDLLEXPORT void pgu_autoprewarm_replicate_main(Datum main_arg);
extern PGDLLEXPORT void pgu_autoprewarm_restore_main(Datum main_arg);

#endif							/* PG_URING_AUTOPREWARM_H */
