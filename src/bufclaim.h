/*-------------------------------------------------------------------------
 *
 * bufclaim.h
 *	  Taking and ending I/O on shared buffers for reads and writes that
 *	  are done outside bufmgr, and evicting clean buffers.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_BUFCLAIM_H
#define PG_URING_BUFCLAIM_H

#include "access/xlogdefs.h"
#include "storage/buf_internals.h"
#include "storage/bufmgr.h"
#include "utils/rel.h"

extern bool pgu_buffer_is_cached(Relation rel, ForkNumber fork, BlockNumber blkno);
extern Buffer pgu_claim_buffer(Relation rel, ForkNumber fork, BlockNumber blkno);
extern void pgu_claim_finish(Buffer buf, bool valid);
extern void pgu_claim_abort_all(void);
extern bool pgu_write_start(Buffer buf, XLogRecPtr *lsn, bool *permanent);
extern bool pgu_write_finish(Buffer buf, bool ok);
extern bool pgu_buffer_evict(int buf_id, const BufferTag *expected);

#endif							/* PG_URING_BUFCLAIM_H */
