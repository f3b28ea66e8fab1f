/* Learning-rate schedules on any optimizer: the common part (attaching,
 * stepping, state) and StepLR and CosineAnnealingLR, in closed form, applied
 * to every parameter group from its own base lr.  Closed forms (rather than
 * PyTorch's recursive updates, which agree to rounding) make the lr a pure
 * function of the epoch, so a checkpoint only needs the epoch to resume.
 * The other schedules are in lr_schedules.c, lr_plateau.c, lr_sequential.c. */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "cgrad/schedules.h"

/* math.pi; M_PI is not ISO C. */
static const double cg_pi = 3.14159265358979323846;

/* Same operation order as PyTorch's _get_closed_form_lr, so the values
 * agree bit for bit. */
static double step_lr_at(const struct cg_lr_schedule *s, size_t group, double base_lr,
                         int64_t epoch)
{
    (void)group;
    return base_lr * pow(s->param, (double)(epoch / (int64_t)s->period));
}

static double cosine_lr_at(const struct cg_lr_schedule *s, size_t group, double base_lr,
                           int64_t epoch)
{
    (void)group;
    double eta_min = s->param;
    return eta_min + (base_lr - eta_min) * (1 + cos(cg_pi * (double)epoch / (double)s->period)) / 2;
}

void cg_lr_visit_config(cg_state_visitor visit, void *user, const char *name,
                        enum cg_state_type type, void *values, size_t count)
{
    visit(&(struct cg_state_item){.name = name, .type = type, .values = values, .count = count,
                                  .config = true},
          user);
}

static void visit_settings(struct cg_lr_schedule *s, const char *period, const char *param,
                           cg_state_visitor visit, void *user)
{
    cg_lr_visit_config(visit, user, period, CG_STATE_U64, &s->period, 1);
    cg_lr_visit_config(visit, user, param, CG_STATE_F64, &s->param, 1);
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
void cg_lr_schedule_apply(struct cg_lr_schedule *s)
{
    struct cg_optimizer *opt = s->opt;
    for (size_t g = 0; g < opt->n_groups; g++) {
        double lr = s->vtable->lr_at(s, g, s->base_lrs[g], s->epoch);
        if (lr >= 0) cg_optimizer_set_group_lr(opt, g, lr);
    }
    if (s->vtable->apply_momentum) s->vtable->apply_momentum(s);
}

struct cg_lr_schedule *cg_lr_schedule_alloc(struct cg_optimizer *opt,
                                            const struct cg_lr_schedule_vtable *vt, size_t size,
                                            const char *fn)
{
    if (!opt) {
        cg_misuse(fn, "opt is NULL (hint: create the optimizer first)");
        return NULL;
    }
    if (opt->schedule && !cg_lr_sequential_collecting(opt->schedule)) {
        cg_misuse(fn, "the optimizer already has a learning-rate schedule (hint: one schedule "
                      "per optimizer; it is freed with the optimizer; chain several with "
                      "cg_lr_sequential_new)");
        return NULL;
    }
    struct cg_lr_schedule *s = cg_calloc(1, size, "lr schedule");
    if (!s) return NULL;
    s->base_lrs = cg_calloc(opt->n_groups, sizeof *s->base_lrs, "lr schedule base lrs");
    if (!s->base_lrs) {
        cg_free(s);
        return NULL;
    }
    s->vtable = vt;
    s->opt = opt;
    /* A phase of a SequentialLR starts from the same base lrs as the first. */
    const struct cg_lr_schedule *seq = opt->schedule;
    for (size_t g = 0; g < opt->n_groups; g++)
        s->base_lrs[g] = seq ? seq->base_lrs[g] : cg_optimizer_get_group_lr(opt, g);
    return s;
}


struct cg_lr_schedule *cg_lr_schedule_start(struct cg_lr_schedule *s)
{
    struct cg_optimizer *opt = s->opt;
    if (opt->schedule) { /* a SequentialLR collecting its phases */
        if (!cg_lr_sequential_add(opt->schedule, s, s->vtable->type_name)) {
            cg_lr_schedule_destroy(s);
            return NULL;
        }
        return s;
    }
    for (size_t g = 0; g < opt->n_groups; g++) opt->groups[g].initial_lr = s->base_lrs[g];
    opt->schedule = s;
    if (s->vtable->lr_at) cg_lr_schedule_apply(s);
    return s;
}

struct cg_lr_schedule *cg_lr_step_new(struct cg_optimizer *opt, int64_t step_size, double gamma)
{
    struct cg_lr_schedule *s = cg_lr_schedule_alloc(opt, &step_vtable, sizeof *s,
                                                    "cg_lr_step_new");
    if (!s) return NULL;
    if (step_size < 1 || !(gamma >= 0) || !isfinite(gamma)) {
        cg_misuse("cg_lr_step_new", "step_size %lld, gamma %g: need step_size >= 1 and a "
                  "finite gamma >= 0", (long long)step_size, gamma);
        cg_lr_schedule_destroy(s);
        return NULL;
    }
    s->period = (uint64_t)step_size;
    s->param = gamma;
    return cg_lr_schedule_start(s);
}

struct cg_lr_schedule *cg_lr_cosine_new(struct cg_optimizer *opt, int64_t t_max, double eta_min)
{
    struct cg_lr_schedule *s = cg_lr_schedule_alloc(opt, &cosine_vtable, sizeof *s,
                                                    "cg_lr_cosine_new");
    if (!s) return NULL;
    if (t_max < 1 || !(eta_min >= 0) || !isfinite(eta_min)) {
        cg_misuse("cg_lr_cosine_new", "t_max %lld, eta_min %g: need t_max >= 1 and a finite "
                  "eta_min >= 0", (long long)t_max, eta_min);
        cg_lr_schedule_destroy(s);
        return NULL;
    }
    s->period = (uint64_t)t_max;
    s->param = eta_min;
    return cg_lr_schedule_start(s);
}

/* Misuse unless s can be stepped by fn (a phase of a SequentialLR cannot:
 * its SequentialLR steps it). */
static bool can_step(const struct cg_lr_schedule *s, const char *fn)
{
    if (!s) {
        cg_misuse(fn, "schedule is NULL");
        return false;
    }
    if (s->parent) {
        cg_misuse(fn, "this %s is a phase of a SequentialLR (hint: step the SequentialLR, "
                      "cg_optimizer_schedule(opt))", s->vtable->type_name);
        return false;
    }
    return true;
}

double cg_lr_schedule_lr_at(const struct cg_lr_schedule *s, int64_t epoch)
{
    if (!s || epoch < 0) {
        cg_misuse("cg_lr_schedule_lr_at", "%s (epoch %lld)", s ? "epoch < 0" : "schedule is NULL",
                  (long long)epoch);
        return NAN;
    }
    if (!s->vtable->lr_at) {
        cg_misuse("cg_lr_schedule_lr_at", "%s has no closed form: its lr depends on the "
                  "metrics it is fed", s->vtable->type_name);
        return NAN;
    }
    return s->vtable->lr_at(s, 0, s->base_lrs[0], epoch);
}

double cg_lr_schedule_step(struct cg_lr_schedule *s)
{
    if (!can_step(s, "cg_lr_schedule_step")) return NAN;
    if (!s->vtable->lr_at) {
        cg_misuse("cg_lr_schedule_step", "%s needs the metric (hint: call "
                  "cg_lr_schedule_step_metric(s, validation_loss))", s->vtable->type_name);
        return NAN;
    }
    double lr = s->vtable->lr_at(s, 0, s->base_lrs[0], s->epoch + 1);
    if (isnan(lr)) return lr; /* the schedule reported why (OneCycleLR past its end) */
    s->epoch++;
    cg_lr_schedule_apply(s);
    return lr;
}

double cg_lr_schedule_step_metric(struct cg_lr_schedule *s, double metric)
{
    if (!can_step(s, "cg_lr_schedule_step_metric")) return NAN;
    if (!s->vtable->step_metric) {
        cg_misuse("cg_lr_schedule_step_metric", "%s takes no metric (hint: call "
                  "cg_lr_schedule_step)", s->vtable->type_name);
        return NAN;
    }
    if (isnan(metric)) {
        cg_misuse("cg_lr_schedule_step_metric", "metric is NaN (hint: the loss diverged; "
                  "nothing changes)");
        return NAN;
    }
    s->epoch++;
    s->vtable->step_metric(s, metric);
    return cg_optimizer_get_group_lr(s->opt, 0);
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
    if (s->vtable->free) s->vtable->free(s);
    cg_free(s->base_lrs);
    cg_free(s);
}
