/* Adam and AdamW with PyTorch 1.13 semantics (torch/optim/adam.py and
 * adamw.py, single-tensor path): the same operations in the same order, in
 * the parameter's dtype, with the scalars computed in double as Python does
 * (but one division, see adam_kernel.inc). */
#include <math.h>

#include "alloc.h"
#include "error_internal.h"
#include "multiarch.h"
#include "optim/param_state.h"
#include "cgrad/optimizers.h"

enum { EXP_AVG, EXP_AVG_SQ, MAX_EXP_AVG_SQ };
/* Per-parameter constants of one step, in cg_pstate.scalar. */
enum { S_LR, S_WD, S_STEP_SIZE, S_BC2_SQRT };

struct cg_adam {
    struct cg_optimizer base;
    struct cg_adam_options o; /* betas, eps, amsgrad, maximize (lr, wd, beta1: the groups') */
    bool decoupled;           /* AdamW */
    struct cg_pstate_set st;
};

/* PyTorch's checks, in PyTorch's order and words. */
static bool adam_options_ok(const char *fn, const struct cg_adam_options *o)
{
    const char *beta_hint = "each beta must be in [0, 1)";
    return cg_optim_check(fn, o->lr > 0, "learning rate", o->lr,
                          "lr must be > 0; there is no default, PyTorch's is 1e-3") &&
           cg_optim_check(fn, o->eps >= 0, "epsilon value", o->eps, "eps must be >= 0") &&
           cg_optim_check(fn, o->betas[0] >= 0 && o->betas[0] < 1, "beta parameter at index 0",
                          o->betas[0], beta_hint) &&
           cg_optim_check(fn, o->betas[1] >= 0 && o->betas[1] < 1, "beta parameter at index 1",
                          o->betas[1], beta_hint) &&
           cg_optim_check(fn, o->weight_decay >= 0, "weight_decay value", o->weight_decay,
                          "weight_decay must be >= 0");
}

static const struct cg_optimizer_vtable adam_vtable, adamw_vtable;

static struct cg_optimizer *adam_build(bool use_model, struct cg_module *model,
                                       struct cg_tensor *const *params, size_t n,
                                       struct cg_adam_options o, bool decoupled, const char *fn)
{
    o.betas[0] = cg_optim_default(o.betas[0], 0.9);
    o.betas[1] = cg_optim_default(o.betas[1], 0.999);
    o.eps = cg_optim_default(o.eps, 1e-8);
    if (decoupled) o.weight_decay = cg_optim_default(o.weight_decay, 1e-2);
    if (!adam_options_ok(fn, &o)) return NULL;
    struct cg_adam *a = (struct cg_adam *)cg_optim_create(
        sizeof *a, decoupled ? &adamw_vtable : &adam_vtable, use_model, model, params, n, o.lr,
        o.weight_decay, fn);
    if (!a) return NULL;
    a->o = o;
    a->base.groups[0].momentum = o.betas[0];
    a->decoupled = decoupled;
    static const char *const what[CG_PSTATE_MAX] = {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"};
    const bool used[CG_PSTATE_MAX] = {true, true, o.amsgrad};
    if (cg_pstate_init(&a->st, &a->base, what, used, 0.0) != CG_OK) {
        cg_optimizer_free(&a->base);
        return NULL;
    }
    return &a->base;
}

/* What one update of one parameter needs, copied out of the optimizer so
 * the kernels' loops read only locals. */
struct adam_hyper {
    double beta1, beta2, eps, lr, weight_decay, step_size, bc2_sqrt;
    bool decoupled, maximize;
};

#define T float
#define SFX f32
#define SQRT sqrtf
#include "adam_kernel.inc"
#undef T
#undef SFX
#undef SQRT
#define T double
#define SFX f64
#define SQRT sqrt
#include "adam_kernel.inc"
#undef T
#undef SFX
#undef SQRT

static void adam_range(void *ctx, size_t i, int64_t lo, int64_t hi)
{
    const struct cg_adam *a = ctx;
    const struct cg_pstate *s = &a->st.s[i];
    struct cg_tensor *p = a->base.params[i].tensor;
    struct cg_tensor *const *t = s->t;
    const double *sc = s->scalar;
    const double beta1 = a->base.groups[a->base.params[i].group].momentum;
    const struct adam_hyper h = {beta1, a->o.betas[1], a->o.eps, sc[S_LR], sc[S_WD],
                                 sc[S_STEP_SIZE], sc[S_BC2_SQRT], a->decoupled, a->o.maximize};
    if (p->dtype == CG_F64) {
        double *vmax = t[MAX_EXP_AVG_SQ] ? (double *)t[MAX_EXP_AVG_SQ]->data + lo : NULL;
        adam_update_f64((double *)p->data + lo, (const double *)p->grad->data + lo,
                        (double *)t[EXP_AVG]->data + lo, (double *)t[EXP_AVG_SQ]->data + lo,
                        vmax, hi - lo, &h);
    } else {
        float *vmax = t[MAX_EXP_AVG_SQ] ? (float *)t[MAX_EXP_AVG_SQ]->data + lo : NULL;
        adam_update_f32((float *)p->data + lo, (const float *)p->grad->data + lo,
                        (float *)t[EXP_AVG]->data + lo, (float *)t[EXP_AVG_SQ]->data + lo, vmax,
                        hi - lo, &h);
    }
}

static void adam_prepare(void *ctx, struct cg_pstate *s, const struct cg_param_group *grp)
{
    const struct cg_adam *a = ctx;
    /* Python floats: beta ** step is pow() on doubles. */
    double bc1 = 1 - pow(grp->momentum, (double)s->step);
    double bc2 = 1 - pow(a->o.betas[1], (double)s->step);
    s->scalar[S_LR] = grp->lr;
    s->scalar[S_WD] = grp->weight_decay;
    s->scalar[S_STEP_SIZE] = grp->lr / bc1;
    s->scalar[S_BC2_SQRT] = sqrt(bc2);
}

static void adam_step_param(struct cg_optimizer *base, size_t i)
{
    struct cg_adam *a = (struct cg_adam *)base;
    cg_pstate_step_param(&a->st, base, i, adam_prepare, adam_range, a);
}

static enum cg_status adam_step(struct cg_optimizer *base)
{
    struct cg_adam *a = (struct cg_adam *)base;
    cg_pstate_step(&a->st, base, adam_prepare, adam_range, a);
    return CG_OK;
}

static enum cg_status adam_set_momentum(struct cg_optimizer *base, size_t group, double beta1,
                                        const char *fn)
{
    if (!cg_optim_check(fn, beta1 >= 0 && beta1 < 1, "beta parameter at index 0", beta1,
                        "beta1 must be in [0, 1)"))
        return CG_ERR_INVALID;
    base->groups[group].momentum = beta1;
    return CG_OK;
}

static void adam_visit_state(struct cg_optimizer *base, cg_state_visitor visit, void *user)
{
    struct cg_adam *a = (struct cg_adam *)base;
    cg_pstate_visit(&a->st, base, visit, user);
    uint64_t flags[2] = {a->o.amsgrad, a->o.maximize};
    cg_optim_visit_config(visit, user, "betas", CG_STATE_F64, a->o.betas, 2);
    cg_optim_visit_config(visit, user, "eps", CG_STATE_F64, &a->o.eps, 1);
    cg_optim_visit_config(visit, user, "amsgrad", CG_STATE_U64, &flags[0], 1);
    cg_optim_visit_config(visit, user, "maximize", CG_STATE_U64, &flags[1], 1);
}

static void adam_free(struct cg_optimizer *base)
{
    struct cg_adam *a = (struct cg_adam *)base;
    cg_pstate_free(&a->st);
    cg_free(a);
}

static const struct cg_optimizer_vtable adam_vtable = {
    .type_name = "Adam",
    .step = adam_step,
    .step_param = adam_step_param,
    .visit_state = adam_visit_state,
    .set_momentum = adam_set_momentum,
    .free = adam_free,
};

static const struct cg_optimizer_vtable adamw_vtable = {
    .type_name = "AdamW",
    .step = adam_step,
    .step_param = adam_step_param,
    .visit_state = adam_visit_state,
    .set_momentum = adam_set_momentum,
    .free = adam_free,
};

struct cg_optimizer *cg_adam_new(struct cg_module *model, struct cg_adam_options options)
{
    return adam_build(true, model, NULL, 0, options, false, "cg_adam_new");
}

struct cg_optimizer *cg_adam_new_params(struct cg_tensor *const *params, size_t n,
                                        struct cg_adam_options options)
{
    return adam_build(false, NULL, params, n, options, false, "cg_adam_new_params");
}

struct cg_optimizer *cg_adamw_new(struct cg_module *model, struct cg_adam_options options)
{
    return adam_build(true, model, NULL, 0, options, true, "cg_adamw_new");
}

struct cg_optimizer *cg_adamw_new_params(struct cg_tensor *const *params, size_t n,
                                         struct cg_adam_options options)
{
    return adam_build(false, NULL, params, n, options, true, "cg_adamw_new_params");
}

struct cg_adam_options cg_adam_get_options(const struct cg_optimizer *opt)
{
    if (!opt || (opt->vtable != &adam_vtable && opt->vtable != &adamw_vtable)) {
        cg_misuse("cg_adam_get_options", "opt is %s (hint: pass an optimizer made by "
                  "cg_adam_new or cg_adamw_new)", opt ? cg_optimizer_type(opt) : "NULL");
        return (struct cg_adam_options){0};
    }
    struct cg_adam_options o = ((const struct cg_adam *)opt)->o;
    o.lr = opt->groups[0].lr;
    o.weight_decay = opt->groups[0].weight_decay;
    o.betas[0] = opt->groups[0].momentum;
    return o;
}
