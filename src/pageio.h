/*-------------------------------------------------------------------------
 *
 * pageio.h
 *	  The backend-side page I/O interface: the one seam between features
 *	  (prewarm, flush, verify) and the ways of doing I/O.
 *
 * A feature opens a stream, adds blocks (segment file, block within the
 * segment, where the data goes or comes from, and an opaque per-block
 * argument), and gets a callback per completed batch.  The stream groups
 * blocks into batches of one segment file, combines adjacent blocks into
 * readv/writev I/Os, keeps a window of batches in flight, and decides, once
 * per stream, whether the ring worker or the calling backend does the I/O
 * (pg_uring.io_method, and whether the ring is up).  Nothing above this
 * interface talks to the queue or the ring.
 *
 * Interrupts are held from pgu_stream_begin to pgu_stream_end: callers
 * poll pgu_stream_interrupted() and stop feeding, so that no cancel or
 * terminate strikes while I/O is in flight.  Other interrupts (a recovery
 * conflict on 17 and later) are serviced between blocks by
 * pgu_stream_service_interrupts(), where an ERROR is undone as any other.  Features run a stream with
 * pgu_stream_run(), which on an ERROR (and a before_shmem_exit hook, on
 * exit) waits for the in-flight I/O before it calls the feature's undo.
 * All I/O lands in (or comes from) staging memory, never shared buffers,
 * but for claiming streams (zero-copy reads on 17; see pageio.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_PAGEIO_H
#define PG_URING_PAGEIO_H

#include "storage/block.h"
#include "storage/buf.h"

#include "queue.h"

typedef struct PguBatch PguBatch;
typedef struct PguStream PguStream;

/* Called once per completed batch, in submission order. */
typedef void (*PguBatchCallback) (PguStream *stream, PguBatch *batch, void *arg);

/* Outcome of one block of a batch. */
typedef struct PguBlockResult
{
	int			err;			/* 0, -errno, or -ENODATA for a short read */
	uint32		bytes;			/* bytes of this block transferred */
} PguBlockResult;

extern PguStream *pgu_stream_begin(PguOp op, bool direct,
								   PguBatchCallback callback, void *arg);
extern void pgu_stream_reserve(PguStream *stream, const char *path, int max_pending);
extern char *pgu_stream_add(PguStream *stream, const char *path,
							BlockNumber segblock, BlockNumber blkno,
							char *dest, void *block_arg);
extern void pgu_stream_claims(PguStream *stream);
extern void pgu_stream_reserve_batch(PguStream *stream, const char *path, int max_batches);
extern void pgu_stream_add_claimed(PguStream *stream, BlockNumber segblock,
								   BlockNumber blkno, char *page, Buffer buf,
								   void *block_arg);
extern void pgu_stream_submit(PguStream *stream);
extern bool pgu_stream_interrupted(PguStream *stream);
extern void pgu_stream_service_interrupts(PguStream *stream);
extern void pgu_stream_drain(PguStream *stream);
extern void pgu_stream_end(PguStream *stream);
extern void pgu_stream_abort(PguStream *stream);

/* Feeds a stream; called by pgu_stream_run. */
typedef void (*PguFeedFunction) (PguStream *stream, void *arg);

extern void pgu_stream_run(PguStream *stream, PguFeedFunction feed, void *arg,
						   void (*undo) (void));
extern void pgu_stream_count_relation_io(PguStream *s);
extern bool pgu_stream_uses_ring(PguStream *stream);

/* Accessors for a completed batch, valid inside the callback. */
extern int	pgu_batch_nblocks(PguBatch *batch);
extern void *pgu_batch_block_arg(PguBatch *batch, int i);
extern char *pgu_batch_block_data(PguBatch *batch, int i);
extern BlockNumber pgu_batch_block_number(PguBatch *batch, int i);
extern bool pgu_batch_claim_valid(PguBatch *batch, int i);
extern PguBlockResult pgu_batch_block_result(PguBatch *batch, int i);
extern const char *pgu_batch_path(PguBatch *batch);
extern int	pgu_batch_close_error(PguBatch *batch);
extern void pgu_batch_report(PguBatch *batch, int i, int elevel);

#endif							/* PG_URING_PAGEIO_H */
