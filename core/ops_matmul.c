/* Matrix product: [M,K] x [K,N] and batched [B,M,K] x [B,K,N], via BLAS GEMM.
 *
 * Backward uses GEMM with beta = 1, so gradients accumulate in place with no
 * temporary and no transposed copy (the transposes are GEMM flags). */
#include <inttypes.h>
#include <string.h>

#include "error_internal.h"
#include "gemm.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* Batch count and matrix sizes of a recorded matmul. */
struct mm_dims {
    int64_t batch, m, k, n;
};

static struct mm_dims dims_of(const struct cg_record *r)
{
    const struct cg_tensor *a = r->in[0], *b = r->in[1];
    int nd = a->ndim;
    return (struct mm_dims){nd == 3 ? a->shape[0] : 1, a->shape[nd - 2], a->shape[nd - 1],
                            b->shape[nd - 1]};
}

/* Independent products handed to the pool together. */
enum { JOBS_PER_CALL = 32 };

static void matmul_forward(struct cg_record *r)
{
    struct mm_dims d = dims_of(r);
    enum cg_dtype dt = r->out->dtype;
    size_t es = cg_dtype_size(dt);
    const char *a = r->in[0]->data, *b = r->in[1]->data;
    char *c = r->out->data;
    struct cg_gemm_job jobs[JOBS_PER_CALL];
    int njobs = 0;
    for (int64_t i = 0; i < d.batch; i++) {
        jobs[njobs++] = (struct cg_gemm_job){dt, false, false, d.m, d.n, d.k,
                                             a + (size_t)(i * d.m * d.k) * es, d.k,
                                             b + (size_t)(i * d.k * d.n) * es, d.n, 0.0,
                                             c + (size_t)(i * d.m * d.n) * es, d.n,
                                             CG_SPLIT_LONGER};
        if (njobs == JOBS_PER_CALL || i == d.batch - 1) cg_gemm_many(jobs, njobs), njobs = 0;
    }
}

static void matmul_backward(struct cg_record *r)
{
    struct mm_dims d = dims_of(r);
    enum cg_dtype dt = r->out->dtype;
    size_t es = cg_dtype_size(dt);
    const struct cg_tensor *a = r->in[0], *b = r->in[1];
    const char *dc = r->out->grad->data;
    char *da = a->grad ? a->grad->data : NULL;
    char *db = b->grad ? b->grad->data : NULL;
    struct cg_gemm_job jobs[JOBS_PER_CALL];
    int njobs = 0;
    for (int64_t i = 0; i < d.batch; i++) {
        size_t oa = (size_t)(i * d.m * d.k) * es, ob = (size_t)(i * d.k * d.n) * es;
        const char *dci = dc + (size_t)(i * d.m * d.n) * es;
        /* dA[m,k] += dC[m,n] B^T: B is stored [k,n], so transpose flag. */
        if (da)
            jobs[njobs++] = (struct cg_gemm_job){dt, false, true, d.m, d.k, d.n, dci, d.n,
                                                 (const char *)b->data + ob, d.n, 1.0, da + oa,
                                                 d.k, CG_SPLIT_LONGER};
        /* dB[k,n] += A^T dC: A is stored [m,k]. */
        if (db)
            jobs[njobs++] = (struct cg_gemm_job){dt, true, false, d.k, d.n, d.m,
                                                 (const char *)a->data + oa, d.k, dci, d.n, 1.0,
                                                 db + ob, d.n, CG_SPLIT_LONGER};
        if (njobs >= JOBS_PER_CALL - 1 || i == d.batch - 1) cg_gemm_many(jobs, njobs), njobs = 0;
    }
}

const struct cg_op cg_op_matmul = {"matmul", matmul_forward, matmul_backward, 0};

struct cg_tensor *cg_matmul(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b)
{
    CG_CHECK_NOT_NULL("matmul", a, "a");
    CG_CHECK_NOT_NULL("matmul", b, "b");
    char sa[128], sb[128];
    int nd = a->ndim;
    if ((nd != 2 && nd != 3) || b->ndim != nd) {
        cg_misuse("matmul", "a %s and b %s: need [M,K] x [K,N] or [B,M,K] x [B,K,N] (hint: "
                  "cg_reshape a vector to [1,K] or [K,1])",
                  cg_tensor_shape_str(a, sa, sizeof sa), cg_tensor_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    if (nd == 3 && a->shape[0] != b->shape[0]) {
        cg_misuse("matmul", "a %s and b %s: batch sizes %" PRId64 " and %" PRId64 " differ",
                  cg_tensor_shape_str(a, sa, sizeof sa), cg_tensor_shape_str(b, sb, sizeof sb),
                  a->shape[0], b->shape[0]);
        return NULL;
    }
    if (a->shape[nd - 1] != b->shape[nd - 2]) {
        cg_misuse("matmul", "a %s does not match b %s: a has %" PRId64 " columns but b has %"
                  PRId64 " rows (hint: cg_transpose one of them?)",
                  cg_tensor_shape_str(a, sa, sizeof sa), cg_tensor_shape_str(b, sb, sizeof sb),
                  a->shape[nd - 1], b->shape[nd - 2]);
        return NULL;
    }
    for (int i = 0; i < nd; i++) {
        if (a->shape[i] > INT32_MAX || b->shape[i] > INT32_MAX) {
            cg_misuse("matmul", "a %s or b %s has a size over %d, too large for BLAS",
                      cg_tensor_shape_str(a, sa, sizeof sa),
                      cg_tensor_shape_str(b, sb, sizeof sb), INT32_MAX);
            return NULL;
        }
    }
    int64_t shape[3];
    memcpy(shape, a->shape, sizeof shape); /* [B,]M,N: a's leading dims, b's last */
    shape[nd - 1] = b->shape[nd - 1];
    struct cg_tensor *in[2] = {a, b};
    return cg_op_apply(tape, &cg_op_matmul, 2, in, a->dtype, nd, shape, NULL, 0);
}
