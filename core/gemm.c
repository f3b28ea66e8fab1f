#include "gemm.h"

#include <string.h>

#include <cblas.h>

#include "parallel.h"

/* Below this many multiply-adds per block a split costs more in hand-off
 * than it saves (a 64x64x64 product takes a few microseconds). */
static const double min_block_madds = 1 << 18;
/* Block edges on multiples of the BLAS micro-kernel widths. */
static const int64_t block_align = 16;
enum { MAX_BLOCKS = CG_MAX_TASKS }; /* the most one pool job runs in parallel */

static bool split_rows(const struct cg_gemm_job *j)
{
    return j->split == CG_SPLIT_ROWS || (j->split == CG_SPLIT_LONGER && j->m >= j->n);
}

static void gemm_one(const struct cg_gemm_job *j)
{
    if (j->m == 0 || j->n == 0) return;
    size_t elem = cg_dtype_size(j->dt);
    if (j->k == 0) { /* C = beta C with beta 0 or 1 */
        if (j->beta == 0)
            for (int64_t i = 0; i < j->m; i++)
                memset((char *)j->c + (size_t)(i * j->ldc) * elem, 0, (size_t)j->n * elem);
        return;
    }
    enum CBLAS_TRANSPOSE ta = j->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = j->tb ? CblasTrans : CblasNoTrans;
    if (j->dt == CG_F64)
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)j->m, (blasint)j->n, (blasint)j->k, 1.0, j->a,
                    (blasint)j->lda, j->b, (blasint)j->ldb, j->beta, j->c, (blasint)j->ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)j->m, (blasint)j->n, (blasint)j->k, 1.0f,
                    j->a, (blasint)j->lda, j->b, (blasint)j->ldb, (float)j->beta, j->c,
                    (blasint)j->ldc);
}

/* Block `part` of `parts` of a job: rows of C (and of op(A)) or columns of
 * C (and of op(B)). */
static struct cg_gemm_job block_of(const struct cg_gemm_job *j, int parts, int part)
{
    struct cg_gemm_job b = *j;
    size_t elem = cg_dtype_size(j->dt);
    int64_t lo, hi;
    if (split_rows(j)) {
        cg_split_range(j->m, parts, part, block_align, &lo, &hi);
        b.m = hi - lo;
        b.a = (const char *)j->a + (size_t)(j->ta ? lo : lo * j->lda) * elem;
        b.c = (char *)j->c + (size_t)(lo * j->ldc) * elem;
    } else {
        cg_split_range(j->n, parts, part, block_align, &lo, &hi);
        b.n = hi - lo;
        b.b = (const char *)j->b + (size_t)(j->tb ? lo * j->ldb : lo) * elem;
        b.c = (char *)j->c + (size_t)lo * elem;
    }
    return b;
}

struct plan {
    struct cg_gemm_job block[MAX_BLOCKS];
};

static void run_block(void *ctx, int t)
{
    const struct plan *p = ctx;
    gemm_one(&p->block[t]);
}

static double madds(const struct cg_gemm_job *j)
{
    return (double)j->m * (double)j->n * (double)j->k;
}

void cg_gemm_many(const struct cg_gemm_job *jobs, int njobs)
{
    int threads = cg_parallel_threads();
    /* Products that together are smaller than one block run in the caller:
     * waking a helper would cost more than they take. */
    double total = 0;
    for (int i = 0; i < njobs; i++) total += madds(&jobs[i]);
    if (threads == 1 || njobs * threads > MAX_BLOCKS || total < min_block_madds) {
        for (int i = 0; i < njobs; i++) gemm_one(&jobs[i]);
        return;
    }
    /* Every product big enough is cut into `threads` blocks; smaller ones
     * stay whole and are shared out round the threads. */
    struct plan p;
    int nblocks = 0;
    for (int i = 0; i < njobs; i++) {
        const struct cg_gemm_job *j = &jobs[i];
        int64_t edge = split_rows(j) ? j->m : j->n;
        bool cut = madds(j) >= threads * min_block_madds && edge >= threads * block_align;
        int parts = cut ? threads : 1;
        for (int q = 0; q < parts; q++) p.block[nblocks++] = block_of(j, parts, q);
    }
    cg_parallel_run(nblocks, run_block, &p);
}

void cg_gemm_one(const struct cg_gemm_job *job) { gemm_one(job); }
