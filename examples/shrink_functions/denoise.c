/* Denoising by thresholding, after the seed:
 *     noisy = signal + sigma * randn([100, 50]);  denoised = Hardshrink(lambda)(noisy)
 * with a sparse signal (10% of the entries are spikes of size 2..4, the rest
 * 0), for several lambda, with Softshrink beside Hardshrink. */
#include <stdio.h>

#include "shrink.h"

enum { ROWS = 100, COLS = 50, N = ROWS * COLS, LAMBDAS = 13 };

static double mse(const struct cg_tensor *a, const struct cg_tensor *b)
{
    double s = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double d = cg_tensor_at(a, i) - cg_tensor_at(b, i);
        s += d * d;
    }
    return s / (double)a->numel;
}

static double zeros(const struct cg_tensor *a)
{
    int64_t z = 0;
    for (int64_t i = 0; i < a->numel; i++) z += cg_tensor_at(a, i) == 0.0;
    return (double)z / (double)a->numel;
}

/* 10% spikes of +-U(2, 4), zero elsewhere. */
static struct cg_tensor *sparse_signal(struct cg_rng *rng)
{
    struct cg_tensor *u = cg_tensor_rand(NULL, CG_F32, CG_SHAPE(ROWS, COLS), rng);
    struct cg_tensor *v = cg_tensor_rand(NULL, CG_F32, CG_SHAPE(ROWS, COLS), rng);
    struct cg_tensor *s = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(ROWS, COLS));
    if (!u || !v || !s) return NULL;
    for (int64_t i = 0; i < N; i++) {
        double a = cg_tensor_at(v, i);
        if (cg_tensor_at(u, i) < 0.1) cg_tensor_set_at(s, i, a < 0.5 ? -(2 + 4 * a) : 2 + 4 * (a - 0.5));
    }
    cg_tensor_free(u);
    cg_tensor_free(v);
    return s;
}

static int plot(const struct shrink_options *opt, const double *lam, double m[2][LAMBDAS],
                double z[LAMBDAS], double noisy_mse, double clean_zeros)
{
    struct cg_figure *fig = cg_figure_new(1, 2, 560, 420);
    if (!fig) return 1;
    char title[96];
    snprintf(title, sizeof title, "Denoising a sparse signal, noise sigma %g", opt->sigma);
    cg_plot_labels(fig, 0, title, "lambda", "MSE to the clean signal");
    cg_plot_line(fig, 0, "Hardshrink(lambda)", LAMBDAS, lam, m[0], CG_PLOT_MARKERS);
    cg_plot_line(fig, 0, "Softshrink(lambda)", LAMBDAS, lam, m[1], CG_PLOT_MARKERS);
    double flat[2][LAMBDAS];
    for (int i = 0; i < LAMBDAS; i++) flat[0][i] = noisy_mse, flat[1][i] = clean_zeros;
    cg_plot_line(fig, 0, "noisy input", LAMBDAS, lam, flat[0], CG_PLOT_DASHED);
    cg_plot_labels(fig, 1, "Fraction of zeros (same for both)", "lambda", "fraction of zeros");
    cg_plot_line(fig, 1, "after shrink(lambda)", LAMBDAS, lam, z, CG_PLOT_MARKERS);
    cg_plot_line(fig, 1, "clean signal", LAMBDAS, lam, flat[1], CG_PLOT_DASHED);
    cg_plot_ylim(fig, 1, 0.0, 1.0);
    return shrink_save_figure(opt, fig, "denoise.png");
}

int shrink_denoise(const struct shrink_options *opt, struct shrink_export *ex)
{
    struct cg_rng rng = cg_rng_seed(opt->seed);
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *clean = sparse_signal(&rng);
    struct cg_tensor *noise = cg_tensor_randn(NULL, CG_F32, CG_SHAPE(ROWS, COLS), &rng);
    if (!tape || !clean || !noise) {
        fprintf(stderr, "shrink_functions: %s\n", cg_last_error());
        return 1;
    }
    struct cg_tensor *noisy = cg_add(tape, clean, cg_mul_scalar(tape, noise, opt->sigma));
    double lam[LAMBDAS], m[2][LAMBDAS], z[LAMBDAS];
    double noisy_mse = mse(noisy, clean), clean_zeros = zeros(clean);
    printf("Denoising: sparse signal [%d, %d] (%.1f%% zeros) + %g * randn; noisy MSE %.4f\n", ROWS,
           COLS, 100 * clean_zeros, opt->sigma, noisy_mse);
    printf("%7s  %12s %12s  %12s\n", "lambda", "MSE hard", "MSE soft", "zeros");
    int best = 0;
    for (int i = 0; i < LAMBDAS; i++) {
        lam[i] = 0.25 * i;
        struct cg_tensor *h = cg_hardshrink(tape, noisy, lam[i]);
        struct cg_tensor *s = cg_softshrink(tape, noisy, lam[i]);
        m[0][i] = mse(h, clean);
        m[1][i] = mse(s, clean);
        z[i] = zeros(h); /* |x| <= lambda is zero for both */
        printf("%7.2f  %12.4f %12.4f  %11.1f%%\n", lam[i], m[0][i], m[1][i], 100 * z[i]);
        if (m[0][i] < m[0][best]) best = i;
    }
    printf("best Hardshrink lambda %.2f: MSE %.4f -> %.4f (%.1fx lower)\n", lam[best], noisy_mse,
           m[0][best], noisy_mse / m[0][best]);
    /* The seed's own line: randn + 0.5 * randn, then Hardshrink(0.5). */
    struct cg_tensor *a = cg_tensor_randn(tape, CG_F32, CG_SHAPE(ROWS, COLS), &rng);
    struct cg_tensor *b = cg_tensor_randn(tape, CG_F32, CG_SHAPE(ROWS, COLS), &rng);
    struct cg_tensor *seed_noisy = cg_add(tape, a, cg_mul_scalar(tape, b, 0.5));
    struct cg_tensor *seed_out = cg_hardshrink(tape, seed_noisy, 0.5);
    printf("seed example randn([100, 50]) + 0.5 * randn, Hardshrink(0.5): %.1f%% zeros, MSE to "
           "the first randn %.4f -> %.4f (a dense signal: thresholding does not help)\n\n",
           100 * zeros(seed_out), mse(seed_noisy, a), mse(seed_out, a));
    int rc = plot(opt, lam, m, z, noisy_mse, clean_zeros);
    shrink_keep(ex, "denoise.clean", clean);
    shrink_keep(ex, "denoise.noisy", noisy);
    shrink_keep(ex, "denoise.hardshrink_best", cg_hardshrink(tape, noisy, lam[best]));
    cg_tensor_free(clean);
    cg_tensor_free(noise);
    cg_tape_free(tape);
    return rc;
}
