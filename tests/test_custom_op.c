/* User-defined ops through the public struct cg_op + cg_op_apply, written the
 * way a user of the library would (only <cgrad.h>): forward and backward
 * values against hand-derived numbers, gradient accumulation, saved tensors,
 * scalar parameters, arena scratch in rec->aux, a two-input op, grad mode off,
 * misuse messages naming the op, and cg_gradcheck on each op. */
#include "cg_test.h"

#include <math.h>
#include <string.h>

/* ---- op 1: y = s * softshrink(x, lambda); scalars {s, lambda}; saves the
 *      0/1 mask of |x| > lambda as a tape tensor in rec->saved[0] ---- */

static void scaled_shrink_forward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *y = rec->out;
    double s = rec->scalar[0], l = rec->scalar[1];
    struct cg_tensor *mask = cg_tensor_empty(rec->tape, x->dtype, x->ndim, x->shape);
    rec->saved[0] = mask;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = cg_tensor_at(x, i);
        double sh = v > l ? v - l : v < -l ? v + l : 0.0;
        cg_tensor_set_at(y, i, s * sh);
        if (mask) cg_tensor_set_at(mask, i, fabs(v) > l);
    }
}

static void scaled_shrink_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *y = rec->out, *mask = rec->saved[0];
    if (!x->grad) return;
    double s = rec->scalar[0];
    if (y->dtype == CG_F64) {
        double *gx = CG_F64P(x->grad);
        const double *gy = CG_F64P(y->grad), *m = CG_F64P(mask);
        for (int64_t i = 0; i < x->numel; i++) gx[i] += s * m[i] * gy[i];
    } else {
        float *gx = CG_F32P(x->grad);
        const float *gy = CG_F32P(y->grad), *m = CG_F32P(mask);
        for (int64_t i = 0; i < x->numel; i++) gx[i] += (float)s * m[i] * gy[i];
    }
}

static const struct cg_op scaled_shrink_op = {"scaled_shrink", scaled_shrink_forward,
                                              scaled_shrink_backward, 0};

static struct cg_tensor *scaled_shrink(struct cg_tape *tape, struct cg_tensor *x, double s,
                                       double lambda)
{
    double p[2] = {s, lambda};
    return cg_op_apply(tape, &scaled_shrink_op, 1, &x, x->dtype, x->ndim, x->shape, p, 2);
}

/* ---- op 2: z = a * b^2 elementwise (two inputs, same shape) ---- */

static void a_bsq_forward(struct cg_record *rec)
{
    const struct cg_tensor *a = rec->in[0], *b = rec->in[1];
    for (int64_t i = 0; i < a->numel; i++) {
        double bv = cg_tensor_at(b, i);
        cg_tensor_set_at(rec->out, i, cg_tensor_at(a, i) * bv * bv);
    }
}

static void a_bsq_backward(struct cg_record *rec)
{
    struct cg_tensor *a = rec->in[0], *b = rec->in[1];
    for (int64_t i = 0; i < a->numel; i++) {
        double g = cg_tensor_at(rec->out->grad, i), av = cg_tensor_at(a, i),
               bv = cg_tensor_at(b, i);
        if (a->grad) cg_tensor_set_at(a->grad, i, cg_tensor_at(a->grad, i) + g * bv * bv);
        if (b->grad) cg_tensor_set_at(b->grad, i, cg_tensor_at(b->grad, i) + g * 2 * av * bv);
    }
}

static const struct cg_op a_bsq_op = {"a_times_b_squared", a_bsq_forward, a_bsq_backward, 0};

static struct cg_tensor *a_bsq(struct cg_tape *tape, struct cg_tensor *a, struct cg_tensor *b)
{
    struct cg_tensor *in[2] = {a, b};
    return cg_op_apply(tape, &a_bsq_op, 2, in, a->dtype, a->ndim, a->shape, NULL, 0);
}

/* ---- op 3: y = x / ||x|| over a 1-D x; the norm is kept in arena scratch
 *      from cg_tape_alloc in rec->aux.  dx = (dy - y (y . dy)) / ||x|| ---- */

static void normalize_forward(struct cg_record *rec)
{
    const struct cg_tensor *x = rec->in[0];
    double *norm = cg_tape_alloc(rec->tape, sizeof *norm);
    rec->aux = norm;
    if (!norm) return;
    double ss = 0;
    for (int64_t i = 0; i < x->numel; i++) ss += cg_tensor_at(x, i) * cg_tensor_at(x, i);
    *norm = sqrt(ss);
    for (int64_t i = 0; i < x->numel; i++) cg_tensor_set_at(rec->out, i, cg_tensor_at(x, i) / *norm);
}

static void normalize_backward(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *y = rec->out;
    if (!x->grad) return;
    double norm = *(const double *)rec->aux, dot = 0;
    for (int64_t i = 0; i < y->numel; i++) dot += cg_tensor_at(y, i) * cg_tensor_at(y->grad, i);
    for (int64_t i = 0; i < x->numel; i++) {
        double g = (cg_tensor_at(y->grad, i) - cg_tensor_at(y, i) * dot) / norm;
        cg_tensor_set_at(x->grad, i, cg_tensor_at(x->grad, i) + g);
    }
}

static const struct cg_op normalize_op = {"l2_normalize", normalize_forward, normalize_backward,
                                          0};

static struct cg_tensor *normalize(struct cg_tape *tape, struct cg_tensor *x)
{
    return cg_op_apply(tape, &normalize_op, 1, &x, x->dtype, x->ndim, x->shape, NULL, 0);
}

/* ---- helpers ---- */

static struct cg_tensor *vec(enum cg_dtype dt, int64_t n, const double *v)
{
    return cg_tensor_from_doubles(NULL, dt, 1, &n, v);
}

static struct cg_tensor *seed_like(struct cg_tape *tape, const struct cg_tensor *t, const double *v)
{
    return cg_tensor_from_doubles(tape, t->dtype, t->ndim, t->shape, v);
}

/* ---- tests ---- */

/* x = [-2, -0.5, 0.25, 1.5, 3], lambda 0.5, s 2: softshrink = [-1.5, 0, 0, 1,
 * 2.5] (|x| = lambda is inside the band), y = [-3, 0, 0, 2, 5].  Upstream
 * [1..5]: dx = s * mask * dy = [2, 0, 0, 8, 10]; a second backward adds it
 * again. */
static void test_scaled_shrink_values(void **state)
{
    (void)state;
    static const double xv[5] = {-2, -0.5, 0.25, 1.5, 3}, dy[5] = {1, 2, 3, 4, 5};
    static const double y_want[5] = {-3, 0, 0, 2, 5}, g_want[5] = {2, 0, 0, 8, 10},
                        g_twice[5] = {4, 0, 0, 16, 20};
    static const enum cg_dtype dts[2] = {CG_F32, CG_F64};
    for (int d = 0; d < 2; d++) {
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *x = vec(dts[d], 5, xv);
        assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
        struct cg_tensor *y = scaled_shrink(tape, x, 2.0, 0.5);
        assert_non_null(y);
        assert_int_equal(y->dtype, dts[d]);
        assert_ptr_equal(y->tape, tape);
        assert_true(y->flags & CG_REQUIRES_GRAD);
        assert_int_equal(cg_tape_record_count(tape), 1);
        CG_ASSERT_TENSOR(y, y_want, 0, 0);
        assert_int_equal(cg_backward_seed_retain(tape, y, seed_like(tape, y, dy)), CG_OK);
        CG_ASSERT_TENSOR(x->grad, g_want, 0, 0);
        assert_int_equal(cg_backward_seed(tape, y, seed_like(tape, y, dy)), CG_OK);
        CG_ASSERT_TENSOR(x->grad, g_twice, 0, 0);
        cg_tensor_free(x);
        cg_tape_free(tape);
    }
}

/* The tensor the forward saved is still readable at backward time and holds
 * the mask; a chain through the op twice multiplies the scale factors. */
static void test_saved_tensor_and_chain(void **state)
{
    (void)state;
    static const double xv[3] = {-3, 0.1, 4}, dy[3] = {1, 1, 1};
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = vec(CG_F64, 3, xv);
    cg_tensor_requires_grad(x, true);
    /* y1 = 2 * shrink(x, 1) = [-4, 0, 6]; y2 = 0.5 * shrink(y1, 1) = [-1.5, 0, 2.5];
     * dy2/dx = 0.5 * [1,0,1] * 2 * [1,0,1] = [1, 0, 1]. */
    struct cg_tensor *y1 = scaled_shrink(tape, x, 2.0, 1.0);
    struct cg_tensor *y2 = scaled_shrink(tape, y1, 0.5, 1.0);
    assert_int_equal(cg_tape_record_count(tape), 2);
    CG_ASSERT_TENSOR(y2, ((const double[]){-1.5, 0, 2.5}), 0, 0);
    assert_int_equal(cg_backward_seed(tape, y2, seed_like(tape, y2, dy)), CG_OK);
    CG_ASSERT_TENSOR(x->grad, ((const double[]){1, 0, 1}), 0, 0);
    /* The intermediate's grad: 0.5 * mask(y1) = [0.5, 0, 0.5]. */
    assert_non_null(y1->grad);
    CG_ASSERT_TENSOR(y1->grad, ((const double[]){0.5, 0, 0.5}), 0, 0);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* a = [1, 2, -3], b = [0.5, -1, 2]: z = a b^2 = [0.25, 2, -12];
 * upstream [1, 1, 1]: da = b^2 = [0.25, 1, 4], db = 2ab = [1, -4, -12].
 * With only a requiring grad, b gets nothing. */
static void test_two_input_op(void **state)
{
    (void)state;
    static const double av[3] = {1, 2, -3}, bv[3] = {0.5, -1, 2}, ones[3] = {1, 1, 1};
    static const enum cg_dtype dts[2] = {CG_F32, CG_F64};
    for (int d = 0; d < 2; d++) {
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *a = vec(dts[d], 3, av), *b = vec(dts[d], 3, bv);
        cg_tensor_requires_grad(a, true);
        cg_tensor_requires_grad(b, true);
        struct cg_tensor *z = a_bsq(tape, a, b);
        CG_ASSERT_TENSOR(z, ((const double[]){0.25, 2, -12}), 0, 0);
        assert_int_equal(cg_backward_seed(tape, z, seed_like(tape, z, ones)), CG_OK);
        CG_ASSERT_TENSOR(a->grad, ((const double[]){0.25, 1, 4}), 0, 0);
        CG_ASSERT_TENSOR(b->grad, ((const double[]){1, -4, -12}), 0, 0);

        cg_tape_reset(tape);
        cg_tensor_requires_grad(b, false);
        cg_tensor_zero_grad(a);
        z = a_bsq(tape, a, b);
        assert_int_equal(cg_backward_seed(tape, z, seed_like(tape, z, ones)), CG_OK);
        CG_ASSERT_TENSOR(a->grad, ((const double[]){0.25, 1, 4}), 0, 0);
        assert_null(b->grad);
        cg_tensor_free(a);
        cg_tensor_free(b);
        cg_tape_free(tape);
    }
}

/* x = [3, 4]: ||x|| = 5, y = [0.6, 0.8]; upstream [1, 0]: y . dy = 0.6,
 * dx = ([1, 0] - 0.6 [0.6, 0.8]) / 5 = [0.128, -0.096].  The norm lives in
 * arena scratch: the arena grows by it, and a reset gives the memory back. */
static void test_aux_scratch_from_tape(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = vec(CG_F64, 2, (const double[]){3, 4});
    cg_tensor_requires_grad(x, true);
    size_t before = cg_tape_bytes_used(tape);
    struct cg_tensor *y = normalize(tape, x);
    assert_non_null(y);
    CG_ASSERT_TENSOR(y, ((const double[]){0.6, 0.8}), 1e-15, 0);
    /* header + data of y, plus at least one 64-byte block for the scratch */
    assert_true(cg_tape_bytes_used(tape) >= before + 64 + sizeof(struct cg_tensor) + 64);
    assert_int_equal(cg_backward_seed(tape, y, seed_like(tape, y, (const double[]){1, 0})), CG_OK);
    CG_ASSERT_TENSOR(x->grad, ((const double[]){0.128, -0.096}), 1e-15, 0);
    cg_tape_reset(tape);
    assert_int_equal(cg_tape_bytes_used(tape), 0);
    assert_int_equal(cg_tape_record_count(tape), 0);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* Grad mode off, or no input requiring grad: nothing is recorded, the output
 * needs no grad, and the forward still computes. */
static void test_no_record_without_grad(void **state)
{
    (void)state;
    static const double xv[3] = {-2, 0.2, 2};
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = vec(CG_F64, 3, xv), *c = vec(CG_F64, 3, xv);
    cg_tensor_requires_grad(x, true);
    assert_true(cg_tape_set_grad_enabled(tape, false));
    struct cg_tensor *y = scaled_shrink(tape, x, 3.0, 1.0);
    assert_int_equal(cg_tape_record_count(tape), 0);
    assert_false(y->flags & CG_REQUIRES_GRAD);
    CG_ASSERT_TENSOR(y, ((const double[]){-3, 0, 3}), 0, 0);
    struct cg_tensor *z = a_bsq(tape, x, x);
    assert_int_equal(cg_tape_record_count(tape), 0);
    CG_ASSERT_TENSOR(z, ((const double[]){-8, 0.008, 8}), 1e-15, 0);
    CG_EXPECT_MISUSE(cg_backward(tape, cg_sum(tape, y)), "does not require grad");

    assert_false(cg_tape_set_grad_enabled(tape, true));
    y = scaled_shrink(tape, c, 3.0, 1.0); /* c does not require grad */
    assert_int_equal(cg_tape_record_count(tape), 0);
    assert_false(y->flags & CG_REQUIRES_GRAD);
    y = scaled_shrink(tape, x, 3.0, 1.0);
    assert_int_equal(cg_tape_record_count(tape), 1);
    cg_tensor_free(x);
    cg_tensor_free(c);
    cg_tape_free(tape);
}

static const struct cg_op forward_only_op = {"forward_only", scaled_shrink_forward, NULL, 0};

/* Misuse of a custom op is reported under the op's own name. */
static void test_misuse_names_the_op(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *a = vec(CG_F32, 3, (const double[]){1, 2, 3});
    struct cg_tensor *b = vec(CG_F64, 3, (const double[]){1, 2, 3});
    struct cg_tensor *out = (struct cg_tensor *)1;
    CG_EXPECT_MISUSE(out = a_bsq(tape, a, b), "a_times_b_squared", "input 1", "is f64",
                     "computes in f32");
    assert_null(out);
    assert_int_equal(cg_tape_record_count(tape), 0);

    struct cg_tensor *in2[2] = {a, NULL};
    CG_EXPECT_MISUSE(cg_op_apply(tape, &a_bsq_op, 2, in2, CG_F32, 1, a->shape, NULL, 0),
                     "a_times_b_squared", "input 1 is NULL");
    CG_EXPECT_MISUSE(cg_op_apply(tape, &scaled_shrink_op, 1, &a, CG_F32, 1, a->shape,
                                 (const double[]){1, 2, 3, 4, 5}, 5),
                     "scaled_shrink", "5 scalars");

    /* An output of another tape. */
    struct cg_tape *other = cg_tape_new();
    struct cg_tensor *y = scaled_shrink(other, a, 1.0, 0.5);
    CG_EXPECT_MISUSE(scaled_shrink(tape, y, 1.0, 0.5), "scaled_shrink", "another tape");
    cg_tape_free(other);

    /* An op without backward cannot be recorded. */
    cg_tensor_requires_grad(a, true);
    double p[2] = {1, 0};
    CG_EXPECT_MISUSE(cg_op_apply(tape, &forward_only_op, 1, &a, CG_F32, 1, a->shape, p, 2),
                     "forward_only", "no backward");
    cg_tape_set_grad_enabled(tape, false);
    assert_non_null(cg_op_apply(tape, &forward_only_op, 1, &a, CG_F32, 1, a->shape, p, 2));
    cg_tensor_free(a);
    cg_tensor_free(b);
    cg_tape_free(tape);
}

/* ---- the custom ops pass cg_gradcheck in f64 (away from the shrink kinks) ---- */

static struct cg_tensor *shrink_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return scaled_shrink(t, in[0], -1.5, 0.5);
}
static struct cg_tensor *a_bsq_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return a_bsq(t, in[0], in[1]);
}
static struct cg_tensor *normalize_fn(struct cg_tape *t, struct cg_tensor *const *in, void *u)
{
    (void)u;
    return normalize(t, in[0]);
}

static void test_custom_ops_pass_gradcheck(void **state)
{
    (void)state;
    struct cg_tensor *x = vec(CG_F64, 6, (const double[]){-2, -0.7, -0.2, 0.1, 0.9, 3});
    struct cg_tensor *b = vec(CG_F64, 6, (const double[]){0.3, -1.2, 2, 0.5, -0.4, 1.1});
    struct cg_gradcheck_report rep;
    struct cg_tensor *in2[2] = {x, b};
    assert_int_equal(cg_gradcheck(shrink_fn, NULL, 1, &x, NULL, &rep), CG_OK);
    assert_true(rep.passed);
    assert_int_equal(rep.checked, 6);
    assert_int_equal(cg_gradcheck(a_bsq_fn, NULL, 2, in2, NULL, &rep), CG_OK);
    assert_int_equal(rep.checked, 12);
    assert_int_equal(cg_gradcheck(normalize_fn, NULL, 1, &b, NULL, &rep), CG_OK);
    assert_true(rep.passed);
    cg_tensor_free(x);
    cg_tensor_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scaled_shrink_values),
        cmocka_unit_test(test_saved_tensor_and_chain),
        cmocka_unit_test(test_two_input_op),
        cmocka_unit_test(test_aux_scratch_from_tape),
        cmocka_unit_test(test_no_record_without_grad),
        cmocka_unit_test(test_misuse_names_the_op),
        cmocka_unit_test(test_custom_ops_pass_gradcheck),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
