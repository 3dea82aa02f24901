/*-------------------------------------------------------------------------
 *
 * bufclaim.h
 *	  Claiming shared buffers for a read that is done outside bufmgr.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_BUFCLAIM_H
#define PG_URING_BUFCLAIM_H

#include "storage/bufmgr.h"
#include "utils/rel.h"

extern bool pgu_buffer_is_cached(Relation rel, ForkNumber fork, BlockNumber blkno);
extern Buffer pgu_claim_buffer(Relation rel, ForkNumber fork, BlockNumber blkno);
extern void pgu_claim_finish(Buffer buf, bool valid);
extern void pgu_claim_abort_all(void);

#endif							/* PG_URING_BUFCLAIM_H */
