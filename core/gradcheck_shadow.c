/* The f64 shadow of an f32 check: the f32 inputs are copied to f64, the
 * copy is gradient-checked at f64 tolerances, and the f32 forward and
 * gradients are compared with the f64 ones, which catches f32 precision
 * bugs that the loose f32 tolerances would hide. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "gradcheck_internal.h"

/* Per element, f32 may differ from f64 by this much: relative 1e-3, plus
 * 1e-4 of the largest f64 magnitude (f32 rounding through a deep network
 * stays far below both; a formula that differs does not). */
#define SHADOW_RTOL 1e-3
#define SHADOW_ATOL_REL 1e-4

static double max_abs(const double *v, int64_t n)
{
    double m = 0;
    for (int64_t j = 0; j < n; j++) m = fmax(m, fabs(v[j]));
    return m;
}

/* max |a - b| / max |b| over [0, n); *bad gets the first index beyond the
 * tolerance (-1: none). */
static double compare(const double *a, const double *b, int64_t n, int64_t *bad)
{
    double scale = max_abs(b, n), worst = 0;
    *bad = -1;
    for (int64_t j = 0; j < n; j++) {
        double d = fabs(a[j] - b[j]);
        if (!(d <= SHADOW_ATOL_REL * scale + SHADOW_RTOL * fabs(b[j])) && *bad < 0) *bad = j;
        if (scale > 0) worst = fmax(worst, d / scale);
        if (isnan(d)) worst = INFINITY;
    }
    return worst;
}

bool cg_gradcheck_shadow_compare(int n, struct cg_tensor *const *in, const char *const *names,
                                 const double *out32, const double *out64, int64_t n_out,
                                 const double *grad32, const double *grad64,
                                 struct cg_gradcheck_report *r)
{
    struct gc_check c = {.n = n, .in = in, .names = names};
    int64_t bad_out, bad = -1, at = 0;
    r->shadow = 1;
    r->shadow_out_err = compare(out32, out64, n_out, &bad_out);
    r->shadow_grad_err = 0;
    int bad_i = -1;
    for (int i = 0; i < n; i++) {
        int64_t b;
        double e = compare(grad32 + at, grad64 + at, in[i]->numel, &b);
        if (e >= r->shadow_grad_err && e > 0) {
            r->shadow_grad_err = e;
            gc_describe(r->shadow_worst, sizeof r->shadow_worst, &c, i, -1);
        }
        if (b >= 0 && bad_i < 0) bad_i = i, bad = b;
        at += in[i]->numel;
    }
    if (bad_out < 0 && bad_i < 0) {
        size_t len = strlen(r->message);
        if (r->passed || strncmp(r->message, "gradcheck passed", 16) == 0)
            snprintf(r->message + len, sizeof r->message - len, "; checked through the f64 "
                     "shadow of the f32 inputs: f32 agrees with it (max rel diff %.2g output, "
                     "%.2g gradients)", r->shadow_out_err, r->shadow_grad_err);
        return true;
    }
    r->hints |= CG_GRADCHECK_HINT_F32_DIFFERS;
    char where[CG_GRADCHECK_NAME_MAX];
    if (bad_i >= 0) {
        int64_t off = 0;
        for (int i = 0; i < bad_i; i++) off += in[i]->numel;
        gc_describe(where, sizeof where, &c, bad_i, bad);
        gc_describe(r->hint_input, sizeof r->hint_input, &c, bad_i, -1);
        snprintf(r->message, sizeof r->message, "gradcheck failed: the f64 shadow passes but "
                 "the f32 gradient differs from it: %s: f32 %.6g, f64 %.6g (max rel diff: "
                 "output %.3g, gradients %.3g; allowed %g of the largest value + %g relative)",
                 where, grad32[off + bad], grad64[off + bad], r->shadow_out_err,
                 r->shadow_grad_err, SHADOW_ATOL_REL, SHADOW_RTOL);
    } else {
        snprintf(r->hint_input, sizeof r->hint_input, "the output");
        snprintf(r->message, sizeof r->message, "gradcheck failed: the f64 shadow passes but "
                 "the f32 output differs from it: output element %lld: f32 %.6g, f64 %.6g (max "
                 "rel diff %.3g; allowed %g of the largest value + %g relative)",
                 (long long)bad_out, out32[bad_out], out64[bad_out], r->shadow_out_err,
                 SHADOW_ATOL_REL, SHADOW_RTOL);
    }
    gc_append_hints(r);
    return false;
}

/* cg_gradcheck with f64_shadow = 1 on f32 inputs. */
enum cg_status cg_gradcheck_shadowed(cg_gradcheck_fn fn, void *user, int n,
                                     struct cg_tensor *const *in,
                                     const struct cg_gradcheck_options *opts,
                                     struct cg_gradcheck_report *r)
{
    struct cg_tensor **in64 = cg_calloc((size_t)n, sizeof *in64, "gradcheck shadow");
    enum cg_status st = in64 ? CG_OK : CG_ERR_NOMEM;
    /* Copies keep the sharing: an input passed twice is one f64 tensor. */
    for (int i = 0; i < n && st == CG_OK; i++) {
        int j = 0;
        while (in[j] != in[i]) j++;
        in64[i] = j < i ? in64[j] : cg_tensor_to(NULL, in[i], CG_F64);
        if (!in64[i]) st = CG_ERR_NOMEM;
    }
    double *out32 = NULL, *grad32 = NULL, *out64 = NULL, *grad64 = NULL;
    int64_t n32 = 0, n64 = 0;
    uint64_t seed = opts ? opts->seed : 0;
    if (st == CG_OK) st = cg_gradcheck_snapshot(fn, user, n, in, seed, &out32, &n32, &grad32);
    /* The f64 copy gets the f64 defaults, whatever f32 tolerances were asked. */
    struct cg_gradcheck_options o64 = *opts;
    o64.eps = o64.atol = o64.rtol = 0;
    if (st == CG_OK) st = cg_gradcheck_run(fn, user, n, in64, &o64, r);
    enum cg_status snap = CG_OK;
    if (st == CG_OK || st == CG_ERR_GRADCHECK)
        snap = cg_gradcheck_snapshot(fn, user, n, in64, seed, &out64, &n64, &grad64);
    if (snap != CG_OK) st = snap;
    r->shadow = 2; /* 1 once compared */
    if (st == CG_OK && n32 == n64 &&
        !cg_gradcheck_shadow_compare(n, in64, opts->input_names, out32, out64, n32, grad32,
                                     grad64, r))
        st = CG_ERR_GRADCHECK;
    for (int i = 0; in64 && i < n; i++) {
        int j = 0;
        while (in[j] != in[i]) j++;
        if (j == i) cg_tensor_free(in64[i]);
    }
    cg_free(in64);
    cg_free(out32);
    cg_free(out64);
    cg_free(grad32);
    cg_free(grad64);
    return st;
}
