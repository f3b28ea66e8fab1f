/* Adagrad with PyTorch 1.13 semantics (torch/optim/adagrad.py, single-tensor
 * path, dense gradients): the same operations in the same order, in the
 * parameter's dtype. */
#include <math.h>

#include "alloc.h"
#include "error_internal.h"
#include "multiarch.h"
#include "optim/param_state.h"
#include "cgrad/optimizers.h"

enum { SUM };
enum { S_CLR, S_WD };

struct cg_adagrad {
    struct cg_optimizer base;
    struct cg_adagrad_options o; /* lr_decay, initial_accumulator_value, eps, maximize */
    struct cg_pstate_set st;
};

/* PyTorch's checks, in PyTorch's order and words. */
static bool adagrad_options_ok(const char *fn, const struct cg_adagrad_options *o)
{
    return cg_optim_check(fn, o->lr > 0, "learning rate", o->lr,
                          "lr must be > 0; there is no default, PyTorch's is 1e-2") &&
           cg_optim_check(fn, o->lr_decay >= 0, "lr_decay value", o->lr_decay,
                          "lr_decay must be >= 0") &&
           cg_optim_check(fn, o->weight_decay >= 0, "weight_decay value", o->weight_decay,
                          "weight_decay must be >= 0") &&
           cg_optim_check(fn, o->initial_accumulator_value >= 0,
                          "initial_accumulator_value value", o->initial_accumulator_value,
                          "initial_accumulator_value must be >= 0") &&
           cg_optim_check(fn, o->eps >= 0, "epsilon value", o->eps, "eps must be >= 0");
}

static const struct cg_optimizer_vtable adagrad_vtable;

static struct cg_optimizer *adagrad_build(bool use_model, struct cg_module *model,
                                          struct cg_tensor *const *params, size_t n,
                                          struct cg_adagrad_options o, const char *fn)
{
    o.eps = cg_optim_default(o.eps, 1e-10);
    if (!adagrad_options_ok(fn, &o)) return NULL;
    struct cg_adagrad *a = (struct cg_adagrad *)cg_optim_create(
        sizeof *a, &adagrad_vtable, use_model, model, params, n, o.lr, o.weight_decay, fn);
    if (!a) return NULL;
    a->o = o;
    /* PyTorch creates the sum (and step) in the constructor. */
    a->st.always_present = true;
    static const char *const what[CG_PSTATE_MAX] = {"sum", NULL, NULL};
    const bool used[CG_PSTATE_MAX] = {true, false, false};
    if (cg_pstate_init(&a->st, &a->base, what, used, o.initial_accumulator_value) != CG_OK) {
        cg_optimizer_free(&a->base);
        return NULL;
    }
    return &a->base;
}

/* Every line is one PyTorch tensor operation, rounded to T as PyTorch does. */
#define CG_ADAGRAD_KERNEL(NAME, T, SQRT)                                                     \
    CG_MULTIARCH                                                                             \
    static void NAME(T *restrict p, const T *restrict g, T *restrict sum, int64_t n,         \
                     const struct cg_adagrad *a, const double *sc)                           \
    {                                                                                        \
        const T wd = (T)sc[S_WD], neg_clr = (T)(-sc[S_CLR]), eps = (T)a->o.eps, one = 1;     \
        const bool use_wd = sc[S_WD] != 0, maximize = a->o.maximize;                         \
        for (int64_t i = 0; i < n; i++) {                                                    \
            T d = maximize ? -g[i] : g[i];                                                   \
            if (use_wd) d = d + wd * p[i];                                                   \
            sum[i] = sum[i] + one * d * d;                                                   \
            T std = SQRT(sum[i]) + eps;                                                      \
            p[i] = p[i] + neg_clr * d / std;                                                 \
        }                                                                                    \
    }
CG_ADAGRAD_KERNEL(adagrad_update_f32, float, sqrtf)
CG_ADAGRAD_KERNEL(adagrad_update_f64, double, sqrt)

static void adagrad_range(void *ctx, size_t i, int64_t lo, int64_t hi)
{
    const struct cg_adagrad *a = ctx;
    const struct cg_pstate *s = &a->st.s[i];
    struct cg_tensor *p = a->base.params[i].tensor;
    if (p->dtype == CG_F64)
        adagrad_update_f64((double *)p->data + lo, (const double *)p->grad->data + lo,
                           (double *)s->t[SUM]->data + lo, hi - lo, a, s->scalar);
    else
        adagrad_update_f32((float *)p->data + lo, (const float *)p->grad->data + lo,
                           (float *)s->t[SUM]->data + lo, hi - lo, a, s->scalar);
}

static void adagrad_prepare(void *ctx, struct cg_pstate *s, const struct cg_param_group *grp)
{
    const struct cg_adagrad *a = ctx;
    s->scalar[S_CLR] = grp->lr / (1 + ((double)s->step - 1) * a->o.lr_decay);
    s->scalar[S_WD] = grp->weight_decay;
}

static void adagrad_step_param(struct cg_optimizer *base, size_t i)
{
    struct cg_adagrad *a = (struct cg_adagrad *)base;
    cg_pstate_step_param(&a->st, base, i, adagrad_prepare, adagrad_range, a);
}

static enum cg_status adagrad_step(struct cg_optimizer *base)
{
    struct cg_adagrad *a = (struct cg_adagrad *)base;
    cg_pstate_step(&a->st, base, adagrad_prepare, adagrad_range, a);
    return CG_OK;
}

static void adagrad_visit_state(struct cg_optimizer *base, cg_state_visitor visit, void *user)
{
    struct cg_adagrad *a = (struct cg_adagrad *)base;
    cg_pstate_visit(&a->st, base, visit, user);
    uint64_t maximize = a->o.maximize;
    cg_optim_visit_config(visit, user, "lr_decay", CG_STATE_F64, &a->o.lr_decay, 1);
    cg_optim_visit_config(visit, user, "initial_accumulator_value", CG_STATE_F64,
                          &a->o.initial_accumulator_value, 1);
    cg_optim_visit_config(visit, user, "eps", CG_STATE_F64, &a->o.eps, 1);
    cg_optim_visit_config(visit, user, "maximize", CG_STATE_U64, &maximize, 1);
}

static void adagrad_free(struct cg_optimizer *base)
{
    struct cg_adagrad *a = (struct cg_adagrad *)base;
    cg_pstate_free(&a->st);
    cg_free(a);
}

static const struct cg_optimizer_vtable adagrad_vtable = {
    .type_name = "Adagrad",
    .step = adagrad_step,
    .step_param = adagrad_step_param,
    .visit_state = adagrad_visit_state,
    .free = adagrad_free,
};

struct cg_optimizer *cg_adagrad_new(struct cg_module *model, struct cg_adagrad_options options)
{
    return adagrad_build(true, model, NULL, 0, options, "cg_adagrad_new");
}

struct cg_optimizer *cg_adagrad_new_params(struct cg_tensor *const *params, size_t n,
                                           struct cg_adagrad_options options)
{
    return adagrad_build(false, NULL, params, n, options, "cg_adagrad_new_params");
}

struct cg_adagrad_options cg_adagrad_get_options(const struct cg_optimizer *opt)
{
    if (!opt || opt->vtable != &adagrad_vtable) {
        cg_misuse("cg_adagrad_get_options", "opt is %s (hint: pass an optimizer made by "
                  "cg_adagrad_new)", opt ? cg_optimizer_type(opt) : "NULL");
        return (struct cg_adagrad_options){0};
    }
    struct cg_adagrad_options o = ((const struct cg_adagrad *)opt)->o;
    o.lr = opt->groups[0].lr;
    o.weight_decay = opt->groups[0].weight_decay;
    return o;
}
