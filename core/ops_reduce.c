/* Reductions: sum/mean of all elements, and sum/mean/max over one dim.
 *
 * A reduction over dim views the input as [outer, d, inner] (row-major), so
 * every kernel is a pair of plain loops with a contiguous inner loop.  Sums
 * accumulate in double for both dtypes: f32 sums of many elements would
 * otherwise lose digits. */
#include <inttypes.h>
#include <string.h>

#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* Inner-dim block accumulated on the stack for sum_dim with inner > 1. */
#define CG_SUM_BLOCK 256
/* Independent lanes for contiguous reductions: enough dependency chains to
 * keep the adders busy, and explicit so the compiler may vectorize them
 * without reassociating (no -ffast-math). */
#define CG_SUM_LANES 16
#define CG_MAX_LANES 32

/* Kernels for element type T, argmax index type IT (same width as T, so the
 * select loops vectorize) and name suffix S. */
#define CG_REDUCE_KERNELS(T, IT, S)                                                         \
    static double sum_all_##S(const T *restrict x, int64_t n)                               \
    {                                                                                       \
        double acc[CG_SUM_LANES] = {0}, s = 0;                                              \
        int64_t i = 0;                                                                      \
        for (; i + CG_SUM_LANES <= n; i += CG_SUM_LANES)                                    \
            for (int j = 0; j < CG_SUM_LANES; j++) acc[j] += (double)x[i + j];              \
        for (; i < n; i++) s += (double)x[i];                                               \
        for (int j = 0; j < CG_SUM_LANES; j++) s += acc[j];                                 \
        return s;                                                                           \
    }                                                                                       \
    static void add_const_##S(T *restrict g, T v, int64_t n)                                \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) g[i] += v;                                          \
    }                                                                                       \
    /* y[o,i] = sum_k x[o,k,i] / div; four rows per pass over the accumulators. */          \
    static void sum_dim_##S(T *restrict y, const T *restrict x, int64_t outer, int64_t d,   \
                            int64_t inner, double div)                                      \
    {                                                                                       \
        if (inner == 1) {                                                                   \
            for (int64_t o = 0; o < outer; o++) y[o] = (T)(sum_all_##S(x + o * d, d) / div); \
            return;                                                                         \
        }                                                                                   \
        double acc[CG_SUM_BLOCK];                                                           \
        for (int64_t o = 0; o < outer; o++) {                                               \
            for (int64_t i0 = 0; i0 < inner; i0 += CG_SUM_BLOCK) {                          \
                int64_t c = inner - i0 < CG_SUM_BLOCK ? inner - i0 : CG_SUM_BLOCK;          \
                const T *restrict r = x + o * d * inner + i0;                               \
                for (int64_t i = 0; i < c; i++) acc[i] = 0;                                 \
                int64_t k = 0;                                                              \
                for (; k + 4 <= d; k += 4, r += 4 * inner)                                  \
                    for (int64_t i = 0; i < c; i++)                                         \
                        acc[i] += ((double)r[i] + (double)r[inner + i]) +                   \
                                  ((double)r[2 * inner + i] + (double)r[3 * inner + i]);    \
                for (; k < d; k++, r += inner)                                              \
                    for (int64_t i = 0; i < c; i++) acc[i] += (double)r[i];                 \
                for (int64_t i = 0; i < c; i++) y[o * inner + i0 + i] = (T)(acc[i] / div);  \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    /* gx[o,k,i] += gy[o,i] / div */                                                        \
    static void sum_dim_bwd_##S(T *restrict gx, const T *restrict gy, int64_t outer,        \
                                int64_t d, int64_t inner, T div)                            \
    {                                                                                       \
        for (int64_t o = 0; o < outer; o++)                                                 \
            for (int64_t k = 0; k < d; k++) {                                               \
                T *restrict g = gx + (o * d + k) * inner;                                   \
                const T *restrict s = gy + o * inner;                                       \
                for (int64_t i = 0; i < inner; i++) g[i] += s[i] / div;                     \
            }                                                                               \
    }                                                                                       \
    /* Index of the first maximum of x[0], x[step], ... x[(d-1)*step], d >= 1; the          \
     * first NaN wins over everything (the max of a slice with a NaN is NaN).               \
     * Scalar: used for strided slices and short rows. */                                   \
    static int64_t argmax_strided_##S(const T *x, int64_t d, int64_t step)                  \
    {                                                                                       \
        int64_t at = 0;                                                                     \
        T m = x[0];                                                                         \
        if (m != m) return 0;                                                               \
        for (int64_t k = 1; k < d; k++) {                                                   \
            T v = x[k * step];                                                              \
            if (v != v) return k;                                                           \
            if (v > m) m = v, at = k;                                                       \
        }                                                                                   \
        return at;                                                                          \
    }                                                                                       \
    /* m[i] = max(m[i], r[k*w + i] for k < rows), turning NaN at the first NaN.             \
     * A loop with a runtime width so the compiler vectorizes the selects. */               \
    static void colmax_##S(T *restrict m, const T *restrict r, int64_t rows, int64_t w)     \
    {                                                                                       \
        for (int64_t k = 0; k < rows; k++, r += w)                                          \
            for (int64_t i = 0; i < w; i++) {                                               \
                T v = r[i];                                                                 \
                m[i] = ((v > m[i]) | (v != v)) ? v : m[i];                                  \
            }                                                                               \
    }                                                                                       \
    /* argmax_strided for a contiguous row: the maximum from CG_MAX_LANES vectorized        \
     * lanes, then a chunked search for the first element equal to it (or the               \
     * first NaN). */                                                                       \
    static int64_t argmax_##S(const T *restrict x, int64_t d)                               \
    {                                                                                       \
        if (d < 4 * CG_MAX_LANES) return argmax_strided_##S(x, d, 1);                       \
        T m[CG_MAX_LANES];                                                                  \
        memcpy(m, x, sizeof m);                                                             \
        int64_t rows = d / CG_MAX_LANES;                                                    \
        colmax_##S(m, x + CG_MAX_LANES, rows - 1, CG_MAX_LANES);                            \
        T best = m[0];                                                                      \
        for (int j = 1; j < CG_MAX_LANES; j++)                                              \
            best = ((m[j] > best) | (m[j] != m[j])) ? m[j] : best;                          \
        for (int64_t i = rows * CG_MAX_LANES; i < d; i++)                                   \
            best = ((x[i] > best) | (x[i] != x[i])) ? x[i] : best;                          \
        bool nan = best != best;                                                            \
        for (int64_t c = 0; c < d; c += CG_MAX_LANES) {                                     \
            int64_t e = d - c < CG_MAX_LANES ? d - c : CG_MAX_LANES;                        \
            int hit = 0;                                                                    \
            if (nan)                                                                        \
                for (int64_t j = 0; j < e; j++) hit |= x[c + j] != x[c + j];                \
            else                                                                            \
                for (int64_t j = 0; j < e; j++) hit |= x[c + j] == best;                    \
            if (!hit) continue;                                                             \
            for (int64_t j = 0; j < e; j++)                                                 \
                if (nan ? x[c + j] != x[c + j] : x[c + j] == best) return c + j;            \
        }                                                                                   \
        return 0; /* unreachable: best is one of the elements */                            \
    }                                                                                       \
    /* y[o,i] = max_k x[o,k,i]; idx (may be NULL) gets the first argmax. d >= 1. */         \
    static void max_dim_##S(T *restrict y, IT *restrict idx, const T *restrict x,           \
                            int64_t outer, int64_t d, int64_t inner)                        \
    {                                                                                       \
        if (inner == 1) {                                                                   \
            for (int64_t o = 0; o < outer; o++) {                                           \
                int64_t k = argmax_##S(x + o * d, d);                                       \
                y[o] = x[o * d + k];                                                        \
                if (idx) idx[o] = (IT)k;                                                    \
            }                                                                               \
            return;                                                                         \
        }                                                                                   \
        for (int64_t o = 0; o < outer; o++) {                                               \
            T *restrict m = y + o * inner;                                                  \
            const T *restrict r = x + o * d * inner;                                        \
            memcpy(m, r, (size_t)inner * sizeof(T));                                        \
            if (!idx) {                                                                     \
                colmax_##S(m, r + inner, d - 1, inner);                                     \
                continue;                                                                   \
            }                                                                               \
            IT *restrict at = idx + o * inner;                                              \
            memset(at, 0, (size_t)inner * sizeof(IT));                                      \
            for (int64_t k = 1; k < d; k++) {                                               \
                r += inner;                                                                 \
                for (int64_t i = 0; i < inner; i++) { /* larger, or the first NaN */        \
                    T v = r[i];                                                             \
                    bool take = (v > m[i]) | ((v != v) & (m[i] == m[i]));                   \
                    m[i] = take ? v : m[i];                                                 \
                    at[i] = take ? (IT)k : at[i];                                           \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
    /* gx[o,idx[o,i],i] += gy[o,i]; without saved indices they are recomputed. */           \
    static void max_dim_bwd_##S(T *restrict gx, const T *restrict gy, const IT *idx,        \
                                const T *x, int64_t outer, int64_t d, int64_t inner)        \
    {                                                                                       \
        for (int64_t o = 0; o < outer; o++)                                                 \
            for (int64_t i = 0; i < inner; i++) {                                           \
                int64_t j = o * inner + i, base = o * d * inner + i;                        \
                int64_t k = idx ? (int64_t)idx[j]                                           \
                                : inner == 1 ? argmax_##S(x + base, d)                      \
                                             : argmax_strided_##S(x + base, d, inner);      \
                gx[base + k * inner] += gy[j];                                              \
            }                                                                               \
    }

CG_REDUCE_KERNELS(float, int32_t, f32)
CG_REDUCE_KERNELS(double, int64_t, f64)

/* ---- sum / mean of everything ---- */

static void all_forward(struct cg_record *r, bool mean)
{
    const struct cg_tensor *x = r->in[0];
    double s = x->dtype == CG_F64 ? sum_all_f64(x->data, x->numel) : sum_all_f32(x->data, x->numel);
    if (mean) s /= (double)x->numel; /* 0/0 = NaN for an empty tensor, as PyTorch */
    if (x->dtype == CG_F64)
        CG_F64P(r->out)[0] = s;
    else
        CG_F32P(r->out)[0] = (float)s;
}

static void all_backward(struct cg_record *r, bool mean)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    double n = mean ? (double)x->numel : 1.0;
    if (x->dtype == CG_F64)
        add_const_f64(x->grad->data, CG_F64P(r->out->grad)[0] / n, x->numel);
    else
        add_const_f32(x->grad->data, (float)(CG_F32P(r->out->grad)[0] / n), x->numel);
}

static void sum_forward(struct cg_record *r) { all_forward(r, false); }
static void sum_backward(struct cg_record *r) { all_backward(r, false); }
static void mean_forward(struct cg_record *r) { all_forward(r, true); }
static void mean_backward(struct cg_record *r) { all_backward(r, true); }

const struct cg_op cg_op_sum = {"sum", sum_forward, sum_backward, 0};
const struct cg_op cg_op_mean = {"mean", mean_forward, mean_backward, 0};

static struct cg_tensor *reduce_all(struct cg_tape *tape, const struct cg_op *op,
                                    struct cg_tensor *x)
{
    CG_CHECK_NOT_NULL(op->name, x, "input");
    return cg_op_apply(tape, op, 1, &x, x->dtype, 0, NULL, NULL, 0);
}

struct cg_tensor *cg_sum(struct cg_tape *tape, struct cg_tensor *a)
{
    return reduce_all(tape, &cg_op_sum, a);
}

struct cg_tensor *cg_mean(struct cg_tape *tape, struct cg_tensor *a)
{
    return reduce_all(tape, &cg_op_mean, a);
}

/* ---- over one dim ---- */

struct geom {
    int64_t outer, d, inner;
};

/* rec->scalar[0] holds the normalized dim (a 0-dim input acts as shape [1]). */
static struct geom geom_of(const struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0];
    struct geom g = {1, 1, 1};
    if (x->ndim == 0) return g;
    int dim = (int)r->scalar[0];
    for (int i = 0; i < dim; i++) g.outer *= x->shape[i];
    g.d = x->shape[dim];
    for (int i = dim + 1; i < x->ndim; i++) g.inner *= x->shape[i];
    return g;
}

static void dim_forward(struct cg_record *r, bool mean)
{
    struct geom g = geom_of(r);
    double div = mean ? (double)g.d : 1.0; /* mean over an empty dim is NaN, as PyTorch */
    if (r->out->dtype == CG_F64)
        sum_dim_f64(r->out->data, r->in[0]->data, g.outer, g.d, g.inner, div);
    else
        sum_dim_f32(r->out->data, r->in[0]->data, g.outer, g.d, g.inner, div);
}

static void dim_backward(struct cg_record *r, bool mean)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    struct geom g = geom_of(r);
    double div = mean ? (double)g.d : 1.0;
    if (x->dtype == CG_F64)
        sum_dim_bwd_f64(x->grad->data, r->out->grad->data, g.outer, g.d, g.inner, div);
    else
        sum_dim_bwd_f32(x->grad->data, r->out->grad->data, g.outer, g.d, g.inner, (float)div);
}

static void sum_dim_forward(struct cg_record *r) { dim_forward(r, false); }
static void sum_dim_backward(struct cg_record *r) { dim_backward(r, false); }
static void mean_dim_forward(struct cg_record *r) { dim_forward(r, true); }
static void mean_dim_backward(struct cg_record *r) { dim_backward(r, true); }

static void max_dim_forward(struct cg_record *r)
{
    struct geom g = geom_of(r);
    bool f64 = r->out->dtype == CG_F64;
    /* Argmax indices (int32 for f32, int64 for f64: as wide as the values) are
     * only needed when backward will run; if scratch runs out, backward
     * recomputes them from the (unchanged) input. */
    void *idx = NULL;
    if (r->out->flags & CG_REQUIRES_GRAD)
        idx = cg_tape_alloc(r->tape, (size_t)(g.outer * g.inner) * (f64 ? 8 : 4));
    r->aux = idx;
    if (f64)
        max_dim_f64(r->out->data, idx, r->in[0]->data, g.outer, g.d, g.inner);
    else
        max_dim_f32(r->out->data, idx, r->in[0]->data, g.outer, g.d, g.inner);
}

static void max_dim_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    struct geom g = geom_of(r);
    if (x->dtype == CG_F64)
        max_dim_bwd_f64(x->grad->data, r->out->grad->data, r->aux, x->data, g.outer, g.d,
                        g.inner);
    else
        max_dim_bwd_f32(x->grad->data, r->out->grad->data, r->aux, x->data, g.outer, g.d,
                        g.inner);
}

const struct cg_op cg_op_sum_dim = {"sum_dim", sum_dim_forward, sum_dim_backward, 0};
const struct cg_op cg_op_mean_dim = {"mean_dim", mean_dim_forward, mean_dim_backward, 0};
const struct cg_op cg_op_max_dim = {"max_dim", max_dim_forward, max_dim_backward, 0};

static struct cg_tensor *reduce_dim(struct cg_tape *tape, const struct cg_op *op,
                                    struct cg_tensor *x, int dim, bool keepdim)
{
    CG_CHECK_NOT_NULL(op->name, x, "input");
    char s[128];
    int n = x->ndim ? x->ndim : 1; /* a 0-dim tensor reduces like shape [1] (as PyTorch) */
    if (dim < -n || dim >= n) {
        cg_misuse(op->name, "dim %d is out of range for input %s (valid: %d..%d; negative "
                  "counts from the end)", dim, cg_tensor_shape_str(x, s, sizeof s), -n, n - 1);
        return NULL;
    }
    if (dim < 0) dim += n;
    if (op == &cg_op_max_dim && x->ndim > 0 &&
        (x->shape[dim] == 0 || x->shape[dim] > INT32_MAX)) {
        cg_misuse(op->name, "dim %d of input %s has size %" PRId64 ": need 1..%d elements to "
                  "take the maximum of", dim, cg_tensor_shape_str(x, s, sizeof s),
                  x->shape[dim], INT32_MAX);
        return NULL;
    }
    int64_t shape[CG_MAX_DIMS];
    int out_ndim = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != dim)
            shape[out_ndim++] = x->shape[i];
        else if (keepdim)
            shape[out_ndim++] = 1;
    }
    double scalars[2] = {dim, keepdim};
    return cg_op_apply(tape, op, 1, &x, x->dtype, out_ndim, shape, scalars, 2);
}

struct cg_tensor *cg_sum_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim)
{
    return reduce_dim(tape, &cg_op_sum_dim, a, dim, keepdim);
}

struct cg_tensor *cg_mean_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim)
{
    return reduce_dim(tape, &cg_op_mean_dim, a, dim, keepdim);
}

struct cg_tensor *cg_max_dim(struct cg_tape *tape, struct cg_tensor *a, int dim, bool keepdim)
{
    return reduce_dim(tape, &cg_op_max_dim, a, dim, keepdim);
}
