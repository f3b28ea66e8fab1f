/* Batch normalization over [N, C, ...] (BatchNorm2d's op).
 *
 * cg_batch_norm2d works out the per-channel statistics (batch mean and
 * biased variance while training, the running ones in evaluation) in
 * double, updates the running statistics, and passes mean and 1/sqrt(var +
 * eps) to the op as a fourth input [2, C] that needs no gradient.  The
 * op's backward knows how that input came about: while training it
 * includes the dependence of the batch statistics on x. */
#include <inttypes.h>
#include <math.h>

#include "error_internal.h"
#include "op_list.h"
#include "cgrad/conv_ops.h"
#include "cgrad/op.h"

struct bn {
    int64_t n, c, inner; /* x viewed as [n, c, inner] */
};

static struct bn bn_of(const struct cg_tensor *x)
{
    struct bn b = {x->shape[0], x->shape[1], 1};
    for (int d = 2; d < x->ndim; d++) b.inner *= x->shape[d];
    return b;
}

#define CG_BN_KERNELS(T, S)                                                                   \
    static void bn_fwd_##S(T *restrict y, const T *restrict x, const T *w, const T *b,        \
                           const T *st, struct bn g)                                          \
    {                                                                                         \
        for (int64_t n = 0; n < g.n; n++)                                                     \
            for (int64_t c = 0; c < g.c; c++) {                                               \
                T scale = w[c] * st[g.c + c], shift = b[c] - st[c] * scale;                   \
                int64_t base = (n * g.c + c) * g.inner;                                       \
                for (int64_t i = 0; i < g.inner; i++) y[base + i] = x[base + i] * scale + shift; \
            }                                                                                 \
    }                                                                                         \
    /* Per channel: sum dy and sum dy * xhat in double, then the grads. */                    \
    static void bn_bwd_##S(const struct cg_record *r, struct bn g, bool training)             \
    {                                                                                         \
        const T *x = r->in[0]->data, *w = r->in[1]->data, *st = r->in[3]->data;               \
        const T *dy = r->out->grad->data;                                                     \
        T *dx = r->in[0]->grad ? r->in[0]->grad->data : NULL;                                 \
        T *dw = r->in[1]->grad ? r->in[1]->grad->data : NULL;                                 \
        T *db = r->in[2]->grad ? r->in[2]->grad->data : NULL;                                 \
        double m = (double)(g.n * g.inner);                                                   \
        for (int64_t c = 0; c < g.c; c++) {                                                   \
            double mean = st[c], inv = st[g.c + c], sdy = 0, sdyx = 0;                        \
            for (int64_t n = 0; n < g.n; n++) {                                               \
                int64_t base = (n * g.c + c) * g.inner;                                       \
                for (int64_t i = 0; i < g.inner; i++) {                                       \
                    sdy += dy[base + i];                                                      \
                    sdyx += (double)dy[base + i] * (((double)x[base + i] - mean) * inv);      \
                }                                                                             \
            }                                                                                 \
            if (db) db[c] += (T)sdy;                                                          \
            if (dw) dw[c] += (T)sdyx;                                                         \
            if (!dx) continue;                                                                \
            double k = (double)w[c] * inv, a = training ? sdy / m : 0,                        \
                   bq = training ? sdyx / m : 0;                                              \
            for (int64_t n = 0; n < g.n; n++) {                                               \
                int64_t base = (n * g.c + c) * g.inner;                                       \
                for (int64_t i = 0; i < g.inner; i++) {                                       \
                    double xh = ((double)x[base + i] - mean) * inv;                           \
                    dx[base + i] += (T)(k * ((double)dy[base + i] - a - xh * bq));            \
                }                                                                             \
            }                                                                                 \
        }                                                                                     \
    }
CG_BN_KERNELS(float, f32)
CG_BN_KERNELS(double, f64)

static void bn_forward(struct cg_record *r)
{
    struct bn g = bn_of(r->in[0]);
    if (r->out->dtype == CG_F64)
        bn_fwd_f64(r->out->data, r->in[0]->data, r->in[1]->data, r->in[2]->data, r->in[3]->data,
                   g);
    else
        bn_fwd_f32(r->out->data, r->in[0]->data, r->in[1]->data, r->in[2]->data, r->in[3]->data,
                   g);
}

static void bn_backward(struct cg_record *r)
{
    struct bn g = bn_of(r->in[0]);
    bool training = r->scalar[0] != 0;
    if (r->out->dtype == CG_F64)
        bn_bwd_f64(r, g, training);
    else
        bn_bwd_f32(r, g, training);
}

const struct cg_op cg_op_batch_norm2d = {"batch_norm2d", bn_forward, bn_backward, 0};

/* Batch mean and biased variance of channel c (two passes, double). */
static void batch_stats(const struct cg_tensor *x, struct bn g, int64_t c, double *mean,
                        double *var)
{
    double s = 0, q = 0;
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t i = 0; i < g.inner; i++) s += cg_tensor_at(x, (n * g.c + c) * g.inner + i);
    double mu = s / (double)(g.n * g.inner);
    for (int64_t n = 0; n < g.n; n++)
        for (int64_t i = 0; i < g.inner; i++) {
            double d = cg_tensor_at(x, (n * g.c + c) * g.inner + i) - mu;
            q += d * d;
        }
    *mean = mu;
    *var = q / (double)(g.n * g.inner);
}

static bool per_channel_ok(const char *what, const struct cg_tensor *t, const struct cg_tensor *x,
                           bool persistent)
{
    char st[128], sx[128];
    if (t->ndim != 1 || t->shape[0] != x->shape[1] || t->dtype != x->dtype) {
        cg_misuse("cg_batch_norm2d", "%s %s does not match x %s (need [%" PRId64 "] %s, one "
                  "per channel)", what, cg_tensor_shape_str(t, st, sizeof st),
                  cg_tensor_shape_str(x, sx, sizeof sx), x->shape[1], cg_dtype_name(x->dtype));
        return false;
    }
    if (persistent && t->tape) {
        cg_misuse("cg_batch_norm2d", "%s is a tape tensor; running statistics are updated in "
                  "place and must be persistent (created with a NULL tape)", what);
        return false;
    }
    return true;
}

struct cg_tensor *cg_batch_norm2d(struct cg_tape *tape, struct cg_tensor *x,
                                  struct cg_tensor *weight, struct cg_tensor *bias,
                                  struct cg_tensor *running_mean, struct cg_tensor *running_var,
                                  bool training, double momentum, double eps)
{
    const char *fn = "cg_batch_norm2d";
    CG_CHECK_NOT_NULL(fn, tape, "tape");
    CG_CHECK_NOT_NULL(fn, x, "x");
    CG_CHECK_NOT_NULL(fn, weight, "weight");
    CG_CHECK_NOT_NULL(fn, bias, "bias");
    char sx[128];
    if (x->ndim < 2) {
        cg_misuse(fn, "x %s must be [N,C,...] (at least 2-D)", cg_tensor_shape_str(x, sx, sizeof sx));
        return NULL;
    }
    if (!(eps > 0) || !isfinite(eps) || !(momentum >= 0 && momentum <= 1)) {
        cg_misuse(fn, "eps = %g, momentum = %g: need eps > 0 and momentum in [0, 1] (PyTorch's "
                  "defaults are 1e-5 and 0.1)", eps, momentum);
        return NULL;
    }
    if (!running_mean != !running_var || (!training && !running_mean)) {
        cg_misuse(fn, "running_mean is %s and running_var is %s: give both or neither, and "
                  "both in evaluation (training false)", running_mean ? "set" : "NULL",
                  running_var ? "set" : "NULL");
        return NULL;
    }
    if (!per_channel_ok("weight", weight, x, false) || !per_channel_ok("bias", bias, x, false) ||
        (running_mean && (!per_channel_ok("running_mean", running_mean, x, true) ||
                          !per_channel_ok("running_var", running_var, x, true))))
        return NULL;
    struct bn g = bn_of(x);
    int64_t m = g.n * g.inner;
    if (training && m < 2) {
        cg_misuse(fn, "x %s has %" PRId64 " value per channel; training needs more than 1 "
                  "(hint: a larger batch, or evaluation mode)", cg_tensor_shape_str(x, sx, sizeof sx), m);
        return NULL;
    }
    struct cg_tensor *st = cg_tensor_empty(tape, x->dtype, CG_SHAPE(2, g.c));
    if (!st) return NULL;
    for (int64_t c = 0; c < g.c; c++) {
        double mean, var;
        if (training) {
            batch_stats(x, g, c, &mean, &var);
            if (running_mean) {
                double rm = cg_tensor_at(running_mean, c), rv = cg_tensor_at(running_var, c);
                cg_tensor_set_at(running_mean, c, (1 - momentum) * rm + momentum * mean);
                cg_tensor_set_at(running_var, c, (1 - momentum) * rv +
                                                     momentum * var * (double)m / (double)(m - 1));
            }
        } else {
            mean = cg_tensor_at(running_mean, c);
            var = cg_tensor_at(running_var, c);
        }
        cg_tensor_set_at(st, c, mean);
        cg_tensor_set_at(st, g.c + c, 1 / sqrt(var + eps));
    }
    struct cg_tensor *in[4] = {x, weight, bias, st};
    double s = training ? 1 : 0;
    return cg_op_apply(tape, &cg_op_batch_norm2d, 4, in, x->dtype, x->ndim, x->shape, &s, 1);
}
