/* Optimizers: one interface (struct cg_optimizer, a vtable like
 * cg_module's), SGD as one implementation of it, parameter groups,
 * learning-rate schedules and gradient clipping that work on any optimizer.
 *
 * Every optimizer follows PyTorch 1.13's torch/optim algorithm exactly.
 * The optimizer keeps pointers to the parameters (it does not own them): the
 * model must outlive it.  State tensors are allocated when the optimizer is
 * created, so a step never allocates.
 *
 * Typical loop:
 *
 *     struct cg_optimizer *opt = cg_sgd_new(model, (struct cg_sgd_options){
 *         .lr = 0.05, .momentum = 0.9, .weight_decay = 1e-4});
 *     cg_optimizer_add_group(opt, "*.bias", (struct cg_group_options){
 *         .weight_decay = 0, .set_weight_decay = true});    // no decay on biases
 *     for (...) {
 *         cg_optimizer_zero_grad(opt);
 *         ...forward, cg_backward...;
 *         cg_optimizer_step(opt);
 *     }
 *     cg_optimizer_free(opt);
 *
 * WRITING AN OPTIMIZER.  A struct whose first member is struct
 * cg_optimizer; cg_optimizer_init collects the parameters (group 0), the
 * vtable does the rest.  The base keeps parameters, names, groups, the
 * step count and the schedule; checkpoints save whatever visit_state
 * yields, so a new optimizer needs no checkpoint code. */
#ifndef CGRAD_OPTIM_H
#define CGRAD_OPTIM_H

#include "export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "module.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

struct cg_optimizer;
struct cg_lr_schedule;

/* ---- named state, for checkpoints ----
 *
 * visit_state yields each piece of state with a stable name.  A checkpoint
 * save writes every item (except tensors whose *present is false); a load
 * matches the file's records to the items by name: config items must hold
 * the same values (a different momentum is an error, not a silent
 * change), the others are restored.  An item with a `present` flag (state
 * that PyTorch creates at the first step, e.g. a momentum buffer) may be
 * absent from the file: it then starts fresh (*present = false; a U64/F64
 * item keeps its value).  A config item with `absent_off` (a setting added
 * later, always off before) may be absent too: the file predates it, which
 * matches the item only if its values are all 0. */
enum cg_state_type {
    CG_STATE_TENSOR = 1, /* `tensor`, a persistent tensor owned by the optimizer */
    CG_STATE_U64 = 2,    /* `count` uint64_t at `values` */
    CG_STATE_F64 = 3,    /* `count` doubles at `values` */
    CG_STATE_TEXT = 4    /* `count` bytes at `values` (a name; config only) */
};

struct cg_state_item {
    const char *name; /* "step", "group.0.lr", "state.0.weight.momentum_buffer" */
    enum cg_state_type type;
    struct cg_tensor *tensor;
    void *values;
    size_t count;
    bool *present; /* NULL: always there */
    bool config;   /* a setting that must match, not state to restore */
    /* A U64/F64 config setting added later (NULL: the record is required):
     * what a file without the record predates ("OneCycleLR cycled
     * momentum").  Such a file had it off, which matches all-zero values;
     * other values fail the load, naming it and absent_hint (how to resume
     * the file). */
    const char *absent_off, *absent_hint;
    /* For restored U64/F64 items: a load rejects (CG_ERR_FORMAT) a file
     * value outside [min, max] or NaN, so a crafted file cannot set a
     * negative lr or an epoch past INT64_MAX. */
    bool bounded;
    double min, max;
};

typedef void (*cg_state_visitor)(const struct cg_state_item *item, void *user);

struct cg_optimizer_vtable {
    const char *type_name; /* "SGD", "Adam", ... */
    /* Updates every parameter that has a grad.  The base has already
     * checked that no parameter changed dtype or size since creation.
     * Returns CG_OK, or an error after which nothing was updated. */
    enum cg_status (*step)(struct cg_optimizer *self);
    /* Zeroes the grads and sets CG_GRAD_NONE on their tensors; NULL: the
     * base does that for every parameter. */
    void (*zero_grad)(struct cg_optimizer *self);
    /* Yields the implementation's own state and settings (the base adds
     * the type, step count, groups and schedule).  May be NULL. */
    void (*visit_state)(struct cg_optimizer *self, cg_state_visitor visit, void *user);
    /* lr of group g; NULL: the base's groups (the usual case). */
    double (*get_lr)(const struct cg_optimizer *self, size_t group);
    void (*set_lr)(struct cg_optimizer *self, size_t group, double lr);
    /* Sets group g's momentum (groups[g].momentum), the value the steps
     * use: SGD's and RMSprop's momentum, Adam's beta1.  Reports misuse
     * naming fn and returns CG_ERR_INVALID for a value the optimizer does
     * not accept; may allocate state the momentum needs (CG_ERR_NOMEM).
     * Nothing changes on failure.  NULL: the optimizer has no momentum
     * (Adagrad). */
    enum cg_status (*set_momentum)(struct cg_optimizer *self, size_t group, double momentum,
                                   const char *fn);
    /* Frees what the implementation allocated, and the struct itself;
     * cg_optimizer_free releases the base's memory first. */
    void (*free)(struct cg_optimizer *self);
    /* For cg_optimizer_backward: updates parameter `param` alone, exactly
     * as step would update it (same bits; its state and per-parameter
     * step count included).  Called once per step for each parameter with
     * a grad, as soon as the backward has finished that grad; the base
     * has checked what step's base checks.  NULL: cg_optimizer_backward
     * runs the backward, then step. */
    void (*step_param)(struct cg_optimizer *self, size_t param);
    /* True when step would accept every parameter now (step_param cannot
     * refuse halfway); false sends cg_optimizer_backward to backward then
     * step, whose step reports the problem.  NULL: always true. */
    bool (*can_step_params)(const struct cg_optimizer *self);
};

/* One optimized parameter. */
struct cg_optimizer_param {
    struct cg_tensor *tensor; /* not owned */
    const char *name;         /* "0.weight" (owned by the optimizer) */
    size_t group;
    enum cg_dtype dtype; /* at creation, to catch later conversions */
    int64_t numel;
};

/* A parameter group: its own lr, weight decay and momentum, as in PyTorch. */
struct cg_param_group {
    double lr;
    double weight_decay;
    double initial_lr; /* lr when a schedule was attached (its base_lr) */
    double momentum;   /* SGD/RMSprop momentum, Adam/AdamW beta1; 0 without one */
};

/* The base every optimizer starts with.  Implementations read it; only the
 * cg_optimizer_* functions change it. */
struct cg_optimizer {
    const struct cg_optimizer_vtable *vtable;
    size_t n_params;
    struct cg_optimizer_param *params;
    size_t n_groups;
    struct cg_param_group *groups;
    uint64_t steps; /* successful steps */
    struct cg_lr_schedule *schedule;
    char *names_;        /* private: the names' storage */
    uint64_t *group_of_; /* private: each parameter's group, for checkpoints */
    struct cg_fused_step *fused_; /* private: cg_optimizer_backward's memory */
};

/* For implementations: fills the base from model's parameters
 * (cg_module_visit_params order, full names) or from `n` plain persistent
 * tensors (named "0", "1", ...; the array is copied), in one group with lr
 * and weight_decay.  CG_OK, CG_ERR_NOMEM, or CG_ERR_INVALID after misuse
 * (NULL model/params/tensor, a tensor on a tape).  On failure the base
 * holds nothing to free. */
CG_API enum cg_status cg_optimizer_init(struct cg_optimizer *opt,
                                        const struct cg_optimizer_vtable *vtable,
                                        struct cg_module *model, double lr, double weight_decay,
                                        const char *fn);
CG_API enum cg_status cg_optimizer_init_params(struct cg_optimizer *opt,
                                               const struct cg_optimizer_vtable *vtable,
                                               struct cg_tensor *const *params, size_t n,
                                               double lr, double weight_decay, const char *fn);

/* ---- using any optimizer ---- */

/* One update of every parameter that has a grad.  Allocates nothing.
 * CG_OK, or CG_ERR_INVALID after misuse (opt NULL; a parameter whose dtype
 * or shape changed since the optimizer was created -- create it after
 * cg_module_to_dtype); nothing is updated then. */
CG_API enum cg_status cg_optimizer_step(struct cg_optimizer *opt);
/* cg_backward(tape, loss) followed by cg_optimizer_step(opt), in one
 * sweep: each parameter is updated as soon as the backward has finished
 * its gradient, while that gradient is still in cache, instead of in a
 * second pass over all of them.  The parameters, their grads (left as
 * cg_backward leaves them), the optimizer's state and its step count end
 * bit for bit as after the two calls, at any thread count; a parameter
 * with no gradient is skipped, one whose grad an earlier backward wrote
 * (accumulation without zero_grad) is updated after the sweep, as step
 * would.  Call it where you would call the two: after zero_grad and the
 * forward; not when the grads must be seen or changed between backward and
 * step (gradient clipping, logging grad norms): use the two calls then.
 * Nothing is owned or kept: the tape stays the caller's (reset it after).
 *
 * The first call allocates a little bookkeeping (CG_ERR_NOMEM before
 * anything changes if that fails); later calls allocate nothing beyond
 * what cg_backward does.  Runs the two calls one after the other instead
 * (same results, no speed-up) when the optimizer has no step_param
 * (vtable), when a tensor appears twice among the parameters,
 * or when step would refuse (a parameter changed dtype or size, a missing
 * momentum buffer): the misuse is then reported by cg_optimizer_step
 * after the backward, with nothing updated.
 *
 * In anomaly mode (cg_tape_set_anomaly) the updates wait until the whole
 * backward has passed its checks: CG_ERR_NONFINITE leaves every parameter
 * and the state untouched.
 *
 * Returns CG_OK, CG_ERR_INVALID (misuse: opt, tape or loss NULL, or as
 * cg_backward and cg_optimizer_step; nothing updated), CG_ERR_NONFINITE
 * (anomaly mode; nothing updated) or CG_ERR_NOMEM.
 * Out-of-memory in the middle of the sweep (only when the backward must
 * allocate: the tape's arena growing or a missing grad, in the first steps
 * of a loop) is the one error after which some parameters are updated:
 * those whose gradients were complete are (with their own state, e.g.
 * Adam's per-parameter step), the others are not, the optimizer's step
 * count stays, and cg_last_error() says how many of how many were
 * updated.
 *
 * Like step, an update reads the parameter's own data once its gradient is
 * final: a forward that read a parameter through an unrecorded alias (a
 * cg_tensor_detach view or a reshape made with grad mode off) may see the
 * update before the backward of that op has run; use the two calls then. */
CG_API enum cg_status cg_optimizer_backward(struct cg_optimizer *opt, struct cg_tape *tape,
                                            struct cg_tensor *loss);
/* cg_optimizer_backward that also does the next cg_optimizer_zero_grad's
 * work: each parameter's grad is zeroed and flagged CG_GRAD_NONE right
 * after its update, while it is still in cache, instead of by a separate
 * pass over cold memory before the next backward.  Parameters, state and
 * step count end bit for bit as after cg_backward, cg_optimizer_step and
 * cg_optimizer_zero_grad; the gradients are gone afterwards (read them
 * with the separate calls), and a zero_grad before the next backward has
 * nothing left to do (call it or not).  For the usual loop that zeroes
 * before every backward.  Same fall-backs (then: backward, step and, if
 * both succeeded, zero_grad), errors and statuses as cg_optimizer_backward;
 * after an out-of-memory in the middle of the sweep the updated parameters'
 * grads are zeroed too. */
CG_API enum cg_status cg_optimizer_backward_consume(struct cg_optimizer *opt,
                                                    struct cg_tape *tape,
                                                    struct cg_tensor *loss);
/* Sets every parameter's grad to zero and flags it CG_GRAD_NONE: until a
 * backward writes its grad again, steps skip the parameter (its values and
 * state stay), as PyTorch skips a .grad that zero_grad(set_to_none=True)
 * left None.  A grad flagged CG_GRAD_NONE already holds zeros (the flag's
 * contract for persistent tensors) and is not written again.  Allocates
 * nothing.  Misuse if opt is NULL. */
CG_API void cg_optimizer_zero_grad(struct cg_optimizer *opt);
/* Frees the optimizer, its state and its schedule (not the parameters).
 * NULL is ignored. */
CG_API void cg_optimizer_free(struct cg_optimizer *opt);
/* "SGD", ... ("" for NULL). */
CG_API const char *cg_optimizer_type(const struct cg_optimizer *opt);

/* Learning rate of group 0 (NaN and misuse if opt is NULL).  set_lr sets
 * every group's lr; misuse for opt NULL, lr < 0 or NaN (nothing changes).
 * A schedule overwrites the lrs at its next cg_lr_schedule_step. */
CG_API double cg_optimizer_get_lr(const struct cg_optimizer *opt);
CG_API void cg_optimizer_set_lr(struct cg_optimizer *opt, double lr);
/* Per group (misuse for a bad group index). */
CG_API double cg_optimizer_get_group_lr(const struct cg_optimizer *opt, size_t group);
CG_API void cg_optimizer_set_group_lr(struct cg_optimizer *opt, size_t group, double lr);

/* Momentum of a group: SGD's and RMSprop's `momentum`, Adam's and AdamW's
 * beta1 (PyTorch's group['momentum'] / group['betas'][0]); the steps use
 * each group's own.  A new group starts with group 0's.  get: NaN and
 * misuse for opt NULL, a bad group index or an optimizer without momentum
 * (Adagrad).  set returns CG_OK, or CG_ERR_INVALID after the same misuse
 * or a value the optimizer rejects with PyTorch's wording (momentum < 0,
 * a beta1 outside [0, 1), NaN); nothing changes then.  An SGD or RMSprop
 * created with momentum 0 has no momentum buffers: the first non-zero
 * momentum allocates them (here, never in a step; CG_ERR_NOMEM on
 * out-of-memory) and the next steps use them as PyTorch does.
 * OneCycleLR sets the momentum at each of its steps. */
CG_API double cg_optimizer_get_group_momentum(const struct cg_optimizer *opt, size_t group);
CG_API enum cg_status cg_optimizer_set_group_momentum(struct cg_optimizer *opt, size_t group,
                                                      double momentum);

/* Overrides for a new parameter group; a field applies only when its set_
 * flag is true, otherwise the group takes group 0's value. */
struct cg_group_options {
    double lr;
    double weight_decay;
    bool set_lr, set_weight_decay;
    double momentum; /* as cg_optimizer_set_group_momentum: SGD/RMSprop momentum, Adam beta1 */
    bool set_momentum;
};

/* Moves every parameter whose full name matches `pattern` (fnmatch(3)
 * shell pattern: "*.bias", "0.*") and that is still in group 0 into a new
 * group with these options.  Returns the new group's index (>= 1), or -1
 * after misuse: opt or pattern NULL, no parameter matched, a negative or
 * NaN value, a momentum the optimizer has not (Adagrad) or rejects, or a
 * schedule already attached (add groups first); nothing changes then.  Allocates;
 * -1 with CG_ERR_NOMEM in cg_last_error() on out-of-memory. */
CG_API int cg_optimizer_add_group(struct cg_optimizer *opt, const char *pattern,
                                  struct cg_group_options options);
CG_API size_t cg_optimizer_group_count(const struct cg_optimizer *opt);

/* Successful steps so far (restored by cg_checkpoint_load); 0 for NULL. */
CG_API uint64_t cg_optimizer_step_count(const struct cg_optimizer *opt);
/* Parameters: count (0 for NULL), i-th tensor, name and group (NULL / 0
 * when i is out of range; no misuse). */
CG_API size_t cg_optimizer_param_count(const struct cg_optimizer *opt);
CG_API struct cg_tensor *cg_optimizer_param(const struct cg_optimizer *opt, size_t i);
CG_API const char *cg_optimizer_param_name(const struct cg_optimizer *opt, size_t i);
/* Visits the whole named state: the implementation's items, then the
 * base's ("type", "step", "param_groups", "group.<g>.lr",
 * "group.<g>.weight_decay", and "group.<g>.momentum" for an optimizer with
 * momentum: optional in a file, which older files lack) and the
 * schedule's ("schedule.*").  Names are
 * valid during the call only.  Nothing happens for NULL arguments. */
CG_API void cg_optimizer_visit_state(struct cg_optimizer *opt, cg_state_visitor visit,
                                     void *user);
/* The state tensor named "state.<param name>.<what>" (e.g. "0.weight",
 * "momentum_buffer"), or NULL if there is none or it is not present yet. */
CG_API const struct cg_tensor *cg_optimizer_state_tensor(struct cg_optimizer *opt,
                                                         const char *param, const char *what);

/* ---- SGD (torch.optim.SGD, PyTorch 1.13) ----
 *
 * For each parameter p whose grad g exists, one step computes (in p's
 * dtype), with the group's lr, weight_decay and momentum:
 *
 *     if maximize:      g = -g
 *     if weight_decay:  g = g + weight_decay * p
 *     if momentum:      buf = first step ? copy(g) : momentum * buf + (1 - dampening) * g
 *                       g   = nesterov ? g + momentum * buf : buf
 *     p = p - lr * g
 *
 * State: "state.<name>.momentum_buffer" per parameter (after its first
 * step, as PyTorch's 'momentum_buffer'). */
struct cg_sgd_options {
    double lr;           /* learning rate, > 0 (required, as in PyTorch) */
    double momentum;     /* >= 0; 0: no buffers until a momentum is set (OneCycleLR) */
    double dampening;    /* applied to the gradient from the second step on */
    double weight_decay; /* L2 penalty, >= 0 */
    bool nesterov;       /* needs momentum > 0 and dampening == 0 */
    bool maximize;       /* ascend instead of descend */
};

/* New SGD optimizer over every parameter of `model`.  Misuse (returns NULL,
 * nothing allocated): model NULL, lr <= 0 (lr left at 0 trains nothing: set
 * it; cg_optimizer_set_lr(opt, 0) afterwards freezes on purpose),
 * momentum/weight_decay < 0, any value NaN, nesterov without momentum > 0
 * and dampening == 0.  NULL with CG_ERR_NOMEM in cg_last_error() on
 * out-of-memory.  Free with cg_optimizer_free. */
CG_API struct cg_optimizer *cg_sgd_new(struct cg_module *model, struct cg_sgd_options options);
/* Same over `n` plain persistent tensors (named "0", "1", ...).  The array
 * is copied; the tensors must outlive the optimizer. */
CG_API struct cg_optimizer *cg_sgd_new_params(struct cg_tensor *const *params, size_t n,
                                              struct cg_sgd_options options);
/* The options in effect (lr, weight_decay, momentum: group 0's); all zero and
 * misuse if opt is NULL or not an SGD optimizer. */
CG_API struct cg_sgd_options cg_sgd_get_options(const struct cg_optimizer *opt);
/* The i-th parameter's momentum buffer, or NULL if momentum is 0, the
 * parameter has not been stepped yet, or opt is not SGD (no misuse). */
CG_API const struct cg_tensor *cg_sgd_momentum_buffer(const struct cg_optimizer *opt, size_t i);

/* ---- learning-rate schedules ----
 *
 * A schedule belongs to one optimizer: it is attached when created, sets
 * the lr of every group, is saved and restored with the optimizer by
 * checkpoints and is freed by cg_optimizer_free (do not free it yourself).
 * An optimizer holds at most one schedule.  Each group's base_lr is its lr
 * when the schedule is created; the schedule starts at epoch 0 with
 * lr = base_lr.  Call cg_lr_schedule_step once per epoch, after that
 * epoch's optimizer steps (as scheduler.step() in PyTorch). */

/* StepLR: lr(epoch) = base_lr * gamma^floor(epoch / step_size).
 * Misuse (NULL): opt NULL or already scheduled, step_size < 1, gamma < 0,
 * NaN or infinite.  NULL with CG_ERR_NOMEM on out-of-memory. */
CG_API struct cg_lr_schedule *cg_lr_step_new(struct cg_optimizer *opt, int64_t step_size,
                                             double gamma);
/* CosineAnnealingLR, closed form:
 *   lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2
 * (periodic past t_max, as PyTorch's).  Misuse (NULL): opt NULL or already
 * scheduled, t_max < 1, eta_min < 0, NaN or infinite. */
CG_API struct cg_lr_schedule *cg_lr_cosine_new(struct cg_optimizer *opt, int64_t t_max,
                                               double eta_min);
/* Advances one epoch and sets every group's lr.  Returns group 0's new lr
 * (NaN and misuse if s is NULL). */
CG_API double cg_lr_schedule_step(struct cg_lr_schedule *s);
/* Current epoch (0 after creation, and for s NULL). */
CG_API int64_t cg_lr_schedule_epoch(const struct cg_lr_schedule *s);
/* Group 0's lr at `epoch`, without changing anything.  NaN and misuse if s
 * is NULL or epoch < 0. */
CG_API double cg_lr_schedule_lr_at(const struct cg_lr_schedule *s, int64_t epoch);
/* The optimizer's schedule (owned by it), or NULL (none, or opt NULL). */
CG_API struct cg_lr_schedule *cg_optimizer_schedule(const struct cg_optimizer *opt);

/* ---- gradient clipping (torch.nn.utils.clip_grad_norm_, 2-norm) ----
 *
 * total = sqrt(sum over every grad element of g^2) (accumulated in double);
 * if max_norm / (total + 1e-6) < 1, every grad is multiplied by that factor.
 * Returns total (before clipping).  Parameters without a grad are skipped.
 * Unlike PyTorch, a NaN or infinite total leaves the grads unchanged (the
 * caller can test the returned value and skip the step).  Misuse (returns
 * NaN, nothing changed): NULL model/params/opt, max_norm < 0 or NaN. */
CG_API double cg_clip_grad_norm(struct cg_module *model, double max_norm);
CG_API double cg_clip_grad_norm_params(struct cg_tensor *const *params, size_t n,
                                       double max_norm);
/* Clips the grads of the optimizer's parameters. */
CG_API double cg_optimizer_clip_grad_norm(struct cg_optimizer *opt, double max_norm);

#ifdef __cplusplus
}
#endif
#endif
