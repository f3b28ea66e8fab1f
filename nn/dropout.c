/* Dropout: in training mode each element is kept with probability 1 - p and
 * scaled by 1 / (1 - p), zeroed otherwise; the identity in eval mode.  The
 * mask is drawn from the rng given at construction, so a seed fixes it. */
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "multiarch.h"
#include "cgrad/op.h"
#include "cgrad/nn.h"

static bool p_ok(const char *fn, double p)
{
    if (p >= 0 && p < 1) return true;
    cg_misuse(fn, "p = %g: the drop probability must lie in [0, 1) (p = 1 would drop "
              "everything; PyTorch's default is 0.5)", p);
    return false;
}

/* y = x * mask, one op (mask: 0 or 1 / (1 - p), no gradient); backward
 * writes dx = dy * mask, assigning a fresh gradient ((T)0 + v keeps the
 * bits of adding into zeros).  Same expressions as cg_mul, so the bits
 * are those of x * mask. */
#define CG_DROPOUT_KERNELS(T, S)                                                            \
    CG_MULTIARCH static void dropout_fwd_##S(T *restrict y, const T *restrict x,            \
                                             const T *restrict m, int64_t n)                \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] * m[i];                                 \
    }                                                                                       \
    CG_MULTIARCH static void dropout_bwd_##S(T *restrict dx, const T *restrict dy,          \
                                             const T *restrict m, int64_t n, bool set)      \
    {                                                                                       \
        if (set)                                                                            \
            for (int64_t i = 0; i < n; i++) dx[i] = (T)0 + dy[i] * m[i];                    \
        else                                                                                \
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * m[i];                          \
    }
CG_DROPOUT_KERNELS(float, f32)
CG_DROPOUT_KERNELS(double, f64)

static void dropout_op_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *m = r->in[1];
    if (x->dtype == CG_F64)
        dropout_fwd_f64(r->out->data, x->data, m->data, x->numel);
    else
        dropout_fwd_f32(r->out->data, x->data, m->data, x->numel);
}

static void dropout_op_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    bool set = cg_grad_assign(x);
    const void *dy = r->out->grad->data, *m = r->in[1]->data;
    if (x->dtype == CG_F64)
        dropout_bwd_f64(x->grad->data, dy, m, x->numel, set);
    else
        dropout_bwd_f32(x->grad->data, dy, m, x->numel, set);
}

static const struct cg_op dropout_op = {"dropout", dropout_op_forward, dropout_op_backward,
                                        CG_OP_ASSIGNS_GRAD};

/* Keep when a 32-bit draw is >= cut: one rng output per element, drawn in
 * chunks by cg_rng_fill_u32 (the same stream as one call per element).  The
 * comparison is done in 32 bits (it vectorizes); cut = 2^32 keeps none. */
enum { DRAW_CHUNK = 1024 };
#define CG_DROPOUT_MASK(T, S)                                                               \
    CG_MULTIARCH static void dropout_mask_##S(T *restrict m, const uint32_t *restrict draw, \
                                              int64_t n, uint32_t cut, T keep)              \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) m[i] = draw[i] >= cut ? keep : (T)0;                \
    }
CG_DROPOUT_MASK(float, f32)
CG_DROPOUT_MASK(double, f64)

static void fill_mask(struct cg_tensor *mask, double p, struct cg_rng *rng)
{
    uint64_t cut = (uint64_t)ceil(p * 4294967296.0);
    bool none = cut > UINT32_MAX; /* every draw is below 2^32: all dropped */
    double keep = none ? 0 : 1 / (1 - p);
    uint32_t c = none ? 0 : (uint32_t)cut, draw[DRAW_CHUNK];
    for (int64_t at = 0; at < mask->numel; at += DRAW_CHUNK) {
        int64_t len = mask->numel - at < DRAW_CHUNK ? mask->numel - at : DRAW_CHUNK;
        cg_rng_fill_u32(rng, draw, len);
        if (mask->dtype == CG_F64)
            dropout_mask_f64((double *)mask->data + at, draw, len, c, keep);
        else
            dropout_mask_f32((float *)mask->data + at, draw, len, c, (float)keep);
    }
}

struct cg_tensor *cg_dropout(struct cg_tape *tape, struct cg_tensor *x, double p, bool training,
                             struct cg_rng *rng)
{
    CG_CHECK_NOT_NULL("dropout", x, "input");
    if (!p_ok("dropout", p)) return NULL;
    if (!training || p == 0) return x;
    CG_CHECK_NOT_NULL("dropout", rng, "rng");
    if (!tape) {
        cg_misuse("dropout", "tape is NULL (hint: create one with cg_tape_new())");
        return NULL;
    }
    /* PyTorch's arithmetic: the mask holds 0 or 1 / (1 - p) in the input's
     * dtype, and y = x * mask (so the gradient is mask * gy). */
    struct cg_tensor *mask = cg_tensor_empty(tape, x->dtype, x->ndim, x->shape);
    if (!mask) return NULL;
    fill_mask(mask, p, rng);
    struct cg_tensor *in[2] = {x, mask};
    return cg_op_apply(tape, &dropout_op, 2, in, x->dtype, x->ndim, x->shape, NULL, 0);
}

struct dropout {
    struct cg_module base;
    double p;
    struct cg_rng *rng;
};

static struct cg_tensor *dropout_forward(struct cg_module *self, struct cg_tape *tape,
                                         struct cg_tensor *x)
{
    struct dropout *d = (struct dropout *)self;
    return cg_dropout(tape, x, d->p, self->training, d->rng);
}

static void dropout_describe(const struct cg_module *self, char *buf, size_t size)
{
    snprintf(buf, size, "p=%g", ((const struct dropout *)self)->p);
}

static void dropout_free(struct cg_module *self) { cg_free(self); }

static const struct cg_module_vtable dropout_vtable = {
    .type_name = "Dropout",
    .forward = dropout_forward,
    .free = dropout_free,
    .describe = dropout_describe,
};

struct cg_module *cg_dropout_new(double p, struct cg_rng *rng)
{
    if (!p_ok("cg_dropout_new", p)) return NULL;
    if (!rng) {
        cg_misuse("cg_dropout_new", "rng is NULL (hint: struct cg_rng rng = cg_rng_seed(0); pass "
                  "&rng, which must outlive the module)");
        return NULL;
    }
    struct dropout *d = cg_calloc(1, sizeof *d, "Dropout");
    if (!d) return NULL;
    cg_module_init(&d->base, &dropout_vtable);
    d->p = p;
    d->rng = rng;
    return &d->base;
}
