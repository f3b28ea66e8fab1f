/* Linear layer: y = x W^T + b through the fused cg_linear op. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "cgrad/nn.h"

struct linear {
    struct cg_module base;
    int64_t in, out;
    struct cg_tensor *weight, *bias;
};

static struct cg_tensor *linear_forward(struct cg_module *self, struct cg_tape *tape,
                                        struct cg_tensor *x)
{
    struct linear *l = (struct linear *)self;
    /* Checked here so the message names the layer, not just the op. */
    if (x->ndim != 2 || x->shape[1] != l->in) {
        char s[128];
        cg_misuse("Linear", "Linear(%" PRId64 " -> %" PRId64 ") got input %s; expected [N,%" PRId64
                  "] (hint: check the previous layer's output size, or reshape the input)",
                  l->in, l->out, cg_tensor_shape_str(x, s, sizeof s), l->in);
        return NULL;
    }
    if (x->dtype != l->weight->dtype) {
        cg_misuse("Linear", "Linear(%" PRId64 " -> %" PRId64 ") is %s but the input is %s "
                  "(hint: cg_module_to_dtype(model, ...) or cg_tensor_to(tape, x, ...))",
                  l->in, l->out, cg_dtype_name(l->weight->dtype), cg_dtype_name(x->dtype));
        return NULL;
    }
    return cg_linear(tape, x, l->weight, l->bias);
}

static void linear_visit_params(struct cg_module *self, const char *prefix,
                                cg_param_visitor visit, void *user)
{
    struct linear *l = (struct linear *)self;
    cg_module_visit_param(prefix, "weight", l->weight, visit, user);
    if (l->bias) cg_module_visit_param(prefix, "bias", l->bias, visit, user);
}

static void linear_free(struct cg_module *self)
{
    struct linear *l = (struct linear *)self;
    cg_tensor_free(l->weight);
    cg_tensor_free(l->bias);
    cg_free(l);
}

static void linear_describe(const struct cg_module *self, char *buf, size_t size)
{
    const struct linear *l = (const struct linear *)self;
    snprintf(buf, size, "in=%" PRId64 ", out=%" PRId64 ", bias=%s", l->in, l->out,
             l->bias ? "true" : "false");
}

static const struct cg_module_vtable linear_vtable = {
    .type_name = "Linear",
    .forward = linear_forward,
    .visit_params = linear_visit_params,
    .free = linear_free,
    .describe = linear_describe,
};

struct cg_module *cg_linear_new_dtype(int64_t in, int64_t out, bool bias, enum cg_dtype dtype,
                                      struct cg_rng *rng)
{
    if (in < 1 || out < 1 || !rng || (dtype != CG_F32 && dtype != CG_F64)) {
        cg_misuse("cg_linear_new", "in = %" PRId64 ", out = %" PRId64 ", rng %s, dtype %d: need "
                  "in >= 1, out >= 1, an rng (struct cg_rng rng = cg_rng_seed(0); pass &rng) "
                  "and CG_F32 or CG_F64", in, out, rng ? "set" : "NULL", (int)dtype);
        return NULL;
    }
    struct linear *l = cg_calloc(1, sizeof *l, "Linear");
    if (!l) return NULL;
    cg_module_init(&l->base, &linear_vtable);
    l->in = in;
    l->out = out;
    double bound = 1.0 / sqrt((double)in); /* PyTorch: kaiming_uniform(a=sqrt(5)) == this */
    l->weight = cg_tensor_uniform(NULL, dtype, CG_SHAPE(out, in), -bound, bound, rng);
    if (!l->weight || cg_module_init_param(l->weight, "weight") != CG_OK) goto fail;
    if (bias) {
        l->bias = cg_tensor_uniform(NULL, dtype, CG_SHAPE(out), -bound, bound, rng);
        if (!l->bias || cg_module_init_param(l->bias, "bias") != CG_OK) goto fail;
    }
    return &l->base;
fail:
    linear_free(&l->base);
    return NULL;
}

struct cg_module *cg_linear_new(int64_t in, int64_t out, bool bias, struct cg_rng *rng)
{
    return cg_linear_new_dtype(in, out, bias, CG_F32, rng);
}

static struct linear *as_linear(struct cg_module *m, const char *fn)
{
    if (m && m->vtable == &linear_vtable) return (struct linear *)m;
    cg_misuse(fn, "module is %s%s, not a Linear", m ? "a " : "NULL", cg_module_type(m));
    return NULL;
}

struct cg_tensor *cg_linear_weight(struct cg_module *m)
{
    struct linear *l = as_linear(m, "cg_linear_weight");
    return l ? l->weight : NULL;
}

struct cg_tensor *cg_linear_bias(struct cg_module *m)
{
    struct linear *l = as_linear(m, "cg_linear_bias");
    return l ? l->bias : NULL;
}
