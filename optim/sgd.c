/* SGD with PyTorch 1.13 semantics (torch/optim/sgd.py, single-tensor path). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "multiarch.h"
#include "parallel.h"
#include "error_internal.h"
#include "optim/optim_internal.h"

static bool options_ok(const char *fn, const struct cg_sgd_options *o)
{
    if (isnan(o->lr) || isnan(o->momentum) || isnan(o->dampening) || isnan(o->weight_decay)) {
        cg_misuse(fn, "NaN in options (lr %g, momentum %g, dampening %g, weight_decay %g)", o->lr,
                  o->momentum, o->dampening, o->weight_decay);
        return false;
    }
    if (o->lr < 0) {
        cg_misuse(fn, "Invalid learning rate: %g (hint: lr must be >= 0)", o->lr);
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

/* Builds the optimizer from a parameter list; names[i] may be NULL (index). */
static struct cg_sgd *sgd_create(struct cg_tensor *const *params, const char *const *names,
                                 size_t n, struct cg_sgd_options o, const char *fn)
{
    for (size_t i = 0; i < n; i++) {
        if (!params[i]) {
            cg_misuse(fn, "parameter %zu is NULL", i);
            return NULL;
        }
        if (params[i]->tape) {
            cg_misuse(fn, "parameter %zu ('%s') lives on a tape (hint: parameters must be "
                          "persistent tensors, created with tape NULL)", i, params[i]->name);
            return NULL;
        }
    }
    size_t name_bytes = 0;
    for (size_t i = 0; i < n; i++) name_bytes += names[i] ? strlen(names[i]) + 1 : 24;
    struct cg_sgd *opt = cg_calloc(1, sizeof *opt, "SGD optimizer");
    if (!opt) return NULL;
    opt->o = o;
    opt->n = n;
    opt->slots = cg_calloc(n, sizeof *opt->slots, "SGD parameter slots");
    opt->names = cg_malloc(name_bytes, "SGD parameter names");
    if (!opt->slots || !opt->names) goto nomem;
    char *dst = opt->names;
    for (size_t i = 0; i < n; i++) {
        struct cg_sgd_slot *s = &opt->slots[i];
        s->param = params[i];
        s->dtype = params[i]->dtype;
        s->numel = params[i]->numel;
        s->name = dst;
        if (names[i]) {
            memcpy(dst, names[i], strlen(names[i]) + 1);
        } else {
            snprintf(dst, 24, "%zu", i);
        }
        dst += strlen(dst) + 1;
        /* Allocated now so that no step ever allocates. */
        if (o.momentum != 0) {
            s->buf = cg_tensor_zeros(NULL, s->dtype, params[i]->ndim, params[i]->shape);
            if (!s->buf) goto nomem;
        }
    }
    return opt;
nomem:
    cg_sgd_free(opt);
    return NULL;
}

struct cg_sgd *cg_sgd_new_params(struct cg_tensor *const *params, size_t n,
                                 struct cg_sgd_options options)
{
    if (!params && n > 0) {
        cg_misuse("cg_sgd_new_params", "params is NULL but n = %zu", n);
        return NULL;
    }
    if (!options_ok("cg_sgd_new_params", &options)) return NULL;
    const char **names = cg_calloc(n, sizeof *names, "SGD name list");
    if (!names) return NULL;
    struct cg_sgd *opt = sgd_create(params, names, n, options, "cg_sgd_new_params");
    cg_free(names);
    return opt;
}

/* Two visits: count (and measure names), then collect. */
struct collect {
    size_t n, cap;
    struct cg_tensor **params;
    const char **names;
    char *name_store;
    size_t name_used;
};

static void collect_param(const char *name, struct cg_tensor *param, void *user)
{
    struct collect *c = user;
    if (!c->params) {
        c->n++;
        c->name_used += strlen(name) + 1;
        return;
    }
    if (c->n == c->cap) return; /* the module changed between the visits */
    size_t len = strlen(name) + 1;
    memcpy(c->name_store + c->name_used, name, len);
    c->params[c->n] = param;
    c->names[c->n++] = c->name_store + c->name_used;
    c->name_used += len;
}

struct cg_sgd *cg_sgd_new(struct cg_module *model, struct cg_sgd_options options)
{
    if (!model) {
        cg_misuse("cg_sgd_new", "model is NULL (hint: pass the module whose parameters to "
                                "train, or use cg_sgd_new_params)");
        return NULL;
    }
    if (!options_ok("cg_sgd_new", &options)) return NULL;
    struct collect c = {0};
    cg_module_visit_params(model, collect_param, &c);
    size_t bytes = c.name_used;
    c.cap = c.n;
    c.params = cg_calloc(c.cap, sizeof *c.params, "SGD parameter list");
    c.names = cg_calloc(c.cap, sizeof *c.names, "SGD name list");
    c.name_store = cg_malloc(bytes, "SGD name list");
    struct cg_sgd *opt = NULL;
    if (c.params && c.names && c.name_store) {
        c.n = 0;
        c.name_used = 0;
        cg_module_visit_params(model, collect_param, &c);
        opt = sgd_create(c.params, c.names, c.n, options, "cg_sgd_new");
    }
    cg_free(c.params);
    cg_free(c.names);
    cg_free(c.name_store);
    return opt;
}

void cg_sgd_free(struct cg_sgd *opt)
{
    if (!opt) return;
    if (opt->schedule) cg_lr_schedule_destroy(opt->schedule);
    if (opt->slots)
        for (size_t i = 0; i < opt->n; i++) cg_tensor_free(opt->slots[i].buf);
    cg_free(opt->slots);
    cg_free(opt->names);
    cg_free(opt);
}

/* The update for one parameter, in its own precision T (float or double).
 * Options are copied into locals and the arrays are restrict so the loops
 * vectorize; the common momentum case gets its own branch-free loop. */
#define CG_SGD_KERNEL(NAME, T)                                                              \
    CG_MULTIARCH                                                                            \
    static void NAME(T *restrict p, const T *restrict g, T *restrict buf, bool started,     \
                     int64_t n, const struct cg_sgd_options *o)                             \
    {                                                                                       \
        const T lr = (T)o->lr, wd = (T)o->weight_decay, mom = (T)o->momentum;               \
        const T keep = (T)(1.0 - o->dampening);                                             \
        const bool use_wd = o->weight_decay != 0, use_mom = o->momentum != 0;               \
        const bool maximize = o->maximize, nesterov = o->nesterov;                          \
        if (use_mom && started && !use_wd && !maximize && !nesterov) {                      \
            for (int64_t i = 0; i < n; i++) {                                               \
                T b = mom * buf[i] + keep * g[i];                                           \
                buf[i] = b;                                                                 \
                p[i] = p[i] - lr * b;                                                       \
            }                                                                               \
            return;                                                                         \
        }                                                                                   \
        for (int64_t i = 0; i < n; i++) {                                                   \
            T d = maximize ? -g[i] : g[i];                                                  \
            if (use_wd) d = d + wd * p[i];                                                  \
            if (use_mom) {                                                                  \
                T b = started ? mom * buf[i] + keep * d : d;                                \
                buf[i] = b;                                                                 \
                d = nesterov ? d + mom * b : b;                                             \
            }                                                                               \
            p[i] = p[i] - lr * d;                                                           \
        }                                                                                   \
    }
CG_SGD_KERNEL(sgd_update_f32, float)
CG_SGD_KERNEL(sgd_update_f64, double)

/* Elements [lo, hi) of one slot, counted from the slot's start. */
static void update_slot(const struct cg_sgd *opt, const struct cg_sgd_slot *s, int64_t lo,
                        int64_t hi)
{
    struct cg_tensor *p = s->param;
    if (!p->grad || lo >= hi) return;
    size_t es = cg_dtype_size(p->dtype), off = (size_t)lo * es;
    char *data = (char *)p->data + off, *grad = (char *)p->grad->data + off;
    char *buf = s->buf ? (char *)s->buf->data + off : NULL;
    if (p->dtype == CG_F64)
        sgd_update_f64((double *)data, (const double *)grad, (double *)buf, s->started, hi - lo,
                       &opt->o);
    else
        sgd_update_f32((float *)data, (const float *)grad, (float *)buf, s->started, hi - lo,
                       &opt->o);
}

/* Below this many elements the hand-off to the pool costs more than it saves. */
static const int64_t parallel_min_elements = 1 << 15;

/* Part `part` of every parameter, cut along its first dimension (the output
 * features of a weight) exactly as the layers cut their products, so each
 * thread updates the rows it computed the gradient of. */
static void param_part(const struct cg_tensor *p, int parts, int part, int64_t *lo,
                       int64_t *hi)
{
    int64_t rows = p->ndim ? p->shape[0] : 1, row = rows ? p->numel / rows : 0;
    cg_split_range(rows, parts, part, 16, lo, hi);
    *lo *= row;
    *hi *= row;
}

struct update_job {
    const struct cg_sgd *opt;
    int parts;
};

static void update_part(void *ctx, int part)
{
    const struct update_job *job = ctx;
    for (size_t i = 0; i < job->opt->n; i++) {
        int64_t lo, hi;
        param_part(job->opt->slots[i].param, job->parts, part, &lo, &hi);
        update_slot(job->opt, &job->opt->slots[i], lo, hi);
    }
}

static int parts_for(const struct cg_sgd *opt)
{
    int64_t total = 0;
    for (size_t i = 0; i < opt->n; i++) total += opt->slots[i].numel;
    return total < parallel_min_elements ? 1 : cg_parallel_threads();
}

enum cg_status cg_sgd_step(struct cg_sgd *opt)
{
    if (!opt) {
        cg_misuse("cg_sgd_step", "opt is NULL (hint: cg_sgd_new returned NULL earlier?)");
        return CG_ERR_INVALID;
    }
    /* Check everything first so a misuse leaves all parameters untouched. */
    for (size_t i = 0; i < opt->n; i++) {
        const struct cg_sgd_slot *s = &opt->slots[i];
        const struct cg_tensor *p = s->param, *g = p->grad;
        if (p->dtype != s->dtype || p->numel != s->numel ||
            (g && (g->dtype != p->dtype || g->numel != p->numel))) {
            char ps[96], gs[96];
            cg_misuse("cg_sgd_step",
                      "parameter '%s' is now %s (grad %s) but was %s with %lld elements when "
                      "the optimizer was created (hint: create the optimizer after "
                      "cg_module_to_dtype or reshaping)",
                      s->name, cg_tensor_shape_str(p, ps, sizeof ps),
                      g ? cg_tensor_shape_str(g, gs, sizeof gs) : "none", cg_dtype_name(s->dtype),
                      (long long)s->numel);
            return CG_ERR_INVALID;
        }
    }
    /* Every element is updated on its own, so any cut gives the same bits. */
    int parts = parts_for(opt);
    cg_parallel_run(parts, update_part, &(struct update_job){opt, parts});
    for (size_t i = 0; i < opt->n; i++)
        if (opt->slots[i].buf && opt->slots[i].param->grad) opt->slots[i].started = true;
    opt->steps++;
    return CG_OK;
}

static void zero_part(void *ctx, int part)
{
    const struct update_job *job = ctx;
    for (size_t i = 0; i < job->opt->n; i++) {
        const struct cg_tensor *p = job->opt->slots[i].param;
        if (!p->grad) continue;
        int64_t lo, hi;
        param_part(p->grad, job->parts, part, &lo, &hi);
        if (hi > lo) {
            size_t es = cg_dtype_size(p->dtype);
            memset((char *)p->grad->data + (size_t)lo * es, 0, (size_t)(hi - lo) * es);
        }
    }
}

void cg_sgd_zero_grad(struct cg_sgd *opt)
{
    if (!opt) {
        cg_misuse("cg_sgd_zero_grad", "opt is NULL");
        return;
    }
    int parts = parts_for(opt);
    cg_parallel_run(parts, zero_part, &(struct update_job){opt, parts});
}

double cg_sgd_get_lr(const struct cg_sgd *opt)
{
    if (!opt) {
        cg_misuse("cg_sgd_get_lr", "opt is NULL");
        return NAN;
    }
    return opt->o.lr;
}

void cg_sgd_set_lr(struct cg_sgd *opt, double lr)
{
    if (!opt) {
        cg_misuse("cg_sgd_set_lr", "opt is NULL");
        return;
    }
    if (!(lr >= 0)) {
        cg_misuse("cg_sgd_set_lr", "Invalid learning rate: %g (hint: lr must be >= 0; the lr "
                                   "stays %g)", lr, opt->o.lr);
        return;
    }
    opt->o.lr = lr;
}

struct cg_sgd_options cg_sgd_get_options(const struct cg_sgd *opt)
{
    if (!opt) {
        cg_misuse("cg_sgd_get_options", "opt is NULL");
        return (struct cg_sgd_options){0};
    }
    return opt->o;
}

uint64_t cg_sgd_step_count(const struct cg_sgd *opt) { return opt ? opt->steps : 0; }
size_t cg_sgd_param_count(const struct cg_sgd *opt) { return opt ? opt->n : 0; }

struct cg_tensor *cg_sgd_param(const struct cg_sgd *opt, size_t i)
{
    return opt && i < opt->n ? opt->slots[i].param : NULL;
}

const char *cg_sgd_param_name(const struct cg_sgd *opt, size_t i)
{
    return opt && i < opt->n ? opt->slots[i].name : NULL;
}

const struct cg_tensor *cg_sgd_momentum_buffer(const struct cg_sgd *opt, size_t i)
{
    return opt && i < opt->n && opt->slots[i].started ? opt->slots[i].buf : NULL;
}

struct cg_lr_schedule *cg_sgd_schedule(const struct cg_sgd *opt)
{
    return opt ? opt->schedule : NULL;
}
