/* Allocation accounting.  Every heap allocation the library makes goes
 * through one wrapper that counts it, so programs and tests can check that a
 * training step allocates nothing.  Also: OpenBLAS thread control. */
#ifndef CGRAD_MEMORY_H
#define CGRAD_MEMORY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of successful heap allocations (malloc/calloc/realloc) made by the
 * library since the program started.  Thread-safe. */
size_t cg_alloc_count(void);

/* Total bytes the library has requested from the heap since the program
 * started (cumulative: frees do not subtract).  Thread-safe. */
size_t cg_alloc_bytes(void);

/* Sets the number of threads OpenBLAS uses for matrix products (n >= 1).
 * n <= 0 reads CGRAD_NUM_THREADS from the environment; if that is unset or
 * not a positive number, OpenBLAS's default (OPENBLAS_NUM_THREADS, else one
 * per core) is left in place.  The setting is process-wide: call it once,
 * before starting threads (see docs/threading.md).  Never fails. */
void cg_set_num_threads(int n);
/* OpenBLAS's current thread count. */
int cg_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
