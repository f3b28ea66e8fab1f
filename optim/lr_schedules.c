/* MultiStepLR, ExponentialLR, LinearLR and OneCycleLR, in PyTorch 1.13's
 * closed forms (_get_closed_form_lr; OneCycleLR's get_lr is one already),
 * with the same operation order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "cgrad/schedules.h"
#include "optim/param_state.h"

static const double cg_pi = 3.14159265358979323846;

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

/* ---- OneCycleLR ---- */

struct onecycle {
    struct cg_lr_schedule base; /* period: total_steps; base_lrs: max_lr / div_factor */
    double pct_start, div_factor, final_div_factor;
    uint64_t anneal_linear, three_phase;
    double *max_lrs; /* per group */
};

static double anneal(const struct onecycle *o, double start, double end, double pct)
{
    if (o->anneal_linear) return (end - start) * pct + start;
    double cos_out = cos(cg_pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
}

static double onecycle_lr_at(const struct cg_lr_schedule *s, size_t g, double base_lr,
                             int64_t epoch)
{
    const struct onecycle *o = (const struct onecycle *)s;
    double total = (double)s->period;
    if ((uint64_t)epoch > s->period) {
        cg_misuse("cg_lr_schedule_step", "Tried to step %lld times. The specified number of "
                  "total steps is %llu (hint: OneCycleLR runs for total_steps steps; the lr "
                  "stays)", (long long)epoch, (unsigned long long)s->period);
        return NAN;
    }
    /* PyTorch's phases: (end step, start lr, end lr). */
    double initial = base_lr, peak = o->max_lrs[g], floor = initial / o->final_div_factor;
    double ends[3], starts[3], targets[3];
    int n = o->three_phase ? 3 : 2;
    ends[0] = o->pct_start * total - 1;
    starts[0] = initial;
    targets[0] = peak;
    if (o->three_phase) {
        ends[1] = 2 * o->pct_start * total - 2;
        starts[1] = peak;
        targets[1] = initial;
        starts[2] = initial;
    } else {
        starts[1] = peak;
    }
    ends[n - 1] = total - 1;
    targets[n - 1] = floor;
    double step = (double)epoch, start_step = 0;
    for (int i = 0; i < n; i++) {
        if (step <= ends[i] || i == n - 1) {
            double pct = (step - start_step) / (ends[i] - start_step);
            return anneal(o, starts[i], targets[i], pct);
        }
        start_step = ends[i];
    }
    return NAN; /* not reached */
}

static void onecycle_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    struct onecycle *o = (struct onecycle *)s;
    cg_lr_visit_config(visit, user, "schedule.total_steps", CG_STATE_U64, &s->period, 1);
    cg_lr_visit_config(visit, user, "schedule.max_lrs", CG_STATE_F64, o->max_lrs,
                       s->opt->n_groups);
    cg_lr_visit_config(visit, user, "schedule.pct_start", CG_STATE_F64, &o->pct_start, 1);
    cg_lr_visit_config(visit, user, "schedule.div_factor", CG_STATE_F64, &o->div_factor, 1);
    cg_lr_visit_config(visit, user, "schedule.final_div_factor", CG_STATE_F64,
                       &o->final_div_factor, 1);
    cg_lr_visit_config(visit, user, "schedule.anneal_linear", CG_STATE_U64, &o->anneal_linear,
                       1);
    cg_lr_visit_config(visit, user, "schedule.three_phase", CG_STATE_U64, &o->three_phase, 1);
}

static void onecycle_free(struct cg_lr_schedule *s) { cg_free(((struct onecycle *)s)->max_lrs); }

static const struct cg_lr_schedule_vtable onecycle_vtable = {
    .type_name = "OneCycleLR",
    .lr_at = onecycle_lr_at,
    .visit_state = onecycle_visit,
    .free = onecycle_free,
};

struct cg_lr_schedule *cg_lr_onecycle_new(struct cg_optimizer *opt, struct cg_onecycle_options o)
{
    static const char fn[] = "cg_lr_onecycle_new";
    o.pct_start = cg_optim_default(o.pct_start, 0.3);
    o.div_factor = cg_optim_default(o.div_factor, 25);
    o.final_div_factor = cg_optim_default(o.final_div_factor, 1e4);
    if (o.total_steps < 1) {
        cg_misuse(fn, "Expected positive integer total_steps, but got %lld",
                  (long long)o.total_steps);
        return NULL;
    }
    if (!(o.pct_start >= 0 && o.pct_start <= 1)) {
        cg_misuse(fn, "Expected float between 0 and 1 pct_start, but got %g", o.pct_start);
        return NULL;
    }
    if (!(o.div_factor > 0) || !(o.final_div_factor > 0) || !isfinite(o.div_factor) ||
        !isfinite(o.final_div_factor)) {
        cg_misuse(fn, "div_factor %g, final_div_factor %g: need finite values > 0",
                  o.div_factor, o.final_div_factor);
        return NULL;
    }
    struct onecycle *c =
        (struct onecycle *)cg_lr_schedule_alloc(opt, &onecycle_vtable, sizeof *c, fn);
    if (!c) return NULL;
    size_t groups = opt->n_groups;
    c->max_lrs = cg_malloc(groups * sizeof *c->max_lrs, "OneCycleLR max lrs");
    if (!c->max_lrs) {
        cg_lr_schedule_destroy(&c->base);
        return NULL;
    }
    for (size_t g = 0; g < groups; g++) {
        double peak = o.max_lrs ? o.max_lrs[g] : o.max_lr;
        if (!(peak > 0) || !isfinite(peak)) {
            cg_misuse(fn, "max_lr %g for group %zu: need a finite value > 0", peak, g);
            cg_lr_schedule_destroy(&c->base);
            return NULL;
        }
        c->max_lrs[g] = peak;
        c->base.base_lrs[g] = peak / o.div_factor; /* PyTorch's initial_lr */
    }
    c->base.period = (uint64_t)o.total_steps;
    c->pct_start = o.pct_start;
    c->div_factor = o.div_factor;
    c->final_div_factor = o.final_div_factor;
    c->anneal_linear = o.anneal_linear;
    c->three_phase = o.three_phase;
    return cg_lr_schedule_start(&c->base);
}
