/* The fixed model/optimizer/metadata set-ups that fuzz_checkpoint loads
 * into and gen_seeds saves its seed checkpoints from. */
#ifndef CG_FUZZ_CKPT_SETUP_H
#define CG_FUZZ_CKPT_SETUP_H

#include <stdbool.h>

#include "cgrad/checkpoint.h"

enum {
    SETUP_SGD_META,     /* SGD lr 0.1 momentum 0.9, metadata */
    SETUP_SGD_SCHEDULE, /* same SGD with StepLR(step 2, gamma 0.5), no metadata */
    SETUP_PARAMS_META,  /* parameters only, metadata */
    SETUP_BUFFERS_SGD,  /* the model with a buffer module after it, SGD, metadata */
    SETUP_OPT_ONLY,     /* SGD with StepLR, loaded and saved with model NULL */
    SETUP_COUNT
};

struct setup {
    struct cg_module *model; /* Linear(3,4), ReLU, Linear(4,2) [, Counter(2)] */
    struct cg_optimizer *opt;        /* or NULL */
    struct cg_checkpoint_meta *meta; /* holds "keep" = 7, or NULL */
    bool opt_only;                   /* checkpoints see model NULL */
};

/* Aborts if anything cannot be created. */
struct setup setup_make(int variant);
void setup_free(struct setup *s);
/* The model as checkpoints see it (NULL for opt_only). */
struct cg_module *setup_model(const struct setup *s);

#endif
