/* The one GEMM wrapper shared by matmul and linear. */
#ifndef CG_CORE_GEMM_H
#define CG_CORE_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "cgrad/tensor.h"

/* How a product is cut for the pool: by rows or columns of C, or by the
 * longer side.  Ops that touch one weight matrix in several products cut
 * them all along its rows (output features), so each thread keeps its own
 * rows of the weight, its gradient and its activations in cache. */
enum cg_gemm_split { CG_SPLIT_LONGER = 0, CG_SPLIT_ROWS, CG_SPLIT_COLS };

/* Row-major C[m,n] = op(A) op(B) + beta C with beta 0 or 1, C's rows ldc
 * apart; lda/ldb are the stored row lengths, ta/tb select transposes as BLAS
 * flags (never copies). */
struct cg_gemm_job {
    enum cg_dtype dt;
    bool ta, tb;
    int64_t m, n, k;
    const void *a;
    int64_t lda;
    const void *b;
    int64_t ldb;
    double beta;
    void *c;
    int64_t ldc;
    enum cg_gemm_split split;
};

/* Work fused into a product, done by the thread that runs each block of it
 * while the block's rows are in cache (NULL pointers: none).  row_init: C's
 * rows are first set to this [n] vector (a bias; the job's beta must then
 * be 1).  col_sums, for a job with ta (op(A) = A^T, A stored [k, m]):
 * col_sums[i] += sum over k of A[k][i], in k order, for every row i of C
 * (a bias gradient); col_sums_assign: set it to 0 first (unwritten grad). */
struct cg_gemm_fusion {
    const void *row_init;
    void *col_sums;
    bool col_sums_assign;
};

/* Runs independent products on the thread pool, each large one cut into
 * cg_set_num_threads() blocks of rows or columns (block i of every product
 * goes to thread i first).  The cut depends only on the shapes and the
 * thread count, so results repeat bit for bit for a given thread count.
 * K == 0 leaves only the beta scaling, done here because BLAS
 * implementations differ on empty products. */
void cg_gemm_many(const struct cg_gemm_job *jobs, int njobs);
/* cg_gemm_many with fusions[i] fused into jobs[i]; fusions may be NULL. */
void cg_gemm_many_fused(const struct cg_gemm_job *jobs, const struct cg_gemm_fusion *fusions,
                        int njobs);
/* One product in the calling thread, uncut: for ops that cut their own work
 * over the pool (convolution cuts the batch) and call GEMM from a task. */
void cg_gemm_one(const struct cg_gemm_job *job);

/* sums[i] += sum over r < k of a[r * lda + i], for i < m, r ascending
 * (col_sums of struct cg_gemm_fusion without a product). */
void cg_col_sums(enum cg_dtype dt, void *sums, const void *a, int64_t k, int64_t m, int64_t lda);

#endif
