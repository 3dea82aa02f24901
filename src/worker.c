/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The ring worker: creates the io_uring ring after fork, takes request
 *	  slots off the shared queue, turns each I/O of a slot into one readv or
 *	  writev SQE, submits them in batches, reaps completions in batches,
 *	  resubmits short transfers at offset + done, and completes slots.
 *
 * Rules it keeps:
 *	- Every I/O in flight belongs to a slot in state ACTIVE; a slot becomes
 *	  DONE only when none of its I/Os is in flight any more.  Before the
 *	  worker exits, for any reason, it drains the ring (worker_cleanup).
 *	- File descriptors are opened per request operation: a descriptor is
 *	  reused only by read slots of the same op_id (one backend call that
 *	  holds a lock on the relation throughout), and all of them are closed
 *	  as soon as the worker goes idle.  So a descriptor can never serve a
 *	  request for a newer file that reuses the same relfilenode.  A write
 *	  slot opens its own descriptor and closes it before the slot is DONE;
 *	  a failed close() (NFS reports writeback errors there) fails the
 *	  slot's writes, so no buffer is called clean on a lost write.
 *	- A claiming slot (zero-copy reads, PostgreSQL 17) reads into shared
 *	  buffers its owner claimed; the worker ends those claims itself when
 *	  the slot's last I/O finished (end_claims), before the slot is DONE:
 *	  each buffer becomes valid or failed and its waiters wake, so no
 *	  reader of those blocks depends on the owner.
 *	- It never blocks on anything but the kernel: no lock, no client, no
 *	  backend.  It checks for postmaster death while busy, at least every
 *	  second, and drains the ring before it exits.
 *	- From time to time it reclaims request slots whose owner exited or
 *	  gave up on them (queue.c), once they are DONE.  Idle, with every slot
 *	  free and no descriptor cached, it sleeps until a backend wakes it.
 *	- A full SQ or the in-flight limit is back-pressure: the I/O waits in
 *	  a worker-local list and is counted; nothing is dropped.
 *	- It absorbs ProcSignal barriers (CHECK_FOR_INTERRUPTS) and reloads its
 *	  configuration on SIGHUP.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/bufmgr.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/pmsignal.h"
#include "storage/proc.h"
#include "utils/guc.h"
#include "utils/memutils.h"

#include "buffers.h"
#include "faults.h"
#include "queue.h"
#include "ring.h"
#include "stats.h"
#include "worker.h"

/* One I/O in flight (or waiting for an SQE). */
typedef struct WorkerIo
{
	PguSlot    *slot;
	int			io;				/* index in slot->ios */
	int			fd;
	struct iovec iov[PGU_SLOT_BLOCKS];
	int			iovidx;			/* first iovec not yet fully transferred */
	uint64		offset;			/* offset of the next byte to transfer */
	uint64		done;			/* bytes transferred so far */
	uint64		total;
	instr_time	start;
	bool		willneed;		/* a prefetch done as fadvise(WILLNEED) */
	bool		faulted;		/* testing build: fault point consulted */
	bool		fault_eof;		/* testing build: the remainder "is not there" */
	struct WorkerIo *next;		/* in the ready list or the free list */
} WorkerIo;

/* A cached descriptor, valid for one op_id only. */
typedef struct FdEntry
{
	uint64		op_id;
	uint8		flags;
	int			fd;
	int			refs;			/* slots using it */
	instr_time	last_used;
	char		path[MAXPGPATH];
} FdEntry;

#define FD_CACHE_SIZE 16

/* op_id is (pgprocno << 40) | per-backend counter; see pageio.c */
#define OP_BACKEND(op_id) ((op_id) >> 40)

/* How long the worker polls for the next request before it sleeps. */
#define SPIN_FOR_WORK_US 50

/* Idle time after which cached descriptors are closed. */
#define IDLE_FD_CLOSE_MS 100

/* While busy: how often to check for postmaster death and lost slots. */
#define BUSY_CHECK_MS 1000

static PguRing *ring = NULL;
static WorkerIo *ios = NULL;
static WorkerIo *free_ios = NULL;
static WorkerIo *ready_head = NULL;	/* prepared I/Os waiting for an SQE */
static WorkerIo *ready_tail = NULL;
static int	inflight = 0;		/* I/Os submitted and not reaped */
static int	max_inflight = 0;
static int *slot_remaining = NULL;	/* I/Os of each slot not yet finished */
static int *slot_fd_entry = NULL;	/* fd cache entry of each slot, or -1 */
static int *slot_fd = NULL;		/* uncached descriptor of a slot, or -1 */
static FdEntry fd_cache[FD_CACHE_SIZE];
static bool cleanup_done = false;
static bool have_willneed = false;	/* the ring does fadvise */
static int	claim_slots_active = 0; /* claiming slots taken, claims not ended */

/*
 * Register one of pg_uring's static workers (from _PG_init): shared memory
 * and a PGPROC without a database, started once the server is consistent
 * (so on a standby too), restarted restart_secs after it exits.
 */
void
pgu_register_static_worker(const char *function, const char *name, int restart_secs)
{
	BackgroundWorker worker;

	pgu_worker_init(&worker, function, name);
	worker.bgw_restart_time = restart_secs;
	RegisterBackgroundWorker(&worker);
}

/*
 * Fill in one of pg_uring's database-connected workers: our library's
 * function, started once the server is consistent (on a standby too).
 */
void
pgu_worker_init(BackgroundWorker *worker, const char *function, const char *name)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_ConsistentState;
	strlcpy(worker->bgw_library_name, "pg_uring", BGW_MAXLEN);
	strlcpy(worker->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker->bgw_name, name, BGW_MAXLEN);
	strlcpy(worker->bgw_type, name, BGW_MAXLEN);
}

/* Register the static ring worker; called from _PG_init. */
void
pgu_register_worker(void)
{
	pgu_register_static_worker("pgu_worker_main", "pg_uring ring worker", 5);
}

/* Append an I/O to the ready list. */
static void
ready_push(WorkerIo *w)
{
	w->next = NULL;
	if (ready_tail)
		ready_tail->next = w;
	else
		ready_head = w;
	ready_tail = w;
}

/* Hint for a ring that could not be set up, by errno. */
static const char *
setup_hint(int err)
{
	switch (err)
	{
		case EPERM:
		case EACCES:
			return gettext_noop("Allow io_uring with kernel.io_uring_disabled = 0 or in the seccomp profile, then restart the server. Set pg_uring.io_method = sync to use synchronous I/O deliberately.");
		case ENOSYS:
			return gettext_noop("The kernel has no io_uring support. pg_uring needs Linux 5.1 or later built with CONFIG_IO_URING.");
		case ENOMEM:
			return gettext_noop("The ring could not lock its memory. Raise the server's memlock limit (ulimit -l, LimitMEMLOCK in systemd) or lower pg_uring.ring_entries.");
		case EMFILE:
		case ENFILE:
			return gettext_noop("The server has run out of file descriptors. Raise its open files limit (ulimit -n, LimitNOFILE in systemd).");
		default:
			return gettext_noop("The kernel or sandbox (for example gVisor) does not provide the io_uring operations pg_uring needs. Use a kernel with full io_uring support, or set pg_uring.io_method = sync.");
	}
}

/* Find or open the descriptor for a slot; returns -errno on failure. */
static int
slot_open(PguSlot *slot)
{
	int			idx = pgu_slot_index(slot);
	int			flags = O_RDWR | PG_BINARY;
	int			free_entry = -1;
	int			fd;
	int			i;

	slot_fd_entry[idx] = -1;
	slot_fd[idx] = -1;

	/* writes: a descriptor of their own, closed (and checked) at the end */
	if (slot->op == PGU_OP_WRITE)
	{
		fd = open(slot->path, O_RDWR | PG_BINARY, 0);
		if (fd < 0)
			return -errno;
		slot_fd[idx] = fd;
		return fd;
	}

	for (i = 0; i < FD_CACHE_SIZE; i++)
	{
		FdEntry    *e = &fd_cache[i];

		if (e->fd >= 0 && e->op_id == slot->op_id && e->flags == slot->flags &&
			strcmp(e->path, slot->path) == 0)
		{
			e->refs++;
			INSTR_TIME_SET_CURRENT(e->last_used);
			slot_fd_entry[idx] = i;
			return e->fd;
		}

		/*
		 * A backend runs one operation at a time: a request of a newer
		 * operation of the same backend means its older one is over, and
		 * so are the descriptors it used (its relation may be gone now).
		 */
		if (e->fd >= 0 && e->refs == 0 && e->op_id != slot->op_id &&
			OP_BACKEND(e->op_id) == OP_BACKEND(slot->op_id))
		{
			close(e->fd);
			e->fd = -1;
		}
		if (e->fd < 0 && free_entry < 0)
			free_entry = i;
	}
	/* evict an unused entry if the cache is full */
	if (free_entry < 0)
	{
		for (i = 0; i < FD_CACHE_SIZE; i++)
		{
			if (fd_cache[i].refs == 0)
			{
				close(fd_cache[i].fd);
				fd_cache[i].fd = -1;
				free_entry = i;
				break;
			}
		}
	}

	flags = O_RDONLY | PG_BINARY;
	if (slot->flags & PGU_FLAG_DIRECT)
		flags |= O_DIRECT;
	fd = open(slot->path, flags, 0);
	if (fd < 0 && errno == EINVAL && (flags & O_DIRECT))
	{
		/* the file system refuses O_DIRECT (tmpfs, for one): read buffered */
		fd = open(slot->path, flags & ~O_DIRECT, 0);
	}
	if (fd < 0)
		return -errno;

	if (free_entry >= 0)
	{
		FdEntry    *e = &fd_cache[free_entry];

		e->fd = fd;
		e->op_id = slot->op_id;
		e->flags = slot->flags;
		e->refs = 1;
		INSTR_TIME_SET_CURRENT(e->last_used);
		strlcpy(e->path, slot->path, MAXPGPATH);
		slot_fd_entry[idx] = free_entry;
	}
	else
		slot_fd[idx] = fd;
	return fd;
}

/*
 * Release a slot's descriptor reference.  A written file's close() is
 * checked: if it fails, every write of the slot that had succeeded fails
 * with its errno, as md.c treats such errors (data_sync_elevel, raised by
 * the backend).
 */
static void
slot_close(PguSlot *slot)
{
	int			idx = pgu_slot_index(slot);

	if (slot_fd_entry[idx] >= 0)
		fd_cache[slot_fd_entry[idx]].refs--;
	if (slot_fd[idx] >= 0)
	{
		int			rc = close(slot_fd[idx]);
		int			err = errno;

		if (slot->op == PGU_OP_WRITE && PGU_FAULT(PGU_FP_CLOSE) == PGU_FA_EIO)
		{
			rc = -1;
			err = EIO;
		}
		if (rc != 0 && slot->op == PGU_OP_WRITE)
		{
			int			i;

			for (i = 0; i < slot->nios; i++)
				if (slot->ios[i].result >= 0)
					slot->ios[i].result = -err;
			if (slot->error == 0)
			{
				slot->error = -err;
				slot->error_io = 0;
			}
			slot->close_error = -err;
			pgu_count(PGU_PATH_RING, PGU_C_ERRORS, 1);
		}
	}
	slot_fd_entry[idx] = -1;
	slot_fd[idx] = -1;
}

/*
 * Close cached descriptors that no slot uses and that were last used more
 * than IDLE_FD_CLOSE_MS ago (all unused ones if all = true).  So a file
 * that was dropped meanwhile releases its space soon, even while the
 * worker stays busy with other backends' requests.
 */
static void
close_idle_fds(bool all)
{
	instr_time	now;
	int			i;

	INSTR_TIME_SET_CURRENT(now);
	for (i = 0; i < FD_CACHE_SIZE; i++)
	{
		FdEntry    *e = &fd_cache[i];
		instr_time	age = now;

		if (e->fd < 0 || e->refs != 0)
			continue;
		INSTR_TIME_SUBTRACT(age, e->last_used);
		if (all || INSTR_TIME_GET_MILLISEC(age) >= IDLE_FD_CLOSE_MS)
		{
			close(e->fd);
			e->fd = -1;
		}
	}
}

/* Is any descriptor cached? */
static bool
any_fd_cached(void)
{
	int			i;

	for (i = 0; i < FD_CACHE_SIZE; i++)
		if (fd_cache[i].fd >= 0)
			return true;
	return false;
}

/*
 * A claiming slot (zero-copy reads) has no I/O in flight any more: end its
 * claims, so that the buffers become valid (a full read whose page passes)
 * or failed, and their waiters wake, whatever its owner is doing.
 */
static void
end_claims(PguSlot *slot)
{
	int			k;

	if (!(slot->flags & PGU_FLAG_CLAIMS) || slot->claims_ended)
		return;
	slot->claims_valid = 0;
	for (k = 0; k < slot->nios; k++)
	{
		PguIoDesc  *io = &slot->ios[k];
		int			i;

		for (i = 0; i < io->nblocks; i++)
		{
			int			b = io->first + i;
			bool		ok = io->result >= (int64) (i + 1) * BLCKSZ;

			if (pgu_buf_claim_end(slot->claim_buf[b], slot->claim_blkno[b], ok))
				slot->claims_valid |= (uint32) 1 << b;
		}
	}
	slot->claims_ended = true;
	claim_slots_active--;
}

/* One I/O of a slot has finished (fully, short at EOF, or failed). */
static void
finish_io(WorkerIo *w, int32 result)
{
	PguSlot    *slot = w->slot;
	int			idx = pgu_slot_index(slot);
	PguIoDesc  *io = &slot->ios[w->io];
	instr_time	now;

	io->result = result;
	if (result < 0 || (uint64) result < w->total)
	{
		pgu_count(PGU_PATH_RING, PGU_C_ERRORS, 1);
		if (slot->error == 0)
		{
			slot->error = result < 0 ? result : -ENODATA;
			slot->error_io = w->io;
		}
	}
	else
	{
		bool		write = slot->op == PGU_OP_WRITE;

		pgu_count(PGU_PATH_RING, write ? PGU_C_WRITES : PGU_C_READS, 1);
		pgu_count(PGU_PATH_RING, write ? PGU_C_BLOCKS_WRITTEN : PGU_C_BLOCKS_READ, io->nblocks);
		pgu_count(PGU_PATH_RING, write ? PGU_C_BYTES_WRITTEN : PGU_C_BYTES_READ, w->total);
		if (io->nblocks > 1)
			pgu_count(PGU_PATH_RING, PGU_C_COMBINED_IOS, 1);
	}
	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, w->start);
	pgu_count_latency(PGU_PATH_RING, slot->op == PGU_OP_WRITE, INSTR_TIME_GET_MICROSEC(now));

	w->next = free_ios;
	free_ios = w;

	if (--slot_remaining[idx] == 0)
	{
		slot_close(slot);
		pgu_count(PGU_PATH_RING, PGU_C_REQUESTS, 1);
		PGU_FAULT_DELAY(PGU_FP_COMPLETE_DELAY);
		end_claims(slot);
		pgu_slot_complete(slot);
	}
}

/* Fail a whole slot before any of its I/Os was submitted. */
static void
fail_slot(PguSlot *slot, int err)
{
	pgu_slot_fail_ios(slot, err);
	pgu_count(PGU_PATH_RING, PGU_C_ERRORS, 1);
	pgu_count(PGU_PATH_RING, PGU_C_REQUESTS, 1);
	end_claims(slot);
	pgu_slot_complete(slot);
}

/*
 * Worker exit: a slot still queued is not served; its I/Os fail with
 * ESHUTDOWN (not counted as errors), and its claims end now.
 */
static void
shutdown_slot(PguSlot *slot)
{
	pgu_slot_fail_ios(slot, -ESHUTDOWN);
	if (slot->flags & PGU_FLAG_CLAIMS)
		claim_slots_active++;	/* end_claims counts it off */
	end_claims(slot);
	pgu_slot_complete(slot);
}

/* Take newly queued slots and turn their I/Os into ready WorkerIos. */
static int
take_new_requests(void)
{
	PguSlot    *slots[PGU_QUEUE_SIZE_MAX];
	int			n;
	int			i;

	n = pgu_queue_take(slots, PGU_QUEUE_SIZE_MAX);
	for (i = 0; i < n; i++)
	{
		PguSlot    *slot = slots[i];
		int			fd;
		int			j;

		if (slot->flags & PGU_FLAG_CLAIMS)
			claim_slots_active++;	/* until end_claims */
		if (slot->nios == 0)
		{
			end_claims(slot);
			pgu_slot_complete(slot);
			continue;
		}
		fd = slot_open(slot);
		if (fd < 0)
		{
			fail_slot(slot, fd);
			continue;
		}
		slot_remaining[pgu_slot_index(slot)] = slot->nios;
		for (j = 0; j < slot->nios; j++)
		{
			PguIoDesc  *io = &slot->ios[j];
			WorkerIo   *w = free_ios;
			int			b;

			/* the pool holds one WorkerIo per block of every slot */
			Assert(w != NULL);
			free_ios = w->next;
			w->slot = slot;
			w->io = j;
			w->fd = fd;
			w->iovidx = 0;
			w->offset = io->offset;
			w->done = 0;
			w->willneed = slot->op == PGU_OP_PREFETCH && have_willneed;
			w->faulted = false;
			w->fault_eof = false;
			w->total = (uint64) io->nblocks * BLCKSZ;
			for (b = 0; b < io->nblocks; b++)
			{
				w->iov[b].iov_base = slot->blocks[io->first + b];
				w->iov[b].iov_len = BLCKSZ;
			}
			ready_push(w);
		}
	}
	return n;
}

/* Move ready I/Os into SQEs while the in-flight limit and the SQ allow. */
static void
prep_ready(void)
{
	bool		blocked = false;

	while (ready_head != NULL)
	{
		WorkerIo   *w = ready_head;

		if (inflight >= max_inflight ||
			!(w->willneed ?
			  pgu_ring_prep_willneed(ring, w->fd, w->offset,
									 (uint32) (w->total - w->done), (uint64) (w - ios)) :
			  pgu_ring_prep_rw(ring, w->slot->op == PGU_OP_WRITE, w->fd,
							   &w->iov[w->iovidx], w->slot->ios[w->io].nblocks - w->iovidx,
							   w->offset, (uint64) (w - ios))))
		{
			blocked = true;
			break;
		}
		if (w->done == 0)
			INSTR_TIME_SET_CURRENT(w->start);
		ready_head = w->next;
		if (ready_head == NULL)
			ready_tail = NULL;
		inflight++;
	}
	if (blocked)
		pgu_count(PGU_PATH_RING, PGU_C_SQ_FULL_WAITS, 1);
}

/* Handle one completion. */
static void
handle_cqe(PguCqe *cqe)
{
	WorkerIo   *w = &ios[cqe->user_data];
	int32		res = cqe->res;

	inflight--;

#ifdef PGU_TESTING
	/* injected faults: on the first completion of each I/O */
	if (w->fault_eof && res > 0)
		res = 0;				/* the remainder "is not there" */
	else if (!w->faulted && res >= 0)
	{
		w->faulted = true;
		switch (PGU_FAULT(w->slot->op == PGU_OP_WRITE ? PGU_FP_WRITE : PGU_FP_READ))
		{
			case PGU_FA_EIO:
				res = -EIO;
				break;
			case PGU_FA_EOF:
				if (w->willneed)
				{
					finish_io(w, (int32) ((w->total / 2) & ~(uint64) 511));
					return;
				}
				w->fault_eof = true;
				/* FALLTHROUGH */
			case PGU_FA_SHORT:
				if (!w->willneed && (uint64) res == w->total && w->total >= 1024)
					res = (int32) ((w->total / 2) & ~(uint64) 511);
				break;
			default:
				break;
		}
	}
#endif

	/* fadvise: 0 is success, for the whole range */
	if (w->willneed)
	{
		if (res == -EINTR || res == -EAGAIN)
		{
			pgu_count(PGU_PATH_RING, PGU_C_RETRIES, 1);
			ready_push(w);
		}
		else if (res == -EINVAL || res == -EOPNOTSUPP)
		{
			/* a sandbox that probes fadvise but refuses it: read instead */
			w->willneed = false;
			ready_push(w);
		}
		else
			finish_io(w, res < 0 ? res : (int32) w->total);
		return;
	}

	if (res == -EINTR || res == -EAGAIN)
	{
		pgu_count(PGU_PATH_RING, PGU_C_RETRIES, 1);
		ready_push(w);
		return;
	}
	if (res < 0)
	{
		finish_io(w, res);
		return;
	}
	if (res == 0)
	{
		/* end of file before the range was transferred: a short I/O */
		finish_io(w, (int32) w->done);
		return;
	}

	w->done += res;
	if (w->done >= w->total)
	{
		finish_io(w, (int32) w->total);
		return;
	}

	/* short transfer: resubmit the remainder at offset + bytes done */
	pgu_count(PGU_PATH_RING, PGU_C_SHORT_IOS, 1);
	w->slot->short_ios++;
	w->offset += res;
	while (res > 0)
	{
		struct iovec *v = &w->iov[w->iovidx];

		if ((size_t) res >= v->iov_len)
		{
			res -= v->iov_len;
			w->iovidx++;
		}
		else
		{
			v->iov_base = (char *) v->iov_base + res;
			v->iov_len -= res;
			res = 0;
		}
	}
	ready_push(w);
}

/* Submit prepared SQEs and wait for wait_nr completions (pgu_ring_submit). */
static int
worker_submit(int wait_nr, int timeout_ms)
{
	/* testing build: the ring fails while I/O is in flight (cleanup PANICs) */
	if (inflight > 0 && PGU_FAULT(PGU_FP_SUBMIT) == PGU_FA_EIO)
		return -EIO;
	return pgu_ring_submit(ring, wait_nr, timeout_ms);
}

/* Submit prepared SQEs, wait for some completions, and handle them. */
static void
submit_and_reap(bool wait)
{
	PguCqe		cqes[256];
	int			wait_nr = 0;
	int			ret;
	int			n;

	if (wait && inflight > 0)
		wait_nr = Max(1, inflight / 4);
	ret = worker_submit(wait_nr, wait_nr > 0 ? 10 : 0);
	if (ret < 0)
	{
		errno = -ret;
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("io_uring_enter() failed: %m")));
	}
	do
	{
		int			i;

		n = pgu_ring_reap(ring, cqes, lengthof(cqes));
		for (i = 0; i < n; i++)
			handle_cqe(&cqes[i]);
	} while (n == lengthof(cqes));
}

/*
 * Drain the ring and stop serving: every in-flight I/O completes, every
 * slot not yet submitted fails with ESHUTDOWN.  Runs at any worker exit.
 */
static void
worker_cleanup(int code, Datum arg)
{
	WorkerIo   *w;

	if (cleanup_done)
		return;
	cleanup_done = true;

	/* stop new requests first, then drain what is already ours */
	if (ring != NULL)
	{
		int			rounds = 0;

		pgu_worker_set_accepting(false);

		/* short transfers are finished, not abandoned; bounded by rounds */
		while ((inflight > 0 || ready_head != NULL) && rounds++ < 100000)
		{
			PguCqe		cqes[64];
			int			n;
			int			i;

			prep_ready();
			if (worker_submit(inflight > 0 ? 1 : 0, 100) < 0)
				break;
			n = pgu_ring_reap(ring, cqes, lengthof(cqes));
			for (i = 0; i < n; i++)
				handle_cqe(&cqes[i]);
		}
		/* I/Os that never got an SQE */
		while ((w = ready_head) != NULL)
		{
			ready_head = w->next;
			finish_io(w, -ESHUTDOWN);
		}
		ready_tail = NULL;

		/*
		 * I/O the ring could not drain (the ring itself failed) may still
		 * be executing in the kernel after we are gone.  Its owners would
		 * give up on it once we are gone: a write could then land after a
		 * newer copy of its page (a checkpoint may have written it), a
		 * read in staging memory or, zero-copy, in a buffer that was
		 * reused by then.  Only a crash restart is safe: the postmaster
		 * reaps us, and so waits for our I/O, before it reinitializes
		 * shared memory and replays WAL.
		 */
		if (claim_slots_active > 0)
			ereport(PANIC,
					(errmsg_plural("pg_uring ring worker could not complete %d zero-copy read request before exiting",
								   "pg_uring ring worker could not complete %d zero-copy read requests before exiting",
								   claim_slots_active, claim_slots_active),
					 errdetail("Their reads into shared buffers may still be in progress.")));
		if (inflight > 0)
			ereport(PANIC,
					(errmsg_plural("pg_uring ring worker could not complete %d I/O before exiting",
								   "pg_uring ring worker could not complete %d I/Os before exiting",
								   inflight, inflight),
					 errdetail("They may still be in progress in the kernel; their owners must not give up on them.")));

		/* slots still queued: failed here, so that their claims end now */
		{
			PguSlot    *slots[PGU_QUEUE_SIZE_MAX];
			int			n;
			int			i;

			while ((n = pgu_queue_take(slots, PGU_QUEUE_SIZE_MAX)) > 0)
				for (i = 0; i < n; i++)
					shutdown_slot(slots[i]);
		}
	}
	pgu_worker_detach();
	close_idle_fds(true);
	if (ring != NULL && inflight == 0)
		pgu_ring_destroy(ring);
	ring = NULL;
}

/*
 * Direct I/O alignment of the data directory's file system (statx
 * STATX_DIOALIGN, Linux 6.1); 4096 for both where the kernel cannot say.
 */
static void
dio_alignment(int *mem_align, int *offset_align)
{
	*mem_align = 4096;
	*offset_align = 4096;
#if defined(STATX_DIOALIGN)
	{
		struct statx stx;

		if (statx(AT_FDCWD, "global/pg_control", 0, STATX_DIOALIGN, &stx) == 0 &&
			(stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_mem_align > 0)
		{
			*mem_align = stx.stx_dio_mem_align;
			*offset_align = stx.stx_dio_offset_align;
		}
	}
#endif
}

/* Poll the queue for up to SPIN_FOR_WORK_US; true if a request arrived. */
static bool
spin_for_work(void)
{
	instr_time	start;
	instr_time	now;
	int			i;

	INSTR_TIME_SET_CURRENT(start);
	for (i = 1;; i++)
	{
		if (pgu_queue_has_work())
			return true;
		pg_spin_delay();
		if ((i & 63) == 0)
		{
			INSTR_TIME_SET_CURRENT(now);
			INSTR_TIME_SUBTRACT(now, start);
			if (INSTR_TIME_GET_MICROSEC(now) >= SPIN_FOR_WORK_US)
				return false;
		}
	}
}

/* Set up the ring and publish its status; LOG once if it is refused. */
static void
worker_setup_ring(void)
{
	PguRingStatus status;
	int			nios;
	int			i;
	char	   *first_buffer;
	bool		first_refusal;

	memset(&status, 0, sizeof(status));
	dio_alignment(&status.dio_mem_align, &status.dio_offset_align);
	first_buffer = BufferGetBlock(1);
	status.buffers_dio_aligned =
		((uintptr_t) first_buffer % Max(status.dio_mem_align, 1)) == 0 &&
		(BLCKSZ % Max(status.dio_mem_align, 1)) == 0;

	ring = pgu_ring_create(pgu_ring_entries, pgu_sqpoll, pgu_sqpoll_idle, &status);

	status.state = ring ? PGU_RING_UP : PGU_RING_DOWN;
	pgu_worker_publish_ring(&status, &first_refusal);

	if (ring == NULL)
	{
		if (!first_refusal)
			return;
		ereport(LOG,
				(errmsg("pg_uring is serving all I/O synchronously because io_uring is not available"),
				 errdetail("The ring could not be set up: %s.", status.reason),
				 (pgu_sqpoll && status.setup_errno == EPERM) ?
				 errhint("SQPOLL rings need CAP_SYS_NICE on kernels before 5.11, and may be refused by a seccomp profile. Set pg_uring.sqpoll = off, or allow io_uring for the server.") :
				 errhint("%s", _(setup_hint(status.setup_errno)))));
		return;
	}

	have_willneed = pgu_ring_has_willneed(&status);

	/* in flight: no more than the SQ holds, so the CQ can never overflow */
	max_inflight = status.sq_entries;
	nios = pgu_queue_nslots() * PGU_SLOT_BLOCKS;
	ios = MemoryContextAllocZero(TopMemoryContext, sizeof(WorkerIo) * nios);
	for (i = nios - 1; i >= 0; i--)
	{
		ios[i].next = free_ios;
		free_ios = &ios[i];
	}

	pgu_worker_set_accepting(true);

	ereport(LOG,
			(errmsg_plural("pg_uring ring worker started with %d submission queue entry",
						   "pg_uring ring worker started with %d submission queue entries",
						   status.sq_entries,
						   status.sq_entries)));
}

/* Entry point of the ring worker. */
void
pgu_worker_main(Datum main_arg)
{
	int			i;
	int			nslots;
	instr_time	last_check;
	bool		busy = true;	/* reported as such: report idle first */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, SignalHandlerForShutdownRequest);
	BackgroundWorkerUnblockSignals();

	/* no database: this gives us a PGPROC, barriers and pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("pg_uring ring worker");
	pgu_wait_events_init();

	for (i = 0; i < FD_CACHE_SIZE; i++)
		fd_cache[i].fd = -1;
	nslots = pgu_queue_nslots();
	slot_remaining = MemoryContextAllocZero(TopMemoryContext, sizeof(int) * nslots);
	slot_fd_entry = MemoryContextAlloc(TopMemoryContext, sizeof(int) * nslots);
	slot_fd = MemoryContextAlloc(TopMemoryContext, sizeof(int) * nslots);
	for (i = 0; i < nslots; i++)
		slot_fd_entry[i] = slot_fd[i] = -1;

	pgu_worker_attach(MyLatch);
	before_shmem_exit(worker_cleanup, (Datum) 0);

	worker_setup_ring();
	INSTR_TIME_SET_CURRENT(last_check);

	for (;;)
	{
		instr_time	now;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();

		if (ShutdownRequestPending)
			break;

		/* testing build: stop serving while the stall point is armed */
		while (PGU_FAULT(PGU_FP_WORKER_STALL) == PGU_FA_STALL &&
			   !ShutdownRequestPending)
		{
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 10L, pgu_wait_event(PGU_WAIT_WORKER_MAIN));
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}

		/* busy or not: postmaster death, and slots whose owner is gone */
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, last_check);
		if (INSTR_TIME_GET_MILLISEC(now) >= BUSY_CHECK_MS)
		{
			INSTR_TIME_SET_CURRENT(last_check);
			if (!PostmasterIsAlive())
				proc_exit(1);	/* worker_cleanup drains the ring first */
			(void) pgu_queue_reclaim();
		}
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (ring != NULL)
			take_new_requests();

		/*
		 * Out of work.  A backend that streams a relation hands us its next
		 * batch within tens of microseconds; wait that long before paying
		 * for a sleep and a wakeup signal.
		 */
		if (ring != NULL && inflight == 0 && ready_head == NULL && spin_for_work())
			continue;

		if (ring == NULL || (inflight == 0 && ready_head == NULL))
		{
			int			rc;
			long		timeout;

			if (busy)
			{
				pgstat_report_activity(STATE_IDLE, NULL);
				busy = false;
			}

			/*
			 * Idle.  Cached descriptors are closed once we have been idle for
			 * a while (so that files dropped meanwhile release their space),
			 * not at every gap between one backend's bursts.  Slots still
			 * taken may be an exited owner's: look at them now and then.
			 * With neither, sleep until a backend or a signal wakes us.
			 */
			if (any_fd_cached())
				timeout = IDLE_FD_CLOSE_MS;
			else if (!pgu_queue_all_free())
				timeout = BUSY_CHECK_MS;
			else
				timeout = -1;
			rc = WaitLatch(MyLatch,
						   WL_LATCH_SET | WL_EXIT_ON_PM_DEATH | (timeout >= 0 ? WL_TIMEOUT : 0),
						   timeout, pgu_wait_event(PGU_WAIT_WORKER_MAIN));
			if (rc & WL_TIMEOUT)
			{
				close_idle_fds(true);
				(void) pgu_queue_reclaim();
			}
			continue;
		}

		if (!busy)
		{
			SetCurrentStatementStartTimestamp();	/* query_start: since when */
			pgstat_report_activity(STATE_RUNNING, "serving I/O requests");
			busy = true;
		}

		prep_ready();
		submit_and_reap(true);
		close_idle_fds(false);
	}

	proc_exit(1);
}
