/*-------------------------------------------------------------------------
 *
 * ring.c
 *	  io_uring setup, probing, submission and reaping (liburing).
 *
 * This is the only file of pg_uring that includes <liburing.h>.  It knows
 * nothing about buffers, relations or requests: it submits vectored reads
 * and writes against file descriptors and hands back (user_data, res)
 * pairs.  Transient submission errors (EINTR, EAGAIN, EBUSY) are retried
 * here, after reaping when the kernel asks for room; they are never fatal.
 *
 * The ring must be created in the process that uses it (after fork).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "ring.h"
#include "stats.h"

struct PguRing
{
	struct io_uring uring;
	bool		sqpoll;
	int			pending;		/* SQEs prepared but not yet submitted */
};

static const struct
{
	uint32		flag;
	const char *name;
}			feature_names[] =
{
#ifdef IORING_FEAT_SINGLE_MMAP
	{IORING_FEAT_SINGLE_MMAP, "single_mmap"},
#endif
#ifdef IORING_FEAT_NODROP
	{IORING_FEAT_NODROP, "nodrop"},
#endif
#ifdef IORING_FEAT_SUBMIT_STABLE
	{IORING_FEAT_SUBMIT_STABLE, "submit_stable"},
#endif
#ifdef IORING_FEAT_RW_CUR_POS
	{IORING_FEAT_RW_CUR_POS, "rw_cur_pos"},
#endif
#ifdef IORING_FEAT_CUR_PERSONALITY
	{IORING_FEAT_CUR_PERSONALITY, "cur_personality"},
#endif
#ifdef IORING_FEAT_FAST_POLL
	{IORING_FEAT_FAST_POLL, "fast_poll"},
#endif
#ifdef IORING_FEAT_POLL_32BITS
	{IORING_FEAT_POLL_32BITS, "poll_32bits"},
#endif
#ifdef IORING_FEAT_SQPOLL_NONFIXED
	{IORING_FEAT_SQPOLL_NONFIXED, "sqpoll_nonfixed"},
#endif
#ifdef IORING_FEAT_EXT_ARG
	{IORING_FEAT_EXT_ARG, "ext_arg"},
#endif
#ifdef IORING_FEAT_NATIVE_WORKERS
	{IORING_FEAT_NATIVE_WORKERS, "native_workers"},
#endif
#ifdef IORING_FEAT_RSRC_TAGS
	{IORING_FEAT_RSRC_TAGS, "rsrc_tags"},
#endif
#ifdef IORING_FEAT_CQE_SKIP
	{IORING_FEAT_CQE_SKIP, "cqe_skip"},
#endif
#ifdef IORING_FEAT_LINKED_FILE
	{IORING_FEAT_LINKED_FILE, "linked_file"},
#endif
};

static const struct
{
	int			op;
	const char *name;
	bool		required;
}			opcode_names[] =
{
	{IORING_OP_NOP, "nop", true},
	{IORING_OP_READV, "readv", true},
	{IORING_OP_WRITEV, "writev", true},
	{IORING_OP_FSYNC, "fsync", false},
	{IORING_OP_READ_FIXED, "read_fixed", false},
	{IORING_OP_WRITE_FIXED, "write_fixed", false},
	{IORING_OP_FADVISE, "fadvise", false},
	{IORING_OP_OPENAT, "openat", false},
	{IORING_OP_CLOSE, "close", false},
	{IORING_OP_READ, "read", false},
	{IORING_OP_WRITE, "write", false},
};

/* Record a setup failure in the status block. */
static void
set_reason(PguRingStatus *status, int err, const char *what)
{
	status->setup_errno = err;
	snprintf(status->reason, sizeof(status->reason), "%s: %s", what, strerror(err));
}

/*
 * Run a NOP and a readv of pg_control through a fresh ring, to catch
 * sandboxes (gVisor) that accept io_uring_setup but fail the operations.
 */
static int
ring_self_test(struct io_uring *uring)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	char		buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	int			fd;
	int			ret;
	int			i;

	fd = open("global/pg_control", O_RDONLY);
	if (fd < 0)
		return -errno;

	sqe = io_uring_get_sqe(uring);
	io_uring_prep_nop(sqe);
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(uring);
	io_uring_prep_readv(sqe, fd, &iov, 1, 0);
	sqe->user_data = 2;

	do
		ret = io_uring_submit_and_wait(uring, 2);
	while (ret == -EINTR);
	if (ret < 0)
	{
		close(fd);
		return ret;
	}

	for (i = 0; i < 2; i++)
	{
		do
			ret = io_uring_wait_cqe(uring, &cqe);
		while (ret == -EINTR);
		if (ret < 0)
			break;
		if (cqe->res < 0)
			ret = cqe->res;
		else if (cqe->user_data == 2 && cqe->res != (int) sizeof(buf))
			ret = -EIO;
		io_uring_cqe_seen(uring, cqe);
		if (ret < 0)
			break;
	}
	close(fd);
	return ret < 0 ? ret : 0;
}

/*
 * Create the ring, probe it and test it.  On success returns the ring and
 * fills status; on failure returns NULL with status->reason and
 * status->setup_errno describing why.  Never throws for kernel refusals.
 */
PguRing *
pgu_ring_create(int entries, bool sqpoll, int sqpoll_idle_ms, PguRingStatus *status)
{
	struct io_uring_params params;
	struct io_uring_probe *probe;
	struct utsname uts;
	PguRing    *ring;
	int			ret;
	int			i;

	if (uname(&uts) == 0)
		strlcpy(status->kernel_release, uts.release, sizeof(status->kernel_release));

	ring = calloc(1, sizeof(PguRing));
	if (ring == NULL)
	{
		set_reason(status, ENOMEM, "could not allocate ring state");
		return NULL;
	}

	memset(&params, 0, sizeof(params));
	params.flags = IORING_SETUP_CQSIZE;
	params.cq_entries = entries * 2;
	if (sqpoll)
	{
		params.flags |= IORING_SETUP_SQPOLL;
		params.sq_thread_idle = sqpoll_idle_ms;
	}

	ret = io_uring_queue_init_params(entries, &ring->uring, &params);
	if (ret == -EINVAL && (params.flags & IORING_SETUP_CQSIZE))
	{
		/* very old kernels lack CQSIZE; retry with the default CQ */
		memset(&params, 0, sizeof(params));
		if (sqpoll)
		{
			params.flags |= IORING_SETUP_SQPOLL;
			params.sq_thread_idle = sqpoll_idle_ms;
		}
		ret = io_uring_queue_init_params(entries, &ring->uring, &params);
	}
	if (ret < 0)
	{
		set_reason(status, -ret, "io_uring_setup failed");
		free(ring);
		return NULL;
	}
	ring->sqpoll = sqpoll;
	status->sq_entries = params.sq_entries;
	status->cq_entries = params.cq_entries;
	status->sqpoll = sqpoll;
	status->features = params.features;

	probe = io_uring_get_probe_ring(&ring->uring);
	status->opcodes = 0;
	for (i = 0; i < (int) lengthof(opcode_names); i++)
	{
		bool		ok;

		/* without a probe (kernels before 5.6), assume the 5.1 basics */
		ok = probe ? io_uring_opcode_supported(probe, opcode_names[i].op) :
			opcode_names[i].op <= IORING_OP_FSYNC;
		if (ok && opcode_names[i].op < 64)
			status->opcodes |= UINT64CONST(1) << opcode_names[i].op;
		if (!ok && opcode_names[i].required)
		{
			snprintf(status->reason, sizeof(status->reason),
					 "the kernel does not support io_uring opcode %s",
					 opcode_names[i].name);
			status->setup_errno = EOPNOTSUPP;
			if (probe)
				io_uring_free_probe(probe);
			io_uring_queue_exit(&ring->uring);
			free(ring);
			return NULL;
		}
	}
	if (probe)
		io_uring_free_probe(probe);

	ret = ring_self_test(&ring->uring);
	if (ret < 0)
	{
		set_reason(status, -ret, "io_uring self-test failed");
		io_uring_queue_exit(&ring->uring);
		free(ring);
		return NULL;
	}

	status->reason[0] = '\0';
	status->setup_errno = 0;
	return ring;
}

/* Tear the ring down; the caller has drained it. */
void
pgu_ring_destroy(PguRing *ring)
{
	if (ring == NULL)
		return;
	io_uring_queue_exit(&ring->uring);
	free(ring);
}

/*
 * Prepare one vectored read or write.  Returns false when the SQ is full;
 * the caller then submits and reaps to make room (back-pressure).
 */
bool
pgu_ring_prep_rw(PguRing *ring, bool write, int fd, const struct iovec *iov,
				 int iovcnt, uint64 offset, uint64 user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->uring);

	if (sqe == NULL)
		return false;
	if (write)
		io_uring_prep_writev(sqe, fd, iov, iovcnt, offset);
	else
		io_uring_prep_readv(sqe, fd, iov, iovcnt, offset);
	io_uring_sqe_set_data64(sqe, user_data);
	ring->pending++;
	return true;
}

/*
 * Prepare one posix_fadvise(WILLNEED) of a file range: the kernel starts
 * reading it into the page cache and completes without waiting for the
 * data.  Returns false when the SQ is full.
 */
bool
pgu_ring_prep_willneed(PguRing *ring, int fd, uint64 offset, uint32 len,
					   uint64 user_data)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring->uring);

	if (sqe == NULL)
		return false;
	io_uring_prep_fadvise(sqe, fd, offset, len, POSIX_FADV_WILLNEED);
	io_uring_sqe_set_data64(sqe, user_data);
	ring->pending++;
	return true;
}

/* Does the ring support fadvise (probed opcodes of status)? */
bool
pgu_ring_has_willneed(const PguRingStatus *status)
{
	return (status->opcodes & (UINT64CONST(1) << IORING_OP_FADVISE)) != 0;
}

/*
 * Submit what is prepared and wait for at least wait_nr completions, for at
 * most timeout_ms (0: don't wait).  EINTR, EAGAIN and EBUSY are not errors:
 * the caller reaps and calls again.  Returns 0, or -errno for a real error.
 */
int
pgu_ring_submit(PguRing *ring, int wait_nr, int timeout_ms)
{
	int			ret;

	pgu_count(PGU_PATH_RING, PGU_C_ENTER_CALLS, 1);
	if (wait_nr > 0 && timeout_ms > 0)
	{
		struct __kernel_timespec ts;
		struct io_uring_cqe *cqe;

		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long long) (timeout_ms % 1000) * 1000000;
		ret = io_uring_submit_and_wait_timeout(&ring->uring, &cqe, wait_nr, &ts, NULL);
		if (ret == -ETIME)
			ret = 0;
	}
	else if (wait_nr > 0)
		ret = io_uring_submit_and_wait(&ring->uring, wait_nr);
	else
		ret = io_uring_submit(&ring->uring);

	if (ret >= 0)
	{
		/* with a timeout, liburing returns the number of CQEs, not SQEs */
		if (!(wait_nr > 0 && timeout_ms > 0))
			pgu_count(PGU_PATH_RING, PGU_C_SQES_SUBMITTED, ret);
		else
			pgu_count(PGU_PATH_RING, PGU_C_SQES_SUBMITTED, ring->pending);
		ring->pending = 0;
		return 0;
	}
	if (ret == -EINTR || ret == -EAGAIN || ret == -EBUSY)
	{
		pgu_count(PGU_PATH_RING, PGU_C_RETRIES, 1);
		return 0;
	}
	return ret;
}

/* Copy up to max completions out of the CQ and mark them seen. */
int
pgu_ring_reap(PguRing *ring, PguCqe *out, int max)
{
	struct io_uring_cqe *cqe;
	unsigned	head;
	int			n = 0;

	io_uring_for_each_cqe(&ring->uring, head, cqe)
	{
		if (n >= max)
			break;
		out[n].user_data = io_uring_cqe_get_data64(cqe);
		out[n].res = cqe->res;
		n++;
	}
	if (n > 0)
	{
		io_uring_cq_advance(&ring->uring, n);
		pgu_count(PGU_PATH_RING, PGU_C_CQES_REAPED, n);
	}
	return n;
}

/* Names of the IORING_FEAT_* bits set in features. */
int
pgu_ring_feature_names(uint32 features, const char **names, int max)
{
	int			n = 0;
	int			i;

	for (i = 0; i < (int) lengthof(feature_names) && n < max; i++)
		if (features & feature_names[i].flag)
			names[n++] = feature_names[i].name;
	return n;
}

/* Names of the probed opcodes set in opcodes. */
int
pgu_ring_opcode_names(uint64 opcodes, const char **names, int max)
{
	int			n = 0;
	int			i;

	for (i = 0; i < (int) lengthof(opcode_names) && n < max; i++)
		if (opcode_names[i].op < 64 &&
			(opcodes & (UINT64CONST(1) << opcode_names[i].op)))
			names[n++] = opcode_names[i].name;
	return n;
}
