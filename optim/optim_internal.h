/* Private layout of the optimizer and its schedule, shared by the optim sources and
 * the checkpoint code (which saves and restores this state). */
#ifndef CG_OPTIM_INTERNAL_H
#define CG_OPTIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cgrad/optim.h"

/* One optimized parameter. */
struct cg_sgd_slot {
    struct cg_tensor *param; /* not owned */
    const char *name;        /* points into cg_sgd.names */
    struct cg_tensor *buf;   /* momentum buffer (owned), NULL without momentum */
    bool started;            /* buf holds state (PyTorch: 'momentum_buffer' exists) */
    enum cg_dtype dtype;     /* dtype and size at creation, to catch later conversions */
    int64_t numel;
};

struct cg_sgd {
    struct cg_sgd_options o; /* o.lr is the current learning rate */
    size_t n;
    struct cg_sgd_slot *slots;
    char *names; /* all names, NUL-separated */
    uint64_t steps;
    struct cg_lr_schedule *schedule; /* owned, may be NULL */
};

enum cg_lr_kind { CG_LR_STEP = 1, CG_LR_COSINE = 2 };

struct cg_lr_schedule {
    enum cg_lr_kind kind;
    struct cg_sgd *opt;
    double base_lr;
    int64_t period; /* step_size (StepLR) or t_max (cosine) */
    double param;   /* gamma (StepLR) or eta_min (cosine) */
    int64_t epoch;
};

/* Frees a schedule (called by cg_sgd_free). */
void cg_lr_schedule_destroy(struct cg_lr_schedule *s);

#endif
