/* Reverse-mode sweep over the tape's records. */
#include <inttypes.h>
#include <string.h>

#include "error_internal.h"
#include "tape_internal.h"

/* Makes sure t->grad exists: zeroed on the arena for tape tensors, on the heap
 * for persistent leaves (normally allocated by cg_tensor_requires_grad). */
static bool ensure_grad(struct cg_tape *tape, struct cg_tensor *t)
{
    if (t->grad) return true;
    struct cg_tensor *g = cg_tensor_alloc(t->tape ? tape : NULL, t->dtype, t->ndim, t->shape, true,
                                          "cg_backward");
    if (!g) return false;
    memset(g->data, 0, (size_t)g->numel * cg_dtype_size(g->dtype));
    t->grad = g;
    return true;
}

static void add_into(struct cg_tensor *dst, const struct cg_tensor *src)
{
    if (dst->dtype == CG_F64) {
        double *d = dst->data;
        const double *s = src->data;
        for (int64_t i = 0; i < dst->numel; i++) d[i] += s[i];
    } else {
        float *d = dst->data;
        const float *s = src->data;
        for (int64_t i = 0; i < dst->numel; i++) d[i] += s[i];
    }
}

static enum cg_status sweep(struct cg_tape *tape, struct cg_tensor *out, const struct cg_tensor *seed)
{
    /* Gradients of intermediates are per-backward: forget earlier ones. */
    for (size_t r = 0; r < tape->n_records; r++) tape->records[r].out->grad = NULL;
    if (!ensure_grad(tape, out)) return CG_ERR_NOMEM;
    add_into(out->grad, seed);
    out->flags &= ~CG_GRAD_NONE;
    if (out->record < 0) return CG_OK; /* a leaf: nothing to propagate */

    for (int32_t r = out->record; r >= 0; r--) {
        struct cg_record *rec = &tape->records[r];
        if (!rec->out->grad) continue; /* not on a path to `out` */
        for (int i = 0; i < rec->n_in; i++) {
            struct cg_tensor *in = rec->in[i];
            if (!(in->flags & CG_REQUIRES_GRAD)) continue;
            if (!ensure_grad(tape, in)) return CG_ERR_NOMEM;
            in->flags &= ~CG_GRAD_NONE; /* the backward below writes into it */
        }
        rec->op->backward(rec);
        if (!tape->anomaly) continue;
        for (int i = 0; i < rec->n_in; i++) {
            struct cg_tensor *g = rec->in[i]->grad;
            if (g && (rec->in[i]->flags & CG_REQUIRES_GRAD) && !cg_tensor_all_finite(g))
                return cg_fail(CG_ERR_NONFINITE,
                               "anomaly: backward of op '%s' (record %d) produced a non-finite "
                               "gradient for its input %d ('%s')",
                               rec->op->name, r, i, rec->in[i]->name);
        }
    }
    return CG_OK;
}

static bool check_out(struct cg_tape *tape, struct cg_tensor *out, const char *fn)
{
    if (!tape || !out) {
        cg_misuse(fn, "%s is NULL", tape ? "output tensor" : "tape");
        return false;
    }
    if (out->tape && (out->tape != tape || out->tape_gen != tape->gen)) {
        cg_misuse(fn, "tensor '%s' is not from this tape's current step (it belongs to %s)",
                  out->name,
                  out->tape != tape ? "another tape" : "a step released by cg_tape_reset");
        return false;
    }
    if (!(out->flags & CG_REQUIRES_GRAD)) {
        cg_misuse(fn, "tensor '%s' does not require grad: nothing it was computed from requires "
                  "grad, or grad mode was off (hint: cg_tensor_requires_grad on the parameters)",
                  out->name);
        return false;
    }
    return true;
}

enum cg_status cg_backward(struct cg_tape *tape, struct cg_tensor *loss)
{
    if (!check_out(tape, loss, "cg_backward")) return CG_ERR_INVALID;
    if (loss->numel != 1) {
        char s[128];
        cg_misuse("cg_backward", "loss %s has %" PRId64 " elements; backward needs a scalar "
                  "(hint: reduce with cg_sum or cg_mean, or use cg_backward_seed)",
                  cg_tensor_shape_str(loss, s, sizeof s), loss->numel);
        return CG_ERR_INVALID;
    }
    double one_d = 1.0;
    float one_f = 1.0f;
    struct cg_tensor seed = *loss;
    seed.data = loss->dtype == CG_F64 ? (void *)&one_d : (void *)&one_f;
    return sweep(tape, loss, &seed);
}

enum cg_status cg_backward_seed(struct cg_tape *tape, struct cg_tensor *out,
                                const struct cg_tensor *seed)
{
    if (!check_out(tape, out, "cg_backward_seed")) return CG_ERR_INVALID;
    if (!seed || seed->dtype != out->dtype || !cg_tensor_same_shape(seed, out)) {
        char a[128], b[128];
        cg_misuse("cg_backward_seed", "seed %s must match output %s in shape and dtype",
                  cg_tensor_shape_str(seed, a, sizeof a), cg_tensor_shape_str(out, b, sizeof b));
        return CG_ERR_INVALID;
    }
    return sweep(tape, out, seed);
}
