#include "gemm.h"

#include <string.h>

#include <cblas.h>

void cg_gemm(enum cg_dtype dt, bool ta, bool tb, int64_t m, int64_t n, int64_t k, const void *a,
             int64_t lda, const void *b, int64_t ldb, double beta, void *c)
{
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (beta == 0) memset(c, 0, (size_t)(m * n) * cg_dtype_size(dt));
        return;
    }
    enum CBLAS_TRANSPOSE tra = ta ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE trb = tb ? CblasTrans : CblasNoTrans;
    if (dt == CG_F64)
        cblas_dgemm(CblasRowMajor, tra, trb, (blasint)m, (blasint)n, (blasint)k, 1.0, a,
                    (blasint)lda, b, (blasint)ldb, beta, c, (blasint)n);
    else
        cblas_sgemm(CblasRowMajor, tra, trb, (blasint)m, (blasint)n, (blasint)k, 1.0f, a,
                    (blasint)lda, b, (blasint)ldb, (float)beta, c, (blasint)n);
}
