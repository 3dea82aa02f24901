/*-------------------------------------------------------------------------
 *
 * relation.c
 *	  Relation checks shared by pg_uring's SQL functions.
 *
 * The checks and their messages follow contrib pg_prewarm, so that
 * pg_uring_prewarm is a drop-in: privilege first, then storage and fork
 * existence, then block ranges (in the callers).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/pg_class.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"

#include "compat.h"
#include "relation.h"

/* The relation argument of a SQL function, which must not be NULL. */
Oid
pgu_relid_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("relation cannot be null")));
	return PG_GETARG_OID(argno);
}

/*
 * Open a relation and check the caller's privilege on it.  For SELECT, an
 * index is judged by its table (indexes have no privileges of their own);
 * the table is locked before the index, as core does, to avoid deadlocks.
 * Errors name the relation the caller passed, as pg_prewarm's do.
 */
Relation
pgu_relation_open(Oid relid, LOCKMODE lockmode, PguPrivilege priv)
{
	Relation	rel;
	AclResult	aclresult;
	Oid			checkid = relid;
	char		relkind = get_rel_relkind(relid);

	if (priv == PGU_PRIV_SELECT &&
		(relkind == RELKIND_INDEX || relkind == RELKIND_PARTITIONED_INDEX))
	{
		Oid			heapid = IndexGetRelation(relid, true);

		if (OidIsValid(heapid))
		{
			LockRelationOid(heapid, lockmode);
			checkid = heapid;
		}
	}

	rel = relation_open(relid, lockmode);

	if (priv == PGU_PRIV_OWNER)
	{
		if (!PGU_CLASS_OWNERCHECK(relid, GetUserId()))
			aclcheck_error(ACLCHECK_NOT_OWNER,
						   get_relkind_objtype(rel->rd_rel->relkind),
						   RelationGetRelationName(rel));
	}
	else
	{
		aclresult = pg_class_aclcheck(checkid, GetUserId(), ACL_SELECT);
		if (aclresult != ACLCHECK_OK)
			aclcheck_error(aclresult,
						   get_relkind_objtype(rel->rd_rel->relkind),
						   RelationGetRelationName(rel));
	}
	return rel;
}

/*
 * Error out on another session's temporary relation, with the error core
 * raises when it would have to read such a relation through buffers.
 */
void
pgu_check_not_other_temp(Relation rel)
{
	if (RELATION_IS_OTHER_TEMP(rel))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot access temporary tables of other sessions")));
}

/* Map a fork name to a ForkNumber (errors like pg_prewarm on a bad name). */
ForkNumber
pgu_fork_from_name(const char *forkname)
{
	return forkname_to_number(forkname);
}

/* Error out, as pg_prewarm does, when the fork has no file. */
void
pgu_check_fork_exists(Relation rel, ForkNumber fork, const char *forkname)
{
	/* contrib pg_prewarm checks this first since 17 (compat.h) */
	if (PGU_PREWARM_REFUSES_NO_STORAGE && !RELKIND_HAS_STORAGE(rel->rd_rel->relkind))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("relation \"%s\" does not have storage",
						RelationGetRelationName(rel)),
				 errdetail_relkind_not_supported(rel->rd_rel->relkind)));
	if (!RELKIND_HAS_STORAGE(rel->rd_rel->relkind) ||
		!smgrexists(RelationGetSmgr(rel), fork))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("fork \"%s\" does not exist for this relation",
						forkname)));
}

/*
 * Path of the segment file that holds blkno, relative to the data
 * directory; returns the block's number within that segment.
 */
BlockNumber
pgu_segment_path(Relation rel, ForkNumber fork, BlockNumber blkno, char *path)
{
	BlockNumber segno = blkno / ((BlockNumber) RELSEG_SIZE);
	char		base[MAXPGPATH];

	pgu_relpath(PGU_REL_LOCATOR(rel), rel->rd_backend, fork, base);
	if (segno > 0)
		snprintf(path, MAXPGPATH, "%s.%u", base, segno);
	else
		strlcpy(path, base, MAXPGPATH);
	return blkno % ((BlockNumber) RELSEG_SIZE);
}

/*
 * ERROR unless block (the first or, with last, the last of a range) is a
 * block of a fork of nblocks blocks.  An empty fork says so, rather than
 * "between 0 and -1".
 */
void
pgu_check_block_arg(Relation rel, const char *forkname, int64 nblocks,
					int64 block, bool last)
{
	if (block >= 0 && block < nblocks)
		return;
	if (nblocks == 0)
	{
		if (last)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("ending block number %lld is out of range", (long long) block),
					 errdetail("Fork \"%s\" of relation \"%s\" is empty.",
							   forkname, RelationGetRelationName(rel))));
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("starting block number %lld is out of range", (long long) block),
					 errdetail("Fork \"%s\" of relation \"%s\" is empty.",
							   forkname, RelationGetRelationName(rel))));
	}
	if (last)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ending block number must be between 0 and %lld",
						(long long) (nblocks - 1))));
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("starting block number must be between 0 and %lld",
						(long long) (nblocks - 1))));
}
