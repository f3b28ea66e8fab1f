/* BatchNorm2d: cg_batch_norm2d with its parameters and running statistics. */
#include <inttypes.h>
#include <math.h>

#include "alloc.h"
#include "error_internal.h"
#include "cgrad/conv.h"

struct batchnorm {
    struct cg_module base;
    int64_t features;
    double eps, momentum;
    struct cg_tensor *weight, *bias, *running_mean, *running_var, *num_batches_tracked;
};

static struct cg_tensor *bn_forward(struct cg_module *self, struct cg_tape *tape,
                                    struct cg_tensor *x)
{
    struct batchnorm *b = (struct batchnorm *)self;
    if (x->ndim != 4 || x->shape[1] != b->features) {
        char s[128];
        cg_misuse("BatchNorm2d", "BatchNorm2d(%" PRId64 ") got input %s; expected [N,%" PRId64
                  ",H,W]", b->features, cg_tensor_shape_str(x, s, sizeof s), b->features);
        return NULL;
    }
    struct cg_tensor *y = cg_batch_norm2d(tape, x, b->weight, b->bias, b->running_mean,
                                          b->running_var, self->training, b->momentum, b->eps);
    if (y && self->training)
        cg_tensor_set_at(b->num_batches_tracked, 0, cg_tensor_at(b->num_batches_tracked, 0) + 1);
    return y;
}

static void bn_visit_params(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                            void *user)
{
    struct batchnorm *b = (struct batchnorm *)self;
    cg_module_visit_param(prefix, "weight", b->weight, visit, user);
    cg_module_visit_param(prefix, "bias", b->bias, visit, user);
}

static void bn_visit_buffers(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                             void *user)
{
    struct batchnorm *b = (struct batchnorm *)self;
    cg_module_visit_param(prefix, "running_mean", b->running_mean, visit, user);
    cg_module_visit_param(prefix, "running_var", b->running_var, visit, user);
    cg_module_visit_param(prefix, "num_batches_tracked", b->num_batches_tracked, visit, user);
}

static void bn_free(struct cg_module *self)
{
    struct batchnorm *b = (struct batchnorm *)self;
    cg_tensor_free(b->weight);
    cg_tensor_free(b->bias);
    cg_tensor_free(b->running_mean);
    cg_tensor_free(b->running_var);
    cg_tensor_free(b->num_batches_tracked);
    cg_free(b);
}

static const struct cg_module_vtable batchnorm2d_vtable = {
    .type_name = "BatchNorm2d",
    .forward = bn_forward,
    .visit_params = bn_visit_params,
    .visit_buffers = bn_visit_buffers,
    .free = bn_free,
};

struct cg_module *cg_batch_norm2d_new(int64_t num_features, double eps, double momentum)
{
    if (num_features < 1 || !(eps > 0) || !isfinite(eps) || !(momentum >= 0 && momentum <= 1)) {
        cg_misuse("cg_batch_norm2d_new", "num_features %" PRId64 ", eps %g, momentum %g: need "
                  "num_features >= 1, eps > 0, momentum in [0, 1] (PyTorch: eps 1e-5, momentum "
                  "0.1)", num_features, eps, momentum);
        return NULL;
    }
    struct batchnorm *b = cg_calloc(1, sizeof *b, "BatchNorm2d");
    if (!b) return NULL;
    cg_module_init(&b->base, &batchnorm2d_vtable);
    b->features = num_features;
    b->eps = eps;
    b->momentum = momentum;
    b->weight = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(num_features));
    b->bias = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(num_features));
    b->running_mean = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(num_features));
    b->running_var = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(num_features));
    b->num_batches_tracked = cg_tensor_zeros(NULL, CG_F32, 0, NULL);
    if (!b->weight || !b->bias || !b->running_mean || !b->running_var ||
        !b->num_batches_tracked || cg_module_init_param(b->weight, "weight") != CG_OK ||
        cg_module_init_param(b->bias, "bias") != CG_OK ||
        cg_module_init_buffer(b->running_mean, "running_mean") != CG_OK ||
        cg_module_init_buffer(b->running_var, "running_var") != CG_OK ||
        cg_module_init_buffer(b->num_batches_tracked, "num_batches_tracked") != CG_OK) {
        bn_free(&b->base);
        return NULL;
    }
    return &b->base;
}
