/* More learning-rate schedules (PyTorch 1.13's torch.optim.lr_scheduler):
 * MultiStepLR, ExponentialLR, LinearLR, OneCycleLR, ReduceLROnPlateau and
 * SequentialLR.  StepLR, CosineAnnealingLR and the common rules are in
 * cgrad/optim.h: a schedule belongs to the optimizer it was created on
 * (which frees it and saves it in checkpoints), sets the lr of every
 * parameter group, and is stepped once per epoch with cg_lr_schedule_step
 * (ReduceLROnPlateau: cg_lr_schedule_step_metric).
 *
 * Constructors return NULL after misuse (opt NULL or already scheduled, a
 * bad setting; PyTorch's wording where PyTorch checks it) and with
 * CG_ERR_NOMEM in cg_last_error() on out-of-memory. */
#ifndef CGRAD_SCHEDULES_H
#define CGRAD_SCHEDULES_H

#include "export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* MultiStepLR: lr = base_lr * gamma^(number of milestones <= epoch).
 * `n` milestones (any order; repeats count twice, as in PyTorch; copied).
 * Misuse: n == 0, milestones NULL, a milestone < 0, gamma < 0 or not finite. */
CG_API struct cg_lr_schedule *cg_lr_multistep_new(struct cg_optimizer *opt, size_t n,
                                                  const int64_t *milestones, double gamma);

/* ExponentialLR: lr = base_lr * gamma^epoch.  Misuse: gamma < 0 or not
 * finite. */
CG_API struct cg_lr_schedule *cg_lr_exponential_new(struct cg_optimizer *opt, double gamma);

/* LinearLR (warm-up, or linear decay):
 *   lr = base_lr * (start + (end - start) * min(epoch, total_iters) / total_iters).
 * Misuse: a factor outside [0, 1] ("Starting multiplicative factor expected
 * to be between 0 and 1."), total_iters < 1. */
CG_API struct cg_lr_schedule *cg_lr_linear_new(struct cg_optimizer *opt, double start_factor,
                                               double end_factor, int64_t total_iters);

/* OneCycleLR, stepped once per batch for total_steps steps.  Group g's lr
 * rises from max_lr/div_factor to max_lr over the first pct_start of the
 * steps, then falls to max_lr/div_factor/final_div_factor (three_phase:
 * back to the start first, as PyTorch).  Its momentum (SGD's and
 * RMSprop's momentum, Adam's and AdamW's beta1) cycles the other way, as
 * PyTorch's default cycle_momentum=True: max_momentum from creation, down
 * to base_momentum while the lr rises, back up while it falls (three_phase:
 * then stays at max_momentum); see cg_optimizer_set_group_momentum.  Zero
 * fields take PyTorch's defaults (pct_start 0.3, div_factor 25,
 * final_div_factor 1e4, base_momentum 0.85, max_momentum 0.95;
 * CG_OPTIM_ZERO for a real 0 momentum). */
struct cg_onecycle_options {
    double max_lr;          /* > 0, every group's peak unless max_lrs is set */
    const double *max_lrs;  /* NULL, or one peak per group (copied) */
    int64_t total_steps;    /* >= 1 */
    double pct_start;       /* in [0, 1] */
    bool anneal_linear;     /* false: cosine annealing */
    double div_factor;      /* > 0 */
    double final_div_factor; /* > 0 */
    bool three_phase;
    bool no_cycle_momentum;  /* true: momentum is left alone (cycle_momentum=False) */
    double base_momentum;    /* every group's unless base_momentums is set */
    double max_momentum;     /* every group's unless max_momentums is set */
    const double *base_momentums, *max_momentums; /* NULL, or one per group (copied) */
};
/* Misuse: total_steps < 1 ("Expected positive integer total_steps, but got
 * 0"), pct_start outside [0, 1], a peak <= 0, a factor <= 0; when cycling
 * momentum: an optimizer without momentum (Adagrad: "optimizer must
 * support momentum with `cycle_momentum` option enabled"), a momentum the
 * optimizer rejects (< 0; a beta1 outside [0, 1)), or a SequentialLR phase.
 * Nothing changes then.  Stepping past total_steps is misuse ("Tried to
 * step 101 times. The specified number of total steps is 100"); the lr and
 * momentum then stay.  An SGD or RMSprop created with momentum 0 gets its
 * momentum buffers here, as PyTorch's steps then use group['momentum']. */
CG_API struct cg_lr_schedule *cg_lr_onecycle_new(struct cg_optimizer *opt,
                                                 struct cg_onecycle_options options);

/* ReduceLROnPlateau: fed a metric after each epoch; when it has not improved
 * (by threshold, relative or absolute) for more than `patience` epochs, each
 * group's lr becomes max(lr * factor, min_lr) (a change of at most eps is
 * skipped), then `cooldown` epochs are ignored.  Zero fields take PyTorch's
 * defaults where PyTorch's are not 0 (factor 0.1, threshold 1e-4, eps 1e-8;
 * CG_OPTIM_ZERO for a real 0); patience has no default (PyTorch's is 10). */
struct cg_plateau_options {
    bool mode_max;         /* false: a lower metric is better ('min') */
    double factor;         /* in [0, 1) */
    int64_t patience;      /* >= 0 */
    double threshold;      /* >= 0 */
    bool threshold_abs;    /* false: 'rel' */
    int64_t cooldown;      /* >= 0 */
    double min_lr;         /* >= 0, every group's unless min_lrs is set */
    const double *min_lrs; /* NULL, or one per group (copied) */
    double eps;            /* >= 0 */
};
/* Misuse: factor >= 1 ("Factor should be < 1.0."), negative values, NaN. */
CG_API struct cg_lr_schedule *cg_lr_plateau_new(struct cg_optimizer *opt,
                                                struct cg_plateau_options options);
/* One ReduceLROnPlateau epoch with `metric` (e.g. the validation loss).
 * Returns group 0's lr.  NaN and misuse for s NULL, a schedule of another
 * type (they take cg_lr_schedule_step), or a NaN metric (nothing changes). */
CG_API double cg_lr_schedule_step_metric(struct cg_lr_schedule *s, double metric);

/* SequentialLR: phase k runs from milestones[k-1] (0 for k = 0) to
 * milestones[k], counting its epochs from 0, e.g. a linear warm-up then a
 * cosine decay:
 *
 *     cg_lr_sequential_new(opt, 1, (const int64_t[]){5});
 *     cg_lr_linear_new(opt, 0.1, 1.0, 5);      // phase 0: epochs 0..4
 *     cg_lr_cosine_new(opt, 45, 1e-4);         // phase 1: from epoch 5
 *
 * The n + 1 phases are the next n + 1 schedules created on opt: each is
 * owned by the SequentialLR and starts from the same base lrs.  Step the
 * SequentialLR (cg_optimizer_schedule(opt)), not the phases.  Misuse:
 * milestones not increasing or < 1, a ReduceLROnPlateau or SequentialLR as
 * a phase, stepping before every phase is there. */
CG_API struct cg_lr_schedule *cg_lr_sequential_new(struct cg_optimizer *opt, size_t n,
                                                   const int64_t *milestones);

#ifdef __cplusplus
}
#endif
#endif
