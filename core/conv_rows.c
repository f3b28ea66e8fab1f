/* The row-tile convolution kernels (see conv_rows.h).  Forward: a tile is
 * 4 output channels x 24 columns, 12 accumulators, 3 input loads and 4
 * weight broadcasts per step, so the FMAs, not the loads, bound it.  Each
 * accumulator sums its K products in step order (one FMA each), and the
 * bias is added last, as BLAS adds a product to a bias already in C.
 * Weight gradient: a tile is 4 output channels x 3 steps, each of its 12
 * accumulators 8 lanes of output positions; per 8 positions 3 input and
 * 4 gradient loads feed 12 FMAs.  Input gradient: the forward tile run
 * the other way, 4 input channels at one kernel position x 24 columns,
 * summed over the output channels and added into dx. */
#include "conv_rows.h"

#include <stdatomic.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define CG_CONV_ROWS_COMPILED 1
#include "avx2_lanes.h"
#endif

enum { TILE_N = 24 };

static atomic_bool rows_enabled = true;

void cg_conv_rows_enable(bool on) { atomic_store(&rows_enabled, on); }

bool cg_conv_rows_usable(enum cg_dtype dt, const struct cg_window *k, int64_t cg, int64_t h,
                         int64_t w)
{
#ifdef CG_CONV_ROWS_COMPILED
    if (!atomic_load(&rows_enabled) || dt != CG_F32) return false;
    if (k->sw != 1 || k->ph != 0 || k->pw != 0) return false;
    if (cg * h * w > INT32_MAX) return false;
    return cg_conv_rows_cpu();
#else
    (void)dt, (void)k, (void)cg, (void)h, (void)w;
    return false;
#endif
}

bool cg_conv_rows_cpu(void)
{
#ifdef CG_CONV_ROWS_COMPILED
    __builtin_cpu_init();
    /* With full-width AVX-512, OpenBLAS's own kernels are twice as wide as
     * this one.  AMD family 19h (Zen 3 and 4) has AVX-512 only in Zen 4,
     * which runs each 512-bit operation as two 256-bit halves (fma_peak:
     * 117 GFLOP/s both ways), so there this one wins (MNIST CNN epoch 23%
     * shorter at 1 thread). */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
           (!__builtin_cpu_supports("avx512f") || __builtin_cpu_is("amdfam19h"));
#else
    return false;
#endif
}

static int64_t tiles_of(int64_t og) { return (og + CG_CONV_ROWS_M - 1) / CG_CONV_ROWS_M; }

size_t cg_conv_rows_pack_bytes(int64_t groups, int64_t og, int64_t kk)
{
    return (size_t)(groups * tiles_of(og) * kk * CG_CONV_ROWS_M) * sizeof(float);
}

size_t cg_conv_rows_offsets_bytes(int64_t kk) { return (size_t)kk * sizeof(int32_t); }

void cg_conv_rows_pack(float *packed, int32_t *off, const float *weight, int64_t groups,
                       int64_t og, int64_t cg, const struct cg_window *k, int64_t h, int64_t w)
{
    int64_t kk = cg * k->kh * k->kw, tiles = tiles_of(og);
    for (int64_t g = 0; packed && g < groups; g++)
        for (int64_t t = 0; t < tiles; t++) {
            float *dst = packed + (g * tiles + t) * kk * CG_CONV_ROWS_M;
            for (int64_t s = 0; s < kk; s++)
                for (int64_t r = 0; r < CG_CONV_ROWS_M; r++) {
                    int64_t o = t * CG_CONV_ROWS_M + r;
                    dst[s * CG_CONV_ROWS_M + r] = o < og ? weight[(g * og + o) * kk + s] : 0.0f;
                }
        }
    for (int64_t c = 0; c < cg; c++)
        for (int64_t i = 0; i < k->kh; i++)
            for (int64_t j = 0; j < k->kw; j++)
                off[(c * k->kh + i) * k->kw + j] = (int32_t)(c * h * w + i * k->dh * w + j * k->dw);
}

size_t cg_conv_rows_pack_t_bytes(int64_t groups, int64_t og, int64_t cg,
                                 const struct cg_window *k)
{
    return (size_t)(groups * k->kh * k->kw * tiles_of(cg) * og * CG_CONV_ROWS_M) *
           sizeof(float);
}

/* Block (j, ct, i) of a group: kernel column j, input channels from 4 ct,
 * kernel row i; blocks of one (j, ct) run over i, so a tile sums over a
 * run of kernel rows and all og channels in one pass. */
void cg_conv_rows_pack_t(float *packed, int32_t *off, const float *weight, int64_t groups,
                         int64_t og, int64_t cg, const struct cg_window *k, int64_t oh,
                         int64_t ow)
{
    int64_t ctiles = tiles_of(cg), khw = k->kh * k->kw, kk = cg * khw;
    for (int64_t g = 0; g < groups; g++)
        for (int64_t t = 0; t < khw * ctiles; t++) {
            float *dst = packed + (g * khw * ctiles + t) * og * CG_CONV_ROWS_M;
            int64_t j = t / (ctiles * k->kh), c0 = t / k->kh % ctiles * CG_CONV_ROWS_M;
            int64_t ij = t % k->kh * k->kw + j;
            for (int64_t o = 0; o < og; o++)
                for (int64_t r = 0; r < CG_CONV_ROWS_M; r++) {
                    int64_t c = c0 + r;
                    dst[o * CG_CONV_ROWS_M + r] =
                        c < cg ? weight[(g * og + o) * kk + c * khw + ij] : 0.0f;
                }
        }
    for (int64_t i = 0; i < k->kh; i++)
        for (int64_t o = 0; o < og; o++)
            off[i * og + o] = (int32_t)(o * oh * ow - i * k->dh * ow);
}

#ifdef CG_CONV_ROWS_COMPILED

/* rows (<= 4) rows of n (<= 24) columns, at dst[r]: = (or += when add)
 * the sums over the kk steps of wp[s][r] x0[off[s] + column], plus bias. */
__attribute__((target("avx2,fma"))) static void tile(float *const *dst, bool add,
                                                     const float *wp, const int32_t *off,
                                                     int64_t kk, const float *x0,
                                                     const float *bias, int64_t rows, int64_t n)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    __m256i m0 = cg_lanes_below(n), m1 = cg_lanes_below(n - 8), m2 = cg_lanes_below(n - 16);
    /* LOAD(p, mask): the full loop ignores the mask, the masked one never
     * reads past the row's last input */
#define CG_ROWS_LOOP(LOAD)                                                                  \
    for (int64_t s = 0; s < kk; s++) {                                                      \
        const float *b = x0 + off[s];                                                       \
        __m256 b0 = LOAD(b, m0), b1 = LOAD(b + 8, m1), b2 = LOAD(b + 16, m2);               \
        __m256 w_ = _mm256_broadcast_ss(wp + s * 4);                                        \
        a00 = _mm256_fmadd_ps(w_, b0, a00);                                                 \
        a01 = _mm256_fmadd_ps(w_, b1, a01);                                                 \
        a02 = _mm256_fmadd_ps(w_, b2, a02);                                                 \
        w_ = _mm256_broadcast_ss(wp + s * 4 + 1);                                           \
        a10 = _mm256_fmadd_ps(w_, b0, a10);                                                 \
        a11 = _mm256_fmadd_ps(w_, b1, a11);                                                 \
        a12 = _mm256_fmadd_ps(w_, b2, a12);                                                 \
        w_ = _mm256_broadcast_ss(wp + s * 4 + 2);                                           \
        a20 = _mm256_fmadd_ps(w_, b0, a20);                                                 \
        a21 = _mm256_fmadd_ps(w_, b1, a21);                                                 \
        a22 = _mm256_fmadd_ps(w_, b2, a22);                                                 \
        w_ = _mm256_broadcast_ss(wp + s * 4 + 3);                                           \
        a30 = _mm256_fmadd_ps(w_, b0, a30);                                                 \
        a31 = _mm256_fmadd_ps(w_, b1, a31);                                                 \
        a32 = _mm256_fmadd_ps(w_, b2, a32);                                                 \
    }
#define CG_ROWS_FULL(p, m) _mm256_loadu_ps(p)
    if (n == TILE_N) {
        CG_ROWS_LOOP(CG_ROWS_FULL)
    } else {
        CG_ROWS_LOOP(_mm256_maskload_ps)
    }
#undef CG_ROWS_FULL
#undef CG_ROWS_LOOP
    __m256 acc[4][3] = {{a00, a01, a02}, {a10, a11, a12}, {a20, a21, a22}, {a30, a31, a32}};
    for (int64_t r = 0; r < rows; r++) {
        float *yr = dst[r];
        __m256 v0 = acc[r][0], v1 = acc[r][1], v2 = acc[r][2];
        if (bias) {
            __m256 b = _mm256_broadcast_ss(bias + r);
            v0 = _mm256_add_ps(b, v0), v1 = _mm256_add_ps(b, v1), v2 = _mm256_add_ps(b, v2);
        }
        if (add && n == TILE_N) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(yr), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(yr + 8), v1);
            v2 = _mm256_add_ps(_mm256_loadu_ps(yr + 16), v2);
        } else if (add) {
            v0 = _mm256_add_ps(_mm256_maskload_ps(yr, m0), v0);
            v1 = _mm256_add_ps(_mm256_maskload_ps(yr + 8, m1), v1);
            v2 = _mm256_add_ps(_mm256_maskload_ps(yr + 16, m2), v2);
        }
        if (n == TILE_N) {
            _mm256_storeu_ps(yr, v0), _mm256_storeu_ps(yr + 8, v1), _mm256_storeu_ps(yr + 16, v2);
        } else {
            _mm256_maskstore_ps(yr, m0, v0), _mm256_maskstore_ps(yr + 8, m1, v1);
            _mm256_maskstore_ps(yr + 16, m2, v2);
        }
    }
}

void cg_conv_rows_tile(float *const *dst, bool add, const float *wp, const int32_t *off,
                       int64_t kk, const float *x0, const float *bias, int64_t rows, int64_t n)
{
    tile(dst, add, wp, off, kk, x0, bias, rows, n);
}

void cg_conv_rows_forward(float *y, const float *x, const float *packed, const int32_t *off,
                          const float *bias, int64_t og, int64_t kk, int64_t w,
                          const struct cg_window *k, int64_t oh, int64_t ow)
{
    int64_t tiles = tiles_of(og), ohw = oh * ow;
    /* one output row at a time: its inputs (cg kH rows) stay in L1 while
     * every channel tile passes over them */
    for (int64_t oy = 0; oy < oh; oy++) {
        const float *xrow = x + oy * k->sh * w;
        for (int64_t t = 0; t < tiles; t++) {
            int64_t o = t * CG_CONV_ROWS_M;
            int64_t rows = og - o < CG_CONV_ROWS_M ? og - o : CG_CONV_ROWS_M;
            const float *wp = packed + t * kk * CG_CONV_ROWS_M;
            for (int64_t ox = 0; ox < ow; ox += TILE_N) {
                float *dst[CG_CONV_ROWS_M];
                for (int64_t r = 0; r < rows; r++) dst[r] = y + (o + r) * ohw + oy * ow + ox;
                tile(dst, false, wp, off, kk, xrow + ox, bias ? bias + o : NULL, rows,
                     ow - ox < TILE_N ? ow - ox : TILE_N);
            }
        }
    }
}

void cg_conv_rows_input_grad(float *dx, const float *dy, const float *packed,
                             const int32_t *off, int64_t og, int64_t cg,
                             const struct cg_window *k, int64_t h, int64_t w, int64_t oh,
                             int64_t ow)
{
    int64_t ctiles = tiles_of(cg), block = og * CG_CONV_ROWS_M;
    for (int64_t y = 0; y < h; y++) {
        /* the kernel rows i that may reach dx row y = oy sh + i dh (with sh > 1,
         * only those where sh divides y - i dh do) */
        int64_t first = -1, last = -1;
        for (int64_t i = 0; i < k->kh; i++) {
            int64_t rel = y - i * k->dh;
            if (rel < 0 || rel / k->sh >= oh) continue;
            if (first < 0) first = i;
            last = i;
        }
        if (first < 0) continue;
        /* one run of rows when sh is 1 (their dy rows are dh ow apart, as
         * off has them); one row at a time otherwise */
        for (int64_t i0 = first; i0 <= last; i0 = k->sh == 1 ? last + 1 : i0 + 1) {
            int64_t rel = y - i0 * k->dh;
            if (rel % k->sh) continue;
            int64_t n = k->sh == 1 ? last - first + 1 : 1;
            /* dy row of i0, moved back so that off[i og + o] lands on row i's */
            const float *d0 = dy + (rel / k->sh + i0 * k->dh) * ow;
            for (int64_t j = 0; j < k->kw; j++)
                for (int64_t ct = 0; ct < ctiles; ct++) {
                    int64_t c0 = ct * CG_CONV_ROWS_M;
                    int64_t rows = cg - c0 < CG_CONV_ROWS_M ? cg - c0 : CG_CONV_ROWS_M;
                    const float *wp = packed + ((j * ctiles + ct) * k->kh + i0) * block;
                    float *row = dx + c0 * h * w + y * w + j * k->dw;
                    for (int64_t ox = 0; ox < ow; ox += TILE_N) {
                        float *dst[CG_CONV_ROWS_M];
                        for (int64_t r = 0; r < rows; r++) dst[r] = row + r * h * w + ox;
                        tile(dst, true, wp, off + i0 * og, n * og, d0 + ox, NULL, rows,
                             ow - ox < TILE_N ? ow - ox : TILE_N);
                    }
                }
        }
    }
}

/* 4 sums of lanes, one per accumulator, in a fixed order (hadd tree). */
__attribute__((target("avx2,fma"))) static inline __m128 sum4(__m256 a, __m256 b, __m256 c,
                                                              __m256 d)
{
    __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

/* dw rows o0.. (rows <= 4), columns s0.. (cols <= 3), ldw apart, += the
 * sums over the output positions of dy[o][p] x[off[s] + p]. */
__attribute__((target("avx2,fma"))) static void wgrad_tile(float *dw, int64_t ldw,
                                                           const float *dy, int64_t ohw,
                                                           const float *x, const int32_t *off,
                                                           int64_t rows, int64_t cols,
                                                           int64_t rstride, int64_t oh,
                                                           int64_t ow)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    /* missing rows and columns repeat the last real one; their sums are dropped */
    const float *d0 = dy, *d1 = dy + (rows > 1 ? 1 : 0) * ohw;
    const float *d2 = dy + (rows > 2 ? 2 : rows - 1) * ohw;
    const float *d3 = dy + (rows > 3 ? 3 : rows - 1) * ohw;
    const float *x0 = x + off[0], *x1 = x + off[cols > 1 ? 1 : 0];
    const float *x2 = x + off[cols > 2 ? 2 : cols - 1];
    /* down each 8-column strip: 24-ish rows per loop instead of a 3-trip
     * loop per row, whose overhead cost about a tenth of the kernel */
#define CG_WG_STEP(LOAD)                                                                    \
    do {                                                                                    \
        int64_t dp = oy * ow + ox, xp = oy * rstride + ox;                                  \
        __m256 b0 = LOAD(x0 + xp), b1 = LOAD(x1 + xp), b2 = LOAD(x2 + xp);                  \
        __m256 e = LOAD(d0 + dp);                                                           \
        a00 = _mm256_fmadd_ps(e, b0, a00), a01 = _mm256_fmadd_ps(e, b1, a01);               \
        a02 = _mm256_fmadd_ps(e, b2, a02);                                                  \
        e = LOAD(d1 + dp);                                                                  \
        a10 = _mm256_fmadd_ps(e, b0, a10), a11 = _mm256_fmadd_ps(e, b1, a11);               \
        a12 = _mm256_fmadd_ps(e, b2, a12);                                                  \
        e = LOAD(d2 + dp);                                                                  \
        a20 = _mm256_fmadd_ps(e, b0, a20), a21 = _mm256_fmadd_ps(e, b1, a21);               \
        a22 = _mm256_fmadd_ps(e, b2, a22);                                                  \
        e = LOAD(d3 + dp);                                                                  \
        a30 = _mm256_fmadd_ps(e, b0, a30), a31 = _mm256_fmadd_ps(e, b1, a31);               \
        a32 = _mm256_fmadd_ps(e, b2, a32);                                                  \
    } while (0)
    int64_t ox = 0;
    for (; ox + 8 <= ow; ox += 8)
        for (int64_t oy = 0; oy < oh; oy++) CG_WG_STEP(_mm256_loadu_ps);
    if (ox < ow) {
        /* 12 accumulators + 3 inputs + 1 gradient row fill all 16 registers;
         * the mask is the 17th, so this strip is a loop of its own */
        __m256i m = cg_lanes_below(ow - ox);
#define CG_WG_MASKED(p) _mm256_maskload_ps((p), m)
        for (int64_t oy = 0; oy < oh; oy++) CG_WG_STEP(CG_WG_MASKED);
#undef CG_WG_MASKED
    }
#undef CG_WG_STEP
    float sums[3][4];
    _mm_storeu_ps(sums[0], sum4(a00, a10, a20, a30));
    _mm_storeu_ps(sums[1], sum4(a01, a11, a21, a31));
    _mm_storeu_ps(sums[2], sum4(a02, a12, a22, a32));
    for (int64_t r = 0; r < rows; r++)
        for (int64_t q = 0; q < cols; q++) dw[r * ldw + q] += sums[q][r];
}

void cg_conv_rows_weight_grad(float *dw, const float *dy, const float *x, const int32_t *off,
                              int64_t og, int64_t kk, int64_t w, const struct cg_window *k,
                              int64_t oh, int64_t ow)
{
    for (int64_t o = 0; o < og; o += CG_CONV_ROWS_M) {
        int64_t rows = og - o < CG_CONV_ROWS_M ? og - o : CG_CONV_ROWS_M;
        for (int64_t s = 0; s < kk; s += 3)
            wgrad_tile(dw + o * kk + s, kk, dy + o * oh * ow, oh * ow, x, off + s, rows,
                       kk - s < 3 ? kk - s : 3, k->sh * w, oh, ow);
    }
}

#else

void cg_conv_rows_tile(float *const *dst, bool add, const float *wp, const int32_t *off,
                       int64_t kk, const float *x0, const float *bias, int64_t rows, int64_t n)
{
    (void)dst, (void)add, (void)wp, (void)off, (void)kk, (void)x0, (void)bias, (void)rows;
    (void)n; /* never called: cg_conv_rows_cpu is false */
}

void cg_conv_rows_input_grad(float *dx, const float *dy, const float *packed,
                             const int32_t *off, int64_t og, int64_t cg,
                             const struct cg_window *k, int64_t h, int64_t w, int64_t oh,
                             int64_t ow)
{
    (void)dx, (void)dy, (void)packed, (void)off, (void)og, (void)cg, (void)k, (void)h, (void)w;
    (void)oh, (void)ow; /* never called: cg_conv_rows_usable is false */
}

void cg_conv_rows_weight_grad(float *dw, const float *dy, const float *x, const int32_t *off,
                              int64_t og, int64_t kk, int64_t w, const struct cg_window *k,
                              int64_t oh, int64_t ow)
{
    (void)dw, (void)dy, (void)x, (void)off, (void)og, (void)kk, (void)w, (void)k, (void)oh;
    (void)ow; /* never called: cg_conv_rows_usable is false */
}

void cg_conv_rows_forward(float *y, const float *x, const float *packed, const int32_t *off,
                          const float *bias, int64_t og, int64_t kk, int64_t w,
                          const struct cg_window *k, int64_t oh, int64_t ow)
{
    (void)y, (void)x, (void)packed, (void)off, (void)bias, (void)og, (void)kk, (void)w, (void)k;
    (void)oh, (void)ow; /* never called: cg_conv_rows_usable is false */
}

#endif
