/* Writes the version-1 checkpoint fixtures tests/data/ckpt_v1_*.ckpt with
 * cgrad 0.1's API (struct cg_sgd).  It is kept to show how the files were
 * made; it does not build against cgrad 0.2 and is not part of the build.
 * Build it against a 0.1 tree (see tests/data/README.md):
 *
 *     cc -std=c11 -Iinclude -Ibuild/dev/include tests/gen_ckpt_v1.c \
 *        tests/support/idx_writer.c -Itests/support build/dev/libcgrad.a \
 *        -lopenblas -lz -lm -lpthread -o gen_ckpt_v1
 *     ./gen_ckpt_v1 tests/data DATADIR
 *
 * It writes ckpt_v1_step.ckpt and ckpt_v1_cosine.ckpt into the first
 * directory and the MNIST-format data of the sparse autoencoder fixture
 * (cg_test_write_mnist(DATADIR, 512, 10, 42), as tests/test_sae.c does) into
 * the second.  The model and training are the ones tests/test_checkpoint_compat.c
 * rebuilds with 0.2 to check the loaded values bit for bit:
 *   - parameters "0.weight" f32 [3,4], "0.bias" f32 [3], "1.scale" f64 [2,2],
 *     uniform in [-1, 1) from cg_rng_seed(seed), in this order;
 *   - each step sets grad = 2 (p - 0.1 i) for element i, steps SGD, then
 *     steps the schedule. */
#include <stdio.h>
#include <stdlib.h>

#include "cgrad/checkpoint.h"
#include "cgrad/module.h"
#include "cgrad/optim.h"
#include "idx_writer.h"

struct fixture_model {
    struct cg_module base;
    struct cg_tensor *p[3];
};

static const char *const names[3] = {"0.weight", "0.bias", "1.scale"};

static void visit(struct cg_module *self, const char *prefix, cg_param_visitor fn, void *user)
{
    struct fixture_model *m = (struct fixture_model *)self;
    for (int i = 0; i < 3; i++) cg_module_visit_param(prefix, names[i], m->p[i], fn, user);
}

static void release(struct cg_module *self)
{
    struct fixture_model *m = (struct fixture_model *)self;
    for (int i = 0; i < 3; i++) cg_tensor_free(m->p[i]);
    free(m);
}

static const struct cg_module_vtable vt = {
    .type_name = "FixtureModel", .visit_params = visit, .free = release};

static struct fixture_model *model_new(uint64_t seed)
{
    static const int ndim[3] = {2, 1, 2};
    static const int64_t shape[3][2] = {{3, 4}, {3, 0}, {2, 2}};
    static const enum cg_dtype dtype[3] = {CG_F32, CG_F32, CG_F64};
    struct fixture_model *m = calloc(1, sizeof *m);
    m->base.vtable = &vt;
    struct cg_rng rng = cg_rng_seed(seed);
    for (int i = 0; i < 3; i++) {
        m->p[i] = cg_tensor_uniform(NULL, dtype[i], ndim[i], shape[i], -1, 1, &rng);
        cg_tensor_requires_grad(m->p[i], true);
    }
    return m;
}

static void train(struct fixture_model *m, struct cg_sgd *opt, int steps)
{
    for (int s = 0; s < steps; s++) {
        cg_sgd_zero_grad(opt);
        for (int k = 0; k < 3; k++)
            for (int64_t i = 0; i < m->p[k]->numel; i++)
                cg_tensor_set_at(m->p[k]->grad, i, 2 * (cg_tensor_at(m->p[k], i) - 0.1 * (double)i));
        if (cg_sgd_step(opt) != CG_OK) exit(1);
        cg_lr_schedule_step(cg_sgd_schedule(opt));
    }
}

static int write_one(const char *dir, const char *file, uint64_t seed,
                     struct cg_sgd_options o, int cosine, int steps)
{
    struct fixture_model *m = model_new(seed);
    struct cg_sgd *opt = cg_sgd_new(&m->base, o);
    if (!opt) return 1;
    if (cosine) cg_lr_cosine_new(opt, 4, 0.01);
    else cg_lr_step_new(opt, 2, 0.5);
    train(m, opt, steps);
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_u64(meta, "epoch", (uint64_t)steps);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    enum cg_status st = cg_checkpoint_save(path, &m->base, opt, meta);
    if (st != CG_OK) fprintf(stderr, "%s\n", cg_last_error());
    cg_checkpoint_meta_free(meta);
    cg_sgd_free(opt);
    cg_module_free(&m->base);
    return st != CG_OK;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gen_ckpt_v1 OUT_DIR MNIST_DIR\n");
        return 2;
    }
    int bad = write_one(argv[1], "ckpt_v1_step.ckpt", 11,
                        (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9, .dampening = 0.1,
                                                .weight_decay = 0.01},
                        0, 5);
    bad |= write_one(argv[1], "ckpt_v1_cosine.ckpt", 12,
                     (struct cg_sgd_options){.lr = 0.2, .momentum = 0.5, .nesterov = true,
                                             .maximize = true},
                     1, 3);
    bad |= cg_test_write_mnist(argv[2], 512, 10, 42) != 0;
    return bad;
}
