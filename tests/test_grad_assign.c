/* Ops that assign an unwritten gradient (CG_OP_ASSIGNS_GRAD) instead of
 * accumulating into zeros: for every such op, the gradients of its inputs
 * must be bit for bit those of accumulating into zeros (signs of zero
 * included), a second use of the same input must add to the first, and an
 * intermediate's grad (left unwritten on reused arena memory) must never
 * leak old arena contents into a result.  The fused cg_conv2d_relu must be
 * relu(conv2d) bit for bit.  Also: a backward whose op cannot get its
 * scratch memory reports CG_ERR_NOMEM. */
#include "cg_test.h"
#include "conv_rows.h" /* cg_conv_rows_enable */

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h" /* cg_alloc_fail_nth: internal test hook */

enum { MAX_IN = 3 };

struct assign_case {
    const char *name;
    int n_in;
    int64_t shape[MAX_IN][4];
    int ndim[MAX_IN];
    struct cg_tensor *(*apply)(struct cg_tape *tape, struct cg_tensor *const *in);
};

static struct cg_tensor *apply_relu(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_relu(t, in[0]);
}
static struct cg_tensor *apply_hardshrink(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_hardshrink(t, in[0], 0.5);
}
static struct cg_tensor *apply_reshape(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_reshape(t, in[0], CG_SHAPE(in[0]->numel));
}
static struct cg_tensor *apply_linear(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_linear(t, in[0], in[1], in[2]);
}
static struct cg_tensor *apply_maxpool2(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_max_pool2d(t, in[0], 2, 2, 2, 2, 0, 0, 1, 1);
}
static struct cg_tensor *apply_maxpool3(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_max_pool2d(t, in[0], 3, 3, 2, 2, 1, 1, 1, 1);
}
static struct cg_tensor *apply_conv(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_conv2d(t, in[0], in[1], in[2], NULL);
}
static struct cg_tensor *apply_conv_grouped(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_conv2d(t, in[0], in[1], in[2], &CG_CONV2D_PARAMS(2, 1, 1, 2));
}

static struct cg_tensor *apply_mse_mean(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_mse_loss(t, in[0], in[1], CG_REDUCTION_MEAN);
}
static struct cg_tensor *apply_mse_none(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_mse_loss(t, in[0], in[1], CG_REDUCTION_NONE);
}
static struct cg_tensor *apply_mse_self(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_mse_loss(t, in[0], in[0], CG_REDUCTION_SUM);
}
static struct cg_tensor *apply_huber_sum(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_huber_loss(t, in[0], in[1], CG_REDUCTION_SUM, 0.5);
}

static struct cg_tensor *apply_mul(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_mul(t, in[0], in[1]);
}
static struct cg_tensor *apply_sub(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_sub(t, in[0], in[1]);
}
static struct cg_tensor *apply_maximum(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_maximum(t, in[0], in[1]);
}
static struct cg_tensor *apply_div(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_div(t, in[0], cg_add_scalar(t, in[1], 10)); /* away from 0 */
}
static struct cg_tensor *apply_mul_self(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_mul(t, in[0], in[0]);
}

static const struct assign_case cases[] = {
    {"mul", 2, {{3, 7}, {3, 7}}, {2, 2}, apply_mul},
    {"mul, one element", 2, {{1}, {1}}, {1, 1}, apply_mul},
    {"mul, x * x", 1, {{3, 7}}, {2}, apply_mul_self},
    {"div", 2, {{3, 7}, {3, 7}}, {2, 2}, apply_div},
    {"sub, [3,7] - [7]", 2, {{3, 7}, {7}}, {2, 1}, apply_sub},
    {"maximum, [3,1] and [1,7]", 2, {{3, 1}, {1, 7}}, {2, 2}, apply_maximum},
    {"relu", 1, {{3, 7}}, {2}, apply_relu},
    {"hardshrink", 1, {{3, 7}}, {2}, apply_hardshrink},
    {"reshape", 1, {{2, 3, 4}}, {3}, apply_reshape},
    {"linear", 3, {{3, 5}, {4, 5}, {4}}, {2, 2, 1}, apply_linear},
    {"max_pool2d 2x2, exact tiling", 1, {{2, 3, 4, 6}}, {4}, apply_maxpool2},
    {"max_pool2d 2x2, odd sizes", 1, {{1, 2, 5, 7}}, {4}, apply_maxpool2},
    {"max_pool2d 3x3 stride 2 pad 1", 1, {{1, 2, 5, 6}}, {4}, apply_maxpool3},
    {"conv2d 3x3", 3, {{2, 3, 6, 5}, {4, 3, 3, 3}, {4}}, {4, 4, 1}, apply_conv},
    {"conv2d 1x1", 3, {{2, 3, 4, 5}, {4, 3, 1, 1}, {4}}, {4, 4, 1}, apply_conv},
    {"conv2d groups 2 stride 2 pad 1", 3, {{2, 4, 6, 5}, {6, 2, 3, 3}, {6}}, {4, 4, 1},
     apply_conv_grouped},
    {"mse_loss mean", 2, {{3, 7}, {3, 7}}, {2, 2}, apply_mse_mean},
    {"mse_loss none", 2, {{3, 7}, {3, 7}}, {2, 2}, apply_mse_none},
    {"mse_loss(x, x)", 1, {{3, 7}}, {2}, apply_mse_self},
    {"huber_loss sum", 2, {{4, 5}, {4, 5}}, {2, 2}, apply_huber_sum},
};

struct run {
    struct cg_tensor *in[MAX_IN];
    struct cg_tensor *weights; /* the loss is sum(out * weights) */
    struct cg_tape *tape;
    enum cg_dtype dt;
};

/* Fills the tape's arena with huge values, then resets it: the grads a
 * backward allocates next start on that memory. */
static void dirty_arena(struct cg_tape *tape, enum cg_dtype dt)
{
    struct cg_tensor *junk = cg_tensor_full(tape, dt, CG_SHAPE(1 << 16), 1e30);
    assert_non_null(junk);
    cg_tape_reset(tape);
}

/* Inputs with negative values and ties (0.25 steps), so some gradients are
 * -0 before the first add and max pooling meets equal values. */
static void setup(struct run *r, const struct assign_case *c, enum cg_dtype dt)
{
    struct cg_rng rng = cg_rng_seed(7);
    r->dt = dt;
    r->tape = cg_tape_new();
    for (int i = 0; i < c->n_in; i++) {
        r->in[i] = cg_tensor_zeros(NULL, dt, c->ndim[i], c->shape[i]);
        for (int64_t k = 0; k < r->in[i]->numel; k++)
            cg_tensor_set_at(r->in[i], k, 0.25 * (double)((int)(cg_rng_u32(&rng) % 17) - 8));
        assert_int_equal(cg_tensor_requires_grad(r->in[i], true), CG_OK);
    }
    struct cg_tensor *y = c->apply(r->tape, r->in);
    assert_non_null(y);
    r->weights = cg_tensor_randn(NULL, dt, y->ndim, y->shape, &rng);
    cg_tape_reset(r->tape);
}

static void teardown(struct run *r, const struct assign_case *c)
{
    for (int i = 0; i < c->n_in; i++) cg_tensor_free(r->in[i]);
    cg_tensor_free(r->weights);
    cg_tape_free(r->tape);
}

enum mode {
    MODE_ASSIGN,     /* grads unwritten (zero_grad): the op assigns */
    MODE_ACCUMULATE, /* grads zero and marked written: the op adds */
    MODE_TWICE,      /* two uses of each input: assign, then add */
    MODE_THROUGH     /* the op's input is an intermediate of the tape */
};

/* One forward + backward in `mode`; copies the inputs' grads to out[i]. */
static void grads(struct run *r, const struct assign_case *c, enum mode mode, void **out)
{
    dirty_arena(r->tape, r->dt);
    for (int i = 0; i < c->n_in; i++) {
        cg_tensor_zero_grad(r->in[i]);
        if (mode == MODE_ACCUMULATE) r->in[i]->flags &= ~(unsigned)CG_GRAD_NONE;
    }
    struct cg_tensor *in[MAX_IN];
    for (int i = 0; i < c->n_in; i++)
        in[i] = mode == MODE_THROUGH ? cg_reshape(r->tape, r->in[i], c->ndim[i], c->shape[i])
                                     : r->in[i];
    struct cg_tensor *loss = cg_sum(r->tape, cg_mul(r->tape, c->apply(r->tape, in), r->weights));
    if (mode == MODE_TWICE)
        loss = cg_add(r->tape, loss,
                      cg_sum(r->tape, cg_mul(r->tape, c->apply(r->tape, in), r->weights)));
    assert_non_null(loss);
    assert_int_equal(cg_backward(r->tape, loss), CG_OK);
    for (int i = 0; i < c->n_in; i++) {
        assert_false(r->in[i]->flags & CG_GRAD_NONE);
        size_t bytes = (size_t)r->in[i]->numel * cg_dtype_size(r->dt);
        out[i] = malloc(bytes);
        memcpy(out[i], r->in[i]->grad->data, bytes);
    }
    cg_tape_reset(r->tape);
}

static void check_case(const struct assign_case *c, enum cg_dtype dt)
{
    struct run r;
    setup(&r, c, dt);
    void *assign[MAX_IN], *acc[MAX_IN], *twice[MAX_IN], *through[MAX_IN];
    grads(&r, c, MODE_ASSIGN, assign);
    grads(&r, c, MODE_ACCUMULATE, acc);
    grads(&r, c, MODE_TWICE, twice);
    grads(&r, c, MODE_THROUGH, through);
    for (int i = 0; i < c->n_in; i++) {
        int64_t n = r.in[i]->numel;
        size_t bytes = (size_t)n * cg_dtype_size(dt);
        if (memcmp(assign[i], acc[i], bytes) != 0 || memcmp(assign[i], through[i], bytes) != 0)
            fail_msg("%s (%s), input %d: assigned grad differs from accumulating into zeros "
                     "(or through an intermediate)", c->name, dt == CG_F64 ? "f64" : "f32", i);
        for (int64_t k = 0; k < n; k++) {
            double a = dt == CG_F64 ? ((double *)assign[i])[k] : ((float *)assign[i])[k];
            double t = dt == CG_F64 ? ((double *)twice[i])[k] : ((float *)twice[i])[k];
            /* exact for a single add; reductions (bias sums) add row by row */
            if (fabs(t - 2 * a) > (dt == CG_F64 ? 1e-12 : 1e-5) * (fabs(a) + 1))
                fail_msg("%s (%s), input %d [%lld]: two uses give %g, want 2 x %g", c->name,
                         dt == CG_F64 ? "f64" : "f32", i, (long long)k, t, a);
        }
        free(assign[i]), free(acc[i]), free(twice[i]), free(through[i]);
    }
    teardown(&r, c);
}

static void test_assigning_ops_match_accumulating(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        check_case(&cases[i], CG_F64);
        check_case(&cases[i], CG_F32);
    }
}

static struct cg_tensor *apply_conv_then_relu(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_relu(t, cg_conv2d(t, in[0], in[1], in[2], &CG_CONV2D_PARAMS(1, 1, 1, 1)));
}
static struct cg_tensor *apply_conv_relu(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_conv2d_relu(t, in[0], in[1], in[2], &CG_CONV2D_PARAMS(1, 1, 1, 1));
}

static struct cg_tensor *apply_unfused_pool(struct cg_tape *t, struct cg_tensor *const *in)
{
    struct cg_tensor *y = cg_relu(t, cg_conv2d(t, in[0], in[1], in[2], &CG_CONV2D_PARAMS(1, 1, 1, 1)));
    return cg_max_pool2d(t, y, 2, 2, 2, 2, 0, 0, 1, 1);
}
static struct cg_tensor *apply_fused_pool(struct cg_tape *t, struct cg_tensor *const *in)
{
    return cg_conv2d_relu_max_pool2d(t, in[0], in[1], in[2], &CG_CONV2D_PARAMS(1, 1, 1, 1));
}

/* A fused op against the ops it replaces: output and every gradient bit
 * for bit, at 1 and 2 threads, f32 and f64. */
static void check_fused_equals_unfused(const struct assign_case *unfused,
                                       const struct assign_case *fused)
{
    for (int threads = 1; threads <= 2; threads++) {
        cg_set_num_threads(threads);
        for (int d = 0; d < 2; d++) {
            enum cg_dtype dt = d ? CG_F64 : CG_F32;
            struct run a, b;
            setup(&a, unfused, dt);
            setup(&b, fused, dt);
            void *ga[MAX_IN], *gb[MAX_IN];
            grads(&a, unfused, MODE_ASSIGN, ga);
            grads(&b, fused, MODE_ASSIGN, gb);
            struct cg_tensor *ya = unfused->apply(a.tape, a.in), *yb = fused->apply(b.tape, b.in);
            assert_int_equal(ya->numel, yb->numel);
            if (memcmp(ya->data, yb->data, (size_t)ya->numel * cg_dtype_size(dt)) != 0)
                fail_msg("%s: output differs from %s (%d threads)", fused->name, unfused->name,
                         threads);
            for (int i = 0; i < 3; i++) {
                if (memcmp(ga[i], gb[i], (size_t)a.in[i]->numel * cg_dtype_size(dt)) != 0)
                    fail_msg("%s: gradient of input %d differs from %s's (%s, %d threads)",
                             fused->name, i, unfused->name, cg_dtype_name(dt), threads);
                free(ga[i]), free(gb[i]);
            }
            teardown(&a, unfused);
            teardown(&b, fused);
        }
    }
    cg_set_num_threads(1);
}

/* Inputs on a 0.25 grid: outputs of exactly 0 meet the ReLU's kink, and
 * pooling windows hold ties. */
static void test_conv2d_relu_is_relu_of_conv2d(void **state)
{
    (void)state;
    struct assign_case unfused = {"relu(conv2d)", 3, {{3, 3, 6, 5}, {4, 3, 3, 3}, {4}},
                                  {4, 4, 1}, apply_conv_then_relu};
    struct assign_case fused = unfused;
    fused.name = "conv2d_relu", fused.apply = apply_conv_relu;
    check_fused_equals_unfused(&unfused, &fused);
}

/* Odd planes (7x5: the last row and column are in no window), and 6x4. */
static void test_conv2d_relu_max_pool2d_is_unfused(void **state)
{
    (void)state;
    for (int shape = 0; shape < 2; shape++) {
        struct assign_case unfused = {"max_pool2d(relu(conv2d))", 3,
                                      {{3, 3, shape ? 6 : 7, shape ? 4 : 5}, {4, 3, 3, 3}, {4}},
                                      {4, 4, 1}, apply_unfused_pool};
        struct assign_case fused = unfused;
        fused.name = "conv2d_relu_max_pool2d", fused.apply = apply_fused_pool;
        check_fused_equals_unfused(&unfused, &fused);
    }
}

/* Convolution's backward takes im2col scratch from the tape; failing each
 * allocation of a backward in turn must always end in CG_ERR_NOMEM. */
static void test_conv_backward_scratch_failure_is_reported(void **state)
{
    (void)state;
    /* big enough that backward's scratch needs a new arena chunk */
    static const struct assign_case big = {
        "conv2d 3x3, 64x64", 3, {{2, 8, 64, 64}, {8, 8, 3, 3}, {8}}, {4, 4, 1}, apply_conv};
    struct run r;
    setup(&r, &big, CG_F32);
    /* the im2col path: its col scratch is what needs the new chunk (the
     * row-tile kernels' packed weights are smaller) */
    cg_conv_rows_enable(false);
    size_t failures = 0;
    for (size_t n = 1; n < 64; n++) {
        cg_tape_free(r.tape);
        r.tape = cg_tape_new(); /* a fresh arena: backward must allocate */
        struct cg_tensor *loss =
            cg_sum(r.tape, cg_mul(r.tape, apply_conv(r.tape, r.in), r.weights));
        assert_non_null(loss);
        cg_alloc_fail_nth(n);
        enum cg_status st = cg_backward(r.tape, loss);
        bool fired = cg_alloc_fail_fired();
        cg_alloc_fail_nth(0);
        if (!fired) {
            assert_int_equal(st, CG_OK);
            break;
        }
        failures++;
        if (st != CG_ERR_NOMEM)
            fail_msg("allocation %zu of conv2d's backward failed, yet cg_backward returned %d",
                     n, (int)st);
        assert_non_null(strstr(cg_last_error(), "out of memory"));
    }
    cg_conv_rows_enable(true);
    assert_true(failures >= 1);
    teardown(&r, &big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assigning_ops_match_accumulating),
        cmocka_unit_test(test_conv2d_relu_is_relu_of_conv2d),
        cmocka_unit_test(test_conv2d_relu_max_pool2d_is_unfused),
        cmocka_unit_test(test_conv_backward_scratch_failure_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
