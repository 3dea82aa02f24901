/*
 * seccomp_deny_uring.c
 *
 * Run a command with io_uring refused, the way Docker 25+ and containerd 2
 * default seccomp profiles refuse it: io_uring_setup, io_uring_enter and
 * io_uring_register fail with EPERM.  Everything else is allowed.
 *
 *     seccomp_deny_uring pg_ctl -D data -l log start
 *
 * The filter is inherited across fork and execve, so every process that the
 * command starts (the postmaster and all of its children) is covered.
 * PR_SET_NO_NEW_PRIVS makes this work without root.  No libseccomp: a raw
 * classic-BPF program.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define FILTER_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define FILTER_ARCH AUDIT_ARCH_AARCH64
#else
#error "seccomp_deny_uring: unsupported architecture (x86_64 and aarch64 only)"
#endif

/* io_uring syscall numbers are the same on every arch using the generic table */
#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#ifndef __NR_io_uring_enter
#define __NR_io_uring_enter 426
#endif
#ifndef __NR_io_uring_register
#define __NR_io_uring_register 427
#endif

#if defined(__x86_64__)
/* x32 ABI syscalls carry this bit; refuse them outright so they can't bypass */
#define X32_SYSCALL_BIT 0x40000000U
#endif

#define DENY_EPERM (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))

int
main(int argc, char **argv)
{
	struct sock_filter filter[] = {
		/* Check the architecture; a foreign ABI gets EPERM for everything. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FILTER_ARCH, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, DENY_EPERM),

		/* Load the syscall number. */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
#if defined(__x86_64__)
		BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, DENY_EPERM),
#endif
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_enter, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_register, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, DENY_EPERM),
	};
	struct sock_fprog prog = {
		.len = (unsigned short) (sizeof(filter) / sizeof(filter[0])),
		.filter = filter,
	};

	if (argc < 2)
	{
		fprintf(stderr, "usage: %s command [args...]\n"
				"Runs command with io_uring_setup/enter/register failing with EPERM.\n",
				argv[0]);
		return 2;
	}

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
	{
		fprintf(stderr, "seccomp_deny_uring: prctl(PR_SET_NO_NEW_PRIVS): %s\n",
				strerror(errno));
		return 1;
	}
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0)
	{
		fprintf(stderr, "seccomp_deny_uring: prctl(PR_SET_SECCOMP): %s\n",
				strerror(errno));
		return 1;
	}

	execvp(argv[1], &argv[1]);
	fprintf(stderr, "seccomp_deny_uring: execvp(%s): %s\n", argv[1], strerror(errno));
	return 127;
}
