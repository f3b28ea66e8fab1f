/* Optimizers, learning-rate schedules and gradient clipping.
 *
 * SGD follows torch.optim.SGD (PyTorch 1.13) exactly.  For each parameter p
 * whose grad g exists, one step computes (in p's dtype):
 *
 *     if maximize:      g = -g
 *     if weight_decay:  g = g + weight_decay * p
 *     if momentum:      buf = first step ? copy(g) : momentum * buf + (1 - dampening) * g
 *                       g   = nesterov ? g + momentum * buf : buf
 *     p = p - lr * g
 *
 * The optimizer keeps pointers to the parameters (it does not own them): the
 * model must outlive it.  Momentum buffers are allocated when the optimizer
 * is created, so cg_sgd_step never allocates.
 *
 * Typical loop:
 *
 *     struct cg_sgd *opt = cg_sgd_new(model, (struct cg_sgd_options){ .lr = 0.05, .momentum = 0.9 });
 *     for (...) { cg_sgd_zero_grad(opt); ...forward, cg_backward...; cg_sgd_step(opt); }
 *     cg_sgd_free(opt);
 */
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

/* Hyperparameters; zero-initialize and set what you need (as PyTorch's
 * defaults, everything but lr is 0/false). */
struct cg_sgd_options {
    double lr;           /* learning rate, >= 0 */
    double momentum;     /* >= 0; 0 disables momentum (no buffers) */
    double dampening;    /* applied to the gradient from the second step on */
    double weight_decay; /* L2 penalty, >= 0 */
    bool nesterov;       /* needs momentum > 0 and dampening == 0 */
    bool maximize;       /* ascend instead of descend */
};

struct cg_sgd;

/* New SGD optimizer over every parameter of `model` (cg_module_visit_params
 * order; the names are kept for checkpoints).  Misuse (returns NULL, nothing
 * allocated): model NULL, lr/momentum/weight_decay < 0, any value NaN,
 * nesterov without momentum > 0 and dampening == 0.  Returns NULL with
 * CG_ERR_NOMEM in cg_last_error() on out-of-memory.  Free with cg_sgd_free. */
CG_API struct cg_sgd *cg_sgd_new(struct cg_module *model, struct cg_sgd_options options);

/* Same over `n` plain persistent tensors (named "0", "1", ... in
 * checkpoints).  The array is copied; the tensors must outlive the
 * optimizer.  Misuse as cg_sgd_new, plus params NULL, a NULL tensor, or a
 * tensor that lives on a tape. */
CG_API struct cg_sgd *cg_sgd_new_params(struct cg_tensor *const *params, size_t n,
                                 struct cg_sgd_options options);

/* Frees the optimizer, its momentum buffers and its learning-rate schedule
 * (not the parameters).  NULL is ignored. */
CG_API void cg_sgd_free(struct cg_sgd *opt);

/* One update of every parameter that has a grad (parameters without one are
 * skipped, like a None grad in PyTorch).  Allocates nothing.  Returns CG_OK,
 * or CG_ERR_INVALID after misuse (opt NULL; a parameter whose dtype or shape
 * changed since the optimizer was created -- create the optimizer after
 * cg_module_to_dtype); nothing is updated then. */
CG_API enum cg_status cg_sgd_step(struct cg_sgd *opt);

/* Sets every parameter's grad to zero (PyTorch's set_to_none=False).
 * Allocates nothing.  Misuse if opt is NULL. */
CG_API void cg_sgd_zero_grad(struct cg_sgd *opt);

/* Current learning rate (NaN and misuse if opt is NULL); set_lr reports
 * misuse for opt NULL, lr < 0 or NaN (and keeps the old value).  A schedule
 * overwrites the lr at its next cg_lr_schedule_step. */
CG_API double cg_sgd_get_lr(const struct cg_sgd *opt);
CG_API void cg_sgd_set_lr(struct cg_sgd *opt, double lr);

/* The options in effect (lr is the current learning rate); all zero and
 * misuse if opt is NULL. */
CG_API struct cg_sgd_options cg_sgd_get_options(const struct cg_sgd *opt);

/* Number of successful cg_sgd_step calls so far (restored by
 * cg_checkpoint_load); 0 for opt NULL. */
CG_API uint64_t cg_sgd_step_count(const struct cg_sgd *opt);

/* ---- state inspection (the returned pointers belong to the optimizer and
 *      stay valid until cg_sgd_free; none of these report misuse) ---- */
/* Number of parameters (0 for opt NULL). */
CG_API size_t cg_sgd_param_count(const struct cg_sgd *opt);
/* The i-th parameter, its name ("0.weight"), or NULL when i is out of range. */
CG_API struct cg_tensor *cg_sgd_param(const struct cg_sgd *opt, size_t i);
CG_API const char *cg_sgd_param_name(const struct cg_sgd *opt, size_t i);
/* The i-th momentum buffer, or NULL if momentum is 0 or the parameter has not
 * been stepped yet (PyTorch: no 'momentum_buffer' in its state). */
CG_API const struct cg_tensor *cg_sgd_momentum_buffer(const struct cg_sgd *opt, size_t i);

/* ---- learning-rate schedules ----
 *
 * A schedule belongs to one optimizer: it is attached when created, sets the
 * optimizer's lr, is saved and restored with the optimizer by checkpoints and
 * is freed by cg_sgd_free (do not free it yourself).  An optimizer holds at
 * most one schedule.  base_lr is the optimizer's lr when the schedule is
 * created; the schedule starts at epoch 0 with lr = base_lr.  Call
 * cg_lr_schedule_step once per epoch, after that epoch's optimizer steps (as
 * scheduler.step() in PyTorch). */
struct cg_lr_schedule;

/* StepLR: lr(epoch) = base_lr * gamma^floor(epoch / step_size).
 * Misuse (NULL): opt NULL or already scheduled, step_size < 1, gamma < 0,
 * NaN or infinite.  NULL with CG_ERR_NOMEM on out-of-memory. */
CG_API struct cg_lr_schedule *cg_lr_step_new(struct cg_sgd *opt, int64_t step_size, double gamma);

/* CosineAnnealingLR, closed form:
 *   lr(epoch) = eta_min + (base_lr - eta_min) * (1 + cos(pi * epoch / t_max)) / 2
 * (periodic past t_max, as PyTorch's).  Misuse (NULL): opt NULL or already
 * scheduled, t_max < 1, eta_min < 0, NaN or infinite.  NULL with
 * CG_ERR_NOMEM on out-of-memory. */
CG_API struct cg_lr_schedule *cg_lr_cosine_new(struct cg_sgd *opt, int64_t t_max, double eta_min);

/* Advances one epoch and sets the optimizer's lr.  Returns the new lr
 * (NaN and misuse if s is NULL). */
CG_API double cg_lr_schedule_step(struct cg_lr_schedule *s);
/* Current epoch (0 after creation, and for s NULL). */
CG_API int64_t cg_lr_schedule_epoch(const struct cg_lr_schedule *s);
/* The lr the schedule gives at `epoch`, without changing anything.  NaN and
 * misuse if s is NULL or epoch < 0. */
CG_API double cg_lr_schedule_lr_at(const struct cg_lr_schedule *s, int64_t epoch);
/* The optimizer's schedule (owned by it), or NULL (none, or opt NULL). */
CG_API struct cg_lr_schedule *cg_sgd_schedule(const struct cg_sgd *opt);

/* ---- gradient clipping (torch.nn.utils.clip_grad_norm_, 2-norm) ----
 *
 * total = sqrt(sum over every grad element of g^2) (accumulated in double);
 * if max_norm / (total + 1e-6) < 1, every grad is multiplied by that factor.
 * Returns total (before clipping).  Parameters without a grad are skipped.
 * Unlike PyTorch, a NaN or infinite total leaves the grads unchanged (the
 * caller can test the returned value and skip the step).  Misuse (returns
 * NaN, nothing changed): NULL model/params, max_norm < 0 or NaN. */
CG_API double cg_clip_grad_norm(struct cg_module *model, double max_norm);
CG_API double cg_clip_grad_norm_params(struct cg_tensor *const *params, size_t n, double max_norm);
/* Clips the grads of the optimizer's parameters (same return value and
 * misuse, including opt NULL). */
CG_API double cg_sgd_clip_grad_norm(struct cg_sgd *opt, double max_norm);

#ifdef __cplusplus
}
#endif
#endif
