/* PCG32 XSH-RR (M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient
 * Statistically Good Algorithms for Random Number Generation", 2014). */
#include "cgrad/rng.h"

#include <math.h>

#define PCG_MULT 6364136223846793005ULL

uint32_t cg_rng_u32(struct cg_rng *rng)
{
    uint64_t old = rng->state;
    rng->state = old * PCG_MULT + rng->inc;
    uint32_t xorshifted = (uint32_t)(((old >> 18u) ^ old) >> 27u);
    uint32_t rot = (uint32_t)(old >> 59u);
    return (xorshifted >> rot) | (xorshifted << ((-rot) & 31u));
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
