/*-------------------------------------------------------------------------
 *
 * ring.h
 *	  A thin wrapper around one io_uring ring.
 *
 * ring.c is the only file that includes <liburing.h>; nothing above it sees
 * liburing's types.  The ring belongs to the process that created it (the
 * worker) and is not shared.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_RING_H
#define PG_URING_RING_H

#include <sys/uio.h>

#include "pg_uring.h"

/* Status of the ring, published by the worker (queue.c keeps it). */
typedef enum PguRingState
{
	PGU_RING_NOT_STARTED = 0,
	PGU_RING_UP,
	PGU_RING_DOWN,
	PGU_RING_STOPPED
} PguRingState;

#define PGU_REASON_LEN 256

typedef struct PguRingStatus
{
	PguRingState state;
	int			setup_errno;
	char		reason[PGU_REASON_LEN];
	int			sq_entries;
	int			cq_entries;
	bool		sqpoll;
	uint32		features;		/* IORING_FEAT_* */
	uint64		opcodes;		/* bit n set: opcode n supported */
	int			dio_mem_align;
	int			dio_offset_align;
	bool		buffers_dio_aligned;
	char		kernel_release[64];
} PguRingStatus;

typedef struct PguRing PguRing;

/* One completion, copied out of the CQ. */
typedef struct PguCqe
{
	uint64		user_data;
	int32		res;
} PguCqe;

extern PguRing *pgu_ring_create(int entries, bool sqpoll, int sqpoll_idle_ms,
								PguRingStatus *status);
extern void pgu_ring_destroy(PguRing *ring);
extern bool pgu_ring_prep_rw(PguRing *ring, bool write, int fd,
							 const struct iovec *iov, int iovcnt,
							 uint64 offset, uint64 user_data);
extern bool pgu_ring_prep_willneed(PguRing *ring, int fd, uint64 offset,
								   uint32 len, uint64 user_data);
extern bool pgu_ring_has_willneed(const PguRingStatus *status);
extern int	pgu_ring_submit(PguRing *ring, int wait_nr, int timeout_ms);
extern int	pgu_ring_reap(PguRing *ring, PguCqe *out, int max);
extern int	pgu_ring_feature_names(uint32 features, const char **names, int max);
extern int	pgu_ring_opcode_names(uint64 opcodes, const char **names, int max);

#endif							/* PG_URING_RING_H */
