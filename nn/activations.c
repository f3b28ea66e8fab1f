/* Activation modules: parameter-free wrappers around the elementwise ops. */
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "fused_internal.h"
#include "cgrad/nn.h"

struct activation {
    struct cg_module base;
    double lambda; /* shrink threshold; unused by the others */
};

static struct cg_tensor *relu_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    (void)m;
    return cg_relu(t, x);
}

static struct cg_tensor *hardshrink_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_hardshrink(t, x, ((struct activation *)m)->lambda);
}

static struct cg_tensor *softshrink_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    return cg_softshrink(t, x, ((struct activation *)m)->lambda);
}

static struct cg_tensor *tanhshrink_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    (void)m;
    return cg_tanhshrink(t, x);
}

static struct cg_tensor *sigmoid_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    (void)m;
    return cg_sigmoid(t, x);
}

static struct cg_tensor *tanh_fwd(struct cg_module *m, struct cg_tape *t, struct cg_tensor *x)
{
    (void)m;
    return cg_tanh(t, x);
}

static void activation_free(struct cg_module *m) { cg_free(m); }

static void shrink_describe(const struct cg_module *m, char *buf, size_t size)
{
    snprintf(buf, size, "lambda=%g", ((const struct activation *)m)->lambda);
}

#define CG_ACTIVATION_VTABLE(var, type, fwd, desc) \
    static const struct cg_module_vtable var = {   \
        .type_name = type, .forward = fwd, .free = activation_free, .describe = desc};
CG_ACTIVATION_VTABLE(relu_vt, "ReLU", relu_fwd, NULL)
CG_ACTIVATION_VTABLE(hardshrink_vt, "Hardshrink", hardshrink_fwd, shrink_describe)
CG_ACTIVATION_VTABLE(softshrink_vt, "Softshrink", softshrink_fwd, shrink_describe)
CG_ACTIVATION_VTABLE(tanhshrink_vt, "Tanhshrink", tanhshrink_fwd, NULL)
CG_ACTIVATION_VTABLE(sigmoid_vt, "Sigmoid", sigmoid_fwd, NULL)
CG_ACTIVATION_VTABLE(tanh_vt, "Tanh", tanh_fwd, NULL)
#undef CG_ACTIVATION_VTABLE

static struct cg_module *new_activation(const struct cg_module_vtable *vt, double lambda)
{
    struct activation *a = cg_calloc(1, sizeof *a, vt->type_name);
    if (!a) return NULL;
    cg_module_init(&a->base, vt);
    a->lambda = lambda;
    return &a->base;
}

static struct cg_module *new_shrink(const struct cg_module_vtable *vt, double lambda,
                                    const char *fn)
{
    if (!(lambda >= 0)) { /* also rejects NaN */
        cg_misuse(fn, "lambda = %g: must be >= 0 (default "
                  "CG_SHRINK_DEFAULT_LAMBDA = 0.5)", lambda);
        return NULL;
    }
    return new_activation(vt, lambda);
}

struct cg_module *cg_relu_new(void) { return new_activation(&relu_vt, 0); }
bool cg_nn_is_relu(const struct cg_module *m) { return m && m->vtable == &relu_vt; }
struct cg_module *cg_tanhshrink_new(void) { return new_activation(&tanhshrink_vt, 0); }
struct cg_module *cg_sigmoid_new(void) { return new_activation(&sigmoid_vt, 0); }
struct cg_module *cg_tanh_new(void) { return new_activation(&tanh_vt, 0); }

struct cg_module *cg_hardshrink_new(double lambda)
{
    return new_shrink(&hardshrink_vt, lambda, "cg_hardshrink_new");
}

struct cg_module *cg_softshrink_new(double lambda)
{
    return new_shrink(&softshrink_vt, lambda, "cg_softshrink_new");
}

double cg_shrink_lambda(const struct cg_module *m)
{
    if (m && (m->vtable == &hardshrink_vt || m->vtable == &softshrink_vt))
        return ((const struct activation *)m)->lambda;
    cg_misuse("cg_shrink_lambda", "module is %s%s, not a Hardshrink or Softshrink",
              m ? "a " : "NULL", cg_module_type(m));
    return NAN;
}
