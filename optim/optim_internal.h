/* Private to optim/: the SGD struct and the schedule interface. */
#ifndef CG_OPTIM_INTERNAL_H
#define CG_OPTIM_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "cgrad/optim.h"

struct cg_sgd {
    struct cg_optimizer base;
    double momentum, dampening;
    bool nesterov, maximize;
    struct cg_tensor **bufs; /* per parameter, NULL without momentum */
    bool *started;           /* bufs[i] holds state (PyTorch: 'momentum_buffer' exists) */
};

/* The SGD behind opt, or NULL if opt is another optimizer. */
struct cg_sgd *cg_sgd_cast(const struct cg_optimizer *opt);

/* A schedule: a closed-form lr per group and epoch, so that a checkpoint
 * needs only the epoch (and the settings, as config items) to resume. */
struct cg_lr_schedule_vtable {
    const char *type_name; /* "StepLR", as PyTorch's class */
    double (*lr_at)(const struct cg_lr_schedule *s, double base_lr, int64_t epoch);
    /* Its settings, as config items ("schedule.gamma", ...). */
    void (*visit_state)(struct cg_lr_schedule *s, cg_state_visitor visit, void *user);
};

struct cg_lr_schedule {
    const struct cg_lr_schedule_vtable *vtable;
    struct cg_optimizer *opt;
    int64_t epoch;
    uint64_t period; /* step_size (StepLR) or t_max (cosine) */
    double param;    /* gamma (StepLR) or eta_min (cosine) */
    double *base_lrs; /* per group */
};

/* Yields the schedule's items (called by cg_optimizer_visit_state). */
void cg_lr_schedule_visit_state(struct cg_lr_schedule *s, cg_state_visitor visit, void *user);
/* Frees a schedule (called by cg_optimizer_free). */
void cg_lr_schedule_destroy(struct cg_lr_schedule *s);

/* Below this many elements in all the parameters together, splitting an
 * update over the thread pool costs more than it saves. */
#define CG_OPTIM_PARALLEL_MIN 32768

/* Rows [lo, hi) (as element offsets) of part `part` of `parts` of a
 * tensor, cut along its first dimension exactly as the layers cut their
 * products, so each thread updates the rows it computed the gradient of. */
void cg_optim_param_part(const struct cg_tensor *p, int parts, int part, int64_t *lo,
                         int64_t *hi);
/* Number of parts to cut the optimizer's parameters into. */
int cg_optim_parts(const struct cg_optimizer *opt);

#endif
