/* Set-ups for the checkpoint fuzz target (see ckpt_setup.h). */
#include "ckpt_setup.h"

#include <stdlib.h>

#include "cgrad/nn.h"
#include "cgrad/optim.h"
#include "fuzz_util.h"

/* Counter(n): identity with a buffer "count" [n] (kind-4 records). */
struct counter {
    struct cg_module base;
    struct cg_tensor *count;
};

static struct cg_tensor *counter_forward(struct cg_module *self, struct cg_tape *tape,
                                         struct cg_tensor *x)
{
    (void)self;
    (void)tape;
    return x;
}

static void counter_buffers(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                            void *user)
{
    cg_module_visit_param(prefix, "count", ((struct counter *)self)->count, visit, user);
}

static void counter_free(struct cg_module *self)
{
    cg_tensor_free(((struct counter *)self)->count);
    free(self);
}

static const struct cg_module_vtable counter_vt = {.type_name = "Counter",
                                                   .forward = counter_forward,
                                                   .visit_buffers = counter_buffers,
                                                   .free = counter_free};

static struct cg_module *counter_new(int64_t n)
{
    struct counter *c = calloc(1, sizeof *c);
    if (!c) fuzz_fail("counter");
    cg_module_init(&c->base, &counter_vt);
    c->count = cg_tensor_full(NULL, CG_F32, CG_SHAPE(n), 3);
    if (!c->count || cg_module_init_buffer(c->count, "count") != CG_OK) fuzz_fail("counter");
    return &c->base;
}

struct setup setup_make(int variant)
{
    struct cg_rng rng = cg_rng_seed(7);
    struct setup s = {0};
    struct cg_module *l1 = cg_linear_new(3, 4, true, &rng), *relu = cg_relu_new(),
                     *l2 = cg_linear_new(4, 2, true, &rng);
    s.model = variant == SETUP_BUFFERS_SGD ? cg_sequential(l1, relu, l2, counter_new(2))
                                           : cg_sequential(l1, relu, l2);
    if (!s.model) fuzz_fail("model");
    if (variant != SETUP_PARAMS_META) {
        s.opt = cg_sgd_new(s.model, (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9});
        if (!s.opt) fuzz_fail("optimizer");
    }
    if ((variant == SETUP_SGD_SCHEDULE || variant == SETUP_OPT_ONLY) &&
        !cg_lr_step_new(s.opt, 2, 0.5))
        fuzz_fail("schedule");
    if (variant == SETUP_SGD_META || variant == SETUP_PARAMS_META ||
        variant == SETUP_BUFFERS_SGD) {
        s.meta = cg_checkpoint_meta_new();
        if (!s.meta || cg_checkpoint_meta_set_u64(s.meta, "keep", 7) != CG_OK)
            fuzz_fail("meta");
    }
    s.opt_only = variant == SETUP_OPT_ONLY;
    return s;
}

struct cg_module *setup_model(const struct setup *s) { return s->opt_only ? NULL : s->model; }

void setup_free(struct setup *s)
{
    cg_checkpoint_meta_free(s->meta);
    cg_optimizer_free(s->opt);
    cg_module_free(s->model);
    *s = (struct setup){0};
}
