/* The numeric side of the gradient check: the element test (central
 * difference, 4-point error estimate, one-sided slopes at kinks) and fast
 * mode (random directional probes, then localization within a budget). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "gradcheck_internal.h"

#define FN CG_GC_FN

/* Sets element k of t to x + delta (rounded to the dtype), evaluates f
 * there and puts the original bits back.  *step gets the change actually
 * stored.  keep_out: see gc_eval. */
static enum cg_status eval_at(struct gc_check *c, int i, int64_t k, double delta, bool keep_out,
                              double *f, double *step, double *round_est)
{
    struct cg_tensor *t = c->in[i];
    size_t esz = cg_dtype_size(t->dtype);
    unsigned char orig[sizeof(double)];
    unsigned char *p = (unsigned char *)t->data + (size_t)k * esz;
    memcpy(orig, p, esz);
    double x = cg_tensor_at(t, k);
    cg_tensor_set_at(t, k, x + delta);
    *step = cg_tensor_at(t, k) - x;
    char name[CG_GRADCHECK_NAME_MAX], when[CG_GRADCHECK_NAME_MAX + 48];
    gc_describe(name, sizeof name, c, i, k);
    snprintf(when, sizeof when, "call with %s at x%s%seps", name, delta > 0 ? "+" : "-",
             fabs(delta) > 1.5 * c->eps ? "2" : "");
    enum cg_status st = gc_eval(c, when, keep_out, f, round_est);
    memcpy(p, orig, esz);
    return st;
}

static enum cg_status resolution_error(const struct gc_check *c, int i, int64_t k)
{
    char name[CG_GRADCHECK_NAME_MAX];
    gc_describe(name, sizeof name, c, i, k);
    return cg_fail(CG_ERR_INVALID, FN ": eps %g is below the resolution of %s (value %g, %s) "
                   "(hint: use a larger eps or CG_F64)", c->eps, name, cg_tensor_at(c->in[i], k),
                   cg_dtype_name(c->in[i]->dtype));
}

/* Is the disagreement a kink?  The one-sided slopes l = (f(x) - f(x-h)) / h
 * and r = (f(x+h) - f(x)) / h disagree beyond tolerance and rounding.  A
 * smooth function gives |r - l| = h |f''|, far below tolerance unless the
 * curvature is huge, and then [l, r] is narrow around the true slope. */
static bool is_kink(const struct gc_check *c, double l, double r, double round_slope)
{
    return fabs(r - l) > gc_tol(c, fmax(fabs(l), fabs(r))) + 4 * round_slope;
}

enum cg_status gc_check_element(struct gc_check *c, int i, int64_t k,
                                struct cg_gradcheck_report *r)
{
    int64_t at = c->offset[i] + k;
    double a = c->ana[at], h = c->eps, fp, fm, sp, sm, round1;
    enum cg_status st = eval_at(c, i, k, +h, true, &fp, &sp, NULL);
    if (st == CG_OK) st = eval_at(c, i, k, -h, false, &fm, &sm, &round1);
    if (st != CG_OK) return st;
    if (!(sp > sm)) return resolution_error(c, i, k);
    double c1 = (fp - fm) / (sp - sm);
    c->num[at] = c1;
    c->est[at] = round1 / (sp - sm);
    r->checked++;
    double d = fabs(a - c1), tol = gc_tol(c, c1);
    if (d <= tol) {
        c->state[at] = GC_PASS;
        return CG_OK;
    }
    double fp2, fm2, sp2, sm2, round2;
    st = eval_at(c, i, k, +2 * h, true, &fp2, &sp2, NULL);
    if (st == CG_OK) st = eval_at(c, i, k, -2 * h, false, &fm2, &sm2, &round2);
    if (st != CG_OK) return st;
    double c2 = (fp2 - fm2) / (sp2 - sm2), d4 = (4 * c1 - c2) / 3;
    c->est[at] = fabs(c1 - d4) + round1 / (sp - sm);
    if (!c->no_estimate && d <= tol + c->est[at]) {
        c->state[at] = GC_PASS;
        return CG_OK;
    }
    double l = (c->f0 - fm) / -sm, rs = (fp - c->f0) / sp;
    c->state[at] = GC_FAIL;
    if (is_kink(c, l, rs, round1 / sp)) {
        double tol_lr = gc_tol(c, fmax(fabs(l), fabs(rs)));
        if (a >= fmin(l, rs) - tol_lr && a <= fmax(l, rs) + tol_lr) {
            struct cg_gradcheck_element e;
            gc_element(c, i, k, a, c1, &e);
            e.left = l;
            e.right = rs;
            e.err_est = c->est[at];
            gc_add_kink(r, &e);
            if (!c->fail_on_kinks) c->state[at] = GC_KINK;
        }
    }
    return CG_OK;
}

enum cg_status gc_numeric_full(struct gc_check *c, struct cg_gradcheck_report *r)
{
    for (int i = 0; i < c->n; i++)
        for (int64_t k = 0; k < c->in[i]->numel; k++) {
            enum cg_status st = gc_check_element(c, i, k, r);
            if (st != CG_OK) return st;
        }
    return CG_OK;
}

/* ---- fast mode ---- */

struct probe {
    double *dir;       /* +-1 per element, 0 outside the probed inputs */
    unsigned char **orig; /* saved data of each input */
};

/* Moves every probed element by s * eps * dir (rounded), evaluates, and
 * puts the data back; *dot = sum of analytic * step actually taken. */
static enum cg_status eval_dir(struct gc_check *c, struct probe *p, double s, bool keep_out,
                               double *f, double *dot, double *round_est)
{
    double sum = 0;
    for (int i = 0; i < c->n; i++) {
        if (gc_first_use(c, i) != i) continue; /* a repeated input moves once */
        struct cg_tensor *t = c->in[i];
        for (int64_t k = 0; k < t->numel; k++) {
            double u = p->dir[c->offset[i] + k];
            if (u == 0) continue;
            double x = cg_tensor_at(t, k);
            cg_tensor_set_at(t, k, x + s * c->eps * u);
            sum += c->ana[c->offset[i] + k] * (cg_tensor_at(t, k) - x);
        }
    }
    enum cg_status st =
        gc_eval(c, "call along a fast-mode probe direction", keep_out, f, round_est);
    for (int i = 0; i < c->n; i++)
        memcpy(c->in[i]->data, p->orig[i],
               (size_t)c->in[i]->numel * cg_dtype_size(c->in[i]->dtype));
    *dot = sum;
    return st;
}

/* One probe along p->dir: *failed says whether g . u disagrees with the
 * central difference; *err is the disagreement. */
static enum cg_status run_probe(struct gc_check *c, struct probe *p, bool *failed, bool *kink,
                                double *err)
{
    *kink = false;
    double fp, fm, dp, dm, round1;
    enum cg_status st = eval_dir(c, p, +1, true, &fp, &dp, NULL);
    if (st == CG_OK) st = eval_dir(c, p, -1, false, &fm, &dm, &round1);
    if (st != CG_OK) return st;
    double scale = 2 * c->eps, num = (fp - fm) / scale, ana = (dp - dm) / scale;
    double tol = gc_tol(c, num);
    *err = fabs(ana - num);
    *failed = false;
    if (*err <= tol) return CG_OK;
    double fp2, fm2, dp2, dm2;
    st = eval_dir(c, p, +2, true, &fp2, &dp2, NULL);
    if (st == CG_OK) st = eval_dir(c, p, -2, false, &fm2, &dm2, NULL);
    if (st != CG_OK) return st;
    double num2 = (fp2 - fm2) / (2 * scale);
    double est = fabs(num - num2) / 3 + round1 / scale;
    *failed = c->no_estimate || !(*err <= tol + est); /* NaN fails */
    /* Along u the step may cross a kink of some unit (a relu at 0): the
     * one-sided slopes show it; such a probe says nothing either way. */
    double h = c->eps, l = (c->f0 - fm) / h, rs = (fp - c->f0) / h;
    *kink = *failed && !c->fail_on_kinks && is_kink(c, l, rs, round1 / h);
    if (*kink) *failed = false;
    return CG_OK;
}

/* A random unit direction with entries +-1/sqrt(n) over the probed inputs
 * (all, or only input `only`), as PyTorch's fast mode: each element moves
 * by eps/sqrt(n), so few units of a big model cross a kink. */
static void random_dir(const struct gc_check *c, struct probe *p, int only, uint64_t seed,
                       int64_t *n_dir)
{
    struct cg_rng rng = cg_rng_seed(seed);
    *n_dir = 0;
    for (int i = 0; i < c->n; i++)
        for (int64_t k = 0; k < c->in[i]->numel; k++) {
            bool on = (only < 0 || only == i) && gc_first_use(c, i) == i;
            double u = cg_rng_uniform(&rng) < 0.5 ? -1.0 : 1.0;
            p->dir[c->offset[i] + k] = on ? u : 0.0;
            *n_dir += on;
        }
    double norm = 1 / sqrt((double)(*n_dir ? *n_dir : 1));
    for (int64_t k = 0; k < c->total; k++) p->dir[k] *= norm;
}

/* Element tests on a spread of up to m elements of input i. */
static enum cg_status localize(struct gc_check *c, int i, int64_t m, struct cg_rng *rng,
                               struct cg_gradcheck_report *r)
{
    int64_t n = c->in[i]->numel;
    if (m >= n) {
        for (int64_t k = 0; k < n; k++) {
            enum cg_status st = gc_check_element(c, i, k, r);
            if (st != CG_OK) return st;
        }
        return CG_OK;
    }
    for (int64_t j = 0; j < m; j++) {
        int64_t lo = j * n / m, hi = (j + 1) * n / m;
        int64_t k = lo + (int64_t)(cg_rng_uniform(rng) * (double)(hi - lo));
        enum cg_status st = gc_check_element(c, i, k < hi ? k : lo, r);
        if (st != CG_OK) return st;
    }
    return CG_OK;
}

static enum cg_status fast_probes(struct gc_check *c, struct probe *p,
                                  struct cg_gradcheck_report *r)
{
    int64_t n_dir;
    enum cg_status st = CG_OK;
    /* A probe across a kink is replaced by another one, up to `probes` times. */
    for (int q = 0, done = 0; done < c->probes && q < 2 * c->probes && st == CG_OK; q++) {
        random_dir(c, p, -1, c->seed + 0x5851f42d4c957f2du * (uint64_t)(q + 1), &n_dir);
        bool failed, kink;
        double err;
        st = run_probe(c, p, &failed, &kink, &err);
        if (kink) {
            r->kinks++;
            continue;
        }
        done++;
        r->probes++;
        r->probes_failed += failed;
        r->max_abs_err = fmax(r->max_abs_err, err);
    }
    /* Every probe crossed a kink: nothing was learnt, localize instead. */
    if (st != CG_OK || (!r->probes_failed && r->probes)) return st;
    /* Which inputs?  One probe each, then elements of the failing ones. */
    bool *bad = cg_calloc((size_t)c->n, sizeof *bad, "gradcheck fast mode");
    if (!bad) return CG_ERR_NOMEM;
    int n_bad = 0;
    for (int i = 0; i < c->n && st == CG_OK; i++) {
        if (gc_first_use(c, i) != i || !c->in[i]->numel) continue;
        random_dir(c, p, i, c->seed + 0x2545f4914f6cdd1du * (uint64_t)(i + 1), &n_dir);
        double err;
        bool kink;
        st = run_probe(c, p, &bad[i], &kink, &err);
        n_bad += bad[i];
    }
    struct cg_rng rng = cg_rng_seed(c->seed ^ 0xda942042e4dd58b5u);
    int64_t left = c->max_evals - c->evals;
    for (int i = 0; i < c->n && st == CG_OK; i++) {
        if (n_bad ? !bad[i] : gc_first_use(c, i) != i) continue;
        int64_t m = left / (4 * (n_bad ? n_bad : c->n));
        st = localize(c, i, m > 1 ? m : 1, &rng, r);
    }
    cg_free(bad);
    return st;
}

enum cg_status gc_numeric_fast(struct gc_check *c, struct cg_gradcheck_report *r)
{
    r->fast = 1;
    struct probe p = {0};
    p.dir = cg_malloc((size_t)(c->total ? c->total : 1) * sizeof *p.dir, "gradcheck fast mode");
    p.orig = cg_calloc((size_t)c->n, sizeof *p.orig, "gradcheck fast mode");
    enum cg_status st = p.dir && p.orig ? CG_OK : CG_ERR_NOMEM;
    for (int i = 0; i < c->n && st == CG_OK; i++) {
        size_t bytes = (size_t)c->in[i]->numel * cg_dtype_size(c->in[i]->dtype);
        if (!(p.orig[i] = cg_malloc(bytes ? bytes : 1, "gradcheck fast mode")))
            st = CG_ERR_NOMEM;
        else
            memcpy(p.orig[i], c->in[i]->data, bytes);
    }
    if (st == CG_OK) st = fast_probes(c, &p, r);
    for (int i = 0; p.orig && i < c->n; i++) cg_free(p.orig[i]);
    cg_free(p.orig);
    cg_free(p.dir);
    return st;
}
