/*-------------------------------------------------------------------------
 *
 * faults.h
 *	  Fault injection for the testing build (make PG_CPPFLAGS=-DPGU_TESTING).
 *
 * A fault point is armed from SQL (pg_uring_fault_set, a C function that
 * exists only in the testing build; tests create it themselves):
 *	point	read | write | close | install_delay | write_delay |
 *			complete_delay | worker_stall | drop_delay | dump_delay
 *	action	eio | short | eof | delay | stall
 *	skip	let this many hits pass first
 *	count	then fire this many times (-1: until reset)
 *	arg		milliseconds, for delay
 * "short" transfers half of an I/O and lets the remainder be resubmitted
 * (exercising the retry at offset + done); "eof" transfers half, then
 * nothing (a short read that fails).  The production build compiles every
 * hook below to nothing.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_URING_FAULTS_H
#define PG_URING_FAULTS_H

typedef enum PguFaultPoint
{
	PGU_FP_READ,				/* a read I/O completes */
	PGU_FP_WRITE,				/* a write I/O completes */
	PGU_FP_CLOSE,				/* a written file is closed */
	PGU_FP_INSTALL_DELAY,		/* prewarm: read ahead, before core reads */
	PGU_FP_WRITE_DELAY,			/* flush: write I/O taken, before submit */
	PGU_FP_COMPLETE_DELAY,		/* worker: before completing a slot */
	PGU_FP_WORKER_STALL,		/* worker: stops serving while armed */
	PGU_FP_DROP_DELAY,			/* evict: before dropping each buffer */
	PGU_FP_DUMP_DELAY,			/* autoprewarm: stalls half-way through a dump */
	PGU_FP_SUBMIT,				/* worker: io_uring_enter fails, I/O in flight */
	PGU_NUM_FAULT_POINTS
} PguFaultPoint;

typedef enum PguFaultAction
{
	PGU_FA_NONE = 0,
	PGU_FA_EIO,
	PGU_FA_SHORT,
	PGU_FA_EOF,
	PGU_FA_DELAY,
	PGU_FA_STALL
} PguFaultAction;

#ifdef PGU_TESTING
extern Size pgu_faults_shmem_size(void);
extern void pgu_faults_shmem_init(void);
extern PguFaultAction pgu_fault_fire(PguFaultPoint point);
extern bool pgu_fault_armed(PguFaultPoint point);
extern void pgu_fault_delay(PguFaultPoint point);
extern void pgu_fault_sleep(PguFaultPoint point);
#define PGU_FAULT(point)		pgu_fault_fire(point)
#define PGU_FAULT_SLEEP(point)	pgu_fault_sleep(point)
#define PGU_FAULT_DELAY(point)	pgu_fault_delay(point)
#else
#define PGU_FAULT(point)		PGU_FA_NONE
#define PGU_FAULT_DELAY(point)	((void) 0)
#define PGU_FAULT_SLEEP(point)	((void) 0)
#endif

#endif							/* PG_URING_FAULTS_H */
