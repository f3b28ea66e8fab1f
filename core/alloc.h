/* Counted heap allocation: every library allocation goes through here. */
#ifndef CG_CORE_ALLOC_H
#define CG_CORE_ALLOC_H

#include <stdbool.h>
#include <stddef.h>

/* Like malloc/calloc/realloc/free, but counted (cg_alloc_count).  On failure
 * they set cg_last_error() to an out-of-memory message naming `what` and
 * return NULL. */
void *cg_malloc(size_t bytes, const char *what);
void *cg_calloc(size_t n, size_t size, const char *what);
void *cg_realloc(void *p, size_t bytes, const char *what);
/* 64-byte aligned allocation, freed with cg_free_aligned. */
void *cg_malloc_aligned(size_t bytes, const char *what);
void cg_free(void *p);
void cg_free_aligned(void *p);

/* Like cg_malloc_aligned with alignment `align` (a power of two), freed
 * with cg_free, but a failure sets no error: for copies that are optional. */
void *cg_try_malloc_aligned(size_t align, size_t bytes);

/* cg_malloc for a large buffer that will be read at random for a long time:
 * on Linux, from 4 MB on, 2 MB aligned and advised to be kept on 2 MB pages
 * as it is first written.  Freed with cg_free. */
void *cg_malloc_huge(size_t bytes, const char *what);

/* For a large heap buffer that will be read at random for a long time: on
 * Linux, returns a copy of its `bytes` bytes on 2 MB pages and frees p (as
 * cg_free); elsewhere, or when the copy cannot be made, returns p itself.
 * Either way the caller owns the result, freed with cg_free.  The copy is
 * made in slices, each slice's old pages given back as it goes, so it costs
 * about one slice of extra memory, not a second buffer. */
void *cg_move_to_huge_pages(void *p, size_t bytes);

/* Allocation-failure injection, for tests only (internal: not exported by
 * the shared library; tests link the static one).  After
 * cg_alloc_fail_nth(n), the n-th allocation from now (n >= 1) fails as if
 * the system were out of memory; the others succeed.  n = 0 cancels.  A
 * test loops n = 1, 2, ... over a sequence until the injected failure no
 * longer happens, so every allocation of the sequence fails once. */
void cg_alloc_fail_nth(size_t n);
/* True once the injected failure has happened (reset by cg_alloc_fail_nth). */
bool cg_alloc_fail_fired(void);

#endif
