/* The single-precision FMA peak of one core, the yardstick for the epochs'
 * GFLOP/s: independent vector accumulators (16 for AVX-512, 12 for AVX2:
 * more than an FMA unit's latency x issue width, and with a and b still
 * within the 32 zmm / 16 ymm registers, so nothing spills) each doing
 * acc = acc * a + b, counted as 2 flops per lane.  Prints
 * peak_gflops_avx512 and peak_gflops_avx2 (0 where the CPU lacks the
 * instructions), best of several rounds of about 0.2 s.
 *
 *   fma_peak */
#include <stdio.h>

#include "bench_util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

enum { ACC = 16, ACC2 = 12, ROUNDS = 5 };
static const long ITERS = 20 * 1000 * 1000;

/* Returns the sum of the accumulators so the loop is not dropped. */
__attribute__((target("avx512f"))) static float run_avx512(long iters)
{
    __m512 acc[ACC], a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < ACC; i++) acc[i] = _mm512_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
        for (int i = 0; i < ACC; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    __m512 s = acc[0];
    for (int i = 1; i < ACC; i++) s = _mm512_add_ps(s, acc[i]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float run_avx2(long iters)
{
    __m256 acc[ACC2], a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACC2; i++) acc[i] = _mm256_set1_ps((float)i);
    for (long n = 0; n < iters; n++)
        for (int i = 0; i < ACC2; i++) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    __m256 s = acc[0];
    for (int i = 1; i < ACC2; i++) s = _mm256_add_ps(s, acc[i]);
    float v[8];
    _mm256_storeu_ps(v, s);
    return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

static double best_gflops(float (*run)(long), int acc, int lanes, float *sink)
{
    double best = 0;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = bench_now();
        *sink += run(ITERS);
        double t = bench_now() - t0;
        double g = (double)ITERS * acc * lanes * 2 / t / 1e9;
        if (g > best) best = g;
    }
    return best;
}

int main(void)
{
    float sink = 0;
    __builtin_cpu_init();
    double p512 =
        __builtin_cpu_supports("avx512f") ? best_gflops(run_avx512, ACC, 16, &sink) : 0;
    double p256 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                      ? best_gflops(run_avx2, ACC2, 8, &sink)
                      : 0;
    printf("peak_gflops_avx512 %.1f\npeak_gflops_avx2 %.1f\n", p512, p256);
    fprintf(stderr, "(checksum %g)\n", (double)sink);
    return 0;
}
#else
int main(void)
{
    printf("peak_gflops_avx512 0\npeak_gflops_avx2 0\n");
    return 0;
}
#endif
