/* Parameter-free modules around ops with arguments: LeakyReLU, ELU, GELU,
 * SiLU, Softplus, Softmax, LogSoftmax, Flatten and Identity. */
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "cgrad/nn.h"

struct act {
    struct cg_module base;
    double a, b; /* slope / alpha / beta, threshold */
    int d0, d1;  /* dim; flatten's start and end dims; gelu's tanh flag in d0 */
};

#define ACT(m) ((const struct act *)(m))

static struct cg_tensor *leaky_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_leaky_relu(t, x, ACT(m)->a);
}

static struct cg_tensor *elu_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_elu(t, x, ACT(m)->a);
}

static struct cg_tensor *gelu_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_gelu(t, x, ACT(m)->d0 != 0);
}

static struct cg_tensor *silu_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    (void)m;
    return cg_silu(t, x);
}

static struct cg_tensor *softplus_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_softplus(t, x, ACT(m)->a, ACT(m)->b);
}

static struct cg_tensor *softmax_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_softmax(t, x, ACT(m)->d0);
}

static struct cg_tensor *log_softmax_fwd(struct cg_module *m, struct cg_tape *t,
                                         struct cg_tensor *x)
{
    return cg_log_softmax(t, x, ACT(m)->d0);
}

static struct cg_tensor *flatten_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_flatten(t, x, ACT(m)->d0, ACT(m)->d1);
}

/* The input itself (a module may return its input). */
static struct cg_tensor *identity_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    (void)m, (void)t;
    return x;
}

static void slope_desc(const struct cg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "negative_slope=%g", ACT(m)->a);
}

static void alpha_desc(const struct cg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "alpha=%g", ACT(m)->a);
}

static void gelu_desc(const struct cg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "approximate=%s", ACT(m)->d0 ? "tanh" : "none");
}

static void softplus_desc(const struct cg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "beta=%g, threshold=%g", ACT(m)->a, ACT(m)->b);
}

static void dim_desc(const struct cg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "dim=%d", ACT(m)->d0);
}

static void flatten_desc(const struct cg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "start_dim=%d, end_dim=%d", ACT(m)->d0, ACT(m)->d1);
}

static void act_free(struct cg_module *m) { cg_free(m); }

#define CG_ACT_VTABLE(var, type, fwd, desc)      \
    static const struct cg_module_vtable var = { \
        .type_name = type, .forward = fwd, .free = act_free, .describe = desc};
CG_ACT_VTABLE(leaky_vt, "LeakyReLU", leaky_fwd, slope_desc)
CG_ACT_VTABLE(elu_vt, "ELU", elu_fwd, alpha_desc)
CG_ACT_VTABLE(gelu_vt, "GELU", gelu_fwd, gelu_desc)
CG_ACT_VTABLE(silu_vt, "SiLU", silu_fwd, NULL)
CG_ACT_VTABLE(softplus_vt, "Softplus", softplus_fwd, softplus_desc)
CG_ACT_VTABLE(softmax_vt, "Softmax", softmax_fwd, dim_desc)
CG_ACT_VTABLE(log_softmax_vt, "LogSoftmax", log_softmax_fwd, dim_desc)
CG_ACT_VTABLE(flatten_vt, "Flatten", flatten_fwd, flatten_desc)
CG_ACT_VTABLE(identity_vt, "Identity", identity_fwd, NULL)
#undef CG_ACT_VTABLE

static struct cg_module *new_act(const struct cg_module_vtable *vt, double a, double b, int d0,
                                 int d1)
{
    struct act *m = cg_calloc(1, sizeof *m, vt->type_name);
    if (!m) return NULL;
    cg_module_init(&m->base, vt);
    m->a = a, m->b = b, m->d0 = d0, m->d1 = d1;
    return &m->base;
}

static bool finite_arg(const char *fn, const char *what, double v)
{
    if (isfinite(v)) return true;
    cg_misuse(fn, "%s = %g: must be finite", what, v);
    return false;
}

struct cg_module *cg_leaky_relu_new(double negative_slope)
{
    if (!finite_arg("cg_leaky_relu_new", "negative_slope", negative_slope)) return NULL;
    return new_act(&leaky_vt, negative_slope, 0, 0, 0);
}

struct cg_module *cg_elu_new(double alpha)
{
    if (!finite_arg("cg_elu_new", "alpha", alpha)) return NULL;
    return new_act(&elu_vt, alpha, 0, 0, 0);
}

struct cg_module *cg_gelu_new(bool tanh_approximation)
{
    return new_act(&gelu_vt, 0, 0, tanh_approximation, 0);
}

struct cg_module *cg_silu_new(void) { return new_act(&silu_vt, 0, 0, 0, 0); }

struct cg_module *cg_softplus_new(double beta, double threshold)
{
    if (!(beta > 0) || isinf(beta) || isnan(threshold)) {
        cg_misuse("cg_softplus_new", "beta = %g, threshold = %g: need a finite beta > 0 and a "
                  "threshold that is not NaN (PyTorch's defaults: 1, 20)", beta, threshold);
        return NULL;
    }
    return new_act(&softplus_vt, beta, threshold, 0, 0);
}

/* The dim is checked against each input in forward (modules do not know
 * their input's rank in advance). */
struct cg_module *cg_softmax_new(int dim) { return new_act(&softmax_vt, 0, 0, dim, 0); }
struct cg_module *cg_log_softmax_new(int dim) { return new_act(&log_softmax_vt, 0, 0, dim, 0); }
struct cg_module *cg_flatten_new(int start_dim, int end_dim)
{
    return new_act(&flatten_vt, 0, 0, start_dim, end_dim);
}
struct cg_module *cg_identity_new(void) { return new_act(&identity_vt, 0, 0, 0, 0); }
