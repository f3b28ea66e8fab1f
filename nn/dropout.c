/* Dropout: in training mode each element is kept with probability 1 - p and
 * scaled by 1 / (1 - p), zeroed otherwise; the identity in eval mode.  The
 * mask is drawn from the rng given at construction, so a seed fixes it. */
#include <math.h>
#include <stdio.h>

#include "alloc.h"
#include "error_internal.h"
#include "cgrad/nn.h"

static bool p_ok(const char *fn, double p)
{
    if (p >= 0 && p < 1) return true;
    cg_misuse(fn, "p = %g: the drop probability must lie in [0, 1) (p = 1 would drop "
              "everything; PyTorch's default is 0.5)", p);
    return false;
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
    double keep = 1 / (1 - p);
    /* Keep when a 32-bit draw is >= p * 2^32: one rng output per element. */
    uint64_t cut = (uint64_t)ceil(p * 4294967296.0);
    if (x->dtype == CG_F64) {
        double *m = mask->data;
        for (int64_t i = 0; i < x->numel; i++) m[i] = (uint64_t)cg_rng_u32(rng) >= cut ? keep : 0.0;
    } else {
        float *m = mask->data, kf = (float)keep;
        for (int64_t i = 0; i < x->numel; i++) m[i] = (uint64_t)cg_rng_u32(rng) >= cut ? kf : 0.0f;
    }
    return cg_mul(tape, x, mask);
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
