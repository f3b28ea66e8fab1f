/* Cross entropy over class logits (fused, stable log-softmax) and the L1
 * activity penalty. */
#include <inttypes.h>
#include <math.h>

#include "error_internal.h"
#include "loss_op_list.h"
#include "losses_internal.h"
#include "tensor_live.h"
#include "cgrad/op.h"

/* ---- cross entropy: in[0] logits [N,C], in[1] class indices (N whole
 *      numbers in the logits' dtype, validated before the op runs) ---- */

static double at(const struct cg_tensor *t, int64_t i)
{
    return t->dtype == CG_F64 ? CG_F64P(t)[i] : (double)CG_F32P(t)[i];
}

/* logsumexp of row x[0..c) by subtracting the maximum, in double. */
static double row_lse(const struct cg_tensor *x, int64_t row, int64_t c)
{
    int64_t base = row * c;
    double m = -INFINITY;
    for (int64_t j = 0; j < c; j++) m = fmax(m, at(x, base + j));
    double s = 0;
    for (int64_t j = 0; j < c; j++) s += exp(at(x, base + j) - m);
    return m + log(s);
}

static void ce_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *tg = r->in[1];
    struct cg_tensor *y = r->out;
    enum cg_reduction red = (enum cg_reduction)r->scalar[0];
    int64_t n = x->shape[0], c = x->shape[1];
    double acc = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t t = (int64_t)at(tg, i);
        double loss = row_lse(x, i, c) - at(x, i * c + t);
        if (red == CG_REDUCTION_NONE)
            cg_tensor_set_at(y, i, loss);
        else
            acc += loss;
    }
    if (red != CG_REDUCTION_NONE)
        cg_tensor_set_at(y, 0, red == CG_REDUCTION_MEAN ? acc / (double)n : acc);
}

/* d loss_i / d x[i,j] = softmax(x_i)_j - [j == t_i]; lse is recomputed
 * rather than saved, so the forward needs no scratch memory. */
static void ce_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0], *tg = r->in[1], *y = r->out;
    if (!(x->flags & CG_REQUIRES_GRAD) || !x->grad) return;
    enum cg_reduction red = (enum cg_reduction)r->scalar[0];
    int64_t n = x->shape[0], c = x->shape[1];
    double g0 = red == CG_REDUCTION_NONE ? 0.0
              : at(y->grad, 0) / (red == CG_REDUCTION_MEAN ? (double)n : 1.0);
    for (int64_t i = 0; i < n; i++) {
        double g = red == CG_REDUCTION_NONE ? at(y->grad, i) : g0;
        double lse = row_lse(x, i, c);
        int64_t t = (int64_t)at(tg, i);
        for (int64_t j = 0; j < c; j++) {
            double d = g * (exp(at(x, i * c + j) - lse) - (j == t ? 1.0 : 0.0));
            if (x->dtype == CG_F64)
                CG_F64P(x->grad)[i * c + j] += d;
            else
                CG_F32P(x->grad)[i * c + j] += (float)d;
        }
    }
}

const struct cg_op cg_op_cross_entropy_loss = {"cross_entropy_loss", ce_forward, ce_backward, 0};

/* Common checks; false after misuse. */
static bool ce_args_ok(const char *fn, struct cg_tape *tape, struct cg_tensor *logits,
                       const void *targets, enum cg_reduction red)
{
    if (!tape || !logits || !targets) {
        cg_misuse(fn, "%s is NULL (hint: an earlier op failed; check cg_last_error())",
                  !tape ? "tape" : !logits ? "logits" : "targets");
        return false;
    }
    if (!cg_loss_reduction_ok(fn, red)) return false;
    if (logits->ndim != 2 || logits->shape[1] < 1) {
        char s[128];
        cg_misuse(fn, "logits %s must be [N, C] with C >= 1 (hint: cg_reshape a single sample "
                  "to [1, C])", cg_tensor_shape_str(logits, s, sizeof s));
        return false;
    }
    if (!cg_tensor_is_live(tape, logits)) {
        cg_misuse(fn, "logits '%s' belong to another tape or a step released by cg_tape_reset",
                  logits->name);
        return false;
    }
    if (logits->dtype == CG_F32 && logits->shape[1] > (1 << 24)) {
        cg_misuse(fn, "%" PRId64 " classes do not fit f32 class indices (hint: use CG_F64)",
                  logits->shape[1]);
        return false;
    }
    return true;
}

static struct cg_tensor *ce_apply(struct cg_tape *tape, struct cg_tensor *logits,
                                  struct cg_tensor *targets, enum cg_reduction red)
{
    double s = (double)red;
    struct cg_tensor *in[2] = {logits, targets};
    if (red == CG_REDUCTION_NONE)
        return cg_op_apply(tape, &cg_op_cross_entropy_loss, 2, in, logits->dtype, 1,
                           logits->shape, &s, 1);
    return cg_op_apply(tape, &cg_op_cross_entropy_loss, 2, in, logits->dtype, 0, NULL, &s, 1);
}

struct cg_tensor *cg_cross_entropy_loss(struct cg_tape *tape, struct cg_tensor *logits,
                                        const int32_t *targets, enum cg_reduction reduction)
{
    const char *fn = "cross_entropy_loss";
    if (!ce_args_ok(fn, tape, logits, targets, reduction)) return NULL;
    int64_t n = logits->shape[0], c = logits->shape[1];
    for (int64_t i = 0; i < n; i++) {
        if (targets[i] < 0 || targets[i] >= c) {
            cg_misuse(fn, "targets[%" PRId64 "] = %" PRId32 " is out of range for C = %" PRId64
                      " classes (need 0 <= target < C; there is no ignore_index)",
                      i, targets[i], c);
            return NULL;
        }
    }
    /* Copied to the tape so the caller may reuse the array before backward. */
    struct cg_tensor *t = cg_tensor_empty(tape, logits->dtype, CG_SHAPE(n));
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) cg_tensor_set_at(t, i, targets[i]);
    return ce_apply(tape, logits, t, reduction);
}

struct cg_tensor *cg_cross_entropy_loss_tensor(struct cg_tape *tape, struct cg_tensor *logits,
                                               struct cg_tensor *targets,
                                               enum cg_reduction reduction)
{
    const char *fn = "cross_entropy_loss";
    if (!ce_args_ok(fn, tape, logits, targets, reduction)) return NULL;
    int64_t n = logits->shape[0], c = logits->shape[1];
    if (targets->numel != n || targets->dtype != logits->dtype || !cg_tensor_is_live(tape, targets)) {
        char a[128], b[128];
        cg_misuse(fn, "targets %s must hold N = %" PRId64 " class indices of the logits' dtype "
                  "(logits %s) and be alive on this tape", cg_tensor_shape_str(targets, a, sizeof a),
                  n, cg_tensor_shape_str(logits, b, sizeof b));
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        double v = at(targets, i);
        if (!(v >= 0 && v < (double)c) || v != floor(v)) {
            cg_misuse(fn, "target element %" PRId64 " = %g is not a class index for C = %" PRId64
                      " classes (need a whole number 0 <= target < C)", i, v, c);
            return NULL;
        }
    }
    return ce_apply(tape, logits, targets, reduction);
}

/* ---- L1 activity penalty: weight * sum(|x|) / B; scalar[0] = weight / B ---- */

static void l1p_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0];
    double acc = 0;
    for (int64_t i = 0; i < x->numel; i++) acc += fabs(at(x, i));
    cg_tensor_set_at(r->out, 0, r->scalar[0] * acc);
}

static void l1p_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!(x->flags & CG_REQUIRES_GRAD) || !x->grad) return;
    double g = at(r->out->grad, 0) * r->scalar[0];
    if (x->dtype == CG_F64) {
        const double *xs = x->data;
        double *gx = x->grad->data;
        for (int64_t i = 0; i < x->numel; i++) gx[i] += g * ((xs[i] > 0) - (xs[i] < 0));
    } else {
        const float *xs = x->data;
        float *gx = x->grad->data;
        float gf = (float)g;
        for (int64_t i = 0; i < x->numel; i++) gx[i] += gf * (float)((xs[i] > 0) - (xs[i] < 0));
    }
}

const struct cg_op cg_op_l1_penalty = {"l1_penalty", l1p_forward, l1p_backward, 0};

struct cg_tensor *cg_l1_penalty(struct cg_tape *tape, struct cg_tensor *x, double weight)
{
    if (!x) {
        cg_misuse("l1_penalty", "input is NULL (hint: an earlier op failed; check cg_last_error())");
        return NULL;
    }
    int64_t b = x->ndim > 0 ? x->shape[0] : 1;
    if (!(weight >= 0) || isinf(weight) || b == 0) {
        char s[128];
        cg_misuse("l1_penalty", "weight %g, input %s: need a finite weight >= 0 and a non-empty "
                  "batch (dim 0)", weight, cg_tensor_shape_str(x, s, sizeof s));
        return NULL;
    }
    double scale = weight / (double)b;
    return cg_op_apply(tape, &cg_op_l1_penalty, 1, &x, x->dtype, 0, NULL, &scale, 1);
}
