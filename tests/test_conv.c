/* Convolution, pooling and BatchNorm2d: every case of tests/data/conv_refs.txt
 * (PyTorch 1.13, tests/gen_conv_refs.py) in f64 and f32 and by an f64
 * gradcheck; the batch cut over 2 threads against 1 thread; no allocation
 * per training step; modules (init, names, buffers); misuse messages. */
#include "cg_test.h"
#include "bad_rows.h"
#include "op_refs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cg_opref_file refs;

static int load_refs(void **state)
{
    (void)state;
    char err[512];
    if (cg_opref_load(CG_TEST_DATA_DIR "/conv_refs.txt", &refs, err, sizeof err) != 0) {
        fprintf(stderr, "conv reference file unusable: %s\n", err);
        return -1;
    }
    return 0;
}

static int free_refs(void **state)
{
    (void)state;
    cg_opref_free(&refs);
    return 0;
}

/* Every case, conv1d included (test_ops_forward runs the built-in op names
 * only). */
static void every_case_matches_torch(enum cg_dtype dtype, double tol)
{
    struct cg_tape *tape = cg_tape_new();
    cg_test_capture_misuse();
    for (int i = 0; i < refs.n_cases; i++) cg_opref_check_case(tape, &refs.cases[i], dtype, tol);
    cg_test_release_misuse();
    cg_tape_free(tape);
    assert_true(refs.n_cases >= 30);
    assert_true(cg_opref_count_op(&refs, "conv1d") >= 4);
}

static void cases_match_torch_f64(void **state)
{
    (void)state;
    every_case_matches_torch(CG_F64, 1e-12);
}

static void cases_match_torch_f32(void **state)
{
    (void)state;
    every_case_matches_torch(CG_F32, 1e-5);
}

static struct cg_tensor *apply_case(struct cg_tape *tape, struct cg_tensor *const *in, void *user)
{
    const struct cg_opref_case *c = user;
    return cg_opref_run(tape, c->op, in, c->n_inputs, c->scalars, c->n_scalars);
}

/* Central differences with PyTorch's strict f64 settings on the case's own
 * inputs.  Max-pooling cases with ties sit on kinks, where a difference
 * quotient is meaningless: those are checked against torch only. */
static void every_case_gradchecks_f64(void **state)
{
    (void)state;
    int checked = 0;
    for (int i = 0; i < refs.n_cases; i++) {
        const struct cg_opref_case *c = &refs.cases[i];
        if (strstr(c->name, "ties")) continue;
        struct cg_tensor *in[CG_MAX_INPUTS] = {NULL};
        for (int j = 0; j < c->n_inputs; j++) assert_non_null(in[j] = cg_opref_make(&c->in[j], CG_F64));
        struct cg_gradcheck_options strict = {.eps = 1e-6, .atol = 1e-5, .rtol = 1e-3, .seed = 3};
        struct cg_gradcheck_report rep;
        enum cg_status st = cg_gradcheck(apply_case, (void *)c, c->n_inputs, in, &strict, &rep);
        if (st != CG_OK) fail_msg("gradcheck of case %s: %s", c->name, rep.message);
        for (int j = 0; j < c->n_inputs; j++) cg_tensor_free(in[j]);
        checked++;
    }
    assert_true(checked >= refs.n_cases - 2);
}

/* ---- threads ---- */

struct conv_run {
    struct cg_tensor *x, *w, *b, *y;
};

/* Forward and backward of a strided, padded, grouped conv over a batch of
 * 7 (an uneven cut), at `threads`; the caller frees with run_free. */
static struct conv_run conv_run(int threads, struct cg_tape *tape)
{
    struct cg_rng rng = cg_rng_seed(42);
    struct conv_run r;
    r.x = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(7, 4, 13, 11), -1, 1, &rng);
    r.w = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(6, 2, 3, 3), -1, 1, &rng);
    r.b = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(6), -1, 1, &rng);
    assert_int_equal(cg_tensor_requires_grad(r.x, true), CG_OK);
    assert_int_equal(cg_tensor_requires_grad(r.w, true), CG_OK);
    assert_int_equal(cg_tensor_requires_grad(r.b, true), CG_OK);
    cg_set_num_threads(threads);
    struct cg_tensor *y = cg_conv2d(tape, r.x, r.w, r.b, &CG_CONV2D_PARAMS(2, 1, 1, 2));
    assert_non_null(y);
    struct cg_tensor *loss = cg_sum(tape, cg_square(tape, y));
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    r.y = cg_tensor_copy(NULL, y);
    cg_set_num_threads(1);
    return r;
}

static void run_free(struct conv_run *r)
{
    cg_tensor_free(r->x), cg_tensor_free(r->w), cg_tensor_free(r->b), cg_tensor_free(r->y);
}

static bool same_bits(const struct cg_tensor *a, const struct cg_tensor *b)
{
    return a->numel == b->numel && !memcmp(a->data, b->data, (size_t)a->numel * sizeof(float));
}

static void cut_matches_uncut(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct conv_run one = conv_run(1, tape);
    cg_tape_reset(tape);
    struct conv_run two = conv_run(2, tape);
    cg_tape_reset(tape);
    struct conv_run again = conv_run(2, tape);
    /* Output and input gradient are per sample: the cut cannot change them. */
    assert_true(same_bits(one.y, two.y));
    assert_true(same_bits(one.x->grad, two.x->grad));
    assert_true(same_bits(one.b->grad, two.b->grad));
    /* The weight gradient is summed per task: equal to rounding across
     * thread counts, and bit for bit for one thread count. */
    for (int64_t i = 0; i < one.w->numel; i++)
        CG_ASSERT_CLOSE(cg_tensor_at(two.w->grad, i), cg_tensor_at(one.w->grad, i), 1e-4, 1e-5);
    assert_true(same_bits(two.w->grad, again.w->grad));
    assert_true(same_bits(two.x->grad, again.x->grad));
    run_free(&one), run_free(&two), run_free(&again);
    cg_tape_free(tape);
}

/* Max pooling cut over planes: a batch large enough to be split, with
 * ties, for MaxPool2d(2) (assigning its input's gradient) and a
 * padded 3x3 stride-2 window (accumulating into a leaf's).  Outputs and
 * gradients must not depend on the thread count. */
static void pool_cut_run(int threads, struct cg_tape *tape, struct cg_tensor **out)
{
    struct cg_rng rng = cg_rng_seed(9);
    /* 37,440 elements: above the size the pool is used from */
    struct cg_tensor *x = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(6, 8, 30, 26), -1, 1, &rng);
    assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
    for (int64_t i = 0; i < x->numel; i += 97) CG_F32P(x)[i] = CG_F32P(x)[i + 1]; /* ties */
    cg_set_num_threads(threads);
    struct cg_tensor *h = cg_mul_scalar(tape, x, 2); /* a tape input: gradient assigned */
    struct cg_tensor *a = cg_max_pool2d(tape, h, 2, 2, 2, 2, 0, 0, 1, 1);
    struct cg_tensor *b = cg_max_pool2d(tape, x, 3, 3, 2, 2, 1, 1, 1, 1);
    assert_non_null(a), assert_non_null(b);
    struct cg_tensor *loss = cg_add(tape, cg_sum(tape, cg_square(tape, a)), cg_sum(tape, b));
    assert_int_equal(cg_backward(tape, loss), CG_OK);
    cg_set_num_threads(1);
    out[0] = cg_tensor_copy(NULL, a), out[1] = cg_tensor_copy(NULL, b);
    out[2] = cg_tensor_copy(NULL, x->grad);
    cg_tensor_free(x);
}

static void pool_cut_matches_uncut(void **state)
{
    (void)state;
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *one[3], *two[3];
    pool_cut_run(1, tape, one);
    cg_tape_reset(tape);
    pool_cut_run(2, tape, two);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(one[i]->numel, two[i]->numel);
        assert_memory_equal(one[i]->data, two[i]->data, (size_t)one[i]->numel * sizeof(float));
        cg_tensor_free(one[i]), cg_tensor_free(two[i]);
    }
    cg_tape_free(tape);
}

/* ---- modules ---- */

static void conv_module_init_and_names(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(5);
    struct cg_module *m = cg_conv2d_new(4, 6, 3, 2, &CG_CONV2D_PARAMS(1, 0, 1, 2), true, &rng);
    assert_non_null(m);
    assert_string_equal(cg_module_type(m), "Conv2d");
    struct cg_tensor *w = cg_module_param(m, "weight"), *b = cg_module_param(m, "bias");
    assert_non_null(w), assert_non_null(b);
    assert_int_equal(w->ndim, 4);
    assert_int_equal(w->shape[1], 2); /* in / groups */
    double bound = 1 / sqrt(2.0 * 3 * 2), top = 0;
    for (int64_t i = 0; i < w->numel; i++) {
        double v = fabs(cg_tensor_at(w, i));
        assert_true(v <= bound);
        top = v > top ? v : top;
    }
    assert_true(top > 0.8 * bound); /* not a smaller bound */
    for (int64_t i = 0; i < b->numel; i++) assert_true(fabs(cg_tensor_at(b, i)) <= bound);
    cg_module_free(m);

    struct cg_module *c1 = cg_conv1d_new(3, 2, 5, 1, 2, 1, 1, false, &rng);
    assert_non_null(c1);
    assert_string_equal(cg_module_type(c1), "Conv1d");
    assert_int_equal(cg_module_param(c1, "weight")->ndim, 3);
    assert_null(cg_module_param(c1, "bias"));
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_ones(tape, CG_F32, CG_SHAPE(2, 3, 9));
    struct cg_tensor *y = cg_module_forward(c1, tape, x);
    assert_non_null(y);
    assert_int_equal(y->ndim, 3), assert_int_equal(y->shape[1], 2), assert_int_equal(y->shape[2], 9);
    cg_module_free(c1);
    cg_tape_free(tape);
}

/* PyTorch's MNIST network up to its first Linear: output sizes. */
static void mnist_stack_shapes(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_module *net = cg_sequential(
        cg_conv2d_new(1, 32, 3, 3, &CG_CONV2D_PARAMS(1, 0, 1, 1), true, &rng), cg_relu_new(),
        cg_conv2d_new(32, 64, 3, 3, &CG_CONV2D_PARAMS(1, 0, 1, 1), true, &rng), cg_relu_new(),
        cg_max_pool2d_new(2, 0, 0, 1), cg_avg_pool2d_new(3, 1, 1, false),
        cg_adaptive_avg_pool2d_new(6, 4), cg_batch_norm2d_new(64, 1e-5, 0.1));
    assert_non_null(net);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *y = cg_tensor_ones(tape, CG_F32, CG_SHAPE(2, 1, 28, 28));
    /* channels and side after each child */
    static const int64_t want[8][3] = {{32, 26, 26}, {32, 26, 26}, {64, 24, 24}, {64, 24, 24},
                                       {64, 12, 12}, {64, 12, 12}, {64, 6, 4},   {64, 6, 4}};
    for (int i = 0; i < 8; i++) {
        y = cg_module_forward(cg_sequential_child(net, i), tape, y);
        assert_non_null(y);
        assert_int_equal(y->ndim, 4);
        assert_int_equal(y->shape[0], 2);
        for (int d = 0; d < 3; d++) assert_int_equal(y->shape[d + 1], want[i][d]);
    }
    assert_string_equal(cg_module_type(cg_sequential_child(net, 4)), "MaxPool2d");
    assert_int_equal(cg_module_buffer_tensors(net), 3);
    assert_non_null(cg_module_buffer(net, "7.running_var"));
    cg_module_free(net);
    cg_tape_free(tape);
}

/* One channel holding 1, 2, 3, 4: batch mean 2.5, biased variance 1.25,
 * unbiased 5/3.  After one training step with momentum 0.1 the running
 * mean is 0.25 and the running variance 0.9 + 0.1 * 5/3. */
static void batchnorm_running_statistics(void **state)
{
    (void)state;
    struct cg_module *bn = cg_batch_norm2d_new(1, 1e-5, 0.1);
    assert_non_null(bn);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_from_doubles(tape, CG_F64, CG_SHAPE(2, 1, 1, 2),
                                                 (double[]){1, 2, 3, 4});
    assert_int_equal(cg_module_to_dtype(bn, CG_F64), CG_OK);
    struct cg_tensor *y = cg_module_forward(bn, tape, x);
    assert_non_null(y);
    double inv = 1 / sqrt(1.25 + 1e-5);
    CG_ASSERT_CLOSE(cg_tensor_at(y, 0), -1.5 * inv, 1e-12, 1e-12);
    CG_ASSERT_CLOSE(cg_tensor_at(cg_module_buffer(bn, "running_mean"), 0), 0.25, 1e-12, 0);
    CG_ASSERT_CLOSE(cg_tensor_at(cg_module_buffer(bn, "running_var"), 0), 0.9 + 0.5 / 3, 1e-12,
                    0);
    CG_ASSERT_CLOSE(cg_tensor_at(cg_module_buffer(bn, "num_batches_tracked"), 0), 1, 0, 0);
    /* Evaluation uses the running statistics and leaves them alone. */
    cg_module_set_training(bn, false);
    struct cg_tensor *e = cg_module_forward(bn, tape, x);
    assert_non_null(e);
    double rv = 0.9 + 0.5 / 3;
    CG_ASSERT_CLOSE(cg_tensor_at(e, 3), (4 - 0.25) / sqrt(rv + 1e-5), 1e-12, 1e-12);
    CG_ASSERT_CLOSE(cg_tensor_at(cg_module_buffer(bn, "running_mean"), 0), 0.25, 1e-12, 0);
    CG_ASSERT_CLOSE(cg_tensor_at(cg_module_buffer(bn, "num_batches_tracked"), 0), 1, 0, 0);
    /* and its gradient treats them as constants: dx = dy * w / sqrt(rv + eps) */
    struct cg_tensor *xg = cg_tensor_from_doubles(NULL, CG_F64, CG_SHAPE(2, 1, 1, 2),
                                                  (double[]){1, 2, 3, 4});
    assert_int_equal(cg_tensor_requires_grad(xg, true), CG_OK);
    assert_int_equal(cg_backward(tape, cg_sum(tape, cg_module_forward(bn, tape, xg))), CG_OK);
    CG_ASSERT_CLOSE(cg_tensor_at(xg->grad, 2), 1 / sqrt(rv + 1e-5), 1e-12, 1e-12);
    cg_tensor_free(xg);
    cg_module_free(bn);
    cg_tape_free(tape);
}

/* A small CNN training loop: the arena and the heap stop growing after the
 * first step. */
static void no_allocations_per_step(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(9);
    struct cg_module *net = cg_sequential(
        cg_conv2d_new(1, 4, 3, 3, &CG_CONV2D_PARAMS(1, 1, 1, 1), true, &rng), cg_relu_new(),
        cg_conv2d_new(4, 4, 3, 3, &CG_CONV2D_PARAMS(2, 0, 1, 2), true, &rng),
        cg_max_pool2d_new(2, 0, 0, 1), cg_batch_norm2d_new(4, 1e-5, 0.1),
        cg_avg_pool2d_new(2, 1, 1, true), cg_adaptive_avg_pool2d_new(1, 1));
    assert_non_null(net);
    struct cg_optimizer *opt = cg_sgd_new(net, (struct cg_sgd_options){.lr = 0.01, .momentum = 0.9});
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(5, 1, 12, 12), -1, 1, &rng);
    size_t allocs = 0, reserved = 0;
    for (int threads = 1; threads <= 2; threads++) {
        cg_set_num_threads(threads);
        for (int step = 0; step < 4; step++) {
            struct cg_tensor *loss = cg_mean(tape, cg_square(tape, cg_module_forward(net, tape, x)));
            cg_optimizer_zero_grad(opt);
            assert_int_equal(cg_backward(tape, loss), CG_OK);
            cg_optimizer_step(opt);
            cg_tape_reset(tape);
            if (step == 0) allocs = cg_alloc_count(), reserved = cg_tape_bytes_reserved(tape);
        }
        assert_int_equal(cg_alloc_count(), allocs);
        assert_int_equal(cg_tape_bytes_reserved(tape), reserved);
    }
    cg_set_num_threads(1);
    cg_tensor_free(x);
    cg_optimizer_free(opt);
    cg_module_free(net);
    cg_tape_free(tape);
}

/* ---- misuse ---- */

/* Persistent zero tensors for the rows, recycled round a small pool. */
static struct cg_tensor *pool[16];
static int next;

static struct cg_tensor *t4(int64_t n, int64_t c, int64_t h, int64_t w)
{
    cg_tensor_free(pool[next]);
    pool[next] = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(n, c, h, w));
    struct cg_tensor *t = pool[next];
    next = (next + 1) % 16;
    return t;
}

static struct cg_tape *row_tape(void)
{
    static struct cg_tape *t;
    if (!t) t = cg_tape_new();
    return t;
}

#define P1 NULL
#define ROWS_CONV(X)                                                                          \
    X(kernel_larger_than_padded_input, 1,                                                     \
      !cg_conv2d(row_tape(), t4(1, 1, 4, 4), t4(1, 1, 7, 3), NULL, &CG_CONV2D_PARAMS(1, 1, 1, 1)), \
      "cg_conv2d", "kernel 7", "larger than the padded input", "[1,1,4,4]")                 \
    X(dilated_kernel_too_large, 1,                                                            \
      !cg_conv2d(row_tape(), t4(1, 1, 4, 4), t4(1, 1, 3, 3), NULL, &CG_CONV2D_PARAMS(1, 0, 2, 1)), \
      "dilation 2", "spans 5")                                                                \
    X(in_channels_not_divisible_by_groups, 1,                                                 \
      !cg_conv2d(row_tape(), t4(1, 3, 5, 5), t4(2, 1, 3, 3), NULL, &CG_CONV2D_PARAMS(1, 0, 1, 2)), \
      "in_channels 3", "divisible by groups = 2")                                             \
    X(stride_zero, 1,                                                                         \
      !cg_conv2d(row_tape(), t4(1, 1, 5, 5), t4(1, 1, 3, 3), NULL, &CG_CONV2D_PARAMS(0, 0, 1, 1)), \
      "stride 0", "stride and dilation >= 1")                                                 \
    X(negative_padding, 1,                                                                    \
      !cg_conv2d(row_tape(), t4(1, 1, 5, 5), t4(1, 1, 3, 3), NULL, &CG_CONV2D_PARAMS(1, -1, 1, 1)), \
      "padding -1")                                                                           \
    X(groups_zero, 1,                                                                         \
      !cg_conv2d(row_tape(), t4(1, 1, 5, 5), t4(1, 1, 3, 3), NULL, &CG_CONV2D_PARAMS(1, 0, 1, 0)), \
      "groups = 0")                                                                           \
    X(weight_channels_mismatch, 1,                                                            \
      !cg_conv2d(row_tape(), t4(1, 3, 5, 5), t4(2, 2, 3, 3), NULL, P1),                       \
      "3 channels", "expects 2")                                                              \
    X(bias_mismatch, 1,                                                                       \
      !cg_conv2d(row_tape(), t4(1, 1, 5, 5), t4(2, 1, 3, 3), cg_tensor_zeros(row_tape(), CG_F32, CG_SHAPE(3)), P1), \
      "bias [3]", "need [2]")                                                                 \
    X(fused_pool_output_too_small, 1,                                                         \
      !cg_conv2d_relu_max_pool2d(row_tape(), t4(1, 1, 4, 3), t4(2, 1, 3, 3), NULL, P1),      \
      "cg_conv2d_relu_max_pool2d", "[1,1,4,3]", "2x1", "at least 2x2")                     \
    X(fused_pool_groups, 1,                                                                   \
      !cg_conv2d_relu_max_pool2d(row_tape(), t4(1, 3, 6, 6), t4(2, 1, 3, 3), NULL,           \
                                 &CG_CONV2D_PARAMS(1, 0, 1, 2)),                              \
      "cg_conv2d_relu_max_pool2d", "divisible by groups")                                   \
    X(x_not_4d, 1,                                                                            \
      !cg_conv2d(row_tape(), cg_tensor_zeros(row_tape(), CG_F32, CG_SHAPE(5, 5)), t4(1, 1, 3, 3), NULL, P1), \
      "x [5,5]", "4-D [N,C,H,W]")                                                             \
    X(conv1d_x_not_3d, 1,                                                                     \
      !cg_conv1d(row_tape(), t4(1, 1, 5, 5), t4(1, 1, 1, 3), NULL, 1, 0, 1, 1),               \
      "cg_conv1d", "3-D [N,C,L]")                                                             \
    X(maxpool_padding_over_half, 1,                                                           \
      !cg_max_pool2d(row_tape(), t4(1, 1, 6, 6), 2, 2, 2, 2, 2, 0, 1, 1),                     \
      "cg_max_pool2d", "padding 2", "half the kernel 2")                                      \
    X(maxpool_kernel_too_large, 1,                                                            \
      !cg_max_pool2d(row_tape(), t4(1, 1, 3, 3), 5, 5, 1, 1, 0, 0, 1, 1),                     \
      "kernel 5", "larger than the padded input")                                             \
    X(avgpool_stride_zero, 1,                                                                 \
      !cg_avg_pool2d(row_tape(), t4(1, 1, 6, 6), 2, 2, 0, 2, 0, 0, true), "cg_avg_pool2d",   \
      "stride 0")                                                                             \
    X(adaptive_zero_output, 1, !cg_adaptive_avg_pool2d(row_tape(), t4(1, 1, 6, 6), 0, 2),     \
      "cg_adaptive_avg_pool2d", "output size 0 x 2")                                          \
    X(batchnorm_one_value_per_channel, 1,                                                     \
      !cg_batch_norm2d(row_tape(), t4(1, 2, 1, 1), cg_tensor_ones(row_tape(), CG_F32, CG_SHAPE(2)), \
                       cg_tensor_zeros(row_tape(), CG_F32, CG_SHAPE(2)), NULL, NULL, true, 0.1, 1e-5), \
      "cg_batch_norm2d", "1 value per channel")                                               \
    X(batchnorm_eval_without_running_stats, 1,                                                \
      !cg_batch_norm2d(row_tape(), t4(2, 2, 1, 1), cg_tensor_ones(row_tape(), CG_F32, CG_SHAPE(2)), \
                       cg_tensor_zeros(row_tape(), CG_F32, CG_SHAPE(2)), NULL, NULL, false, 0.1, 1e-5), \
      "running_mean is NULL", "evaluation")                                                   \
    X(batchnorm_weight_mismatch, 1,                                                           \
      !cg_batch_norm2d(row_tape(), t4(2, 2, 1, 1), cg_tensor_ones(row_tape(), CG_F32, CG_SHAPE(3)), \
                       cg_tensor_zeros(row_tape(), CG_F32, CG_SHAPE(2)), NULL, NULL, true, 0.1, 1e-5), \
      "weight [3]", "need [2]")                                                               \
    X(conv2d_new_groups, 1, !cg_conv2d_new(3, 4, 3, 3, &CG_CONV2D_PARAMS(1, 0, 1, 2), true, &(struct cg_rng){0}), \
      "cg_conv2d_new", "in_channels 3", "groups 2")                                           \
    X(max_pool2d_new_padding, 1, !cg_max_pool2d_new(2, 2, 3, 1), "cg_max_pool2d_new",         \
      "padding 3")                                                                            \
    X(batch_norm2d_new_momentum, 1, !cg_batch_norm2d_new(4, 1e-5, 1.5), "cg_batch_norm2d_new", \
      "momentum 1.5")                                                                         \
    X(batchnorm2d_module_wrong_channels, 1,                                                   \
      !cg_module_forward(cg_sequential_child(bn_seq(), 0), row_tape(), t4(2, 3, 2, 2)),       \
      "BatchNorm2d(4)", "[2,3,2,2]")

/* Sequential runs Conv2d, ReLU, MaxPool2d(2) as one op (and Conv2d, ReLU
 * as another): the same output and parameter gradients, bit for bit, as
 * running the children one by one, with fewer records on the tape. */
static void sequential_fusion_matches_children(void **state)
{
    (void)state;
    struct cg_rng rng = cg_rng_seed(8), draw = cg_rng_seed(9);
    struct cg_module *net = cg_sequential(
        cg_conv2d_new(1, 4, 3, 3, &CG_CONV2D_PARAMS(1, 0, 1, 1), true, &rng), cg_relu_new(),
        cg_conv2d_new(4, 6, 3, 3, &CG_CONV2D_PARAMS(1, 1, 1, 1), true, &rng), cg_relu_new(),
        cg_max_pool2d_new(2, 0, 0, 1), cg_flatten_new(1, -1),
        cg_linear_new(6 * 4 * 3, 2, true, &rng));
    assert_non_null(net);
    struct cg_tensor *x = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(3, 1, 10, 8), -1, 1, &draw);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *params[8];
    size_t n_params = cg_module_collect_params(net, params, 8);
    assert_int_equal(n_params, 6);
    float *grads[2][8];
    size_t records[2];
    float out[2][6];
    for (int fused = 0; fused < 2; fused++) {
        cg_module_zero_grad(net);
        struct cg_tensor *y = x;
        if (fused)
            y = cg_module_forward(net, tape, y);
        else
            for (int i = 0; i < 7; i++) y = cg_module_forward(cg_sequential_child(net, i), tape, y);
        assert_non_null(y);
        assert_int_equal(y->numel, 6);
        memcpy(out[fused], y->data, sizeof out[fused]);
        records[fused] = cg_tape_record_count(tape);
        assert_int_equal(cg_backward(tape, cg_sum(tape, cg_square(tape, y))), CG_OK);
        for (size_t p = 0; p < n_params; p++) {
            struct cg_tensor *g = params[p]->grad;
            grads[fused][p] = malloc((size_t)g->numel * sizeof(float));
            memcpy(grads[fused][p], g->data, (size_t)g->numel * sizeof(float));
        }
        cg_tape_reset(tape);
    }
    assert_memory_equal(out[0], out[1], sizeof out[0]);
    for (size_t p = 0; p < n_params; p++) {
        struct cg_tensor *g = params[p]->grad;
        assert_memory_equal(grads[0][p], grads[1][p], (size_t)g->numel * sizeof(float));
        free(grads[0][p]), free(grads[1][p]);
    }
    assert_int_equal(records[1] + 3, records[0]); /* conv+relu: 1 op less; +pool: 2 less */
    cg_tensor_free(x);
    cg_module_free(net);
    cg_tape_free(tape);
}

static struct cg_module *bn_seq(void)
{
    static struct cg_module *s;
    if (!s) s = cg_sequential(cg_batch_norm2d_new(4, 1e-5, 0.1));
    return s;
}

CG_ROW_AREA("conv", CONV)

static void misuse_names_the_values(void **state)
{
    test_CONV(state);
    cg_module_free(bn_seq());
    for (int i = 0; i < 16; i++) cg_tensor_free(pool[i]);
    cg_tape_free(row_tape());
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cases_match_torch_f64),
        cmocka_unit_test(cases_match_torch_f32),
        cmocka_unit_test(every_case_gradchecks_f64),
        cmocka_unit_test(cut_matches_uncut),
        cmocka_unit_test(pool_cut_matches_uncut),
        cmocka_unit_test(conv_module_init_and_names),
        cmocka_unit_test(mnist_stack_shapes),
        cmocka_unit_test(sequential_fusion_matches_children),
        cmocka_unit_test(batchnorm_running_statistics),
        cmocka_unit_test(no_allocations_per_step),
        cmocka_unit_test(misuse_names_the_values),
    };
    return cmocka_run_group_tests(tests, load_refs, free_refs);
}
