/* Fully connected layer op: y = x W^T + b in one GEMM with the bias fused.
 *
 * x [N,in], w [out,in] (PyTorch's layout), b [out] or absent.  The bias is
 * written into every output row and the GEMM adds onto it (beta = 1), so no
 * separate bias pass over y.  Backward accumulates with beta = 1 and
 * expresses every transpose as a GEMM flag, never as a copy. */
#include <inttypes.h>
#include <string.h>

#include "error_internal.h"
#include "gemm.h"
#include "op_list.h"
#include "cgrad/ops.h"

static void linear_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *w = r->in[1];
    struct cg_tensor *y = r->out;
    int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    const void *bias = r->n_in == 3 ? r->in[2]->data : NULL;
    /* y[n,out] (+)= x[n,in] * W^T, W stored [out,in]; each block fills its
     * columns of y with the bias first. */
    struct cg_gemm_job job = {y->dtype, false, true, n, out, in, x->data, in, w->data, in,
                              bias ? 1.0 : 0.0, y->data, out, CG_SPLIT_COLS};
    cg_gemm_many_fused(&job, &(struct cg_gemm_fusion){.row_init = bias}, 1);
}

static void linear_backward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *w = r->in[1];
    enum cg_dtype dt = r->out->dtype;
    const void *dy = r->out->grad->data;
    int64_t n = x->shape[0], in = x->shape[1], out = w->shape[0];
    /* One pool job for both products; every cut follows W's rows (the
     * output features), as in the forward, so each thread stays on its own
     * slice of W, dW and the activations. */
    struct cg_gemm_job jobs[2];
    struct cg_gemm_fusion fusions[2] = {{0}};
    int njobs = 0;
    /* dx[n,in] += dy[n,out] * W[out,in]; beta 0 where the grad is unwritten
     * scratch (the GEMM's own 0 + sum: the bits of accumulating into zeros). */
    if (x->grad)
        jobs[njobs++] = (struct cg_gemm_job){dt, false, false, n, in, out, dy, out, w->data, in,
                                             cg_grad_assign_scratch(r->in[0]) ? 0.0 : 1.0,
                                             x->grad->data, in, CG_SPLIT_COLS};
    /* dW[out,in] += dy^T * x: dy stored [n,out], so transpose flag; the
     * bias gradient (dy's column sums) goes with it, each block its rows. */
    struct cg_tensor *b = r->n_in == 3 && r->in[2]->grad ? r->in[2] : NULL;
    if (w->grad) {
        jobs[njobs++] = (struct cg_gemm_job){dt, true, false, out, in, n, dy, out, x->data, in,
                                             cg_grad_assign_scratch(r->in[1]) ? 0.0 : 1.0,
                                             w->grad->data, in, CG_SPLIT_ROWS};
        if (b) {
            fusions[njobs - 1] = (struct cg_gemm_fusion){
                .col_sums = b->grad->data, .col_sums_assign = cg_grad_assign_scratch(b)};
            b = NULL;
        }
    }
    cg_gemm_many_fused(jobs, fusions, njobs);
    if (b) {
        if (cg_grad_assign_scratch(b)) memset(b->grad->data, 0, (size_t)out * cg_dtype_size(dt));
        cg_col_sums(dt, b->grad->data, dy, n, out, out);
    }
}

const struct cg_op cg_op_linear = {"linear", linear_forward, linear_backward,
                                   CG_OP_ASSIGNS_GRAD};

struct cg_tensor *cg_linear(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *w,
                            struct cg_tensor *b)
{
    CG_CHECK_NOT_NULL("linear", x, "x");
    CG_CHECK_NOT_NULL("linear", w, "weight");
    char sx[128], sw[128], sb[128];
    if (x->ndim != 2) {
        cg_misuse("linear", "x %s must be 2-D [batch,in_features] (hint: cg_reshape it to "
                  "[batch,-1])", cg_tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    if (w->ndim != 2) {
        cg_misuse("linear", "weight %s must be 2-D [out_features,in_features]",
                  cg_tensor_shape_str(w, sw, sizeof sw));
        return NULL;
    }
    if (x->shape[1] != w->shape[1]) {
        cg_misuse("linear", "x %s does not match weight %s (in_features %" PRId64 ", x has %"
                  PRId64 " columns)", cg_tensor_shape_str(x, sx, sizeof sx),
                  cg_tensor_shape_str(w, sw, sizeof sw), w->shape[1], x->shape[1]);
        return NULL;
    }
    if (b && (b->ndim != 1 || b->shape[0] != w->shape[0])) {
        cg_misuse("linear", "bias %s does not match weight %s (need [%" PRId64 "], one per "
                  "output feature)", cg_tensor_shape_str(b, sb, sizeof sb),
                  cg_tensor_shape_str(w, sw, sizeof sw), w->shape[0]);
        return NULL;
    }
    if (x->shape[0] > INT32_MAX || x->shape[1] > INT32_MAX || w->shape[0] > INT32_MAX) {
        cg_misuse("linear", "x %s or weight %s has a size over %d, too large for BLAS",
                  cg_tensor_shape_str(x, sx, sizeof sx), cg_tensor_shape_str(w, sw, sizeof sw),
                  INT32_MAX);
        return NULL;
    }
    struct cg_tensor *in[3] = {x, w, b};
    int64_t shape[2] = {x->shape[0], w->shape[0]};
    return cg_op_apply(tape, &cg_op_linear, b ? 3 : 2, in, x->dtype, 2, shape, NULL, 0);
}
