/* cg_optimizer_backward: the optimizer's update inside the backward sweep.
 * Each parameter is updated by the optimizer's step_param as soon as the
 * sweep has finished its gradient (cg_backward_on_ready), while gradient,
 * parameter and state are still in cache, instead of streaming them all
 * back from memory in a separate step. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "backward_hook.h"
#include "error_internal.h"
#include "optim/optim_internal.h"
#include "optim/param_state.h"

/* The callbacks of a step come in the same order every step of a training
 * loop, so the j-th callback's parameter index is remembered: finding it
 * costs one comparison, not a search, from the second step on. */
struct cg_fused_step {
    struct cg_optimizer *opt;
    size_t cap;                      /* callbacks remembered */
    const struct cg_tensor **seen;   /* [cap]: the j-th callback's leaf last time */
    size_t *index;                   /* [cap]: its parameter, SIZE_MAX if none */
    bool *stepped;                   /* [n_params]: updated in this sweep */
    bool distinct;                   /* no tensor twice among the parameters */
    bool consume;                    /* zero each grad right after its update */
    bool zeroing, zeroed;            /* step_one's offer, taken by the update */
    size_t next, updated;            /* this sweep's callback count, updates */
};

void cg_fused_step_free(struct cg_fused_step *f)
{
    if (!f) return;
    cg_free(f->seen);
    cg_free(f->index);
    cg_free(f->stepped);
    cg_free(f);
}

static int compare_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (const struct cg_tensor *const *)a;
    uintptr_t y = (uintptr_t) * (const struct cg_tensor *const *)b;
    return (x > y) - (x < y);
}

/* A tensor listed twice would be updated twice by step, in index order:
 * one callback cannot do that, so such an optimizer takes the two calls. */
static enum cg_status check_distinct(struct cg_fused_step *f)
{
    const struct cg_optimizer *opt = f->opt;
    f->distinct = true;
    if (opt->n_params < 2) return CG_OK;
    const struct cg_tensor **sorted =
        cg_malloc(opt->n_params * sizeof *sorted, "cg_optimizer_backward parameter list");
    if (!sorted) return CG_ERR_NOMEM;
    for (size_t i = 0; i < opt->n_params; i++) sorted[i] = opt->params[i].tensor;
    qsort(sorted, opt->n_params, sizeof *sorted, compare_address);
    for (size_t i = 1; i < opt->n_params; i++)
        if (sorted[i] == sorted[i - 1]) f->distinct = false;
    cg_free(sorted);
    return CG_OK;
}

static enum cg_status fused_new(struct cg_optimizer *opt)
{
    struct cg_fused_step *f = cg_calloc(1, sizeof *f, "cg_optimizer_backward state");
    if (!f) return CG_ERR_NOMEM;
    f->opt = opt;
    f->cap = 2 * opt->n_params + 16; /* room for leaves that are no parameter */
    f->seen = cg_calloc(f->cap, sizeof *f->seen, "cg_optimizer_backward callback order");
    f->index = cg_calloc(f->cap, sizeof *f->index, "cg_optimizer_backward callback order");
    f->stepped = cg_calloc(opt->n_params ? opt->n_params : 1, sizeof *f->stepped,
                           "cg_optimizer_backward flags");
    if (!f->seen || !f->index || !f->stepped || check_distinct(f) != CG_OK) {
        cg_fused_step_free(f);
        return CG_ERR_NOMEM;
    }
    opt->fused_ = f;
    return CG_OK;
}

/* The parameter index of this sweep's next callback's leaf, or SIZE_MAX. */
static size_t param_of(struct cg_fused_step *f, const struct cg_tensor *leaf)
{
    size_t j = f->next++;
    if (j < f->cap && f->seen[j] == leaf) return f->index[j];
    size_t found = SIZE_MAX;
    for (size_t i = 0; i < f->opt->n_params && found == SIZE_MAX; i++)
        if (f->opt->params[i].tensor == leaf) found = i;
    if (j < f->cap) {
        f->seen[j] = leaf;
        f->index[j] = found;
    }
    return found;
}

/* Updates parameter i; when consuming, zero_grad's work follows while the
 * gradient is still in cache (zero_grad then skips it: CG_GRAD_NONE). */
static void step_one(struct cg_fused_step *f, size_t i)
{
    f->zeroing = f->consume;
    f->zeroed = false;
    f->opt->vtable->step_param(f->opt, i);
    f->zeroing = false;
    struct cg_tensor *p = f->opt->params[i].tensor;
    if (!f->consume) return;
    if (f->zeroed) p->flags |= CG_GRAD_NONE; /* what cg_tensor_zero_grad leaves */
    else cg_tensor_zero_grad(p);             /* a step_param of the user's own */
}

bool cg_fused_take_zeroing(const struct cg_optimizer *opt)
{
    struct cg_fused_step *f = opt->fused_;
    if (!f || !f->zeroing) return false;
    f->zeroed = true;
    return true;
}

static void on_grad_ready(struct cg_tensor *leaf, void *user)
{
    struct cg_fused_step *f = user;
    size_t i = param_of(f, leaf);
    if (i == SIZE_MAX || !cg_optim_has_grad(leaf)) return;
    step_one(f, i);
    f->stepped[i] = true;
    f->updated++;
}

static bool can_fuse(const struct cg_optimizer *opt)
{
    const struct cg_optimizer_vtable *vt = opt->vtable;
    return vt->step_param && (!vt->can_step_params || vt->can_step_params(opt)) &&
           cg_optim_changed_param(opt) == SIZE_MAX;
}

static enum cg_status backward_step(struct cg_optimizer *opt, struct cg_tape *tape,
                                    struct cg_tensor *loss, bool consume, const char *fn)
{
    if (!opt || !tape || !loss) {
        cg_misuse(fn, "%s is NULL (hint: pass the optimizer, the tape of the step and its "
                  "scalar loss)", !opt ? "opt" : !tape ? "tape" : "loss");
        return CG_ERR_INVALID;
    }
    if (!opt->vtable || !opt->vtable->step) {
        cg_misuse(fn, "optimizer has no step function (hint: the optimizer's constructor "
                  "returned NULL earlier?)");
        return CG_ERR_INVALID;
    }
    bool fuse = can_fuse(opt);
    if (fuse && !opt->fused_) {
        enum cg_status st = fused_new(opt);
        if (st != CG_OK) return st;
    }
    if (!fuse || !opt->fused_->distinct) {
        enum cg_status st = cg_backward(tape, loss);
        if (st == CG_OK) st = cg_optimizer_step(opt);
        if (st == CG_OK && consume) cg_optimizer_zero_grad(opt);
        return st;
    }
    struct cg_fused_step *f = opt->fused_;
    /* An optimizer's own zero_grad runs after the sweep instead. */
    f->consume = consume && !opt->vtable->zero_grad;
    memset(f->stepped, 0, opt->n_params * sizeof *f->stepped);
    f->next = f->updated = 0;
    enum cg_status st = cg_backward_on_ready_as(tape, loss, on_grad_ready, f, fn);
    if (st != CG_OK) {
        if (f->updated) {
            char cause[256];
            snprintf(cause, sizeof cause, "%s", cg_last_error());
            cg_fail(st, "%s: the backward failed after %zu of the %zu parameters had been "
                    "updated (the others were not; the step was not counted): %s",
                    fn, f->updated, opt->n_params, cause);
        }
        return st;
    }
    /* Grads an earlier backward left (accumulation): step would use them. */
    for (size_t i = 0; i < opt->n_params; i++)
        if (!f->stepped[i] && cg_optim_has_grad(opt->params[i].tensor)) step_one(f, i);
    if (consume && !f->consume) cg_optimizer_zero_grad(opt);
    opt->steps++;
    return CG_OK;
}

enum cg_status cg_optimizer_backward(struct cg_optimizer *opt, struct cg_tape *tape,
                                     struct cg_tensor *loss)
{
    return backward_step(opt, tape, loss, false, "cg_optimizer_backward");
}

enum cg_status cg_optimizer_backward_consume(struct cg_optimizer *opt, struct cg_tape *tape,
                                             struct cg_tensor *loss)
{
    return backward_step(opt, tape, loss, true, "cg_optimizer_backward_consume");
}
