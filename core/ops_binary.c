/* Binary elementwise ops with NumPy broadcasting: add, sub, mul, div.
 *
 * The broadcast plan (broadcast.h) reduces every call to rows of a
 * contiguous output whose operands have stride 1 or 0 inside the row.  The
 * row kernels below are generated per op and dtype with those strides as
 * compile-time constants, so identical shapes run as one flat restrict loop
 * and [N,M] op [M] / op scalar run as contiguous loops with no per-element
 * calls.  Backward walks the same rows and ADDS into each input's grad; a
 * stride-0 operand turns its row into a sum.  An unwritten grad of an
 * input that is not broadcast is assigned instead (0 + value, the same
 * bits).  The two inputs are handled in separate passes, so x op x (one
 * tensor, one grad) assigns, then adds. */
#include <string.h>

#include "broadcast.h"
#include "error_internal.h"
#include "multiarch.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* name, forward z(x, y), dz/dx * g, dz/dy * g; the backward expressions may
 * use g (upstream gradient), x, y and z (the forward output).  div's
 * y-gradient -g * (x/y)/y reuses z = x/y and rounds like PyTorch's.
 * maximum/minimum propagate NaN and split the gradient evenly at a tie;
 * with a NaN both sides get all of it (PyTorch's rules). */
#define CG_BINARY_OPS(X)                                                                   \
    X(add, x + y, g, g)                                                                    \
    X(sub, x - y, g, -g)                                                                   \
    X(mul, x * y, g * y, g * x)                                                            \
    X(div, x / y, g / y, -(g * (z / y)))                                                   \
    X(maximum, ((x > y) | (x != x)) ? x : y, x < y ? (T)0 : x == y ? g / 2 : g,            \
      x > y ? (T)0 : x == y ? g / 2 : g)                                                   \
    X(minimum, ((x < y) | (x != x)) ? x : y, x > y ? (T)0 : x == y ? g / 2 : g,            \
      x < y ? (T)0 : x == y ? g / 2 : g)

/* Lanes for stride-0 sums: independent partial sums the compiler can keep
 * in vector registers, also more accurate than one running sum. */
#define CG_LANES 8

typedef void (*cg_fwd_row_fn)(void *z, const void *x, const void *y, int64_t n, int sx, int sy);
typedef void (*cg_bwd_row_fn)(void *gt, const void *g, const void *x, const void *y,
                              const void *z, int64_t n, int sx, int sy);

#define CG_KERNELS_INC "binary_kernels.inc"
#include "per_dtype.inc"

/* Row kernels of one op, by dtype. */
struct binary_kernels {
    cg_fwd_row_fn fwd[2];
    cg_bwd_row_fn bwd[2][2][2]; /* [input][first write (=)][f64] */
};

/* Neither input broadcast: the walk is one flat run with strides 1, what
 * the plan finds too, without planning it.  (A single element is left to
 * the plan, whose strides 0 make backward a one-term sum.) */
static bool flat_run(const struct cg_record *r)
{
    return r->out->numel > 1 && r->in[0]->numel == r->out->numel &&
           r->in[1]->numel == r->out->numel;
}

static void plan_of(const struct cg_record *r, struct cg_bcast *p)
{
    cg_bcast_plan(p, r->in[0], r->in[1], r->out->ndim, r->out->shape);
}

static void binary_forward(struct cg_record *r, const struct binary_kernels *k)
{
    if (r->out->numel == 0) return;
    enum cg_dtype dt = r->out->dtype;
    cg_fwd_row_fn f = k->fwd[dt == CG_F64];
    const char *a = r->in[0]->data, *b = r->in[1]->data;
    if (flat_run(r)) {
        f(r->out->data, a, b, r->out->numel, 1, 1);
        return;
    }
    struct cg_bcast p;
    plan_of(r, &p);
    size_t es = cg_dtype_size(dt);
    char *z = r->out->data;
    struct cg_bcast_iter it;
    cg_bcast_begin(&it);
    for (int64_t row = 0; row < p.rows; row++) {
        f(z + (size_t)(row * p.inner) * es, a + (size_t)it.off_a * es, b + (size_t)it.off_b * es,
          p.inner, p.inner_a, p.inner_b);
        cg_bcast_next(&p, &it);
    }
}

/* Accumulates into input `which`'s grad (0: a, 1: b) with row kernel f. */
static void binary_backward_one(struct cg_record *r, const struct cg_bcast *p, int which,
                                cg_bwd_row_fn f)
{
    size_t es = cg_dtype_size(r->out->dtype);
    char *gt = r->in[which]->grad->data;
    const char *g = r->out->grad->data, *z = r->out->data;
    const char *a = r->in[0]->data, *b = r->in[1]->data;
    struct cg_bcast_iter it;
    cg_bcast_begin(&it);
    for (int64_t row = 0; row < p->rows; row++) {
        size_t oz = (size_t)(row * p->inner) * es;
        size_t oa = (size_t)it.off_a * es, ob = (size_t)it.off_b * es;
        f(gt + (which ? ob : oa), g + oz, a + oa, b + ob, z + oz, p->inner, p->inner_a,
          p->inner_b);
        cg_bcast_next(p, &it);
    }
}

/* Whether input `which`'s grad is written with = : unwritten, and every
 * element is written once (not broadcast).  An unwritten broadcast grad of
 * the tape is zeroed first (a persistent one holds zeros already). */
static bool assigns(struct cg_record *r, int which)
{
    struct cg_tensor *in = r->in[which];
    if (!cg_grad_assign(in)) return false;
    if (in->numel == r->out->numel) return true;
    if (in->tape) memset(in->grad->data, 0, (size_t)in->numel * cg_dtype_size(in->dtype));
    return false;
}

static void binary_backward(struct cg_record *r, const struct binary_kernels *k)
{
    /* Separate passes: when a == b both write the same grad (the first
     * assigns, the second adds). */
    bool flat = flat_run(r);
    struct cg_bcast p;
    if (!flat && r->out->numel > 0) plan_of(r, &p);
    int d = r->out->dtype == CG_F64;
    for (int which = 0; which < 2; which++) {
        struct cg_tensor *in = r->in[which];
        if (!in->grad) continue;
        cg_bwd_row_fn f = k->bwd[which][assigns(r, which)][d];
        if (r->out->numel == 0) continue;
        if (flat)
            f(in->grad->data, r->out->grad->data, r->in[0]->data, r->in[1]->data, r->out->data,
              r->out->numel, 1, 1);
        else
            binary_backward_one(r, &p, which, f);
    }
}

#define CG_BINARY_DESCRIPTOR(name, fwd, da, db)                                            \
    static const struct binary_kernels name##_kernels = {                                  \
        {name##_fwd_f32, name##_fwd_f64},                                                  \
        {{{name##_bwda_f32, name##_bwda_f64}, {name##_bwda_set_f32, name##_bwda_set_f64}}, \
         {{name##_bwdb_f32, name##_bwdb_f64}, {name##_bwdb_set_f32, name##_bwdb_set_f64}}}}; \
    static void name##_forward(struct cg_record *r) { binary_forward(r, &name##_kernels); } \
    static void name##_backward(struct cg_record *r) { binary_backward(r, &name##_kernels); } \
    const struct cg_op cg_op_##name = {#name, name##_forward, name##_backward,             \
                                       CG_OP_ASSIGNS_GRAD};

CG_BINARY_OPS(CG_BINARY_DESCRIPTOR)

static struct cg_tensor *binary(struct cg_tape *tape, const struct cg_op *op, struct cg_tensor *a,
                                struct cg_tensor *b)
{
    if (!a || !b) {
        cg_misuse(op->name, "input %s is NULL (hint: an earlier op failed; check "
                  "cg_last_error())", a ? "b" : "a");
        return NULL;
    }
    int nd;
    int64_t shape[CG_MAX_DIMS];
    if (!cg_broadcast_shape(op->name, a, b, &nd, shape)) return NULL;
    struct cg_tensor *in[2] = {a, b};
    return cg_op_apply(tape, op, 2, in, a->dtype, nd, shape, NULL, 0);
}

struct cg_tensor *cg_add(struct cg_tape *t, struct cg_tensor *a, struct cg_tensor *b) { return binary(t, &cg_op_add, a, b); }
struct cg_tensor *cg_sub(struct cg_tape *t, struct cg_tensor *a, struct cg_tensor *b) { return binary(t, &cg_op_sub, a, b); }
struct cg_tensor *cg_mul(struct cg_tape *t, struct cg_tensor *a, struct cg_tensor *b) { return binary(t, &cg_op_mul, a, b); }
struct cg_tensor *cg_div(struct cg_tape *t, struct cg_tensor *a, struct cg_tensor *b) { return binary(t, &cg_op_div, a, b); }
struct cg_tensor *cg_maximum(struct cg_tape *t, struct cg_tensor *a, struct cg_tensor *b) { return binary(t, &cg_op_maximum, a, b); }
struct cg_tensor *cg_minimum(struct cg_tape *t, struct cg_tensor *a, struct cg_tensor *b) { return binary(t, &cg_op_minimum, a, b); }
