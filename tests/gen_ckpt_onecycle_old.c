/* Writes the fixtures tests/data/ckpt_onecycle_old_*.ckpt: checkpoints of a
 * OneCycleLR run by the version before OneCycleLR cycled momentum (commit
 * 2f1b67f^), whose files have no 'schedule.cycle_momentum' record.  It is
 * kept to show how the files were made; built against a later tree it
 * would cycle momentum, so it is not part of the build.  In that tree,
 * built as build/dev with this file copied in (see tests/data/README.md):
 *
 *     cc -std=c11 -Iinclude -Ibuild/dev/include tests/gen_ckpt_onecycle_old.c \
 *        build/dev/libcgrad.a -lopenblas -lz -lm -lpthread -o gen_ckpt_onecycle_old
 *     ./gen_ckpt_onecycle_old tests/data
 *
 * Each run is saved twice, after 4 steps (<name>_at4.ckpt) and, going on,
 * after 7 (<name>_at7.ckpt): tests/test_checkpoint_compat.c resumes the
 * first with .no_cycle_momentum = true and compares with the second, bit
 * for bit.  The model and the step are tests/support/ckpt_model.c's:
 *   - parameters "0.weight" f32 [3,4], "0.bias" f32 [3], "1.scale" f64 [2,2],
 *     uniform in [-1, 1) from cg_rng_seed(seed), in this order;
 *   - each step sets grad = 2 (p - 0.1 i) for element i, steps the
 *     optimizer, then the schedule. */
#include <stdio.h>
#include <stdlib.h>

#include "cgrad/checkpoint.h"
#include "cgrad/module.h"
#include "cgrad/optimizers.h"
#include "cgrad/schedules.h"

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
    if (!m) exit(1);
    cg_module_init(&m->base, &vt);
    struct cg_rng rng = cg_rng_seed(seed);
    for (int i = 0; i < 3; i++) {
        m->p[i] = cg_tensor_uniform(NULL, dtype[i], ndim[i], shape[i], -1, 1, &rng);
        if (!m->p[i] || cg_tensor_requires_grad(m->p[i], true) != CG_OK) exit(1);
    }
    return m;
}

static void train(struct fixture_model *m, struct cg_optimizer *opt, int steps)
{
    for (int s = 0; s < steps; s++) {
        cg_optimizer_zero_grad(opt);
        for (int k = 0; k < 3; k++) {
            for (int64_t i = 0; i < m->p[k]->numel; i++)
                cg_tensor_set_at(m->p[k]->grad, i,
                                 2 * (cg_tensor_at(m->p[k], i) - 0.1 * (double)i));
            m->p[k]->flags &= ~CG_GRAD_NONE; /* written by hand */
        }
        if (cg_optimizer_step(opt) != CG_OK) exit(1);
        cg_lr_schedule_step(cg_optimizer_schedule(opt));
    }
}

static int save(const char *dir, const char *name, int steps, struct fixture_model *m,
                struct cg_optimizer *opt)
{
    struct cg_checkpoint_meta *meta = cg_checkpoint_meta_new();
    cg_checkpoint_meta_set_u64(meta, "epoch", (uint64_t)steps);
    char path[512];
    snprintf(path, sizeof path, "%s/%s_at%d.ckpt", dir, name, steps);
    enum cg_status st = cg_checkpoint_save(path, &m->base, opt, meta);
    if (st != CG_OK) fprintf(stderr, "%s\n", cg_last_error());
    cg_checkpoint_meta_free(meta);
    return st != CG_OK;
}

/* 4 steps, a file, 3 more, a file. */
static int write_run(const char *dir, const char *name, struct fixture_model *m,
                     struct cg_optimizer *opt)
{
    if (!opt) return 1;
    train(m, opt, 4);
    int bad = save(dir, name, 4, m, opt);
    train(m, opt, 3);
    bad |= save(dir, name, 7, m, opt);
    cg_optimizer_free(opt);
    cg_module_free(&m->base);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_ckpt_onecycle_old OUT_DIR\n");
        return 2;
    }
    /* SGD with momentum, two groups (biases without weight decay), cosine
     * two-phase OneCycleLR over 10 steps: the peak is at step 2. */
    struct fixture_model *m = model_new(21);
    struct cg_optimizer *opt = cg_sgd_new(&m->base, (struct cg_sgd_options){
        .lr = 0.1, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01});
    if (!opt || cg_optimizer_add_group(opt, "*.bias", (struct cg_group_options){
                    .weight_decay = 0, .set_weight_decay = true}) != 1 ||
        !cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
            .max_lrs = (const double[]){0.4, 0.2}, .total_steps = 10}))
        return 1;
    int bad = write_run(argv[1], "ckpt_onecycle_old_sgd", m, opt);
    /* Adam, linear three-phase OneCycleLR over 8 steps. */
    m = model_new(22);
    opt = cg_adam_new(&m->base, (struct cg_adam_options){.lr = 0.01, .betas = {0.8, 0.99}});
    if (!opt || !cg_lr_onecycle_new(opt, (struct cg_onecycle_options){
                    .max_lr = 0.05, .total_steps = 8, .pct_start = 0.25,
                    .anneal_linear = true, .three_phase = true}))
        return 1;
    bad |= write_run(argv[1], "ckpt_onecycle_old_adam", m, opt);
    return bad;
}
