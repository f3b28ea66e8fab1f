/* Learning-rate schedules: StepLR and CosineAnnealingLR in closed form.
 * Closed forms (rather than PyTorch's recursive updates) make the lr a pure
 * function of the epoch, so a checkpoint only needs the epoch to resume. */
#include <math.h>

#include "alloc.h"
#include "error_internal.h"
#include "optim/optim_internal.h"

/* math.pi; M_PI is not ISO C. */
static const double cg_pi = 3.14159265358979323846;

static struct cg_lr_schedule *attach(struct cg_sgd *opt, enum cg_lr_kind kind, int64_t period,
                                     double param)
{
    struct cg_lr_schedule *s = cg_calloc(1, sizeof *s, "lr schedule");
    if (!s) return NULL;
    s->kind = kind;
    s->opt = opt;
    s->base_lr = opt->o.lr;
    s->period = period;
    s->param = param;
    s->epoch = 0;
    opt->schedule = s;
    opt->o.lr = cg_lr_schedule_lr_at(s, 0);
    return s;
}

static bool can_attach(const char *fn, const struct cg_sgd *opt)
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

struct cg_lr_schedule *cg_lr_step_new(struct cg_sgd *opt, int64_t step_size, double gamma)
{
    if (!can_attach("cg_lr_step_new", opt)) return NULL;
    if (step_size < 1 || !(gamma >= 0) || !isfinite(gamma)) {
        cg_misuse("cg_lr_step_new", "step_size %lld, gamma %g: need step_size >= 1 and a "
                  "finite gamma >= 0", (long long)step_size, gamma);
        return NULL;
    }
    return attach(opt, CG_LR_STEP, step_size, gamma);
}

struct cg_lr_schedule *cg_lr_cosine_new(struct cg_sgd *opt, int64_t t_max, double eta_min)
{
    if (!can_attach("cg_lr_cosine_new", opt)) return NULL;
    if (t_max < 1 || !(eta_min >= 0) || !isfinite(eta_min)) {
        cg_misuse("cg_lr_cosine_new", "t_max %lld, eta_min %g: need t_max >= 1 and a finite "
                  "eta_min >= 0", (long long)t_max, eta_min);
        return NULL;
    }
    return attach(opt, CG_LR_COSINE, t_max, eta_min);
}

double cg_lr_schedule_lr_at(const struct cg_lr_schedule *s, int64_t epoch)
{
    if (!s || epoch < 0) {
        cg_misuse("cg_lr_schedule_lr_at", "%s (epoch %lld)", s ? "epoch < 0" : "schedule is NULL",
                  (long long)epoch);
        return NAN;
    }
    /* Same operation order as PyTorch's _get_closed_form_lr, so the values
     * agree bit for bit. */
    if (s->kind == CG_LR_STEP) return s->base_lr * pow(s->param, (double)(epoch / s->period));
    double eta_min = s->param;
    return eta_min +
           (s->base_lr - eta_min) * (1 + cos(cg_pi * (double)epoch / (double)s->period)) / 2;
}

double cg_lr_schedule_step(struct cg_lr_schedule *s)
{
    if (!s) {
        cg_misuse("cg_lr_schedule_step", "schedule is NULL");
        return NAN;
    }
    s->epoch++;
    double lr = cg_lr_schedule_lr_at(s, s->epoch);
    /* The closed forms never go below 0 with the validated parameters; the
     * guard keeps a NaN from reaching the optimizer all the same. */
    if (lr >= 0) s->opt->o.lr = lr;
    return lr;
}

int64_t cg_lr_schedule_epoch(const struct cg_lr_schedule *s) { return s ? s->epoch : 0; }

void cg_lr_schedule_destroy(struct cg_lr_schedule *s) { cg_free(s); }
