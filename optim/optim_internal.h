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

/* A schedule.  Most have a closed-form lr per group and epoch, so that a
 * checkpoint needs only the epoch (and the settings, as config items) to
 * resume; ReduceLROnPlateau instead keeps its state (and the lrs it set,
 * which the optimizer's groups hold).  Each type embeds struct
 * cg_lr_schedule as its first member. */
struct cg_lr_schedule_vtable {
    const char *type_name; /* "StepLR", as PyTorch's class */
    /* Group g's lr at `epoch`, from its base lr; NULL for ReduceLROnPlateau. */
    double (*lr_at)(const struct cg_lr_schedule *s, size_t group, double base_lr,
                    int64_t epoch);
    /* Sets each group's momentum for s->epoch, after the lrs (OneCycleLR);
     * NULL: the schedule leaves momentum alone. */
    void (*apply_momentum)(struct cg_lr_schedule *s);
    /* ReduceLROnPlateau's step; NULL for the others. */
    void (*step_metric)(struct cg_lr_schedule *s, double metric);
    /* Its settings, as config items ("schedule.gamma", ...), and its state. */
    void (*visit_state)(struct cg_lr_schedule *s, cg_state_visitor visit, void *user);
    /* Frees what the type allocated besides the struct; may be NULL. */
    void (*free)(struct cg_lr_schedule *s);
};

struct cg_lr_schedule {
    const struct cg_lr_schedule_vtable *vtable;
    struct cg_optimizer *opt;
    int64_t epoch;
    uint64_t period; /* step_size (StepLR) or t_max (cosine) */
    double param;    /* gamma (StepLR, ExponentialLR) or eta_min (cosine) */
    double *base_lrs; /* per group */
    struct cg_lr_schedule *parent; /* the SequentialLR this is a phase of, or NULL */
};

/* For the schedule types: checks that opt can take a schedule (misuse
 * naming fn otherwise), allocates `size` zeroed bytes and fills the base.
 * When opt's schedule is a SequentialLR still collecting its phases, the
 * new schedule becomes its next phase; otherwise it is attached to opt.
 * Call cg_lr_schedule_start once the type's fields are set (or
 * cg_lr_schedule_destroy after a failed check). */
struct cg_lr_schedule *cg_lr_schedule_alloc(struct cg_optimizer *opt,
                                            const struct cg_lr_schedule_vtable *vt, size_t size,
                                            const char *fn);
/* Attaches s (or adds it as a phase) and sets the groups' lrs for epoch 0. */
struct cg_lr_schedule *cg_lr_schedule_start(struct cg_lr_schedule *s);
/* SequentialLR: adds `phase`; false (misuse naming fn) if it cannot be one. */
bool cg_lr_sequential_add(struct cg_lr_schedule *seq, struct cg_lr_schedule *phase,
                          const char *fn);
/* True if s is a SequentialLR that still takes phases. */
bool cg_lr_sequential_collecting(const struct cg_lr_schedule *s);
/* Sets every group's lr from the closed form at s->epoch (and momentum,
 * for a schedule that cycles it). */
void cg_lr_schedule_apply(struct cg_lr_schedule *s);
/* A setting of a schedule, as a config item. */
void cg_lr_visit_config(cg_state_visitor visit, void *user, const char *name,
                        enum cg_state_type type, void *values, size_t count);

/* Yields the schedule's items (called by cg_optimizer_visit_state). */
void cg_lr_schedule_visit_state(struct cg_lr_schedule *s, cg_state_visitor visit, void *user);
/* Frees a schedule (called by cg_optimizer_free). */
void cg_lr_schedule_destroy(struct cg_lr_schedule *s);

/* The first parameter whose dtype or size (or its grad's) differs from
 * the optimizer's creation, or SIZE_MAX: step refuses then. */
size_t cg_optim_changed_param(const struct cg_optimizer *opt);

/* cg_optimizer_backward's memory (fused_step.c), freed with the optimizer. */
void cg_fused_step_free(struct cg_fused_step *f);

/* True inside a consuming step_param (cg_optimizer_backward_consume) when
 * the update may zero each gradient range right after reading it, while
 * it is in cache, instead of a separate pass over the gradient afterwards;
 * calling it records that the caller will. */
bool cg_fused_take_zeroing(const struct cg_optimizer *opt);

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
