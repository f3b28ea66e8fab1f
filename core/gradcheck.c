/* Gradient check by central differences (see include/cgrad/gradcheck.h). */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "tape_internal.h"
#include "tensor_live.h"
#include "cgrad/gradcheck.h"

#define FN "cg_gradcheck"

/* What the check changes on an input, saved so it can be put back exactly. */
struct saved_input {
    bool requires_grad;
    bool had_grad;
    void *grad_copy; /* grad data when had_grad */
};

struct check {
    cg_gradcheck_fn fn;
    void *user;
    int n;
    struct cg_tensor *const *in;
    struct cg_tape *tape;
    double eps, atol, rtol;
    uint64_t seed;
    int64_t total;   /* elements over all inputs */
    int64_t *offset; /* start of input i in the per-element arrays */
    /* shape of fn's output on the first call, and the reduction weights */
    int out_ndim;
    int64_t out_shape[CG_MAX_DIMS];
    int64_t out_numel;
    double *w;
};

/* Stores v (rounded to t's dtype) and returns the value actually stored. */
static double store(struct cg_tensor *t, int64_t k, double v)
{
    cg_tensor_set_at(t, k, v);
    return cg_tensor_at(t, k);
}

static bool options_ok(const struct cg_gradcheck_options *o)
{
    if (!o) return true;
    if (o->eps >= 0 && o->atol >= 0 && o->rtol >= 0 && isfinite(o->eps) && isfinite(o->atol) &&
        isfinite(o->rtol))
        return true;
    cg_misuse(FN, "options eps %g, atol %g, rtol %g: each must be finite and >= 0 (0 selects "
              "the dtype's default)", o->eps, o->atol, o->rtol);
    return false;
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

/* Describes a call of fn for messages: "first call", "call with input 1
 * element 5 at x+eps", ... */
static void describe_call(char *buf, size_t size, int call, int i, int64_t k, int sign)
{
    if (i < 0)
        snprintf(buf, size, "%s call", call == 0 ? "first" : "second");
    else
        snprintf(buf, size, "call with input %d element %" PRId64 " at x%seps", i, k,
                 sign > 0 ? "+" : "-");
}

/* Runs fn on a fresh step of the private tape and checks what it returned. */
static enum cg_status run_fn(struct check *c, const char *when, struct cg_tensor **out)
{
    cg_tape_reset(c->tape);
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
 * to the output's dtype (so the seed tensor holds exactly these values), or 1
 * for a single-element output. */
static enum cg_status make_weights(struct check *c, const struct cg_tensor *out)
{
    c->out_ndim = out->ndim;
    memcpy(c->out_shape, out->shape, sizeof c->out_shape);
    c->out_numel = out->numel;
    c->w = cg_malloc((size_t)(out->numel ? out->numel : 1) * sizeof *c->w, "gradcheck weights");
    if (!c->w) return CG_ERR_NOMEM;
    struct cg_rng rng = cg_rng_seed(c->seed);
    for (int64_t j = 0; j < out->numel; j++) {
        double u = out->numel == 1 ? 1.0 : 2.0 * cg_rng_uniform(&rng) - 1.0;
        c->w[j] = out->dtype == CG_F64 ? u : (double)(float)u;
    }
    return CG_OK;
}

static double reduce(const struct check *c, const struct cg_tensor *out)
{
    double f = 0;
    for (int64_t j = 0; j < out->numel; j++) f += cg_tensor_at(out, j) * c->w[j];
    return f;
}

/* One forward + backward with grad mode on; the inputs' gradients go to
 * grad[] and sum(out * w) to *f. */
static enum cg_status analytic(struct check *c, int call, double *grad, double *f)
{
    char when[96];
    describe_call(when, sizeof when, call, -1, 0, 0);
    for (int i = 0; i < c->n; i++) cg_tensor_zero_grad(c->in[i]);
    struct cg_tensor *out;
    enum cg_status st = run_fn(c, when, &out);
    if (st != CG_OK) return st;
    if (!c->w && (st = make_weights(c, out)) != CG_OK) return st;
    *f = reduce(c, out);
    /* An output that does not require grad has zero analytic gradient. */
    if (out->flags & CG_REQUIRES_GRAD) {
        struct cg_tensor *seed =
            cg_tensor_from_doubles(c->tape, out->dtype, out->ndim, out->shape, c->w);
        if (!seed) return CG_ERR_NOMEM;
        if ((st = cg_backward_seed(c->tape, out, seed)) != CG_OK) return st;
    }
    for (int i = 0; i < c->n; i++) {
        const struct cg_tensor *g = c->in[i]->grad;
        for (int64_t k = 0; k < c->in[i]->numel; k++)
            grad[c->offset[i] + k] = g ? cg_tensor_at(g, k) : 0;
    }
    return CG_OK;
}

static enum cg_status eval(struct check *c, int i, int64_t k, int sign, double *f)
{
    char when[96];
    describe_call(when, sizeof when, 0, i, k, sign);
    struct cg_tensor *out;
    enum cg_status st = run_fn(c, when, &out);
    if (st == CG_OK) *f = reduce(c, out);
    return st;
}

/* Central differences for every element, with grad mode off.  The step is
 * the one actually taken after rounding x+-eps to the dtype, which matters in
 * f32; each element is restored bit for bit. */
static enum cg_status numeric(struct check *c, double *num)
{
    cg_tape_set_grad_enabled(c->tape, false);
    for (int i = 0; i < c->n; i++) {
        struct cg_tensor *t = c->in[i];
        size_t esz = cg_dtype_size(t->dtype);
        for (int64_t k = 0; k < t->numel; k++) {
            unsigned char orig[sizeof(double)];
            unsigned char *p = (unsigned char *)t->data + (size_t)k * esz;
            memcpy(orig, p, esz);
            double x = cg_tensor_at(t, k), fp = 0, fm = 0;
            double xp = store(t, k, x + c->eps);
            enum cg_status st = eval(c, i, k, +1, &fp);
            double xm = store(t, k, x - c->eps);
            if (st == CG_OK) st = eval(c, i, k, -1, &fm);
            memcpy(p, orig, esz);
            if (st != CG_OK) return st;
            if (!(xp > xm))
                return cg_fail(CG_ERR_INVALID, FN ": eps %g is below the resolution of input %d "
                               "element %" PRId64 " (value %g, %s) (hint: use a larger eps or "
                               "CG_F64)", c->eps, i, k, x, cg_dtype_name(t->dtype));
            num[c->offset[i] + k] = (fp - fm) / (xp - xm);
        }
    }
    return CG_OK;
}

/* How far |a - n| is beyond its bound atol + rtol |n|; > 0 fails, NaN and
 * Inf count as infinitely bad. */
static double excess(const struct check *c, double a, double n)
{
    double d = fabs(a - n), bound = c->atol + c->rtol * fabs(n);
    if (d <= bound) return d - bound;
    double e = d - bound;
    return e > 0 && isfinite(e) ? e : INFINITY;
}

static void set_element(struct cg_gradcheck_report *r, int i, int64_t k, double a, double n)
{
    r->input = i;
    r->element = k;
    r->analytic = a;
    r->numeric = n;
    r->abs_err = fabs(a - n);
    r->rel_err = n != 0 ? r->abs_err / fabs(n) : (r->abs_err == 0 ? 0 : INFINITY);
}

/* Compares a second backward with the first; fills r on a mismatch. */
static bool same_twice(const struct check *c, const double *g1, const double *g2,
                       struct cg_gradcheck_report *r)
{
    for (int i = 0; i < c->n; i++) {
        for (int64_t k = 0; k < c->in[i]->numel; k++) {
            double a = g1[c->offset[i] + k], b = g2[c->offset[i] + k];
            if ((isnan(a) && isnan(b)) || fabs(a - b) <= 1e-3 * (c->atol + c->rtol * fabs(a)))
                continue;
            set_element(r, i, k, a, b);
            snprintf(r->message, sizeof r->message,
                     "gradcheck failed: backward is not deterministic: input %d element %" PRId64
                     ": first backward gave %.6g, second %.6g (hint: fn and every backward must "
                     "give the same result for the same inputs; no state may change between "
                     "calls)", i, k, a, b);
            return false;
        }
    }
    return true;
}

/* Finds the worst element and writes the verdict into r. */
static bool compare(const struct check *c, const double *ana, const double *num,
                    struct cg_gradcheck_report *r)
{
    int wi = -1, zi = -1; /* worst input; first failing input without gradient */
    int64_t wk = 0, zk = 0;
    double we = -INFINITY;
    for (int i = 0; i < c->n; i++) {
        const double *a = ana + c->offset[i], *n = num + c->offset[i];
        bool any_grad = false;
        int64_t ik = 0;
        double ie = -INFINITY;
        for (int64_t k = 0; k < c->in[i]->numel; k++) {
            double e = excess(c, a[k], n[k]);
            any_grad |= a[k] != 0;
            if (e > ie) ie = e, ik = k;
        }
        if (c->in[i]->numel > 0 && ie > we) we = ie, wi = i, wk = ik;
        if (!any_grad && ie > 0 && zi < 0) zi = i, zk = ik;
    }
    r->checked = c->total;
    if (wi < 0) {
        snprintf(r->message, sizeof r->message, "gradcheck passed: no elements to check");
        return true;
    }
    if (zi >= 0) wi = zi, wk = zk;
    set_element(r, wi, wk, ana[c->offset[wi] + wk], num[c->offset[wi] + wk]);
    bool ok = we <= 0;
    const char *name = c->in[wi]->name;
    char who[96];
    snprintf(who, sizeof who, "input %d%s%s%s", wi, name[0] ? " ('" : "", name, name[0] ? "')" : "");
    if (zi >= 0)
        snprintf(r->message, sizeof r->message,
                 "gradcheck failed: %s got no gradient (every analytic value is 0) but the "
                 "numeric gradient is not: element %" PRId64 " numeric %.6g (atol %g rtol %g) "
                 "(hint: does the output reach this input only through ops without backward, "
                 "or does a backward skip writing its gradient?)", who, wk, r->numeric, c->atol,
                 c->rtol);
    else
        snprintf(r->message, sizeof r->message,
                 "gradcheck %s: %s%s element %" PRId64 ": analytic %.6g numeric %.6g (abs err "
                 "%.3g, rel err %.3g, atol %g rtol %g)", ok ? "passed" : "failed",
                 ok ? "worst " : "", who, wk, r->analytic, r->numeric, r->abs_err, r->rel_err,
                 c->atol, c->rtol);
    return ok;
}

static enum cg_status save_inputs(const struct check *c, struct saved_input *s)
{
    for (int i = 0; i < c->n; i++) {
        const struct cg_tensor *t = c->in[i];
        s[i].requires_grad = (t->flags & CG_REQUIRES_GRAD) != 0;
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
static void restore_inputs(const struct check *c, struct saved_input *s)
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
        cg_free(s[i].grad_copy);
        s[i].grad_copy = NULL;
    }
}

static enum cg_status run_check(struct check *c, struct cg_gradcheck_report *r)
{
    for (int i = 0; i < c->n; i++) {
        enum cg_status st = cg_tensor_requires_grad(c->in[i], true);
        if (st != CG_OK) return st;
    }
    if (!(c->tape = cg_tape_new())) return CG_ERR_NOMEM;
    size_t bytes = (size_t)(c->total ? c->total : 1) * sizeof(double);
    double *g1 = cg_malloc(bytes, "gradcheck gradients");
    double *g2 = cg_malloc(bytes, "gradcheck gradients");
    enum cg_status st = g1 && g2 ? CG_OK : CG_ERR_NOMEM;
    double f1 = 0, f2 = 0;
    if (st == CG_OK) st = analytic(c, 0, g1, &f1);
    if (st == CG_OK) st = analytic(c, 1, g2, &f2);
    if (st == CG_OK) {
        r->checked = 0;
        if (!(f1 == f2 || (isnan(f1) && isnan(f2)) ||
              fabs(f1 - f2) <= 1e-3 * (c->atol + c->rtol * fabs(f1)))) {
            snprintf(r->message, sizeof r->message,
                     "gradcheck failed: fn is not deterministic: sum(out * w) was %.17g on the "
                     "first call and %.17g on the second", f1, f2);
            st = CG_ERR_GRADCHECK;
        } else if (!same_twice(c, g1, g2, r)) {
            st = CG_ERR_GRADCHECK;
        } else if ((st = numeric(c, g2)) == CG_OK && !compare(c, g1, g2, r)) {
            st = CG_ERR_GRADCHECK;
        }
    }
    cg_free(g1);
    cg_free(g2);
    return st;
}

enum cg_status cg_gradcheck(cg_gradcheck_fn fn, void *user, int n_inputs,
                            struct cg_tensor *const *inputs,
                            const struct cg_gradcheck_options *opts,
                            struct cg_gradcheck_report *report)
{
    struct cg_gradcheck_report local;
    struct cg_gradcheck_report *r = report ? report : &local;
    memset(r, 0, sizeof *r);
    r->input = -1;
    if (!inputs_ok(fn, n_inputs, inputs) || !options_ok(opts)) {
        snprintf(r->message, sizeof r->message, "%s", cg_last_error());
        return CG_ERR_INVALID;
    }
    bool f64 = inputs[0]->dtype == CG_F64;
    struct check c = {.fn = fn, .user = user, .n = n_inputs, .in = inputs};
    c.eps = opts && opts->eps > 0 ? opts->eps : f64 ? 1e-6 : 1e-3;
    c.atol = opts && opts->atol > 0 ? opts->atol : f64 ? 1e-5 : 1e-2;
    c.rtol = opts && opts->rtol > 0 ? opts->rtol : f64 ? 1e-3 : 1e-2;
    c.seed = opts ? opts->seed : 0;

    enum cg_status st = CG_ERR_NOMEM;
    struct saved_input *saved = cg_calloc((size_t)n_inputs, sizeof *saved, "gradcheck state");
    c.offset = cg_malloc((size_t)n_inputs * sizeof *c.offset, "gradcheck offsets");
    if (saved && c.offset) {
        for (int i = 0; i < n_inputs; i++) {
            c.offset[i] = c.total;
            c.total += inputs[i]->numel;
        }
        st = save_inputs(&c, saved);
        if (st == CG_OK) st = run_check(&c, r);
        restore_inputs(&c, saved);
    }
    cg_tape_free(c.tape);
    cg_free(c.w);
    cg_free(c.offset);
    cg_free(saved);

    r->passed = st == CG_OK;
    if (st == CG_ERR_GRADCHECK) return cg_fail(st, "%s", r->message);
    if (st != CG_OK) snprintf(r->message, sizeof r->message, "%s", cg_last_error());
    return st;
}
