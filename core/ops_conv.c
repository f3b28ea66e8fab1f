/* Convolution op (Conv2d; Conv1d runs it with height 1) by im2col + GEMM.
 * The forward product and the weight and input gradients run the row-tile
 * kernels of conv_rows.h instead where they apply (f32, no padding, column
 * stride 1, AVX2 + FMA without full-width AVX-512), and the forward
 * product and the input gradient of 3x3 stride-1 convolutions Winograd's
 * F(2x2, 3x3) of conv_winograd.h (padding up to 2) before those.
 *
 * Per sample and group: col [Cg kH kW, oH oW] = im2col(x), then
 *   y  [Og, oH oW]    = W_g [Og, Cg kH kW] col (+ bias, written first, beta 1)
 *   dW [Og, Cg kH kW] += dy col^T
 *   dx += col2im(W_g^T dy)
 * A 1x1 convolution with stride 1 and no padding uses x itself as col.
 * The batch is cut over the pool by samples, each task with its own col
 * scratch from the tape; task 0 accumulates the weight gradient in place,
 * the others into zeroed partial sums added afterwards in task order, so
 * the result depends only on the thread count. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "conv_geom.h"
#include "conv_rows.h"
#include "conv_winograd.h"
#include "dims.h"
#include "error_internal.h"
#include "gemm.h"
#include "im2col.h"
#include "multiarch.h"
#include "op_list.h"
#include "parallel.h"
#include "pool_2x2.h"
#include "cgrad/conv_ops.h"
#include "cgrad/op.h"
#include "cgrad/ops.h"

struct conv {
    enum cg_dtype dt;
    size_t es;                               /* element size */
    int64_t n, c, h, w, o, groups, cg, og;   /* og, cg: channels per group */
    int64_t kk, oh, ow, ohw;                 /* kk = cg kH kW */
    struct cg_window k;
    bool direct;                             /* x is its own col */
    bool relu;                               /* conv2d_relu: ReLU fused */
    bool pool;                               /* and MaxPool2d(2) after it */
    int64_t pooled;                          /* pool: one sample's output count */
    size_t ybytes;                           /* pool: one sample's conv output */
    int parts;                               /* tasks the batch is cut into */
};

static struct conv conv_of(const struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *w = r->in[1];
    struct conv c = {.dt = r->out->dtype, .es = cg_dtype_size(r->out->dtype)};
    c.n = x->shape[0], c.c = x->shape[1], c.h = x->shape[2], c.w = x->shape[3];
    c.o = w->shape[0];
    c.k.kh = w->shape[2], c.k.kw = w->shape[3];
    cg_unpack_pair(r->scalar[0], &c.k.sh, &c.k.sw);
    cg_unpack_pair(r->scalar[1], &c.k.ph, &c.k.pw);
    cg_unpack_pair(r->scalar[2], &c.k.dh, &c.k.dw);
    c.groups = (int64_t)r->scalar[3];
    c.cg = c.c / c.groups, c.og = c.o / c.groups;
    c.kk = c.cg * c.k.kh * c.k.kw;
    c.oh = cg_window_out(c.h, c.k.kh, c.k.sh, c.k.ph, c.k.dh);
    c.ow = cg_window_out(c.w, c.k.kw, c.k.sw, c.k.pw, c.k.dw);
    c.ohw = c.oh * c.ow;
    c.direct = c.k.kh == 1 && c.k.kw == 1 && c.k.sh == 1 && c.k.sw == 1 && c.k.ph == 0 &&
               c.k.pw == 0;
    c.pool = r->op == &cg_op_conv2d_relu_max_pool2d;
    c.relu = c.pool || r->op == &cg_op_conv2d_relu;
    c.pooled = c.o * (c.oh / 2) * (c.ow / 2);
    c.ybytes = c.pool ? (size_t)(c.o * c.ohw) * c.es : 0;
    int threads = cg_parallel_threads();
    c.parts = c.n < threads ? (int)(c.n > 0 ? c.n : 1) : threads;
    return c;
}

/* Byte offset of element i. */
#define AT(base, i, c) ((char *)(base) + (size_t)(i) * (c)->es)
#define CAT(base, i, c) ((const char *)(base) + (size_t)(i) * (c)->es)

struct conv_task {
    struct conv g;
    const struct cg_record *r;
    char *scratch;     /* per task: col (in backward also dcol, in the same space) */
    size_t task_bytes;
    char *dw_parts;    /* backward: partial dW of tasks 1.. */
    const float *packed;  /* forward by the row-tile kernel: its weights, */
    const int32_t *off;   /* and offsets (NULL: im2col + GEMM); backward: dW's */
    const float *packed_t;  /* backward: the input gradient's kernel weights, */
    const int32_t *off_t;   /* and offsets (NULL: GEMM + col2im) */
    const float *wino_u;    /* Winograd's weights (forward, or backward's dx), or NULL */
    size_t wino_at, wino_bytes; /* its scratch within a task's */
    bool set_dx;       /* backward: dx unwritten, each sample's slice assigned */
    double *bias_sums; /* backward: [n, o] per-sample sums of dy, or NULL */
};

/* The GEMM input for sample n, group gi: x itself or its im2col in col. */
static const void *columns(const struct conv *g, const void *x, int64_t n, int64_t gi, void *col)
{
    const void *xg = CAT(x, (n * g->c + gi * g->cg) * g->h * g->w, g);
    if (g->direct) return xg;
    cg_im2col(g->dt, col, xg, g->cg, g->h, g->w, &g->k, g->oh, g->ow);
    return col;
}

CG_MULTIARCH static void conv_fill_bias(const struct conv *g, void *y, const void *b)
{
    for (int64_t o = 0; o < g->og; o++) {
        if (g->dt == CG_F64) {
            double *row = (double *)y + o * g->ohw, v = ((const double *)b)[o];
            for (int64_t i = 0; i < g->ohw; i++) row[i] = v;
        } else {
            float *row = (float *)y + o * g->ohw, v = ((const float *)b)[o];
            for (int64_t i = 0; i < g->ohw; i++) row[i] = v;
        }
    }
}

/* ReLU fused into the convolution: applied to each sample's output right
 * after its GEMM (in cache; with the pool, to the pooled output), and in
 * backward to each sample's dy, in place, before its GEMMs.  The same
 * expressions as the relu op (from the output: relu(z) > 0 exactly where
 * z > 0), so relu(conv2d(...)) bit for bit. */
#define CG_CONV_RELU_KERNELS(T, S)                                                          \
    CG_MULTIARCH static void relu_in_place_##S(T *restrict y, int64_t n)                    \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                   \
            T v = y[i];                                                                     \
            y[i] = ((v > 0) | (v != v)) ? v : (T)0;                                         \
        }                                                                                   \
    }                                                                                       \
    CG_MULTIARCH static void relu_mask_##S(T *restrict dy, const T *restrict y, int64_t n)  \
    {                                                                                       \
        for (int64_t i = 0; i < n; i++) {                                                   \
            T v = y[i];                                                                     \
            T d = ((v > 0) | (v != v)) ? (T)1 : (T)0;                                       \
            dy[i] = (T)0 + dy[i] * d;                                                       \
        }                                                                                   \
    }
CG_CONV_RELU_KERNELS(float, f32)
CG_CONV_RELU_KERNELS(double, f64)

static void relu_in_place(const struct conv *g, void *y, int64_t n)
{
    if (g->dt == CG_F64)
        relu_in_place_f64(y, n);
    else
        relu_in_place_f32(y, n);
}

static void relu_mask(const struct conv *g, void *dy, const void *y, int64_t n)
{
    if (g->dt == CG_F64)
        relu_mask_f64(dy, y, n);
    else
        relu_mask_f32(dy, y, n);
}

/* The sample's conv output planes as the 2x2 pooling sees them. */
static struct cg_plane sample_planes(const struct conv *g)
{
    return (struct cg_plane){g->o, g->oh, g->ow, g->oh / 2, g->ow / 2};
}

static void forward_task(void *ctx, int t)
{
    const struct conv_task *ct = ctx;
    const struct conv *g = &ct->g;
    const struct cg_record *r = ct->r;
    char *col = ct->scratch + (size_t)t * ct->task_bytes;
    /* pool: the sample's conv output stays in this task's scratch (in cache) */
    char *ybuf = col + (ct->task_bytes - g->ybytes);
    float *wino = (float *)(void *)(col + ct->wino_at);
    if (ct->wino_u) memset(wino, 0, ct->wino_bytes); /* its zero padding */
    int64_t lo, hi;
    cg_split_range(g->n, g->parts, t, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        for (int64_t gi = 0; gi < g->groups; gi++) {
            void *y = g->pool ? AT(ybuf, gi * g->og * g->ohw, g)
                              : AT(r->out->data, (n * g->o + gi * g->og) * g->ohw, g);
            if (ct->wino_u || ct->packed) { /* cgrad's kernels: no col, bias added in them */
                const float *xg = (const float *)r->in[0]->data +
                                  (n * g->c + gi * g->cg) * g->h * g->w;
                const float *bias =
                    r->n_in == 3 ? (const float *)r->in[2]->data + gi * g->og : NULL;
                if (ct->wino_u) {
                    size_t per_group = cg_winograd_pack_bytes(1, g->og, g->cg) / sizeof(float);
                    cg_winograd_run(y, false, xg, ct->wino_u + (size_t)gi * per_group, bias,
                                    g->cg, g->og, g->h, g->w, g->k.ph, g->k.pw, wino);
                } else {
                    size_t per_group = cg_conv_rows_pack_bytes(1, g->og, g->kk) / sizeof(float);
                    cg_conv_rows_forward(y, xg, ct->packed + (size_t)gi * per_group, ct->off,
                                         bias, g->og, g->kk, g->w, &g->k, g->oh, g->ow);
                }
            } else {
                double beta = 0;
                if (r->n_in == 3) {
                    conv_fill_bias(g, y, CAT(r->in[2]->data, gi * g->og, g));
                    beta = 1;
                }
                struct cg_gemm_job job = {g->dt, false, false, g->og, g->ohw, g->kk,
                                          CAT(r->in[1]->data, gi * g->og * g->kk, g), g->kk,
                                          columns(g, r->in[0]->data, n, gi, col), g->ohw, beta,
                                          y, g->ohw, CG_SPLIT_ROWS};
                cg_gemm_one(&job);
            }
            if (g->relu && !g->pool) relu_in_place(g, y, g->og * g->ohw);
        }
        if (g->pool) {
            struct cg_plane p = sample_planes(g);
            int32_t *idx = r->aux ? (int32_t *)r->aux + n * g->pooled : NULL;
            void *out = AT(r->out->data, n * g->pooled, g);
            /* relu(max) = max(relu) (relu is monotone and keeps NaN), on a
             * quarter of the values.  Where the whole window is <= 0 the
             * winner may be another element, but its gradient is masked to
             * 0 either way, so outputs and gradients keep their bits. */
            if (g->dt == CG_F64)
                cg_max_2x2_f64(out, idx, (const double *)(const void *)ybuf, &p);
            else
                cg_max_2x2_f32(out, idx, (const float *)(const void *)ybuf, &p);
            relu_in_place(g, out, g->pooled);
        }
    }
}

static void conv_forward(struct cg_record *r)
{
    struct conv_task ct = {.g = conv_of(r), .r = r};
    const struct conv *g = &ct.g;
    bool wino = !g->direct && cg_winograd_usable(g->dt, &g->k, g->cg, g->og);
    bool rows = !wino && !g->direct && cg_conv_rows_usable(g->dt, &g->k, g->cg, g->h, g->w);
    size_t pack_bytes = rows ? cg_conv_rows_pack_bytes(g->groups, g->og, g->kk)
                        : wino ? cg_winograd_pack_bytes(g->groups, g->og, g->cg)
                               : 0;
    size_t off_bytes = rows ? cg_conv_rows_offsets_bytes(g->kk) : 0;
    ct.wino_bytes =
        wino ? cg_winograd_scratch_bytes(g->cg, g->og, g->h, g->w, g->k.ph, g->k.pw) : 0;
    ct.task_bytes = (g->direct || rows || wino ? 0 : (size_t)(g->kk * g->ohw) * g->es) +
                    ct.wino_bytes + g->ybytes;
    size_t idx_bytes = g->pool && (r->out->flags & CG_REQUIRES_GRAD)
                           ? (size_t)(g->n * g->pooled) * sizeof(int32_t)
                           : 0;
    if (ct.task_bytes + idx_bytes + pack_bytes) {
        size_t tasks_bytes = ct.task_bytes * (size_t)g->parts;
        ct.scratch = cg_tape_alloc(r->tape, idx_bytes + tasks_bytes + pack_bytes + off_bytes);
        if (!ct.scratch) { /* NOMEM recorded in cg_last_error(); NaN marks the output */
            cg_tensor_fill(r->out, NAN);
            return;
        }
        r->aux = idx_bytes ? ct.scratch : NULL; /* pool: winners, for backward */
        ct.scratch += idx_bytes;
        if (rows) { /* weights packed once for all samples, after the tasks' space */
            float *packed = (float *)(void *)(ct.scratch + tasks_bytes);
            int32_t *off = (int32_t *)(void *)(ct.scratch + tasks_bytes + pack_bytes);
            cg_conv_rows_pack(packed, off, r->in[1]->data, g->groups, g->og, g->cg, &g->k, g->h,
                              g->w);
            ct.packed = packed, ct.off = off;
        }
        if (wino) {
            float *u = (float *)(void *)(ct.scratch + tasks_bytes);
            cg_winograd_pack(u, r->in[1]->data, g->groups, g->og, g->cg, false);
            ct.wino_u = u;
        }
    }
    cg_parallel_run(g->parts, forward_task, &ct);
}

/* Fused pool backward for one sample: the conv output's gradient, zero
 * except at each window's winner, which gets the pooled gradient masked
 * by the ReLU.  The winner's value is the pooled output v, so the mask is
 * the relu op's (v > 0 or NaN); the expression is max_pool2d's assignment
 * followed by conv2d_relu's mask, so the bits are those of the unfused ops. */
#define CG_CONV_POOL_GRAD(T, S)                                                             \
    CG_MULTIARCH static void conv_pool_grad_##S(const struct conv *g, T *restrict d,       \
                                                const T *restrict v, const T *restrict gp, \
                                                const int32_t *restrict idx)               \
    {                                                                                       \
        memset(d, 0, g->ybytes);                                                            \
        int64_t per_plane = (g->oh / 2) * (g->ow / 2);                                      \
        /* restrict: the winners' stores do not touch the inputs (a vector scatter) */      \
        for (int64_t q = 0; q < g->o; q++) {                                                \
            T *restrict dq = d + q * g->ohw;                                                \
            const T *restrict vq = v + q * per_plane, *restrict gq = gp + q * per_plane;    \
            const int32_t *restrict iq = idx + q * per_plane;                               \
            for (int64_t e = 0; e < per_plane; e++) {                                       \
                T u = vq[e], m = ((u > 0) | (u != u)) ? (T)1 : (T)0;                        \
                dq[iq[e]] = (T)0 + ((T)0 + gq[e]) * m;                                      \
            }                                                                               \
        }                                                                                   \
    }
CG_CONV_POOL_GRAD(float, f32)
CG_CONV_POOL_GRAD(double, f64)

static void pool_grad(const struct conv *g, void *dyc, const void *pooled, const void *dpool,
                      const int32_t *idx)
{
    if (g->dt == CG_F64)
        conv_pool_grad_f64(g, dyc, pooled, dpool, idx);
    else
        conv_pool_grad_f32(g, dyc, pooled, dpool, idx);
}

/* sums[o] = sum over the pixels of one sample's dy[o, :], in double with
 * independent lanes (one running sum would be a chain of dependent adds).
 * Run per sample while its dy is in cache; conv_backward adds the samples
 * in order, so the bias gradient does not depend on the thread count. */
enum { BIAS_LANES = 16 }; /* 4 chains of 4 doubles: 2 were bound by the add latency */
#define CG_CONV_ROW_SUMS(T)                                                                 \
    do {                                                                                    \
        for (int64_t o = 0; o < g->o; o++) {                                                \
            const T *row = (const T *)dy + o * g->ohw;                                      \
            double lane[BIAS_LANES] = {0}, acc = 0;                                         \
            int64_t i = 0;                                                                  \
            for (; i + BIAS_LANES <= g->ohw; i += BIAS_LANES)                               \
                for (int l = 0; l < BIAS_LANES; l++) lane[l] += (double)row[i + l];         \
            for (; i < g->ohw; i++) acc += (double)row[i];                                  \
            for (int l = 0; l < BIAS_LANES; l++) acc += lane[l];                            \
            sums[o] = acc;                                                                  \
        }                                                                                   \
    } while (0)

CG_MULTIARCH static void conv_row_sums(const struct conv *g, double *sums, const void *dy)
{
    if (g->dt == CG_F64)
        CG_CONV_ROW_SUMS(double);
    else
        CG_CONV_ROW_SUMS(float);
}

static void backward_task(void *ctx, int t)
{
    const struct conv_task *ct = ctx;
    const struct conv *g = &ct->g;
    const struct cg_record *r = ct->r;
    const struct cg_tensor *x = r->in[0], *w = r->in[1];
    char *col = ct->scratch + (size_t)t * ct->task_bytes;
    char *dyc = col + (ct->task_bytes - g->ybytes); /* pool: the sample's conv dy */
    /* dcol reuses col's space: col is dead once dW's GEMM has read it, and
     * one buffer less keeps the sample's working set in L2. */
    char *dcol = col;
    float *wino = (float *)(void *)(col + ct->wino_at);
    if (ct->wino_u) memset(wino, 0, ct->wino_bytes); /* its zero padding */
    void *dw = NULL;
    if (w->grad) {
        size_t wbytes = (size_t)(g->o * g->kk) * g->es;
        dw = t == 0 ? w->grad->data : ct->dw_parts + (size_t)(t - 1) * wbytes;
        if (t > 0) memset(dw, 0, wbytes);
    }
    int64_t lo, hi;
    cg_split_range(g->n, g->parts, t, 1, &lo, &hi);
    for (int64_t n = lo; n < hi; n++) {
        void *dy; /* this sample's gradient of the conv output */
        if (g->pool) {
            dy = dyc;
            pool_grad(g, dy, CAT(r->out->data, n * g->pooled, g),
                      CAT(r->out->grad->data, n * g->pooled, g),
                      (const int32_t *)r->aux + n * g->pooled);
        } else {
            dy = AT(r->out->grad->data, n * g->o * g->ohw, g);
            if (g->relu)
                relu_mask(g, dy, CAT(r->out->data, n * g->o * g->ohw, g), g->o * g->ohw);
        }
        if (ct->bias_sums) conv_row_sums(g, ct->bias_sums + n * g->o, dy);
        for (int64_t gi = 0; gi < g->groups; gi++) {
            const void *dyg = CAT(dy, gi * g->og * g->ohw, g);
            const void *wg = CAT(w->data, gi * g->og * g->kk, g);
            if (dw && ct->off) { /* the row-tile kernel's weight gradient: no col */
                const float *xg = (const float *)x->data + (n * g->c + gi * g->cg) * g->h * g->w;
                cg_conv_rows_weight_grad((float *)(void *)AT(dw, gi * g->og * g->kk, g), dyg, xg,
                                         ct->off, g->og, g->kk, g->w, &g->k, g->oh, g->ow);
            } else if (dw) { /* dW_g += dy_g col^T */
                struct cg_gemm_job job = {g->dt, false, true, g->og, g->kk, g->ohw, dyg, g->ohw,
                                          columns(g, x->data, n, gi, col), g->ohw, 1.0,
                                          AT(dw, gi * g->og * g->kk, g), g->kk, CG_SPLIT_ROWS};
                cg_gemm_one(&job);
            }
            if (x->grad) { /* dcol = W_g^T dy_g, folded back into dx */
                void *dxg = AT(x->grad->data, (n * g->c + gi * g->cg) * g->h * g->w, g);
                if (ct->wino_u) { /* the 180-degree turned kernel over dy padded by 2 - p */
                    size_t per_group = cg_winograd_pack_bytes(1, g->cg, g->og) / sizeof(float);
                    cg_winograd_run(dxg, !ct->set_dx, dyg, ct->wino_u + (size_t)gi * per_group,
                                    NULL, g->og, g->cg, g->oh, g->ow, 2 - g->k.ph,
                                    2 - g->k.pw, wino);
                    continue;
                }
                /* An unwritten dx is zeroed slice by slice, while in cache. */
                if (ct->set_dx && !g->direct)
                    memset(dxg, 0, (size_t)(g->cg * g->h * g->w) * g->es);
                if (ct->packed_t) { /* the row-tile kernel, straight into dx */
                    size_t per_group = cg_conv_rows_pack_t_bytes(1, g->og, g->cg, &g->k) /
                                       sizeof(float);
                    cg_conv_rows_input_grad(dxg, dyg, ct->packed_t + (size_t)gi * per_group,
                                            ct->off_t, g->og, g->cg, &g->k, g->h, g->w, g->oh,
                                            g->ow);
                    continue;
                }
                struct cg_gemm_job job = {g->dt, true, false, g->kk, g->ohw, g->og, wg, g->kk,
                                          dyg, g->ohw, g->direct && !ct->set_dx ? 1.0 : 0.0,
                                          g->direct ? dxg : (void *)dcol, g->ohw,
                                          CG_SPLIT_ROWS};
                cg_gemm_one(&job);
                if (!g->direct)
                    cg_col2im_add(g->dt, dxg, dcol, g->cg, g->h, g->w, &g->k, g->oh, g->ow);
            }
        }
    }
}

/* db[o] += the per-sample sums, samples in order. */
static void conv_bias_grad(const struct conv *g, void *db, const double *sums)
{
    for (int64_t o = 0; o < g->o; o++) {
        double acc = 0;
        for (int64_t n = 0; n < g->n; n++) acc += sums[n * g->o + o];
        if (g->dt == CG_F64)
            ((double *)db)[o] += acc;
        else
            ((float *)db)[o] += (float)acc;
    }
}

static void conv_backward(struct cg_record *r)
{
    struct conv_task ct = {.g = conv_of(r), .r = r};
    const struct conv *g = &ct.g;
    const struct cg_tensor *x = r->in[0], *w = r->in[1];
    const struct cg_tensor *b = r->n_in == 3 ? r->in[2] : NULL;
    size_t colb = (size_t)(g->kk * g->ohw) * g->es, wbytes = (size_t)(g->o * g->kk) * g->es;
    if (x->grad) ct.set_dx = cg_grad_assign(r->in[0]);
    if (w->grad && cg_grad_assign_scratch(r->in[1])) memset(w->grad->data, 0, wbytes);
    if (b && b->grad && cg_grad_assign_scratch(r->in[2]))
        memset(b->grad->data, 0, (size_t)g->o * g->es);
    if (!x->grad && !w->grad && !(b && b->grad)) {
        if (g->relu && !g->pool)
            relu_mask(g, r->out->grad->data, r->out->data, g->n * g->o * g->ohw);
        return;
    }
    if (g->pool && !r->aux) return; /* forward ran out of memory (recorded) */
    ct.task_bytes = (g->direct || (!x->grad && !w->grad) ? 0 : colb) + g->ybytes;
    size_t parts_bytes = w->grad ? (size_t)(g->parts - 1) * wbytes : 0;
    size_t sums_bytes = b && b->grad ? (size_t)(g->n * g->o) * sizeof(double) : 0;
    bool rows = w->grad && !g->direct && cg_conv_rows_usable(g->dt, &g->k, g->cg, g->h, g->w);
    size_t off_bytes = rows ? cg_conv_rows_offsets_bytes(g->kk) : 0;
    bool wino_dx = x->grad && !g->direct && cg_winograd_usable(g->dt, &g->k, g->og, g->cg);
    /* (4 input channels per tile: with fewer, most of a tile is padding) */
    bool rows_dx = x->grad && !wino_dx && !g->direct && g->cg >= CG_CONV_ROWS_M &&
                   g->og * g->ohw <= INT32_MAX &&
                   cg_conv_rows_usable(g->dt, &g->k, g->cg, g->h, g->w);
    size_t pack_t_bytes = rows_dx ? cg_conv_rows_pack_t_bytes(g->groups, g->og, g->cg, &g->k) : 0;
    size_t off_t_bytes = rows_dx ? cg_conv_rows_offsets_bytes(g->k.kh * g->og) : 0;
    size_t wino_pack = wino_dx ? cg_winograd_pack_bytes(g->groups, g->cg, g->og) : 0;
    /* col: im2col for dW, or dcol for dx, unless the kernels do both */
    bool need_col = !g->direct && ((w->grad && !rows) || (x->grad && !rows_dx && !wino_dx));
    ct.wino_at = need_col ? colb : 0;
    ct.wino_bytes = wino_dx ? cg_winograd_scratch_bytes(g->og, g->cg, g->oh, g->ow,
                                                        2 - g->k.ph, 2 - g->k.pw)
                            : 0;
    ct.task_bytes = ct.wino_at + ct.wino_bytes + g->ybytes;
    size_t bytes = sums_bytes + ct.task_bytes * (size_t)g->parts + parts_bytes + off_bytes +
                   pack_t_bytes + off_t_bytes + wino_pack;
    if (bytes) {
        ct.scratch = cg_tape_alloc(r->tape, bytes);
        if (!ct.scratch) return; /* NOMEM recorded: cg_backward reports it */
        /* sums first: the arena's alignment suits doubles */
        ct.bias_sums = sums_bytes ? (double *)(void *)ct.scratch : NULL;
        ct.scratch += sums_bytes;
        ct.dw_parts = ct.scratch + ct.task_bytes * (size_t)g->parts;
        if (rows) {
            int32_t *off = (int32_t *)(void *)(ct.dw_parts + parts_bytes);
            cg_conv_rows_pack(NULL, off, NULL, g->groups, g->og, g->cg, &g->k, g->h, g->w);
            ct.off = off;
        }
        if (rows_dx) {
            char *at = ct.dw_parts + parts_bytes + off_bytes;
            float *packed_t = (float *)(void *)at;
            int32_t *off_t = (int32_t *)(void *)(at + pack_t_bytes);
            cg_conv_rows_pack_t(packed_t, off_t, w->data, g->groups, g->og, g->cg, &g->k, g->oh,
                                g->ow);
            ct.packed_t = packed_t, ct.off_t = off_t;
        }
        if (wino_dx) {
            float *u = (float *)(void *)(ct.dw_parts + parts_bytes + off_bytes + pack_t_bytes +
                                         off_t_bytes);
            cg_winograd_pack(u, w->data, g->groups, g->og, g->cg, true);
            ct.wino_u = u;
        }
    }
    cg_parallel_run(g->parts, backward_task, &ct); /* masks dy too (relu) */
    if (w->grad)
        for (int t = 1; t < g->parts; t++)
            cg_accumulate(g->dt, w->grad->data, ct.dw_parts + (size_t)(t - 1) * wbytes,
                          g->o * g->kk);
    if (ct.bias_sums) conv_bias_grad(g, b->grad->data, ct.bias_sums);
}

const struct cg_op cg_op_conv2d = {"conv2d", conv_forward, conv_backward, CG_OP_ASSIGNS_GRAD};
const struct cg_op cg_op_conv2d_relu = {"conv2d_relu", conv_forward, conv_backward,
                                        CG_OP_ASSIGNS_GRAD};
const struct cg_op cg_op_conv2d_relu_max_pool2d = {"conv2d_relu_max_pool2d", conv_forward,
                                                   conv_backward, CG_OP_ASSIGNS_GRAD};

/* Checks the arguments of cg_conv2d / cg_conv1d (`dims` spatial dims) and
 * fills the window (kernel from the weight). */
static bool conv_check(const char *fn, int dims, const struct cg_tensor *x,
                       const struct cg_tensor *w, const struct cg_tensor *b,
                       const struct cg_conv2d_params *p, struct cg_window *k)
{
    char sx[128], sw[128], sb[128];
    const char *layout = dims == 2 ? "[N,C,H,W]" : "[N,C,L]";
    const char *wlayout = dims == 2 ? "[out,in/groups,kH,kW]" : "[out,in/groups,k]";
    if (x->ndim != dims + 2) {
        cg_misuse(fn, "x %s must be %d-D %s", cg_tensor_shape_str(x, sx, sizeof sx), dims + 2,
                  layout);
        return false;
    }
    if (w->ndim != dims + 2) {
        cg_misuse(fn, "weight %s must be %d-D %s", cg_tensor_shape_str(w, sw, sizeof sw),
                  dims + 2, wlayout);
        return false;
    }
    cg_tensor_shape_str(x, sx, sizeof sx);
    cg_tensor_shape_str(w, sw, sizeof sw);
    int64_t c = x->shape[1], o = w->shape[0], gr = p->groups;
    if (gr < 1 || gr >= CG_GEOM_MAX) {
        cg_misuse(fn, "groups = %" PRId64 ": need groups >= 1 (1 for an ordinary convolution)",
                  gr);
        return false;
    }
    if (c % gr != 0 || o % gr != 0) {
        cg_misuse(fn, "in_channels %" PRId64 " (x %s) and out_channels %" PRId64 " (weight %s) "
                  "must both be divisible by groups = %" PRId64, c, sx, o, sw, gr);
        return false;
    }
    if (w->shape[1] * gr != c) {
        cg_misuse(fn, "x %s has %" PRId64 " channels but weight %s expects %" PRId64
                  " (in/groups = %" PRId64 " x groups = %" PRId64 ")", sx, c, sw,
                  w->shape[1] * gr, w->shape[1], gr);
        return false;
    }
    if (b && (b->ndim != 1 || b->shape[0] != o)) {
        cg_misuse(fn, "bias %s does not match weight %s (need [%" PRId64 "], one per output "
                  "channel)", cg_tensor_shape_str(b, sb, sizeof sb), sw, o);
        return false;
    }
    int64_t h = dims == 2 ? x->shape[2] : 1, wd = x->shape[dims + 1];
    *k = (struct cg_window){dims == 2 ? w->shape[2] : 1, w->shape[dims + 1], p->stride[0],
                            p->stride[1], p->padding[0], p->padding[1], p->dilation[0],
                            p->dilation[1]};
    return cg_window_check(fn, k, h, wd, false, sx);
}

static struct cg_tensor *conv_apply(const struct cg_op *op, struct cg_tape *tape,
                                    struct cg_tensor *x, struct cg_tensor *w,
                                    struct cg_tensor *b, const struct cg_window *k,
                                    int64_t groups)
{
    double s[4] = {cg_pack_pair(k->sh, k->sw), cg_pack_pair(k->ph, k->pw),
                   cg_pack_pair(k->dh, k->dw), (double)groups};
    int64_t shape[4] = {x->shape[0], w->shape[0],
                        cg_window_out(x->shape[2], k->kh, k->sh, k->ph, k->dh),
                        cg_window_out(x->shape[3], k->kw, k->sw, k->pw, k->dw)};
    if (op == &cg_op_conv2d_relu_max_pool2d) shape[2] /= 2, shape[3] /= 2;
    struct cg_tensor *in[3] = {x, w, b};
    return cg_op_apply(tape, op, b ? 3 : 2, in, x->dtype, 4, shape, s, 4);
}

/* The fused MaxPool2d(2) needs conv output planes of at least 2x2 whose
 * flat indices fit the int32 winners. */
static bool pool_fits(const char *fn, const struct cg_tensor *x, const struct cg_window *k)
{
    int64_t oh = cg_window_out(x->shape[2], k->kh, k->sh, k->ph, k->dh);
    int64_t ow = cg_window_out(x->shape[3], k->kw, k->sw, k->pw, k->dw);
    if (oh < 2 || ow < 2) {
        char sx[128];
        cg_misuse(fn, "the convolution of x %s gives %" PRId64 "x%" PRId64 " planes: "
                  "MaxPool2d(2) needs at least 2x2", cg_tensor_shape_str(x, sx, sizeof sx),
                  oh, ow);
        return false;
    }
    if (oh > INT32_MAX / ow) {
        cg_misuse(fn, "conv output planes of %" PRId64 "x%" PRId64 " are too large for "
                  "int32 window indices", oh, ow);
        return false;
    }
    return true;
}

/* cg_conv2d and its fused forms: checks (messages name fn), then `op`. */
static struct cg_tensor *conv2d_entry(const char *fn, const struct cg_op *op,
                                      struct cg_tape *tape, struct cg_tensor *x,
                                      struct cg_tensor *weight, struct cg_tensor *bias,
                                      const struct cg_conv2d_params *p)
{
    CG_CHECK_NOT_NULL(fn, x, "x");
    CG_CHECK_NOT_NULL(fn, weight, "weight");
    struct cg_conv2d_params q = p ? *p : CG_CONV2D_PARAMS(1, 0, 1, 1);
    struct cg_window k;
    if (!conv_check(fn, 2, x, weight, bias, &q, &k)) return NULL;
    if (op == &cg_op_conv2d_relu_max_pool2d && !pool_fits(fn, x, &k)) return NULL;
    return conv_apply(op, tape, x, weight, bias, &k, q.groups);
}

struct cg_tensor *cg_conv2d(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *weight,
                            struct cg_tensor *bias, const struct cg_conv2d_params *p)
{
    return conv2d_entry("cg_conv2d", &cg_op_conv2d, tape, x, weight, bias, p);
}

struct cg_tensor *cg_conv2d_relu(struct cg_tape *tape, struct cg_tensor *x,
                                 struct cg_tensor *weight, struct cg_tensor *bias,
                                 const struct cg_conv2d_params *p)
{
    return conv2d_entry("cg_conv2d_relu", &cg_op_conv2d_relu, tape, x, weight, bias, p);
}

struct cg_tensor *cg_conv2d_relu_max_pool2d(struct cg_tape *tape, struct cg_tensor *x,
                                            struct cg_tensor *weight, struct cg_tensor *bias,
                                            const struct cg_conv2d_params *p)
{
    return conv2d_entry("cg_conv2d_relu_max_pool2d", &cg_op_conv2d_relu_max_pool2d, tape, x,
                        weight, bias, p);
}

struct cg_tensor *cg_conv1d(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *weight,
                            struct cg_tensor *bias, int64_t stride, int64_t padding,
                            int64_t dilation, int64_t groups)
{
    CG_CHECK_NOT_NULL("cg_conv1d", x, "x");
    CG_CHECK_NOT_NULL("cg_conv1d", weight, "weight");
    struct cg_conv2d_params p = {{1, stride}, {0, padding}, {1, dilation}, groups};
    struct cg_window k;
    if (!conv_check("cg_conv1d", 1, x, weight, bias, &p, &k)) return NULL;
    /* [N,C,L] as [N,C,1,L]: views, so gradients flow through the reshapes. */
    struct cg_tensor *x4 = cg_reshape(tape, x, CG_SHAPE(x->shape[0], x->shape[1], 1, x->shape[2]));
    struct cg_tensor *w4 = x4 ? cg_reshape(tape, weight, CG_SHAPE(weight->shape[0],
                                                                  weight->shape[1], 1,
                                                                  weight->shape[2]))
                              : NULL;
    struct cg_tensor *y = w4 ? conv_apply(&cg_op_conv2d, tape, x4, w4, bias, &k, groups) : NULL;
    return y ? cg_reshape(tape, y, CG_SHAPE(y->shape[0], y->shape[1], y->shape[3])) : NULL;
}
