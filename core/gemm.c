#include "gemm.h"

#include <string.h>

#include <cblas.h>

#include "multiarch.h"
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

/* sums[i] (+)= a[k * lda + i] for i < m, k ascending: each element's adds
 * in the order of a row-major walk of the whole of A. */
#define CG_COL_SUMS(T)                                                           \
    do {                                                                         \
        T *restrict s = sums;                                                    \
        const T *restrict x = a;                                                 \
        for (int64_t r = 0; r < k; r++)                                          \
            for (int64_t i = 0; i < m; i++) s[i] += x[r * lda + i];              \
    } while (0)

CG_MULTIARCH static void gemm_col_sums(enum cg_dtype dt, void *sums, const void *a, int64_t k,
                                       int64_t m, int64_t lda)
{
    if (dt == CG_F64)
        CG_COL_SUMS(double);
    else
        CG_COL_SUMS(float);
}

/* The fused work, which comes before the product (row_init) or needs none
 * of it (col_sums). */
static void gemm_fusions(const struct cg_gemm_job *j, const struct cg_gemm_fusion *f, size_t elem)
{
    if (f->row_init)
        for (int64_t i = 0; i < j->m; i++)
            memcpy((char *)j->c + (size_t)(i * j->ldc) * elem, f->row_init, (size_t)j->n * elem);
    if (f->col_sums) {
        if (f->col_sums_assign) memset(f->col_sums, 0, (size_t)j->m * elem);
        gemm_col_sums(j->dt, f->col_sums, j->a, j->k, j->m, j->lda);
    }
}

static void gemm_one(const struct cg_gemm_job *j, const struct cg_gemm_fusion *f)
{
    size_t elem = cg_dtype_size(j->dt);
    if (f) gemm_fusions(j, f, elem);
    if (j->m == 0 || j->n == 0) return;
    /* beta 0: C is zeroed here and BLAS adds the product to it (beta 1).
     * That is what OpenBLAS does itself, bit for bit, but its zeroing pass
     * runs at about half of memset's speed. */
    if (j->beta == 0)
        for (int64_t i = 0; i < j->m; i++)
            memset((char *)j->c + (size_t)(i * j->ldc) * elem, 0, (size_t)j->n * elem);
    if (j->k == 0) return; /* C = beta C */
    enum CBLAS_TRANSPOSE ta = j->ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = j->tb ? CblasTrans : CblasNoTrans;
    if (j->dt == CG_F64)
        cblas_dgemm(CblasRowMajor, ta, tb, (blasint)j->m, (blasint)j->n, (blasint)j->k, 1.0, j->a,
                    (blasint)j->lda, j->b, (blasint)j->ldb, 1.0, j->c, (blasint)j->ldc);
    else
        cblas_sgemm(CblasRowMajor, ta, tb, (blasint)j->m, (blasint)j->n, (blasint)j->k, 1.0f,
                    j->a, (blasint)j->lda, j->b, (blasint)j->ldb, 1.0f, j->c,
                    (blasint)j->ldc);
}

/* Block `part` of `parts` of a job: rows of C (and of op(A)) or columns of
 * C (and of op(B)), with its share of the fusion f (may be NULL) in *bf. */
static struct cg_gemm_job block_of(const struct cg_gemm_job *j, const struct cg_gemm_fusion *f,
                                   int parts, int part, struct cg_gemm_fusion *bf)
{
    struct cg_gemm_job b = *j;
    *bf = f ? *f : (struct cg_gemm_fusion){0};
    size_t elem = cg_dtype_size(j->dt);
    int64_t lo, hi;
    if (split_rows(j)) {
        cg_split_range(j->m, parts, part, block_align, &lo, &hi);
        b.m = hi - lo;
        b.a = (const char *)j->a + (size_t)(j->ta ? lo : lo * j->lda) * elem;
        b.c = (char *)j->c + (size_t)(lo * j->ldc) * elem;
        if (bf->col_sums) bf->col_sums = (char *)bf->col_sums + (size_t)lo * elem;
    } else {
        cg_split_range(j->n, parts, part, block_align, &lo, &hi);
        b.n = hi - lo;
        b.b = (const char *)j->b + (size_t)(j->tb ? lo * j->ldb : lo) * elem;
        b.c = (char *)j->c + (size_t)lo * elem;
        if (bf->row_init) bf->row_init = (const char *)bf->row_init + (size_t)lo * elem;
        if (part > 0) bf->col_sums = NULL; /* every block has all rows: the first sums */
    }
    return b;
}

struct plan {
    struct cg_gemm_job block[MAX_BLOCKS];
    struct cg_gemm_fusion fusion[MAX_BLOCKS];
};

static void run_block(void *ctx, int t)
{
    const struct plan *p = ctx;
    gemm_one(&p->block[t], &p->fusion[t]);
}

static double madds(const struct cg_gemm_job *j)
{
    return (double)j->m * (double)j->n * (double)j->k;
}

void cg_gemm_many_fused(const struct cg_gemm_job *jobs, const struct cg_gemm_fusion *fusions,
                        int njobs)
{
    int threads = cg_parallel_threads();
    /* Products that together are smaller than one block run in the caller:
     * waking a helper would cost more than they take. */
    double total = 0;
    for (int i = 0; i < njobs; i++) total += madds(&jobs[i]);
    if (threads == 1 || njobs * threads > MAX_BLOCKS || total < min_block_madds) {
        for (int i = 0; i < njobs; i++) gemm_one(&jobs[i], fusions ? &fusions[i] : NULL);
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
        const struct cg_gemm_fusion *f = fusions ? &fusions[i] : NULL;
        for (int q = 0; q < parts; q++, nblocks++)
            p.block[nblocks] = block_of(j, f, parts, q, &p.fusion[nblocks]);
    }
    cg_parallel_run(nblocks, run_block, &p);
}

void cg_gemm_many(const struct cg_gemm_job *jobs, int njobs)
{
    cg_gemm_many_fused(jobs, NULL, njobs);
}

void cg_gemm_one(const struct cg_gemm_job *job) { gemm_one(job, NULL); }

void cg_col_sums(enum cg_dtype dt, void *sums, const void *a, int64_t k, int64_t m, int64_t lda)
{
    gemm_col_sums(dt, sums, a, k, m, lda);
}
