/* Pooling ops over [N, C, H, W]: max, average and adaptive average.
 *
 * Each works plane by plane (N C planes of H x W).  Max pooling keeps the
 * flat in-plane index of each window's winner (int32) on the tape for
 * backward, found as PyTorch's CPU kernel finds it: the first element
 * greater than the best so far in row-major window order, any NaN taking
 * over; without that scratch (out of memory) backward finds it again.
 * Sums are accumulated in double. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "conv_geom.h"
#include "error_internal.h"
#include "multiarch.h"
#include "op_list.h"
#include "parallel.h"
#include "pool_2x2.h"
#include "cgrad/conv_ops.h"
#include "cgrad/op.h"

static struct cg_plane plane_of(const struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *y = r->out;
    return (struct cg_plane){x->shape[0] * x->shape[1], x->shape[2], x->shape[3], y->shape[2],
                          y->shape[3]};
}

/* First in-range tap of a window starting at `start` with dilation d. */
static int64_t first_tap(int64_t start, int64_t d)
{
    while (start < 0) start += d;
    return start;
}

#define CG_MAX_WINNER(T, S)                                                                \
    static int32_t winner_##S(const T *x, const struct cg_plane *p, const struct cg_window *k,  \
                              int64_t oy, int64_t ox)                                       \
    {                                                                                       \
        int64_t y0 = first_tap(oy * k->sh - k->ph, k->dh);                                  \
        int64_t x0 = first_tap(ox * k->sw - k->pw, k->dw);                                  \
        int64_t y1 = oy * k->sh - k->ph + (k->kh - 1) * k->dh + 1;                          \
        int64_t x1 = ox * k->sw - k->pw + (k->kw - 1) * k->dw + 1;                          \
        if (y1 > p->h) y1 = p->h;                                                           \
        if (x1 > p->w) x1 = p->w;                                                           \
        int64_t at = y0 * p->w + x0;                                                        \
        T best = -INFINITY;                                                                 \
        for (int64_t iy = y0; iy < y1; iy += k->dh)                                         \
            for (int64_t ix = x0; ix < x1; ix += k->dw) {                                   \
                T v = x[iy * p->w + ix];                                                    \
                if (v > best || isnan(v)) best = v, at = iy * p->w + ix;                    \
            }                                                                               \
        return (int32_t)at;                                                                 \
    }
CG_MAX_WINNER(float, f32)
CG_MAX_WINNER(double, f64)

/* Windows without padding or dilation (MaxPool2d(2) and most others):
 * no bounds to work out, and the same first-max / NaN rule. */
#define CG_MAX_PLAIN(T, S)                                                                  \
    static void max_plain_##S(T *restrict y, int32_t *restrict idx, const T *restrict x,    \
                              const struct cg_plane *p, const struct cg_window *k)             \
    {                                                                                       \
        for (int64_t q = 0; q < p->planes; q++) {                                           \
            const T *xp = x + q * p->h * p->w;                                              \
            for (int64_t oy = 0; oy < p->oh; oy++)                                          \
                for (int64_t ox = 0; ox < p->ow; ox++) {                                    \
                    int64_t base = oy * k->sh * p->w + ox * k->sw, at = base;               \
                    T best = -INFINITY;                                                     \
                    for (int64_t i = 0; i < k->kh; i++)                                     \
                        for (int64_t j = 0; j < k->kw; j++) {                               \
                            /* selects, not branches: the winner is unpredictable */        \
                            T v = xp[base + i * p->w + j];                                  \
                            bool take = v > best || v != v;                                 \
                            best = take ? v : best;                                         \
                            at = take ? base + i * p->w + j : at;                           \
                        }                                                                   \
                    int64_t o = (q * p->oh + oy) * p->ow + ox;                              \
                    y[o] = best;                                                            \
                    if (idx) idx[o] = (int32_t)at;                                          \
                }                                                                           \
        }                                                                                   \
    }
CG_MAX_PLAIN(float, f32)
CG_MAX_PLAIN(double, f64)

/* MaxPool2d(2) proper (2x2, stride 2, no padding or dilation): the four
 * taps unrolled, same first-max / NaN rule as above. */
#define CG_MAX_2X2(T, S)                                                                    \
    CG_MULTIARCH static void max_2x2_##S(T *restrict y, int32_t *restrict idx,              \
                                     const T *restrict x, const struct cg_plane *p)        \
    {                                                                                       \
        for (int64_t q = 0; q < p->planes; q++) {                                           \
            const T *xp = x + q * p->h * p->w;                                              \
            T *yp = y + q * p->oh * p->ow;                                                  \
            int32_t *ip = idx ? idx + q * p->oh * p->ow : NULL;                             \
            for (int64_t oy = 0; oy < p->oh; oy++) {                                        \
                const T *r0 = xp + 2 * oy * p->w, *r1 = r0 + p->w;                          \
                int32_t row = (int32_t)(2 * oy * p->w), w = (int32_t)p->w;                  \
                for (int64_t ox = 0; ox < p->ow; ox++) {                                    \
                    T a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1]; \
                    int32_t at = row + 2 * (int32_t)ox;                                     \
                    T best = a;                                                             \
                    bool tb = b > best || b != b;                                           \
                    best = tb ? b : best;                                                   \
                    at = tb ? row + 2 * (int32_t)ox + 1 : at;                               \
                    bool tc = c > best || c != c;                                           \
                    best = tc ? c : best;                                                   \
                    at = tc ? row + w + 2 * (int32_t)ox : at;                               \
                    bool td = d > best || d != d;                                           \
                    best = td ? d : best;                                                   \
                    at = td ? row + w + 2 * (int32_t)ox + 1 : at;                           \
                    yp[oy * p->ow + ox] = best;                                             \
                    if (ip) ip[oy * p->ow + ox] = at;                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }
CG_MAX_2X2(float, f32)
CG_MAX_2X2(double, f64)

/* The shared entry points: plain functions around the per-ISA clones
 * (clang resolves target_clones only inside their own file). */
void cg_max_2x2_f32(float *restrict y, int32_t *restrict idx, const float *restrict x,
                    const struct cg_plane *p)
{
    max_2x2_f32(y, idx, x, p);
}

void cg_max_2x2_f64(double *restrict y, int32_t *restrict idx, const double *restrict x,
                    const struct cg_plane *p)
{
    max_2x2_f64(y, idx, x, p);
}

static bool is_2x2(const struct cg_window *k)
{
    return k->kh == 2 && k->kw == 2 && k->sh == 2 && k->sw == 2 && k->ph == 0 && k->pw == 0 &&
           k->dh == 1 && k->dw == 1;
}

static int32_t winner(enum cg_dtype dt, const void *plane, const struct cg_plane *p,
                      const struct cg_window *k, int64_t oy, int64_t ox)
{
    return dt == CG_F64 ? winner_f64(plane, p, k, oy, ox) : winner_f32(plane, p, k, oy, ox);
}

/* Planes [q0, q1) of a pooling op: one task of the batch cut over the pool
 * (planes are independent, so the cut does not change any result). */
struct pool_task {
    struct cg_record *r;
    struct cg_plane p;
    struct cg_window k;
    int parts;
    bool set; /* backward: gradient unwritten, assign */
};

/* Worth handing to the pool from this many input elements. */
enum { POOL_PARALLEL_MIN = 1 << 15 };

static void pool_run(struct pool_task *pt, cg_task_fn fn)
{
    int64_t work = pt->p.planes * pt->p.h * pt->p.w;
    int threads = cg_parallel_threads();
    pt->parts = work < POOL_PARALLEL_MIN || pt->p.planes < threads ? 1 : threads;
    if (pt->parts == 1)
        fn(pt, 0);
    else
        cg_parallel_run(pt->parts, fn, pt);
}

/* This task's planes as a struct cg_plane of its own, and their first plane. */
static struct cg_plane task_planes(const struct pool_task *pt, int t, int64_t *q0)
{
    int64_t lo, hi;
    cg_split_range(pt->p.planes, pt->parts, t, 1, &lo, &hi);
    struct cg_plane p = pt->p;
    p.planes = hi - lo;
    *q0 = lo;
    return p;
}

static void max_forward_task(void *ctx, int t)
{
    const struct pool_task *pt = ctx;
    const struct cg_record *r = pt->r;
    const struct cg_window *k = &pt->k;
    enum cg_dtype dt = r->out->dtype;
    size_t es = cg_dtype_size(dt);
    int64_t q0;
    struct cg_plane p = task_planes(pt, t, &q0);
    int64_t in_at = q0 * p.h * p.w, out_at = q0 * p.oh * p.ow;
    const char *x0 = (const char *)r->in[0]->data + (size_t)in_at * es;
    char *y0 = (char *)r->out->data + (size_t)out_at * es;
    int32_t *idx = r->aux ? (int32_t *)r->aux + out_at : NULL;
    if (is_2x2(k)) {
        if (dt == CG_F64)
            cg_max_2x2_f64((double *)y0, idx, (const double *)x0, &p);
        else
            cg_max_2x2_f32((float *)y0, idx, (const float *)x0, &p);
        return;
    }
    if (k->ph == 0 && k->pw == 0 && k->dh == 1 && k->dw == 1) {
        if (dt == CG_F64)
            max_plain_f64((double *)y0, idx, (const double *)x0, &p, k);
        else
            max_plain_f32((float *)y0, idx, (const float *)x0, &p, k);
        return;
    }
    for (int64_t q = 0; q < p.planes; q++) {
        const char *x = x0 + (size_t)(q * p.h * p.w) * es;
        for (int64_t oy = 0; oy < p.oh; oy++)
            for (int64_t ox = 0; ox < p.ow; ox++) {
                int64_t o = (q * p.oh + oy) * p.ow + ox;
                int32_t at = winner(dt, x, &p, k, oy, ox);
                if (idx) idx[o] = at;
                if (dt == CG_F64)
                    ((double *)y0)[o] = ((const double *)x)[at];
                else
                    ((float *)y0)[o] = ((const float *)x)[at];
            }
    }
}

static void max_pool_forward(struct cg_record *r)
{
    struct pool_task pt = {.r = r, .p = plane_of(r), .k = cg_window_unpack(r->scalar)};
    int32_t *idx = NULL;
    if (r->out->flags & CG_REQUIRES_GRAD)
        idx = cg_tape_alloc(r->tape, (size_t)(pt.p.planes * pt.p.oh * pt.p.ow) * sizeof *idx);
    r->aux = idx;
    pool_run(&pt, max_forward_task);
}

#define CG_MAX_2X2_BWD_SET(T, S)                                                            \
    static void max_2x2_bwd_set_##S(T *restrict gx, const T *restrict gy,                  \
                                    const int32_t *restrict idx, const struct cg_plane *p)     \
    {                                                                                       \
        for (int64_t q = 0; q < p->planes; q++) {                                           \
            T *gp = gx + q * p->h * p->w;                                                   \
            const T *dp = gy + q * p->oh * p->ow;                                           \
            const int32_t *ip = idx + q * p->oh * p->ow;                                    \
            for (int64_t oy = 0; oy < p->oh; oy++) {                                        \
                T *r0 = gp + 2 * oy * p->w, *r1 = r0 + p->w;                                \
                for (int64_t ox = 0; ox < 2 * p->ow; ox++) r0[ox] = r1[ox] = 0;             \
                for (int64_t ox = 0; ox < p->ow; ox++) {                                    \
                    int64_t o = oy * p->ow + ox;                                            \
                    gp[ip[o]] = (T)0 + dp[o];                                               \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }
CG_MAX_2X2_BWD_SET(float, f32)
CG_MAX_2X2_BWD_SET(double, f64)

static void max_backward_task(void *ctx, int t)
{
    const struct pool_task *pt = ctx;
    const struct cg_record *r = pt->r;
    const struct cg_window *k = &pt->k;
    struct cg_tensor *x = r->in[0];
    enum cg_dtype dt = x->dtype;
    size_t es = cg_dtype_size(dt);
    int64_t q0;
    struct cg_plane p = task_planes(pt, t, &q0);
    int64_t in_at = q0 * p.h * p.w, out_at = q0 * p.oh * p.ow;
    char *gx = (char *)x->grad->data + (size_t)in_at * es;
    const char *gy = (const char *)r->out->grad->data + (size_t)out_at * es;
    const int32_t *idx = r->aux ? (const int32_t *)r->aux + out_at : NULL;
    if (pt->set) {
        /* Windows tiling the plane exactly: each input gets 0 or its window's
         * gradient, written once (0 + g keeps the bits of adding into zeros). */
        if (idx && is_2x2(k) && p.h == 2 * p.oh && p.w == 2 * p.ow) {
            if (dt == CG_F64)
                max_2x2_bwd_set_f64((double *)gx, (const double *)gy, idx, &p);
            else
                max_2x2_bwd_set_f32((float *)gx, (const float *)gy, idx, &p);
            return;
        }
        memset(gx, 0, (size_t)(p.planes * p.h * p.w) * es);
    }
    for (int64_t q = 0; q < p.planes; q++) {
        const char *xp = (const char *)x->data + (size_t)(in_at + q * p.h * p.w) * es;
        for (int64_t oy = 0; oy < p.oh; oy++)
            for (int64_t ox = 0; ox < p.ow; ox++) {
                int64_t o = (q * p.oh + oy) * p.ow + ox;
                int64_t at = q * p.h * p.w + (idx ? idx[o] : winner(dt, xp, &p, k, oy, ox));
                if (dt == CG_F64)
                    ((double *)gx)[at] += ((const double *)gy)[o];
                else
                    ((float *)gx)[at] += ((const float *)gy)[o];
            }
    }
}

static void max_pool_backward(struct cg_record *r)
{
    if (!r->in[0]->grad) return;
    struct pool_task pt = {.r = r, .p = plane_of(r), .k = cg_window_unpack(r->scalar)};
    pt.set = cg_grad_assign(r->in[0]);
    pool_run(&pt, max_backward_task);
}

const struct cg_op cg_op_max_pool2d = {"max_pool2d", max_pool_forward, max_pool_backward,
                                       CG_OP_ASSIGNS_GRAD};

/* One average window: input rows [y0, y1), columns [x0, x1), divisor. */
struct avg_win {
    int64_t y0, y1, x0, x1;
    double div;
};

/* Fixed windows (scalar: kernel, stride, padding pairs, count_include_pad)
 * or, for the adaptive op (no scalars), PyTorch's adaptive ones. */
static struct avg_win avg_window(const struct cg_record *r, const struct cg_plane *p, int64_t oy,
                                 int64_t ox)
{
    struct avg_win a;
    if (r->op == &cg_op_adaptive_avg_pool2d) {
        a.y0 = oy * p->h / p->oh, a.y1 = ((oy + 1) * p->h + p->oh - 1) / p->oh;
        a.x0 = ox * p->w / p->ow, a.x1 = ((ox + 1) * p->w + p->ow - 1) / p->ow;
        a.div = (double)((a.y1 - a.y0) * (a.x1 - a.x0));
        return a;
    }
    int64_t kh, kw, sh, sw, ph, pw;
    cg_unpack_pair(r->scalar[0], &kh, &kw);
    cg_unpack_pair(r->scalar[1], &sh, &sw);
    cg_unpack_pair(r->scalar[2], &ph, &pw);
    a.y0 = oy * sh - ph, a.x0 = ox * sw - pw;
    a.y1 = a.y0 + kh, a.x1 = a.x0 + kw;
    if (a.y0 < 0) a.y0 = 0;
    if (a.x0 < 0) a.x0 = 0;
    if (a.y1 > p->h) a.y1 = p->h;
    if (a.x1 > p->w) a.x1 = p->w;
    a.div = r->scalar[3] != 0 ? (double)(kh * kw) : (double)((a.y1 - a.y0) * (a.x1 - a.x0));
    return a;
}

#define CG_AVG_KERNELS(T, S)                                                                 \
    static void avg_fwd_##S(const struct cg_record *r, const struct cg_plane *p)                \
    {                                                                                        \
        const T *x = r->in[0]->data;                                                         \
        T *y = r->out->data;                                                                 \
        for (int64_t q = 0; q < p->planes; q++)                                              \
            for (int64_t oy = 0; oy < p->oh; oy++)                                           \
                for (int64_t ox = 0; ox < p->ow; ox++) {                                     \
                    struct avg_win a = avg_window(r, p, oy, ox);                             \
                    double acc = 0;                                                          \
                    for (int64_t iy = a.y0; iy < a.y1; iy++)                                 \
                        for (int64_t ix = a.x0; ix < a.x1; ix++)                             \
                            acc += x[(q * p->h + iy) * p->w + ix];                           \
                    y[(q * p->oh + oy) * p->ow + ox] = (T)(acc / a.div);                     \
                }                                                                            \
    }                                                                                        \
    static void avg_bwd_##S(const struct cg_record *r, const struct cg_plane *p)                \
    {                                                                                        \
        T *dx = r->in[0]->grad->data;                                                        \
        const T *dy = r->out->grad->data;                                                    \
        for (int64_t q = 0; q < p->planes; q++)                                              \
            for (int64_t oy = 0; oy < p->oh; oy++)                                           \
                for (int64_t ox = 0; ox < p->ow; ox++) {                                     \
                    struct avg_win a = avg_window(r, p, oy, ox);                             \
                    T g = (T)(dy[(q * p->oh + oy) * p->ow + ox] / a.div);                    \
                    for (int64_t iy = a.y0; iy < a.y1; iy++)                                 \
                        for (int64_t ix = a.x0; ix < a.x1; ix++)                             \
                            dx[(q * p->h + iy) * p->w + ix] += g;                            \
                }                                                                            \
    }
CG_AVG_KERNELS(float, f32)
CG_AVG_KERNELS(double, f64)

static void avg_forward(struct cg_record *r)
{
    struct cg_plane p = plane_of(r);
    if (r->out->dtype == CG_F64)
        avg_fwd_f64(r, &p);
    else
        avg_fwd_f32(r, &p);
}

static void avg_backward(struct cg_record *r)
{
    if (!r->in[0]->grad) return;
    struct cg_plane p = plane_of(r);
    if (r->out->dtype == CG_F64)
        avg_bwd_f64(r, &p);
    else
        avg_bwd_f32(r, &p);
}

const struct cg_op cg_op_avg_pool2d = {"avg_pool2d", avg_forward, avg_backward, 0};
const struct cg_op cg_op_adaptive_avg_pool2d = {"adaptive_avg_pool2d", avg_forward,
                                                avg_backward, 0};

/* x must be 4-D with planes small enough for int32 indices. */
static bool pool_input_ok(const char *fn, const struct cg_tensor *x)
{
    char s[128];
    if (x->ndim != 4) {
        cg_misuse(fn, "x %s must be 4-D [N,C,H,W] (hint: cg_reshape a single image to "
                  "[1,C,H,W])", cg_tensor_shape_str(x, s, sizeof s));
        return false;
    }
    if (x->shape[2] * x->shape[3] > INT32_MAX) {
        cg_misuse(fn, "x %s: a plane of over %d elements is not supported",
                  cg_tensor_shape_str(x, s, sizeof s), INT32_MAX);
        return false;
    }
    return true;
}

static struct cg_tensor *pool_apply(struct cg_tape *tape, const struct cg_op *op,
                                    struct cg_tensor *x, const struct cg_window *k,
                                    const double *s, int n_s)
{
    int64_t shape[4] = {x->shape[0], x->shape[1],
                        cg_window_out(x->shape[2], k->kh, k->sh, k->ph, k->dh),
                        cg_window_out(x->shape[3], k->kw, k->sw, k->pw, k->dw)};
    return cg_op_apply(tape, op, 1, &x, x->dtype, 4, shape, s, n_s);
}

struct cg_tensor *cg_max_pool2d(struct cg_tape *tape, struct cg_tensor *x, int64_t kernel_h,
                                int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                                int64_t dilation_w)
{
    CG_CHECK_NOT_NULL("cg_max_pool2d", x, "x");
    if (!pool_input_ok("cg_max_pool2d", x)) return NULL;
    struct cg_window k = {kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, dilation_h,
                          dilation_w};
    char sx[128];
    if (!cg_window_check("cg_max_pool2d", &k, x->shape[2], x->shape[3], true,
                         cg_tensor_shape_str(x, sx, sizeof sx)))
        return NULL;
    double s[4];
    cg_window_pack(&k, s);
    return pool_apply(tape, &cg_op_max_pool2d, x, &k, s, 4);
}

struct cg_tensor *cg_avg_pool2d(struct cg_tape *tape, struct cg_tensor *x, int64_t kernel_h,
                                int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                int64_t pad_h, int64_t pad_w, bool count_include_pad)
{
    CG_CHECK_NOT_NULL("cg_avg_pool2d", x, "x");
    if (!pool_input_ok("cg_avg_pool2d", x)) return NULL;
    struct cg_window k = {kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w, 1, 1};
    char sx[128];
    if (!cg_window_check("cg_avg_pool2d", &k, x->shape[2], x->shape[3], true,
                         cg_tensor_shape_str(x, sx, sizeof sx)))
        return NULL;
    double s[4] = {cg_pack_pair(kernel_h, kernel_w), cg_pack_pair(stride_h, stride_w),
                   cg_pack_pair(pad_h, pad_w), count_include_pad ? 1.0 : 0.0};
    return pool_apply(tape, &cg_op_avg_pool2d, x, &k, s, 4);
}

struct cg_tensor *cg_adaptive_avg_pool2d(struct cg_tape *tape, struct cg_tensor *x,
                                         int64_t out_h, int64_t out_w)
{
    CG_CHECK_NOT_NULL("cg_adaptive_avg_pool2d", x, "x");
    if (!pool_input_ok("cg_adaptive_avg_pool2d", x)) return NULL;
    if (out_h < 1 || out_w < 1 || out_h > INT32_MAX || out_w > INT32_MAX) {
        cg_misuse("cg_adaptive_avg_pool2d", "output size %" PRId64 " x %" PRId64 ": need "
                  "both >= 1", out_h, out_w);
        return NULL;
    }
    int64_t shape[4] = {x->shape[0], x->shape[1], out_h, out_w};
    return cg_op_apply(tape, &cg_op_adaptive_avg_pool2d, 1, &x, x->dtype, 4, shape, NULL, 0);
}
