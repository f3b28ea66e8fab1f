/* The tape: backward rules and misuse, gradient accumulation, grad mode,
 * step lifetime, allocation-free training steps and anomaly mode.
 * MLP references were computed with torch 1.13 (float64) from the same
 * closed-form initial values (tests/test_tape.c: mlp_init). */
#include "cg_test.h"

#include <math.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define CG_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CG_TEST_ASAN 1
#endif
#endif
#ifdef CG_TEST_ASAN
#include <sanitizer/asan_interface.h>
#endif

static struct cg_tensor *leaf(enum cg_dtype dtype, int64_t n, const double *values)
{
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, dtype, 1, &n, values);
    assert_non_null(t);
    assert_int_equal(cg_tensor_requires_grad(t, true), CG_OK);
    return t;
}

static void test_backward_non_scalar_is_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F32, 3, (const double[]){1, 2, 3});
    struct cg_tensor *y = cg_square(tape, x);
    cg_tensor_set_name(y, "y");
    enum cg_status s = CG_OK;
    CG_EXPECT_MISUSE(s = cg_backward(tape, y), "cg_backward", "scalar", "[3] f32", "3 elements",
                     "cg_backward_seed");
    assert_int_equal(s, CG_ERR_INVALID);
    for (int i = 0; i < 3; i++) assert_true(cg_tensor_at(x->grad, i) == 0.0); /* untouched */
    cg_tensor_free(x);
    cg_tape_free(tape);
}

static void test_backward_without_grad_is_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_full(NULL, CG_F64, CG_SHAPE(1), 2.0);
    struct cg_tensor *y = cg_exp(tape, x);
    cg_tensor_set_name(y, "loss");
    assert_false(y->flags & CG_REQUIRES_GRAD);
    assert_int_equal(cg_tape_record_count(tape), 0); /* nothing needed recording */
    enum cg_status s = CG_OK;
    CG_EXPECT_MISUSE(s = cg_backward(tape, y), "cg_backward", "'loss'", "does not require grad",
                     "cg_tensor_requires_grad");
    assert_int_equal(s, CG_ERR_INVALID);
    CG_EXPECT_MISUSE(cg_backward(NULL, y), "cg_backward", "tape is NULL");
    CG_EXPECT_MISUSE(cg_backward(tape, NULL), "cg_backward", "NULL");
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* y = x*x + x uses x three times; d/dx sum(y) = 2x + 1. */
static void test_tensor_used_twice_accumulates(void **state)
{
    (void)state;
    const double xv[4] = {-1.5, 0.0, 0.5, 2.0};
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = d ? CG_F64 : CG_F32;
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *x = leaf(dt, 4, xv);
        struct cg_tensor *loss = cg_sum(tape, cg_add(tape, cg_mul(tape, x, x), x));
        assert_non_null(loss);
        assert_int_equal(cg_tape_record_count(tape), 3);
        CG_ASSERT_CLOSE(cg_tensor_item(loss), 2.25 + 0 + 0.25 + 4 - 1.5 + 0.5 + 2, 1e-6, 0);
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        const double want[4] = {-2.0, 1.0, 2.0, 5.0};
        CG_ASSERT_TENSOR(x->grad, want, 1e-6, 0);

        /* Diamond: e = exp(x) feeds both inputs of mul and an add:
         * d/dx sum(e*e + e) = 2 e^2x + e^x. */
        cg_tape_reset(tape);
        cg_tensor_zero_grad(x);
        struct cg_tensor *e = cg_exp(tape, x);
        loss = cg_sum(tape, cg_add(tape, cg_mul(tape, e, e), e));
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        for (int i = 0; i < 4; i++)
            CG_ASSERT_CLOSE(cg_tensor_at(x->grad, i), 2 * exp(2 * xv[i]) + exp(xv[i]), 1e-5, 1e-6);
        cg_tensor_free(x);
        cg_tape_free(tape);
    }
}

/* loss = x^2 / 2 for a scalar leaf: the leaf's grad accumulates over
 * backward calls and steps until zero_grad; an intermediate's grad is
 * recomputed by each backward. */
static void test_leaf_grads_accumulate_until_zero_grad(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F64, 1, (const double[]){3.0});
    struct cg_tensor *y = cg_square(tape, x);
    struct cg_tensor *loss = cg_mul_scalar(tape, y, 0.5); /* x^2 / 2: grad x */
    assert_int_equal(cg_backward_retain(tape, loss), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 3.0);
    assert_true(cg_tensor_item(y->grad) == 0.5);
    assert_true(cg_tensor_item(loss->grad) == 1.0);
    /* Second backward over the same records: the leaf accumulates, the
     * intermediates are recomputed (not doubled). */
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 6.0);
    assert_true(cg_tensor_item(y->grad) == 0.5);
    /* Next step: still accumulating until zero_grad. */
    cg_tape_reset(tape);
    loss = cg_mul_scalar(tape, cg_square(tape, x), 0.5);
    assert_int_equal(cg_backward_retain(tape, loss), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 9.0);
    cg_tensor_zero_grad(x);
    assert_true(cg_tensor_item(x->grad) == 0.0);
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 3.0);

    /* Backward from a persistent scalar leaf seeds its grad with 1. */
    cg_tensor_zero_grad(x);
    assert_int_equal(cg_backward(tape, x), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 1.0);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

static void test_backward_seed(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F64, 3, (const double[]){1, -2, 0.5});
    struct cg_tensor *y = cg_square(tape, x);
    struct cg_tensor *seed = cg_tensor_from_doubles(tape, CG_F64, CG_SHAPE(3),
                                                    (const double[]){1, 10, -4});
    assert_int_equal(cg_backward_seed(tape, y, seed), CG_OK);
    CG_ASSERT_TENSOR(x->grad, ((const double[]){2, -40, -4}), 0, 0); /* 2x * seed */
    struct cg_tensor *bad = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(3, 1));
    CG_EXPECT_MISUSE(cg_backward_seed(tape, y, bad), "cg_backward_seed", "[3,1] f64", "[3] f64");
    struct cg_tensor *bad_dtype = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(3));
    CG_EXPECT_MISUSE(cg_backward_seed(tape, y, bad_dtype), "cg_backward_seed", "[3] f32",
                     "[3] f64");
    cg_tensor_free(x);
    cg_tape_free(tape);
}

static void test_grad_mode_off_records_nothing(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F64, 3, (const double[]){1, 2, 3});
    assert_true(cg_tape_grad_enabled(tape));
    assert_true(cg_tape_set_grad_enabled(tape, false)); /* returns the old setting */
    assert_false(cg_tape_grad_enabled(tape));
    struct cg_tensor *y = cg_sqrt(tape, cg_square(tape, cg_add_scalar(tape, x, 1.0)));
    assert_int_equal(cg_tape_record_count(tape), 0);
    assert_false(y->flags & CG_REQUIRES_GRAD);
    assert_int_equal(y->record, -1);
    CG_ASSERT_TENSOR(y, ((const double[]){2, 3, 4}), 1e-15, 0); /* values still computed */
    CG_EXPECT_MISUSE(cg_backward(tape, cg_sum(tape, y)), "cg_backward", "does not require grad");

    /* A value computed without grad is a constant once grad mode is back on:
     * d/dx sum(c * x) with c = x^2 (no grad) is c, not 3x^2. */
    struct cg_tensor *c = cg_square(tape, x);
    assert_false(cg_tape_set_grad_enabled(tape, true));
    struct cg_tensor *loss = cg_sum(tape, cg_mul(tape, c, x));
    assert_int_equal(cg_tape_record_count(tape), 2);
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    CG_ASSERT_TENSOR(x->grad, ((const double[]){1, 4, 9}), 0, 0);
    assert_null(c->grad);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* Like PyTorch without retain_graph: a backward releases the records it
 * swept, so a second one through them is misuse and changes nothing. */
static void test_second_backward_is_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F64, 1, (const double[]){3.0});
    struct cg_tensor *y = cg_square(tape, x);
    cg_tensor_set_name(y, "y");
    struct cg_tensor *loss = cg_mul_scalar(tape, y, 0.5);
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 3.0);
    enum cg_status s = CG_OK;
    CG_EXPECT_MISUSE(s = cg_backward(tape, loss), "cg_backward", "second time", "mul_scalar",
                     "cg_backward_retain", "cg_tape_reset");
    assert_int_equal(s, CG_ERR_INVALID);
    assert_true(cg_tensor_item(x->grad) == 3.0); /* not doubled */
    /* Any later backward through a released record is caught too, here y's. */
    CG_EXPECT_MISUSE(s = cg_backward(tape, cg_sum(tape, y)), "cg_backward", "second time",
                     "'square'", "'y'");
    assert_int_equal(s, CG_ERR_INVALID);
    assert_true(cg_tensor_item(x->grad) == 3.0);
    /* A new branch from the leaf shares no released record. */
    assert_int_equal(cg_backward(tape, cg_mul_scalar(tape, x, 2.0)), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 5.0);
    /* The next step starts fresh. */
    cg_tape_reset(tape);
    assert_int_equal(cg_backward(tape, cg_mul_scalar(tape, cg_square(tape, x), 0.5)), CG_OK);
    assert_true(cg_tensor_item(x->grad) == 8.0);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* Two losses sharing h = tanh(x) in one step: retain the first backward, or
 * backward their sum; both give d(sum h + sum h^2)/dx = (1 + 2h)(1 - h^2). */
static void test_two_losses_one_step(void **state)
{
    (void)state;
    static const double xv[2] = {0.5, -1.25};
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F64, 2, xv);
    double want[2];
    for (int i = 0; i < 2; i++) {
        double h = tanh(xv[i]);
        want[i] = (1 + 2 * h) * (1 - h * h);
    }
    struct cg_tensor *h = cg_tanh(tape, x);
    struct cg_tensor *loss1 = cg_sum(tape, h), *loss2 = cg_sum(tape, cg_square(tape, h));
    assert_int_equal(cg_backward_retain(tape, loss1), CG_OK);
    assert_int_equal(cg_backward(tape, loss2), CG_OK);
    CG_ASSERT_TENSOR(x->grad, want, 1e-15, 1e-14);
    /* loss2's backward released tanh's record: loss1 again is misuse. */
    CG_EXPECT_MISUSE(cg_backward(tape, loss1), "cg_backward", "second time", "'tanh'");
    CG_ASSERT_TENSOR(x->grad, want, 1e-15, 1e-14);

    cg_tape_reset(tape);
    cg_tensor_zero_grad(x);
    h = cg_tanh(tape, x);
    struct cg_tensor *total = cg_add(tape, cg_sum(tape, h), cg_sum(tape, cg_square(tape, h)));
    assert_int_equal(cg_backward(tape, total), CG_OK);
    CG_ASSERT_TENSOR(x->grad, want, 1e-15, 1e-14);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* A loop that forgets cg_tape_reset: every step's records stay on the tape.
 * The 64th growing backward in a row is reported; with resets, never. */
static void test_growing_tape_without_reset_is_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *w = leaf(CG_F32, 3, (const double[]){1, 2, 3});
    cg_test_capture_misuse();
    cg_test_misuse_reset();
    for (int step = 1; step <= 200; step++) {
        assert_int_equal(cg_backward(tape, cg_sum(tape, cg_tanh(tape, w))), CG_OK);
        cg_tape_reset(tape);
    }
    assert_int_equal(cg_test_misuse_count(), 0);
    int first = 0;
    for (int step = 1; step <= 64 && !first; step++) {
        enum cg_status s = cg_backward(tape, cg_sum(tape, cg_tanh(tape, w)));
        if (cg_test_misuse_count() > 0) {
            first = step;
            assert_int_equal(s, CG_ERR_INVALID);
        } else {
            assert_int_equal(s, CG_OK);
        }
    }
    cg_test_release_misuse();
    assert_int_equal(first, 64);
    const char *m = cg_test_misuse_message();
    assert_non_null(strstr(m, "cg_backward"));
    assert_non_null(strstr(m, "without cg_tape_reset"));
    assert_non_null(strstr(m, "128 records"));
    cg_tensor_free(w);
    cg_tape_free(tape);
}

/* Tensors of a step die with cg_tape_reset; using one later is misuse.  In
 * ASan builds the released arena is poisoned instead, so ASan itself reports
 * such a use: check the poisoning there. */
static void test_stale_tensor_after_reset_is_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F32, 2, (const double[]){1, 2});
    struct cg_tensor *h = cg_tanh(tape, x);
    cg_tensor_set_name(h, "hidden");
    struct cg_tensor *loss = cg_sum(tape, h);
    struct cg_tensor *made = cg_tensor_ones(tape, CG_F32, CG_SHAPE(2));
    void *made_data = made->data;
    cg_tape_reset(tape);
#ifdef CG_TEST_ASAN
    assert_true(__asan_address_is_poisoned(h));
    assert_true(__asan_address_is_poisoned(loss));
    assert_true(__asan_address_is_poisoned(made));
    assert_true(__asan_address_is_poisoned(made_data));
#else
    (void)made_data;
    CG_EXPECT_MISUSE(cg_relu(tape, h), "relu", "'hidden'", "cg_tape_reset");
    CG_EXPECT_MISUSE(cg_mul(tape, x, made), "mul", "input 1", "cg_tape_reset");
    CG_EXPECT_MISUSE(cg_backward(tape, loss), "cg_backward", "cg_tape_reset");
    /* Reading or writing the released values is caught as well. */
    double v = 1.0;
    CG_EXPECT_MISUSE(v = cg_tensor_at(h, 0), "cg_tensor_at", "'hidden'", "cg_tape_reset",
                     "cg_tensor_copy(NULL");
    assert_true(v == 0.0);
    CG_EXPECT_MISUSE(v = cg_tensor_get(h, CG_INDEX(1)), "cg_tensor_get", "'hidden'");
    assert_true(v == 0.0);
    CG_EXPECT_MISUSE(v = cg_tensor_item(loss), "cg_tensor_item", "cg_tape_reset");
    assert_true(v == 0.0);
    CG_EXPECT_MISUSE(cg_tensor_set_at(made, 0, 5.0), "cg_tensor_set_at", "cg_tape_reset");
    char buf[256] = "";
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    CG_EXPECT_MISUSE(cg_tensor_print(h, f, -1), "cg_tensor_print", "'hidden'");
    fclose(f);
    assert_non_null(strstr(buf, "released by cg_tape_reset"));
    assert_null(strstr(buf, "= ["));
#endif
    assert_int_equal(cg_tape_record_count(tape), 0);
    /* Persistent tensors are fine in every step. */
    struct cg_tensor *y = cg_relu(tape, x);
    assert_non_null(y);
    assert_true(cg_tensor_at(y, 1) == 2.0);
    cg_tensor_free(x);
    cg_tape_free(tape);
}

static void test_other_tape_tensor_is_misuse(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new(), *other = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F64, 2, (const double[]){1, 2});
    struct cg_tensor *o = cg_tanh(other, x);
    cg_tensor_set_name(o, "o");
    CG_EXPECT_MISUSE(assert_null(cg_relu(tape, o)), "relu", "'o'", "another tape");
    CG_EXPECT_MISUSE(cg_backward(tape, cg_sum(other, o)), "cg_backward", "another tape");
    assert_int_equal(cg_tape_record_count(tape), 0);
    cg_tensor_free(x);
    cg_tape_free(other);
    cg_tape_free(tape);
}

/* ---- a small MLP trained by hand: zero allocations from step 2 ---- */

struct mlp {
    struct cg_tensor *x, *y, *w1, *b1, *w2, *b2;
};

static struct cg_tensor *filled(enum cg_dtype dt, int ndim, const int64_t *shape,
                                double (*f)(int64_t, int64_t), int64_t cols)
{
    struct cg_tensor *t = cg_tensor_empty(NULL, dt, ndim, shape);
    for (int64_t k = 0; k < t->numel; k++) cg_tensor_set_at(t, k, f(k / cols, k % cols));
    return t;
}
static double fx(int64_t i, int64_t j) { return sin(0.3 * (double)i + 0.7 * (double)j); }
static double fy(int64_t i, int64_t j) { return (void)j, 0.5 * cos(0.5 * (double)i); }
static double fw1(int64_t i, int64_t j) { return 0.4 * sin(1.3 * (double)(4 * i + j) + 0.2); }
static double fb1(int64_t i, int64_t j) { return (void)i, 0.1 * cos((double)j); }
static double fw2(int64_t i, int64_t j) { return (void)i, 0.3 * sin(0.9 * (double)j + 1.0); }
static double fb2(int64_t i, int64_t j) { return (void)i, (void)j, 0.05; }

static struct mlp mlp_init(enum cg_dtype dt)
{
    struct mlp m = {
        filled(dt, CG_SHAPE(16, 4), fx, 4), filled(dt, CG_SHAPE(16, 1), fy, 1),
        filled(dt, CG_SHAPE(8, 4), fw1, 4), filled(dt, CG_SHAPE(8), fb1, 8),
        filled(dt, CG_SHAPE(1, 8), fw2, 8), filled(dt, CG_SHAPE(1), fb2, 1),
    };
    struct cg_tensor *params[4] = {m.w1, m.b1, m.w2, m.b2};
    for (int i = 0; i < 4; i++) assert_int_equal(cg_tensor_requires_grad(params[i], true), CG_OK);
    return m;
}

static void mlp_free(struct mlp *m)
{
    cg_tensor_free(m->x), cg_tensor_free(m->y), cg_tensor_free(m->w1);
    cg_tensor_free(m->b1), cg_tensor_free(m->w2), cg_tensor_free(m->b2);
}

/* forward, zero_grad, backward, SGD update (lr 0.1), reset; returns the loss. */
static double mlp_step(struct cg_tape *tape, struct mlp *m)
{
    struct cg_tensor *h = cg_relu(tape, cg_linear(tape, m->x, m->w1, m->b1));
    struct cg_tensor *out = cg_linear(tape, h, m->w2, m->b2);
    struct cg_tensor *loss = cg_mean(tape, cg_square(tape, cg_sub(tape, out, m->y)));
    assert_non_null(loss);
    double value = cg_tensor_item(loss);
    struct cg_tensor *params[4] = {m->w1, m->b1, m->w2, m->b2};
    for (int i = 0; i < 4; i++) cg_tensor_zero_grad(params[i]);
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    for (int i = 0; i < 4; i++) {
        struct cg_tensor *p = params[i];
        for (int64_t k = 0; k < p->numel; k++)
            cg_tensor_set_at(p, k, cg_tensor_at(p, k) - 0.1 * cg_tensor_at(p->grad, k));
    }
    assert_int_equal(cg_tape_record_count(tape), 6);
    cg_tape_reset(tape);
    return value;
}

static const double torch_losses[10] = {
    0.11986010895268026, 0.10777932737349774, 0.0980325320949439, 0.0898316118204356,
    0.08259639188508348, 0.07590965313425795, 0.06993294935174571, 0.06455655330049903,
    0.0596979524070285,  0.05530002112974056};

static void test_mlp_matches_torch(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct mlp m = mlp_init(CG_F64);
    /* First step's gradients, before the update. */
    struct cg_tensor *h = cg_relu(tape, cg_linear(tape, m.x, m.w1, m.b1));
    struct cg_tensor *loss = cg_mean(
        tape, cg_square(tape, cg_sub(tape, cg_linear(tape, h, m.w2, m.b2), m.y)));
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    static const double gw2[8] = {0.1600519388241578,   0.01807245698363951, -0.03128895538561634,
                                  -0.07668476406913041, -0.03922648827482951, 0.13987533506199976,
                                  0.1357036465406795,   0.0062350472696876885};
    static const double gb1[8] = {0.05589498999361565,   0.023112775750299762,
                                  -0.011820965309034951, 0.04032456564118273,
                                  0.03389146675348869,   -0.018065662157930575,
                                  0.00917033215178848,   0.009704669065375177};
    CG_ASSERT_TENSOR(m.w2->grad, gw2, 1e-14, 1e-10);
    CG_ASSERT_TENSOR(m.b1->grad, gb1, 1e-14, 1e-10);
    CG_ASSERT_CLOSE(cg_tensor_item(m.b2->grad), -0.03227427872126401, 1e-14, 1e-10);
    cg_tape_reset(tape);
    for (int step = 0; step < 10; step++)
        CG_ASSERT_CLOSE(mlp_step(tape, &m), torch_losses[step], 1e-14, 1e-10);
    mlp_free(&m);
    cg_tape_free(tape);
}

static void test_training_step_allocates_nothing(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = d ? CG_F64 : CG_F32;
        struct cg_tape *tape = cg_tape_new();
        struct mlp m = mlp_init(dt);
        double first = mlp_step(tape, &m);
        size_t reserved = cg_tape_bytes_reserved(tape);
        assert_true(reserved > 0);
        size_t before = cg_alloc_count();
        double loss = first;
        for (int step = 2; step <= 10; step++) {
            double l = mlp_step(tape, &m);
            assert_true(l < loss); /* small lr on a smooth problem: monotone */
            loss = l;
            assert_int_equal(cg_tape_bytes_reserved(tape), reserved);
        }
        assert_int_equal(cg_alloc_count(), before);
        for (int step = 11; step <= 200; step++) loss = mlp_step(tape, &m);
        assert_true(loss < 0.25 * first);
        assert_int_equal(cg_alloc_count(), before);
        CG_ASSERT_CLOSE(first, torch_losses[0], 1e-6, 1e-5);
        mlp_free(&m);
        cg_tape_free(tape);
    }
}

/* ---- anomaly mode ---- */

static void test_anomaly_names_forward_op(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = leaf(CG_F64, 2, (const double[]){-1.0, 2.0});
    /* Off by default: NaN flows silently. */
    assert_false(cg_tape_set_anomaly(tape, false));
    struct cg_tensor *y = cg_log(tape, x);
    assert_true(isnan(cg_tensor_at(y, 0)));
    assert_int_equal(cg_tape_anomaly_status(tape), CG_OK);

    assert_false(cg_tape_set_anomaly(tape, true));
    cg_clear_error();
    struct cg_tensor *e = cg_exp(tape, x); /* finite: no report */
    assert_int_equal(cg_tape_anomaly_status(tape), CG_OK);
    assert_string_equal(cg_last_error(), "");
    y = cg_log(tape, e);
    assert_int_equal(cg_tape_anomaly_status(tape), CG_OK);
    y = cg_log(tape, x);
    assert_non_null(y);
    assert_int_equal(cg_tape_anomaly_status(tape), CG_ERR_NONFINITE);
    assert_non_null(strstr(cg_last_error(), "'log'"));
    assert_non_null(strstr(cg_last_error(), "non-finite"));
    assert_non_null(strstr(cg_last_error(), "[2] f64"));
    /* The first offender is kept. */
    cg_sqrt(tape, x);
    assert_non_null(strstr(cg_last_error(), "'log'"));
    /* reset clears the status */
    cg_tape_reset(tape);
    assert_int_equal(cg_tape_anomaly_status(tape), CG_OK);
    assert_true(cg_tape_set_anomaly(tape, false));
    cg_tensor_free(x);
    cg_tape_free(tape);
}

/* sqrt at 0 is finite forward (0) but its gradient 0.5/sqrt(x) is inf. */
static void test_anomaly_nonfinite_gradient(void **state)
{
    (void)state;
    for (int d = 0; d < 2; d++) {
        enum cg_dtype dt = d ? CG_F64 : CG_F32;
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *x = leaf(dt, 1, (const double[]){0.0});
        cg_tensor_set_name(x, "x");
        struct cg_tensor *loss = cg_mul_scalar(tape, cg_sqrt(tape, x), 2.0);
        assert_true(cg_tensor_item(loss) == 0.0);
        assert_int_equal(cg_backward(tape, loss), CG_OK); /* anomaly off: no check */
        assert_true(isinf(cg_tensor_item(x->grad)));

        cg_tensor_zero_grad(x);
        cg_tape_reset(tape);
        cg_tape_set_anomaly(tape, true);
        loss = cg_mul_scalar(tape, cg_sqrt(tape, x), 2.0);
        assert_int_equal(cg_tape_anomaly_status(tape), CG_OK); /* forward is finite */
        assert_int_equal(cg_backward(tape, loss), CG_ERR_NONFINITE);
        assert_non_null(strstr(cg_last_error(), "'sqrt'"));
        assert_non_null(strstr(cg_last_error(), "'x'"));
        assert_non_null(strstr(cg_last_error(), "non-finite gradient"));
        cg_tensor_free(x);
        cg_tape_free(tape);
    }
}

static void test_tape_alloc_and_stats(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    assert_int_equal(cg_tape_bytes_reserved(tape), 0);
    unsigned char *a = cg_tape_alloc(tape, 10);
    unsigned char *b = cg_tape_alloc(tape, 100);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal((uintptr_t)b % 64, 0);
    memset(a, 1, 10);
    memset(b, 2, 100);
    assert_int_equal(cg_tape_bytes_used(tape), 64 + 128);
    /* A request larger than the chunk gets its own chunk; after reset one
     * chunk of the high-water size replaces them. */
    size_t big = 3u << 20;
    unsigned char *c = cg_tape_alloc(tape, big);
    assert_non_null(c);
    memset(c, 3, big);
    assert_true(cg_tape_bytes_reserved(tape) >= big + 64 + 128);
    cg_tape_reset(tape);
    size_t reserved = cg_tape_bytes_reserved(tape);
    assert_true(reserved >= big + 64 + 128);
    size_t before = cg_alloc_count();
    assert_non_null(cg_tape_alloc(tape, 10));
    assert_non_null(cg_tape_alloc(tape, big));
    cg_tape_reset(tape);
    assert_int_equal(cg_alloc_count(), before);
    assert_int_equal(cg_tape_bytes_reserved(tape), reserved);
    CG_EXPECT_MISUSE(cg_tape_alloc(NULL, 8), "cg_tape_alloc", "NULL");
    cg_tape_free(tape);
    cg_tape_free(NULL);
    cg_tape_reset(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backward_non_scalar_is_misuse),
        cmocka_unit_test(test_backward_without_grad_is_misuse),
        cmocka_unit_test(test_tensor_used_twice_accumulates),
        cmocka_unit_test(test_leaf_grads_accumulate_until_zero_grad),
        cmocka_unit_test(test_backward_seed),
        cmocka_unit_test(test_second_backward_is_misuse),
        cmocka_unit_test(test_two_losses_one_step),
        cmocka_unit_test(test_growing_tape_without_reset_is_misuse),
        cmocka_unit_test(test_grad_mode_off_records_nothing),
        cmocka_unit_test(test_stale_tensor_after_reset_is_misuse),
        cmocka_unit_test(test_other_tape_tensor_is_misuse),
        cmocka_unit_test(test_mlp_matches_torch),
        cmocka_unit_test(test_training_step_allocates_nothing),
        cmocka_unit_test(test_anomaly_names_forward_op),
        cmocka_unit_test(test_anomaly_nonfinite_gradient),
        cmocka_unit_test(test_tape_alloc_and_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
