/* Allocation accounting.  Every heap allocation the library makes goes
 * through one wrapper that counts it, so programs and tests can check that a
 * training step allocates nothing.  Also: OpenBLAS thread control. */
#ifndef CGRAD_MEMORY_H
#define CGRAD_MEMORY_H

#include "export.h"
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Number of successful heap allocations (malloc/calloc/realloc) made by the
 * library since the program started.  Thread-safe. */
CG_API size_t cg_alloc_count(void);

/* Total bytes the library has requested from the heap since the program
 * started (cumulative: frees do not subtract).  Thread-safe. */
CG_API size_t cg_alloc_bytes(void);

/* Sets how many threads cgrad uses (n >= 1, at most 64): the calling thread
 * plus n - 1 helper threads, started at the first op that splits its work.
 * Large matrix products (cg_linear, cg_matmul and their backward) are cut
 * into n blocks of rows or columns, and cg_sgd_step / cg_sgd_zero_grad into
 * n runs of each parameter's rows; OpenBLAS is set to one thread per call
 * so that the two never oversubscribe the cores.  Results repeat bit for
 * bit for a given n; different n round matrix products differently (the
 * optimizer update itself is identical for every n).
 * n <= 0 reads CGRAD_NUM_THREADS from the environment; if that is unset or
 * not a positive number, nothing changes.  CGRAD_NUM_THREADS is also
 * applied by itself at the first op that can split its work, so programs
 * that never call this function follow it; without it cgrad uses one
 * thread and leaves OpenBLAS's own default in place.  Process-wide: one
 * calling thread at a time gets the helpers, others run their work alone
 * with the same cut (see docs/threading.md).  Never fails; helpers that
 * cannot be started leave their share to the threads that did. */
CG_API void cg_set_num_threads(int n);
/* cgrad's current thread count (1 unless set by cg_set_num_threads or
 * CGRAD_NUM_THREADS). */
CG_API int cg_get_num_threads(void);

#ifdef __cplusplus
}
#endif
#endif
