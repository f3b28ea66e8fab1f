/* filters.png (the 32 first-layer 3x3 filters, enlarged), confusion.png
 * (rows: true class, columns: predicted; darker = more of the row) and
 * metrics.csv. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cnn.h"

enum { ZOOM = 8, CELL = 24 };

static int write_filters(struct cnn *c, const char *path)
{
    struct cg_tensor *w = cg_module_param(c->model, "0.0.weight"); /* [32, 1, 3, 3] */
    int n = (int)w->shape[0], kh = (int)w->shape[2], kw = (int)w->shape[3];
    float *big = malloc(sizeof(float) * (size_t)n * (size_t)(kh * ZOOM) * (size_t)(kw * ZOOM));
    if (!big) return fprintf(stderr, "mnist_cnn: out of memory for filters.png\n"), 1;
    const float *src = w->data;
    for (int f = 0; f < n; f++)
        for (int y = 0; y < kh * ZOOM; y++)
            for (int x = 0; x < kw * ZOOM; x++)
                big[((size_t)f * (size_t)(kh * ZOOM) + (size_t)y) * (size_t)(kw * ZOOM) + (size_t)x] =
                    src[(f * kh + y / ZOOM) * kw + x / ZOOM];
    enum cg_status st = cg_png_write_tiles(path, big, n, kh * ZOOM, kw * ZOOM, 8, CG_TILE_MINMAX);
    free(big);
    return st == CG_OK ? 0 : (fprintf(stderr, "mnist_cnn: %s\n", cg_last_error()), 1);
}

static int write_confusion(const struct cnn_metrics *m, const char *path)
{
    enum { SIDE = 10 * CELL + 1 };
    static uint8_t px[SIDE * SIDE];
    memset(px, 128, sizeof px); /* grid lines */
    for (int t = 0; t < 10; t++) {
        int64_t row = 0;
        for (int p = 0; p < 10; p++) row += m->confusion[t][p];
        for (int p = 0; p < 10; p++) {
            double frac = row ? (double)m->confusion[t][p] / (double)row : 0;
            uint8_t v = (uint8_t)(255.0 - 255.0 * frac);
            for (int y = 1; y < CELL; y++)
                for (int x = 1; x < CELL; x++) px[(t * CELL + y) * SIDE + p * CELL + x] = v;
        }
    }
    return cg_png_write_gray(path, SIDE, SIDE, px) == CG_OK
               ? 0
               : (fprintf(stderr, "mnist_cnn: %s\n", cg_last_error()), 1);
}

int cnn_write_pictures(struct cnn *c, const struct cnn_metrics *m)
{
    if (ex_make_dir("mnist_cnn", c->opt.out_dir)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/filters.png", c->opt.out_dir);
    if (write_filters(c, path)) return 1;
    snprintf(path, sizeof path, "%s/confusion.png", c->opt.out_dir);
    return write_confusion(m, path);
}

int cnn_append_csv(struct cnn *c, const struct cnn_metrics *m, bool fresh)
{
    if (ex_make_dir("mnist_cnn", c->opt.out_dir)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.csv", c->opt.out_dir);
    FILE *f = fopen(path, fresh ? "w" : "a");
    if (!f) {
        fprintf(stderr, "mnist_cnn: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (fresh) fprintf(f, "epoch,train_loss,test_loss,test_accuracy,seconds\n");
    fprintf(f, "%d,%.6f,%.6f,%.4f,%.2f\n", c->epoch, m->train_loss, m->test_loss,
            m->test_accuracy, m->seconds);
    if (fclose(f) != 0) {
        fprintf(stderr, "mnist_cnn: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}
