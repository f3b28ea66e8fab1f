/* The AVX2 lane mask shared by the convolution kernels (conv_rows.c,
 * conv_winograd.c) for maskload/maskstore of a row's last, partial vector.
 * Only where those kernels are compiled in (x86-64 with GCC or clang). */
#ifndef CG_CORE_AVX2_LANES_H
#define CG_CORE_AVX2_LANES_H

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>

/* Lanes [0, n) of 8 set: none for n <= 0, all for n >= 8 (|n| < 2^31). */
__attribute__((target("avx2"))) static inline __m256i cg_lanes_below(int64_t n)
{
    __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), idx);
}
#endif

#endif
