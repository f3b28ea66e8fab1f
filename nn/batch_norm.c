/* BatchNorm1d over [N, C] or [N, C, L]: batch statistics in training (and
 * without running statistics), running statistics in eval mode.  The
 * running mean, the running (unbiased) variance and the batch counter are
 * module buffers with PyTorch's names, so checkpoints carry them. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "cgrad/nn.h"

struct batch_norm {
    struct cg_module base;
    int64_t features;
    double eps, momentum;
    struct cg_tensor *weight, *bias;                               /* NULL without affine */
    struct cg_tensor *running_mean, *running_var, *num_batches;   /* NULL without tracking */
};

/* running = (1 - momentum) running + momentum batch (PyTorch's update); the
 * variance enters unbiased. */
static void update_running(struct cg_tensor *rm, struct cg_tensor *rv, double m,
                           const struct cg_tensor *mean, const struct cg_tensor *var, int64_t n)
{
    double unbias = (double)n / (double)(n - 1);
    for (int64_t c = 0; c < rm->numel; c++) {
        cg_tensor_set_at(rm, c, (1 - m) * cg_tensor_at(rm, c) + m * cg_tensor_at(mean, c));
        cg_tensor_set_at(rv, c, (1 - m) * cg_tensor_at(rv, c) + m * cg_tensor_at(var, c) * unbias);
    }
}

static bool stat_ok(const struct cg_tensor *t, int64_t c)
{
    return !t || (t->numel == c && !t->tape);
}

struct cg_tensor *cg_batch_norm(struct cg_tape *tape, struct cg_tensor *x,
                                struct cg_tensor *running_mean, struct cg_tensor *running_var,
                                struct cg_tensor *weight, struct cg_tensor *bias, bool training,
                                double momentum, double eps)
{
    CG_CHECK_NOT_NULL("batch_norm", x, "input");
    char s[128];
    int64_t c = x->ndim >= 2 ? x->shape[1] : 0;
    if ((x->ndim != 2 && x->ndim != 3) || c < 1 || !stat_ok(running_mean, c) ||
        !stat_ok(running_var, c) || (!running_mean) != (!running_var) || (!weight) != (!bias)) {
        cg_misuse("batch_norm", "input %s: need [N, C] or [N, C, L] with C >= 1, persistent "
                  "running_mean and running_var of C elements (both or neither), and weight "
                  "and bias both or neither", cg_tensor_shape_str(x, s, sizeof s));
        return NULL;
    }
    if (!(eps >= 0) || isinf(eps) || !(momentum >= 0 && momentum <= 1)) {
        cg_misuse("batch_norm", "eps %g, momentum %g: need a finite eps >= 0 and 0 <= momentum "
                  "<= 1", eps, momentum);
        return NULL;
    }
    /* channels last: [M, C] rows */
    struct cg_tensor *rows = x;
    if (x->ndim == 3)
        rows = cg_reshape(tape, cg_permute(tape, x, (const int[]){0, 2, 1}), 2,
                          (const int64_t[]){-1, c});
    if (!rows) return NULL;
    int64_t n = rows->shape[0];
    struct cg_tensor *y;
    if (training || !running_mean) {
        if (training && n < 2) {
            cg_misuse("batch_norm", "input %s has %" PRId64 " value per channel: training needs "
                      "more than 1 (as PyTorch; hint: a bigger batch, or eval mode)",
                      cg_tensor_shape_str(x, s, sizeof s), n);
            return NULL;
        }
        struct cg_tensor *mean = cg_mean_dim(tape, rows, 0, true);
        struct cg_tensor *var = cg_var_dim(tape, rows, 0, false, true);
        if (!mean || !var) return NULL;
        if (training && running_mean) update_running(running_mean, running_var, momentum, mean, var, n);
        y = cg_div(tape, cg_sub(tape, rows, mean), cg_sqrt(tape, cg_add_scalar(tape, var, eps)));
    } else {
        y = cg_div(tape, cg_sub(tape, rows, running_mean),
                   cg_sqrt(tape, cg_add_scalar(tape, running_var, eps)));
    }
    if (weight) y = cg_add(tape, cg_mul(tape, y, weight), bias);
    if (x->ndim == 3 && y)
        y = cg_permute(tape, cg_reshape(tape, y, 3, (const int64_t[]){x->shape[0], x->shape[2], c}),
                       (const int[]){0, 2, 1});
    return y;
}

static struct cg_tensor *batch_norm_forward(struct cg_module *self, struct cg_tape *tape,
                                            struct cg_tensor *x)
{
    struct batch_norm *b = (struct batch_norm *)self;
    if ((x->ndim != 2 && x->ndim != 3) || x->shape[1] != b->features) {
        char s[128];
        cg_misuse("BatchNorm1d", "BatchNorm1d(%" PRId64 ") got input %s; expected [N, %" PRId64
                  "] or [N, %" PRId64 ", L]", b->features, cg_tensor_shape_str(x, s, sizeof s),
                  b->features, b->features);
        return NULL;
    }
    struct cg_tensor *y = cg_batch_norm(tape, x, b->running_mean, b->running_var, b->weight,
                                        b->bias, self->training, b->momentum, b->eps);
    if (y && self->training && b->num_batches)
        cg_tensor_set_at(b->num_batches, 0, cg_tensor_at(b->num_batches, 0) + 1);
    return y;
}

static void batch_norm_visit_params(struct cg_module *self, const char *prefix,
                                    cg_param_visitor visit, void *user)
{
    struct batch_norm *b = (struct batch_norm *)self;
    if (!b->weight) return;
    cg_module_visit_param(prefix, "weight", b->weight, visit, user);
    cg_module_visit_param(prefix, "bias", b->bias, visit, user);
}

static void batch_norm_visit_buffers(struct cg_module *self, const char *prefix,
                                     cg_param_visitor visit, void *user)
{
    struct batch_norm *b = (struct batch_norm *)self;
    if (!b->running_mean) return;
    cg_module_visit_param(prefix, "running_mean", b->running_mean, visit, user);
    cg_module_visit_param(prefix, "running_var", b->running_var, visit, user);
    cg_module_visit_param(prefix, "num_batches_tracked", b->num_batches, visit, user);
}

static void batch_norm_describe(const struct cg_module *self, char *buf, size_t size)
{
    const struct batch_norm *b = (const struct batch_norm *)self;
    snprintf(buf, size, "%" PRId64 ", eps=%g, momentum=%g, affine=%s, track_running_stats=%s",
             b->features, b->eps, b->momentum, b->weight ? "true" : "false",
             b->running_mean ? "true" : "false");
}

static void batch_norm_free(struct cg_module *self)
{
    struct batch_norm *b = (struct batch_norm *)self;
    cg_tensor_free(b->weight);
    cg_tensor_free(b->bias);
    cg_tensor_free(b->running_mean);
    cg_tensor_free(b->running_var);
    cg_tensor_free(b->num_batches);
    cg_free(b);
}

static const struct cg_module_vtable batch_norm_vtable = {
    .type_name = "BatchNorm1d",
    .forward = batch_norm_forward,
    .visit_params = batch_norm_visit_params,
    .visit_buffers = batch_norm_visit_buffers,
    .free = batch_norm_free,
    .describe = batch_norm_describe,
};

struct cg_module *cg_batch_norm1d_new(int64_t num_features, double eps, double momentum,
                                      bool affine, bool track_running_stats)
{
    const char *fn = "cg_batch_norm1d_new";
    if (num_features < 1 || !(eps >= 0) || isinf(eps) || !(momentum >= 0 && momentum <= 1)) {
        cg_misuse(fn, "num_features %" PRId64 ", eps %g, momentum %g: need num_features >= 1, a "
                  "finite eps >= 0 and 0 <= momentum <= 1 (PyTorch's defaults: eps 1e-5, "
                  "momentum 0.1)", num_features, eps, momentum);
        return NULL;
    }
    struct batch_norm *b = cg_calloc(1, sizeof *b, "BatchNorm1d");
    if (!b) return NULL;
    cg_module_init(&b->base, &batch_norm_vtable);
    b->features = num_features;
    b->eps = eps;
    b->momentum = momentum;
    bool ok = true;
    if (affine) {
        b->weight = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(num_features));
        b->bias = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(num_features));
        ok = b->weight && b->bias && cg_module_init_param(b->weight, "weight") == CG_OK &&
             cg_module_init_param(b->bias, "bias") == CG_OK;
    }
    if (ok && track_running_stats) {
        b->running_mean = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(num_features));
        b->running_var = cg_tensor_ones(NULL, CG_F32, CG_SHAPE(num_features));
        b->num_batches = cg_tensor_zeros(NULL, CG_F32, 0, NULL);
        ok = b->running_mean && b->running_var && b->num_batches &&
             cg_module_init_buffer(b->running_mean, "running_mean") == CG_OK &&
             cg_module_init_buffer(b->running_var, "running_var") == CG_OK &&
             cg_module_init_buffer(b->num_batches, "num_batches_tracked") == CG_OK;
    }
    if (!ok) {
        batch_norm_free(&b->base);
        return NULL;
    }
    return &b->base;
}
