/* Learning-rate schedules on any optimizer: StepLR and CosineAnnealingLR in
 * closed form, applied to every parameter group from its own base lr.
 * Closed forms (rather than PyTorch's recursive updates) make the lr a pure
 * function of the epoch, so a checkpoint only needs the epoch to resume. */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"

/* math.pi; M_PI is not ISO C. */
static const double cg_pi = 3.14159265358979323846;

/* Same operation order as PyTorch's _get_closed_form_lr, so the values
 * agree bit for bit. */
static double step_lr_at(const struct cg_lr_schedule *s, double base_lr, int64_t epoch)
{
    return base_lr * pow(s->param, (double)(epoch / (int64_t)s->period));
}

static double cosine_lr_at(const struct cg_lr_schedule *s, double base_lr, int64_t epoch)
{
    double eta_min = s->param;
    return eta_min + (base_lr - eta_min) * (1 + cos(cg_pi * (double)epoch / (double)s->period)) / 2;
}

static void visit_settings(struct cg_lr_schedule *s, const char *period, const char *param,
                           cg_state_visitor visit, void *user)
{
    visit(&(struct cg_state_item){.name = period, .type = CG_STATE_U64, .values = &s->period,
                                  .count = 1, .config = true},
          user);
    visit(&(struct cg_state_item){.name = param, .type = CG_STATE_F64, .values = &s->param,
                                  .count = 1, .config = true},
          user);
}

static void step_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    visit_settings(s, "schedule.step_size", "schedule.gamma", visit, user);
}

static void cosine_visit(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    visit_settings(s, "schedule.t_max", "schedule.eta_min", visit, user);
}

static const struct cg_lr_schedule_vtable step_vtable = {
    .type_name = "StepLR", .lr_at = step_lr_at, .visit_state = step_visit};
static const struct cg_lr_schedule_vtable cosine_vtable = {
    .type_name = "CosineAnnealingLR", .lr_at = cosine_lr_at, .visit_state = cosine_visit};

/* Sets every group's lr for the schedule's epoch.  The closed forms never go
 * below 0 with validated settings; the guard keeps a NaN out all the same. */
static void apply(struct cg_lr_schedule *s)
{
    struct cg_optimizer *opt = s->opt;
    for (size_t g = 0; g < opt->n_groups; g++) {
        double lr = s->vtable->lr_at(s, s->base_lrs[g], s->epoch);
        if (lr >= 0) cg_optimizer_set_group_lr(opt, g, lr);
    }
}

static struct cg_lr_schedule *attach(struct cg_optimizer *opt,
                                     const struct cg_lr_schedule_vtable *vt, int64_t period,
                                     double param)
{
    struct cg_lr_schedule *s = cg_calloc(1, sizeof *s, "lr schedule");
    if (!s) return NULL;
    s->base_lrs = cg_calloc(opt->n_groups, sizeof *s->base_lrs, "lr schedule base lrs");
    if (!s->base_lrs) {
        cg_free(s);
        return NULL;
    }
    s->vtable = vt;
    s->opt = opt;
    s->period = (uint64_t)period;
    s->param = param;
    for (size_t g = 0; g < opt->n_groups; g++)
        s->base_lrs[g] = opt->groups[g].initial_lr = cg_optimizer_get_group_lr(opt, g);
    opt->schedule = s;
    apply(s);
    return s;
}

static bool can_attach(const char *fn, const struct cg_optimizer *opt)
{
    if (!opt) {
        cg_misuse(fn, "opt is NULL (hint: create the optimizer first)");
        return false;
    }
    if (opt->schedule) {
        cg_misuse(fn, "the optimizer already has a learning-rate schedule (hint: one schedule "
                      "per optimizer; it is freed with the optimizer)");
        return false;
    }
    return true;
}

struct cg_lr_schedule *cg_lr_step_new(struct cg_optimizer *opt, int64_t step_size, double gamma)
{
    if (!can_attach("cg_lr_step_new", opt)) return NULL;
    if (step_size < 1 || !(gamma >= 0) || !isfinite(gamma)) {
        cg_misuse("cg_lr_step_new", "step_size %lld, gamma %g: need step_size >= 1 and a "
                  "finite gamma >= 0", (long long)step_size, gamma);
        return NULL;
    }
    return attach(opt, &step_vtable, step_size, gamma);
}

struct cg_lr_schedule *cg_lr_cosine_new(struct cg_optimizer *opt, int64_t t_max, double eta_min)
{
    if (!can_attach("cg_lr_cosine_new", opt)) return NULL;
    if (t_max < 1 || !(eta_min >= 0) || !isfinite(eta_min)) {
        cg_misuse("cg_lr_cosine_new", "t_max %lld, eta_min %g: need t_max >= 1 and a finite "
                  "eta_min >= 0", (long long)t_max, eta_min);
        return NULL;
    }
    return attach(opt, &cosine_vtable, t_max, eta_min);
}

double cg_lr_schedule_lr_at(const struct cg_lr_schedule *s, int64_t epoch)
{
    if (!s || epoch < 0) {
        cg_misuse("cg_lr_schedule_lr_at", "%s (epoch %lld)", s ? "epoch < 0" : "schedule is NULL",
                  (long long)epoch);
        return NAN;
    }
    return s->vtable->lr_at(s, s->base_lrs[0], epoch);
}

double cg_lr_schedule_step(struct cg_lr_schedule *s)
{
    if (!s) {
        cg_misuse("cg_lr_schedule_step", "schedule is NULL");
        return NAN;
    }
    s->epoch++;
    apply(s);
    return s->vtable->lr_at(s, s->base_lrs[0], s->epoch);
}

int64_t cg_lr_schedule_epoch(const struct cg_lr_schedule *s) { return s ? s->epoch : 0; }

void cg_lr_schedule_visit_state(struct cg_lr_schedule *s, cg_state_visitor visit, void *user)
{
    const char *type = s->vtable->type_name;
    visit(&(struct cg_state_item){.name = "schedule.type", .type = CG_STATE_TEXT,
                                  .values = (void *)type, .count = strlen(type), .config = true},
          user);
    visit(&(struct cg_state_item){.name = "schedule.base_lrs", .type = CG_STATE_F64,
                                  .values = s->base_lrs, .count = s->opt->n_groups,
                                  .config = true},
          user);
    s->vtable->visit_state(s, visit, user);
    /* int64_t and uint64_t share their representation; epochs are >= 0. */
    visit(&(struct cg_state_item){.name = "schedule.epoch", .type = CG_STATE_U64,
                                  .values = &s->epoch, .count = 1, .bounded = true, .min = 0,
                                  .max = 9223372036854774784.0 /* largest double < 2^63 */},
          user);
}

void cg_lr_schedule_destroy(struct cg_lr_schedule *s)
{
    if (!s) return;
    cg_free(s->base_lrs);
    cg_free(s);
}
