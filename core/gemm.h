/* The one GEMM wrapper shared by matmul and linear. */
#ifndef CG_CORE_GEMM_H
#define CG_CORE_GEMM_H

#include <stdbool.h>
#include <stdint.h>

#include "cgrad/tensor.h"

/* Row-major C[m,n] = op(A) op(B) + beta C; lda/ldb are the stored row
 * lengths, ta/tb select transposes as BLAS flags (never copies).  K == 0
 * leaves only the beta scaling, done here because BLAS implementations
 * differ on empty products. */
void cg_gemm(enum cg_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a,
             int64_t lda, const void *b, int64_t ldb, double beta, void *c);

#endif
