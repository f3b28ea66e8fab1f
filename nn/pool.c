/* Pooling layers (no parameters) around the ops in core/ops_pool.c. */
#include <inttypes.h>

#include "alloc.h"
#include "error_internal.h"
#include "fused_internal.h"
#include "cgrad/conv.h"

struct pool_layer {
    struct cg_module base;
    int64_t kernel, stride, padding, dilation; /* adaptive: kernel x stride is the output */
    bool count_include_pad;
};

static struct cg_tensor *max_forward(struct cg_module *self, struct cg_tape *tape,
                                     struct cg_tensor *x)
{
    struct pool_layer *l = (struct pool_layer *)self;
    return cg_max_pool2d(tape, x, l->kernel, l->kernel, l->stride, l->stride, l->padding,
                         l->padding, l->dilation, l->dilation);
}

static struct cg_tensor *avg_forward(struct cg_module *self, struct cg_tape *tape,
                                     struct cg_tensor *x)
{
    struct pool_layer *l = (struct pool_layer *)self;
    return cg_avg_pool2d(tape, x, l->kernel, l->kernel, l->stride, l->stride, l->padding,
                         l->padding, l->count_include_pad);
}

static struct cg_tensor *adaptive_forward(struct cg_module *self, struct cg_tape *tape,
                                          struct cg_tensor *x)
{
    struct pool_layer *l = (struct pool_layer *)self;
    return cg_adaptive_avg_pool2d(tape, x, l->kernel, l->stride);
}

static void pool_free(struct cg_module *self) { cg_free(self); }

static const struct cg_module_vtable max_vtable = {
    .type_name = "MaxPool2d", .forward = max_forward, .free = pool_free};
static const struct cg_module_vtable avg_vtable = {
    .type_name = "AvgPool2d", .forward = avg_forward, .free = pool_free};
static const struct cg_module_vtable adaptive_vtable = {
    .type_name = "AdaptiveAvgPool2d", .forward = adaptive_forward, .free = pool_free};

bool cg_nn_is_max_pool2(const struct cg_module *m)
{
    const struct pool_layer *l = (const struct pool_layer *)m;
    return m && m->vtable == &max_vtable && l->kernel == 2 && l->stride == 2 &&
           l->padding == 0 && l->dilation == 1;
}

static struct cg_module *pool_new(const struct cg_module_vtable *vt, const char *fn,
                                  struct pool_layer init)
{
    if (init.kernel < 1 || init.stride < 0 || init.padding < 0 || init.dilation < 1 ||
        2 * init.padding > init.kernel) {
        cg_misuse(fn, "kernel %" PRId64 ", stride %" PRId64 ", padding %" PRId64 ", dilation %"
                  PRId64 ": need kernel >= 1, stride >= 0 (0: the kernel), 0 <= padding <= "
                  "kernel / 2, dilation >= 1", init.kernel, init.stride, init.padding,
                  init.dilation);
        return NULL;
    }
    struct pool_layer *l = cg_calloc(1, sizeof *l, fn);
    if (!l) return NULL;
    *l = init;
    if (l->stride == 0) l->stride = l->kernel;
    cg_module_init(&l->base, vt);
    return &l->base;
}

struct cg_module *cg_max_pool2d_new(int64_t kernel, int64_t stride, int64_t padding,
                                    int64_t dilation)
{
    return pool_new(&max_vtable, "cg_max_pool2d_new",
                    (struct pool_layer){.kernel = kernel, .stride = stride, .padding = padding,
                                        .dilation = dilation});
}

struct cg_module *cg_avg_pool2d_new(int64_t kernel, int64_t stride, int64_t padding,
                                    bool count_include_pad)
{
    return pool_new(&avg_vtable, "cg_avg_pool2d_new",
                    (struct pool_layer){.kernel = kernel, .stride = stride, .padding = padding,
                                        .dilation = 1, .count_include_pad = count_include_pad});
}

struct cg_module *cg_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w)
{
    if (out_h < 1 || out_w < 1) {
        cg_misuse("cg_adaptive_avg_pool2d_new", "output size %" PRId64 " x %" PRId64
                  ": need both >= 1", out_h, out_w);
        return NULL;
    }
    struct pool_layer *l = cg_calloc(1, sizeof *l, "cg_adaptive_avg_pool2d_new");
    if (!l) return NULL;
    l->kernel = out_h;
    l->stride = out_w;
    cg_module_init(&l->base, &adaptive_vtable);
    return &l->base;
}
