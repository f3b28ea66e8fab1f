/* Per-parameter state of the adaptive optimizers: allocation, names for
 * checkpoints, and the parallel elementwise update. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "parallel.h"
#include "optim/optim_internal.h"
#include "optim/param_state.h"

struct cg_optimizer *cg_optim_create(size_t size, const struct cg_optimizer_vtable *vtable,
                                     bool use_model, struct cg_module *model,
                                     struct cg_tensor *const *params, size_t n, double lr,
                                     double weight_decay, const char *fn)
{
    if (use_model && !model) {
        cg_misuse(fn, "model is NULL (hint: pass the module whose parameters to train, or use "
                      "%s_params)", fn);
        return NULL;
    }
    if (!use_model && !params && n > 0) { /* before allocating anything */
        cg_misuse(fn, "params is NULL but n = %zu", n);
        return NULL;
    }
    struct cg_optimizer *opt = cg_calloc(1, size, vtable->type_name);
    if (!opt) return NULL;
    enum cg_status st = use_model ? cg_optimizer_init(opt, vtable, model, lr, weight_decay, fn)
                              : cg_optimizer_init_params(opt, vtable, params, n, lr,
                                                         weight_decay, fn);
    if (st != CG_OK) {
        cg_free(opt);
        return NULL;
    }
    return opt;
}

enum cg_status cg_pstate_init(struct cg_pstate_set *set, const struct cg_optimizer *opt,
                              const char *const what[CG_PSTATE_MAX],
                              const bool used[CG_PSTATE_MAX], double fill)
{
    set->n = opt->n_params;
    set->s = cg_calloc(set->n ? set->n : 1, sizeof *set->s, "optimizer state");
    if (!set->s) return CG_ERR_NOMEM;
    for (int k = 0; k < CG_PSTATE_MAX; k++) set->what[k] = what[k];
    for (size_t i = 0; i < set->n; i++) {
        const struct cg_tensor *p = opt->params[i].tensor;
        for (int k = 0; k < CG_PSTATE_MAX; k++) {
            if (!what[k] || !used[k]) continue;
            /* Allocated now so that no step ever allocates. */
            struct cg_tensor *t = cg_tensor_full(NULL, p->dtype, p->ndim, p->shape, fill);
            if (!t) {
                cg_pstate_free(set);
                return CG_ERR_NOMEM;
            }
            set->s[i].t[k] = t;
        }
    }
    return CG_OK;
}

enum cg_status cg_pstate_add(struct cg_pstate_set *set, const struct cg_optimizer *opt, int k,
                             size_t group)
{
    for (size_t i = 0; i < set->n; i++) {
        const struct cg_tensor *p = opt->params[i].tensor;
        if (set->s[i].t[k] || (group != SIZE_MAX && opt->params[i].group != group)) continue;
        set->s[i].t[k] = cg_tensor_zeros(NULL, p->dtype, p->ndim, p->shape);
        if (!set->s[i].t[k]) return CG_ERR_NOMEM;
    }
    return CG_OK;
}

enum cg_status cg_optim_set_buffered_momentum(struct cg_optimizer *opt, size_t group,
                                              double momentum, const char *fn,
                                              enum cg_status (*add_buffers)(
                                                  struct cg_optimizer *opt, size_t group))
{
    if (!cg_optim_check(fn, momentum >= 0, "momentum value", momentum,
                        "momentum must be >= 0"))
        return CG_ERR_INVALID;
    if (momentum != 0 && add_buffers(opt, group) != CG_OK) return CG_ERR_NOMEM;
    opt->groups[group].momentum = momentum;
    return CG_OK;
}

/* The first parameter (with a grad, when with_grad) whose group has a
 * momentum but that has no buffer, or SIZE_MAX. */
static size_t missing_buffer(const struct cg_optimizer *opt,
                             bool (*has_buffer)(const void *ctx, size_t param), const void *ctx,
                             bool with_grad)
{
    for (size_t i = 0; i < opt->n_params; i++) {
        const struct cg_optimizer_param *p = &opt->params[i];
        if (opt->groups[p->group].momentum == 0 || has_buffer(ctx, i)) continue;
        if (!with_grad || cg_optim_has_grad(p->tensor)) return i;
    }
    return SIZE_MAX;
}

bool cg_optim_buffers_all(const struct cg_optimizer *opt,
                          bool (*has_buffer)(const void *ctx, size_t param), const void *ctx)
{
    return missing_buffer(opt, has_buffer, ctx, false) == SIZE_MAX;
}

bool cg_optim_buffers_ok(const struct cg_optimizer *opt,
                         bool (*has_buffer)(const void *ctx, size_t param), const void *ctx)
{
    size_t i = missing_buffer(opt, has_buffer, ctx, true);
    if (i != SIZE_MAX) {
        const struct cg_optimizer_param *p = &opt->params[i];
        double momentum = opt->groups[p->group].momentum;
        cg_misuse("cg_optimizer_step", "group %zu has momentum %g but parameter '%s' has no "
                  "momentum buffer (hint: set the momentum with "
                  "cg_optimizer_set_group_momentum, which allocates it)", p->group, momentum,
                  p->name);
        return false;
    }
    return true;
}

void cg_pstate_free(struct cg_pstate_set *set)
{
    if (set->s)
        for (size_t i = 0; i < set->n; i++)
            for (int k = 0; k < CG_PSTATE_MAX; k++) cg_tensor_free(set->s[i].t[k]);
    cg_free(set->s);
    set->s = NULL;
    set->n = 0;
}

void cg_pstate_visit(struct cg_pstate_set *set, const struct cg_optimizer *opt,
                     cg_state_visitor visit, void *user)
{
    char name[CG_PARAM_NAME_MAX + 64];
    for (size_t i = 0; i < set->n; i++) {
        struct cg_pstate *s = &set->s[i];
        bool *present = set->always_present ? NULL : &s->present;
        for (int k = 0; k < CG_PSTATE_MAX; k++) {
            if (!s->t[k]) continue;
            snprintf(name, sizeof name, "state.%s.%s", opt->params[i].name, set->what[k]);
            visit(&(struct cg_state_item){.name = name, .type = CG_STATE_TENSOR,
                                          .tensor = s->t[k], .present = present},
                  user);
        }
        snprintf(name, sizeof name, "state.%s.step", opt->params[i].name);
        visit(&(struct cg_state_item){.name = name, .type = CG_STATE_U64, .values = &s->step,
                                      .count = 1, .present = present},
              user);
    }
}

void cg_optim_visit_config(cg_state_visitor visit, void *user, const char *name,
                           enum cg_state_type type, void *values, size_t count)
{
    visit(&(struct cg_state_item){.name = name, .type = type, .values = values, .count = count,
                                  .config = true},
          user);
}

double cg_optim_default(double v, double def) { return v == 0 && !signbit(v) ? def : v; }

bool cg_optim_check(const char *fn, bool ok, const char *what, double value, const char *hint)
{
    if (!ok) cg_misuse(fn, "Invalid %s: %g (hint: %s)", what, value, hint);
    return ok;
}

bool cg_optim_has_grad(const struct cg_tensor *p)
{
    return p->grad && !(p->flags & CG_GRAD_NONE);
}

struct range_job {
    const struct cg_optimizer *opt;
    cg_range_update update;
    void *ctx;
    int parts;
};

static void range_part(void *ctx, int part)
{
    const struct range_job *job = ctx;
    for (size_t i = 0; i < job->opt->n_params; i++) {
        const struct cg_tensor *p = job->opt->params[i].tensor;
        if (!cg_optim_has_grad(p)) continue;
        int64_t lo, hi;
        cg_optim_param_part(p, job->parts, part, &lo, &hi);
        if (hi > lo) job->update(job->ctx, i, lo, hi);
    }
}

void cg_optim_update_ranges(const struct cg_optimizer *opt, cg_range_update update, void *ctx)
{
    int parts = cg_optim_parts(opt);
    cg_parallel_run(parts, range_part, &(struct range_job){opt, update, ctx, parts});
}

/* Elements updated before their gradient is zeroed (consuming step). */
static const int64_t zero_run = 2048;

struct one_param_job {
    const struct cg_optimizer *opt;
    size_t param;
    cg_range_update update;
    void *ctx;
    int parts;
    bool zero_grad; /* consuming: zero each range after its update */
};

static void one_param_part(void *ctx, int part)
{
    const struct one_param_job *job = ctx;
    const struct cg_tensor *p = job->opt->params[job->param].tensor;
    int64_t lo, hi;
    cg_optim_param_part(p, job->parts, part, &lo, &hi);
    if (!job->zero_grad) {
        if (hi > lo) job->update(job->ctx, job->param, lo, hi);
        return;
    }
    /* In runs small enough that the gradient just read is still in L1. */
    size_t es = cg_dtype_size(p->dtype);
    for (int64_t a = lo; a < hi; a += zero_run) {
        int64_t b = hi - a < zero_run ? hi : a + zero_run;
        job->update(job->ctx, job->param, a, b);
        memset((char *)p->grad->data + (size_t)a * es, 0, (size_t)(b - a) * es);
    }
}

void cg_optim_update_param(const struct cg_optimizer *opt, size_t param, cg_range_update update,
                           void *ctx)
{
    /* The pool's hand-off costs more than a small parameter's update. */
    int parts = opt->params[param].numel < CG_OPTIM_PARALLEL_MIN ? 1 : cg_parallel_threads();
    struct one_param_job job = {opt, param, update, ctx, parts, cg_fused_take_zeroing(opt)};
    if (parts == 1) one_param_part(&job, 0);
    else cg_parallel_run(parts, one_param_part, &job);
}

void cg_pstate_step_param(struct cg_pstate_set *set, const struct cg_optimizer *opt, size_t param,
                          cg_pstate_prepare prepare, cg_range_update update, void *ctx)
{
    set->s[param].step++;
    prepare(ctx, &set->s[param], &opt->groups[opt->params[param].group]);
    cg_optim_update_param(opt, param, update, ctx);
    set->s[param].present = true;
}

void cg_pstate_step(struct cg_pstate_set *set, const struct cg_optimizer *opt,
                    cg_pstate_prepare prepare, cg_range_update update, void *ctx)
{
    for (size_t i = 0; i < opt->n_params; i++) {
        if (!cg_optim_has_grad(opt->params[i].tensor)) continue;
        set->s[i].step++;
        prepare(ctx, &set->s[i], &opt->groups[opt->params[i].group]);
    }
    cg_optim_update_ranges(opt, update, ctx);
    for (size_t i = 0; i < opt->n_params; i++)
        if (cg_optim_has_grad(opt->params[i].tensor)) set->s[i].present = true;
}
