/* OneCycleLR as PyTorch 1.13's (torch/optim/lr_scheduler.py): its get_lr is
 * a closed form of the step already, for the lr and, with cycle_momentum,
 * for the momentum (SGD/RMSprop momentum, Adam beta1), which moves against
 * the lr.  The same phases and operation order, so the values agree bit
 * for bit. */
#include <math.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "cgrad/schedules.h"
#include "optim/param_state.h"

static const double cg_pi = 3.14159265358979323846;

struct onecycle {
    struct cg_lr_schedule base; /* period: total_steps; base_lrs: max_lr / div_factor */
    double pct_start, div_factor, final_div_factor;
    uint64_t anneal_linear, three_phase, cycle_momentum;
    double *max_lrs;   /* per group */
    double *momentums; /* per group max_momentum, then per group base_momentum */
};

static double anneal(const struct onecycle *o, double start, double end, double pct)
{
    if (o->anneal_linear) return (end - start) * pct + start;
    double cos_out = cos(cg_pi * pct) + 1;
    return end + (start - end) / 2.0 * cos_out;
}

/* PyTorch's phase (0, 1 or 2) of step `epoch`, and *pct, the part of it done. */
static int phase_at(const struct onecycle *o, int64_t epoch, double *pct)
{
    double total = (double)o->base.period, ends[3];
    int n = o->three_phase ? 3 : 2;
    ends[0] = o->pct_start * total - 1;
    ends[1] = 2 * o->pct_start * total - 2; /* three_phase only */
    ends[n - 1] = total - 1;
    double step = (double)epoch, start_step = 0;
    int i = 0;
    while (i < n - 1 && step > ends[i]) start_step = ends[i++];
    *pct = (step - start_step) / (ends[i] - start_step);
    return i;
}

static double onecycle_lr_at(const struct cg_lr_schedule *s, size_t g, double base_lr,
                             int64_t epoch)
{
    const struct onecycle *o = (const struct onecycle *)s;
    if ((uint64_t)epoch > s->period) {
        cg_misuse("cg_lr_schedule_step", "Tried to step %lld times. The specified number of "
                  "total steps is %llu (hint: OneCycleLR runs for total_steps steps; the lr "
                  "stays)", (long long)epoch, (unsigned long long)s->period);
        return NAN;
    }
    double pct, initial = base_lr, peak = o->max_lrs[g];
    switch (phase_at(o, epoch, &pct)) {
    case 0: return anneal(o, initial, peak, pct);
    case 1:
        if (o->three_phase) return anneal(o, peak, initial, pct);
        return anneal(o, peak, initial / o->final_div_factor, pct);
    default: return anneal(o, initial, initial / o->final_div_factor, pct);
    }
}

/* Momentum goes max -> base while the lr rises, back while it falls, and
 * stays at max in the third phase. */
static void onecycle_apply_momentum(struct cg_lr_schedule *s)
{
    const struct onecycle *o = (const struct onecycle *)s;
    if (!o->cycle_momentum) return;
    struct cg_optimizer *opt = s->opt;
    double pct;
    int phase = phase_at(o, s->epoch, &pct);
    for (size_t g = 0; g < opt->n_groups; g++) {
        double hi = o->momentums[g], lo = o->momentums[opt->n_groups + g];
        double m = phase == 0 ? anneal(o, hi, lo, pct)
                   : phase == 1 ? anneal(o, lo, hi, pct) : anneal(o, hi, hi, pct);
        /* Between two values the optimizer accepted (up to a rounding at a
         * bound, which would report itself as misuse). */
        opt->vtable->set_momentum(opt, g, m, "cg_lr_schedule_step");
    }
}

static void onecycle_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    struct onecycle *o = (struct onecycle *)s;
    size_t groups = s->opt->n_groups;
    cg_lr_visit_config(visit, user, "schedule.total_steps", CG_STATE_U64, &s->period, 1);
    cg_lr_visit_config(visit, user, "schedule.max_lrs", CG_STATE_F64, o->max_lrs, groups);
    cg_lr_visit_config(visit, user, "schedule.pct_start", CG_STATE_F64, &o->pct_start, 1);
    cg_lr_visit_config(visit, user, "schedule.div_factor", CG_STATE_F64, &o->div_factor, 1);
    cg_lr_visit_config(visit, user, "schedule.final_div_factor", CG_STATE_F64,
                       &o->final_div_factor, 1);
    cg_lr_visit_config(visit, user, "schedule.anneal_linear", CG_STATE_U64, &o->anneal_linear,
                       1);
    cg_lr_visit_config(visit, user, "schedule.three_phase", CG_STATE_U64, &o->three_phase, 1);
    /* Files of the version before momentum cycled lack it: they ran with it off. */
    visit(&(struct cg_state_item){
              .name = "schedule.cycle_momentum", .type = CG_STATE_U64,
              .values = &o->cycle_momentum, .count = 1, .config = true,
              .absent_off = "OneCycleLR cycled momentum",
              .absent_hint = "this OneCycleLR cycles momentum; create it with "
                             "`.no_cycle_momentum = true` to resume the file"},
          user);
    if (o->cycle_momentum)
        cg_lr_visit_config(visit, user, "schedule.momentums", CG_STATE_F64, o->momentums,
                           2 * groups);
}

static void onecycle_free(struct cg_lr_schedule *s)
{
    struct onecycle *o = (struct onecycle *)s;
    cg_free(o->max_lrs);
    cg_free(o->momentums);
}

static const struct cg_lr_schedule_vtable onecycle_vtable = {
    .type_name = "OneCycleLR",
    .lr_at = onecycle_lr_at,
    .apply_momentum = onecycle_apply_momentum,
    .visit_state = onecycle_visit,
    .free = onecycle_free,
};

/* PyTorch's constructor sets every group's momentum to max_momentum; both
 * bounds are set once here so that the optimizer checks them (a beta1 of 1
 * is misuse) and allocates any buffers they need.  On failure every group
 * gets its momentum back. */
static bool start_momentum(struct onecycle *c, const struct cg_onecycle_options *o,
                           const char *fn)
{
    struct cg_optimizer *opt = c->base.opt;
    size_t groups = opt->n_groups;
    if (!opt->vtable->set_momentum) {
        cg_misuse(fn, "optimizer must support momentum with `cycle_momentum` option enabled "
                  "(the %s optimizer has none; hint: set .no_cycle_momentum = true)",
                  cg_optimizer_type(opt));
        return false;
    }
    if (opt->schedule) { /* a SequentialLR collecting its phases */
        cg_misuse(fn, "a OneCycleLR that cycles momentum cannot be a phase of a SequentialLR "
                  "(hint: set .no_cycle_momentum = true)");
        return false;
    }
    double *before = cg_malloc(groups * sizeof *before, "OneCycleLR momentums");
    c->momentums = cg_malloc(2 * groups * sizeof *c->momentums, "OneCycleLR momentums");
    bool ok = before && c->momentums;
    for (size_t g = 0; ok && g < groups; g++) {
        double hi = o->max_momentums ? o->max_momentums[g]
                                     : cg_optim_default(o->max_momentum, 0.95);
        double lo = o->base_momentums ? o->base_momentums[g]
                                      : cg_optim_default(o->base_momentum, 0.85);
        c->momentums[g] = hi;
        c->momentums[groups + g] = lo;
        before[g] = opt->groups[g].momentum;
        ok = opt->vtable->set_momentum(opt, g, lo, fn) == CG_OK &&
             opt->vtable->set_momentum(opt, g, hi, fn) == CG_OK;
        if (!ok)
            for (size_t h = 0; h <= g; h++) opt->vtable->set_momentum(opt, h, before[h], fn);
    }
    cg_free(before);
    return ok;
}

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
    c->cycle_momentum = !o.no_cycle_momentum;
    if (c->cycle_momentum && !start_momentum(c, &o, fn)) {
        cg_lr_schedule_destroy(&c->base);
        return NULL;
    }
    return cg_lr_schedule_start(&c->base);
}
