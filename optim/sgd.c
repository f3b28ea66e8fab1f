/* SGD with PyTorch 1.13 semantics (torch/optim/sgd.py, single-tensor path),
 * as an implementation of the optimizer interface. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "multiarch.h"
#include "parallel.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "optim/param_state.h"

/* What one update needs: the group's lr and weight decay, SGD's settings. */
struct sgd_hyper {
    double lr, weight_decay, momentum, dampening;
    bool nesterov, maximize;
};

#define T float
#define SFX f32
#include "sgd_kernel.inc"
#undef T
#undef SFX
#define T double
#define SFX f64
#include "sgd_kernel.inc"
#undef T
#undef SFX

static const struct cg_optimizer_vtable sgd_vtable;

struct cg_sgd *cg_sgd_cast(const struct cg_optimizer *opt)
{
    return opt && opt->vtable == &sgd_vtable ? (struct cg_sgd *)opt : NULL;
}

static bool options_ok(const char *fn, const struct cg_sgd_options *o)
{
    if (isnan(o->lr) || isnan(o->momentum) || isnan(o->dampening) || isnan(o->weight_decay)) {
        cg_misuse(fn, "NaN in options (lr %g, momentum %g, dampening %g, weight_decay %g)", o->lr,
                  o->momentum, o->dampening, o->weight_decay);
        return false;
    }
    if (o->lr == 0) {
        cg_misuse(fn, "lr is 0: the learning rate is required, as in PyTorch (hint: set "
                      ".lr in struct cg_sgd_options; to freeze on purpose call "
                      "cg_optimizer_set_lr(opt, 0) after creating it)");
        return false;
    }
    if (o->lr < 0) {
        cg_misuse(fn, "Invalid learning rate: %g (hint: lr must be > 0)", o->lr);
        return false;
    }
    if (o->momentum < 0) {
        cg_misuse(fn, "Invalid momentum value: %g (hint: momentum must be >= 0)", o->momentum);
        return false;
    }
    if (o->weight_decay < 0) {
        cg_misuse(fn, "Invalid weight_decay value: %g (hint: weight_decay must be >= 0)",
                  o->weight_decay);
        return false;
    }
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0)) {
        cg_misuse(fn, "Nesterov momentum requires a momentum and zero dampening "
                      "(momentum %g, dampening %g)", o->momentum, o->dampening);
        return false;
    }
    return true;
}

static void sgd_free(struct cg_optimizer *base)
{
    struct cg_sgd *s = (struct cg_sgd *)base;
    if (s->bufs)
        for (size_t i = 0; i < base->n_params; i++) cg_tensor_free(s->bufs[i]);
    cg_free(s->bufs);
    cg_free(s->started);
    cg_free(s);
}

/* Momentum buffers for the parameters of `group` (SIZE_MAX: all) that
 * have none yet. */
static enum cg_status alloc_buffers(struct cg_sgd *s, size_t group)
{
    for (size_t i = 0; i < s->base.n_params; i++) {
        const struct cg_tensor *p = s->base.params[i].tensor;
        if (s->bufs[i] || (group != SIZE_MAX && s->base.params[i].group != group)) continue;
        s->bufs[i] = cg_tensor_zeros(NULL, p->dtype, p->ndim, p->shape);
        if (!s->bufs[i]) return CG_ERR_NOMEM;
    }
    return CG_OK;
}

/* The SGD part, after the base is filled: settings and momentum buffers,
 * allocated now so that no step ever allocates. */
static struct cg_optimizer *sgd_finish(struct cg_sgd *s, enum cg_status st,
                                       const struct cg_sgd_options *o)
{
    if (st != CG_OK) {
        cg_free(s);
        return NULL;
    }
    struct cg_optimizer *base = &s->base;
    base->groups[0].momentum = o->momentum;
    s->momentum = o->momentum;
    s->dampening = o->dampening;
    s->nesterov = o->nesterov;
    s->maximize = o->maximize;
    size_t n = base->n_params ? base->n_params : 1;
    s->bufs = cg_calloc(n, sizeof *s->bufs, "SGD momentum buffers");
    s->started = cg_calloc(n, sizeof *s->started, "SGD momentum flags");
    if (!s->bufs || !s->started) goto nomem;
    if (o->momentum != 0 && alloc_buffers(s, SIZE_MAX) != CG_OK) goto nomem;
    return base;
nomem:
    cg_optimizer_free(base);
    return NULL;
}

struct cg_optimizer *cg_sgd_new(struct cg_module *model, struct cg_sgd_options options)
{
    if (!model) {
        cg_misuse("cg_sgd_new", "model is NULL (hint: pass the module whose parameters to "
                                "train, or use cg_sgd_new_params)");
        return NULL;
    }
    if (!options_ok("cg_sgd_new", &options)) return NULL;
    struct cg_sgd *s = cg_calloc(1, sizeof *s, "SGD optimizer");
    if (!s) return NULL;
    enum cg_status st = cg_optimizer_init(&s->base, &sgd_vtable, model, options.lr,
                                          options.weight_decay, "cg_sgd_new");
    return sgd_finish(s, st, &options);
}

struct cg_optimizer *cg_sgd_new_params(struct cg_tensor *const *params, size_t n,
                                       struct cg_sgd_options options)
{
    if (!params && n > 0) {
        cg_misuse("cg_sgd_new_params", "params is NULL but n = %zu", n);
        return NULL;
    }
    if (!options_ok("cg_sgd_new_params", &options)) return NULL;
    struct cg_sgd *s = cg_calloc(1, sizeof *s, "SGD optimizer");
    if (!s) return NULL;
    enum cg_status st = cg_optimizer_init_params(&s->base, &sgd_vtable, params, n, options.lr,
                                                 options.weight_decay, "cg_sgd_new_params");
    return sgd_finish(s, st, &options);
}

/* Elements [lo, hi) of parameter i, counted from its start. */
static void update_param(const struct cg_sgd *s, size_t i, int64_t lo, int64_t hi)
{
    const struct cg_optimizer_param *op = &s->base.params[i];
    struct cg_tensor *p = op->tensor;
    if (!cg_optim_has_grad(p) || lo >= hi) return;
    const struct cg_param_group *g = &s->base.groups[op->group];
    const struct sgd_hyper h = {g->lr, g->weight_decay, g->momentum, s->dampening,
                                s->nesterov, s->maximize};
    size_t es = cg_dtype_size(p->dtype), off = (size_t)lo * es;
    char *data = (char *)p->data + off, *grad = (char *)p->grad->data + off;
    char *buf = s->bufs[i] ? (char *)s->bufs[i]->data + off : NULL;
    if (p->dtype == CG_F64)
        sgd_update_f64((double *)data, (const double *)grad, (double *)buf, s->started[i],
                       hi - lo, &h);
    else
        sgd_update_f32((float *)data, (const float *)grad, (float *)buf, s->started[i], hi - lo,
                       &h);
}

struct update_job {
    const struct cg_sgd *s;
    int parts;
};

static void update_part(void *ctx, int part)
{
    const struct update_job *job = ctx;
    for (size_t i = 0; i < job->s->base.n_params; i++) {
        int64_t lo, hi;
        cg_optim_param_part(job->s->base.params[i].tensor, job->parts, part, &lo, &hi);
        update_param(job->s, i, lo, hi);
    }
}

static bool sgd_has_buffer(const void *ctx, size_t i)
{
    return ((const struct cg_sgd *)ctx)->bufs[i] != NULL;
}

static enum cg_status sgd_step(struct cg_optimizer *base)
{
    struct cg_sgd *s = (struct cg_sgd *)base;
    if (!cg_optim_buffers_ok(base, sgd_has_buffer, s)) return CG_ERR_INVALID;
    /* Every element is updated on its own, so any cut gives the same bits. */
    int parts = cg_optim_parts(base);
    cg_parallel_run(parts, update_part, &(struct update_job){s, parts});
    /* PyTorch keeps no buffer from a step whose group momentum was 0. */
    for (size_t i = 0; i < base->n_params; i++)
        if (s->bufs[i] && base->groups[base->params[i].group].momentum != 0 &&
            cg_optim_has_grad(base->params[i].tensor))
            s->started[i] = true;
    return CG_OK;
}

static void sgd_range(void *ctx, size_t i, int64_t lo, int64_t hi)
{
    update_param(ctx, i, lo, hi);
}

static void sgd_step_param(struct cg_optimizer *base, size_t i)
{
    struct cg_sgd *s = (struct cg_sgd *)base;
    cg_optim_update_param(base, i, sgd_range, s);
    if (s->bufs[i] && base->groups[base->params[i].group].momentum != 0) s->started[i] = true;
}

static bool sgd_can_step_params(const struct cg_optimizer *base)
{
    return cg_optim_buffers_all(base, sgd_has_buffer, base);
}

static enum cg_status sgd_add_buffers(struct cg_optimizer *base, size_t group)
{
    return alloc_buffers((struct cg_sgd *)base, group);
}

static enum cg_status sgd_set_momentum(struct cg_optimizer *base, size_t group,
                                       double momentum, const char *fn)
{
    return cg_optim_set_buffered_momentum(base, group, momentum, fn, sgd_add_buffers);
}

static void sgd_visit_state(struct cg_optimizer *base, cg_state_visitor visit, void *user)
{
    struct cg_sgd *s = (struct cg_sgd *)base;
    double nesterov = s->nesterov, maximize = s->maximize;
    const struct {
        const char *name;
        double *value;
    } config[] = {{"momentum", &s->momentum},
                  {"dampening", &s->dampening},
                  {"nesterov", &nesterov},
                  {"maximize", &maximize}};
    /* Config items are only read (compared or saved), never written. */
    for (size_t k = 0; k < sizeof config / sizeof config[0]; k++)
        visit(&(struct cg_state_item){.name = config[k].name, .type = CG_STATE_F64,
                                      .values = config[k].value, .count = 1, .config = true},
              user);
    for (size_t i = 0; i < base->n_params; i++) {
        if (!s->bufs[i]) continue;
        char name[CG_PARAM_NAME_MAX + 32];
        snprintf(name, sizeof name, "state.%s.momentum_buffer", base->params[i].name);
        visit(&(struct cg_state_item){.name = name, .type = CG_STATE_TENSOR,
                                      .tensor = s->bufs[i], .present = &s->started[i]},
              user);
    }
}

static const struct cg_optimizer_vtable sgd_vtable = {
    .type_name = "SGD",
    .step = sgd_step,
    .step_param = sgd_step_param,
    .can_step_params = sgd_can_step_params,
    .visit_state = sgd_visit_state,
    .set_momentum = sgd_set_momentum,
    .free = sgd_free,
};

struct cg_sgd_options cg_sgd_get_options(const struct cg_optimizer *opt)
{
    const struct cg_sgd *s = cg_sgd_cast(opt);
    if (!s) {
        cg_misuse("cg_sgd_get_options", "%s", opt ? "the optimizer is not SGD" : "opt is NULL");
        return (struct cg_sgd_options){0};
    }
    return (struct cg_sgd_options){.lr = opt->groups[0].lr,
                                   .momentum = opt->groups[0].momentum,
                                   .dampening = s->dampening,
                                   .weight_decay = opt->groups[0].weight_decay,
                                   .nesterov = s->nesterov,
                                   .maximize = s->maximize};
}

const struct cg_tensor *cg_sgd_momentum_buffer(const struct cg_optimizer *opt, size_t i)
{
    const struct cg_sgd *s = cg_sgd_cast(opt);
    return s && i < opt->n_params && s->started[i] ? s->bufs[i] : NULL;
}
