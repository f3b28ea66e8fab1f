#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sae.h"

enum { SHOW = 16 }; /* test images shown in reconstructions.png */

static int make_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) break;
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "sparse_autoencoder: --out %s: cannot create the directory: %s\n", dir,
                strerror(errno));
        return 1;
    }
    return 0;
}

/* 0 if files can be created in dir, else 1 (printed, naming the flag). */
static int writable_dir(const char *dir, const char *flag, const char *value)
{
    if (access(dir, W_OK | X_OK) == 0) return 0;
    fprintf(stderr, "sparse_autoencoder: %s %s: cannot create files in '%s': %s\n", flag, value,
            dir, strerror(errno));
    return 1;
}

int sae_check_output_paths(const struct sae_options *o)
{
    if (make_dir(o->out_dir) || writable_dir(o->out_dir, "--out", o->out_dir)) return 1;
    if (!o->save) return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", o->save);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = '\0';
    else *slash = '\0';
    struct stat st;
    if (stat(o->save, &st) == 0 && S_ISDIR(st.st_mode)) {
        fprintf(stderr, "sparse_autoencoder: --save %s: is a directory (give a file name)\n",
                o->save);
        return 1;
    }
    return writable_dir(dir, "--save", o->save);
}

int sae_write_pictures(struct sae *s)
{
    if (make_dir(s->opt.out_dir)) return 1;
    int pix = s->test.rows * s->test.cols;
    int n = s->test.count < SHOW ? (int)s->test.count : SHOW;
    float *tiles = malloc(sizeof(float) * (size_t)(2 * n) * (size_t)pix);
    if (!tiles) {
        fprintf(stderr, "sparse_autoencoder: out of memory for pictures\n");
        return 1;
    }
    /* The first n test images in the top row, their reconstructions below. */
    struct cg_tensor *x = cg_tensor_empty(s->tape, CG_F32, CG_SHAPE(n, pix));
    for (int64_t i = 0; i < (int64_t)n * pix; i++) ((float *)x->data)[i] = s->test.images[i] / 255.0f;
    bool was = cg_tape_set_grad_enabled(s->tape, false);
    struct cg_tensor *y = sae_forward(s, x, NULL);
    cg_tape_set_grad_enabled(s->tape, was);
    memcpy(tiles, x->data, sizeof(float) * (size_t)n * (size_t)pix);
    memcpy(tiles + (size_t)n * (size_t)pix, y->data, sizeof(float) * (size_t)n * (size_t)pix);
    cg_tape_reset(s->tape);

    char path[4096];
    snprintf(path, sizeof path, "%s/reconstructions.png", s->opt.out_dir);
    enum cg_status st = cg_png_write_tiles(path, tiles, 2 * n, s->test.rows, s->test.cols, n, CG_TILE_UNIT);
    free(tiles);
    if (st != CG_OK) goto fail;

    /* Each first-layer weight row, seen as a 28x28 picture: what a unit looks for. */
    struct cg_tensor *w = cg_linear_weight(cg_sequential_child(s->model, 0));
    snprintf(path, sizeof path, "%s/filters.png", s->opt.out_dir);
    int units = (int)w->shape[0], cols = 16;
    while (cols * cols < units && cols < 64) cols *= 2;
    if (sae_write_filters(s, path, cols)) return 1;

    /* What each code unit draws: the decoder is linear after the Hardshrink,
     * so unit j adds column j of W3 W2 to the picture. */
    was = cg_tape_set_grad_enabled(s->tape, false);
    struct cg_tensor *w2 = cg_linear_weight(cg_sequential_child(s->model, 2));
    struct cg_tensor *w3 = cg_linear_weight(cg_sequential_child(s->model, 3));
    struct cg_tensor *atoms = cg_transpose(s->tape, cg_matmul(s->tape, w3, w2));
    cg_tape_set_grad_enabled(s->tape, was);
    snprintf(path, sizeof path, "%s/decoder_atoms.png", s->opt.out_dir);
    st = atoms ? cg_png_write_tiles(path, atoms->data, units, s->test.rows, s->test.cols, cols,
                                    CG_TILE_MINMAX)
               : CG_ERR_NOMEM;
    cg_tape_reset(s->tape);
    if (st != CG_OK) goto fail;
    return 0;
fail:
    fprintf(stderr, "sparse_autoencoder: %s\n", cg_last_error());
    return 1;
}

int sae_append_csv(struct sae *s, const struct sae_metrics *m, int fresh)
{
    if (make_dir(s->opt.out_dir)) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/metrics.csv", s->opt.out_dir);
    FILE *f = fopen(path, fresh ? "w" : "a");
    if (!f) {
        fprintf(stderr, "sparse_autoencoder: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    if (fresh) fprintf(f, "epoch,train_mse,test_mse,code_zero_frac,seconds\n");
    fprintf(f, "%d,%.6f,%.6f,%.4f,%.2f\n", s->epoch, m->train_mse, m->test_mse, m->code_zero_frac,
            m->seconds);
    if (fclose(f) != 0) {
        fprintf(stderr, "sparse_autoencoder: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}
