/* Winograd's F(2x2, 3x3) convolution (core/conv_winograd.c, f32 on AVX2 +
 * FMA CPUs without full-width AVX-512): the forward output and the input gradient
 * against a double-precision convolution written here, with padding 0, 1
 * and 2 (also different per side), odd output sizes (a last block of one
 * row or column), block counts that are not a multiple of the 24-block
 * chunk, channel counts that are not a multiple of the 4-channel tile,
 * groups, bias, several samples on one scratch, an input gradient that
 * adds to one already there, and the fused ReLU + MaxPool2d(2).  Shapes it
 * must not take are checked to fall back.  Elsewhere both sides take the
 * other kernels, and the comparisons still run. */
#include "cg_test.h"
#include "conv_check.h"
#include "conv_rows.h"
#include "conv_winograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct wino_case {
    int64_t n, c, h, w, o, ph, pw, groups;
    bool bias;
};

static const struct wino_case cases[] = {
    {2, 32, 13, 13, 64, 0, 0, 1, true},  /* the MNIST CNN's second conv, 11x11 out */
    {3, 8, 7, 5, 8, 1, 1, 1, false},     /* 7x5 out: odd both ways, 3 samples */
    {1, 9, 6, 30, 10, 2, 2, 1, true},    /* pad 2, 9 in, 10 out (4 + 4 + 2) */
    {2, 16, 9, 11, 16, 1, 1, 2, true},   /* groups 2 of 8 */
    {1, 8, 3, 3, 12, 0, 0, 1, true},     /* a single output */
    {1, 8, 20, 52, 8, 1, 1, 1, false},   /* 260 blocks: 10 chunks + 20 */
    {1, 12, 10, 7, 9, 2, 0, 1, true},    /* pad 2 rows, 0 columns */
    {2, 8, 4, 40, 8, 0, 1, 1, true},     /* 2x40 out: one block row */
};

static struct cg_tensor *filled(int ndim, const int64_t *shape, double scale)
{
    return cg_test_wave(CG_F32, ndim, shape, scale);
}

static bool kernel_expected(void)
{
    return cg_test_own_conv_kernels_expected();
}

static struct cg_window window_of(const struct wino_case *k)
{
    return (struct cg_window){3, 3, 1, 1, k->ph, k->pw, 1, 1};
}

static void describe(char *buf, size_t size, const struct wino_case *k, const char *what)
{
    snprintf(buf, size, "%s: case n %d c %d %dx%d o %d pad %d,%d groups %d", what, (int)k->n,
             (int)k->c, (int)k->h, (int)k->w, (int)k->o, (int)k->ph, (int)k->pw,
             (int)k->groups);
}

/* x at (n, channel, iy, ix) of the padded input, 0 outside. */
static double at(const struct wino_case *k, const float *x, int64_t n, int64_t c, int64_t iy,
                 int64_t ix)
{
    if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) return 0;
    return x[((n * k->c + c) * k->h + iy) * k->w + ix];
}

/* y against the double convolution, within 2e-5 of the sum of |products|
 * at each output (the transforms add a few roundings to the direct sum's). */
static void check_forward(const struct wino_case *k, const struct cg_tensor *x,
                          const struct cg_tensor *w, const struct cg_tensor *b,
                          const struct cg_tensor *y, const char *what)
{
    int64_t cg = k->c / k->groups, og = k->o / k->groups;
    int64_t oh = k->h + 2 * k->ph - 2, ow = k->w + 2 * k->pw - 2;
    assert_int_equal(y->shape[2], oh);
    assert_int_equal(y->shape[3], ow);
    const float *xf = x->data, *wf = w->data, *bf = b ? b->data : NULL, *yf = y->data;
    char msg[160];
    describe(msg, sizeof msg, k, what);
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double acc = bf ? bf[o] : 0, mag = bf ? fabs(bf[o]) : 0;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t i = 0; i < 3; i++)
                            for (int64_t j = 0; j < 3; j++) {
                                double p = (double)wf[((o * cg + c) * 3 + i) * 3 + j] *
                                           at(k, xf, n, o / og * cg + c, oy + i - k->ph,
                                              ox + j - k->pw);
                                acc += p, mag += fabs(p);
                            }
                    double got = yf[((n * k->o + o) * oh + oy) * ow + ox];
                    if (!(fabs(got - acc) <= 2e-5 * mag + 1e-30))
                        fail_msg("%s: y[%d,%d,%d,%d] = %.9g, want %.9g", msg, (int)n, (int)o,
                                 (int)oy, (int)ox, got, acc);
                }
}

/* Adds the double input gradient of sum(conv(x, w) * g) to want and the
 * sums of |products| to mag. */
static void scatter_input_grad(const struct wino_case *k, const struct cg_tensor *w,
                               const struct cg_tensor *g, double *want, double *mag)
{
    int64_t cg = k->c / k->groups, og = k->o / k->groups;
    int64_t oh = g->shape[2], ow = g->shape[3];
    const float *wf = w->data, *gf = g->data;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++)
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t i = 0; i < 3; i++)
                            for (int64_t j = 0; j < 3; j++) {
                                int64_t iy = oy + i - k->ph, ix = ox + j - k->pw;
                                if (iy < 0 || iy >= k->h || ix < 0 || ix >= k->w) continue;
                                int64_t e = ((n * k->c + o / og * cg + c) * k->h + iy) * k->w + ix;
                                double p = (double)gf[((n * k->o + o) * oh + oy) * ow + ox] *
                                           (double)wf[((o * cg + c) * 3 + i) * 3 + j];
                                want[e] += p, mag[e] += fabs(p);
                            }
}

static void compare_input_grad(const struct wino_case *k, const double *want, const double *mag,
                               const struct cg_tensor *dx, const char *what)
{
    char msg[160];
    describe(msg, sizeof msg, k, what);
    const float *df = dx->data;
    for (int64_t e = 0; e < k->n * k->c * k->h * k->w; e++)
        if (!(fabs(df[e] - want[e]) <= 2e-5 * mag[e] + 1e-30))
            fail_msg("%s: dx[%d] = %.9g, want %.9g", msg, (int)e, (double)df[e], want[e]);
}

static struct cg_conv2d_params params_of(const struct wino_case *k)
{
    return (struct cg_conv2d_params){{1, 1}, {k->ph, k->pw}, {1, 1}, k->groups};
}

/* Winograd on, and both it and the row kernels off (im2col + GEMM). */
static void forward_matches_double(void **state)
{
    (void)state;
    bool expected = kernel_expected();
    if (!expected) fprintf(stderr, "no AVX2 + FMA, or full-width AVX-512: both sides take other kernels\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int on = 0; on < 2; on++) {
            const struct wino_case *k = &cases[i];
            struct cg_window win = window_of(k);
            assert_int_equal(cg_winograd_usable(CG_F32, &win, k->c / k->groups, k->o / k->groups),
                             expected);
            struct cg_tape *tape = cg_tape_new();
            struct cg_tensor *x = filled(CG_SHAPE(k->n, k->c, k->h, k->w), 1.0);
            struct cg_tensor *w = filled(CG_SHAPE(k->o, k->c / k->groups, 3, 3), 0.3);
            struct cg_tensor *b = k->bias ? filled(CG_SHAPE(k->o), 0.5) : NULL;
            struct cg_conv2d_params p = params_of(k);
            cg_winograd_enable(on);
            cg_conv_rows_enable(on);
            struct cg_tensor *y = cg_conv2d(tape, x, w, b, &p);
            cg_winograd_enable(true);
            cg_conv_rows_enable(true);
            assert_non_null(y);
            check_forward(k, x, w, b, y, on ? "Winograd" : "im2col + GEMM");
            cg_tape_free(tape);
            cg_tensor_free(x);
            cg_tensor_free(w);
            cg_tensor_free(b);
        }
}

/* The input gradient of sum(conv(x, w1) * g1) + sum(conv(x, w2) * g2):
 * the second conv's gradient adds to the first's. */
static void input_grad_matches_double(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int twice = 0; twice < 2; twice++)
            for (int on = 0; on < 2; on++) {
                const struct wino_case *k = &cases[i];
                struct cg_tape *tape = cg_tape_new();
                struct cg_tensor *x = filled(CG_SHAPE(k->n, k->c, k->h, k->w), 1.0);
                struct cg_tensor *w1 = filled(CG_SHAPE(k->o, k->c / k->groups, 3, 3), 0.3);
                struct cg_tensor *w2 = filled(CG_SHAPE(k->o, k->c / k->groups, 3, 3), -0.2);
                assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
                struct cg_conv2d_params p = params_of(k);
                cg_winograd_enable(on);
                cg_conv_rows_enable(on);
                struct cg_tensor *y1 = cg_conv2d(tape, x, w1, NULL, &p);
                assert_non_null(y1);
                struct cg_tensor *g1 = filled(4, y1->shape, 0.7), *g2 = filled(4, y1->shape, 0.4);
                struct cg_tensor *loss = cg_sum(tape, cg_mul(tape, y1, g1));
                if (twice)
                    loss = cg_add(tape, loss,
                                  cg_sum(tape, cg_mul(tape, cg_conv2d(tape, x, w2, NULL, &p), g2)));
                assert_int_equal(cg_backward(tape, loss), CG_OK);
                cg_winograd_enable(true);
                cg_conv_rows_enable(true);
                size_t nx = (size_t)(k->n * k->c * k->h * k->w);
                double *want = calloc(nx, sizeof *want), *mag = calloc(nx, sizeof *mag);
                assert_non_null(want);
                assert_non_null(mag);
                scatter_input_grad(k, w1, g1, want, mag);
                if (twice) scatter_input_grad(k, w2, g2, want, mag);
                compare_input_grad(k, want, mag, x->grad, on ? "Winograd" : "GEMM + col2im");
                free(want);
                free(mag);
                cg_tape_free(tape);
                cg_tensor_free(x);
                cg_tensor_free(w1);
                cg_tensor_free(w2);
                cg_tensor_free(g1);
                cg_tensor_free(g2);
            }
}

/* Two threads split the samples; each has its own scratch. */
static void threads_agree(void **state)
{
    (void)state;
    const struct wino_case *k = &cases[1];
    struct cg_tensor *x = filled(CG_SHAPE(k->n, k->c, k->h, k->w), 1.0);
    struct cg_tensor *w = filled(CG_SHAPE(k->o, k->c, 3, 3), 0.3);
    struct cg_conv2d_params p = params_of(k);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *one = cg_conv2d(tape, x, w, NULL, &p);
    cg_set_num_threads(2);
    struct cg_tensor *two = cg_conv2d(tape, x, w, NULL, &p);
    cg_set_num_threads(1);
    assert_non_null(one);
    assert_non_null(two);
    assert_memory_equal(one->data, two->data, (size_t)(k->n * k->o * 7 * 5) * sizeof(float));
    cg_tape_free(tape);
    cg_tensor_free(x);
    cg_tensor_free(w);
}

/* The fused conv2d_relu_max_pool2d takes it too. */
static void fused_pool_uses_it_consistently(void **state)
{
    (void)state;
    const struct wino_case *k = &cases[0];
    cg_test_fused_pool_matches(k->n, k->c, k->h, k->w, k->o);
}

/* What it must leave to the other kernels. */
static void declines_what_it_cannot_do(void **state)
{
    (void)state;
    struct cg_window k3 = {3, 3, 1, 1, 0, 0, 1, 1}, pad3 = {3, 3, 1, 1, 3, 0, 1, 1};
    struct cg_window stride = {3, 3, 2, 1, 0, 0, 1, 1}, dil = {3, 3, 1, 1, 0, 0, 1, 2};
    struct cg_window k5 = {5, 5, 1, 1, 0, 0, 1, 1}, k3x1 = {3, 1, 1, 1, 0, 0, 1, 1};
    assert_int_equal(cg_winograd_usable(CG_F32, &k3, 8, 8), kernel_expected());
    assert_false(cg_winograd_usable(CG_F64, &k3, 8, 8));
    assert_false(cg_winograd_usable(CG_F32, &k3, 7, 8));
    assert_false(cg_winograd_usable(CG_F32, &k3, 8, 7));
    assert_false(cg_winograd_usable(CG_F32, &pad3, 8, 8));
    assert_false(cg_winograd_usable(CG_F32, &stride, 8, 8));
    assert_false(cg_winograd_usable(CG_F32, &dil, 8, 8));
    assert_false(cg_winograd_usable(CG_F32, &k5, 8, 8));
    assert_false(cg_winograd_usable(CG_F32, &k3x1, 8, 8));
    cg_winograd_enable(false);
    assert_false(cg_winograd_usable(CG_F32, &k3, 8, 8));
    cg_winograd_enable(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forward_matches_double),
        cmocka_unit_test(input_grad_matches_double),
        cmocka_unit_test(threads_agree),
        cmocka_unit_test(fused_pool_uses_it_consistently),
        cmocka_unit_test(declines_what_it_cannot_do),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
