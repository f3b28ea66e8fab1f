/* cgrad's own worker pool: splits the work inside one op (GEMM tiles, the
 * optimizer update) over cg_set_num_threads() threads.  OpenBLAS runs one
 * thread per call while the pool has helpers, so the two never compete. */
#ifndef CG_CORE_PARALLEL_H
#define CG_CORE_PARALLEL_H

#include <stdint.h>

enum { CG_MAX_THREADS = 64, CG_MAX_TASKS = 256 };

/* Runs fn(ctx, t) for every t in [0, ntasks), on the pool when it is free,
 * else (pool busy with another caller, or a task calling back in) serially
 * in the caller.  Returns when all tasks are done.  Thread i of the pool
 * (the caller is 0) starts with tasks i, i + threads, ..., so splitting
 * every op the same way keeps each slice of the data in one core's cache;
 * an idle thread then takes unstarted tasks of a slow one.  What a task
 * computes must not depend on the thread that runs it.  More than
 * CG_MAX_TASKS tasks run serially. */
typedef void (*cg_task_fn)(void *ctx, int task);
void cg_parallel_run(int ntasks, cg_task_fn fn, void *ctx);

/* The configured thread count (>= 1).  Work is split by this count, never by
 * how many threads happen to be free, so results do not depend on timing. */
int cg_parallel_threads(void);

/* [begin, end) of part `part` when `n` items are cut into `parts` equal runs
 * whose starts are multiples of `align` (except the end). */
void cg_split_range(int64_t n, int parts, int part, int64_t align, int64_t *begin, int64_t *end);

/* How many parts an elementwise pass over n elements is cut into: the
 * thread count from CG_PARALLEL_MAP_MIN elements on (below, handing off
 * costs more than the pass), else 1.  Elementwise results do not depend on
 * the cut; cut with cg_split_map, whose runs start on multiples of 16
 * elements, so no two threads write one cache line. */
enum { CG_PARALLEL_MAP_MIN = 1 << 14 };
static inline int cg_parallel_parts(int64_t n)
{
    return n < CG_PARALLEL_MAP_MIN ? 1 : cg_parallel_threads();
}
/* cg_parallel_run for cg_parallel_parts' count, calling fn directly for
 * one part (inlined there, so tiny ops stay as cheap as without a pool). */
static inline void cg_parallel_map(int parts, cg_task_fn fn, void *ctx)
{
    if (parts == 1)
        fn(ctx, 0);
    else
        cg_parallel_run(parts, fn, ctx);
}

/* cg_split_range(n, parts, part, 16, ...) without its divisions for one
 * part: tiny ops run this on every call (bench/op_overhead). */
static inline void cg_split_map(int64_t n, int parts, int part, int64_t *begin, int64_t *end)
{
    if (parts == 1) {
        *begin = 0, *end = n;
        return;
    }
    cg_split_range(n, parts, part, 16, begin, end);
}

#endif
