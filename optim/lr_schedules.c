/* MultiStepLR, ExponentialLR and LinearLR, in PyTorch 1.13's closed forms
 * (_get_closed_form_lr), with the same operation order.  OneCycleLR is in
 * lr_onecycle.c. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "cgrad/schedules.h"

/* ---- MultiStepLR ---- */

struct multistep {
    struct cg_lr_schedule base; /* param: gamma */
    size_t n;
    uint64_t *milestones; /* sorted */
};

static double multistep_lr_at(const struct cg_lr_schedule *s, size_t group, double base_lr,
                              int64_t epoch)
{
    (void)group;
    const struct multistep *m = (const struct multistep *)s;
    size_t passed = 0; /* bisect_right(milestones, epoch) */
    while (passed < m->n && m->milestones[passed] <= (uint64_t)epoch) passed++;
    return base_lr * pow(s->param, (double)passed);
}

static void multistep_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    struct multistep *m = (struct multistep *)s;
    cg_lr_visit_config(visit, user, "schedule.milestones", CG_STATE_U64, m->milestones, m->n);
    cg_lr_visit_config(visit, user, "schedule.gamma", CG_STATE_F64, &s->param, 1);
}

static void multistep_free(struct cg_lr_schedule *s) { cg_free(((struct multistep *)s)->milestones); }

static const struct cg_lr_schedule_vtable multistep_vtable = {
    .type_name = "MultiStepLR",
    .lr_at = multistep_lr_at,
    .visit_state = multistep_visit,
    .free = multistep_free,
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

struct cg_lr_schedule *cg_lr_multistep_new(struct cg_optimizer *opt, size_t n,
                                           const int64_t *milestones, double gamma)
{
    static const char fn[] = "cg_lr_multistep_new";
    bool ok = n > 0 && milestones && gamma >= 0 && isfinite(gamma);
    for (size_t i = 0; ok && i < n; i++) ok = milestones[i] >= 0;
    if (!ok) {
        cg_misuse(fn, "%zu milestones%s, gamma %g: need at least one milestone, each >= 0, and "
                  "a finite gamma >= 0", n, milestones ? "" : " (NULL)", gamma);
        return NULL;
    }
    struct multistep *m =
        (struct multistep *)cg_lr_schedule_alloc(opt, &multistep_vtable, sizeof *m, fn);
    if (!m) return NULL;
    m->milestones = cg_malloc(n * sizeof *m->milestones, "MultiStepLR milestones");
    if (!m->milestones) {
        cg_lr_schedule_destroy(&m->base);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) m->milestones[i] = (uint64_t)milestones[i];
    qsort(m->milestones, n, sizeof *m->milestones, cmp_u64);
    m->n = n;
    m->base.param = gamma;
    return cg_lr_schedule_start(&m->base);
}

/* ---- ExponentialLR ---- */

static double exponential_lr_at(const struct cg_lr_schedule *s, size_t group, double base_lr,
                                int64_t epoch)
{
    (void)group;
    return base_lr * pow(s->param, (double)epoch);
}

static void exponential_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    cg_lr_visit_config(visit, user, "schedule.gamma", CG_STATE_F64, &s->param, 1);
}

static const struct cg_lr_schedule_vtable exponential_vtable = {
    .type_name = "ExponentialLR", .lr_at = exponential_lr_at, .visit_state = exponential_visit};

struct cg_lr_schedule *cg_lr_exponential_new(struct cg_optimizer *opt, double gamma)
{
    if (!(gamma >= 0) || !isfinite(gamma)) {
        cg_misuse("cg_lr_exponential_new", "gamma %g: need a finite gamma >= 0", gamma);
        return NULL;
    }
    struct cg_lr_schedule *s =
        cg_lr_schedule_alloc(opt, &exponential_vtable, sizeof *s, "cg_lr_exponential_new");
    if (!s) return NULL;
    s->param = gamma;
    return cg_lr_schedule_start(s);
}

/* ---- LinearLR ---- */

struct linear {
    struct cg_lr_schedule base; /* period: total_iters */
    double factors[2];          /* start, end */
};

static double linear_lr_at(const struct cg_lr_schedule *s, size_t group, double base_lr,
                           int64_t epoch)
{
    (void)group;
    const struct linear *l = (const struct linear *)s;
    double start = l->factors[0], end = l->factors[1], total = (double)s->period;
    double done = (uint64_t)epoch < s->period ? (double)epoch : total;
    return base_lr * (start + (end - start) * done / total);
}

static void linear_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    cg_lr_visit_config(visit, user, "schedule.factors", CG_STATE_F64,
                       ((struct linear *)s)->factors, 2);
    cg_lr_visit_config(visit, user, "schedule.total_iters", CG_STATE_U64, &s->period, 1);
}

static const struct cg_lr_schedule_vtable linear_vtable = {
    .type_name = "LinearLR", .lr_at = linear_lr_at, .visit_state = linear_visit};

struct cg_lr_schedule *cg_lr_linear_new(struct cg_optimizer *opt, double start_factor,
                                        double end_factor, int64_t total_iters)
{
    static const char fn[] = "cg_lr_linear_new";
    if (!(start_factor >= 0 && start_factor <= 1)) {
        cg_misuse(fn, "Starting multiplicative factor expected to be between 0 and 1. (got %g)",
                  start_factor);
        return NULL;
    }
    if (!(end_factor >= 0 && end_factor <= 1)) {
        cg_misuse(fn, "Ending multiplicative factor expected to be between 0 and 1. (got %g)",
                  end_factor);
        return NULL;
    }
    if (total_iters < 1) {
        cg_misuse(fn, "total_iters %lld: need at least 1", (long long)total_iters);
        return NULL;
    }
    struct linear *l = (struct linear *)cg_lr_schedule_alloc(opt, &linear_vtable, sizeof *l, fn);
    if (!l) return NULL;
    l->factors[0] = start_factor;
    l->factors[1] = end_factor;
    l->base.period = (uint64_t)total_iters;
    return cg_lr_schedule_start(&l->base);
}
