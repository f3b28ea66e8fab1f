/* Binary elementwise ops with NumPy broadcasting: add, sub, mul, div.
 *
 * The broadcast plan (broadcast.h) reduces every call to rows of a
 * contiguous output whose operands have stride 1 or 0 inside the row.  The
 * row kernels below are generated per op and dtype with those strides as
 * compile-time constants, so identical shapes run as one flat restrict loop
 * and [N,M] op [M] / op scalar run as contiguous loops with no per-element
 * calls.  Backward walks the same rows and ADDS into each input's grad; a
 * stride-0 operand turns its row into a sum.  The two inputs are handled in
 * separate passes, so x op x (one tensor, one grad) accumulates twice. */
#include "broadcast.h"
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* name, forward z(x, y), dz/dx * g, dz/dy * g; the backward expressions may
 * use g (upstream gradient), x, y and z (the forward output).  div's
 * y-gradient -g * (x/y)/y reuses z = x/y and rounds like PyTorch's. */
#define CG_BINARY_OPS(X)                                                                    \
    X(add, x + y, g, g)                                                                     \
    X(sub, x - y, g, -g)                                                                    \
    X(mul, x * y, g * y, g * x)                                                             \
    X(div, x / y, g / y, -(g * (z / y)))

/* Lanes for stride-0 sums: independent partial sums the compiler can keep
 * in vector registers, also more accurate than one running sum. */
#define CG_LANES 8

/* One forward row: z[i] = F(x[i*SX], y[i*SY]) for i < n. */
#define CG_FWD_ROW(T, F, SX, SY)                                                            \
    for (int64_t i = 0; i < n; i++) {                                                       \
        T x = xs[i * (SX)], y = ys[i * (SY)];                                               \
        zs[i] = (F);                                                                        \
    }

/* One backward row into gt, whose stride within the row is ST (SX or SY). */
#define CG_BWD_ROW(T, E, SX, SY, ST)                                                        \
    if (ST) {                                                                               \
        for (int64_t i = 0; i < n; i++) {                                                   \
            T g = gs[i], x = xs[i * (SX)], y = ys[i * (SY)], z = zs[i];                     \
            (void)x, (void)y, (void)z;                                                      \
            gt[i] += (E);                                                                   \
        }                                                                                   \
    } else {                                                                                \
        T acc[CG_LANES] = {0};                                                              \
        int64_t i = 0;                                                                      \
        for (; i + CG_LANES <= n; i += CG_LANES) {                                          \
            for (int k = 0; k < CG_LANES; k++) {                                            \
                T g = gs[i + k], x = xs[(i + k) * (SX)], y = ys[(i + k) * (SY)],            \
                  z = zs[i + k];                                                            \
                (void)x, (void)y, (void)z;                                                  \
                acc[k] += (E);                                                              \
            }                                                                               \
        }                                                                                   \
        T s = 0;                                                                            \
        for (; i < n; i++) {                                                                \
            T g = gs[i], x = xs[i * (SX)], y = ys[i * (SY)], z = zs[i];                     \
            (void)x, (void)y, (void)z;                                                      \
            s += (E);                                                                       \
        }                                                                                   \
        for (int k = 0; k < CG_LANES; k++) s += acc[k];                                     \
        gt[0] += s;                                                                         \
    }

/* Dispatches on the row strides (sx, sy) in {0,1}^2 so each loop sees
 * constants.  ST_OF(SX, SY) picks the stride of the grad being written. */
#define CG_BWD_SWITCH(T, E, ST_OF)                                                          \
    switch (sx * 2 + sy) {                                                                  \
    case 3: { CG_BWD_ROW(T, E, 1, 1, ST_OF(1, 1)) } break;                                  \
    case 2: { CG_BWD_ROW(T, E, 1, 0, ST_OF(1, 0)) } break;                                  \
    case 1: { CG_BWD_ROW(T, E, 0, 1, ST_OF(0, 1)) } break;                                  \
    default: { CG_BWD_ROW(T, E, 0, 0, ST_OF(0, 0)) } break;                                 \
    }
#define CG_ST_A(sx, sy) (sx)
#define CG_ST_B(sx, sy) (sy)

typedef void (*cg_fwd_row_fn)(void *z, const void *x, const void *y, int64_t n, int sx, int sy);
typedef void (*cg_bwd_row_fn)(void *gt, const void *g, const void *x, const void *y,
                              const void *z, int64_t n, int sx, int sy);

#define CG_BINARY_ROWS(name, fwd, da, db, T, SFX)                                           \
    static void name##_fwd_##SFX(void *zv, const void *xv, const void *yv, int64_t n,       \
                                 int sx, int sy)                                            \
    {                                                                                       \
        T *restrict zs = zv;                                                                \
        const T *restrict xs = xv;                                                          \
        const T *restrict ys = yv;                                                          \
        switch (sx * 2 + sy) {                                                              \
        case 3: CG_FWD_ROW(T, fwd, 1, 1) break;                                             \
        case 2: CG_FWD_ROW(T, fwd, 1, 0) break;                                             \
        case 1: CG_FWD_ROW(T, fwd, 0, 1) break;                                             \
        default: CG_FWD_ROW(T, fwd, 0, 0) break;                                            \
        }                                                                                   \
    }                                                                                       \
    static void name##_bwda_##SFX(void *gtv, const void *gv, const void *xv, const void *yv, \
                                  const void *zv, int64_t n, int sx, int sy)                \
    {                                                                                       \
        T *restrict gt = gtv;                                                               \
        const T *restrict gs = gv, *restrict xs = xv, *restrict ys = yv, *restrict zs = zv; \
        CG_BWD_SWITCH(T, da, CG_ST_A)                                                       \
    }                                                                                       \
    static void name##_bwdb_##SFX(void *gtv, const void *gv, const void *xv, const void *yv, \
                                  const void *zv, int64_t n, int sx, int sy)                \
    {                                                                                       \
        T *restrict gt = gtv;                                                               \
        const T *restrict gs = gv, *restrict xs = xv, *restrict ys = yv, *restrict zs = zv; \
        CG_BWD_SWITCH(T, db, CG_ST_B)                                                       \
    }

#define CG_BINARY_ROWS_F32(name, fwd, da, db) CG_BINARY_ROWS(name, fwd, da, db, float, f32)
#define CG_BINARY_ROWS_F64(name, fwd, da, db) CG_BINARY_ROWS(name, fwd, da, db, double, f64)
CG_BINARY_OPS(CG_BINARY_ROWS_F32)
CG_BINARY_OPS(CG_BINARY_ROWS_F64)

/* Row kernels of one op, by dtype. */
struct binary_kernels {
    cg_fwd_row_fn fwd[2];
    cg_bwd_row_fn bwda[2], bwdb[2];
};

static void plan_of(const struct cg_record *r, struct cg_bcast *p)
{
    cg_bcast_plan(p, r->in[0], r->in[1], r->out->ndim, r->out->shape);
}

static void binary_forward(struct cg_record *r, const struct binary_kernels *k)
{
    if (r->out->numel == 0) return;
    struct cg_bcast p;
    plan_of(r, &p);
    enum cg_dtype dt = r->out->dtype;
    size_t es = cg_dtype_size(dt);
    cg_fwd_row_fn f = k->fwd[dt == CG_F64];
    const char *a = r->in[0]->data, *b = r->in[1]->data;
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

static void binary_backward(struct cg_record *r, const struct binary_kernels *k)
{
    if (r->out->numel == 0) return;
    struct cg_bcast p;
    plan_of(r, &p);
    int d = r->out->dtype == CG_F64;
    /* Separate passes: when a == b both write the same grad. */
    if (r->in[0]->grad) binary_backward_one(r, &p, 0, k->bwda[d]);
    if (r->in[1]->grad) binary_backward_one(r, &p, 1, k->bwdb[d]);
}

#define CG_BINARY_DESCRIPTOR(name, fwd, da, db)                                             \
    static const struct binary_kernels name##_kernels = {                                   \
        {name##_fwd_f32, name##_fwd_f64},                                                   \
        {name##_bwda_f32, name##_bwda_f64},                                                 \
        {name##_bwdb_f32, name##_bwdb_f64}};                                                \
    static void name##_forward(struct cg_record *r) { binary_forward(r, &name##_kernels); } \
    static void name##_backward(struct cg_record *r) { binary_backward(r, &name##_kernels); } \
    const struct cg_op cg_op_##name = {#name, name##_forward, name##_backward, 0};

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
