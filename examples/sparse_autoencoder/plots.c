/* The example's plots: training_curves.png from metrics.csv (so a resumed
 * run's curves include the epochs before the resume), filters.png on one
 * grey scale with dead units crossed out (white X on black), and lambda_sweep.png from the
 * table scripts/lambda_sweep.sh writes. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sae.h"

enum { MAX_ROWS = 4096 };

static int plot_failed(const char *path)
{
    fprintf(stderr, "sparse_autoencoder: %s: %s\n", path, cg_last_error());
    return 1;
}

/* Reads the numeric rows of a CSV with a header line into cols[c][row] for
 * the first ncol columns.  Returns the row count, or -1 after printing why. */
static int read_csv(const char *path, int ncol, double cols[][MAX_ROWS])
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "sparse_autoencoder: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[512];
    int n = 0, lineno = 1;
    if (!fgets(line, sizeof line, f)) n = -1; /* the header */
    while (n >= 0 && n < MAX_ROWS && fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        for (int c = 0; c < ncol; c++) {
            char *end;
            cols[c][n] = strtod(p, &end);
            if (end == p || (c + 1 < ncol && *end != ',')) {
                fprintf(stderr, "sparse_autoencoder: %s line %d: expected %d numbers separated "
                        "by commas\n", path, lineno, ncol);
                fclose(f);
                return -1;
            }
            p = end + 1;
        }
        n++;
    }
    fclose(f);
    if (n <= 0) fprintf(stderr, "sparse_autoencoder: %s has no data rows\n", path);
    return n > 0 ? n : -1;
}

int sae_plot_training_curves(struct sae *s)
{
    static double cols[4][MAX_ROWS];
    char csv[4096], png[4096];
    snprintf(csv, sizeof csv, "%s/metrics.csv", s->opt.out_dir);
    snprintf(png, sizeof png, "%s/training_curves.png", s->opt.out_dir);
    int n = read_csv(csv, 4, cols); /* epoch, train_mse, test_mse, code_zero_frac */
    if (n < 0) return 1;
    struct cg_figure *fig = cg_figure_new(1, 2, 520, 400);
    if (!fig) return plot_failed(png);
    char title[128];
    snprintf(title, sizeof title, "Reconstruction, lambda %g%s", s->opt.lambda,
             s->opt.noise > 0 ? ", denoising" : "");
    cg_plot_labels(fig, 0, title, "epoch", "MSE");
    cg_plot_line(fig, 0, "train", (size_t)n, cols[0], cols[1], CG_PLOT_MARKERS);
    cg_plot_line(fig, 0, "test", (size_t)n, cols[0], cols[2], CG_PLOT_MARKERS | CG_PLOT_DASHED);
    cg_plot_labels(fig, 1, "Sparsity of the code", "epoch", "fraction of zeros (test)");
    cg_plot_line(fig, 1, "Hardshrink output", (size_t)n, cols[0], cols[3], CG_PLOT_MARKERS);
    cg_plot_ylim(fig, 1, 0.0, 1.0);
    enum cg_status st = cg_figure_save_png(fig, png);
    cg_figure_free(fig);
    return st == CG_OK ? 0 : plot_failed(png);
}

int sae_plot_sweep(const char *table, const char *out_dir)
{
    static double cols[3][MAX_ROWS];
    int n = read_csv(table, 3, cols); /* lambda, test_mse, code_zero_frac */
    if (n < 0) return 1;
    char png[4096];
    snprintf(png, sizeof png, "%s/lambda_sweep.png", out_dir);
    struct cg_figure *fig = cg_figure_new(1, 2, 520, 400);
    if (!fig) return plot_failed(png);
    cg_plot_labels(fig, 0, "Reconstruction against lambda", "Hardshrink lambda", "test MSE");
    cg_plot_line(fig, 0, "test MSE", (size_t)n, cols[0], cols[1], CG_PLOT_MARKERS);
    cg_plot_labels(fig, 1, "Sparsity against lambda", "Hardshrink lambda", "fraction of zeros (test)");
    cg_plot_line(fig, 1, "code zeros", (size_t)n, cols[0], cols[2], CG_PLOT_MARKERS);
    cg_plot_ylim(fig, 1, 0.0, 1.0);
    enum cg_status st = cg_figure_save_png(fig, png);
    cg_figure_free(fig);
    if (st != CG_OK) return plot_failed(png);
    printf("wrote %s\n", png);
    return 0;
}

/* How many test images make each hidden unit's Hardshrink output non-zero. */
static int unit_activity(struct sae *s, int64_t *active, int64_t units)
{
    struct cg_batches it;
    if (cg_batches_init(&it, &s->test, (struct cg_batches_options){.batch_size = 500}) != CG_OK)
        return plot_failed("filters.png");
    bool was = cg_tape_set_grad_enabled(s->tape, false);
    memset(active, 0, sizeof *active * (size_t)units);
    for (struct cg_tensor *x; (x = cg_batches_next(&it, s->tape)); cg_tape_reset(s->tape)) {
        struct cg_tensor *code;
        sae_forward(s, x, &code);
        const float *c = code->data;
        for (int64_t i = 0; i < code->numel; i++) active[i % units] += c[i] != 0.0f;
    }
    cg_tape_set_grad_enabled(s->tape, was);
    cg_batches_free(&it);
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

int sae_write_filters(struct sae *s, const char *path, int cols)
{
    struct cg_tensor *w = cg_linear_weight(cg_sequential_child(s->model, 0));
    int64_t units = w->shape[0], pix = w->shape[1];
    int64_t *active = malloc(sizeof *active * (size_t)units);
    float *tiles = malloc(sizeof *tiles * (size_t)(units * pix));
    if (!active || !tiles || unit_activity(s, active, units)) {
        free(active);
        free(tiles);
        return 1;
    }
    const float *wd = w->data;
    /* The shared scale ends at the 99th percentile of |w|, so a few large
     * weights do not flatten every filter to mid-grey. */
    for (int64_t i = 0; i < units * pix; i++) tiles[i] = fabsf(wd[i]);
    qsort(tiles, (size_t)(units * pix), sizeof *tiles, cmp_float);
    double m = tiles[(units * pix - 1) * 99 / 100];
    if (!(m > 0)) m = 1;
    bool shared = !s->opt.filters_per_unit;
    int64_t dead = 0, rows = s->test.rows, side = s->test.cols;
    for (int64_t u = 0; u < units; u++) {
        const float *src = wd + u * pix;
        float *t = tiles + u * pix;
        double lo = -m, hi = m;
        if (!shared) {
            lo = hi = src[0];
            for (int64_t k = 1; k < pix; k++) lo = fmin(lo, src[k]), hi = fmax(hi, src[k]);
        }
        double range = hi > lo ? hi - lo : 1;
        for (int64_t k = 0; k < pix; k++) t[k] = (float)fmin(1, fmax(0, (src[k] - lo) / range));
        if (active[u] == 0) { /* never active on the test set: a white X on black */
            dead++;
            for (int64_t k = 0; k < pix; k++) t[k] = 0.0f;
            for (int64_t r = 0; r < rows; r++) {
                int64_t c1 = r * (side - 1) / (rows > 1 ? rows - 1 : 1);
                t[r * side + c1] = 1.0f;
                t[r * side + (side - 1 - c1)] = 1.0f;
            }
        }
    }
    enum cg_status st = cg_png_write_tiles(path, tiles, (int)units, (int)rows, (int)side, cols,
                                           CG_TILE_UNIT);
    free(active);
    free(tiles);
    if (st != CG_OK) return plot_failed(path);
    if (shared)
        printf("filters.png: one grey scale for all units (99th percentile of |w|): black %.3f, "
               "mid-grey 0, white %.3f; ", -m, m);
    else
        printf("filters.png: each unit stretched from its min to its max; ");
    printf("%lld of %lld units never active on the test set (crossed out)\n", (long long)dead,
           (long long)units);
    return 0;
}
