/* LearnableShrink: the custom op (forward + backward, f32 and f64) and the
 * module around it.  See learnable_shrink.h for the maths. */
#include "learnable_shrink.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- kernels: plain loops over raw arrays, x viewed as [rows, f] ----
 * One copy per dtype so the f32 path computes in float (like the built-in
 * ops) and the f64 path is exact enough for a strict gradcheck. */

static void forward_f32(float *y, const float *x, const float *t, int64_t rows, int64_t f)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < f; j++) {
            float a = fabsf(t[j]), v = x[r * f + j];
            /* The band is closed: |x| == a gives 0.  NaN falls through to the
             * last case and is kept, so anomaly mode can still see it. */
            y[r * f + j] = v > a ? v - a : v < -a ? v + a : isnan(v) ? v : 0.0f;
        }
}

static void forward_f64(double *y, const double *x, const double *t, int64_t rows, int64_t f)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < f; j++) {
            double a = fabs(t[j]), v = x[r * f + j];
            y[r * f + j] = v > a ? v - a : v < -a ? v + a : isnan(v) ? v : 0.0;
        }
}

/* Gradients are ADDED (+=), as cgrad requires: a tensor used twice gets the
 * sum.  gx or gt is NULL when that input needs no gradient. */
static void backward_f32(float *gx, float *gt, const float *gy, const float *x, const float *t,
                         int64_t rows, int64_t f)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < f; j++) {
            float a = fabsf(t[j]), v = x[r * f + j], g = gy[r * f + j];
            float st = (float)((t[j] > 0) - (t[j] < 0)); /* sign(t), 0 at 0 */
            if (v > a) {        /* y = x - |t| */
                if (gx) gx[r * f + j] += g;
                if (gt) gt[j] -= st * g;
            } else if (v < -a) { /* y = x + |t| */
                if (gx) gx[r * f + j] += g;
                if (gt) gt[j] += st * g;
            }
        }
}

static void backward_f64(double *gx, double *gt, const double *gy, const double *x,
                         const double *t, int64_t rows, int64_t f)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t j = 0; j < f; j++) {
            double a = fabs(t[j]), v = x[r * f + j], g = gy[r * f + j];
            double st = (double)((t[j] > 0) - (t[j] < 0));
            if (v > a) {
                if (gx) gx[r * f + j] += g;
                if (gt) gt[j] -= st * g;
            } else if (v < -a) {
                if (gx) gx[r * f + j] += g;
                if (gt) gt[j] += st * g;
            }
        }
}

/* ---- the op: glue between cgrad's record and the kernels ---- */

static void ls_forward(struct cg_record *rec)
{
    const struct cg_tensor *x = rec->in[0], *t = rec->in[1];
    int64_t f = t->numel, rows = f ? x->numel / f : 0;
    if (rec->out->dtype == CG_F64)
        forward_f64(CG_F64P(rec->out), CG_F64P(x), CG_F64P(t), rows, f);
    else
        forward_f32(CG_F32P(rec->out), CG_F32P(x), CG_F32P(t), rows, f);
}

static void ls_backward(struct cg_record *rec)
{
    /* Nothing is saved: x and t are the inputs themselves, which stay
     * unchanged until backward (the optimizer steps after it). */
    const struct cg_tensor *x = rec->in[0], *t = rec->in[1];
    struct cg_tensor *gx = rec->in[0]->grad, *gt = rec->in[1]->grad;
    int64_t f = t->numel, rows = f ? x->numel / f : 0;
    if (rec->out->dtype == CG_F64)
        backward_f64(gx ? CG_F64P(gx) : NULL, gt ? CG_F64P(gt) : NULL, CG_F64P(rec->out->grad),
                     CG_F64P(x), CG_F64P(t), rows, f);
    else
        backward_f32(gx ? CG_F32P(gx) : NULL, gt ? CG_F32P(gt) : NULL, CG_F32P(rec->out->grad),
                     CG_F32P(x), CG_F32P(t), rows, f);
}

const struct cg_op learnable_shrink_op = {"learnable_shrink", ls_forward, ls_backward, 0};

struct cg_tensor *learnable_shrink(struct cg_tape *tape, struct cg_tensor *x,
                                   struct cg_tensor *threshold)
{
    /* cg_op_apply checks the tape, NULLs and that the dtypes agree; the shape
     * rule is ours to check, reported through cgrad's misuse handler like a
     * built-in op's. */
    if (x && threshold &&
        (threshold->ndim != 1 || x->ndim < 1 || x->shape[x->ndim - 1] != threshold->shape[0])) {
        char sx[96], st[96];
        cg_misuse("learnable_shrink", "input %s does not fit threshold %s (hint: the input's "
                  "last dimension must equal the number of features)",
                cg_tensor_shape_str(x, sx, sizeof sx), cg_tensor_shape_str(threshold, st, sizeof st));
        return NULL;
    }
    struct cg_tensor *in[2] = {x, threshold};
    return cg_op_apply(tape, &learnable_shrink_op, 2, in, x ? x->dtype : CG_F32,
                       x ? x->ndim : 0, x ? x->shape : NULL, NULL, 0);
}

/* ---- the module ---- */

struct learnable_shrink {
    struct cg_module base; /* first member: a pointer to it is a cg_module * */
    struct cg_tensor *threshold;
};

static struct cg_tensor *module_forward(struct cg_module *self, struct cg_tape *tape,
                                        struct cg_tensor *x)
{
    return learnable_shrink(tape, x, ((struct learnable_shrink *)self)->threshold);
}

static void module_visit_params(struct cg_module *self, const char *prefix,
                                cg_param_visitor visit, void *user)
{
    /* The local name; inside a Sequential it becomes e.g. "1.threshold". */
    cg_module_visit_param(prefix, "threshold", ((struct learnable_shrink *)self)->threshold, visit,
                          user);
}

static void module_free(struct cg_module *self)
{
    struct learnable_shrink *s = (struct learnable_shrink *)self;
    cg_tensor_free(s->threshold);
    free(s);
}

static const struct cg_module_vtable learnable_shrink_vtable = {
    .type_name = "LearnableShrink",
    .forward = module_forward,
    .visit_params = module_visit_params,
    .free = module_free,
};

struct cg_module *learnable_shrink_new(int64_t features, double init_threshold)
{
    if (features < 1 || !(init_threshold >= 0) || !isfinite(init_threshold)) {
        cg_misuse("learnable_shrink_new", "features = %" PRId64 ", init_threshold = %g: need "
                  "features >= 1 and a finite init_threshold >= 0", features, init_threshold);
        return NULL;
    }
    struct learnable_shrink *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "learnable_shrink_new: out of memory\n");
        return NULL;
    }
    cg_module_init(&s->base, &learnable_shrink_vtable);
    s->threshold = cg_tensor_full(NULL, CG_F32, CG_SHAPE(features), init_threshold);
    /* init_param names it and sets requires_grad, allocating its grad now so
     * training steps do not allocate. */
    if (!s->threshold || cg_module_init_param(s->threshold, "threshold") != CG_OK) {
        fprintf(stderr, "learnable_shrink_new: %s\n", cg_last_error());
        module_free(&s->base);
        return NULL;
    }
    return &s->base;
}

struct cg_tensor *learnable_shrink_threshold(struct cg_module *m)
{
    if (!m || m->vtable != &learnable_shrink_vtable) return NULL;
    return ((struct learnable_shrink *)m)->threshold;
}
