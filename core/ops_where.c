/* where(cond, a, b): a where cond is nonzero, b elsewhere.  cond is a tensor
 * of the same shape and dtype (a mask of 0/1, or any values: nonzero is
 * true, NaN too); it gets no gradient (the result is piecewise constant in
 * it). */
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

static void where_forward(struct cg_record *r)
{
    const struct cg_tensor *c = r->in[0], *a = r->in[1], *b = r->in[2];
    if (r->out->dtype == CG_F64) {
        const double *cs = c->data, *as = a->data, *bs = b->data;
        double *y = r->out->data;
        for (int64_t i = 0; i < r->out->numel; i++) y[i] = cs[i] != 0 ? as[i] : bs[i];
    } else {
        const float *cs = c->data, *as = a->data, *bs = b->data;
        float *y = r->out->data;
        for (int64_t i = 0; i < r->out->numel; i++) y[i] = cs[i] != 0 ? as[i] : bs[i];
    }
}

/* The gradient goes to a where cond holds, to b elsewhere. */
static void where_backward(struct cg_record *r)
{
    const struct cg_tensor *c = r->in[0];
    for (int which = 1; which <= 2; which++) {
        struct cg_tensor *t = r->in[which];
        if (!t->grad) continue;
        bool want = which == 1;
        if (t->dtype == CG_F64) {
            const double *cs = c->data, *gy = r->out->grad->data;
            double *g = t->grad->data;
            for (int64_t i = 0; i < t->numel; i++) g[i] += ((cs[i] != 0) == want) ? gy[i] : 0;
        } else {
            const float *cs = c->data, *gy = r->out->grad->data;
            float *g = t->grad->data;
            for (int64_t i = 0; i < t->numel; i++) g[i] += ((cs[i] != 0) == want) ? gy[i] : 0;
        }
    }
}

const struct cg_op cg_op_where = {"where", where_forward, where_backward, 0};

struct cg_tensor *cg_where(struct cg_tape *tape, struct cg_tensor *cond, struct cg_tensor *a,
                           struct cg_tensor *b)
{
    if (!cond || !a || !b) {
        cg_misuse("where", "%s is NULL (hint: an earlier op failed; check cg_last_error())",
                  !cond ? "cond" : !a ? "a" : "b");
        return NULL;
    }
    if (!cg_tensor_same_shape(cond, a) || !cg_tensor_same_shape(a, b)) {
        char sc[128], sa[128], sb[128];
        cg_misuse("where", "cond %s, a %s and b %s must have the same shape (cgrad's where "
                  "does not broadcast; hint: cg_reshape or build full-size tensors)",
                  cg_tensor_shape_str(cond, sc, sizeof sc), cg_tensor_shape_str(a, sa, sizeof sa),
                  cg_tensor_shape_str(b, sb, sizeof sb));
        return NULL;
    }
    struct cg_tensor *in[3] = {cond, a, b};
    return cg_op_apply(tape, &cg_op_where, 3, in, a->dtype, a->ndim, a->shape, NULL, 0);
}
