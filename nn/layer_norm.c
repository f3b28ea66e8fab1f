/* LayerNorm over the trailing dims given by normalized_shape, built from
 * the differentiable ops (mean, biased var, broadcasting), so its gradient
 * is the ops' gradient. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "error_internal.h"
#include "cgrad/nn.h"

struct layer_norm {
    struct cg_module base;
    int ndim;
    int64_t shape[CG_MAX_DIMS], count; /* normalized shape and its element count */
    double eps;
    struct cg_tensor *weight, *bias; /* NULL without elementwise_affine */
};

struct cg_tensor *cg_layer_norm(struct cg_tape *tape, struct cg_tensor *x, int ndim,
                                struct cg_tensor *weight, struct cg_tensor *bias, double eps)
{
    CG_CHECK_NOT_NULL("layer_norm", x, "input");
    char s[128];
    if (ndim < 1 || ndim > x->ndim || !(eps >= 0) || isinf(eps) || (!weight) != (!bias)) {
        cg_misuse("layer_norm", "input %s, %d normalized dims, eps %g, weight %s, bias %s: need "
                  "1..ndim(input) dims, a finite eps >= 0, and weight and bias both or neither",
                  cg_tensor_shape_str(x, s, sizeof s), ndim, eps, weight ? "given" : "NULL",
                  bias ? "given" : "NULL");
        return NULL;
    }
    int64_t count = 1;
    for (int i = x->ndim - ndim; i < x->ndim; i++) count *= x->shape[i];
    struct cg_tensor *rows = cg_reshape(tape, x, 2, (const int64_t[]){-1, count});
    struct cg_tensor *mean = cg_mean_dim(tape, rows, 1, true);
    struct cg_tensor *var = cg_var_dim(tape, rows, 1, false, true);
    struct cg_tensor *y = cg_div(tape, cg_sub(tape, rows, mean),
                                 cg_sqrt(tape, cg_add_scalar(tape, var, eps)));
    y = cg_reshape(tape, y, x->ndim, x->shape);
    if (weight) y = cg_add(tape, cg_mul(tape, y, weight), bias);
    return y;
}

static struct cg_tensor *layer_norm_forward(struct cg_module *self, struct cg_tape *tape,
                                            struct cg_tensor *x)
{
    struct layer_norm *l = (struct layer_norm *)self;
    bool fits = x->ndim >= l->ndim;
    for (int i = 0; fits && i < l->ndim; i++)
        fits = x->shape[x->ndim - l->ndim + i] == l->shape[i];
    if (!fits) {
        char s[128];
        cg_misuse("LayerNorm", "input %s does not end in the normalized shape (%d trailing dims, "
                  "%" PRId64 " elements; hint: check normalized_shape)",
                  cg_tensor_shape_str(x, s, sizeof s), l->ndim, l->count);
        return NULL;
    }
    return cg_layer_norm(tape, x, l->ndim, l->weight, l->bias, l->eps);
}

static void layer_norm_visit_params(struct cg_module *self, const char *prefix,
                                    cg_param_visitor visit, void *user)
{
    struct layer_norm *l = (struct layer_norm *)self;
    if (!l->weight) return;
    cg_module_visit_param(prefix, "weight", l->weight, visit, user);
    cg_module_visit_param(prefix, "bias", l->bias, visit, user);
}

static void layer_norm_describe(const struct cg_module *self, char *buf, size_t size)
{
    const struct layer_norm *l = (const struct layer_norm *)self;
    char sh[128];
    size_t at = 0;
    sh[0] = '\0';
    for (int i = 0; i < l->ndim && at < sizeof sh; i++) {
        int n = snprintf(sh + at, sizeof sh - at, "%s%" PRId64, i ? ", " : "", l->shape[i]);
        if (n < 0) break;
        at += (size_t)n;
    }
    snprintf(buf, size, "(%s), eps=%g, elementwise_affine=%s", sh, l->eps,
             l->weight ? "true" : "false");
}

static void layer_norm_free(struct cg_module *self)
{
    struct layer_norm *l = (struct layer_norm *)self;
    cg_tensor_free(l->weight);
    cg_tensor_free(l->bias);
    cg_free(l);
}

static const struct cg_module_vtable layer_norm_vtable = {
    .type_name = "LayerNorm",
    .forward = layer_norm_forward,
    .visit_params = layer_norm_visit_params,
    .free = layer_norm_free,
    .describe = layer_norm_describe,
};

struct cg_module *cg_layer_norm_new(int ndim, const int64_t *normalized_shape, double eps,
                                    bool elementwise_affine)
{
    const char *fn = "cg_layer_norm_new";
    if (ndim < 1 || ndim > CG_MAX_DIMS || !normalized_shape) {
        cg_misuse(fn, "normalized_shape has %d dims%s: need 1..%d", ndim,
                  normalized_shape ? "" : " (NULL)", CG_MAX_DIMS);
        return NULL;
    }
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (normalized_shape[i] < 1) {
            cg_misuse(fn, "normalized_shape[%d] = %" PRId64 ": sizes must be >= 1", i,
                      normalized_shape[i]);
            return NULL;
        }
        count *= normalized_shape[i];
    }
    if (!(eps >= 0) || isinf(eps)) {
        cg_misuse(fn, "eps = %g: must be finite and >= 0 (PyTorch's default: 1e-5)", eps);
        return NULL;
    }
    struct layer_norm *l = cg_calloc(1, sizeof *l, "LayerNorm");
    if (!l) return NULL;
    cg_module_init(&l->base, &layer_norm_vtable);
    l->ndim = ndim;
    memcpy(l->shape, normalized_shape, (size_t)ndim * sizeof *l->shape);
    l->count = count;
    l->eps = eps;
    if (elementwise_affine) {
        l->weight = cg_tensor_ones(NULL, CG_F32, ndim, normalized_shape);
        l->bias = cg_tensor_zeros(NULL, CG_F32, ndim, normalized_shape);
        if (!l->weight || !l->bias || cg_module_init_param(l->weight, "weight") != CG_OK ||
            cg_module_init_param(l->bias, "bias") != CG_OK) {
            layer_norm_free(&l->base);
            return NULL;
        }
    }
    return &l->base;
}
