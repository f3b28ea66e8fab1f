/* Conv2d and Conv1d layers around cg_conv2d / cg_conv1d. */
#include <inttypes.h>
#include <math.h>

#include "alloc.h"
#include "error_internal.h"
#include "fused_internal.h"
#include "cgrad/conv.h"

struct conv_layer {
    struct cg_module base;
    int dims; /* 1 or 2 spatial dims */
    struct cg_conv2d_params p;
    struct cg_tensor *weight, *bias;
};

static bool dtype_ok(const struct cg_module *self, const struct cg_tensor *x)
{
    const struct conv_layer *l = (const struct conv_layer *)self;
    if (x->dtype == l->weight->dtype) return true;
    cg_misuse(cg_module_type(self), "%s is %s but the input is %s (hint: "
              "cg_module_to_dtype(model, ...) or cg_tensor_to(tape, x, ...))",
              cg_module_type(self), cg_dtype_name(l->weight->dtype), cg_dtype_name(x->dtype));
    return false;
}

static struct cg_tensor *conv_forward(struct cg_module *self, struct cg_tape *tape,
                                      struct cg_tensor *x)
{
    struct conv_layer *l = (struct conv_layer *)self;
    if (!dtype_ok(self, x)) return NULL;
    if (l->dims == 1)
        return cg_conv1d(tape, x, l->weight, l->bias, l->p.stride[1], l->p.padding[1],
                         l->p.dilation[1], l->p.groups);
    return cg_conv2d(tape, x, l->weight, l->bias, &l->p);
}

static void conv_visit_params(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                              void *user)
{
    struct conv_layer *l = (struct conv_layer *)self;
    cg_module_visit_param(prefix, "weight", l->weight, visit, user);
    if (l->bias) cg_module_visit_param(prefix, "bias", l->bias, visit, user);
}

static void conv_free(struct cg_module *self)
{
    struct conv_layer *l = (struct conv_layer *)self;
    cg_tensor_free(l->weight);
    cg_tensor_free(l->bias);
    cg_free(l);
}

static const struct cg_module_vtable conv2d_vtable = {
    .type_name = "Conv2d",
    .forward = conv_forward,
    .visit_params = conv_visit_params,
    .free = conv_free,
};

static const struct cg_module_vtable conv1d_vtable;

bool cg_nn_fuses_conv_relu(const struct cg_module *conv, const struct cg_module *next)
{
    return conv && next && conv->vtable == &conv2d_vtable && cg_nn_is_relu(next);
}

struct cg_tensor *cg_nn_conv2d_relu_forward(struct cg_module *conv, struct cg_tape *tape,
                                            struct cg_tensor *x)
{
    struct conv_layer *l = (struct conv_layer *)conv;
    if (!x) return cg_module_forward(conv, tape, x); /* its message */
    if (!dtype_ok(conv, x)) return NULL;
    return cg_conv2d_relu(tape, x, l->weight, l->bias, &l->p);
}

/* The conv's output size along one dim, or < 1 when the window does not fit. */
static int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
    int64_t span = d * (k - 1) + 1;
    return in + 2 * p < span ? 0 : (in + 2 * p - span) / s + 1;
}

struct cg_tensor *cg_nn_conv2d_relu_pool_forward(struct cg_module *conv, struct cg_module *relu,
                                                 struct cg_module *pool, struct cg_tape *tape,
                                                 struct cg_tensor *x)
{
    struct conv_layer *l = (struct conv_layer *)conv;
    if (x && x->ndim == 4 && l->weight->ndim == 4 &&
        conv_out(x->shape[2], l->weight->shape[2], l->p.stride[0], l->p.padding[0],
                 l->p.dilation[0]) >= 2 &&
        conv_out(x->shape[3], l->weight->shape[3], l->p.stride[1], l->p.padding[1],
                 l->p.dilation[1]) >= 2) {
        if (!dtype_ok(conv, x)) return NULL;
        return cg_conv2d_relu_max_pool2d(tape, x, l->weight, l->bias, &l->p);
    }
    return cg_module_forward(pool, tape, cg_module_forward(relu, tape,
                                                           cg_module_forward(conv, tape, x)));
}

static const struct cg_module_vtable conv1d_vtable = {
    .type_name = "Conv1d",
    .forward = conv_forward,
    .visit_params = conv_visit_params,
    .free = conv_free,
};

static struct cg_module *conv_new(const char *fn, int dims, int64_t in, int64_t out, int64_t kh,
                                  int64_t kw, struct cg_conv2d_params p, bool bias,
                                  struct cg_rng *rng)
{
    int64_t g = p.groups;
    bool params_ok = true;
    for (int i = 0; i < 2; i++)
        params_ok = params_ok && p.stride[i] >= 1 && p.padding[i] >= 0 && p.dilation[i] >= 1;
    if (in < 1 || out < 1 || kh < 1 || kw < 1 || !rng || g < 1 || in % g || out % g ||
        !params_ok) {
        cg_misuse(fn, "in_channels %" PRId64 ", out_channels %" PRId64 ", kernel %" PRId64
                  "x%" PRId64 ", stride %" PRId64 "x%" PRId64 ", padding %" PRId64 "x%" PRId64
                  ", dilation %" PRId64 "x%" PRId64 ", groups %" PRId64 ", rng %s: need sizes "
                  ">= 1, in and out channels divisible by groups >= 1, stride and dilation >= "
                  "1, padding >= 0 and an rng", in, out, kh, kw, p.stride[0], p.stride[1],
                  p.padding[0], p.padding[1], p.dilation[0], p.dilation[1], g,
                  rng ? "set" : "NULL");
        return NULL;
    }
    struct conv_layer *l = cg_calloc(1, sizeof *l, fn);
    if (!l) return NULL;
    cg_module_init(&l->base, dims == 2 ? &conv2d_vtable : &conv1d_vtable);
    l->dims = dims;
    l->p = p;
    /* PyTorch: kaiming_uniform(a = sqrt 5) gives bound 1/sqrt(fan_in); the
     * bias uses the same bound. */
    double bound = 1.0 / sqrt((double)(in / g * kh * kw));
    l->weight = dims == 2 ? cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(out, in / g, kh, kw), -bound,
                                              bound, rng)
                          : cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(out, in / g, kw), -bound,
                                              bound, rng);
    if (!l->weight || cg_module_init_param(l->weight, "weight") != CG_OK) goto fail;
    if (bias) {
        l->bias = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(out), -bound, bound, rng);
        if (!l->bias || cg_module_init_param(l->bias, "bias") != CG_OK) goto fail;
    }
    return &l->base;
fail:
    conv_free(&l->base);
    return NULL;
}

struct cg_module *cg_conv2d_new(int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                                int64_t kernel_w, const struct cg_conv2d_params *p, bool bias,
                                struct cg_rng *rng)
{
    return conv_new("cg_conv2d_new", 2, in_channels, out_channels, kernel_h, kernel_w,
                    p ? *p : CG_CONV2D_PARAMS(1, 0, 1, 1), bias, rng);
}

struct cg_module *cg_conv1d_new(int64_t in_channels, int64_t out_channels, int64_t kernel,
                                int64_t stride, int64_t padding, int64_t dilation,
                                int64_t groups, bool bias, struct cg_rng *rng)
{
    struct cg_conv2d_params p = {{1, stride}, {0, padding}, {1, dilation}, groups};
    return conv_new("cg_conv1d_new", 1, in_channels, out_channels, 1, kernel, p, bias, rng);
}
