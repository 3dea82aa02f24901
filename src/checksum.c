/*-------------------------------------------------------------------------
 *
 * checksum.c
 *	  Data page checksums for the ring worker's page checks (zero-copy reads
 *	  on 17) and for pg_uring_verify.
 *
 * Core compiles its checksum (storage/checksum_impl.h, which core ships so
 * that other programs compute exactly the same value) for the baseline
 * x86-64 instruction set, which has no 32-bit vector multiply.  Here the
 * same header is compiled a second time for AVX2 and chosen at run time
 * when the CPU has it: the same algorithm and the same result (checked
 * against core's in assert-enabled builds), in under half the time per
 * page.  Elsewhere, core's pg_checksum_page is called.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage/checksum.h"

#include "checksum.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define PGU_CHECKSUM_AVX2 1

/* core's implementation, renamed, compiled for AVX2 */
extern uint16 pgu_checksum_page_avx2(char *page, BlockNumber blkno);

#pragma GCC push_options
#pragma GCC target("avx2")
#pragma GCC optimize("tree-vectorize", "unroll-loops")
#define pg_checksum_page pgu_checksum_page_avx2
#include "storage/checksum_impl.h"
#undef pg_checksum_page
#pragma GCC pop_options

/* Does this CPU have AVX2?  -1: not asked yet. */
static int	have_avx2 = -1;
#endif

/* The checksum of a page (pd_checksum's value) as core computes it. */
uint16
pgu_checksum_page(char *page, BlockNumber blkno)
{
#ifdef PGU_CHECKSUM_AVX2
	if (have_avx2 < 0)
	{
		__builtin_cpu_init();
		have_avx2 = __builtin_cpu_supports("avx2") ? 1 : 0;
	}
	if (have_avx2)
	{
		uint16		sum = pgu_checksum_page_avx2(page, blkno);

		Assert(sum == pg_checksum_page(page, blkno));
		return sum;
	}
#endif
	return pg_checksum_page(page, blkno);
}
