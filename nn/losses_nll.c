/* Negative log-likelihood of log-probabilities, and cross entropy with
 * label smoothing and ignore_index (PyTorch 1.13's nll_loss and
 * cross_entropy without class weights).
 *
 * One fused op for both: in[0] the [N, C] input, in[1] the N targets as
 * whole numbers in the input's dtype (validated and copied before the op
 * runs).  scalar[0] reduction, scalar[1] label smoothing (0 for NLL),
 * scalar[2] 1 if scalar[3] holds an ignore_index.  For a row i that is not
 * ignored, with p = softmax(x_i) (cross entropy) and eps the smoothing,
 *     loss_i = (1 - eps) (lse_i - x_it) + eps / C * sum_j (lse_i - x_ij)
 *     d loss_i / d x_ij = p_j - (1 - eps) [j == t] - eps / C
 * and for NLL loss_i = -x_it.  Mean divides by the number of rows that are
 * not ignored (0/0 = NaN when all are, as PyTorch). */
#include <inttypes.h>
#include <math.h>

#include "error_internal.h"
#include "loss_op_list.h"
#include "losses_internal.h"
#include "cgrad/op.h"

struct class_args {
    int64_t n, c;
    enum cg_reduction red;
    double eps;
    bool has_ignore;
    double ignore;
    bool logits; /* cross entropy: the input holds logits, not log-probabilities */
};

static struct class_args args_of(const struct cg_record *r)
{
    return (struct class_args){r->in[0]->shape[0], r->in[0]->shape[1],
                               (enum cg_reduction)r->scalar[0], r->scalar[1], r->scalar[2] != 0,
                               r->scalar[3], r->op == &cg_op_cross_entropy_loss_with};
}

static bool ignored(const struct class_args *a, double t) { return a->has_ignore && t == a->ignore; }

/* log sum exp of row i, or 0 for NLL (its input is already normalized). */
static double row_lse(const struct cg_tensor *x, const struct class_args *a, int64_t i)
{
    if (!a->logits) return 0;
    double m = -INFINITY, s = 0;
    for (int64_t j = 0; j < a->c; j++) m = fmax(m, cg_tensor_at(x, i * a->c + j));
    for (int64_t j = 0; j < a->c; j++) s += exp(cg_tensor_at(x, i * a->c + j) - m);
    return m + log(s);
}

static int64_t kept_rows(const struct cg_tensor *tg, const struct class_args *a)
{
    int64_t k = 0;
    for (int64_t i = 0; i < a->n; i++) k += !ignored(a, cg_tensor_at(tg, i));
    return k;
}

static void class_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *tg = r->in[1];
    struct class_args a = args_of(r);
    double acc = 0;
    for (int64_t i = 0; i < a.n; i++) {
        double t = cg_tensor_at(tg, i), loss = 0;
        if (!ignored(&a, t)) {
            double lse = row_lse(x, &a, i), smooth = 0;
            if (a.eps != 0)
                for (int64_t j = 0; j < a.c; j++) smooth += lse - cg_tensor_at(x, i * a.c + j);
            loss = (1 - a.eps) * (lse - cg_tensor_at(x, i * a.c + (int64_t)t)) +
                   a.eps / (double)a.c * smooth;
        }
        if (a.red == CG_REDUCTION_NONE)
            cg_tensor_set_at(r->out, i, loss);
        else
            acc += loss;
    }
    if (a.red == CG_REDUCTION_MEAN) acc /= (double)kept_rows(tg, &a);
    if (a.red != CG_REDUCTION_NONE) cg_tensor_set_at(r->out, 0, acc);
}

static void class_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    const struct cg_tensor *tg = r->in[1];
    if (!(x->flags & CG_REQUIRES_GRAD) || !x->grad) return;
    struct class_args a = args_of(r);
    double g0 = a.red == CG_REDUCTION_NONE ? 0 : cg_tensor_at(r->out->grad, 0);
    if (a.red == CG_REDUCTION_MEAN) g0 /= (double)kept_rows(tg, &a);
    for (int64_t i = 0; i < a.n; i++) {
        double t = cg_tensor_at(tg, i);
        if (ignored(&a, t)) continue;
        double g = a.red == CG_REDUCTION_NONE ? cg_tensor_at(r->out->grad, i) : g0;
        double lse = row_lse(x, &a, i);
        for (int64_t j = 0; j < a.c; j++) {
            int64_t k = i * a.c + j;
            double p = a.logits ? exp(cg_tensor_at(x, k) - lse) : 0;
            double d = p - (1 - a.eps) * (j == (int64_t)t) - (a.logits ? a.eps / (double)a.c : 0);
            cg_tensor_set_at(x->grad, k, cg_tensor_at(x->grad, k) + g * d);
        }
    }
}

const struct cg_op cg_op_nll_loss = {"nll_loss", class_forward, class_backward, 0};
const struct cg_op cg_op_cross_entropy_loss_with = {"cross_entropy_loss_with", class_forward,
                                                    class_backward, 0};

static struct cg_tensor *class_loss(struct cg_tape *tape, const struct cg_op *op,
                                    struct cg_tensor *x, const int64_t *targets,
                                    const struct cg_class_loss_options *opts)
{
    const char *fn = op->name;
    struct cg_class_loss_options o = opts ? *opts : (struct cg_class_loss_options){0};
    if (!tape || !x || !targets) {
        cg_misuse(fn, "%s is NULL (hint: an earlier op failed; check cg_last_error())",
                  !tape ? "tape" : !x ? "input" : "targets");
        return NULL;
    }
    if (!cg_loss_reduction_ok(fn, o.reduction)) return NULL;
    if (!(o.label_smoothing >= 0 && o.label_smoothing <= 1) ||
        (op == &cg_op_nll_loss && o.label_smoothing != 0)) {
        cg_misuse(fn, "label_smoothing = %g: need 0 <= label_smoothing <= 1%s", o.label_smoothing,
                  op == &cg_op_nll_loss ? " (nll_loss has none: use 0)" : "");
        return NULL;
    }
    char s[128];
    if (x->ndim != 2 || x->shape[1] < 1) {
        cg_misuse(fn, "input %s must be [N, C] with C >= 1 (hint: cg_reshape a single sample to "
                  "[1, C])", cg_tensor_shape_str(x, s, sizeof s));
        return NULL;
    }
    int64_t n = x->shape[0], c = x->shape[1];
    const int64_t f32_exact = INT64_C(1) << 24;
    if (x->dtype == CG_F32 && (c > f32_exact || (o.ignore && (o.ignore_index > f32_exact ||
                                                             o.ignore_index < -f32_exact)))) {
        cg_misuse(fn, "%" PRId64 " classes (ignore_index %" PRId64 ") do not fit f32 class "
                  "indices (hint: use CG_F64)", c, o.ignore_index);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        if (!(o.ignore && targets[i] == o.ignore_index) && (targets[i] < 0 || targets[i] >= c)) {
            cg_misuse(fn, "targets[%" PRId64 "] = %" PRId64 " is out of range for C = %" PRId64
                      " classes (need 0 <= target < C%s)", i, targets[i], c,
                      o.ignore ? ", or the ignore_index" : "; set .ignore to skip rows");
            return NULL;
        }
    /* Copied to the tape so the caller may reuse the array before backward. */
    struct cg_tensor *t = cg_tensor_empty(tape, x->dtype, CG_SHAPE(n));
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) cg_tensor_set_at(t, i, (double)targets[i]);
    double sc[4] = {(double)o.reduction, o.label_smoothing, o.ignore, (double)o.ignore_index};
    struct cg_tensor *in[2] = {x, t};
    if (o.reduction == CG_REDUCTION_NONE)
        return cg_op_apply(tape, op, 2, in, x->dtype, 1, x->shape, sc, 4);
    return cg_op_apply(tape, op, 2, in, x->dtype, 0, NULL, sc, 4);
}

struct cg_tensor *cg_nll_loss(struct cg_tape *tape, struct cg_tensor *log_probs,
                              const int64_t *targets, const struct cg_class_loss_options *opts)
{
    return class_loss(tape, &cg_op_nll_loss, log_probs, targets, opts);
}

struct cg_tensor *cg_cross_entropy_loss_with(struct cg_tape *tape, struct cg_tensor *logits,
                                             const int64_t *targets,
                                             const struct cg_class_loss_options *opts)
{
    return class_loss(tape, &cg_op_cross_entropy_loss_with, logits, targets, opts);
}
