/* The catalog of correct layers that must pass with the default check:
 * relu, hardshrink, softshrink and abs exactly at their kinks, max with
 * ties (batch > 1, f64 and f32; counted and listed as non-differentiable
 * points, and failing with fail_on_kinks), a smooth layer in f32 and f64
 * (also through the f64 shadow), and an f32 op whose rounding defeats plain
 * central differences, which the error estimate passes without hiding a
 * sign or factor bug of the same op (the buggy catalog is in
 * test_gradcheck_catalog.c). */
#include "cg_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { B = 4 };

static double at(const struct cg_tensor *t, int64_t i) { return cg_tensor_at(t, i); }
static void add_at(struct cg_tensor *t, int64_t i, double v)
{
    cg_tensor_set_at(t, i, at(t, i) + v);
}

static struct cg_tensor *from(enum cg_dtype dt, int ndim, const int64_t *shape, const double *v)
{
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, dt, ndim, shape, v);
    assert_non_null(t);
    return t;
}

static void expect_caught(enum cg_status st, const struct cg_gradcheck_report *r, unsigned hint)
{
    if (st != CG_ERR_GRADCHECK) fail_msg("bug not caught (%s): %s", cg_status_str(st), r->message);
    if (!(r->hints & hint))
        fail_msg("expected hint 0x%x, got 0x%x: %s", hint, r->hints, r->message);
}

/* ---- correct ops at their kinks, batch > 1, both dtypes ---- */

struct kink_fn {
    const char *op;
    double lambda;
};

static struct cg_tensor *kink_apply(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    const struct kink_fn *k = user;
    if (!strcmp(k->op, "relu")) return cg_relu(t, in[0]);
    if (!strcmp(k->op, "abs")) return cg_abs(t, in[0]);
    if (!strcmp(k->op, "hardshrink")) return cg_hardshrink(t, in[0], k->lambda);
    if (!strcmp(k->op, "softshrink")) return cg_softshrink(t, in[0], k->lambda);
    return cg_max_dim(t, in[0], 1, false);
}

static void check_kinks(const char *op, double lambda, const double *v, int n_kinks)
{
    static const enum cg_dtype dts[2] = {CG_F64, CG_F32};
    struct kink_fn k = {op, lambda};
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = from(dts[d], CG_SHAPE(2, 4), v);
        struct cg_gradcheck_report r;
        enum cg_status st = cg_gradcheck(kink_apply, &k, 1, &x, NULL, &r);
        if (st != CG_OK) fail_msg("%s (%s) at its kinks: %s", op, cg_dtype_name(dts[d]), r.message);
        assert_int_equal(r.kinks, n_kinks);
        assert_int_equal(r.failed, 0);
        if (!n_kinks) { /* the central difference is itself a subgradient there */
            cg_tensor_free(x);
            continue;
        }
        assert_int_equal(r.n_kinks_shown,
                         n_kinks < CG_GRADCHECK_SHOWN ? n_kinks : CG_GRADCHECK_SHOWN);
        assert_true(r.kink[0].left != r.kink[0].right);
        assert_true(r.kink[0].analytic >= fmin(r.kink[0].left, r.kink[0].right) - 1e-2);
        assert_non_null(strstr(r.message, "kinks skipped"));
        /* ... and with fail_on_kinks they fail. */
        struct cg_gradcheck_options strict = {.fail_on_kinks = 1};
        assert_int_equal(cg_gradcheck(kink_apply, &k, 1, &x, &strict, &r), CG_ERR_GRADCHECK);
        assert_int_equal(r.failed, n_kinks);
        cg_tensor_free(x);
    }
}

static void test_relu_at_zero(void **state)
{
    (void)state;
    check_kinks("relu", 0, (const double[]){0, 1.5, -0.7, 0, -0.0, 0.3, 0, -1.2}, 4);
    /* Within eps of the kink but not on it (f64, eps 1e-6): the central
     * difference straddles it, the one-sided slopes still bracket relu'. */
    struct kink_fn k = {"relu", 0};
    struct cg_tensor *x = from(CG_F64, CG_SHAPE(2, 2), (const double[]){4e-7, -3e-7, 1, -1});
    struct cg_gradcheck_report r;
    if (cg_gradcheck(kink_apply, &k, 1, &x, NULL, &r) != CG_OK) fail_msg("%s", r.message);
    assert_int_equal(r.kinks, 2);
    cg_tensor_free(x);
}

/* abs'(0) = 0 and the central difference at 0 is 0 as well, so these
 * elements pass as they are, without the kink rule (and fail_on_kinks has
 * nothing to fail). */
static void test_abs_at_zero(void **state)
{
    (void)state;
    check_kinks("abs", 0, (const double[]){0, 1.5, -0.7, 0.4, -0.0, 0.3, 0.9, -1.2}, 0);
}

static void test_shrinks_at_lambda(void **state)
{
    (void)state;
    static const double v[8] = {0.5, -0.5, 1.25, -0.2, -0.5, 0.5, 0.1, -2};
    check_kinks("hardshrink", 0.5, v, 4);
    check_kinks("softshrink", 0.5, v, 4);
}

/* Row maxima with ties: [0.5, 2, 2, -1] and [3, 3, 3, 0]. */
static void test_max_with_ties(void **state)
{
    (void)state;
    check_kinks("max_dim", 0, (const double[]){0.5, 2, 2, -1, 3, 3, 3, 0}, 5);
}

/* ---- f32: rounding that plain central differences mistake for a bug ---- */

/* y = x + 3000 (an offset, like pixel values in 0..255 shifted by a mean
 * computed elsewhere); f32 holds y to 2.4e-4, which over the step 2e-3 is
 * up to 0.12 |w| of noise against atol + rtol |w| = 0.01 + 0.01 |w|. */
static void offset_forward(struct cg_record *rec)
{
    for (int64_t i = 0; i < rec->out->numel; i++)
        cg_tensor_set_at(rec->out, i, at(rec->in[0], i) + rec->scalar[0]);
}

static void offset_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0];
    if (!x->grad) return;
    for (int64_t i = 0; i < x->numel; i++)
        add_at(x->grad, i, rec->scalar[1] * at(rec->out->grad, i));
}

static const struct cg_op offset_op = {.name = "offset", .forward = offset_forward,
                                       .backward = offset_backward};

static struct cg_tensor *offset_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    double s[2] = {3000, *(const double *)user}; /* offset, gradient factor (1: correct) */
    return cg_op_apply(t, &offset_op, 1, in, in[0]->dtype, in[0]->ndim, in[0]->shape, s, 2);
}

static void test_f32_error_estimate(void **state)
{
    (void)state;
    struct cg_tensor *x = cg_test_randn(CG_F32, CG_SHAPE(B, 16), 40);
    double factor = 1;
    struct cg_gradcheck_report r;
    struct cg_gradcheck_options plain = {.no_error_estimate = 1};
    /* Without the estimate the correct op fails ... */
    assert_int_equal(cg_gradcheck(offset_fn, &factor, 1, &x, &plain, &r), CG_ERR_GRADCHECK);
    assert_true(r.failed > 0);
    /* ... with it (the default) it passes ... */
    if (cg_gradcheck(offset_fn, &factor, 1, &x, NULL, &r) != CG_OK)
        fail_msg("offset op with the estimate: %s", r.message);
    /* ... and a wrong sign or a 2x factor is still caught. */
    factor = -1;
    expect_caught(cg_gradcheck(offset_fn, &factor, 1, &x, NULL, &r), &r, CG_GRADCHECK_HINT_SIGN);
    assert_int_equal(r.failed, B * 16);
    assert_true(r.worst[0].err_est > 0 && r.worst[0].err_est < r.worst[0].abs_err);
    factor = 2;
    expect_caught(cg_gradcheck(offset_fn, &factor, 1, &x, NULL, &r), &r, CG_GRADCHECK_HINT_SCALE);
    cg_tensor_free(x);
}

/* A smooth layer, tanh(x W^T + b), passes in f64, in f32 at the f32
 * defaults, and in f32 through the f64 shadow. */
static struct cg_tensor *smooth_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return cg_tanh(t, cg_linear(t, in[0], in[1], in[2]));
}

static void test_smooth_layer_f32_and_f64(void **state)
{
    (void)state;
    static const enum cg_dtype dts[2] = {CG_F64, CG_F32};
    for (int d = 0; d < 2; d++) {
        struct cg_tensor *x = cg_test_randn(dts[d], CG_SHAPE(B, 3), 60),
                         *w = cg_test_randn(dts[d], CG_SHAPE(5, 3), 61),
                         *b = cg_test_randn(dts[d], CG_SHAPE(5), 62);
        struct cg_tensor *in[3] = {x, w, b};
        struct cg_gradcheck_report r;
        if (cg_gradcheck(smooth_fn, NULL, 3, in, NULL, &r) != CG_OK)
            fail_msg("%s: %s", cg_dtype_name(dts[d]), r.message);
        assert_int_equal(r.dtype, dts[d]);
        assert_int_equal(r.kinks, 0);
        assert_int_equal(r.checked, B * 3 + 15 + 5);
        struct cg_gradcheck_options shadow = {.f64_shadow = 1};
        if (cg_gradcheck(smooth_fn, NULL, 3, in, &shadow, &r) != CG_OK)
            fail_msg("%s with the shadow: %s", cg_dtype_name(dts[d]), r.message);
        assert_int_equal(r.shadow, dts[d] == CG_F32);
        assert_int_equal(r.dtype, CG_F64);
        if (dts[d] == CG_F32) {
            assert_true(r.shadow_out_err < 1e-5 && r.shadow_grad_err < 1e-5);
            assert_non_null(strstr(r.message, "f32 agrees with it"));
        }
        cg_tensor_free(x);
        cg_tensor_free(w);
        cg_tensor_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_relu_at_zero),
        cmocka_unit_test(test_abs_at_zero),
        cmocka_unit_test(test_shrinks_at_lambda),
        cmocka_unit_test(test_max_with_ties),
        cmocka_unit_test(test_smooth_layer_f32_and_f64),
        cmocka_unit_test(test_f32_error_estimate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
