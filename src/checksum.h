/*-------------------------------------------------------------------------
 *
 * checksum.h
 *	  Data page checksums, as core computes them, at the speed of this CPU.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_CHECKSUM_H
#define PG_URING_CHECKSUM_H

#include "storage/block.h"

extern uint16 pgu_checksum_page(char *page, BlockNumber blkno);

#endif							/* PG_URING_CHECKSUM_H */
