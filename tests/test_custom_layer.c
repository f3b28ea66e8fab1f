/* The user-written LearnableShrink layer of examples/custom_layer, tested as a
 * user would test their own layer: forward/backward values at hand-derived
 * points (checked against PyTorch's autograd of the same formula) in f32 and
 * f64, the kinks exactly, cg_gradcheck in f64 (and that it catches broken
 * backwards), and that the layer works with Sequential, SGD and checkpoints
 * like a built-in one. */
#include "cg_test.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The layer's source, so its static kernels can be reused by the broken
 * variants below and no CMake change is needed. */
#include "../examples/custom_layer/learnable_shrink.c"

static const enum cg_dtype dtypes[2] = {CG_F32, CG_F64};

static struct cg_tensor *tensor2(enum cg_dtype dt, int64_t r, int64_t c, const double *v)
{
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, dt, CG_SHAPE(r, c), v);
    assert_non_null(t);
    return t;
}

static struct cg_tensor *vec(enum cg_dtype dt, int64_t n, const double *v)
{
    struct cg_tensor *t = cg_tensor_from_doubles(NULL, dt, 1, &n, v);
    assert_non_null(t);
    return t;
}

/* x [2,4], t = [0.5, -0.25, 0.25, 1] (|t| = [0.5, 0.25, 0.25, 1]), upstream
 * 1..8.  Row 0: -2 -> -1.5, -0.5 -> -0.25, 0.25 on the kink -> 0, 1.5 -> 0.5;
 * row 1: all inside the band except -3 -> -2.  dx = dy outside the band;
 * dt_j = sum_r -sign(x) sign(t_j) dy: [+1, -2, 0, -4 + 8].  Same numbers as
 * torch.where(x > |t|, x - |t|, where(x < -|t|, x + |t|, 0)).backward(dy).
 * Every value is exact in f32, so both dtypes compare exactly. */
static void test_values_both_dtypes(void **state)
{
    (void)state;
    static const double xv[8] = {-2, -0.5, 0.25, 1.5, 0.3, 0.2, -0.1, -3};
    static const double tv[4] = {0.5, -0.25, 0.25, 1.0};
    static const double dy[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    static const double y_want[8] = {-1.5, -0.25, 0, 0.5, 0, 0, 0, -2};
    static const double gx_want[8] = {1, 2, 0, 4, 0, 0, 0, 8};
    static const double gt_want[4] = {1, -2, 0, 4};
    for (int d = 0; d < 2; d++) {
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *x = tensor2(dtypes[d], 2, 4, xv), *t = vec(dtypes[d], 4, tv);
        assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
        assert_int_equal(cg_tensor_requires_grad(t, true), CG_OK);
        struct cg_tensor *y = learnable_shrink(tape, x, t);
        assert_non_null(y);
        assert_int_equal(y->dtype, dtypes[d]);
        assert_int_equal(y->ndim, 2);
        CG_ASSERT_TENSOR(y, y_want, 0, 0);
        struct cg_tensor *seed = cg_tensor_from_doubles(tape, dtypes[d], CG_SHAPE(2, 4), dy);
        assert_int_equal(cg_backward_seed_retain(tape, y, seed), CG_OK);
        CG_ASSERT_TENSOR(x->grad, gx_want, 0, 0);
        CG_ASSERT_TENSOR(t->grad, gt_want, 0, 0);
        /* Gradients accumulate: a second backward doubles them. */
        assert_int_equal(cg_backward_seed(tape, y, seed), CG_OK);
        for (int i = 0; i < 4; i++) assert_true(cg_tensor_at(t->grad, i) == 2 * gt_want[i]);
        cg_tensor_free(x);
        cg_tensor_free(t);
        cg_tape_free(tape);
    }
}

/* On the kinks x == +-|t| the output is exactly 0 and both gradients are
 * exactly 0 (the band is closed).  With t == 0 the layer is the identity, and
 * the threshold gets gradient 0 (sign(0) = 0). */
static void test_kinks_exact(void **state)
{
    (void)state;
    static const double xv[6] = {0.75, -0.75, 0.375, -0.375, 0.0, 0.5};
    static const double tv[6] = {0.75, 0.75, -0.375, -0.375, 0.0, 0.0};
    static const double y_want[6] = {0, 0, 0, 0, 0, 0.5};
    static const double gx_want[6] = {0, 0, 0, 0, 0, 1};
    static const double zeros[6] = {0};
    for (int d = 0; d < 2; d++) {
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *x = tensor2(dtypes[d], 1, 6, xv), *t = vec(dtypes[d], 6, tv);
        assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
        assert_int_equal(cg_tensor_requires_grad(t, true), CG_OK);
        struct cg_tensor *y = learnable_shrink(tape, x, t);
        CG_ASSERT_TENSOR(y, y_want, 0, 0);
        struct cg_tensor *seed = cg_tensor_ones(tape, dtypes[d], CG_SHAPE(1, 6));
        assert_int_equal(cg_backward_seed(tape, y, seed), CG_OK);
        CG_ASSERT_TENSOR(x->grad, gx_want, 0, 0);
        CG_ASSERT_TENSOR(t->grad, zeros, 0, 0);
        cg_tensor_free(x);
        cg_tensor_free(t);
        cg_tape_free(tape);
    }
}

/* NaN is propagated, not hidden in the band. */
static void test_nan_propagates(void **state)
{
    (void)state;
    static const double tv[2] = {0.5, 0.5};
    for (int d = 0; d < 2; d++) {
        struct cg_tape *tape = cg_tape_new();
        double xv[2] = {NAN, 1.0};
        struct cg_tensor *x = tensor2(dtypes[d], 1, 2, xv), *t = vec(dtypes[d], 2, tv);
        struct cg_tensor *y = learnable_shrink(tape, x, t);
        assert_true(isnan(cg_tensor_at(y, 0)));
        assert_true(cg_tensor_at(y, 1) == 0.5);
        cg_tensor_free(x);
        cg_tensor_free(t);
        cg_tape_free(tape);
    }
}

/* ---- gradcheck ---- */

/* Draws values for x clear of every kink of y = shrink(shrink(x, t), t):
 * |x| not near |t| nor 2|t|. */
static void fill_away_from_kinks(struct cg_tensor *x, const struct cg_tensor *t,
                                 struct cg_rng *rng)
{
    int64_t f = t->numel;
    for (int64_t i = 0; i < x->numel; i++) {
        double a = fabs(cg_tensor_at(t, i % f)), v;
        do v = 2.0 * cg_rng_normal(rng);
        while (fabs(fabs(v) - a) < 0.05 || fabs(fabs(v) - 2 * a) < 0.05);
        cg_tensor_set_at(x, i, v);
    }
}

static struct cg_tensor *op_fn(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return learnable_shrink(tape, in[0], in[1]);
}

/* The threshold used twice: its gradient must be the sum of both uses. */
static struct cg_tensor *twice_fn(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    (void)user;
    return learnable_shrink(tape, learnable_shrink(tape, in[0], in[1]), in[1]);
}

static void test_gradcheck_f64(void **state)
{
    (void)state;
    static const double tv[5] = {0.3, -0.6, 0.9, 0.15, -1.2};
    struct cg_rng rng = cg_rng_seed(3);
    struct cg_tensor *t = vec(CG_F64, 5, tv);
    struct cg_tensor *x = cg_tensor_empty(NULL, CG_F64, CG_SHAPE(7, 5));
    assert_non_null(x);
    fill_away_from_kinks(x, t, &rng);
    struct cg_tensor *in[2] = {x, t};
    cg_gradcheck_fn fns[2] = {op_fn, twice_fn};
    for (int k = 0; k < 2; k++) {
        struct cg_gradcheck_report rep;
        assert_int_equal(cg_gradcheck(fns[k], NULL, 2, in, NULL, &rep), CG_OK);
        assert_true(rep.passed);
        assert_int_equal(rep.checked, 35 + 5);
    }
    /* The check must not be vacuous: some elements lie outside the band. */
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *y = learnable_shrink(tape, x, t);
    int nonzero = 0;
    for (int64_t i = 0; i < y->numel; i++) nonzero += cg_tensor_at(y, i) != 0;
    assert_true(nonzero > 5 && nonzero < 35);
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(t);
}

/* Two broken backwards: the threshold gradient with the wrong sign, and one
 * that forgets to sum over the batch (uses only row 0).  gradcheck must fail
 * and blame input 1, the threshold. */
static void backward_wrong_sign(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *t = rec->in[1];
    int64_t f = t->numel;
    for (int64_t i = 0; i < x->numel; i++) {
        double v = cg_tensor_at(x, i), tj = cg_tensor_at(t, i % f), a = fabs(tj);
        double g = cg_tensor_at(rec->out->grad, i), s = (tj > 0) - (tj < 0);
        if (fabs(v) <= a) continue;
        cg_tensor_set_at(x->grad, i, cg_tensor_at(x->grad, i) + g);
        double gt = (v > 0 ? 1 : -1) * s * g; /* should be -sign(x) sign(t) g */
        cg_tensor_set_at(t->grad, i % f, cg_tensor_at(t->grad, i % f) + gt);
    }
}

static void backward_first_row_only(struct cg_record *rec)
{
    struct cg_tensor *x = rec->in[0], *t = rec->in[1];
    backward_f64(CG_F64P(x->grad), CG_F64P(t->grad), CG_F64P(rec->out->grad), CG_F64P(x),
                 CG_F64P(t), 1, t->numel);
    /* x's gradient for the other rows is still right */
    int64_t f = t->numel;
    backward_f64(CG_F64P(x->grad) + f, NULL, CG_F64P(rec->out->grad) + f, CG_F64P(x) + f,
                 CG_F64P(t), x->numel / f - 1, f);
}

static const struct cg_op broken_ops[2] = {
    {"ls_wrong_sign", ls_forward, backward_wrong_sign, 0},
    {"ls_first_row_only", ls_forward, backward_first_row_only, 0},
};

static struct cg_tensor *broken_fn(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    return cg_op_apply(tape, user, 2, in, in[0]->dtype, in[0]->ndim, in[0]->shape, NULL, 0);
}

static void test_gradcheck_catches_broken_backward(void **state)
{
    (void)state;
    static const double tv[3] = {0.4, -0.2, 0.7};
    struct cg_rng rng = cg_rng_seed(11);
    struct cg_tensor *t = vec(CG_F64, 3, tv);
    struct cg_tensor *x = cg_tensor_empty(NULL, CG_F64, CG_SHAPE(6, 3));
    fill_away_from_kinks(x, t, &rng);
    struct cg_tensor *in[2] = {x, t};
    for (int k = 0; k < 2; k++) {
        struct cg_gradcheck_report rep;
        assert_int_equal(cg_gradcheck(broken_fn, (void *)&broken_ops[k], 2, in, NULL, &rep),
                         CG_ERR_GRADCHECK);
        assert_false(rep.passed);
        assert_int_equal(rep.input, 1);
        assert_true(rep.abs_err > 1e-3);
        assert_non_null(strstr(rep.message, "failed"));
    }
    /* ... while the real op passes on the same inputs. */
    assert_int_equal(cg_gradcheck(op_fn, NULL, 2, in, NULL, NULL), CG_OK);
    cg_tensor_free(x);
    cg_tensor_free(t);
}

/* ---- as a module ---- */

static struct cg_module *small_model(uint64_t seed)
{
    struct cg_rng rng = cg_rng_seed(seed);
    struct cg_module *m = cg_sequential(cg_linear_new(6, 8, true, &rng),
                                        learnable_shrink_new(8, 0.1), cg_linear_new(8, 1, true, &rng));
    assert_non_null(m);
    return m;
}

static void collect_name(const char *name, struct cg_tensor *p, void *user)
{
    (void)p;
    char *buf = user;
    strcat(buf, name);
    strcat(buf, ";");
}

static void test_module_in_sequential(void **state)
{
    (void)state;
    struct cg_module *m = small_model(1);
    char names[256] = "";
    cg_module_visit_params(m, collect_name, names);
    assert_string_equal(names, "0.weight;0.bias;1.threshold;2.weight;2.bias;");
    struct cg_module *ls = cg_sequential_child(m, 1);
    assert_string_equal(cg_module_type(ls), "LearnableShrink");
    struct cg_tensor *t = cg_module_param(m, "1.threshold");
    assert_ptr_equal(t, learnable_shrink_threshold(ls));
    assert_null(learnable_shrink_threshold(cg_sequential_child(m, 0)));
    assert_int_equal(t->ndim, 1);
    assert_int_equal(t->shape[0], 8);
    assert_true(t->flags & CG_PARAMETER);
    assert_true(t->flags & CG_REQUIRES_GRAD);
    for (int j = 0; j < 8; j++) assert_true(cg_tensor_at(t, j) == 0.1f);
    assert_int_equal(cg_module_param_elements(m), 6 * 8 + 8 + 8 + 8 + 1);

    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(2);
    struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(4, 6), &rng);
    struct cg_tensor *y = cg_module_forward(m, tape, x);
    assert_non_null(y);
    assert_int_equal(y->shape[0], 4);
    assert_int_equal(y->shape[1], 1);
    /* The layer alone: the output of the first Linear, shrunk by 0.1. */
    struct cg_tensor *h = cg_module_forward(cg_sequential_child(m, 0), tape, x);
    struct cg_tensor *s = cg_module_forward(ls, tape, h);
    for (int64_t i = 0; i < h->numel; i++) {
        float v = (float)cg_tensor_at(h, i), a = 0.1f;
        assert_true(cg_tensor_at(s, i) == (v > a ? v - a : v < -a ? v + a : 0.0f));
    }
    cg_tape_free(tape);
    cg_module_free(m);
}

/* One SGD step on Sequential(LearnableShrink(3, 0.5)) with loss sum(y),
 * x = [1, -2, 0.2]: dt = [-1, +1, 0], so lr 0.1 gives t = [0.6, 0.4, 0.5]. */
static void test_sgd_moves_threshold(void **state)
{
    (void)state;
    static const double xv[3] = {1, -2, 0.2}, t_want[3] = {0.6, 0.4, 0.5};
    struct cg_module *m = cg_sequential(learnable_shrink_new(3, 0.5));
    struct cg_optimizer *opt = cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.1});
    struct cg_tape *tape = cg_tape_new();
    assert_non_null(m);
    assert_non_null(opt);
    assert_int_equal(cg_optimizer_param_count(opt), 1);
    assert_string_equal(cg_optimizer_param_name(opt, 0), "0.threshold");
    struct cg_tensor *x = cg_tensor_from_doubles(tape, CG_F32, CG_SHAPE(1, 3), xv);
    struct cg_tensor *loss = cg_sum(tape, cg_module_forward(m, tape, x));
    cg_optimizer_zero_grad(opt);
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    assert_int_equal(cg_optimizer_step(opt), CG_OK);
    CG_ASSERT_TENSOR(cg_module_param(m, "0.threshold"), t_want, 1e-7, 0);
    cg_tape_free(tape);
    cg_optimizer_free(opt);
    cg_module_free(m);
}

/* Training the small model on a fixed batch: the loss falls, the thresholds
 * move, and from the second step on a step allocates nothing. */
static void test_training(void **state)
{
    (void)state;
    struct cg_module *m = small_model(5);
    struct cg_optimizer *opt = cg_sgd_new(m, (struct cg_sgd_options){.lr = 0.05, .momentum = 0.9});
    struct cg_rng rng = cg_rng_seed(6);
    struct cg_tensor *x = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(32, 6), &rng);
    struct cg_tensor *y = cg_tensor_empty(NULL, CG_F32, CG_SHAPE(32, 1));
    for (int64_t n = 0; n < 32; n++) /* a target the layer can fit: |x0| - 0.5 x1, shrunk */
        cg_tensor_set_at(y, n, fmax(fabs(cg_tensor_at(x, n * 6)) - 0.5, 0) - 0.5 * cg_tensor_at(x, n * 6 + 1));
    struct cg_tape *tape = cg_tape_new();
    double first = 0, last = 0;
    size_t allocs = 0;
    for (int step = 0; step < 200; step++, cg_tape_reset(tape)) {
        if (step == 1) allocs = cg_alloc_count();
        struct cg_tensor *loss = cg_mse_loss_mean(tape, cg_module_forward(m, tape, x), y);
        assert_non_null(loss);
        last = cg_tensor_item(loss);
        if (step == 0) first = last;
        cg_optimizer_zero_grad(opt);
        assert_int_equal(cg_backward(tape, loss), CG_OK);
        assert_int_equal(cg_optimizer_step(opt), CG_OK);
    }
    assert_int_equal(cg_alloc_count(), allocs);
    assert_true(last < 0.2 * first);
    struct cg_tensor *t = cg_module_param(m, "1.threshold");
    int moved = 0;
    for (int j = 0; j < 8; j++) moved += fabs(cg_tensor_at(t, j) - 0.1) > 1e-3;
    assert_true(moved >= 4);
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(y);
    cg_optimizer_free(opt);
    cg_module_free(m);
}

/* Save a model with a trained threshold, load it into a freshly built one:
 * every parameter and the output are bitwise equal.  A model without the
 * layer does not accept the file. */
static void test_checkpoint_round_trip(void **state)
{
    (void)state;
    const char *path = "custom_layer_test.ckpt";
    struct cg_module *m = small_model(8), *fresh = small_model(9);
    struct cg_tensor *t = cg_module_param(m, "1.threshold");
    for (int j = 0; j < 8; j++) cg_tensor_set_at(t, j, 0.05 * j - 0.1);
    assert_int_equal(cg_checkpoint_save(path, m, NULL, NULL), CG_OK);
    assert_int_equal(cg_checkpoint_load(path, fresh, NULL, NULL), CG_OK);
    struct cg_tensor *pa[5], *pb[5];
    assert_int_equal(cg_module_collect_params(m, pa, 5), 5);
    assert_int_equal(cg_module_collect_params(fresh, pb, 5), 5);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(pa[i]->numel, pb[i]->numel);
        assert_memory_equal(pa[i]->data, pb[i]->data, (size_t)pa[i]->numel * sizeof(float));
    }
    struct cg_tape *tape = cg_tape_new();
    struct cg_rng rng = cg_rng_seed(10);
    struct cg_tensor *x = cg_tensor_randn(tape, CG_F32, CG_SHAPE(16, 6), &rng);
    struct cg_tensor *ya = cg_module_forward(m, tape, x), *yb = cg_module_forward(fresh, tape, x);
    assert_memory_equal(ya->data, yb->data, 16 * sizeof(float));

    struct cg_rng r2 = cg_rng_seed(8);
    struct cg_module *plain = cg_sequential(cg_linear_new(6, 8, true, &r2), cg_relu_new(),
                                            cg_linear_new(8, 1, true, &r2));
    assert_int_equal(cg_checkpoint_load(path, plain, NULL, NULL), CG_ERR_MISMATCH);
    assert_non_null(strstr(cg_last_error(), "1.threshold"));
    remove(path);
    cg_tape_free(tape);
    cg_module_free(plain);
    cg_module_free(m);
    cg_module_free(fresh);
}

struct model_check {
    struct cg_module *model;
    struct cg_tensor *target;
};

static struct cg_tensor *model_loss(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    struct model_check *mc = user;
    return cg_mse_loss_mean(tape, cg_module_forward(mc->model, tape, in[0]), mc->target);
}

/* The whole model converted to f64: gradcheck over the input and all five
 * parameters (including 1.threshold) passes.  Inputs are chosen so that no
 * hidden unit sits near a kink. */
static void test_model_gradcheck_f64(void **state)
{
    (void)state;
    struct cg_module *m = small_model(4);
    assert_int_equal(cg_module_to_dtype(m, CG_F64), CG_OK);
    struct cg_tensor *t = cg_module_param(m, "1.threshold");
    assert_int_equal(t->dtype, CG_F64);
    for (int j = 0; j < 8; j++) cg_tensor_set_at(t, j, 0.08 + 0.03 * j);
    struct cg_rng rng = cg_rng_seed(12);
    struct cg_tensor *x = cg_tensor_zeros(NULL, CG_F64, CG_SHAPE(5, 6));
    struct cg_tensor *target = cg_tensor_randn(NULL, CG_F64, CG_SHAPE(5, 1), &rng);
    struct cg_tape *tape = cg_tape_new();
    for (int64_t n = 0; n < 5; n++) { /* redraw a sample until it is clear of the kinks */
        for (bool ok = false; !ok; cg_tape_reset(tape)) {
            for (int i = 0; i < 6; i++) cg_tensor_set_at(x, n * 6 + i, cg_rng_normal(&rng));
            struct cg_tensor *h = cg_module_forward(cg_sequential_child(m, 0), tape, x);
            ok = true;
            for (int j = 0; j < 8; j++)
                ok = ok && fabs(fabs(cg_tensor_at(h, n * 8 + j)) - cg_tensor_at(t, j)) > 1e-2;
        }
    }
    struct cg_tensor *in[6] = {x};
    assert_int_equal(cg_module_collect_params(m, in + 1, 5), 5);
    struct model_check mc = {m, target};
    struct cg_gradcheck_report rep;
    assert_int_equal(cg_gradcheck(model_loss, &mc, 6, in, NULL, &rep), CG_OK);
    assert_int_equal(rep.checked, 30 + 48 + 8 + 8 + 8 + 1);
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(target);
    cg_module_free(m);
}

/* ---- misuse ---- */

static void test_misuse(void **state)
{
    (void)state;
    CG_EXPECT_MISUSE(assert_null(learnable_shrink_new(0, 0.1)), "learnable_shrink_new",
                     "features = 0");
    CG_EXPECT_MISUSE(assert_null(learnable_shrink_new(4, -0.1)), "learnable_shrink_new",
                     "init_threshold = -0.1");
    CG_EXPECT_MISUSE(assert_null(learnable_shrink_new(4, NAN)), "learnable_shrink_new",
                     "init_threshold = nan");
    struct cg_module *ls = learnable_shrink_new(4, 0.1);
    struct cg_tape *tape = cg_tape_new();
    /* Wrong width: reported through the misuse handler like a built-in op. */
    struct cg_tensor *x5 = cg_tensor_zeros(tape, CG_F32, CG_SHAPE(2, 5));
    CG_EXPECT_MISUSE(assert_null(cg_module_forward(ls, tape, x5)), "learnable_shrink",
                     "[2,5] f32", "[4] f32", "last dimension");
    /* Wrong dtype: reported by cg_op_apply through the misuse handler. */
    struct cg_tensor *x64 = cg_tensor_zeros(tape, CG_F64, CG_SHAPE(2, 4));
    CG_EXPECT_MISUSE(assert_null(cg_module_forward(ls, tape, x64)), "learnable_shrink",
                     "threshold", "f32", "f64");
    CG_EXPECT_MISUSE(assert_null(learnable_shrink(tape, NULL, learnable_shrink_threshold(ls))),
                     "learnable_shrink", "NULL");
    cg_tape_free(tape);
    cg_module_free(ls);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_both_dtypes),
        cmocka_unit_test(test_kinks_exact),
        cmocka_unit_test(test_nan_propagates),
        cmocka_unit_test(test_gradcheck_f64),
        cmocka_unit_test(test_gradcheck_catches_broken_backward),
        cmocka_unit_test(test_module_in_sequential),
        cmocka_unit_test(test_sgd_moves_threshold),
        cmocka_unit_test(test_training),
        cmocka_unit_test(test_checkpoint_round_trip),
        cmocka_unit_test(test_model_gradcheck_f64),
        cmocka_unit_test(test_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
