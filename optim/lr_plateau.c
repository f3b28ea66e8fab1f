/* ReduceLROnPlateau with PyTorch 1.13 semantics (torch/optim/lr_scheduler.py):
 * the lr is not a function of the epoch but of the metrics seen, so its
 * state (best, bad epochs, cooldown) is saved, and the lrs it set are the
 * optimizer's groups' lrs (saved by the optimizer). */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "cgrad/schedules.h"
#include "optim/param_state.h"

struct plateau {
    struct cg_lr_schedule base;
    uint64_t mode_max, threshold_abs, patience, cooldown;
    double factor, threshold, eps;
    double *min_lrs; /* per group */
    /* state */
    double best;
    uint64_t num_bad_epochs, cooldown_counter;
};

static bool is_better(const struct plateau *p, double a)
{
    if (!p->mode_max && !p->threshold_abs) return a < p->best * (1. - p->threshold);
    if (!p->mode_max) return a < p->best - p->threshold;
    if (!p->threshold_abs) return a > p->best * (p->threshold + 1.);
    return a > p->best + p->threshold;
}

static void plateau_step(struct cg_lr_schedule *s, double metric)
{
    struct plateau *p = (struct plateau *)s;
    if (is_better(p, metric)) {
        p->best = metric;
        p->num_bad_epochs = 0;
    } else {
        p->num_bad_epochs++;
    }
    if (p->cooldown_counter > 0) {
        p->cooldown_counter--;
        p->num_bad_epochs = 0; /* bad epochs in cooldown do not count */
    }
    if (p->num_bad_epochs > p->patience) {
        struct cg_optimizer *opt = s->opt;
        for (size_t g = 0; g < opt->n_groups; g++) {
            double old_lr = cg_optimizer_get_group_lr(opt, g);
            double new_lr = fmax(old_lr * p->factor, p->min_lrs[g]);
            if (old_lr - new_lr > p->eps) cg_optimizer_set_group_lr(opt, g, new_lr);
        }
        p->cooldown_counter = p->cooldown;
        p->num_bad_epochs = 0;
    }
}

static void plateau_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    struct plateau *p = (struct plateau *)s;
    cg_lr_visit_config(visit, user, "schedule.mode_max", CG_STATE_U64, &p->mode_max, 1);
    cg_lr_visit_config(visit, user, "schedule.threshold_abs", CG_STATE_U64, &p->threshold_abs, 1);
    cg_lr_visit_config(visit, user, "schedule.patience", CG_STATE_U64, &p->patience, 1);
    cg_lr_visit_config(visit, user, "schedule.cooldown", CG_STATE_U64, &p->cooldown, 1);
    cg_lr_visit_config(visit, user, "schedule.factor", CG_STATE_F64, &p->factor, 1);
    cg_lr_visit_config(visit, user, "schedule.threshold", CG_STATE_F64, &p->threshold, 1);
    cg_lr_visit_config(visit, user, "schedule.eps", CG_STATE_F64, &p->eps, 1);
    cg_lr_visit_config(visit, user, "schedule.min_lrs", CG_STATE_F64, p->min_lrs,
                       s->opt->n_groups);
    visit(&(struct cg_state_item){.name = "schedule.best", .type = CG_STATE_F64,
                                  .values = &p->best, .count = 1},
          user);
    visit(&(struct cg_state_item){.name = "schedule.num_bad_epochs", .type = CG_STATE_U64,
                                  .values = &p->num_bad_epochs, .count = 1},
          user);
    visit(&(struct cg_state_item){.name = "schedule.cooldown_counter", .type = CG_STATE_U64,
                                  .values = &p->cooldown_counter, .count = 1},
          user);
}

static void plateau_free(struct cg_lr_schedule *s) { cg_free(((struct plateau *)s)->min_lrs); }

static const struct cg_lr_schedule_vtable plateau_vtable = {
    .type_name = "ReduceLROnPlateau",
    .step_metric = plateau_step,
    .visit_state = plateau_visit,
    .free = plateau_free,
};

struct cg_lr_schedule *cg_lr_plateau_new(struct cg_optimizer *opt, struct cg_plateau_options o)
{
    static const char fn[] = "cg_lr_plateau_new";
    o.factor = cg_optim_default(o.factor, 0.1);
    o.threshold = cg_optim_default(o.threshold, 1e-4);
    o.eps = cg_optim_default(o.eps, 1e-8);
    if (!(o.factor < 1.0)) {
        cg_misuse(fn, "Factor should be < 1.0. (got %g)", o.factor);
        return NULL;
    }
    if (!(o.factor >= 0) || !(o.threshold >= 0) || !(o.eps >= 0) || !(o.min_lr >= 0) ||
        o.patience < 0 || o.cooldown < 0) {
        cg_misuse(fn, "factor %g, threshold %g, eps %g, min_lr %g, patience %lld, cooldown "
                  "%lld: need values >= 0", o.factor, o.threshold, o.eps, o.min_lr,
                  (long long)o.patience, (long long)o.cooldown);
        return NULL;
    }
    struct plateau *p = (struct plateau *)cg_lr_schedule_alloc(opt, &plateau_vtable, sizeof *p, fn);
    if (!p) return NULL;
    p->min_lrs = cg_malloc(opt->n_groups * sizeof *p->min_lrs, "ReduceLROnPlateau min lrs");
    if (!p->min_lrs) {
        cg_lr_schedule_destroy(&p->base);
        return NULL;
    }
    for (size_t g = 0; g < opt->n_groups; g++) {
        p->min_lrs[g] = o.min_lrs ? o.min_lrs[g] : o.min_lr;
        if (!(p->min_lrs[g] >= 0)) {
            cg_misuse(fn, "min_lr %g for group %zu: need a value >= 0", p->min_lrs[g], g);
            cg_lr_schedule_destroy(&p->base);
            return NULL;
        }
    }
    p->mode_max = o.mode_max;
    p->threshold_abs = o.threshold_abs;
    p->patience = (uint64_t)o.patience;
    p->cooldown = (uint64_t)o.cooldown;
    p->factor = o.factor;
    p->threshold = o.threshold;
    p->eps = o.eps;
    p->best = o.mode_max ? -INFINITY : INFINITY; /* PyTorch's mode_worse */
    return cg_lr_schedule_start(&p->base);
}
