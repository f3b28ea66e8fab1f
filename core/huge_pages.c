/* Large, long-lived buffers on 2 MB pages (Linux transparent huge pages).
 *
 * A shuffled pass over a data set reads each sample from a different 4 KB
 * page, and in a virtual machine every TLB miss is a two-level page walk:
 * profiled, the batch conversion of a Fashion-MNIST epoch spent more than
 * half its time waiting on such misses.  With 2 MB pages the whole set's
 * translations stay in the TLB.  Asking the kernel to collapse the pages
 * in place (MADV_COLLAPSE) cost 120 ms of system time for 47 MB; a copy
 * into memory advised before it is written costs a few ms. */
#if defined(__linux__)
#undef _POSIX_C_SOURCE
#define _DEFAULT_SOURCE
#include <sys/mman.h>
#endif

#include <stdint.h>
#include <string.h>

#include "alloc.h"

#if defined(__linux__) && defined(MADV_HUGEPAGE) && defined(MADV_DONTNEED)
enum { huge_page = 2 << 20, slice = 4 << 20 };

/* 2 MB-aligned memory for `bytes` (from 4 MB on, else NULL), advised to be
 * kept on 2 MB pages; *advised says whether the kernel took the advice. */
static uint8_t *huge_alloc(size_t bytes, bool *advised)
{
    *advised = false;
    if (bytes < 2 * (size_t)huge_page) return NULL;
    uint8_t *p = cg_try_malloc_aligned(huge_page, bytes);
    size_t rounded = (bytes + huge_page - 1) & ~(size_t)(huge_page - 1);
    if (p) *advised = madvise(p, rounded, MADV_HUGEPAGE) == 0;
    return p;
}

void *cg_malloc_huge(size_t bytes, const char *what)
{
    bool advised; /* refused advice is harmless: the memory is still good */
    void *p = huge_alloc(bytes, &advised);
    return p ? p : cg_malloc(bytes, what);
}

void *cg_move_to_huge_pages(void *p, size_t bytes)
{
    if (!p) return p;
    bool advised;
    uint8_t *to = huge_alloc(bytes, &advised), *from = p;
    if (!to) return p;
    if (!advised) { /* refused: a copy would gain nothing */
        cg_free(to);
        return p;
    }
    const uintptr_t page = 4096;
    uintptr_t released = ((uintptr_t)from + page - 1) & ~(page - 1);
    for (size_t done = 0; done < bytes;) {
        size_t n = bytes - done < (size_t)slice ? bytes - done : (size_t)slice;
        memcpy(to + done, from + done, n);
        done += n;
        /* The source's whole pages copied so far go back to the system. */
        uintptr_t upto = ((uintptr_t)from + done) & ~(page - 1);
        if (upto > released) {
            (void)madvise((void *)released, (size_t)(upto - released), MADV_DONTNEED);
            released = upto;
        }
    }
    cg_free(p);
    return to;
}
#else
void *cg_malloc_huge(size_t bytes, const char *what) { return cg_malloc(bytes, what); }

void *cg_move_to_huge_pages(void *p, size_t bytes)
{
    (void)bytes;
    return p;
}
#endif
