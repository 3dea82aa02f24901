/*-------------------------------------------------------------------------
 *
 * relation.h
 *	  Opening relations for pg_uring's SQL functions, with the checks and
 *	  error messages of contrib pg_prewarm, and mapping blocks to segment
 *	  files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_RELATION_H
#define PG_URING_RELATION_H

#include "common/relpath.h"
#include "fmgr.h"
#include "storage/block.h"
#include "storage/lockdefs.h"
#include "utils/rel.h"

typedef enum PguPrivilege
{
	PGU_PRIV_SELECT,			/* SELECT on the relation (for an index: its table) */
	PGU_PRIV_OWNER				/* ownership, or superuser */
} PguPrivilege;

extern Oid	pgu_relid_arg(FunctionCallInfo fcinfo, int argno);
extern Relation pgu_relation_open(Oid relid, LOCKMODE lockmode, PguPrivilege priv);
extern void pgu_check_not_other_temp(Relation rel);
extern ForkNumber pgu_fork_from_name(const char *forkname);
extern void pgu_check_fork_exists(Relation rel, ForkNumber fork, const char *forkname);
extern void pgu_check_block_arg(Relation rel, const char *forkname, int64 nblocks,
								int64 block, bool last);
extern BlockNumber pgu_segment_path(Relation rel, ForkNumber fork, BlockNumber blkno,
									char *path);

#endif							/* PG_URING_RELATION_H */
