/* Gradient check driver (see include/cgrad/gradcheck.h): argument checks,
 * saving and restoring the inputs, evaluating fn, and the backward passes
 * (determinism, accumulation, upstream and first-sample probes).  The
 * numeric side is in gradcheck_numeric.c, the verdict and messages in
 * gradcheck_report.c, the f64 shadow in gradcheck_shadow.c. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "gradcheck_internal.h"
#include "tape_internal.h"
#include "tensor_live.h"

#define FN CG_GC_FN

/* What the check changes on an input, saved so it can be put back exactly. */
struct saved_input {
    bool requires_grad;
    unsigned grad_none; /* CG_GRAD_NONE as it was (the check zeroes grads) */
    bool had_grad;
    void *grad_copy; /* grad data when had_grad */
};

bool cg_gradcheck_options_ok(const char *fn, const struct cg_gradcheck_options *o)
{
    if (!o) return true;
    if (!(o->eps >= 0 && o->atol >= 0 && o->rtol >= 0 && isfinite(o->eps) && isfinite(o->atol) &&
          isfinite(o->rtol))) {
        cg_misuse(fn, "options eps %g, atol %g, rtol %g: each must be finite and >= 0 (0 "
                  "selects the dtype's default)", o->eps, o->atol, o->rtol);
        return false;
    }
    if (o->probes < 0 || o->fast_above < 0 || o->max_evals < 0 ||
        (o->mode != CG_GRADCHECK_AUTO && o->mode != CG_GRADCHECK_FULL &&
         o->mode != CG_GRADCHECK_FAST)) {
        cg_misuse(fn, "options mode %d, probes %d, fast_above %" PRId64 ", max_evals %" PRId64
                  ": mode must be CG_GRADCHECK_AUTO, _FULL or _FAST and the counts >= 0 (0 "
                  "selects the default)", (int)o->mode, o->probes, o->fast_above, o->max_evals);
        return false;
    }
    return true;
}

static bool inputs_ok(cg_gradcheck_fn fn, int n, struct cg_tensor *const *in)
{
    if (!fn) {
        cg_misuse(FN, "fn is NULL (hint: pass a function that builds the output on the tape "
                  "it is given)");
        return false;
    }
    if (n < 1 || !in) {
        cg_misuse(FN, "%d inputs (array %s): need at least one input tensor", n,
                  in ? "given" : "NULL");
        return false;
    }
    for (int i = 0; i < n; i++) {
        const struct cg_tensor *t = in[i];
        if (!t) {
            cg_misuse(FN, "input %d is NULL", i);
            return false;
        }
        if (t->tape) {
            cg_misuse(FN, "input %d ('%s') lives on a tape; inputs must be persistent tensors "
                      "(hint: create them with tape NULL, or cg_tensor_copy(NULL, t))", i, t->name);
            return false;
        }
        if (t->dtype != in[0]->dtype) {
            cg_misuse(FN, "input %d ('%s') is %s but input 0 is %s (hint: check in one dtype, "
                      "preferably CG_F64)", i, t->name, cg_dtype_name(t->dtype),
                      cg_dtype_name(in[0]->dtype));
            return false;
        }
    }
    return true;
}

/* "2.weight[3,7]", "input 1 ('w')[5]", or just the input's name for k < 0. */
void gc_describe(char *buf, size_t size, const struct gc_check *c, int i, int64_t k)
{
    const struct cg_tensor *t = c->in[i];
    int len;
    if (c->names && c->names[i])
        len = snprintf(buf, size, "%s", c->names[i]);
    else if (t->name[0])
        len = snprintf(buf, size, "input %d ('%s')", i, t->name);
    else
        len = snprintf(buf, size, "input %d", i);
    if (k < 0 || len < 0 || (size_t)len >= size) return;
    int64_t idx[CG_MAX_DIMS], rest = k;
    for (int d = t->ndim - 1; d >= 0; d--) {
        idx[d] = t->shape[d] ? rest % t->shape[d] : 0;
        rest = t->shape[d] ? rest / t->shape[d] : 0;
    }
    size_t at = (size_t)len;
    at += (size_t)snprintf(buf + at, size - at, "[");
    for (int d = 0; d < t->ndim && at < size; d++)
        at += (size_t)snprintf(buf + at, size - at, "%s%" PRId64, d ? "," : "", idx[d]);
    if (at < size) snprintf(buf + at, size - at, "]");
}

/* Runs fn on a fresh step of the private tape and checks what it returned. */
static enum cg_status run_fn(struct gc_check *c, const char *when, struct cg_tensor **out)
{
    cg_tape_reset(c->tape);
    c->evals++;
    struct cg_tensor *o = c->fn(c->tape, c->in, c->user);
    if (!o) {
        char prev[384];
        snprintf(prev, sizeof prev, "%s", cg_last_error());
        return cg_fail(CG_ERR_INVALID, FN ": fn returned NULL on its %s (last error: %s)", when,
                       prev[0] ? prev : "none");
    }
    bool is_input = false;
    for (int i = 0; i < c->n; i++) is_input |= o == c->in[i];
    if (!(o->tape && cg_tensor_is_live(c->tape, o)) && !is_input) {
        cg_misuse(FN, "fn returned tensor '%s' that is neither from the current step of the tape "
                  "it was given nor one of the inputs (hint: build the output with ops on that "
                  "tape, in that call)", o->name);
        return CG_ERR_INVALID;
    }
    if (c->w) {
        bool same = o->ndim == c->out_ndim && o->numel == c->out_numel;
        for (int d = 0; same && d < o->ndim; d++) same = o->shape[d] == c->out_shape[d];
        if (!same) {
            char s[128];
            return cg_fail(CG_ERR_INVALID, FN ": fn's output changed shape to %s on its %s "
                           "(hint: fn must be deterministic)",
                           cg_tensor_shape_str(o, s, sizeof s), when);
        }
    }
    *out = o;
    return CG_OK;
}

/* Fixes the reduction weights from the first output: uniform(-1, 1) rounded
 * to f32 (so an f32 and an f64 run, and the seed tensor, hold exactly these
 * values), or 1 for a single-element output. */
static enum cg_status make_weights(struct gc_check *c, const struct cg_tensor *out)
{
    c->out_ndim = out->ndim;
    memcpy(c->out_shape, out->shape, sizeof c->out_shape);
    c->out_numel = out->numel;
    size_t m = (size_t)(out->numel ? out->numel : 1);
    c->w = cg_malloc(m * sizeof *c->w, "gradcheck weights");
    c->prev_out = cg_malloc(m * sizeof *c->prev_out, "gradcheck outputs");
    if (!c->w || !c->prev_out) return CG_ERR_NOMEM;
    struct cg_rng rng = cg_rng_seed(c->seed);
    for (int64_t j = 0; j < out->numel; j++) {
        double u = out->numel == 1 ? 1.0 : 2.0 * cg_rng_uniform(&rng) - 1.0;
        c->w[j] = (double)(float)u;
    }
    return CG_OK;
}

/* f = sum(out * w).  keep_out stores the outputs; otherwise *round_est gets
 * the rounding error bound of f(this) - f(kept): roundoff times the weighted
 * outputs that changed (outputs that did not change cancel exactly). */
static double reduce(struct gc_check *c, const struct cg_tensor *out, bool keep_out,
                     double *round_est)
{
    double f = 0, r = 0;
    for (int64_t j = 0; j < out->numel; j++) {
        double v = cg_tensor_at(out, j);
        f += v * c->w[j];
        if (keep_out)
            c->prev_out[j] = v;
        else if (v != c->prev_out[j])
            r += fabs(c->w[j]) * (fabs(v) + fabs(c->prev_out[j]));
    }
    if (round_est) *round_est = keep_out ? 0 : c->roundoff * r;
    return f;
}

enum cg_status gc_eval(struct gc_check *c, const char *when, bool keep_out, double *f,
                       double *round_est)
{
    struct cg_tensor *out;
    enum cg_status st = run_fn(c, when, &out);
    if (st == CG_OK) *f = reduce(c, out, keep_out, round_est);
    return st;
}

/* How a backward pass is seeded and what the grads hold before it. */
struct pass {
    const char *when;
    const double *prefill; /* per element, or NULL: zeroed */
    double seed_scale;     /* seed = seed_scale * w */
    bool first_sample;     /* seed rows >= 1 of the output set to 0 */
};

/* The first input that is the same tensor as input i (an input passed
 * twice shares one grad, so it is pre-filled once). */
int gc_first_use(const struct gc_check *c, int i)
{
    int j = 0;
    while (c->in[j] != c->in[i]) j++;
    return j;
}

/* One forward + backward with grad mode on; the inputs' gradients (minus
 * the pre-fill) go to grad[] and sum(out * w) to *f. */
static enum cg_status backward_pass(struct gc_check *c, const struct pass *p, double *grad,
                                    double *f)
{
    for (int i = 0; i < c->n; i++) cg_tensor_zero_grad(c->in[i]);
    for (int i = 0; p->prefill && i < c->n; i++) {
        struct cg_tensor *t = c->in[i];
        int64_t at = c->offset[gc_first_use(c, i)];
        for (int64_t k = 0; k < t->numel; k++) cg_tensor_set_at(t->grad, k, p->prefill[at + k]);
        t->flags &= ~(unsigned)CG_GRAD_NONE; /* written by hand: backward must add to it */
    }
    struct cg_tensor *out;
    enum cg_status st = run_fn(c, p->when, &out);
    if (st != CG_OK) return st;
    if (!c->w && (st = make_weights(c, out)) != CG_OK) return st;
    *f = reduce(c, out, true, NULL);
    /* An output that does not require grad has zero analytic gradient. */
    if (out->flags & CG_REQUIRES_GRAD) {
        struct cg_tensor *seed = cg_tensor_empty(c->tape, out->dtype, out->ndim, out->shape);
        if (!seed) return CG_ERR_NOMEM;
        int64_t row = out->ndim >= 1 && out->shape[0] ? out->numel / out->shape[0] : 0;
        for (int64_t j = 0; j < out->numel; j++)
            cg_tensor_set_at(seed, j, p->first_sample && j >= row ? 0.0 : p->seed_scale * c->w[j]);
        if ((st = cg_backward_seed(c->tape, out, seed)) != CG_OK) return st;
    }
    for (int i = 0; i < c->n; i++) {
        const struct cg_tensor *g = c->in[i]->grad;
        int64_t at = c->offset[gc_first_use(c, i)];
        for (int64_t k = 0; k < c->in[i]->numel; k++)
            grad[c->offset[i] + k] =
                (g ? cg_tensor_at(g, k) : 0) - (p->prefill ? p->prefill[at + k] : 0);
    }
    return CG_OK;
}

/* Two backward results that must agree: 1e-3 of the check's tolerance,
 * plus the dtype's rounding of the values involved (pre-fills are < 1.5). */
static bool close_enough(const struct gc_check *c, double a, double b)
{
    return a == b || (isnan(a) && isnan(b)) ||
           fabs(a - b) <= 1e-3 * gc_tol(c, a) + 16 * c->roundoff * (fabs(a) + fabs(b) + 3);
}

/* Second gradient g2 against the first; fills r on a mismatch. */
static bool agrees(struct gc_check *c, const double *g2, unsigned hint, const char *what,
                   struct cg_gradcheck_report *r)
{
    int64_t bad = 0;
    for (int i = 0; i < c->n; i++) {
        for (int64_t k = 0; k < c->in[i]->numel; k++) {
            double a = c->ana[c->offset[i] + k], b = g2[c->offset[i] + k];
            if (close_enough(c, a, b)) continue;
            if (bad++ == 0) {
                struct cg_gradcheck_element e;
                gc_element(c, i, k, a, b, &e);
                gc_set_top(r, &e);
                gc_describe(r->hint_input, sizeof r->hint_input, c, i, -1);
            }
            if (r->n_worst < CG_GRADCHECK_SHOWN)
                gc_element(c, i, k, a, b, &r->worst[r->n_worst++]);
        }
    }
    if (!bad) return true;
    r->failed = bad;
    r->hints |= hint;
    snprintf(r->message, sizeof r->message, "gradcheck failed: %s: %s: first backward gave "
             "%.6g, %s %.6g (%" PRId64 " elements differ)", what, r->worst[0].name, r->analytic,
             hint == CG_GRADCHECK_HINT_NONDETERMINISTIC ? "second" : "pre-filled grad - pre-fill",
             r->numeric, bad);
    gc_append_hints(r);
    return false;
}

/* Pre-fill values: +-[0.5, 1.5), rounded to the dtype. */
static double *make_prefill(const struct gc_check *c)
{
    double *p = cg_malloc((size_t)(c->total ? c->total : 1) * sizeof *p, "gradcheck pre-fill");
    if (!p) return NULL;
    struct cg_rng rng = cg_rng_seed(c->seed ^ 0x9e3779b97f4a7c15u);
    for (int64_t k = 0; k < c->total; k++) {
        double u = 0.5 + cg_rng_uniform(&rng);
        p[k] = (double)(float)(cg_rng_uniform(&rng) < 0.5 ? -u : u);
    }
    return p;
}

/* Backward passes 2-5 of the header's steps 1-3. */
static enum cg_status probe_backward(struct gc_check *c, double *g, struct cg_gradcheck_report *r)
{
    double f = 0;
    struct pass again = {.when = "second call", .seed_scale = 1};
    enum cg_status st = backward_pass(c, &again, g, &f);
    if (st != CG_OK) return st;
    if (!close_enough(c, c->f0, f)) {
        snprintf(r->message, sizeof r->message,
                 "gradcheck failed: fn is not deterministic: sum(out * w) was %.17g on the "
                 "first call and %.17g on the second", c->f0, f);
        return CG_ERR_GRADCHECK;
    }
    if (!agrees(c, g, CG_GRADCHECK_HINT_NONDETERMINISTIC, "backward is not deterministic", r))
        return CG_ERR_GRADCHECK;
    if (!c->no_accumulation) {
        double *pre = make_prefill(c);
        if (!pre) return CG_ERR_NOMEM;
        struct pass acc = {.when = "call with pre-filled gradients", .prefill = pre,
                           .seed_scale = 1};
        st = backward_pass(c, &acc, g, &f);
        cg_free(pre);
        if (st != CG_OK) return st;
        if (!agrees(c, g, CG_GRADCHECK_HINT_NOT_ACCUMULATED,
                    "a backward overwrites the gradient instead of adding to it (grads were "
                    "pre-filled)", r))
            return CG_ERR_GRADCHECK;
    }
    struct pass twice = {.when = "call with a doubled seed", .seed_scale = 2};
    if ((st = backward_pass(c, &twice, g, &f)) != CG_OK) return st;
    for (int i = 0; i < c->n; i++) {
        bool nonzero = false, doubled = true;
        for (int64_t k = 0; k < c->in[i]->numel; k++) {
            double a = c->ana[c->offset[i] + k], b = g[c->offset[i] + k];
            nonzero |= a != 0;
            doubled &= close_enough(c, 2 * a, b);
        }
        c->upstream_ignored[i] = nonzero && !doubled;
    }
    if (c->out_ndim >= 2 && c->out_shape[0] > 1) {
        struct pass first = {.when = "call seeded on sample 0", .seed_scale = 1,
                             .first_sample = true};
        c->ana_first = cg_malloc((size_t)(c->total ? c->total : 1) * sizeof(double),
                                 "gradcheck gradients");
        if (!c->ana_first) return CG_ERR_NOMEM;
        if ((st = backward_pass(c, &first, c->ana_first, &f)) != CG_OK) return st;
    }
    return CG_OK;
}

static enum cg_status save_inputs(const struct gc_check *c, struct saved_input *s)
{
    for (int i = 0; i < c->n; i++) {
        const struct cg_tensor *t = c->in[i];
        s[i].requires_grad = (t->flags & CG_REQUIRES_GRAD) != 0;
        s[i].grad_none = t->flags & CG_GRAD_NONE;
        s[i].had_grad = t->grad != NULL;
        if (!t->grad) continue;
        size_t bytes = (size_t)t->numel * cg_dtype_size(t->dtype);
        if (!(s[i].grad_copy = cg_malloc(bytes ? bytes : 1, "gradcheck saved grad")))
            return CG_ERR_NOMEM;
        memcpy(s[i].grad_copy, t->grad->data, bytes);
    }
    return CG_OK;
}

/* In reverse, so an input passed twice ends up as it was. */
static void restore_inputs(const struct gc_check *c, struct saved_input *s)
{
    for (int i = c->n - 1; i >= 0; i--) {
        struct cg_tensor *t = c->in[i];
        if (s[i].had_grad && s[i].grad_copy && t->grad) {
            memcpy(t->grad->data, s[i].grad_copy, (size_t)t->numel * cg_dtype_size(t->dtype));
        } else if (!s[i].had_grad && t->grad) {
            cg_tensor_free(t->grad);
            t->grad = NULL;
        }
        if (s[i].requires_grad)
            t->flags |= CG_REQUIRES_GRAD;
        else
            t->flags &= ~(unsigned)CG_REQUIRES_GRAD;
        t->flags = (t->flags & ~(unsigned)CG_GRAD_NONE) | s[i].grad_none;
        cg_free(s[i].grad_copy);
        s[i].grad_copy = NULL;
    }
}

static enum cg_status run_check(struct gc_check *c, struct cg_gradcheck_report *r)
{
    for (int i = 0; i < c->n; i++) {
        enum cg_status st = cg_tensor_requires_grad(c->in[i], true);
        if (st != CG_OK) return st;
    }
    if (!(c->tape = cg_tape_new())) return CG_ERR_NOMEM;
    size_t m = (size_t)(c->total ? c->total : 1);
    double *g = cg_malloc(m * sizeof *g, "gradcheck gradients");
    c->ana = cg_malloc(m * sizeof *c->ana, "gradcheck gradients");
    c->num = cg_calloc(m, sizeof *c->num, "gradcheck numeric");
    c->est = cg_calloc(m, sizeof *c->est, "gradcheck estimates");
    c->state = cg_calloc(m, 1, "gradcheck states");
    c->upstream_ignored = cg_calloc((size_t)c->n, sizeof *c->upstream_ignored, "gradcheck");
    enum cg_status st = CG_ERR_NOMEM;
    if (g && c->ana && c->num && c->est && c->state && c->upstream_ignored) {
        struct pass first = {.when = "first call", .seed_scale = 1};
        st = backward_pass(c, &first, c->ana, &c->f0);
        if (st == CG_OK) st = probe_backward(c, g, r);
    }
    cg_free(g);
    if (st != CG_OK) return st;
    for (int i = 0; i < c->n; i++) cg_tensor_zero_grad(c->in[i]);
    cg_tape_set_grad_enabled(c->tape, false);
    bool fast = c->mode == CG_GRADCHECK_FAST ||
                (c->mode == CG_GRADCHECK_AUTO && c->total > c->fast_above);
    st = fast ? gc_numeric_fast(c, r) : gc_numeric_full(c, r);
    if (st != CG_OK) return st;
    return gc_verdict(c, r) ? CG_OK : CG_ERR_GRADCHECK;
}

/* Each input's offset in the flat gradient and the record to restore it
 * from; false (nothing to free but *saved and c->offset) on out-of-memory. */
static bool begin_check(struct gc_check *c, struct saved_input **saved)
{
    *saved = cg_calloc((size_t)c->n, sizeof **saved, "gradcheck state");
    c->offset = cg_malloc((size_t)c->n * sizeof *c->offset, "gradcheck offsets");
    if (!*saved || !c->offset) return false;
    for (int i = 0; i < c->n; i++) {
        c->offset[i] = c->total;
        c->total += c->in[i]->numel;
    }
    return true;
}

enum cg_status cg_gradcheck_run(cg_gradcheck_fn fn, void *user, int n,
                                struct cg_tensor *const *in,
                                const struct cg_gradcheck_options *opts,
                                struct cg_gradcheck_report *r)
{
    bool f64 = in[0]->dtype == CG_F64;
    struct gc_check c = {.fn = fn, .user = user, .n = n, .in = in};
    const struct cg_gradcheck_options o = opts ? *opts : (struct cg_gradcheck_options){0};
    c.eps = o.eps > 0 ? o.eps : f64 ? 1e-6 : 1e-3;
    c.atol = o.atol > 0 ? o.atol : f64 ? 1e-5 : 1e-2;
    c.rtol = o.rtol > 0 ? o.rtol : f64 ? 1e-3 : 1e-2;
    c.roundoff = f64 ? 0x1p-53 : 0x1p-24;
    c.seed = o.seed;
    c.names = o.input_names;
    c.fail_on_kinks = o.fail_on_kinks;
    c.no_estimate = o.no_error_estimate;
    c.no_accumulation = o.no_accumulation;
    c.mode = o.mode;
    c.probes = o.probes > 0 ? o.probes : 4;
    c.fast_above = o.fast_above > 0 ? o.fast_above : 4096;
    c.max_evals = o.max_evals > 0 ? o.max_evals : 4096;
    r->dtype = in[0]->dtype;
    r->batch = in[0]->ndim ? in[0]->shape[0] : 0;

    enum cg_status st = CG_ERR_NOMEM;
    struct saved_input *saved = NULL;
    if (begin_check(&c, &saved)) {
        st = save_inputs(&c, saved);
        if (st == CG_OK) st = run_check(&c, r);
        restore_inputs(&c, saved);
    }
    r->evals = c.evals;
    cg_tape_free(c.tape);
    cg_free(c.w);
    cg_free(c.prev_out);
    cg_free(c.offset);
    cg_free(c.ana);
    cg_free(c.num);
    cg_free(c.est);
    cg_free(c.state);
    cg_free(c.ana_first);
    cg_free(c.upstream_ignored);
    cg_free(saved);
    return st;
}

enum cg_status cg_gradcheck_snapshot(cg_gradcheck_fn fn, void *user, int n,
                                     struct cg_tensor *const *in, uint64_t seed, double **out,
                                     int64_t *n_out, double **grad)
{
    struct gc_check c = {.fn = fn, .user = user, .n = n, .in = in, .seed = seed};
    *out = *grad = NULL;
    *n_out = 0;
    enum cg_status st = CG_ERR_NOMEM;
    struct saved_input *saved = NULL;
    if (begin_check(&c, &saved)) {
        st = save_inputs(&c, saved);
        for (int i = 0; i < n && st == CG_OK; i++) st = cg_tensor_requires_grad(in[i], true);
        if (st == CG_OK && !(c.tape = cg_tape_new())) st = CG_ERR_NOMEM;
        if (st == CG_OK && !(*grad = cg_malloc((size_t)(c.total ? c.total : 1) * sizeof(double),
                                               "gradcheck gradients")))
            st = CG_ERR_NOMEM;
        struct pass p = {.when = "first call", .seed_scale = 1};
        double f;
        if (st == CG_OK) st = backward_pass(&c, &p, *grad, &f);
        if (st == CG_OK) {
            *n_out = c.out_numel;
            *out = c.prev_out;
            c.prev_out = NULL;
        }
        restore_inputs(&c, saved);
    }
    cg_tape_free(c.tape);
    cg_free(c.w);
    cg_free(c.prev_out);
    cg_free(c.offset);
    cg_free(saved);
    if (st != CG_OK) {
        cg_free(*grad);
        *grad = NULL;
    }
    return st;
}

static void report_init(struct cg_gradcheck_report *r)
{
    memset(r, 0, sizeof *r);
    r->input = -1;
}

enum cg_status cg_gradcheck(cg_gradcheck_fn fn, void *user, int n_inputs,
                            struct cg_tensor *const *inputs,
                            const struct cg_gradcheck_options *opts,
                            struct cg_gradcheck_report *report)
{
    struct cg_gradcheck_report local;
    struct cg_gradcheck_report *r = report ? report : &local;
    report_init(r);
    if (!inputs_ok(fn, n_inputs, inputs) || !cg_gradcheck_options_ok(FN, opts)) {
        snprintf(r->message, sizeof r->message, "%s", cg_last_error());
        return CG_ERR_INVALID;
    }
    enum cg_status st;
    if (opts && opts->f64_shadow == 1 && inputs[0]->dtype == CG_F32)
        st = cg_gradcheck_shadowed(fn, user, n_inputs, inputs, opts, r);
    else
        st = cg_gradcheck_run(fn, user, n_inputs, inputs, opts, r);
    r->passed = st == CG_OK;
    if (st == CG_ERR_GRADCHECK) return cg_fail(st, "%s", r->message);
    if (st != CG_OK) snprintf(r->message, sizeof r->message, "%s", cg_last_error());
    return st;
}
