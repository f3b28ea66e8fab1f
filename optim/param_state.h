/* Per-parameter state of the adaptive optimizers (Adam, AdamW, RMSprop,
 * Adagrad): up to three tensors shaped like the parameter and a step count,
 * their names for checkpoints, and the elementwise update run on the pool. */
#ifndef CG_OPTIM_PARAM_STATE_H
#define CG_OPTIM_PARAM_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "cgrad/optim.h"

#define CG_PSTATE_MAX 3

struct cg_pstate {
    struct cg_tensor *t[CG_PSTATE_MAX]; /* owned; NULL when the options do not use it */
    uint64_t step;                      /* PyTorch's state['step'] */
    bool present;                       /* the state exists (PyTorch created it) */
    double scalar[4];                   /* this step's per-parameter constants */
};

struct cg_pstate_set {
    size_t n;
    struct cg_pstate *s;
    const char *what[CG_PSTATE_MAX]; /* "exp_avg", ...; NULL past the last */
    bool always_present;             /* Adagrad: state exists from creation */
};

/* Allocates `size` zeroed bytes for an optimizer whose first member is
 * struct cg_optimizer and fills that base from `model` (use_model) or from
 * params[0..n).  NULL after misuse (model NULL included) or on
 * out-of-memory. */
struct cg_optimizer *cg_optim_create(size_t size, const struct cg_optimizer_vtable *vtable,
                                     bool use_model, struct cg_module *model,
                                     struct cg_tensor *const *params,
                                     size_t n, double lr, double weight_decay, const char *fn);

/* Allocates one cg_pstate per parameter of `opt` and, for each what[k] with
 * used[k], a tensor like the parameter filled with `fill`.  CG_OK or
 * CG_ERR_NOMEM (the set then holds nothing). */
enum cg_status cg_pstate_init(struct cg_pstate_set *set, const struct cg_optimizer *opt,
                              const char *const what[CG_PSTATE_MAX],
                              const bool used[CG_PSTATE_MAX], double fill);
void cg_pstate_free(struct cg_pstate_set *set);
/* Allocates tensor what[k], zeroed, for each parameter of `group` (SIZE_MAX:
 * every group) that lacks it.  CG_OK or CG_ERR_NOMEM. */
enum cg_status cg_pstate_add(struct cg_pstate_set *set, const struct cg_optimizer *opt, int k,
                             size_t group);
/* Yields "state.<param>.<what>" for every used tensor and
 * "state.<param>.step" (U64) for every parameter. */
void cg_pstate_visit(struct cg_pstate_set *set, const struct cg_optimizer *opt,
                     cg_state_visitor visit, void *user);
/* Yields a setting that must match on load: `count` doubles (CG_STATE_F64)
 * or uint64_t flags (CG_STATE_U64) at `values`. */
void cg_optim_visit_config(cg_state_visitor visit, void *user, const char *name,
                           enum cg_state_type type, void *values, size_t count);
/* v, or `def` when v is +0 (an option left unset; CG_OPTIM_ZERO is -0). */
double cg_optim_default(double v, double def);

/* Option check with PyTorch's wording: when !ok, reports misuse
 * "Invalid <what>: <value> (hint: <hint>)" and returns false. */
bool cg_optim_check(const char *fn, bool ok, const char *what, double value, const char *hint);

/* set_momentum for SGD and RMSprop: checks momentum >= 0 (PyTorch's
 * wording, misuse naming fn), has add_buffers(opt, group) allocate the
 * group's momentum buffers that are missing when it is not 0 (PyTorch
 * creates them at the first step with a momentum; here no step allocates),
 * then sets it.  CG_OK, CG_ERR_INVALID or CG_ERR_NOMEM (nothing set). */
enum cg_status cg_optim_set_buffered_momentum(struct cg_optimizer *opt, size_t group,
                                              double momentum, const char *fn,
                                              enum cg_status (*add_buffers)(
                                                  struct cg_optimizer *opt, size_t group));

/* False after misuse naming cg_optimizer_step if a parameter with a grad,
 * in a group whose momentum is not 0, has no momentum buffer (has_buffer
 * false): only a momentum written around cg_optimizer_set_group_momentum
 * (a crafted checkpoint) does that. */
bool cg_optim_buffers_ok(const struct cg_optimizer *opt,
                         bool (*has_buffer)(const void *ctx, size_t param), const void *ctx);
/* Silent and stricter, for can_step_params: true when every parameter in a
 * group whose momentum is not 0 has its buffer, grad or not. */
bool cg_optim_buffers_all(const struct cg_optimizer *opt,
                          bool (*has_buffer)(const void *ctx, size_t param), const void *ctx);

/* True when p's grad was written by a backward since the last zero_grad
 * (PyTorch: p.grad is not None). */
bool cg_optim_has_grad(const struct cg_tensor *p);

/* Calls update(ctx, i, lo, hi) on element ranges [lo, hi) that together
 * cover every parameter i for which cg_optim_has_grad holds, split over
 * the thread pool along the first dimension.  Each element must be updated
 * on its own, so that any split gives the same bits. */
typedef void (*cg_range_update)(void *ctx, size_t param, int64_t lo, int64_t hi);
void cg_optim_update_ranges(const struct cg_optimizer *opt, cg_range_update update, void *ctx);

/* update(ctx, i, lo, hi) over all of parameter i, split over the thread
 * pool as cg_optim_update_ranges splits it (not at all when it is small):
 * a step_param of the fused backward. */
void cg_optim_update_param(const struct cg_optimizer *opt, size_t param, cg_range_update update,
                           void *ctx);

/* One step of an adaptive optimizer: for every parameter with a grad, counts
 * its step and calls prepare(ctx, state, group) to set state->scalar; then
 * runs update over the elements (cg_optim_update_ranges) and marks the
 * state present. */
typedef void (*cg_pstate_prepare)(void *ctx, struct cg_pstate *state,
                                  const struct cg_param_group *group);
void cg_pstate_step(struct cg_pstate_set *set, const struct cg_optimizer *opt,
                    cg_pstate_prepare prepare, cg_range_update update, void *ctx);
/* cg_pstate_step for parameter i alone (which has a grad). */
void cg_pstate_step_param(struct cg_pstate_set *set, const struct cg_optimizer *opt, size_t param,
                          cg_pstate_prepare prepare, cg_range_update update, void *ctx);

#endif
