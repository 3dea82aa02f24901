/*-------------------------------------------------------------------------
 *
 * buffers.h
 *	  Everything pg_uring does with buffer-manager internals, behind one
 *	  prefix (pgu_buf_).  buffers.c is the only file that includes
 *	  storage/buf_internals.h, and the place where PostgreSQL versions'
 *	  buffer-manager differences are handled (with compat.h).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_BUFFERS_H
#define PG_URING_BUFFERS_H

#include "access/xlogdefs.h"
#include "common/relpath.h"
#include "storage/block.h"
#include "storage/buf.h"
#include "utils/relcache.h"

/* One shared buffer of a relation, as found by pgu_buf_collect. */
typedef struct PguBufRef
{
	int			buf_id;
	ForkNumber	fork;
	BlockNumber block;
	bool		dirty;
} PguBufRef;

/* Highest usage count of a buffer (core's BM_MAX_USAGE_COUNT). */
#define PGU_BUF_MAX_USAGE	5

/* One block of the buffer list that autoprewarm dumps (pgu_buf_list_all). */
typedef struct PguBlockEntry
{
	Oid			database;
	Oid			tablespace;
	Oid			filenode;
	ForkNumber	fork;
	BlockNumber block;
	int			usage;			/* usage count when listed: hotter first */
} PguBlockEntry;

extern bool pgu_buf_is_cached(Relation rel, ForkNumber fork, BlockNumber blkno);
extern void pgu_buf_read_run(Relation rel, ForkNumber fork, BlockNumber first,
							 int nblocks);
extern PguBufRef *pgu_buf_collect(Relation rel, int *nrefs);
extern Buffer pgu_buf_pin_recent(Relation rel, const PguBufRef *ref);
extern bool pgu_buf_try_share_lock(Buffer buf);
extern bool pgu_buf_is_dirty(Buffer buf);
extern void pgu_buf_reserve_write(void);
extern bool pgu_buf_write_start(Buffer buf, XLogRecPtr *lsn, bool *permanent);
extern bool pgu_buf_write_finish(Buffer buf, bool ok);
extern void pgu_buf_abort_writes(void);
extern bool pgu_buf_evict(Relation rel, const PguBufRef *ref);
extern int	pgu_buf_pin_limit(void);
extern int	pgu_buf_list_all(PguBlockEntry *entries);
extern bool pgu_buf_have_free(void);
extern int	pgu_buf_count_in_use(void);
extern bool pgu_buf_entry_cached(const PguBlockEntry *e);
extern ssize_t pgu_buf_reread_uncached(Relation rel, ForkNumber fork, BlockNumber blkno,
									   int fd, off_t offset, char *page, bool *cached);

/*
 * Zero-copy reads (PostgreSQL 17; no-ops elsewhere, where nothing claims):
 * a group of pinned buffers of one relation fork, some of them claimed for
 * the ring's read.  See buffers.c.
 */
typedef struct PguBufGroup PguBufGroup;

extern PguBufGroup *pgu_buf_group_begin(Relation rel, ForkNumber fork);
extern int	pgu_buf_group_pin(PguBufGroup *g, BlockNumber first, int nblocks);
extern int	pgu_buf_group_size(PguBufGroup *g);
extern int	pgu_buf_group_claim(PguBufGroup *g);
extern Buffer pgu_buf_group_claimed(PguBufGroup *g, int k, BlockNumber *blkno);
extern void pgu_buf_group_finish(PguBufGroup *g, bool wait, int nread);
extern bool pgu_buf_group_all_valid(PguBufGroup *g);
/* A run of consecutive blocks: first, and how many. */
typedef struct PguBlockRun
{
	BlockNumber first;
	int			nblocks;
} PguBlockRun;

extern int	pgu_buf_group_release(PguBufGroup *g, PguBlockRun *runs, int nread);
extern char *pgu_buf_page(Buffer buf);
extern bool pgu_buf_claim_end(Buffer buf, BlockNumber blkno, bool read_ok);

#endif							/* PG_URING_BUFFERS_H */
