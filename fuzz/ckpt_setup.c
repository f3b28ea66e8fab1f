/* Set-ups for the checkpoint fuzz target (see ckpt_setup.h). */
#include "ckpt_setup.h"

#include "cgrad/nn.h"
#include "cgrad/optim.h"
#include "fuzz_util.h"

struct setup setup_make(int variant)
{
    struct cg_rng rng = cg_rng_seed(7);
    struct setup s = {0};
    s.model = cg_sequential(cg_linear_new(3, 4, true, &rng), cg_relu_new(),
                            cg_linear_new(4, 2, true, &rng), NULL);
    if (!s.model) fuzz_fail("model");
    if (variant == SETUP_SGD_META || variant == SETUP_SGD_SCHEDULE) {
        s.opt = cg_sgd_new(s.model, (struct cg_sgd_options){.lr = 0.1, .momentum = 0.9});
        if (!s.opt) fuzz_fail("optimizer");
    }
    if (variant == SETUP_SGD_SCHEDULE && !cg_lr_step_new(s.opt, 2, 0.5)) fuzz_fail("schedule");
    if (variant == SETUP_SGD_META || variant == SETUP_PARAMS_META) {
        s.meta = cg_checkpoint_meta_new();
        if (!s.meta || cg_checkpoint_meta_set_u64(s.meta, "keep", 7) != CG_OK)
            fuzz_fail("meta");
    }
    return s;
}

void setup_free(struct setup *s)
{
    cg_checkpoint_meta_free(s->meta);
    cg_optimizer_free(s->opt);
    cg_module_free(s->model);
    *s = (struct setup){0};
}
