/* tanh for float in straight-line code that compilers vectorize (glibc's
 * tanhf is a call per element, most of the time of a small tanh op).  At
 * most 2 ulp from the exact value over all floats (checked exhaustively
 * against double tanh by `test_tanh_f32 --all`); PyTorch's vectorized tanhf
 * is a 1-ulp approximation too.  NaN in gives NaN out; tanh(-0) = -0. */
#ifndef CG_CORE_TANH_F32_H
#define CG_CORE_TANH_F32_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Below: x + x^3 P(x^2), P a least-squares fit of (tanh x - x) / x^3;
 * above: 1 - 2 / (e^(2|x|) + 1), no cancellation there as tanh >= 0.55. */
#define CG_TANH_POLY_MAX 0.625f
/* tanhf rounds to 1 from here on. */
#define CG_TANH_ONE_FROM 9.02f

/* No a * b + c fused into one FMA where the ISA has it (clang's default):
 * every build and every per-ISA clone gives the same bits. */
#if defined(__clang__)
#define CG_TANH_NO_CONTRACT _Pragma("STDC FP_CONTRACT OFF")
#else
#define CG_TANH_NO_CONTRACT /* GCC in ISO C mode does not contract */
#endif

/* e^v for v in [1.25, 18.04] (NaN never comes in): v = n ln2 + r,
 * |r| <= ln2 / 2, e^r by a polynomial, 2^n put into the exponent bits. */
static inline float cg_expf_mid(float v)
{
    CG_TANH_NO_CONTRACT
    const float n = (v * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
    float r = v - n * 0.693145751953125f;
    r = r - n * 1.428606765330187e-6f;
    float q = 1.982649262e-4f;
    q = q * r + 1.394603214e-3f;
    q = q * r + 8.333430015e-3f;
    q = q * r + 4.166627013e-2f;
    q = q * r + 1.666666616e-1f;
    q = q * r + 5.000000078e-1f;
    const float p = 1.0f + (r + r * r * q);
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float cg_tanh_f32(float x)
{
    CG_TANH_NO_CONTRACT
    const float a = fabsf(x);
    const float z = x * x;
    float p = 2.138226285e-3f;
    p = p * z - 8.171788737e-3f;
    p = p * z + 2.169820951e-2f;
    p = p * z - 5.394625285e-2f;
    p = p * z + 1.333320134e-1f;
    p = p * z - 3.333333066e-1f;
    const float small = x + x * z * p;
    /* Clamped by compares, not fminf/fmaxf, which do not vectorize. */
    float c = a >= CG_TANH_POLY_MAX ? a : CG_TANH_POLY_MAX; /* NaN: in range too */
    c = c > CG_TANH_ONE_FROM ? CG_TANH_ONE_FROM : c;
    const float e = cg_expf_mid(2.0f * c);
    const float big = 1.0f - 2.0f / (e + 1.0f);
    float y = a < CG_TANH_POLY_MAX ? small : big;
    y = a >= CG_TANH_ONE_FROM ? 1.0f : y;
    return x != x ? x : copysignf(y, x); /* odd: also tanh(-0) = -0 */
}

#endif
