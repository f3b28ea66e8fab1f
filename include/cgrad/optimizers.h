/* Adaptive optimizers: Adam, AdamW, RMSprop and Adagrad (PyTorch 1.13's
 * torch.optim algorithms, single-tensor path, operation for operation).
 *
 * Each constructor returns a struct cg_optimizer: step, zero_grad, lr,
 * parameter groups, schedules and checkpoints work as for SGD (see
 * cgrad/optim.h).  The optimizer keeps pointers to the parameters (the
 * model must outlive it) and owns its state, which it allocates when it is
 * created, so a step never allocates.
 *
 * A parameter whose grad was not written since the last zero_grad (a frozen
 * layer, a branch the loss did not use) is skipped, as PyTorch skips a
 * parameter whose .grad is None: its values, its state and its step count
 * stay as they are.  Each parameter keeps its own step count (PyTorch's
 * state['step']), so bias corrections follow the steps it really took.
 *
 * Options.  A field left at 0 takes PyTorch's default where PyTorch has a
 * non-zero one (betas, eps, alpha, AdamW's weight_decay).  To ask for an
 * actual 0 there, write CG_OPTIM_ZERO.  lr has no default, as for SGD: an
 * lr left at 0 is misuse (cg_optimizer_set_lr(opt, 0) freezes on purpose).
 * Values PyTorch rejects are misuse with PyTorch's message, e.g.
 * "Invalid beta parameter at index 0: 1"; the constructor then returns NULL
 * and allocates nothing.  On out-of-memory it returns NULL with
 * CG_ERR_NOMEM in cg_last_error().  Free with cg_optimizer_free. */
#ifndef CGRAD_OPTIMIZERS_H
#define CGRAD_OPTIMIZERS_H

#include "export.h"
#include <stdbool.h>
#include <stddef.h>

#include "module.h"
#include "optim.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* An explicit zero for an option whose 0 would mean "PyTorch's default"
 * (negative zero: it compares equal to 0 and computes as 0). */
#define CG_OPTIM_ZERO (-0.0)

/* ---- Adam and AdamW (torch.optim.Adam / torch.optim.AdamW) ----
 *
 * For each parameter p with a grad g, in p's dtype (t = its step count;
 * lr, weight_decay and beta1 are its group's, see
 * cg_optimizer_set_group_momentum):
 *
 *     t = t + 1
 *     if maximize:                 g = -g
 *     Adam, if weight_decay:       g = g + weight_decay * p      (L2)
 *     AdamW:                       p = p * (1 - lr * weight_decay) (decoupled)
 *     m = beta1 * m + (1 - beta1) * g
 *     v = beta2 * v + (1 - beta2) * g * g
 *     if amsgrad:                  vmax = max(vmax, v);  v_used = vmax
 *     denom = sqrt(v_used) / sqrt(1 - beta2^t) + eps
 *     p = p - lr / (1 - beta1^t) * m / denom
 *
 * State: "state.<name>.exp_avg", "exp_avg_sq", "max_exp_avg_sq" (amsgrad)
 * and "step", after the parameter's first step. */
struct cg_adam_options {
    double lr;           /* > 0, required (PyTorch's default is 1e-3) */
    double betas[2];     /* each in [0, 1); 0: 0.9 and 0.999 */
    double eps;          /* >= 0; 0: 1e-8 */
    double weight_decay; /* >= 0; AdamW: 0 means 1e-2 (PyTorch's default) */
    bool amsgrad;
    bool maximize;
};

/* New Adam / AdamW optimizer over every parameter of `model`, or over `n`
 * plain persistent tensors (named "0", "1", ...; the array is copied).
 * Misuse (NULL, nothing allocated): model/params NULL, a parameter on a
 * tape, lr <= 0, eps < 0, a beta outside [0, 1), weight_decay < 0, NaN. */
CG_API struct cg_optimizer *cg_adam_new(struct cg_module *model, struct cg_adam_options options);
CG_API struct cg_optimizer *cg_adam_new_params(struct cg_tensor *const *params, size_t n,
                                               struct cg_adam_options options);
CG_API struct cg_optimizer *cg_adamw_new(struct cg_module *model,
                                         struct cg_adam_options options);
CG_API struct cg_optimizer *cg_adamw_new_params(struct cg_tensor *const *params, size_t n,
                                                struct cg_adam_options options);
/* The options in effect (defaults filled in; lr, weight_decay and
 * betas[0]: group 0's).  All zero and misuse if opt is NULL or not Adam/AdamW. */
CG_API struct cg_adam_options cg_adam_get_options(const struct cg_optimizer *opt);

/* ---- RMSprop (torch.optim.RMSprop) ----
 *
 *     if maximize:      g = -g
 *     if weight_decay:  g = g + weight_decay * p
 *     v = alpha * v + (1 - alpha) * g * g
 *     if centered:      a = alpha * a + (1 - alpha) * g;  avg = sqrt(v - a * a) + eps
 *     else:             avg = sqrt(v) + eps
 *     if momentum > 0:  buf = momentum * buf + g / avg;  p = p - lr * buf
 *     else:             p = p - lr * g / avg
 *
 * State: "state.<name>.square_avg", "momentum_buffer" (momentum > 0),
 * "grad_avg" (centered) and "step". */
struct cg_rmsprop_options {
    double lr;           /* > 0, required (PyTorch's default is 1e-2) */
    double alpha;        /* >= 0; 0: 0.99 */
    double eps;          /* >= 0; 0: 1e-8 */
    double weight_decay; /* >= 0 */
    double momentum;     /* >= 0, per group like lr (cg_optimizer_set_group_momentum) */
    bool centered;
    bool maximize;
};

/* Misuse (NULL): as for Adam, and alpha < 0, momentum < 0. */
CG_API struct cg_optimizer *cg_rmsprop_new(struct cg_module *model,
                                           struct cg_rmsprop_options options);
CG_API struct cg_optimizer *cg_rmsprop_new_params(struct cg_tensor *const *params, size_t n,
                                                  struct cg_rmsprop_options options);
/* The options in effect (lr, weight_decay, momentum: group 0's); all zero
 * and misuse if opt is NULL or not RMSprop. */
CG_API struct cg_rmsprop_options cg_rmsprop_get_options(const struct cg_optimizer *opt);

/* ---- Adagrad (torch.optim.Adagrad) ----
 *
 *     t = t + 1
 *     if maximize:      g = -g
 *     if weight_decay:  g = g + weight_decay * p
 *     clr = lr / (1 + (t - 1) * lr_decay)
 *     sum = sum + g * g
 *     p = p - clr * g / (sqrt(sum) + eps)
 *
 * State: "state.<name>.sum" (initial_accumulator_value from the start) and
 * "step", both present from creation as in PyTorch. */
struct cg_adagrad_options {
    double lr;                        /* > 0, required (PyTorch's default is 1e-2) */
    double lr_decay;                  /* >= 0 */
    double weight_decay;              /* >= 0 */
    double initial_accumulator_value; /* >= 0 */
    double eps;                       /* >= 0; 0: 1e-10 */
    bool maximize;
};

/* Misuse (NULL): as for Adam, and lr_decay or initial_accumulator_value < 0. */
CG_API struct cg_optimizer *cg_adagrad_new(struct cg_module *model,
                                           struct cg_adagrad_options options);
CG_API struct cg_optimizer *cg_adagrad_new_params(struct cg_tensor *const *params, size_t n,
                                                  struct cg_adagrad_options options);
CG_API struct cg_adagrad_options cg_adagrad_get_options(const struct cg_optimizer *opt);

#ifdef __cplusplus
}
#endif
#endif
