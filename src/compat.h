/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  PostgreSQL version differences, in one place.
 *
 * pg_uring targets PostgreSQL 15 first.  Everything that changes between
 * major versions and that the rest of the code needs is wrapped here, so
 * that no other file tests PG_VERSION_NUM.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_COMPAT_H
#define PG_URING_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "pg_uring requires PostgreSQL 15 or later"
#endif

#ifdef EXEC_BACKEND
/*
 * The worker reads into shared buffers and staging memory by address, which
 * relies on shared memory being mapped at the same address in every process.
 */
#error "pg_uring does not support EXEC_BACKEND builds"
#endif

/*
 * PostgreSQL 16 renamed RelFileNode to RelFileLocator (and the buffer tag
 * fields with it), and 16 and 17 changed the bufmgr internals that
 * buffers.c relies on.  Until that port is written and tested, refuse to
 * build rather than guess.  (16 is in no Debian suite, so it cannot be
 * tested here at all.)
 */
#if PG_VERSION_NUM >= 160000
#error "pg_uring has been built and tested on PostgreSQL 15 only"
#endif

#include "storage/relfilenode.h"

/* The physical identity of a relation, and of a buffer tag's relation. */
typedef RelFileNode PguRelLocator;
#define PGU_REL_LOCATOR(rel)			((rel)->rd_node)
#define PGU_TAG_LOCATOR(tag)			((tag).rnode)
#define PGU_LOCATOR_EQUALS(a, b)		RelFileNodeEquals(a, b)

#endif							/* PG_URING_COMPAT_H */
