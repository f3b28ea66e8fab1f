/* The gradient check's verdict: counting, ranking the worst elements,
 * recognising patterns (hints), and the messages and printed report. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "gradcheck_internal.h"

double gc_tol(const struct gc_check *c, double numeric)
{
    return c->atol + c->rtol * fabs(numeric);
}

void gc_element(const struct gc_check *c, int i, int64_t k, double a, double n,
                struct cg_gradcheck_element *e)
{
    memset(e, 0, sizeof *e);
    gc_describe(e->name, sizeof e->name, c, i, k);
    const struct cg_tensor *t = c->in[i];
    e->input = i;
    e->element = k;
    e->ndim = t->ndim;
    for (int d = t->ndim - 1; d >= 0; d--) {
        e->index[d] = t->shape[d] ? k % t->shape[d] : 0;
        k = t->shape[d] ? k / t->shape[d] : 0;
    }
    e->analytic = a;
    e->numeric = n;
    e->abs_err = fabs(a - n);
    e->rel_err = n != 0 ? e->abs_err / fabs(n) : (e->abs_err == 0 ? 0 : INFINITY);
}

void gc_set_top(struct cg_gradcheck_report *r, const struct cg_gradcheck_element *e)
{
    r->input = e->input;
    r->element = e->element;
    r->analytic = e->analytic;
    r->numeric = e->numeric;
    r->abs_err = e->abs_err;
    r->rel_err = e->rel_err;
}

void gc_add_kink(struct cg_gradcheck_report *r, const struct cg_gradcheck_element *e)
{
    if (r->n_kinks_shown < CG_GRADCHECK_SHOWN) r->kink[r->n_kinks_shown++] = *e;
}

/* How far an element is beyond its bound; NaN and Inf are the worst. */
static double excess(const struct gc_check *c, int64_t at)
{
    double d = fabs(c->ana[at] - c->num[at]) - gc_tol(c, c->num[at]) - c->est[at];
    return isfinite(d) ? d : INFINITY;
}

/* Does a[p] match num[map(p)] on at least 90% of the checked pairs? */
static bool matches(const struct gc_check *c, int i, int kind, int s)
{
    const struct cg_tensor *t = c->in[i];
    int64_t n = t->numel, base = c->offset[i], good = 0, pairs = 0;
    int64_t rows = t->ndim == 2 ? t->shape[0] : 0, cols = t->ndim == 2 ? t->shape[1] : 0;
    for (int64_t p = 0; p < n; p++) {
        int64_t q = kind == 0 ? (p % rows) * cols + p / rows : p - s;
        if (q < 0 || q >= n || c->state[base + p] == GC_UNCHECKED ||
            c->state[base + q] == GC_UNCHECKED)
            continue;
        pairs++;
        double a = c->ana[base + p], v = c->num[base + q];
        good += fabs(a - v) <= gc_tol(c, v) + c->est[base + q];
    }
    return pairs >= 2 && good * 10 >= pairs * 9;
}

/* The factor c of analytic = c * numeric over the failing elements (least
 * squares), if every one of them fits it within its tolerance and
 * estimate; NAN otherwise.  c = -1 is the sign hint. */
static double common_factor(const struct gc_check *c, int i)
{
    int64_t base = c->offset[i], n = c->in[i]->numel;
    double av = 0, vv = 0;
    for (int64_t k = 0; k < n; k++)
        if (c->state[base + k] == GC_FAIL) {
            av += c->ana[base + k] * c->num[base + k];
            vv += c->num[base + k] * c->num[base + k];
        }
    double q = av / vv;
    if (!isfinite(q) || q == 0) return NAN;
    for (int64_t k = 0; k < n; k++) {
        if (c->state[base + k] != GC_FAIL) continue;
        double a = c->ana[base + k], v = c->num[base + k];
        if (!(fabs(a - q * v) <= fabs(q) * (gc_tol(c, v) + c->est[base + k]) + 1e-3 * fabs(a)))
            return NAN;
    }
    return q;
}

/* Hints for input i, which has failing elements. */
static unsigned diagnose(const struct gc_check *c, int i, double *scale)
{
    const struct cg_tensor *t = c->in[i];
    int64_t base = c->offset[i], n = t->numel;
    bool all_zero = true, row0_ok = false, rows_bad = true;
    bool first = c->ana_first != NULL, any_first = false;
    int64_t row = t->ndim >= 2 && t->shape[0] > 1 ? n / t->shape[0] : 0;
    for (int64_t k = 0; k < n; k++) {
        double a = c->ana[base + k];
        all_zero &= a == 0;
        if (first) {
            double a1 = c->ana_first[base + k];
            any_first |= a1 != 0;
            first &= fabs(a - a1) <= 1e-3 * gc_tol(c, a1);
        }
        if (c->state[base + k] == GC_UNCHECKED || !row || k >= row) continue;
        if (c->state[base + k] == GC_FAIL) rows_bad = false;
        else row0_ok = true;
    }
    unsigned h = 0;
    if (all_zero) return CG_GRADCHECK_HINT_NO_GRADIENT;
    if (c->upstream_ignored[i]) h |= CG_GRADCHECK_HINT_UPSTREAM_IGNORED;
    double q = common_factor(c, i);
    if (isfinite(q) && fabs(q + 1) <= 5e-2) h |= CG_GRADCHECK_HINT_SIGN;
    else if (isfinite(q) && fabs(q - 1) > 5e-2) h |= CG_GRADCHECK_HINT_SCALE, *scale = q;
    if ((row && row0_ok && rows_bad) || (first && any_first)) h |= CG_GRADCHECK_HINT_FIRST_SAMPLE;
    if (t->ndim == 2 && t->shape[0] > 1 && t->shape[1] > 1 && matches(c, i, 0, 0))
        h |= CG_GRADCHECK_HINT_TRANSPOSED;
    if (matches(c, i, 1, 1) || matches(c, i, 1, -1)) h |= CG_GRADCHECK_HINT_SHIFTED;
    return h;
}

/* The hints in words, for the message and the printed report. */
static int hint_text(const struct cg_gradcheck_report *r, unsigned bit, char *buf, size_t size)
{
    const char *x = r->hint_input;
    switch (bit) {
    case CG_GRADCHECK_HINT_SIGN:
        return snprintf(buf, size, "sign flipped: analytic = -numeric for %s", x);
    case CG_GRADCHECK_HINT_SCALE: {
        int64_t b = r->batch;
        const char *why = b > 1 && fabs(r->scale - (double)b) < 1e-2 * b ? " (the batch size?)"
                          : b > 1 && fabs(r->scale * (double)b - 1) < 1e-2 ? " (1 / batch size?)"
                                                                           : "";
        return snprintf(buf, size, "a constant factor: analytic = %.4g x numeric for %s%s",
                        r->scale, x, why);
    }
    case CG_GRADCHECK_HINT_NO_GRADIENT:
        return snprintf(buf, size, "no gradient at all: every analytic value of %s is 0 (does "
                        "a backward skip writing it, or does the output reach it only through "
                        "ops without backward?)", x);
    case CG_GRADCHECK_HINT_NOT_ACCUMULATED:
        return snprintf(buf, size, "overwritten, not accumulated: a backward writes `=` where "
                        "it must add `+=` into the gradient of %s", x);
    case CG_GRADCHECK_HINT_NONDETERMINISTIC:
        return snprintf(buf, size, "nondeterministic backward: two backward passes gave "
                        "different gradients for %s", x);
    case CG_GRADCHECK_HINT_FIRST_SAMPLE:
        return snprintf(buf, size, "correct only for the first sample of the batch: only sample "
                        "0 reaches the gradient of %s (a batch or broadcast dimension not "
                        "summed?)", x);
    case CG_GRADCHECK_HINT_UPSTREAM_IGNORED:
        return snprintf(buf, size, "the upstream gradient is ignored: doubling d(output) did "
                        "not double the gradient of %s", x);
    case CG_GRADCHECK_HINT_TRANSPOSED:
        return snprintf(buf, size, "transposed: the analytic gradient of %s is the numeric one "
                        "with rows and columns swapped", x);
    case CG_GRADCHECK_HINT_SHIFTED:
        return snprintf(buf, size, "off by one: the analytic gradient of %s is the numeric one "
                        "shifted by one element", x);
    case CG_GRADCHECK_HINT_F32_DIFFERS:
        return snprintf(buf, size, "f32 differs from f64: the f32 forward or backward of %s "
                        "disagrees with the f64 shadow beyond f32 rounding", x);
    default:
        return snprintf(buf, size, "?");
    }
}

void gc_append_hints(struct cg_gradcheck_report *r)
{
    size_t len = strlen(r->message);
    for (unsigned bit = 1; bit <= CG_GRADCHECK_HINT_F32_DIFFERS && len + 8 < sizeof r->message;
         bit <<= 1) {
        if (!(r->hints & bit)) continue;
        len += (size_t)snprintf(r->message + len, sizeof r->message - len, " (hint: ");
        if (len < sizeof r->message)
            len += (size_t)hint_text(r, bit, r->message + len, sizeof r->message - len);
        if (len < sizeof r->message)
            len += (size_t)snprintf(r->message + len, sizeof r->message - len, ")");
    }
}

static void insert_worst(struct cg_gradcheck_report *r, const struct cg_gradcheck_element *e,
                         double ex, double *worst_ex)
{
    int pos = r->n_worst < CG_GRADCHECK_SHOWN ? r->n_worst : CG_GRADCHECK_SHOWN;
    while (pos > 0 && ex > worst_ex[pos - 1]) pos--;
    if (pos >= CG_GRADCHECK_SHOWN) return;
    int last = r->n_worst < CG_GRADCHECK_SHOWN ? r->n_worst : CG_GRADCHECK_SHOWN - 1;
    for (int j = last; j > pos; j--) r->worst[j] = r->worst[j - 1], worst_ex[j] = worst_ex[j - 1];
    r->worst[pos] = *e;
    worst_ex[pos] = ex;
    if (r->n_worst < CG_GRADCHECK_SHOWN) r->n_worst++;
}

bool gc_verdict(struct gc_check *c, struct cg_gradcheck_report *r)
{
    double worst_ex[CG_GRADCHECK_SHOWN];
    struct cg_gradcheck_element e, largest = {.input = -1};
    int zero_input = -1;
    for (int i = 0; i < c->n; i++) {
        int64_t base = c->offset[i], fails = 0;
        for (int64_t k = 0; k < c->in[i]->numel; k++) {
            unsigned char s = c->state[base + k];
            if (s == GC_KINK) r->kinks++;
            if (s != GC_PASS && s != GC_FAIL) continue;
            double a = c->ana[base + k], v = c->num[base + k], d = fabs(a - v);
            if (s == GC_PASS && d > r->max_abs_err && d > 0) {
                r->max_abs_err = d;
                gc_element(c, i, k, a, v, &largest);
                largest.err_est = c->est[base + k];
            }
            if (s != GC_FAIL) continue;
            fails++;
            gc_element(c, i, k, a, v, &e);
            e.err_est = c->est[base + k];
            insert_worst(r, &e, excess(c, base + k), worst_ex);
        }
        r->failed += fails;
        if (!fails) continue;
        double scale = 0;
        unsigned h = diagnose(c, i, &scale);
        if (h & CG_GRADCHECK_HINT_NO_GRADIENT && zero_input < 0) zero_input = i;
        if (h && !r->hint_input[0]) gc_describe(r->hint_input, sizeof r->hint_input, c, i, -1);
        if (h & CG_GRADCHECK_HINT_SCALE && r->scale == 0) r->scale = scale;
        r->hints |= h;
    }
    char mode[96] = "";
    if (r->fast)
        snprintf(mode, sizeof mode, " (fast mode: %d of %d probes failed)", r->probes_failed,
                 r->probes);
    if (!r->failed && !(r->fast && r->probes_failed)) {
        if (largest.input >= 0) gc_set_top(r, &largest);
        if (r->fast && !r->checked)
            snprintf(r->message, sizeof r->message, "gradcheck passed: %d random directional "
                     "probes over %" PRId64 " elements agree (fast mode, %s), largest probe "
                     "error %.3g, %" PRId64 " kinks skipped (atol %g rtol %g)", r->probes,
                     c->total, cg_dtype_name(r->dtype), r->max_abs_err, r->kinks, c->atol,
                     c->rtol);
        else if (largest.input >= 0)
            snprintf(r->message, sizeof r->message, "gradcheck passed: %" PRId64 " elements "
                     "checked in %s%s, largest error %.3g at %s (analytic %.6g numeric %.6g), %"
                     PRId64 " kinks skipped (atol %g rtol %g)", r->checked,
                     cg_dtype_name(r->dtype), mode, r->max_abs_err, largest.name,
                     largest.analytic, largest.numeric, r->kinks, c->atol, c->rtol);
        else
            snprintf(r->message, sizeof r->message, "gradcheck passed: %" PRId64 " elements "
                     "checked in %s%s, every analytic value equals its numeric one, %" PRId64
                     " kinks skipped (atol %g rtol %g)", r->checked, cg_dtype_name(r->dtype),
                     mode, r->kinks, c->atol, c->rtol);
        return true;
    }
    if (!r->failed) {
        snprintf(r->message, sizeof r->message, "gradcheck failed: a directional probe "
                 "disagrees%s but none of the %" PRId64 " elements checked to localize it does "
                 "(hint: run with mode CG_GRADCHECK_FULL or a larger max_evals)", mode,
                 r->checked);
        return false;
    }
    if (zero_input >= 0) {
        /* Name the input that got nothing, at its largest numeric value. */
        int64_t base = c->offset[zero_input], kk = -1;
        for (int64_t k = 0; k < c->in[zero_input]->numel; k++)
            if (c->state[base + k] == GC_FAIL &&
                (kk < 0 || fabs(c->num[base + k]) > fabs(c->num[base + kk])))
                kk = k;
        gc_element(c, zero_input, kk, 0, c->num[base + kk], &e);
        gc_set_top(r, &e);
        gc_describe(r->hint_input, sizeof r->hint_input, c, zero_input, -1);
        snprintf(r->message, sizeof r->message, "gradcheck failed: %s got no gradient (every "
                 "analytic value is 0) but the numeric gradient is not: %s numeric %.6g; %"
                 PRId64 " of %" PRId64 " elements checked fail%s (atol %g rtol %g)",
                 r->hint_input, e.name, e.numeric, r->failed, r->checked, mode, c->atol, c->rtol);
        r->hints = CG_GRADCHECK_HINT_NO_GRADIENT | (r->hints & ~CG_GRADCHECK_HINT_NO_GRADIENT);
    } else {
        gc_set_top(r, &r->worst[0]);
        snprintf(r->message, sizeof r->message, "gradcheck failed: %" PRId64 " of %" PRId64
                 " elements checked fail%s; worst %s: analytic %.6g numeric %.6g (abs err %.3g, "
                 "rel err %.3g, est %.2g, atol %g rtol %g)", r->failed, r->checked, mode,
                 r->worst[0].name, r->analytic, r->numeric, r->abs_err, r->rel_err,
                 r->worst[0].err_est, c->atol, c->rtol);
    }
    gc_append_hints(r);
    return false;
}

/* labels: "analytic"/"numeric", or for the backward-against-backward
 * stops "first" and "second" / "grad-pre" (pre-filled grad minus pre-fill) */
static void print_element(FILE *f, const struct cg_gradcheck_element *e, const char *a,
                          const char *n)
{
    fprintf(f, "    %-24s %s %-12.6g %s %-12.6g abs err %-10.3g rel err %-10.3g est %.2g\n",
            e->name, a, e->analytic, n, e->numeric, e->abs_err, e->rel_err, e->err_est);
}

void cg_gradcheck_report_print(const struct cg_gradcheck_report *r, FILE *f)
{
    if (!r || !f) return;
    fprintf(f, "%s\n", r->message);
    if (r->shadow == 2)
        fprintf(f, "  dtypes: f32 checked through an f64 shadow: gradients checked in f64; "
                "f32 not compared with f64, the f64 check failed first\n");
    else if (r->shadow)
        fprintf(f, "  dtypes: f32 checked through an f64 shadow: gradients checked in f64; f32 "
                "forward and gradients compared with f64: max rel diff %.3g (output), %.3g "
                "(gradients%s%s)\n", r->shadow_out_err, r->shadow_grad_err,
                r->shadow_worst[0] ? ", most at " : "", r->shadow_worst);
    else
        fprintf(f, "  dtype: %s\n", cg_dtype_name(r->dtype));
    if (r->fast)
        fprintf(f, "  mode: fast, %d directional probes (%d failed), %" PRId64 " elements "
                "checked one by one, %" PRId64 " calls of fn\n", r->probes, r->probes_failed,
                r->checked, r->evals);
    else
        fprintf(f, "  mode: full, %" PRId64 " elements checked, %" PRId64 " calls of fn\n",
                r->checked, r->evals);
    fprintf(f, "  failing elements: %" PRId64 "; largest passing error %.3g; non-differentiable "
            "points: %" PRId64 "\n", r->failed, r->max_abs_err, r->kinks);
    if (r->n_worst) fprintf(f, "  worst %d:\n", r->n_worst);
    bool twice =
        !r->checked && !r->fast &&
        (r->hints & (CG_GRADCHECK_HINT_NOT_ACCUMULATED | CG_GRADCHECK_HINT_NONDETERMINISTIC));
    const char *a = twice ? "first backward" : "analytic";
    const char *n = !twice ? "numeric"
                    : r->hints & CG_GRADCHECK_HINT_NOT_ACCUMULATED ? "grad - pre-fill"
                                                                     : "second backward";
    for (int j = 0; j < r->n_worst; j++) print_element(f, &r->worst[j], a, n);
    for (int j = 0; j < r->n_kinks_shown; j++)
        fprintf(f, "  non-differentiable at %s: left slope %.6g, right slope %.6g, analytic "
                "%.6g\n", r->kink[j].name, r->kink[j].left, r->kink[j].right,
                r->kink[j].analytic);
    for (unsigned bit = 1; bit <= CG_GRADCHECK_HINT_F32_DIFFERS; bit <<= 1) {
        if (!(r->hints & bit)) continue;
        char text[320];
        hint_text(r, bit, text, sizeof text);
        fprintf(f, "  hint: %s\n", text);
    }
}
