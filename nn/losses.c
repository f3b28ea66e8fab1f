/* Elementwise losses (mse, l1, bce, bce_with_logits, huber, smooth_l1,
 * kl_div) as fused ops: one pass
 * forward with the reduction, one pass backward, for f32 and f64. */
#include <inttypes.h>
#include <stdbool.h>
#include <tgmath.h>

#include "error_internal.h"
#include "multiarch.h"
#include "loss_op_list.h"
#include "parallel.h"
#include "losses_internal.h"
#include "tensor_live.h"
#include "cgrad/op.h"

/* log clamped to >= -100 as PyTorch's binary_cross_entropy; a NaN argument
 * stays NaN (fmax would hide it). */
#define CG_CLAMPED(v) ((v) < (T)-100 ? (T)-100 : (v))
#define CG_BCE_EPS ((T)1e-12)
#define CG_MAX_EPS(v) ((v) < CG_BCE_EPS ? CG_BCE_EPS : (v))
#define CG_SIGN(v) ((T)(((v) > 0) - ((v) < 0)))

/* name, loss(x, t), d/dx, d/dt, with p the loss's parameter (Huber's
 * delta, SmoothL1's beta).  bce's d/dx is PyTorch's
 * (x - t) / max(x (1 - x), 1e-12); its d/dt is the exact derivative of the
 * clamped forward, which stays finite at x = 0 or 1. */
#define CG_ELEMENTWISE_LOSSES(X)                                                           \
    X(mse_loss, (x - t) * (x - t), 2 * (x - t), -2 * (x - t))                              \
    X(l1_loss, fabs(x - t), CG_SIGN(x - t), -CG_SIGN(x - t))                               \
    X(bce_loss, (t - 1) * CG_CLAMPED(log1p(-x)) - t * CG_CLAMPED(log(x)),                  \
      (x - t) / CG_MAX_EPS(x * (1 - x)), CG_CLAMPED(log1p(-x)) - CG_CLAMPED(log(x)))       \
    X(bce_with_logits_loss, (x > 0 ? x : (T)0) - x * t + log1p(exp(-fabs(x))),             \
      1 / (1 + exp(-x)) - t, -x)                                                           \
    X(huber_loss,                                                                          \
      fabs(x - t) < p ? (T)0.5 * (x - t) * (x - t) : p * (fabs(x - t) - (T)0.5 * p),       \
      CG_CLIP(x - t, p), -CG_CLIP(x - t, p))                                               \
    X(smooth_l1_loss,                                                                      \
      fabs(x - t) < p ? (T)0.5 * (x - t) * (x - t) / p : fabs(x - t) - (T)0.5 * p,         \
      CG_CLIP(x - t, p) / p, -CG_CLIP(x - t, p) / p)                                       \
    X(kl_div_loss, (t == 0 ? (T)0 : t * log(t)) - t * x, -t, log(t) + 1 - x)

/* v clipped to [-p, p] (Huber's gradient; SmoothL1's times p). */
#define CG_CLIP(v, p) ((v) < -(p) ? -(p) : (v) > (p) ? (p) : (v))

#define T float
#define SFX f32
#include "loss_kernels.inc"
#undef T
#undef SFX
#define T double
#define SFX f64
#include "loss_kernels.inc"
#undef T
#undef SFX

/* Gradient buffer of input i, or NULL when it needs none; *assign: write
 * it with = (cg_grad_assign; called for input 0 first, so mse(x, x)
 * assigns once and then accumulates). */
static void *grad_of(const struct cg_record *r, int i, bool *assign)
{
    struct cg_tensor *t = r->in[i];
    *assign = false;
    if (!(t->flags & CG_REQUIRES_GRAD) || !t->grad) return NULL;
    *assign = cg_grad_assign(t);
    return t->grad->data;
}

/* A backward cut over the pool (cg_parallel_parts; elementwise, so any cut
 * gives the same bits): gx, gt from grad_of, per: no reduction. */
struct loss_job {
    const struct cg_record *r;
    void *gx, *gt;
    bool ax, at, per;
    int parts;
};

/* scalar[0]: the reduction, scalar[1]: the loss's parameter, scalar[2]: the
 * divisor of the reduced sum. */
#define CG_LOSS_WRAPPERS(name, L, DX, DT)                                                  \
    static void name##_forward(struct cg_record *r)                                        \
    {                                                                                      \
        struct cg_tensor *x = r->in[0], *t = r->in[1], *y = r->out;                        \
        bool per = (enum cg_reduction)r->scalar[0] == CG_REDUCTION_NONE;                   \
        if (y->dtype == CG_F64)                                                            \
            name##_fwd_f64(y->data, x->data, t->data, x->numel, per, r->scalar[1],         \
                           r->scalar[2]);                                                  \
        else                                                                               \
            name##_fwd_f32(y->data, x->data, t->data, x->numel, per, (float)r->scalar[1],  \
                           r->scalar[2]);                                                  \
    }                                                                                      \
    static void name##_backward_part(void *ctx, int part)                                  \
    {                                                                                      \
        const struct loss_job *j = ctx;                                                    \
        const struct cg_record *r = j->r;                                                  \
        struct cg_tensor *x = r->in[0], *t = r->in[1], *y = r->out;                        \
        int64_t lo, hi;                                                                    \
        cg_split_map(x->numel, j->parts, part, &lo, &hi);                                  \
        int64_t gy_at = j->per ? lo : 0; /* reduced: every element reads gy[0] */          \
        if (y->dtype == CG_F64)                                                            \
            name##_bwd_f64(j->gx ? (double *)j->gx + lo : NULL,                            \
                           j->gt ? (double *)j->gt + lo : NULL,                            \
                           (const double *)y->grad->data + gy_at,                          \
                           (const double *)x->data + lo, (const double *)t->data + lo,     \
                           hi - lo, j->per, r->scalar[1], r->scalar[2], j->ax, j->at);     \
        else                                                                               \
            name##_bwd_f32(j->gx ? (float *)j->gx + lo : NULL,                             \
                           j->gt ? (float *)j->gt + lo : NULL,                             \
                           (const float *)y->grad->data + gy_at,                           \
                           (const float *)x->data + lo, (const float *)t->data + lo,       \
                           hi - lo, j->per, (float)r->scalar[1], r->scalar[2], j->ax,      \
                           j->at);                                                         \
    }                                                                                      \
    static void name##_backward(struct cg_record *r)                                       \
    {                                                                                      \
        struct loss_job j = {r, .per = (enum cg_reduction)r->scalar[0] == CG_REDUCTION_NONE}; \
        j.gx = grad_of(r, 0, &j.ax), j.gt = grad_of(r, 1, &j.at);                          \
        j.parts = cg_parallel_parts(r->in[0]->numel);                                      \
        cg_parallel_map(j.parts, name##_backward_part, &j);                                \
    }                                                                                      \
    const struct cg_op cg_op_##name = {#name, name##_forward, name##_backward,             \
                                       CG_OP_ASSIGNS_GRAD};

CG_ELEMENTWISE_LOSSES(CG_LOSS_WRAPPERS)

bool cg_loss_reduction_ok(const char *fn, enum cg_reduction r)
{
    if (r == CG_REDUCTION_MEAN || r == CG_REDUCTION_SUM || r == CG_REDUCTION_NONE) return true;
    cg_misuse(fn, "reduction %d is not one of CG_REDUCTION_MEAN, CG_REDUCTION_SUM, "
              "CG_REDUCTION_NONE%s", (int)r, r == CG_REDUCTION_BATCHMEAN ?
              " (CG_REDUCTION_BATCHMEAN is for cg_kl_div_loss only)" : "");
    return false;
}

/* param: the loss's parameter (0 if it has none). */
static struct cg_tensor *param_loss(struct cg_tape *tape, const struct cg_op *op,
                                    struct cg_tensor *input, struct cg_tensor *target,
                                    enum cg_reduction red, double param)
{
    const char *fn = op->name;
    if (!tape || !input || !target) {
        cg_misuse(fn, "%s is NULL (hint: an earlier op failed; check cg_last_error())",
                  !tape ? "tape" : !input ? "input" : "target");
        return NULL;
    }
    bool batchmean = red == CG_REDUCTION_BATCHMEAN && op == &cg_op_kl_div_loss;
    if (!batchmean && !cg_loss_reduction_ok(fn, red)) return NULL;
    if (!cg_tensor_same_shape(input, target) || input->dtype != target->dtype) {
        char a[128], b[128];
        cg_misuse(fn, "input %s and target %s must have the same shape and dtype (cgrad does "
                  "not broadcast the target; hint: cg_reshape or cg_tensor_to it)",
                  cg_tensor_shape_str(input, a, sizeof a), cg_tensor_shape_str(target, b, sizeof b));
        return NULL;
    }
    /* mean: over all elements; batchmean: over dim 0 (PyTorch's kl_div) */
    double div = red == CG_REDUCTION_MEAN ? (double)input->numel
               : batchmean ? (double)(input->ndim ? input->shape[0] : 1) : 1.0;
    double s[3] = {(double)red, param, div};
    struct cg_tensor *in[2] = {input, target};
    if (red == CG_REDUCTION_NONE)
        return cg_op_apply(tape, op, 2, in, input->dtype, input->ndim, input->shape, s, 3);
    return cg_op_apply(tape, op, 2, in, input->dtype, 0, NULL, s, 3);
}

static struct cg_tensor *elementwise_loss(struct cg_tape *tape, const struct cg_op *op,
                                          struct cg_tensor *input, struct cg_tensor *target,
                                          enum cg_reduction red)
{
    return param_loss(tape, op, input, target, red, 0);
}

struct cg_tensor *cg_mse_loss(struct cg_tape *tape, struct cg_tensor *input,
                              struct cg_tensor *target, enum cg_reduction reduction)
{
    return elementwise_loss(tape, &cg_op_mse_loss, input, target, reduction);
}

struct cg_tensor *cg_mse_loss_mean(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b)
{
    return elementwise_loss(tape, &cg_op_mse_loss, a, b, CG_REDUCTION_MEAN);
}

struct cg_tensor *cg_l1_loss(struct cg_tape *tape, struct cg_tensor *input,
                             struct cg_tensor *target, enum cg_reduction reduction)
{
    return elementwise_loss(tape, &cg_op_l1_loss, input, target, reduction);
}

/* Index of the first element outside [0, 1] (NaN passes), or -1. */
static int64_t first_non_probability(const struct cg_tensor *x)
{
    for (int64_t i = 0; i < x->numel; i++) {
        double v = cg_tensor_at(x, i);
        if (v < 0 || v > 1) return i;
    }
    return -1;
}

struct cg_tensor *cg_bce_loss(struct cg_tape *tape, struct cg_tensor *input,
                              struct cg_tensor *target, enum cg_reduction reduction)
{
    /* Only scan data that is still alive; cg_op_apply reports stale inputs. */
    int64_t bad = cg_tensor_is_live(tape, input) ? first_non_probability(input) : -1;
    if (bad >= 0) {
        cg_misuse("bce_loss", "input element %" PRId64 " is %g; probabilities must lie in [0, 1] "
                  "(hint: apply cg_sigmoid first, or use cg_bce_with_logits_loss on the logits)",
                  bad, cg_tensor_at(input, bad));
        return NULL;
    }
    return elementwise_loss(tape, &cg_op_bce_loss, input, target, reduction);
}

struct cg_tensor *cg_bce_with_logits_loss(struct cg_tape *tape, struct cg_tensor *input,
                                          struct cg_tensor *target, enum cg_reduction reduction)
{
    return elementwise_loss(tape, &cg_op_bce_with_logits_loss, input, target, reduction);
}

struct cg_tensor *cg_huber_loss(struct cg_tape *tape, struct cg_tensor *input,
                                struct cg_tensor *target, enum cg_reduction reduction, double delta)
{
    if (!(delta > 0) || isinf(delta)) {
        cg_misuse("huber_loss", "delta = %g: must be finite and > 0 (PyTorch's default: 1)", delta);
        return NULL;
    }
    return param_loss(tape, &cg_op_huber_loss, input, target, reduction, delta);
}

struct cg_tensor *cg_smooth_l1_loss(struct cg_tape *tape, struct cg_tensor *input,
                                    struct cg_tensor *target, enum cg_reduction reduction,
                                    double beta)
{
    if (!(beta >= 0) || isinf(beta)) {
        cg_misuse("smooth_l1_loss", "beta = %g: must be finite and >= 0 (PyTorch's default: 1)",
                  beta);
        return NULL;
    }
    if (beta == 0) /* the quadratic band vanishes: L1 exactly, as PyTorch */
        return elementwise_loss(tape, &cg_op_l1_loss, input, target, reduction);
    return param_loss(tape, &cg_op_smooth_l1_loss, input, target, reduction, beta);
}

struct cg_tensor *cg_kl_div_loss(struct cg_tape *tape, struct cg_tensor *input,
                                 struct cg_tensor *target, enum cg_reduction reduction)
{
    return param_loss(tape, &cg_op_kl_div_loss, input, target, reduction, 0);
}
