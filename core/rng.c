/* PCG32 XSH-RR (M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient
 * Statistically Good Algorithms for Random Number Generation", 2014). */
#include "cgrad/rng.h"

#include "multiarch.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

/* The output permutation of one state (XSH-RR). */
static inline uint32_t pcg_output(uint64_t old)
{
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
}

uint32_t cg_rng_u32(struct cg_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    return pcg_output(old);
}

enum { PCG_LANES = 8 };

/* Lane l holds the state of output l + 8 i; eight steps of the LCG are the
 * affine map s -> a8 s + c8, so each lane advances on its own. */
CG_MULTIARCH static void pcg_fill_lanes(uint64_t *restrict lane, uint64_t a8, uint64_t c8,
                                        uint32_t *restrict out, int64_t blocks)
{
    for (int64_t b = 0; b < blocks; b++)
        for (int l = 0; l < PCG_LANES; l++) {
            out[b * PCG_LANES + l] = pcg_output(lane[l]);
            lane[l] = lane[l] * a8 + c8;
        }
}

void cg_rng_fill_u32(struct cg_rng *rng, uint32_t *out, int64_t n)
{
    int64_t blocks = n > 0 ? n / PCG_LANES : 0;
    if (blocks > 1) {
        uint64_t lane[PCG_LANES], a8 = 1, c8 = 0;
        lane[0] = rng->state;
        for (int l = 1; l < PCG_LANES; l++) lane[l] = lane[l - 1] * PCG_MULT + rng->inc;
        for (int l = 0; l < PCG_LANES; l++) /* compose s -> M s + inc eight times */
            a8 *= PCG_MULT, c8 = c8 * PCG_MULT + rng->inc;
        pcg_fill_lanes(lane, a8, c8, out, blocks);
        rng->state = lane[0]; /* the state of output 8 blocks */
        out += blocks * PCG_LANES;
        n -= blocks * PCG_LANES;
    }
    for (int64_t i = 0; i < n; i++) out[i] = cg_rng_u32(rng);
}

struct cg_rng cg_rng_seed(uint64_t seed)
{
    /* Same as the reference pcg32_srandom(seed, 54): its published outputs
     * for seed 42 check this implementation. */
    struct cg_rng rng = {0u, (54u << 1u) | 1u};
    cg_rng_u32(&rng);
    rng.state += seed;
    cg_rng_u32(&rng);
    return rng;
}

uint32_t cg_rng_below(struct cg_rng *rng, uint32_t n)
{
    /* Lemire's nearly-divisionless method. */
    uint64_t m = (uint64_t)cg_rng_u32(rng) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)cg_rng_u32(rng) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

double cg_rng_uniform(struct cg_rng *rng)
{
    uint64_t hi = cg_rng_u32(rng) >> 5;  /* 27 bits */
    uint64_t lo = cg_rng_u32(rng) >> 6;  /* 26 bits */
    return (double)(hi * 67108864u + lo) * (1.0 / 9007199254740992.0);
}

double cg_rng_normal(struct cg_rng *rng)
{
    double u1 = 1.0 - cg_rng_uniform(rng); /* (0, 1]: log is finite */
    double u2 = cg_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}
