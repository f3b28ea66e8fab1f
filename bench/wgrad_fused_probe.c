/* A probe for the next step of the autoencoder's speed: the weight-gradient
 * product dW = dy^T x written by a kernel of our own, with PyTorch's SGD
 * momentum update in its epilogue (each 6-row block of dW updated while it
 * is still in registers, so the gradient is never stored, re-read or
 * zeroed), against what cgrad runs today: OpenBLAS's product, the update
 * as a separate pass, then the zeroing.  Not used by the library yet: it
 * measures whether the fusion pays before the library is changed for it.
 *
 *   wgrad_fused_probe [--rounds 400]
 * for the three weight gradients of the seed autoencoder (batch 64: dW of
 * 256x784, 64x256, 784x64).  Prints, per training step, openblas_us (the
 * product, update and zeroing as cgrad runs them), own_us (the same with
 * the kernel below as the product), fused_us (the kernel with the update
 * inside) and fused_speedup = openblas_us / fused_us, all best-of-rounds
 * with 2 MB of other data written before each (a step's other traffic);
 * and differing_elements, how many elements of the kernel's product differ
 * from OpenBLAS's (its sums run over k in order with one multiply-add
 * each).  Needs AVX2 and FMA; prints skipped otherwise. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define PROBE_AVX2 __attribute__((target("avx2,fma")))

enum { MR = 6, NR = 16, MAX_K = 256 };
static const float momentum = 0.9f, lr = 0.05f;

/* One MR x NR tile of pa^T B over k = 0..K-1 (pa: K rows of MR packed
 * values).  Without p: out rows += tile; with p: the momentum update of
 * rows of p and buf (row stride ld) by the tile, the tile never stored. */
PROBE_AVX2 static void tile(int K, const float *pa, const float *b, int ldb, int rows, float *out, float *p,
                            float *buf, int ld)
{
    __m256 c[MR][2];
    for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(b + (size_t)k * (size_t)ldb), b1 = _mm256_loadu_ps(b + (size_t)k * (size_t)ldb + 8);
        for (int i = 0; i < MR; i++) {
            __m256 a = _mm256_broadcast_ss(pa + k * MR + i);
            c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
            c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
        }
    }
    const __m256 m = _mm256_set1_ps(momentum), step = _mm256_set1_ps(lr);
    for (int i = 0; i < rows; i++)
        for (int h = 0; h < 2; h++) {
            size_t at = (size_t)i * (size_t)ld + 8 * (size_t)h;
            if (!p) {
                _mm256_storeu_ps(out + at, _mm256_add_ps(_mm256_loadu_ps(out + at), c[i][h]));
                continue;
            }
            /* PyTorch's order: buf = momentum * buf + g, p = p - lr * buf */
            __m256 v = _mm256_add_ps(_mm256_mul_ps(m, _mm256_loadu_ps(buf + at)), c[i][h]);
            _mm256_storeu_ps(buf + at, v);
            _mm256_storeu_ps(p + at, _mm256_sub_ps(_mm256_loadu_ps(p + at), _mm256_mul_ps(step, v)));
        }
}

/* dW[M,N] (+)= dy^T x with dy [K,M] and x [K,N] row-major, N a multiple of
 * NR, K <= MAX_K; with p, the update instead of storing dW. */
PROBE_AVX2 static void wgrad(int M, int N, int K, const float *dy, const float *x, float *dw, float *p, float *buf)
{
    float pa[MAX_K * MR];
    for (int i = 0; i < M; i += MR) {
        int rows = M - i < MR ? M - i : MR;
        for (int k = 0; k < K; k++)
            for (int r = 0; r < MR; r++) pa[k * MR + r] = r < rows ? dy[(size_t)k * (size_t)M + (size_t)(i + r)] : 0.0f;
        for (int j = 0; j < N; j += NR) {
            size_t at = (size_t)i * (size_t)N + (size_t)j;
            tile(K, pa, x + j, N, rows, dw ? dw + at : NULL, p ? p + at : NULL, p ? buf + at : NULL, N);
        }
    }
}

PROBE_AVX2 static void sgd(float *restrict p, const float *restrict g, float *restrict buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = momentum * buf[i] + g[i];
        buf[i] = v;
        p[i] -= lr * v;
    }
}

enum { LAYERS = 3 };
static const int shape[LAYERS][2] = {{256, 784}, {64, 256}, {784, 64}}; /* dW rows, columns */

static float *filled(size_t n, unsigned seed)
{
    float *v = malloc(n * sizeof *v);
    for (size_t i = 0; v && i < n; i++) v[i] = (float)((i * seed) % 97) * 1e-3f - 0.04f;
    return v;
}

int main(int argc, char **argv)
{
    int rounds = 400, K = 64;
    if (argc == 3 && !strcmp(argv[1], "--rounds")) rounds = atoi(argv[2]);
    if (rounds < 1 || (argc != 1 && argc != 3)) {
        fprintf(stderr, "usage: wgrad_fused_probe [--rounds N]\n");
        return 2;
    }
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        printf("skipped 1 (no AVX2 and FMA)\n");
        return 0;
    }
    openblas_set_num_threads(1);
    float *dy[LAYERS], *x[LAYERS], *g[LAYERS], *ref[LAYERS], *p[LAYERS], *buf[LAYERS];
    long differing = 0;
    for (int l = 0; l < LAYERS; l++) {
        size_t m = (size_t)shape[l][0], n = (size_t)shape[l][1];
        dy[l] = filled((size_t)K * m, 7919), x[l] = filled((size_t)K * n, 104729);
        g[l] = calloc(m * n, sizeof(float)), ref[l] = calloc(m * n, sizeof(float));
        p[l] = filled(m * n, 31), buf[l] = calloc(m * n, sizeof(float));
        if (!dy[l] || !x[l] || !g[l] || !ref[l] || !p[l] || !buf[l]) return 1;
        wgrad((int)m, (int)n, K, dy[l], x[l], g[l], NULL, NULL);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)m, (int)n, K, 1.0f, dy[l], (int)m, x[l], (int)n,
                    1.0f, ref[l], (int)n);
        for (size_t i = 0; i < m * n; i++) differing += g[l][i] != ref[l][i];
        memset(g[l], 0, m * n * sizeof(float));
    }
    size_t junk_bytes = 2u << 20;
    char *junk = malloc(junk_bytes);
    if (!junk) return 1;
    double best[3] = {1e30, 1e30, 1e30};
    for (int r = 0; r < rounds; r++)
        for (int mode = 0; mode < 3; mode++) {
            memset(junk, r + mode, junk_bytes);
            double t0 = bench_now();
            for (int l = 0; l < LAYERS; l++) {
                int m = shape[l][0], n = shape[l][1];
                size_t size = (size_t)m * (size_t)n;
                if (mode == 2) {
                    wgrad(m, n, K, dy[l], x[l], NULL, p[l], buf[l]);
                    continue;
                }
                if (mode == 0)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, K, 1.0f, dy[l], m, x[l], n, 1.0f, g[l], n);
                else
                    wgrad(m, n, K, dy[l], x[l], g[l], NULL, NULL);
                sgd(p[l], g[l], buf[l], size);
                memset(g[l], 0, size * sizeof(float));
            }
            double t = bench_now() - t0;
            if (t < best[mode]) best[mode] = t;
        }
    printf("openblas_us %.1f\nown_us %.1f\nfused_us %.1f\nfused_speedup %.3f\ndiffering_elements %ld\n", 1e6 * best[0],
           1e6 * best[1], 1e6 * best[2], best[0] / best[2], differing);
    for (int l = 0; l < LAYERS; l++) free(dy[l]), free(x[l]), free(g[l]), free(ref[l]), free(p[l]), free(buf[l]);
    free(junk);
    return 0;
}
#else
int main(void)
{
    printf("skipped 1 (x86-64 with GCC or clang only)\n");
    return 0;
}
#endif
