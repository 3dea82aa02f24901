/*-------------------------------------------------------------------------
 *
 * autoprewarm.h
 *	  The autoprewarm worker and its dump of the shared buffer list.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_AUTOPREWARM_H
#define PG_URING_AUTOPREWARM_H

#include "fmgr.h"

extern void pgu_autoprewarm_shmem_request(void);
extern void pgu_autoprewarm_register(void);
extern PGDLLEXPORT void pgu_autoprewarm_main(Datum main_arg);

#endif							/* PG_URING_AUTOPREWARM_H */
