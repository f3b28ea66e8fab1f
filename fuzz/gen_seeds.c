/* Writes the committed seed corpora under DIR (normally fuzz/corpus):
 * small valid IDX files (raw and gzip) and real checkpoints saved from the
 * set-ups fuzz_checkpoint loads into.  The version-1 seeds (v1_*.ckpt) were
 * written by cgrad 0.1's gen_seeds from the same set-ups and are kept.
 * Not run by scripts/fuzz.sh; rerun it by hand after a format change:
 *     build/fuzz/gen_seeds fuzz/corpus */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cgrad/checkpoint.h"
#include "cgrad/module.h"
#include "cgrad/nn.h"
#include "cgrad/optim.h"
#include "cgrad/tape.h"
#include "cgrad/tensor.h"
#include "ckpt_setup.h"
#include "fuzz_util.h"

static const char *root;

static const char *path(const char *target, const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, target);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/%s/%s", root, target, name);
    return p;
}

/* Big-endian IDX header followed by n pseudo-random bytes (< mod). */
static size_t idx(unsigned char *buf, unsigned magic, int ndim, const unsigned *dims, int mod)
{
    size_t pos = 0, n = 1;
    unsigned words[4] = {magic, dims[0], ndim > 1 ? dims[1] : 0, ndim > 2 ? dims[2] : 0};
    for (int w = 0; w <= ndim; w++)
        for (int k = 3; k >= 0; k--) buf[pos++] = (unsigned char)(words[w] >> (8 * k));
    for (int i = 0; i < ndim; i++) n *= dims[i];
    for (size_t i = 0; i < n; i++) buf[pos++] = (unsigned char)((i * 37 + 11) % (size_t)mod);
    return pos;
}

/* The same IDX seeds for the three IDX targets: raw for fuzz_idx and
 * fuzz_idx_deflate (which compresses them itself), gzip for fuzz_idx_gzfile;
 * "mnist_pair" is images, "CGLABELS", labels (each part gzipped in .gz). */
static void idx_seeds(void)
{
    static const char *targets[] = {"fuzz_idx", "fuzz_idx_deflate", "fuzz_idx_gzfile"};
    unsigned char a[256], b[256], pair[1024];
    struct seed { const char *name; size_t n; unsigned char *buf; } seeds[3];
    size_t na = idx(a, 2051, 3, (const unsigned[]){2, 3, 4}, 256);
    size_t nb = idx(b, 2049, 1, (const unsigned[]){3}, 10);
    unsigned char one[32];
    size_t n1 = idx(one, 2051, 3, (const unsigned[]){1, 1, 1}, 256);
    seeds[0] = (struct seed){"images_2x3x4", na, a};
    seeds[1] = (struct seed){"labels_3", nb, b};
    seeds[2] = (struct seed){"images_1x1x1", n1, one};
    unsigned char c[256];
    size_t nc = idx(c, 2051, 3, (const unsigned[]){3, 2, 2}, 256);
    for (int t = 0; t < 3; t++) {
        bool gz = t == 2;
        for (int i = 0; i < 3; i++) {
            if (gz) fuzz_write_gz(path(targets[t], seeds[i].name), seeds[i].buf, seeds[i].n);
            else fuzz_write(path(targets[t], seeds[i].name), seeds[i].buf, seeds[i].n);
        }
        size_t len = 0, n;
        unsigned char *part = gz ? fuzz_gzip(c, nc, &n) : NULL;
        memcpy(pair, gz ? part : c, gz ? n : nc);
        len += gz ? n : nc;
        free(part);
        memcpy(pair + len, "CGLABELS", 8);
        len += 8;
        part = gz ? fuzz_gzip(b, nb, &n) : NULL;
        memcpy(pair + len, gz ? part : b, gz ? n : nb);
        len += gz ? n : nb;
        free(part);
        fuzz_write(path(targets[t], "mnist_pair"), pair, len);
    }
}

/* One SGD step on a fixed batch, so momentum buffers exist. */
static void train_step(struct setup *s)
{
    struct cg_tape *tape = cg_tape_new();
    struct cg_tensor *x = cg_tensor_from_doubles(tape, CG_F32, 2, (const int64_t[]){2, 3},
                                                 (const double[]){1, -2, 0.5, 0.25, 3, -1});
    struct cg_tensor *y = cg_tensor_from_doubles(tape, CG_F32, 2, (const int64_t[]){2, 2},
                                                 (const double[]){0.5, -0.5, 1, 0});
    struct cg_tensor *loss = cg_mse_loss_mean(tape, cg_module_forward(s->model, tape, x), y);
    cg_optimizer_zero_grad(s->opt);
    if (!loss || cg_backward(tape, loss) != CG_OK || cg_optimizer_step(s->opt) != CG_OK)
        fuzz_fail("training step");
    cg_tape_free(tape);
}

static void save(struct setup *s, const char *name)
{
    if (cg_checkpoint_save(path("fuzz_checkpoint", name), setup_model(s), s->opt, s->meta) != CG_OK)
        fuzz_fail(cg_last_error());
    setup_free(s);
}

static void checkpoint_seeds(void)
{
    struct setup s = setup_make(SETUP_SGD_META);
    save(&s, "sgd_fresh.ckpt"); /* no momentum buffers yet */

    s = setup_make(SETUP_SGD_META);
    train_step(&s);
    struct cg_rng rng = cg_rng_seed(3);
    if (cg_checkpoint_meta_set_u64(s.meta, "epoch", 1) != CG_OK ||
        cg_checkpoint_meta_set_rng(s.meta, "rng", &rng) != CG_OK ||
        cg_checkpoint_meta_set_blob(s.meta, "note", "hi", 2) != CG_OK)
        fuzz_fail("meta");
    save(&s, "sgd_meta_step1.ckpt");

    s = setup_make(SETUP_SGD_SCHEDULE);
    train_step(&s);
    cg_lr_schedule_step(cg_optimizer_schedule(s.opt));
    save(&s, "sgd_schedule.ckpt");

    s = setup_make(SETUP_PARAMS_META);
    save(&s, "params_meta.ckpt");

    s = setup_make(SETUP_BUFFERS_SGD);
    train_step(&s);
    save(&s, "buffers_sgd.ckpt");

    s = setup_make(SETUP_OPT_ONLY);
    train_step(&s);
    cg_lr_schedule_step(cg_optimizer_schedule(s.opt));
    save(&s, "opt_only.ckpt");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_seeds DIR\n");
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    idx_seeds();
    checkpoint_seeds();
    return 0;
}
