/* The row-tile convolution forward, weight and input gradients (core/conv_rows.c,
 * f32 on AVX2 + FMA CPUs without full-width AVX-512) against a double-precision
 * convolution written here and against the im2col + GEMM path they
 * replace, over shapes that reach their corners: output rows shorter
 * than, equal to and longer than the 24-column tile and the 8-lane
 * chunks (masked tails), output channels not a multiple of the 4-row
 * tile, K not a multiple of 3, groups, row stride and dilation, with and
 * without bias, and the fused ReLU + MaxPool2d(2).  Shapes it must not
 * take (padding, column stride 2, f64) are checked to fall back.  On a
 * CPU without AVX2, or with full-width AVX-512, the comparisons still run (both
 * sides take im2col + GEMM). */
#include "cg_test.h"
#include "conv_check.h"
#include "conv_rows.h"
#include "conv_winograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

struct rows_case {
    int64_t n, c, h, w, o, kh, kw, sh, dh, dw, groups;
    bool bias;
};

static const struct rows_case cases[] = {
    {2, 32, 26, 26, 64, 3, 3, 1, 1, 1, 1, true},  /* the MNIST CNN's second conv */
    {3, 1, 28, 28, 32, 3, 3, 1, 1, 1, 1, true},   /* its first: 26 = 24 + a 2-wide tail */
    {1, 3, 7, 5, 5, 3, 3, 1, 1, 1, 1, false},     /* rows of 3, 5 channels (4 + 1) */
    {2, 4, 9, 60, 6, 2, 5, 1, 1, 1, 2, true},     /* 56 columns: 24 + 24 + 8, groups 2 */
    {1, 6, 11, 33, 7, 3, 3, 2, 2, 1, 1, true},    /* row stride 2, row dilation 2 */
    {2, 4, 8, 31, 8, 3, 3, 1, 1, 2, 4, false},    /* column dilation 2, depthwise-like */
    {1, 2, 5, 25, 3, 5, 1, 1, 1, 1, 1, true},     /* 5x1 kernel, 25 columns (24 + 1) */
    {1, 5, 1, 40, 9, 1, 7, 1, 1, 1, 1, true},     /* height 1 (Conv1d's shape) */
    {1, 4, 4, 45, 4, 3, 3, 1, 1, 1, 1, true},     /* 43 columns: 24 + 19 (all 3 masks) */
    {2, 3, 5, 22, 2, 3, 3, 1, 1, 1, 1, false},    /* 20 columns: one masked tile */
    {1, 4, 9, 26, 2, 3, 3, 1, 2, 1, 1, true},     /* row dilation 2 at stride 1, og 2 */
    {1, 5, 10, 30, 3, 3, 3, 2, 1, 1, 1, false},   /* row stride 2, no dilation */
};

/* y (the op's f32 output) against the double convolution of the same f32
 * inputs, within 1e-5 of the sum of |products| at each output. */
static void check_against_double(const struct rows_case *k, const struct cg_tensor *x,
                                 const struct cg_tensor *w, const struct cg_tensor *b,
                                 const struct cg_tensor *y, const char *what)
{
    int64_t cg = k->c / k->groups, og = k->o / k->groups;
    int64_t oh = y->shape[2], ow = y->shape[3];
    const float *xf = x->data, *wf = w->data, *bf = b ? b->data : NULL, *yf = y->data;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++) {
                    double acc = bf ? bf[o] : 0, mag = bf ? fabs(bf[o]) : 0;
                    int64_t gi = o / og;
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t i = 0; i < k->kh; i++)
                            for (int64_t j = 0; j < k->kw; j++) {
                                int64_t iy = oy * k->sh + i * k->dh, ix = ox + j * k->dw;
                                double p = (double)wf[((o * cg + c) * k->kh + i) * k->kw + j] *
                                           (double)xf[((n * k->c + gi * cg + c) * k->h + iy) *
                                                          k->w + ix];
                                acc += p, mag += fabs(p);
                            }
                    double got = yf[((n * k->o + o) * oh + oy) * ow + ox];
                    if (fabs(got - acc) > 1e-5 * mag + 1e-30)
                        fail_msg("%s: case %dx%dx%dx%d o %d k %dx%d: y[%d,%d,%d,%d] = %.9g, "
                                 "want %.9g", what, (int)k->n, (int)k->c, (int)k->h, (int)k->w,
                                 (int)k->o, (int)k->kh, (int)k->kw, (int)n, (int)o, (int)oy,
                                 (int)ox, got, acc);
                }
}

static struct cg_tensor *run(struct cg_tape *tape, const struct rows_case *k, struct cg_tensor *x,
                             struct cg_tensor *w, struct cg_tensor *b, bool rows)
{
    cg_conv_rows_enable(rows);
    struct cg_conv2d_params p = {{k->sh, 1}, {0, 0}, {k->dh, k->dw}, k->groups};
    struct cg_tensor *y = cg_conv2d(tape, x, w, b, &p);
    cg_conv_rows_enable(true);
    assert_non_null(y);
    return y;
}

static void matches_double_and_gemm(void **state)
{
    (void)state;
    bool avx2 = cg_test_own_conv_kernels_expected();
    if (!avx2) fprintf(stderr, "no AVX2 + FMA, or full-width AVX-512: both sides take im2col + GEMM\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct rows_case *k = &cases[i];
        struct cg_tape *tape = cg_tape_new();
        struct cg_tensor *x = cg_test_wave(CG_F32, CG_SHAPE(k->n, k->c, k->h, k->w), 1.0);
        struct cg_tensor *w =
            cg_test_wave(CG_F32, CG_SHAPE(k->o, k->c / k->groups, k->kh, k->kw), 0.3);
        struct cg_tensor *b = k->bias ? cg_test_wave(CG_F32, CG_SHAPE(k->o), 0.5) : NULL;
        struct cg_window win = {k->kh, k->kw, k->sh, 1, 0, 0, k->dh, k->dw};
        assert_int_equal(cg_conv_rows_usable(CG_F32, &win, k->c / k->groups, k->h, k->w), avx2);
        struct cg_tensor *yr = run(tape, k, x, w, b, true), *yg = run(tape, k, x, w, b, false);
        check_against_double(k, x, w, b, yr, "row-tile kernel");
        check_against_double(k, x, w, b, yg, "im2col + GEMM");
        cg_tape_free(tape);
        cg_tensor_free(x);
        cg_tensor_free(w);
        cg_tensor_free(b);
    }
}

/* The weight gradient of sum(y * G) for a fixed G, against the double
 * sums of G x, within 1e-5 of the sum of |products|. */
static void check_weight_grad(const struct rows_case *k, const struct cg_tensor *x,
                              const struct cg_tensor *g, const struct cg_tensor *dw,
                              const char *what)
{
    int64_t cg = k->c / k->groups, og = k->o / k->groups;
    int64_t oh = g->shape[2], ow = g->shape[3];
    const float *xf = x->data, *gf = g->data, *df = dw->data;
    for (int64_t o = 0; o < k->o; o++)
        for (int64_t c = 0; c < cg; c++)
            for (int64_t i = 0; i < k->kh; i++)
                for (int64_t j = 0; j < k->kw; j++) {
                    double acc = 0, mag = 0;
                    for (int64_t n = 0; n < k->n; n++)
                        for (int64_t oy = 0; oy < oh; oy++)
                            for (int64_t ox = 0; ox < ow; ox++) {
                                int64_t iy = oy * k->sh + i * k->dh, ix = ox + j * k->dw;
                                double p = (double)gf[((n * k->o + o) * oh + oy) * ow + ox] *
                                           (double)xf[((n * k->c + o / og * cg + c) * k->h + iy) *
                                                          k->w + ix];
                                acc += p, mag += fabs(p);
                            }
                    double got = df[((o * cg + c) * k->kh + i) * k->kw + j];
                    if (fabs(got - acc) > 1e-5 * mag + 1e-30)
                        fail_msg("%s: case %dx%dx%dx%d o %d k %dx%d: dW[%d,%d,%d,%d] = %.9g, "
                                 "want %.9g", what, (int)k->n, (int)k->c, (int)k->h, (int)k->w,
                                 (int)k->o, (int)k->kh, (int)k->kw, (int)o, (int)c, (int)i,
                                 (int)j, got, acc);
                }
}

/* The input gradient of sum(y * G), scattered in double. */
static void check_input_grad(const struct rows_case *k, const struct cg_tensor *wt,
                             const struct cg_tensor *g, const struct cg_tensor *dx,
                             const char *what)
{
    int64_t cg = k->c / k->groups, og = k->o / k->groups, nx = k->n * k->c * k->h * k->w;
    int64_t oh = g->shape[2], ow = g->shape[3];
    double *want = calloc((size_t)nx, sizeof *want), *mag = calloc((size_t)nx, sizeof *mag);
    assert_non_null(want);
    assert_non_null(mag);
    const float *wf = wt->data, *gf = g->data, *df = dx->data;
    for (int64_t n = 0; n < k->n; n++)
        for (int64_t o = 0; o < k->o; o++)
            for (int64_t oy = 0; oy < oh; oy++)
                for (int64_t ox = 0; ox < ow; ox++)
                    for (int64_t c = 0; c < cg; c++)
                        for (int64_t i = 0; i < k->kh; i++)
                            for (int64_t j = 0; j < k->kw; j++) {
                                int64_t iy = oy * k->sh + i * k->dh, ix = ox + j * k->dw;
                                int64_t e = ((n * k->c + o / og * cg + c) * k->h + iy) * k->w + ix;
                                double p = (double)gf[((n * k->o + o) * oh + oy) * ow + ox] *
                                           (double)wf[((o * cg + c) * k->kh + i) * k->kw + j];
                                want[e] += p, mag[e] += fabs(p);
                            }
    for (int64_t e = 0; e < nx; e++)
        if (fabs(df[e] - want[e]) > 1e-5 * mag[e] + 1e-30)
            fail_msg("%s: case %dx%dx%dx%d o %d k %dx%d: dx[%d] = %.9g, want %.9g", what,
                     (int)k->n, (int)k->c, (int)k->h, (int)k->w, (int)k->o, (int)k->kh,
                     (int)k->kw, (int)e, (double)df[e], want[e]);
    free(want);
    free(mag);
}

static void gradients_match_double(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int on = 0; on < 2; on++) {
            const struct rows_case *k = &cases[i];
            struct cg_tape *tape = cg_tape_new();
            struct cg_tensor *x = cg_test_wave(CG_F32, CG_SHAPE(k->n, k->c, k->h, k->w), 1.0);
            struct cg_tensor *w =
                cg_test_wave(CG_F32, CG_SHAPE(k->o, k->c / k->groups, k->kh, k->kw), 0.3);
            assert_int_equal(cg_tensor_requires_grad(w, true), CG_OK);
            assert_int_equal(cg_tensor_requires_grad(x, true), CG_OK);
            cg_conv_rows_enable(on);
            struct cg_conv2d_params p = {{k->sh, 1}, {0, 0}, {k->dh, k->dw}, k->groups};
            struct cg_tensor *y = cg_conv2d(tape, x, w, NULL, &p);
            assert_non_null(y);
            struct cg_tensor *g = cg_test_wave(CG_F32, 4, y->shape, 0.7);
            assert_int_equal(cg_backward(tape, cg_sum(tape, cg_mul(tape, y, g))), CG_OK);
            cg_conv_rows_enable(true);
            check_weight_grad(k, x, g, w->grad, on ? "row-tile kernel" : "im2col + GEMM");
            check_input_grad(k, w, g, x->grad, on ? "row-tile kernel" : "GEMM + col2im");
            cg_tape_free(tape);
            cg_tensor_free(x);
            cg_tensor_free(w);
            cg_tensor_free(g);
        }
}

/* The fused conv2d_relu_max_pool2d takes the kernel too. */
static void fused_pool_uses_it_consistently(void **state)
{
    (void)state;
    const struct rows_case *k = &cases[0];
    cg_test_fused_pool_matches(k->n, k->c, k->h, k->w, k->o);
}

/* What the kernel must leave to im2col + GEMM. */
static void declines_what_it_cannot_do(void **state)
{
    (void)state;
    struct cg_window k3 = {3, 3, 1, 1, 0, 0, 1, 1};
    struct cg_window pad = {3, 3, 1, 1, 1, 1, 1, 1}, col_stride = {3, 3, 1, 2, 0, 0, 1, 1};
    assert_false(cg_conv_rows_usable(CG_F64, &k3, 4, 8, 8));
    assert_false(cg_conv_rows_usable(CG_F32, &pad, 4, 8, 8));
    assert_false(cg_conv_rows_usable(CG_F32, &col_stride, 4, 8, 8));
    assert_false(cg_conv_rows_usable(CG_F32, &k3, 65536, 256, 256)); /* int32 offsets */
    cg_conv_rows_enable(false);
    assert_false(cg_conv_rows_usable(CG_F32, &k3, 4, 8, 8));
    cg_conv_rows_enable(true);
}

int main(void)
{
    cg_winograd_enable(false); /* it would take the 3x3 cases: test the row kernels */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_double_and_gemm),
        cmocka_unit_test(gradients_match_double),
        cmocka_unit_test(fused_pool_uses_it_consistently),
        cmocka_unit_test(declines_what_it_cannot_do),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
