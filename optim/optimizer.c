/* The optimizer base: parameters and their names, parameter groups, the
 * step count, zero_grad, and the named state every optimizer shares. */
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "parallel.h"
#include "optim/optim_internal.h"

/* Fills the base from a parameter list; names[i] NULL means "i". */
static enum cg_status init_from(struct cg_optimizer *opt, const struct cg_optimizer_vtable *vt,
                                struct cg_tensor *const *params, const char *const *names,
                                size_t n, double lr, double weight_decay, const char *fn)
{
    for (size_t i = 0; i < n; i++) {
        if (!params[i]) {
            cg_misuse(fn, "parameter %zu is NULL", i);
            return CG_ERR_INVALID;
        }
        if (params[i]->tape) {
            cg_misuse(fn, "parameter %zu ('%s') lives on a tape (hint: parameters must be "
                          "persistent tensors, created with tape NULL)", i, params[i]->name);
            return CG_ERR_INVALID;
        }
    }
    size_t name_bytes = 0;
    for (size_t i = 0; i < n; i++) name_bytes += names[i] ? strlen(names[i]) + 1 : 24;
    memset(opt, 0, sizeof *opt);
    opt->vtable = vt;
    opt->params = cg_calloc(n ? n : 1, sizeof *opt->params, "optimizer parameters");
    opt->groups = cg_calloc(1, sizeof *opt->groups, "optimizer parameter groups");
    opt->names_ = cg_malloc(name_bytes ? name_bytes : 1, "optimizer parameter names");
    opt->group_of_ = cg_calloc(n ? n : 1, sizeof *opt->group_of_, "optimizer parameter groups");
    if (!opt->params || !opt->groups || !opt->names_ || !opt->group_of_) {
        cg_free(opt->params);
        cg_free(opt->groups);
        cg_free(opt->names_);
        cg_free(opt->group_of_);
        memset(opt, 0, sizeof *opt);
        return CG_ERR_NOMEM;
    }
    opt->n_params = n;
    opt->n_groups = 1;
    opt->groups[0] =
        (struct cg_param_group){.lr = lr, .weight_decay = weight_decay, .initial_lr = lr};
    char *dst = opt->names_;
    for (size_t i = 0; i < n; i++) {
        struct cg_optimizer_param *p = &opt->params[i];
        p->tensor = params[i];
        p->dtype = params[i]->dtype;
        p->numel = params[i]->numel;
        p->name = dst;
        if (names[i]) memcpy(dst, names[i], strlen(names[i]) + 1);
        else snprintf(dst, 24, "%zu", i);
        dst += strlen(dst) + 1;
    }
    return CG_OK;
}

enum cg_status cg_optimizer_init_params(struct cg_optimizer *opt,
                                        const struct cg_optimizer_vtable *vtable,
                                        struct cg_tensor *const *params, size_t n, double lr,
                                        double weight_decay, const char *fn)
{
    if (!opt || !vtable || (!params && n > 0)) {
        cg_misuse(fn, "%s", !opt ? "optimizer is NULL" : !vtable ? "vtable is NULL"
                                 : "params is NULL but n > 0");
        return CG_ERR_INVALID;
    }
    const char **names = cg_calloc(n ? n : 1, sizeof *names, "optimizer name list");
    if (!names) return CG_ERR_NOMEM;
    enum cg_status st = init_from(opt, vtable, params, names, n, lr, weight_decay, fn);
    cg_free(names);
    return st;
}

/* Two visits of the model: count (and measure names), then collect. */
struct collect {
    size_t n, cap, name_used;
    struct cg_tensor **params;
    const char **names;
    char *name_store;
};

static void collect_param(const char *name, struct cg_tensor *param, void *user)
{
    struct collect *c = user;
    size_t len = strlen(name) + 1;
    if (!c->params) {
        c->n++;
        c->name_used += len;
        return;
    }
    if (c->n == c->cap) return; /* the module changed between the visits */
    memcpy(c->name_store + c->name_used, name, len);
    c->params[c->n] = param;
    c->names[c->n++] = c->name_store + c->name_used;
    c->name_used += len;
}

enum cg_status cg_optimizer_init(struct cg_optimizer *opt, const struct cg_optimizer_vtable *vtable,
                                 struct cg_module *model, double lr, double weight_decay,
                                 const char *fn)
{
    if (!opt || !vtable || !model) {
        cg_misuse(fn, "%s (hint: pass the module whose parameters to train)",
                  !opt ? "optimizer is NULL" : !vtable ? "vtable is NULL" : "model is NULL");
        return CG_ERR_INVALID;
    }
    struct collect c = {0};
    cg_module_visit_params(model, collect_param, &c);
    c.cap = c.n;
    c.params = cg_calloc(c.cap ? c.cap : 1, sizeof *c.params, "optimizer parameter list");
    c.names = cg_calloc(c.cap ? c.cap : 1, sizeof *c.names, "optimizer name list");
    c.name_store = cg_malloc(c.name_used ? c.name_used : 1, "optimizer name list");
    enum cg_status st = CG_ERR_NOMEM;
    if (c.params && c.names && c.name_store) {
        c.n = c.name_used = 0;
        cg_module_visit_params(model, collect_param, &c);
        st = init_from(opt, vtable, c.params, c.names, c.n, lr, weight_decay, fn);
    }
    cg_free(c.params);
    cg_free(c.names);
    cg_free(c.name_store);
    return st;
}

void cg_optimizer_free(struct cg_optimizer *opt)
{
    if (!opt) return;
    cg_lr_schedule_destroy(opt->schedule);
    cg_fused_step_free(opt->fused_);
    opt->fused_ = NULL;
    cg_free(opt->params);
    cg_free(opt->groups);
    cg_free(opt->names_);
    cg_free(opt->group_of_);
    opt->params = NULL;
    opt->groups = NULL;
    opt->names_ = NULL;
    opt->group_of_ = NULL;
    if (opt->vtable && opt->vtable->free) opt->vtable->free(opt);
}

const char *cg_optimizer_type(const struct cg_optimizer *opt)
{
    return opt && opt->vtable && opt->vtable->type_name ? opt->vtable->type_name : "";
}

/* ---- step and zero_grad ---- */

size_t cg_optim_changed_param(const struct cg_optimizer *opt)
{
    for (size_t i = 0; i < opt->n_params; i++) {
        const struct cg_optimizer_param *s = &opt->params[i];
        const struct cg_tensor *p = s->tensor, *g = p->grad;
        if (p->dtype != s->dtype || p->numel != s->numel ||
            (g && (g->dtype != p->dtype || g->numel != p->numel)))
            return i;
    }
    return SIZE_MAX;
}

enum cg_status cg_optimizer_step(struct cg_optimizer *opt)
{
    if (!opt || !opt->vtable || !opt->vtable->step) {
        cg_misuse("cg_optimizer_step", "%s (hint: the optimizer's constructor returned NULL "
                  "earlier?)", !opt ? "opt is NULL" : "optimizer has no step function");
        return CG_ERR_INVALID;
    }
    /* Check everything first so a misuse leaves all parameters untouched. */
    size_t i = cg_optim_changed_param(opt);
    if (i != SIZE_MAX) {
        const struct cg_optimizer_param *s = &opt->params[i];
        const struct cg_tensor *p = s->tensor, *g = p->grad;
        char ps[96], gs[96];
        cg_misuse("cg_optimizer_step",
                  "parameter '%s' is now %s (grad %s) but was %s with %lld elements when "
                  "the optimizer was created (hint: create the optimizer after "
                  "cg_module_to_dtype or reshaping)",
                  s->name, cg_tensor_shape_str(p, ps, sizeof ps),
                  g ? cg_tensor_shape_str(g, gs, sizeof gs) : "none", cg_dtype_name(s->dtype),
                  (long long)s->numel);
        return CG_ERR_INVALID;
    }
    enum cg_status st = opt->vtable->step(opt);
    if (st == CG_OK) opt->steps++;
    return st;
}

void cg_optim_param_part(const struct cg_tensor *p, int parts, int part, int64_t *lo, int64_t *hi)
{
    int64_t rows = p->ndim ? p->shape[0] : 1, row = rows ? p->numel / rows : 0;
    cg_split_range(rows, parts, part, 16, lo, hi);
    *lo *= row;
    *hi *= row;
}

int cg_optim_parts(const struct cg_optimizer *opt)
{
    int64_t total = 0;
    for (size_t i = 0; i < opt->n_params; i++) total += opt->params[i].numel;
    return total < CG_OPTIM_PARALLEL_MIN ? 1 : cg_parallel_threads();
}

struct zero_job {
    const struct cg_optimizer *opt;
    int parts;
};

static void zero_part(void *ctx, int part)
{
    const struct zero_job *job = ctx;
    for (size_t i = 0; i < job->opt->n_params; i++) {
        const struct cg_tensor *p = job->opt->params[i].tensor;
        /* An unwritten persistent grad holds zeros already (see CG_GRAD_NONE). */
        if (!p->grad || (p->flags & CG_GRAD_NONE)) continue;
        int64_t lo, hi;
        cg_optim_param_part(p->grad, job->parts, part, &lo, &hi);
        if (hi > lo) {
            size_t es = cg_dtype_size(p->dtype);
            memset((char *)p->grad->data + (size_t)lo * es, 0, (size_t)(hi - lo) * es);
        }
    }
}

void cg_optimizer_zero_grad(struct cg_optimizer *opt)
{
    if (!opt) {
        cg_misuse("cg_optimizer_zero_grad", "opt is NULL");
        return;
    }
    if (opt->vtable && opt->vtable->zero_grad) {
        opt->vtable->zero_grad(opt);
        return;
    }
    /* The same cut as the updates, so each thread zeroes its own rows. */
    int parts = cg_optim_parts(opt);
    cg_parallel_run(parts, zero_part, &(struct zero_job){opt, parts});
    /* PyTorch's .grad = None: skipped until a backward writes it. */
    for (size_t i = 0; i < opt->n_params; i++)
        if (opt->params[i].tensor->grad) opt->params[i].tensor->flags |= CG_GRAD_NONE;
}

/* ---- learning rates and groups ---- */

static bool group_ok(const char *fn, const struct cg_optimizer *opt, size_t group)
{
    if (!opt) {
        cg_misuse(fn, "opt is NULL");
        return false;
    }
    if (group >= opt->n_groups) {
        cg_misuse(fn, "group %zu does not exist (the optimizer has %zu groups)", group,
                  opt->n_groups);
        return false;
    }
    return true;
}

double cg_optimizer_get_group_lr(const struct cg_optimizer *opt, size_t group)
{
    if (!group_ok("cg_optimizer_get_group_lr", opt, group)) return NAN;
    if (opt->vtable && opt->vtable->get_lr) return opt->vtable->get_lr(opt, group);
    return opt->groups[group].lr;
}

static void set_group_lr(struct cg_optimizer *opt, size_t group, double lr)
{
    if (opt->vtable && opt->vtable->set_lr) opt->vtable->set_lr(opt, group, lr);
    else opt->groups[group].lr = lr;
}

static bool lr_ok(const char *fn, const struct cg_optimizer *opt, double lr)
{
    if (lr >= 0) return true;
    cg_misuse(fn, "Invalid learning rate: %g (hint: lr must be >= 0; the lr stays %g)", lr,
              opt->groups[0].lr);
    return false;
}

void cg_optimizer_set_group_lr(struct cg_optimizer *opt, size_t group, double lr)
{
    if (!group_ok("cg_optimizer_set_group_lr", opt, group) ||
        !lr_ok("cg_optimizer_set_group_lr", opt, lr))
        return;
    set_group_lr(opt, group, lr);
}

double cg_optimizer_get_lr(const struct cg_optimizer *opt)
{
    if (!opt) {
        cg_misuse("cg_optimizer_get_lr", "opt is NULL");
        return NAN;
    }
    return cg_optimizer_get_group_lr(opt, 0);
}

void cg_optimizer_set_lr(struct cg_optimizer *opt, double lr)
{
    if (!opt) {
        cg_misuse("cg_optimizer_set_lr", "opt is NULL");
        return;
    }
    if (!lr_ok("cg_optimizer_set_lr", opt, lr)) return;
    for (size_t g = 0; g < opt->n_groups; g++) set_group_lr(opt, g, lr);
}

static bool momentum_ok(const char *fn, const struct cg_optimizer *opt, size_t group)
{
    if (!group_ok(fn, opt, group)) return false;
    if (opt->vtable && opt->vtable->set_momentum) return true;
    cg_misuse(fn, "the %s optimizer has no momentum (hint: SGD, RMSprop, Adam and AdamW have "
              "one; for OneCycleLR set .no_cycle_momentum)", cg_optimizer_type(opt));
    return false;
}

double cg_optimizer_get_group_momentum(const struct cg_optimizer *opt, size_t group)
{
    if (!momentum_ok("cg_optimizer_get_group_momentum", opt, group)) return NAN;
    return opt->groups[group].momentum;
}

enum cg_status cg_optimizer_set_group_momentum(struct cg_optimizer *opt, size_t group,
                                               double momentum)
{
    static const char fn[] = "cg_optimizer_set_group_momentum";
    if (!momentum_ok(fn, opt, group)) return CG_ERR_INVALID;
    return opt->vtable->set_momentum(opt, group, momentum, fn);
}

int cg_optimizer_add_group(struct cg_optimizer *opt, const char *pattern,
                           struct cg_group_options o)
{
    static const char fn[] = "cg_optimizer_add_group";
    if (!opt || !pattern) {
        cg_misuse(fn, "%s is NULL", !opt ? "opt" : "pattern");
        return -1;
    }
    if ((o.set_lr && !(o.lr >= 0)) || (o.set_weight_decay && !(o.weight_decay >= 0))) {
        cg_misuse(fn, "lr %g, weight_decay %g: need values >= 0", o.lr, o.weight_decay);
        return -1;
    }
    if (opt->schedule) {
        cg_misuse(fn, "the optimizer already has a learning-rate schedule (hint: add groups "
                      "before creating the schedule, which records each group's base lr)");
        return -1;
    }
    if (o.set_momentum && !momentum_ok(fn, opt, 0)) return -1;
    size_t matched = 0;
    for (size_t i = 0; i < opt->n_params; i++)
        matched += opt->params[i].group == 0 && fnmatch(pattern, opt->params[i].name, 0) == 0;
    if (!matched) {
        cg_misuse(fn, "pattern '%s' matches no parameter of group 0 (names look like '%s')",
                  pattern, opt->n_params ? opt->params[0].name : "0.weight");
        return -1;
    }
    struct cg_param_group *groups = cg_realloc(opt->groups, (opt->n_groups + 1) * sizeof *groups,
                                               "optimizer parameter groups");
    if (!groups) return -1;
    opt->groups = groups;
    struct cg_param_group g = groups[0];
    if (o.set_lr) g.lr = g.initial_lr = o.lr;
    if (o.set_weight_decay) g.weight_decay = o.weight_decay;
    size_t index = opt->n_groups++;
    groups[index] = g;
    for (size_t i = 0; i < opt->n_params; i++)
        if (opt->params[i].group == 0 && fnmatch(pattern, opt->params[i].name, 0) == 0)
            opt->group_of_[i] = opt->params[i].group = index;
    /* The optimizer checks the value (and allocates what it needs) for a
     * group that exists; a refusal takes the group back. */
    if (o.set_momentum && opt->vtable->set_momentum(opt, index, o.momentum, fn) != CG_OK) {
        for (size_t i = 0; i < opt->n_params; i++)
            if (opt->params[i].group == index) opt->group_of_[i] = opt->params[i].group = 0;
        opt->n_groups--;
        return -1;
    }
    return (int)index;
}

size_t cg_optimizer_group_count(const struct cg_optimizer *opt) { return opt ? opt->n_groups : 0; }
uint64_t cg_optimizer_step_count(const struct cg_optimizer *opt) { return opt ? opt->steps : 0; }
size_t cg_optimizer_param_count(const struct cg_optimizer *opt) { return opt ? opt->n_params : 0; }

struct cg_tensor *cg_optimizer_param(const struct cg_optimizer *opt, size_t i)
{
    return opt && i < opt->n_params ? opt->params[i].tensor : NULL;
}

const char *cg_optimizer_param_name(const struct cg_optimizer *opt, size_t i)
{
    return opt && i < opt->n_params ? opt->params[i].name : NULL;
}

struct cg_lr_schedule *cg_optimizer_schedule(const struct cg_optimizer *opt)
{
    return opt ? opt->schedule : NULL;
}
