/* RMSprop with PyTorch 1.13 semantics (torch/optim/rmsprop.py, single-tensor
 * path): the same operations in the same order, in the parameter's dtype. */
#include <math.h>

#include "alloc.h"
#include "error_internal.h"
#include "multiarch.h"
#include "optim/param_state.h"
#include "cgrad/optimizers.h"

enum { SQUARE_AVG, MOMENTUM_BUFFER, GRAD_AVG };
enum { S_LR, S_WD, S_MOM };

struct cg_rmsprop {
    struct cg_optimizer base;
    struct cg_rmsprop_options o; /* alpha, eps, momentum, centered, maximize */
    struct cg_pstate_set st;
};

/* PyTorch's checks, in PyTorch's order and words. */
static bool rmsprop_options_ok(const char *fn, const struct cg_rmsprop_options *o)
{
    return cg_optim_check(fn, o->lr > 0, "learning rate", o->lr,
                          "lr must be > 0; there is no default, PyTorch's is 1e-2") &&
           cg_optim_check(fn, o->eps >= 0, "epsilon value", o->eps, "eps must be >= 0") &&
           cg_optim_check(fn, o->momentum >= 0, "momentum value", o->momentum,
                          "momentum must be >= 0") &&
           cg_optim_check(fn, o->weight_decay >= 0, "weight_decay value", o->weight_decay,
                          "weight_decay must be >= 0") &&
           cg_optim_check(fn, o->alpha >= 0, "alpha value", o->alpha, "alpha must be >= 0");
}

static const struct cg_optimizer_vtable rmsprop_vtable;

static struct cg_optimizer *rmsprop_build(bool use_model, struct cg_module *model,
                                          struct cg_tensor *const *params, size_t n,
                                          struct cg_rmsprop_options o, const char *fn)
{
    o.alpha = cg_optim_default(o.alpha, 0.99);
    o.eps = cg_optim_default(o.eps, 1e-8);
    if (!rmsprop_options_ok(fn, &o)) return NULL;
    struct cg_rmsprop *r = (struct cg_rmsprop *)cg_optim_create(
        sizeof *r, &rmsprop_vtable, use_model, model, params, n, o.lr, o.weight_decay, fn);
    if (!r) return NULL;
    r->o = o;
    r->base.groups[0].momentum = o.momentum;
    static const char *const what[CG_PSTATE_MAX] = {"square_avg", "momentum_buffer",
                                                    "grad_avg"};
    const bool used[CG_PSTATE_MAX] = {true, o.momentum > 0, o.centered};
    if (cg_pstate_init(&r->st, &r->base, what, used, 0.0) != CG_OK) {
        cg_optimizer_free(&r->base);
        return NULL;
    }
    return &r->base;
}

/* One element's update; CENTERED and MOMENTUM are constants, so each of the
 * four loops below is free of branches and vectorizes.  Every line is one
 * PyTorch tensor operation, rounded to T as PyTorch does. */
#define CG_RMSPROP_BODY(T, SQRT, CENTERED, MOMENTUM)                                         \
    for (int64_t i = 0; i < n; i++) {                                                        \
        T d = maximize ? -g[i] : g[i];                                                       \
        if (use_wd) d = d + wd * p[i];                                                       \
        sq[i] = sq[i] * alpha;                                                               \
        sq[i] = sq[i] + one_alpha * d * d;                                                   \
        T avg;                                                                               \
        if (CENTERED) {                                                                      \
            avg_g[i] = avg_g[i] * alpha;                                                     \
            avg_g[i] = avg_g[i] + one_alpha * d;                                             \
            avg = SQRT(sq[i] + minus_one * avg_g[i] * avg_g[i]);                             \
        } else {                                                                             \
            avg = SQRT(sq[i]);                                                               \
        }                                                                                    \
        avg = avg + eps;                                                                     \
        if (MOMENTUM) {                                                                      \
            buf[i] = buf[i] * mom;                                                           \
            buf[i] = buf[i] + one * d / avg;                                                 \
            p[i] = p[i] + neg_lr * buf[i];                                                   \
        } else {                                                                             \
            p[i] = p[i] + neg_lr * d / avg;                                                  \
        }                                                                                    \
    }

#define CG_RMSPROP_KERNEL(NAME, T, SQRT)                                                     \
    CG_MULTIARCH                                                                             \
    static void NAME(T *restrict p, const T *restrict g, T *restrict sq, T *restrict buf,    \
                     T *restrict avg_g, int64_t n, const struct cg_rmsprop *r,               \
                     const double *sc)                                                       \
    {                                                                                        \
        const T alpha = (T)r->o.alpha, one_alpha = (T)(1 - r->o.alpha);                      \
        const T eps = (T)r->o.eps, mom = (T)sc[S_MOM], wd = (T)sc[S_WD];                     \
        const T neg_lr = (T)(-sc[S_LR]), one = 1, minus_one = -1;                            \
        const bool use_wd = sc[S_WD] != 0, maximize = r->o.maximize;                         \
        if (avg_g && buf) CG_RMSPROP_BODY(T, SQRT, 1, 1)                                     \
        else if (avg_g) CG_RMSPROP_BODY(T, SQRT, 1, 0)                                       \
        else if (buf) CG_RMSPROP_BODY(T, SQRT, 0, 1)                                         \
        else CG_RMSPROP_BODY(T, SQRT, 0, 0)                                                  \
    }
CG_RMSPROP_KERNEL(rmsprop_update_f32, float, sqrtf)
CG_RMSPROP_KERNEL(rmsprop_update_f64, double, sqrt)

static void rmsprop_range(void *ctx, size_t i, int64_t lo, int64_t hi)
{
    const struct cg_rmsprop *r = ctx;
    const struct cg_pstate *s = &r->st.s[i];
    struct cg_tensor *p = r->base.params[i].tensor;
    struct cg_tensor *const *t = s->t;
    /* PyTorch's `if momentum > 0`: a buffer kept from a larger momentum is unused. */
    const struct cg_tensor *mb = s->scalar[S_MOM] > 0 ? t[MOMENTUM_BUFFER] : NULL;
    if (p->dtype == CG_F64) {
        double *buf = mb ? (double *)mb->data + lo : NULL;
        double *avg_g = t[GRAD_AVG] ? (double *)t[GRAD_AVG]->data + lo : NULL;
        rmsprop_update_f64((double *)p->data + lo, (const double *)p->grad->data + lo,
                           (double *)t[SQUARE_AVG]->data + lo, buf, avg_g, hi - lo, r,
                           s->scalar);
    } else {
        float *buf = mb ? (float *)mb->data + lo : NULL;
        float *avg_g = t[GRAD_AVG] ? (float *)t[GRAD_AVG]->data + lo : NULL;
        rmsprop_update_f32((float *)p->data + lo, (const float *)p->grad->data + lo,
                           (float *)t[SQUARE_AVG]->data + lo, buf, avg_g, hi - lo, r,
                           s->scalar);
    }
}

static void rmsprop_prepare(void *ctx, struct cg_pstate *s, const struct cg_param_group *grp)
{
    (void)ctx;
    s->scalar[S_LR] = grp->lr;
    s->scalar[S_WD] = grp->weight_decay;
    s->scalar[S_MOM] = grp->momentum;
}

static bool rmsprop_has_buffer(const void *ctx, size_t i)
{
    return ((const struct cg_rmsprop *)ctx)->st.s[i].t[MOMENTUM_BUFFER] != NULL;
}

static void rmsprop_step_param(struct cg_optimizer *base, size_t i)
{
    struct cg_rmsprop *r = (struct cg_rmsprop *)base;
    cg_pstate_step_param(&r->st, base, i, rmsprop_prepare, rmsprop_range, r);
}

static bool rmsprop_can_step_params(const struct cg_optimizer *base)
{
    return cg_optim_buffers_all(base, rmsprop_has_buffer, base);
}

static enum cg_status rmsprop_step(struct cg_optimizer *base)
{
    struct cg_rmsprop *r = (struct cg_rmsprop *)base;
    if (!cg_optim_buffers_ok(base, rmsprop_has_buffer, r)) return CG_ERR_INVALID;
    cg_pstate_step(&r->st, base, rmsprop_prepare, rmsprop_range, r);
    return CG_OK;
}

static enum cg_status rmsprop_add_buffers(struct cg_optimizer *base, size_t group)
{
    return cg_pstate_add(&((struct cg_rmsprop *)base)->st, base, MOMENTUM_BUFFER, group);
}

static enum cg_status rmsprop_set_momentum(struct cg_optimizer *base, size_t group,
                                           double momentum, const char *fn)
{
    return cg_optim_set_buffered_momentum(base, group, momentum, fn, rmsprop_add_buffers);
}

static void rmsprop_visit_state(struct cg_optimizer *base, cg_state_visitor visit, void *user)
{
    struct cg_rmsprop *r = (struct cg_rmsprop *)base;
    cg_pstate_visit(&r->st, base, visit, user);
    uint64_t flags[2] = {r->o.centered, r->o.maximize};
    cg_optim_visit_config(visit, user, "alpha", CG_STATE_F64, &r->o.alpha, 1);
    cg_optim_visit_config(visit, user, "eps", CG_STATE_F64, &r->o.eps, 1);
    cg_optim_visit_config(visit, user, "momentum", CG_STATE_F64, &r->o.momentum, 1);
    cg_optim_visit_config(visit, user, "centered", CG_STATE_U64, &flags[0], 1);
    cg_optim_visit_config(visit, user, "maximize", CG_STATE_U64, &flags[1], 1);
}

static void rmsprop_free(struct cg_optimizer *base)
{
    struct cg_rmsprop *r = (struct cg_rmsprop *)base;
    cg_pstate_free(&r->st);
    cg_free(r);
}

static const struct cg_optimizer_vtable rmsprop_vtable = {
    .type_name = "RMSprop",
    .step = rmsprop_step,
    .step_param = rmsprop_step_param,
    .can_step_params = rmsprop_can_step_params,
    .visit_state = rmsprop_visit_state,
    .set_momentum = rmsprop_set_momentum,
    .free = rmsprop_free,
};

struct cg_optimizer *cg_rmsprop_new(struct cg_module *model, struct cg_rmsprop_options options)
{
    return rmsprop_build(true, model, NULL, 0, options, "cg_rmsprop_new");
}

struct cg_optimizer *cg_rmsprop_new_params(struct cg_tensor *const *params, size_t n,
                                           struct cg_rmsprop_options options)
{
    return rmsprop_build(false, NULL, params, n, options, "cg_rmsprop_new_params");
}

struct cg_rmsprop_options cg_rmsprop_get_options(const struct cg_optimizer *opt)
{
    if (!opt || opt->vtable != &rmsprop_vtable) {
        cg_misuse("cg_rmsprop_get_options", "opt is %s (hint: pass an optimizer made by "
                  "cg_rmsprop_new)", opt ? cg_optimizer_type(opt) : "NULL");
        return (struct cg_rmsprop_options){0};
    }
    struct cg_rmsprop_options o = ((const struct cg_rmsprop *)opt)->o;
    o.lr = opt->groups[0].lr;
    o.weight_decay = opt->groups[0].weight_decay;
    o.momentum = opt->groups[0].momentum;
    return o;
}
