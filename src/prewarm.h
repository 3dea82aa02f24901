/*-------------------------------------------------------------------------
 *
 * prewarm.h
 *	  Prewarming through the page I/O interface: what the autoprewarm
 *	  restore borrows from pg_uring_prewarm_blocks (prewarm.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_PREWARM_H
#define PG_URING_PREWARM_H

#include "common/relpath.h"
#include "storage/block.h"
#include "utils/relcache.h"

extern int64 pgu_prewarm_restore_list(Relation rel, ForkNumber fork,
									  const BlockNumber *blocks, int64 n,
									  int64 base, bool stop_when_full, bool *full);

#endif							/* PG_URING_PREWARM_H */
