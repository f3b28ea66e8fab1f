/* Reductions: sum/mean of all elements, and sum/mean/max over one dim.
 *
 * A reduction over dim views the input as [outer, d, inner] (row-major), so
 * every kernel is a pair of plain loops with a contiguous inner loop.  Sums
 * accumulate in double for both dtypes: f32 sums of many elements would
 * otherwise lose digits. */
#include <inttypes.h>
#include <string.h>

#include "dims.h"
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* Inner-dim block accumulated on the stack for sum_dim with inner > 1. */
#define CG_SUM_BLOCK 256
/* Independent lanes for contiguous reductions: enough dependency chains to
 * keep the adders busy, and explicit so the compiler may vectorize them
 * without reassociating (no -ffast-math). */
#define CG_SUM_LANES 16
#define CG_MAX_LANES 32

#define CG_KERNELS_INC "reduce_kernels.inc"
#include "per_dtype.inc"

/* ---- sum / mean of everything ---- */

static void all_forward(struct cg_record *r, bool mean)
{
    const struct cg_tensor *x = r->in[0];
    double s = x->dtype == CG_F64 ? sum_all_f64(x->data, x->numel) : sum_all_f32(x->data, x->numel);
    if (mean) s /= (double)x->numel; /* 0/0 = NaN for an empty tensor, as PyTorch */
    if (x->dtype == CG_F64)
        CG_F64P(r->out)[0] = s;
    else
        CG_F32P(r->out)[0] = (float)s;
}

static void all_backward(struct cg_record *r, bool mean)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    double n = mean ? (double)x->numel : 1.0;
    if (x->dtype == CG_F64)
        add_const_f64(x->grad->data, CG_F64P(r->out->grad)[0] / n, x->numel);
    else
        add_const_f32(x->grad->data, (float)(CG_F32P(r->out->grad)[0] / n), x->numel);
}

static void sum_forward(struct cg_record *r) { all_forward(r, false); }
static void sum_backward(struct cg_record *r) { all_backward(r, false); }
static void mean_forward(struct cg_record *r) { all_forward(r, true); }
static void mean_backward(struct cg_record *r) { all_backward(r, true); }

const struct cg_op cg_op_sum = {"sum", sum_forward, sum_backward, 0};
const struct cg_op cg_op_mean = {"mean", mean_forward, mean_backward, 0};

static struct cg_tensor *reduce_all(struct cg_tape *tape, const struct cg_op *op,
                                    struct cg_tensor *x)
{
    CG_CHECK_NOT_NULL(op->name, x, "input");
    return cg_op_apply(tape, op, 1, &x, x->dtype, 0, NULL, NULL, 0);
}

struct cg_tensor *cg_sum(struct cg_tape *tape, struct cg_tensor *a)
{
    return reduce_all(tape, &cg_op_sum, a);
}

struct cg_tensor *cg_mean(struct cg_tape *tape, struct cg_tensor *a)
{
    return reduce_all(tape, &cg_op_mean, a);
}

/* ---- over one dim ---- */

/* rec->scalar[0] holds the normalized dim (a 0-dim input acts as shape [1]). */
static struct cg_dim_geom geom_of(const struct cg_record *r)
{
    return cg_dim_geom(r->in[0], (int)r->scalar[0]);
}

static void dim_forward(struct cg_record *r, bool mean)
{
    struct cg_dim_geom g = geom_of(r);
    double div = mean ? (double)g.d : 1.0; /* mean over an empty dim is NaN, as PyTorch */
    if (r->out->dtype == CG_F64)
        sum_dim_f64(r->out->data, r->in[0]->data, g.outer, g.d, g.inner, div);
    else
        sum_dim_f32(r->out->data, r->in[0]->data, g.outer, g.d, g.inner, div);
}

static void dim_backward(struct cg_record *r, bool mean)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    struct cg_dim_geom g = geom_of(r);
    double div = mean ? (double)g.d : 1.0;
    if (x->dtype == CG_F64)
        sum_dim_bwd_f64(x->grad->data, r->out->grad->data, g.outer, g.d, g.inner, div);
    else
        sum_dim_bwd_f32(x->grad->data, r->out->grad->data, g.outer, g.d, g.inner, (float)div);
}

static void sum_dim_forward(struct cg_record *r) { dim_forward(r, false); }
static void sum_dim_backward(struct cg_record *r) { dim_backward(r, false); }
static void mean_dim_forward(struct cg_record *r) { dim_forward(r, true); }
static void mean_dim_backward(struct cg_record *r) { dim_backward(r, true); }

static void max_dim_forward(struct cg_record *r)
{
    struct cg_dim_geom g = geom_of(r);
    bool f64 = r->out->dtype == CG_F64;
    /* Argmax indices (int32 for f32, int64 for f64: as wide as the values) are
     * only needed when backward will run; if scratch runs out, backward
     * recomputes them from the (unchanged) input. */
    void *idx = NULL;
    if (r->out->flags & CG_REQUIRES_GRAD)
        idx = cg_tape_alloc(r->tape, (size_t)(g.outer * g.inner) * (f64 ? 8 : 4));
    r->aux = idx;
    if (f64)
        max_dim_f64(r->out->data, idx, r->in[0]->data, g.outer, g.d, g.inner);
    else
        max_dim_f32(r->out->data, idx, r->in[0]->data, g.outer, g.d, g.inner);
}

static void max_dim_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    struct cg_dim_geom g = geom_of(r);
    if (x->dtype == CG_F64)
        max_dim_bwd_f64(x->grad->data, r->out->grad->data, r->aux, x->data, g.outer, g.d,
                        g.inner);
    else
        max_dim_bwd_f32(x->grad->data, r->out->grad->data, r->aux, x->data, g.outer, g.d,
                        g.inner);
}

const struct cg_op cg_op_sum_dim = {"sum_dim", sum_dim_forward, sum_dim_backward, 0};
const struct cg_op cg_op_mean_dim = {"mean_dim", mean_dim_forward, mean_dim_backward, 0};
const struct cg_op cg_op_max_dim = {"max_dim", max_dim_forward, max_dim_backward, 0};

static struct cg_tensor *reduce_dim(struct cg_tape *tape, const struct cg_op *op,
                                    struct cg_tensor *x, int dim, bool keepdim)
{
    CG_CHECK_NOT_NULL(op->name, x, "input");
    if (!cg_dim_check(op->name, x, &dim)) return NULL;
    char s[128];
    if (op == &cg_op_max_dim && x->ndim > 0 &&
        (x->shape[dim] == 0 || x->shape[dim] > INT32_MAX)) {
        cg_misuse(op->name, "dim %d of input %s has size %" PRId64 ": need 1..%d elements to "
                  "take the maximum of", dim, cg_tensor_shape_str(x, s, sizeof s),
                  x->shape[dim], INT32_MAX);
        return NULL;
    }
    int64_t shape[CG_MAX_DIMS];
    int out_ndim = cg_reduced_shape(x, dim, keepdim, shape);
    double scalars[2] = {dim, keepdim};
    return cg_op_apply(tape, op, 1, &x, x->dtype, out_ndim, shape, scalars, 2);
}

struct cg_tensor *cg_sum_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim)
{
    return reduce_dim(tape, &cg_op_sum_dim, a, dim, keepdim);
}

struct cg_tensor *cg_mean_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim)
{
    return reduce_dim(tape, &cg_op_mean_dim, a, dim, keepdim);
}

struct cg_tensor *cg_max_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim)
{
    return reduce_dim(tape, &cg_op_max_dim, a, dim, keepdim);
}
