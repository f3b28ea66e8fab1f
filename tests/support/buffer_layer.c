/* See buffer_layer.h. */
#include <stdlib.h>

#include "buffer_layer.h"

struct buffer_layer {
    struct cg_module base;
    struct cg_tensor *scale, *running_mean, *num_batches;
};

static void update_running_mean(struct buffer_layer *l, const struct cg_tensor *x)
{
    int64_t rows = x->shape[0], cols = l->running_mean->numel;
    for (int64_t j = 0; j < cols; j++) {
        double mean = 0;
        for (int64_t i = 0; i < rows; i++) mean += cg_tensor_at(x, i * cols + j);
        mean /= (double)rows;
        double old = cg_tensor_at(l->running_mean, j);
        cg_tensor_set(l->running_mean, (int64_t[]){j}, 0.9 * old + 0.1 * mean);
    }
    cg_tensor_set(l->num_batches, (int64_t[]){0}, cg_tensor_at(l->num_batches, 0) + 1);
}

static struct cg_tensor *forward(struct cg_module *self, struct cg_tape *tape, struct cg_tensor *x)
{
    struct buffer_layer *l = (struct buffer_layer *)self;
    if (self->training) update_running_mean(l, x);
    return cg_mul(tape, cg_sub(tape, x, l->running_mean), l->scale);
}

static void visit_params(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                         void *user)
{
    cg_module_visit_param(prefix, "scale", ((struct buffer_layer *)self)->scale, visit, user);
}

static void visit_buffers(struct cg_module *self, const char *prefix, cg_param_visitor visit,
                          void *user)
{
    struct buffer_layer *l = (struct buffer_layer *)self;
    cg_module_visit_param(prefix, "running_mean", l->running_mean, visit, user);
    cg_module_visit_param(prefix, "num_batches", l->num_batches, visit, user);
}

static void layer_free(struct cg_module *self)
{
    struct buffer_layer *l = (struct buffer_layer *)self;
    cg_tensor_free(l->scale);
    cg_tensor_free(l->running_mean);
    cg_tensor_free(l->num_batches);
    free(l);
}

static const struct cg_module_vtable buffer_layer_vtable = {
    .type_name = "BufferLayer",
    .forward = forward,
    .visit_params = visit_params,
    .visit_buffers = visit_buffers,
    .free = layer_free,
};

struct cg_module *cg_test_buffer_layer_new(int64_t features)
{
    struct buffer_layer *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    cg_module_init(&l->base, &buffer_layer_vtable);
    l->scale = cg_tensor_full(NULL, CG_F32, CG_SHAPE(features), 1.5);
    l->running_mean = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(features));
    l->num_batches = cg_tensor_zeros(NULL, CG_F32, CG_SHAPE(1));
    if (!l->scale || !l->running_mean || !l->num_batches ||
        cg_module_init_param(l->scale, "scale") != CG_OK ||
        cg_module_init_buffer(l->running_mean, "running_mean") != CG_OK ||
        cg_module_init_buffer(l->num_batches, "num_batches") != CG_OK) {
        layer_free(&l->base);
        return NULL;
    }
    return &l->base;
}
