/* softmax, log_softmax and logsumexp over one dim, numerically stable: each
 * row is shifted by its maximum before exp, so +-1000 neither overflows nor
 * turns into 0/0. */
#include <math.h>

#include "dims.h"
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

#define CG_KERNELS_INC "softmax_kernels.inc"
#include "per_dtype.inc"

/* scalar[0]: the normalized dim. */
static struct cg_dim_geom geom_of(const struct cg_record *r)
{
    return cg_dim_geom(r->in[0], (int)r->scalar[0]);
}

static void softmax_any_forward(struct cg_record *r, int kind)
{
    struct cg_dim_geom g = geom_of(r);
    if (r->out->dtype == CG_F64)
        softmax_fwd_f64(r->out->data, r->in[0]->data, g, kind);
    else
        softmax_fwd_f32(r->out->data, r->in[0]->data, g, kind);
}

static void softmax_any_backward(struct cg_record *r, int kind)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    struct cg_dim_geom g = geom_of(r);
    if (x->dtype == CG_F64)
        softmax_bwd_f64(x->grad->data, r->out->grad->data, r->out->data, g, kind);
    else
        softmax_bwd_f32(x->grad->data, r->out->grad->data, r->out->data, g, kind);
}

static void softmax_forward(struct cg_record *r) { softmax_any_forward(r, 0); }
static void softmax_backward(struct cg_record *r) { softmax_any_backward(r, 0); }
static void log_softmax_forward(struct cg_record *r) { softmax_any_forward(r, 1); }
static void log_softmax_backward(struct cg_record *r) { softmax_any_backward(r, 1); }

static void logsumexp_forward(struct cg_record *r)
{
    struct cg_dim_geom g = geom_of(r);
    if (r->out->dtype == CG_F64)
        logsumexp_fwd_f64(r->out->data, r->in[0]->data, g);
    else
        logsumexp_fwd_f32(r->out->data, r->in[0]->data, g);
}

static void logsumexp_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    struct cg_dim_geom g = geom_of(r);
    if (x->dtype == CG_F64)
        logsumexp_bwd_f64(x->grad->data, r->out->grad->data, x->data, r->out->data, g);
    else
        logsumexp_bwd_f32(x->grad->data, r->out->grad->data, x->data, r->out->data, g);
}

const struct cg_op cg_op_softmax = {"softmax", softmax_forward, softmax_backward, 0};
const struct cg_op cg_op_log_softmax = {"log_softmax", log_softmax_forward, log_softmax_backward,
                                        0};
const struct cg_op cg_op_logsumexp = {"logsumexp", logsumexp_forward, logsumexp_backward, 0};

static struct cg_tensor *along_dim(struct cg_tape *tape, const struct cg_op *op,
                                   struct cg_tensor *x, int dim)
{
    CG_CHECK_NOT_NULL(op->name, x, "input");
    if (!cg_dim_check(op->name, x, &dim)) return NULL;
    double s = dim;
    return cg_op_apply(tape, op, 1, &x, x->dtype, x->ndim, x->shape, &s, 1);
}

struct cg_tensor *cg_softmax(struct cg_tape *tape, struct cg_tensor *x, int dim)
{
    return along_dim(tape, &cg_op_softmax, x, dim);
}

struct cg_tensor *cg_log_softmax(struct cg_tape *tape, struct cg_tensor *x, int dim)
{
    return along_dim(tape, &cg_op_log_softmax, x, dim);
}

struct cg_tensor *cg_logsumexp(struct cg_tape *tape, struct cg_tensor *x, int dim, bool keepdim)
{
    CG_CHECK_NOT_NULL("logsumexp", x, "input");
    if (!cg_dim_check("logsumexp", x, &dim)) return NULL;
    int64_t shape[CG_MAX_DIMS];
    int nd = cg_reduced_shape(x, dim, keepdim, shape);
    double s[2] = {dim, keepdim};
    return cg_op_apply(tape, &cg_op_logsumexp, 1, &x, x->dtype, nd, shape, s, 2);
}
