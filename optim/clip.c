/* Gradient clipping by global 2-norm (torch.nn.utils.clip_grad_norm_). */
#include <math.h>

#include "error_internal.h"
#include "cgrad/optim.h"

static double sum_squares(const struct cg_tensor *g)
{
    double s = 0;
    if (g->dtype == CG_F64) {
        const double *d = g->data;
        for (int64_t i = 0; i < g->numel; i++) s += d[i] * d[i];
    } else {
        const float *f = g->data;
        for (int64_t i = 0; i < g->numel; i++) s += (double)f[i] * (double)f[i];
    }
    return s;
}

static void scale(struct cg_tensor *g, double factor)
{
    if (g->dtype == CG_F64) {
        double *d = g->data;
        for (int64_t i = 0; i < g->numel; i++) d[i] *= factor;
    } else {
        float *f = g->data;
        const float k = (float)factor; /* PyTorch multiplies by the coefficient in f32 */
        for (int64_t i = 0; i < g->numel; i++) f[i] *= k;
    }
}

/* The clip needs two passes (norm, then scale); a tiny accumulator struct
 * lets modules, tensor lists and optimizers share them. */
struct clip_pass {
    double sum;
    double factor; /* < 1 on the scaling pass */
};

static void clip_visit(struct cg_tensor *p, struct clip_pass *c)
{
    if (!p || !p->grad) return;
    if (c->factor < 1)
        scale(p->grad, c->factor);
    else
        c->sum += sum_squares(p->grad);
}

static void clip_visit_named(const char *name, struct cg_tensor *p, void *user)
{
    (void)name;
    clip_visit(p, user);
}

static bool max_norm_ok(const char *fn, double max_norm)
{
    if (!(max_norm >= 0)) {
        cg_misuse(fn, "max_norm %g: must be >= 0 and not NaN", max_norm);
        return false;
    }
    return true;
}

/* Coefficient as PyTorch: max_norm / (total + 1e-6), applied when < 1.
 * A non-finite total leaves the grads alone (documented difference). */
static double clip_factor(double total, double max_norm)
{
    if (!isfinite(total)) return 1;
    return max_norm / (total + 1e-6);
}

double cg_clip_grad_norm(struct cg_module *model, double max_norm)
{
    if (!model) {
        cg_misuse("cg_clip_grad_norm", "model is NULL");
        return NAN;
    }
    if (!max_norm_ok("cg_clip_grad_norm", max_norm)) return NAN;
    struct clip_pass c = {0, 1};
    cg_module_visit_params(model, clip_visit_named, &c);
    double total = sqrt(c.sum);
    c.factor = clip_factor(total, max_norm);
    if (c.factor < 1) cg_module_visit_params(model, clip_visit_named, &c);
    return total;
}

double cg_clip_grad_norm_params(struct cg_tensor *const *params, size_t n, double max_norm)
{
    if (!params && n > 0) {
        cg_misuse("cg_clip_grad_norm_params", "params is NULL but n = %zu", n);
        return NAN;
    }
    if (!max_norm_ok("cg_clip_grad_norm_params", max_norm)) return NAN;
    struct clip_pass c = {0, 1};
    for (size_t i = 0; i < n; i++) clip_visit(params[i], &c);
    double total = sqrt(c.sum);
    c.factor = clip_factor(total, max_norm);
    if (c.factor < 1)
        for (size_t i = 0; i < n; i++) clip_visit(params[i], &c);
    return total;
}

double cg_optimizer_clip_grad_norm(struct cg_optimizer *opt, double max_norm)
{
    if (!opt) {
        cg_misuse("cg_optimizer_clip_grad_norm", "opt is NULL");
        return NAN;
    }
    if (!max_norm_ok("cg_optimizer_clip_grad_norm", max_norm)) return NAN;
    struct clip_pass c = {0, 1};
    for (size_t i = 0; i < opt->n_params; i++) clip_visit(opt->params[i].tensor, &c);
    double total = sqrt(c.sum);
    c.factor = clip_factor(total, max_norm);
    if (c.factor < 1)
        for (size_t i = 0; i < opt->n_params; i++) clip_visit(opt->params[i].tensor, &c);
    return total;
}
