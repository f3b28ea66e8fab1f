/* cg_gradcheck: passes for correct built-in ops in f64 and f32; catches a
 * wrong backward (report names the input and element, with the documented
 * values and message), a missing gradient, a nondeterministic backward or
 * forward; tolerances and defaults; misuse and error paths; inputs' data,
 * grads and flags restored bit for bit (leaks: run under the ASan build). */
#include "cg_test.h"

#include <math.h>
#include <string.h>

/* ---- deliberately broken custom ops ---- */

/* z = sum(a * b), a scalar.  scalar[0]: factor applied to element scalar[1]
 * of b's gradient; scalar[2] != 0: never write b's gradient. */
static void dot_forward(struct cg_record *rec)
{
    double s = 0;
    for (int64_t i = 0; i < rec->in[0]->numel; i++)
        s += cg_tensor_at(rec->in[0], i) * cg_tensor_at(rec->in[1], i);
    cg_tensor_set_at(rec->out, 0, s);
}

static void dot_backward(struct cg_record *rec)
{
    struct cg_tensor *a = rec->in[0], *b = rec->in[1];
    double g = cg_tensor_at(rec->out->grad, 0);
    for (int64_t i = 0; i < a->numel; i++) {
        if (a->grad) cg_tensor_set_at(a->grad, i, cg_tensor_at(a->grad, i) + g * cg_tensor_at(b, i));
        double f = i == (int64_t)rec->scalar[1] ? rec->scalar[0] : 1.0;
        if (b->grad && rec->scalar[2] == 0)
            cg_tensor_set_at(b->grad, i, cg_tensor_at(b->grad, i) + f * g * cg_tensor_at(a, i));
    }
}

static const struct cg_op dot_op = {"buggy_dot", dot_forward, dot_backward, 0};

struct dot_params {
    double factor, element, skip_b;
};

static struct cg_tensor *dot_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    const struct dot_params *p = user;
    double s[3] = {p->factor, p->element, p->skip_b};
    return cg_op_apply(t, &dot_op, 2, in, in[0]->dtype, 0, NULL, s, 3);
}

/* y = x^3 elementwise; the gradient of element scalar[0] is doubled. */
static void cube_forward(struct cg_record *rec)
{
    for (int64_t i = 0; i < rec->out->numel; i++)
        cg_tensor_set_at(rec->out, i, pow(cg_tensor_at(rec->in[0], i), 3));
}

static void cube_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0];
    for (int64_t i = 0; i < x->numel; i++) {
        double v = cg_tensor_at(x, i), f = i == (int64_t)rec->scalar[0] ? 2.0 : 1.0;
        double g = f * 3 * v * v * cg_tensor_at(rec->out->grad, i);
        cg_tensor_set_at(x->grad, i, cg_tensor_at(x->grad, i) + g);
    }
}

static const struct cg_op cube_op = {"buggy_cube", cube_forward, cube_backward, 0};

static struct cg_tensor *cube_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    double bad = *(const double *)user;
    return cg_op_apply(t, &cube_op, 1, in, in[0]->dtype, in[0]->ndim, in[0]->shape, &bad, 1);
}

/* y = x^2 whose backward adds 0.1 * (number of backward calls so far). */
static int backward_calls;

static void drift_forward(struct cg_record *rec)
{
    for (int64_t i = 0; i < rec->out->numel; i++) {
        double v = cg_tensor_at(rec->in[0], i);
        cg_tensor_set_at(rec->out, i, v * v);
    }
}

static void drift_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0];
    backward_calls++;
    for (int64_t i = 0; i < x->numel; i++) {
        double g = 2 * cg_tensor_at(x, i) * cg_tensor_at(rec->out->grad, i) + 0.1 * backward_calls;
        cg_tensor_set_at(x->grad, i, cg_tensor_at(x->grad, i) + g);
    }
}

static const struct cg_op drift_op = {"drifting_square", drift_forward, drift_backward, 0};

static struct cg_tensor *drift_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return cg_op_apply(t, &drift_op, 1, in, in[0]->dtype, in[0]->ndim, in[0]->shape, NULL, 0);
}

/* ---- functions of built-in ops ---- */

static struct cg_tensor *tanh_sigmoid_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_sigmoid(t, cg_tanh(t, in[0]));
}

static struct cg_tensor *mul_sum_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_sum(t, cg_mul(t, in[0], cg_tanh(t, in[1]))); /* [2,3] * [3] broadcast */
}

static struct cg_tensor *linear_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_tanh(t, cg_linear(t, in[0], in[1], in[2]));
}

static struct cg_tensor *matmul_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_matmul(t, in[0], in[1]);
}

static struct cg_tensor *mul_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_mul(t, in[0], in[1]);
}

static struct cg_tensor *identity_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)t, (void)u;
    return in[0];
}

static struct cg_tensor *relu_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_relu(t, in[0]);
}

/* tanh of an unrecorded copy: the output depends on x but has no history. */
static struct cg_tensor *detached_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_tanh(t, cg_tensor_copy(t, in[0]));
}

/* Returns NULL on call number *user (counting from 0) and the tanh before. */
static struct cg_tensor *null_on_call_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    int *calls_left = u;
    if ((*calls_left)-- == 0) return NULL;
    return cg_tanh(t, in[0]);
}

static int forward_calls;
static struct cg_tensor *drifting_forward_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_add_scalar(t, cg_tanh(t, in[0]), 0.5 * forward_calls++);
}

static struct cg_tensor *shape_changing_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    int *calls = u;
    struct cg_tensor *y = cg_tanh(t, in[0]);
    return (*calls)++ == 0 ? y : cg_sum(t, y);
}

static struct cg_tensor *bad_matmul_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return cg_matmul(t, in[0], in[0]); /* 1-D x 1-D: misuse, matmul needs 2-D */
}

static struct cg_tensor *foreign_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)t, (void)in;
    return u; /* a persistent tensor that is not an input */
}

/* ---- helpers ---- */

static struct cg_tensor *randn(enum cg_dtype dt, int ndim, const int64_t *shape, uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    return cg_tensor_randn(NULL, dt, ndim, shape, &rng);
}

static struct cg_tensor *vec(enum cg_dtype dt, int64_t n, const double *v)
{
    return cg_tensor_from_doubles(NULL, dt, 1, &n, v);
}

static void assert_passed(enum cg_status st, const struct cg_gradcheck_report *r, int64_t n)
{
    if (st != CG_OK) fail_msg("%s: %s", cg_status_str(st), r->message);
    assert_int_equal(r->passed, 1);
    assert_int_equal(r->checked, n);
    assert_int_equal(r->failed, 0);
    assert_true(r->abs_err <= 1e-5 + 1e-3 * fabs(r->numeric) || r->abs_err <= 1e-2 + 1e-2 * fabs(r->numeric));
    assert_true(r->max_abs_err == r->abs_err);
    assert_non_null(strstr(r->message, "gradcheck passed: "));
    assert_non_null(strstr(r->message, " elements checked in "));
    if (r->input >= 0) assert_non_null(strstr(r->message, "largest error"));
}

/* ---- passing checks ---- */

static void test_builtin_unary_f64_and_f32(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    struct cg_tensor *x = randn(CG_F64, CG_SHAPE(2, 3), 1);
    assert_passed(cg_gradcheck(tanh_sigmoid_fn, NULL, 1, &x, NULL, &r), &r, 6);
    assert_non_null(strstr(r.message, "atol 1e-05 rtol 0.001"));
    assert_true(r.abs_err < 1e-8); /* f64 central differences are far better than atol */
    cg_tensor_free(x);

    x = randn(CG_F32, CG_SHAPE(2, 3), 1);
    assert_passed(cg_gradcheck(tanh_sigmoid_fn, NULL, 1, &x, NULL, &r), &r, 6);
    assert_non_null(strstr(r.message, "atol 0.01 rtol 0.01"));
    cg_tensor_free(x);
}

static void test_builtin_binary_and_reductions(void **state)
{
    (void)state;
    static const enum cg_dtype dts[2] = {CG_F64, CG_F32};
    for (int d = 0; d < 2; d++) {
        struct cg_gradcheck_report r;
        struct cg_tensor *a = randn(dts[d], CG_SHAPE(2, 3), 2), *b = randn(dts[d], CG_SHAPE(3), 3);
        struct cg_tensor *ab[2] = {a, b};
        assert_passed(cg_gradcheck(mul_sum_fn, NULL, 2, ab, NULL, &r), &r, 9);

        struct cg_tensor *x = randn(dts[d], CG_SHAPE(4, 3), 4), *w = randn(dts[d], CG_SHAPE(2, 3), 5),
                         *bias = randn(dts[d], CG_SHAPE(2), 6);
        struct cg_tensor *xwb[3] = {x, w, bias};
        assert_passed(cg_gradcheck(linear_fn, NULL, 3, xwb, NULL, &r), &r, 12 + 6 + 2);

        struct cg_tensor *m = randn(dts[d], CG_SHAPE(3, 4), 7);
        struct cg_tensor *am[2] = {a, m};
        assert_passed(cg_gradcheck(matmul_fn, NULL, 2, am, NULL, &r), &r, 6 + 12);
        cg_tensor_free(a);
        cg_tensor_free(b);
        cg_tensor_free(x);
        cg_tensor_free(w);
        cg_tensor_free(bias);
        cg_tensor_free(m);
    }
}

/* x * x with the same tensor as both inputs: both paths accumulate into one
 * grad (2x), which is what perturbing the shared data measures. */
static void test_same_tensor_twice(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    struct cg_tensor *x = randn(CG_F64, CG_SHAPE(5), 8);
    struct cg_tensor *xx[2] = {x, x};
    assert_passed(cg_gradcheck(mul_fn, NULL, 2, xx, NULL, &r), &r, 10);
    assert_null(x->grad);
    assert_false(x->flags & CG_REQUIRES_GRAD);
    cg_tensor_free(x);
}

/* Returning an input is allowed: the gradient of sum(x * w) is w.  A
 * gradient that is legitimately all zero (relu of negatives) is no failure. */
static void test_identity_and_zero_gradient(void **state)
{
    (void)state;
    struct cg_gradcheck_report r;
    struct cg_tensor *x = randn(CG_F64, CG_SHAPE(3, 2), 9);
    assert_passed(cg_gradcheck(identity_fn, NULL, 1, &x, NULL, &r), &r, 6);
    cg_tensor_free(x);

    x = vec(CG_F64, 3, (const double[]){-1, -0.5, -2});
    assert_passed(cg_gradcheck(relu_fn, NULL, 1, &x, NULL, &r), &r, 3);
    assert_true(r.analytic == 0 && r.numeric == 0 && r.abs_err == 0 && r.rel_err == 0);
    /* Nothing to name: a passing check does not invent a "worst" element. */
    assert_int_equal(r.input, -1);
    assert_non_null(strstr(r.message, "every analytic value equals its numeric one"));
    cg_tensor_free(x);
}

/* ---- failing checks ---- */

/* b's gradient at element 5 is 3x too big: analytic 3 a5 = 1.5, numeric
 * a5 = 0.5 (scalar output, so w = 1); abs err 1, rel err 2. */
static void test_wrong_backward_reported_exactly(void **state)
{
    (void)state;
    double av[6] = {0.3, -1, 2, 0.7, -0.2, 0.5}, bv[6] = {1, 2, -1, 0.25, 3, -0.5};
    struct cg_tensor *a = vec(CG_F64, 6, av), *b = vec(CG_F64, 6, bv);
    struct cg_tensor *in[2] = {a, b};
    struct dot_params p = {3.0, 5, 0};
    struct cg_gradcheck_report r;
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in, NULL, &r), CG_ERR_GRADCHECK);
    assert_int_equal(r.passed, 0);
    assert_int_equal(r.input, 1);
    assert_int_equal(r.element, 5);
    CG_ASSERT_CLOSE(r.analytic, 1.5, 0, 0);
    CG_ASSERT_CLOSE(r.numeric, 0.5, 1e-9, 0);
    CG_ASSERT_CLOSE(r.abs_err, 1.0, 1e-9, 0);
    CG_ASSERT_CLOSE(r.rel_err, 2.0, 1e-8, 0);
    assert_int_equal(r.checked, 12);
    assert_int_equal(r.failed, 1);
    assert_int_equal(r.n_worst, 1);
    assert_string_equal(r.worst[0].name, "input 1[5]");
    assert_int_equal(r.worst[0].ndim, 1);
    assert_int_equal(r.worst[0].index[0], 5);
    assert_true(r.worst[0].err_est < 1e-8); /* f64: the 4-point estimate is tiny */
    assert_non_null(strstr(r.message, "gradcheck failed: 1 of 12 elements checked fail; worst "
                                      "input 1[5]: analytic 1.5 numeric 0.5 (abs err 1, rel err 2, "
                                      "est "));
    assert_non_null(strstr(r.message, "atol 1e-05 rtol 0.001)"));
    /* One wrong element is no constant factor over the failing ones?  It is:
     * the only failing element is 3x off, and the hint says so. */
    assert_true(r.hints & CG_GRADCHECK_HINT_SCALE);
    CG_ASSERT_CLOSE(r.scale, 3.0, 1e-6, 0);
    assert_string_equal(cg_last_error(), r.message);

    /* A tensor name shows up in the message; f32 catches it too. */
    cg_tensor_set_name(b, "weight");
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in, NULL, &r), CG_ERR_GRADCHECK);
    assert_non_null(strstr(r.message, "input 1 ('weight')[5]"));
    cg_tensor_free(a);
    cg_tensor_free(b);
    a = vec(CG_F32, 6, av);
    b = vec(CG_F32, 6, bv);
    struct cg_tensor *in32[2] = {a, b};
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in32, NULL, &r), CG_ERR_GRADCHECK);
    assert_int_equal(r.input, 1);
    assert_int_equal(r.element, 5);
    CG_ASSERT_CLOSE(r.numeric, 0.5, 1e-3, 0);
    assert_non_null(strstr(r.message, "atol 0.01 rtol 0.01"));
    /* report may be NULL */
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in32, NULL, NULL), CG_ERR_GRADCHECK);
    assert_non_null(strstr(cg_last_error(), "worst input 1[5]"));
    cg_tensor_free(a);
    cg_tensor_free(b);
}

/* Non-scalar output: f = sum(w * x^3) with w_j = 2 u_j - 1 from
 * cg_rng_seed(seed); element 2's gradient is doubled, so numeric
 * 3 w2 x2^2 and analytic twice that. */
static void test_wrong_backward_weighted(void **state)
{
    (void)state;
    static const double xv[4] = {0.5, -1.5, 1.2, 0.8};
    struct cg_tensor *x = vec(CG_F64, 4, xv);
    double bad = 2;
    struct cg_gradcheck_options o = {.seed = 77};
    struct cg_gradcheck_report r;
    assert_int_equal(cg_gradcheck(cube_fn, &bad, 1, &x, &o, &r), CG_ERR_GRADCHECK);
    struct cg_rng rng = cg_rng_seed(77);
    double w[4];
    for (int j = 0; j < 4; j++) w[j] = (double)(float)(2 * cg_rng_uniform(&rng) - 1);
    assert_int_equal(r.input, 0);
    assert_int_equal(r.element, 2);
    CG_ASSERT_CLOSE(r.numeric, 3 * w[2] * 1.44, 1e-8, 1e-8);
    CG_ASSERT_CLOSE(r.analytic, 6 * w[2] * 1.44, 1e-12, 1e-12);
    CG_ASSERT_CLOSE(r.rel_err, 1.0, 1e-6, 0);

    /* The same seed reproduces the report; another seed changes the weights. */
    struct cg_gradcheck_report r2;
    assert_int_equal(cg_gradcheck(cube_fn, &bad, 1, &x, &o, &r2), CG_ERR_GRADCHECK);
    assert_true(r2.analytic == r.analytic && r2.numeric == r.numeric);
    o.seed = 78;
    assert_int_equal(cg_gradcheck(cube_fn, &bad, 1, &x, &o, &r2), CG_ERR_GRADCHECK);
    assert_true(r2.analytic != r.analytic);

    /* With no element broken (index -1) it passes. */
    bad = -1;
    assert_passed(cg_gradcheck(cube_fn, &bad, 1, &x, &o, &r), &r, 4);
    cg_tensor_free(x);
}

/* |a - n| <= atol + rtol |n|: an error of 1e-3 at |n| = 0.5 fails the f64
 * defaults (bound 5.1e-4) and passes with rtol 1e-2 or atol 2e-3. */
static void test_tolerances(void **state)
{
    (void)state;
    struct cg_tensor *a = vec(CG_F64, 6, (const double[]){0.3, -1, 2, 0.7, -0.2, 0.5});
    struct cg_tensor *b = vec(CG_F64, 6, (const double[]){1, 2, -1, 0.25, 3, -0.5});
    struct cg_tensor *in[2] = {a, b};
    struct dot_params p = {1.002, 5, 0};
    struct cg_gradcheck_report r;
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in, NULL, &r), CG_ERR_GRADCHECK);
    assert_int_equal(r.element, 5);
    CG_ASSERT_CLOSE(r.abs_err, 1e-3, 1e-9, 0);
    struct cg_gradcheck_options o = {.rtol = 1e-2};
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in, &o, &r), CG_OK);
    assert_non_null(strstr(r.message, "atol 1e-05 rtol 0.01"));
    o = (struct cg_gradcheck_options){.atol = 2e-3};
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in, &o, &r), CG_OK);
    assert_int_equal(r.input, 1);
    assert_int_equal(r.element, 5); /* still the worst element */
    cg_tensor_free(a);
    cg_tensor_free(b);
}

static void test_no_gradient(void **state)
{
    (void)state;
    struct cg_tensor *a = vec(CG_F64, 3, (const double[]){1, -2, 0.5});
    struct cg_tensor *b = vec(CG_F64, 3, (const double[]){0.5, 1, 3});
    struct cg_tensor *in[2] = {a, b};
    struct dot_params p = {1, -1, 1}; /* backward never writes b's gradient */
    struct cg_gradcheck_report r;
    assert_int_equal(cg_gradcheck(dot_fn, &p, 2, in, NULL, &r), CG_ERR_GRADCHECK);
    assert_int_equal(r.input, 1);
    assert_int_equal(r.element, 1); /* |numeric| = |a| is largest at element 1 */
    CG_ASSERT_CLOSE(r.numeric, -2, 1e-9, 0);
    assert_true(r.analytic == 0);
    assert_non_null(strstr(r.message, "gradcheck failed: input 1 got no gradient"));
    assert_non_null(strstr(r.message, "input 1[1] numeric -2;"));
    assert_true(r.hints & CG_GRADCHECK_HINT_NO_GRADIENT);
    assert_int_equal(r.failed, 3);
    assert_string_equal(cg_last_error(), r.message);

    /* The output depends on x only through an unrecorded copy. */
    assert_int_equal(cg_gradcheck(detached_fn, NULL, 1, &a, NULL, &r), CG_ERR_GRADCHECK);
    assert_int_equal(r.input, 0);
    assert_non_null(strstr(r.message, "input 0 got no gradient"));
    cg_tensor_free(a);
    cg_tensor_free(b);
}

static void test_nondeterminism(void **state)
{
    (void)state;
    struct cg_tensor *x = vec(CG_F64, 3, (const double[]){0.5, -1, 2});
    struct cg_gradcheck_report r;
    backward_calls = 0;
    assert_int_equal(cg_gradcheck(drift_fn, NULL, 1, &x, NULL, &r), CG_ERR_GRADCHECK);
    assert_int_equal(backward_calls, 2); /* stopped after the two backward passes */
    assert_non_null(strstr(r.message, "backward is not deterministic: input 0[0]"));
    assert_true(r.hints & CG_GRADCHECK_HINT_NONDETERMINISTIC);
    assert_non_null(strstr(r.message, "hint: nondeterministic backward"));
    assert_int_equal(r.input, 0);
    assert_int_equal(r.element, 0);
    CG_ASSERT_CLOSE(r.numeric - r.analytic, 0.1, 1e-12, 0); /* second minus first */
    assert_int_equal(r.checked, 0);

    forward_calls = 0;
    assert_int_equal(cg_gradcheck(drifting_forward_fn, NULL, 1, &x, NULL, &r), CG_ERR_GRADCHECK);
    assert_non_null(strstr(r.message, "fn is not deterministic"));
    assert_int_equal(r.input, -1);
    cg_tensor_free(x);
}

/* y = x^2 whose backward gives NaN for element 0 */
static void nan_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0];
    for (int64_t i = 0; i < x->numel; i++) {
        double g = i == 0 ? NAN : 2 * cg_tensor_at(x, i) * cg_tensor_at(rec->out->grad, i);
        cg_tensor_set_at(x->grad, i, cg_tensor_at(x->grad, i) + g);
    }
}

static const struct cg_op nan_op = {.name = "nan_square", .forward = drift_forward,
                                    .backward = nan_backward};

static struct cg_tensor *nan_fn(struct cg_tape *t, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return cg_op_apply(t, &nan_op, 1, in, in[0]->dtype, in[0]->ndim, in[0]->shape, NULL, 0);
}

/* A NaN gradient fails in full mode and in fast mode (where it reaches the
 * probe's dot product) and is named. */
static void test_nan_gradient(void **state)
{
    (void)state;
    struct cg_tensor *x = randn(CG_F64, CG_SHAPE(2, 3), 11);
    struct cg_gradcheck_report r;
    struct cg_gradcheck_options o[2] = {{.mode = CG_GRADCHECK_FULL}, {.mode = CG_GRADCHECK_FAST}};
    for (int m = 0; m < 2; m++) {
        assert_int_equal(cg_gradcheck(nan_fn, NULL, 1, &x, &o[m], &r), CG_ERR_GRADCHECK);
        assert_int_equal(r.fast, m);
        assert_true(r.failed >= 1);
        assert_string_equal(r.worst[0].name, "input 0[0,0]");
        assert_true(isnan(r.worst[0].analytic));
    }
    cg_tensor_free(x);
}

/* ---- misuse and errors ---- */

static void test_misuse(void **state)
{
    (void)state;
    struct cg_tensor *x = vec(CG_F64, 2, (const double[]){1, 2});
    struct cg_tensor *x32 = vec(CG_F32, 2, (const double[]){1, 2});
    struct cg_gradcheck_report r;
    enum cg_status st = CG_OK;
    CG_EXPECT_MISUSE(st = cg_gradcheck(NULL, NULL, 1, &x, NULL, &r), "cg_gradcheck", "fn is NULL");
    assert_int_equal(st, CG_ERR_INVALID);
    assert_int_equal(r.passed, 0);
    assert_int_equal(r.input, -1);
    assert_non_null(strstr(r.message, "fn is NULL"));

    CG_EXPECT_MISUSE(st = cg_gradcheck(relu_fn, NULL, 0, &x, NULL, &r), "cg_gradcheck", "0 inputs");
    assert_int_equal(st, CG_ERR_INVALID);
    CG_EXPECT_MISUSE(cg_gradcheck(relu_fn, NULL, 1, NULL, NULL, &r), "cg_gradcheck", "NULL");
    struct cg_tensor *with_null[2] = {x, NULL};
    CG_EXPECT_MISUSE(cg_gradcheck(relu_fn, NULL, 2, with_null, NULL, &r), "input 1 is NULL");

    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *on_tape = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(2));
    cg_tensor_set_name(on_tape, "h");
    CG_EXPECT_MISUSE(st = cg_gradcheck(relu_fn, NULL, 1, &on_tape, NULL, &r), "cg_gradcheck",
                     "input 0 ('h') lives on a tape", "persistent");
    assert_int_equal(st, CG_ERR_INVALID);
    cg_tape_free(tape);

    struct cg_tensor *mixed[2] = {x, x32};
    CG_EXPECT_MISUSE(cg_gradcheck(mul_fn, NULL, 2, mixed, NULL, &r), "input 1", "is f32",
                     "input 0 is f64");
    struct cg_gradcheck_options o = {.eps = -1e-6};
    CG_EXPECT_MISUSE(st = cg_gradcheck(relu_fn, NULL, 1, &x, &o, &r), "eps -1e-06", ">= 0");
    assert_int_equal(st, CG_ERR_INVALID);
    o = (struct cg_gradcheck_options){.atol = NAN};
    CG_EXPECT_MISUSE(cg_gradcheck(relu_fn, NULL, 1, &x, &o, &r), "finite");

    /* fn returning a persistent tensor that is not an input */
    CG_EXPECT_MISUSE(st = cg_gradcheck(foreign_fn, x32, 1, &x, NULL, &r), "neither");
    assert_int_equal(st, CG_ERR_INVALID);
    /* a misuse inside fn is reported once (by the op), and the check stops */
    CG_EXPECT_MISUSE(st = cg_gradcheck(bad_matmul_fn, NULL, 1, &x32, NULL, &r), "matmul");
    assert_int_equal(st, CG_ERR_INVALID);
    assert_non_null(strstr(r.message, "fn returned NULL on its first call"));
    cg_tensor_free(x);
    cg_tensor_free(x32);
}

static void test_fn_errors(void **state)
{
    (void)state;
    struct cg_tensor *x = vec(CG_F64, 3, (const double[]){0.1, 0.2, 0.3});
    struct cg_gradcheck_report r;
    cg_clear_error();
    int calls_left = 0;
    cg_test_capture_misuse();
    cg_test_misuse_reset();
    assert_int_equal(cg_gradcheck(null_on_call_fn, &calls_left, 1, &x, NULL, &r), CG_ERR_INVALID);
    assert_int_equal(cg_test_misuse_count(), 0); /* not misuse of cg_gradcheck itself */
    assert_string_equal(cg_last_error(),
                        "cg_gradcheck: fn returned NULL on its first call (last error: none)");
    assert_string_equal(r.message, cg_last_error());
    /* four backward passes (first, again, pre-filled, doubled seed; the
     * sample-0 pass needs a 2-D output), then x0+, x0-, x1+, fail at x1- */
    calls_left = 4 + 3;
    assert_int_equal(cg_gradcheck(null_on_call_fn, &calls_left, 1, &x, NULL, &r), CG_ERR_INVALID);
    assert_non_null(strstr(cg_last_error(), "call with input 0[1] at x-eps"));
    assert_int_equal(cg_tensor_at(x, 1), 0.2); /* the perturbed element was put back */

    int calls = 0;
    assert_int_equal(cg_gradcheck(shape_changing_fn, &calls, 1, &x, NULL, &r), CG_ERR_INVALID);
    assert_non_null(strstr(r.message, "changed shape to [] f64 on its second call"));
    cg_test_release_misuse();
    cg_tensor_free(x);

    /* eps below the f32 spacing at 1e5 (0.0078) */
    struct cg_tensor *big = vec(CG_F32, 2, (const double[]){1e5, 1});
    struct cg_gradcheck_options o = {.eps = 1e-4};
    assert_int_equal(cg_gradcheck(relu_fn, NULL, 1, &big, &o, &r), CG_ERR_INVALID);
    assert_non_null(strstr(r.message, "eps 0.0001 is below the resolution of input 0[0]"));
    cg_tensor_free(big);
}

/* ---- restoring the inputs ---- */

static void check_restored(enum cg_status want, cg_gradcheck_fn fn, void *user)
{
    struct cg_tensor *a = vec(CG_F64, 6, (const double[]){0.3, -0.0, 2, 0.7, -0.2, 0.5});
    struct cg_tensor *b = vec(CG_F64, 6, (const double[]){1, 2, -1, 0.25, 3, -0.5});
    cg_tensor_requires_grad(a, true);
    for (int i = 0; i < 6; i++) cg_tensor_set_at(a->grad, i, 0.1 * i - 0.25);
    double a_data[6], a_grad[6], b_data[6];
    memcpy(a_data, a->data, sizeof a_data);
    memcpy(a_grad, a->grad->data, sizeof a_grad);
    memcpy(b_data, b->data, sizeof b_data);
    void *a_grad_ptr = a->grad;
    unsigned a_flags = a->flags, b_flags = b->flags;

    struct cg_tensor *in[2] = {a, b};
    struct cg_gradcheck_report r;
    assert_int_equal(cg_gradcheck(fn, user, 2, in, NULL, &r), want);

    assert_memory_equal(a->data, a_data, sizeof a_data); /* bitwise, -0.0 included */
    assert_memory_equal(b->data, b_data, sizeof b_data);
    assert_ptr_equal(a->grad, a_grad_ptr);
    assert_memory_equal(a->grad->data, a_grad, sizeof a_grad);
    assert_null(b->grad);
    assert_int_equal(a->flags, a_flags);
    assert_int_equal(b->flags, b_flags);
    cg_tensor_free(a);
    cg_tensor_free(b);
}

static struct cg_tensor *null_on_fifth(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    int *calls = u;
    return (*calls)++ == 4 ? NULL : dot_fn(t, in, &(struct dot_params){1, -1, 0});
}

static void test_inputs_restored(void **state)
{
    (void)state;
    struct dot_params good = {1, -1, 0}, bad = {3, 5, 0};
    check_restored(CG_OK, dot_fn, &good);
    check_restored(CG_ERR_GRADCHECK, dot_fn, &bad);
    int calls = 0;
    check_restored(CG_ERR_INVALID, null_on_fifth, &calls);
    assert_int_equal(calls, 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_unary_f64_and_f32),
        cmocka_unit_test(test_builtin_binary_and_reductions),
        cmocka_unit_test(test_same_tensor_twice),
        cmocka_unit_test(test_identity_and_zero_gradient),
        cmocka_unit_test(test_wrong_backward_reported_exactly),
        cmocka_unit_test(test_wrong_backward_weighted),
        cmocka_unit_test(test_tolerances),
        cmocka_unit_test(test_no_gradient),
        cmocka_unit_test(test_nondeterminism),
        cmocka_unit_test(test_nan_gradient),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_fn_errors),
        cmocka_unit_test(test_inputs_restored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
