/* Winograd F(2x2, 3x3) convolution (see conv_winograd.h).  Blocks are
 * numbered row by row, and a chunk is 24 consecutive blocks (it may span
 * block rows), so the products run full 24-column tiles.  The input is
 * first copied into a zero-bordered plane whose columns split into even
 * and odd by shuffles; 8 blocks of one block row are one vector in both
 * transforms, a vector that runs past its row computes lanes that the
 * next row's vector, or nothing, overwrites. */
#include "conv_winograd.h"

#include <stdatomic.h>
#include <string.h>

#include "conv_rows.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define CG_WINOGRAD_COMPILED 1
#include "avx2_lanes.h"
#endif

enum {
    CHUNK = 24,     /* blocks per chunk: the row-tile kernel's width */
    SLOT = 32,      /* floats per chunk row in V and M: 24 + a vector of slack */
    SPARE_COLS = 16, /* plane columns past the last block, read by runaway lanes */
    /* floats between V's (and M's) 16 planes beyond their size: with a size
     * a multiple of 4 KB, the 16 streams of a transform would share one L1
     * set, and 8 ways do not hold them */
    SKEW = 16
};

static atomic_bool winograd_enabled = true;

void cg_winograd_enable(bool on) { atomic_store(&winograd_enabled, on); }

bool cg_winograd_usable(enum cg_dtype dt, const struct cg_window *k, int64_t cin, int64_t cout)
{
    if (!atomic_load(&winograd_enabled) || dt != CG_F32) return false;
    if (k->kh != 3 || k->kw != 3 || k->sh != 1 || k->sw != 1 || k->dh != 1 || k->dw != 1)
        return false;
    if (k->ph < 0 || k->ph > 2 || k->pw < 0 || k->pw > 2) return false;
    /* with few channels the transforms, which cost the same per channel
     * as the 16 products of one channel pair, would dominate */
    if (cin < 8 || cout < 8) return false;
    return cg_conv_rows_cpu();
}

static int64_t tiles_of(int64_t n) { return (n + 3) / 4; }

size_t cg_winograd_pack_bytes(int64_t groups, int64_t cout, int64_t cin)
{
    return (size_t)(groups * 16 * tiles_of(cout) * cin * 4) * sizeof(float);
}

/* U = G g G^T for one 3x3 kernel g (row-major), in double. */
static void transform_kernel(double u[16], const double g[9])
{
    double t[4][3]; /* G g */
    for (int j = 0; j < 3; j++) {
        t[0][j] = g[j];
        t[1][j] = 0.5 * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5 * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        u[i * 4 + 0] = t[i][0];
        u[i * 4 + 1] = 0.5 * (t[i][0] + t[i][1] + t[i][2]);
        u[i * 4 + 2] = 0.5 * (t[i][0] - t[i][1] + t[i][2]);
        u[i * 4 + 3] = t[i][2];
    }
}

void cg_winograd_pack(float *u, const float *weight, int64_t groups, int64_t og, int64_t cg,
                      bool transposed)
{
    int64_t cout = transposed ? cg : og, cin = transposed ? og : cg, otiles = tiles_of(cout);
    size_t per_group = cg_winograd_pack_bytes(1, cout, cin) / sizeof(float);
    for (int64_t gi = 0; gi < groups; gi++) {
        float *ug = u + (size_t)gi * per_group;
        for (int64_t o = 0; o < otiles * 4; o++)
            for (int64_t c = 0; c < cin; c++) {
                double g[9] = {0}, t[16];
                if (o < cout) {
                    /* forward: weight[o][c]; transposed: weight[c][o] turned 180 degrees */
                    int64_t wo = transposed ? c : o, wc = transposed ? o : c;
                    const float *src = weight + ((gi * og + wo) * cg + wc) * 9;
                    for (int q = 0; q < 9; q++) g[q] = src[transposed ? 8 - q : q];
                }
                transform_kernel(t, g);
                for (int e = 0; e < 16; e++)
                    ug[((e * otiles + o / 4) * cin + c) * 4 + o % 4] = (float)t[e];
            }
    }
}

struct wino_dims {
    int64_t oh, ow, th, tw;  /* output, and blocks down and across */
    int64_t prow, pplane;    /* the bordered input plane: row and plane strides */
    int64_t coutp;           /* cout rounded up to the tile's 4 rows */
};

static struct wino_dims dims_of(int64_t cout, int64_t h, int64_t w, int64_t ph, int64_t pw)
{
    struct wino_dims d;
    d.oh = h + 2 * ph - 2, d.ow = w + 2 * pw - 2;
    d.th = (d.oh + 1) / 2, d.tw = (d.ow + 1) / 2;
    d.prow = 2 * d.tw + SPARE_COLS;
    d.pplane = (2 * d.th + 2) * d.prow;
    d.coutp = tiles_of(cout) * 4;
    return d;
}

/* plane [cin][pplane], V [16][cin][SLOT], M [16][coutp][SLOT], off [cin] */
size_t cg_winograd_scratch_bytes(int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t ph,
                                 int64_t pw)
{
    struct wino_dims d = dims_of(cout, h, w, ph, pw);
    int64_t floats = cin * d.pplane + 16 * (cin * SLOT + SKEW) + 16 * (d.coutp * SLOT + SKEW) + cin;
    return (size_t)floats * sizeof(float);
}

#ifdef CG_WINOGRAD_COMPILED

#define TARGET __attribute__((target("avx2,fma")))

/* The even and the odd elements of p[0..15]. */
TARGET static inline void split_even_odd(const float *p, __m256 *even, __m256 *odd)
{
    __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
    __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
    *odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* V of 8 blocks whose 4x4 inputs start at p, p + 2, ... (row stride ld),
 * stored at v[e vstride]. */
TARGET static inline void input_transform8(float *v, int64_t vstride, const float *p,
                                           int64_t ld)
{
    __m256 t[4][4];
    for (int r = 0; r < 4; r++) {
        __m256 d0, d1, d2, d3;
        split_even_odd(p + r * ld, &d0, &d1);
        split_even_odd(p + r * ld + 2, &d2, &d3);
        t[r][0] = _mm256_sub_ps(d0, d2), t[r][1] = _mm256_add_ps(d1, d2);
        t[r][2] = _mm256_sub_ps(d2, d1), t[r][3] = _mm256_sub_ps(d1, d3);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(v + (0 + j) * vstride, _mm256_sub_ps(t[0][j], t[2][j]));
        _mm256_storeu_ps(v + (4 + j) * vstride, _mm256_add_ps(t[1][j], t[2][j]));
        _mm256_storeu_ps(v + (8 + j) * vstride, _mm256_sub_ps(t[2][j], t[1][j]));
        _mm256_storeu_ps(v + (12 + j) * vstride, _mm256_sub_ps(t[1][j], t[3][j]));
    }
}

/* The first `count` (<= 16) floats at y = (add: y +) the interleave of
 * even and odd. */
TARGET static inline void store_pairs(float *y, bool add, __m256 even, __m256 odd,
                                      int64_t count)
{
    __m256 lo = _mm256_unpacklo_ps(even, odd), hi = _mm256_unpackhi_ps(even, odd);
    __m256 v0 = _mm256_permute2f128_ps(lo, hi, 0x20), v1 = _mm256_permute2f128_ps(lo, hi, 0x31);
    if (count == 16) {
        if (add) {
            v0 = _mm256_add_ps(_mm256_loadu_ps(y), v0);
            v1 = _mm256_add_ps(_mm256_loadu_ps(y + 8), v1);
        }
        _mm256_storeu_ps(y, v0), _mm256_storeu_ps(y + 8, v1);
        return;
    }
    __m256i m0 = cg_lanes_below(count), m1 = cg_lanes_below(count - 8);
    if (add) {
        v0 = _mm256_add_ps(_mm256_maskload_ps(y, m0), v0);
        v1 = _mm256_add_ps(_mm256_maskload_ps(y + 8, m1), v1);
    }
    _mm256_maskstore_ps(y, m0, v0), _mm256_maskstore_ps(y + 8, m1, v1);
}

/* Y = A^T M A of 8 blocks (M at m[e mstride]) plus bias, into output rows
 * y0 (and y1 unless NULL), `count` columns of each. */
TARGET static inline void output_transform8(float *y0, float *y1, bool add, const float *m,
                                            int64_t mstride, float bias, int64_t count)
{
    __m256 s[2][4];
    for (int j = 0; j < 4; j++) {
        __m256 m0 = _mm256_loadu_ps(m + (0 + j) * mstride);
        __m256 m1 = _mm256_loadu_ps(m + (4 + j) * mstride);
        __m256 m2 = _mm256_loadu_ps(m + (8 + j) * mstride);
        __m256 m3 = _mm256_loadu_ps(m + (12 + j) * mstride);
        s[0][j] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        s[1][j] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
    }
    __m256 b = _mm256_set1_ps(bias);
    for (int a = 0; a < 2; a++) {
        float *y = a ? y1 : y0;
        if (!y) break;
        __m256 even = _mm256_add_ps(b, _mm256_add_ps(_mm256_add_ps(s[a][0], s[a][1]), s[a][2]));
        __m256 odd = _mm256_add_ps(b, _mm256_sub_ps(_mm256_sub_ps(s[a][1], s[a][2]), s[a][3]));
        store_pairs(y, add, even, odd, count);
    }
}

/* A run of one block row inside a chunk: blocks tx.. of row ty, at chunk
 * positions pos.. */
struct run {
    int64_t ty, tx, pos, count;
};

static int runs_of(const struct wino_dims *d, int64_t t0, int64_t n, struct run *runs)
{
    int nr = 0;
    for (int64_t pos = 0; pos < n;) {
        int64_t t = t0 + pos, ty = t / d->tw, tx = t % d->tw;
        int64_t count = n - pos < d->tw - tx ? n - pos : d->tw - tx;
        runs[nr++] = (struct run){ty, tx, pos, count};
        pos += count;
    }
    return nr;
}

void cg_winograd_run(float *y, bool add, const float *x, const float *u, const float *bias,
                     int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t ph, int64_t pw,
                     float *scratch)
{
    struct wino_dims d = dims_of(cout, h, w, ph, pw);
    int64_t otiles = d.coutp / 4, vstride = cin * SLOT + SKEW, mstride = d.coutp * SLOT + SKEW;
    float *plane = scratch, *v = plane + cin * d.pplane, *m = v + 16 * vstride;
    int32_t *off = (int32_t *)(void *)(m + 16 * mstride);
    for (int64_t c = 0; c < cin; c++) {
        off[c] = (int32_t)(c * SLOT);
        for (int64_t iy = 0; iy < h; iy++)
            memcpy(plane + c * d.pplane + (iy + ph) * d.prow + pw, x + (c * h + iy) * w,
                   (size_t)w * sizeof(float));
    }
    int64_t blocks = d.th * d.tw;
    struct run runs[CHUNK];
    for (int64_t t0 = 0; t0 < blocks; t0 += CHUNK) {
        int64_t n = blocks - t0 < CHUNK ? blocks - t0 : CHUNK;
        int nr = runs_of(&d, t0, n, runs);
        for (int q = 0; q < nr; q++) {
            const struct run *r = &runs[q];
            for (int64_t c = 0; c < cin; c++) {
                const float *p = plane + c * d.pplane + 2 * r->ty * d.prow + 2 * r->tx;
                for (int64_t k = 0; k < r->count; k += 8)
                    input_transform8(v + c * SLOT + r->pos + k, vstride, p + 2 * k, d.prow);
            }
        }
        for (int e = 0; e < 16; e++)
            for (int64_t ot = 0; ot < otiles; ot++) {
                int64_t rows = cout - ot * 4 < 4 ? cout - ot * 4 : 4;
                float *dst[4];
                for (int64_t i = 0; i < rows; i++) dst[i] = m + e * mstride + (ot * 4 + i) * SLOT;
                cg_conv_rows_tile(dst, false, u + (e * otiles + ot) * cin * 4, off, cin,
                                  v + e * vstride, NULL, rows, n);
            }
        for (int64_t o = 0; o < cout; o++)
            for (int q = 0; q < nr; q++) {
                const struct run *r = &runs[q];
                float *y0 = y + (o * d.oh + 2 * r->ty) * d.ow;
                float *y1 = 2 * r->ty + 1 < d.oh ? y0 + d.ow : NULL;
                for (int64_t k = 0; k < r->count; k += 8) {
                    int64_t col = 2 * (r->tx + k), blocks8 = r->count - k < 8 ? r->count - k : 8;
                    int64_t count = d.ow - col < 2 * blocks8 ? d.ow - col : 2 * blocks8;
                    output_transform8(y0 + col, y1 ? y1 + col : NULL, add,
                                      m + o * SLOT + r->pos + k, mstride, bias ? bias[o] : 0.0f,
                                      count);
                }
            }
    }
}

#else

void cg_winograd_run(float *y, bool add, const float *x, const float *u, const float *bias,
                     int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t ph, int64_t pw,
                     float *scratch)
{
    (void)y, (void)add, (void)x, (void)u, (void)bias, (void)cin, (void)cout, (void)h, (void)w;
    (void)ph, (void)pw, (void)scratch; /* never called: cg_winograd_usable is false */
}

#endif
