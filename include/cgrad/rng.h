/* Explicit, seeded random number generator.
 *
 * PCG32 (XSH-RR variant, O'Neill 2014): 64-bit LCG state, 32-bit output.
 * The stream depends only on the seed, so the same seed gives the same
 * numbers on every machine.  There is no global generator: pass a
 * struct cg_rng to everything random.  The struct is plain data: copy it to
 * save the position, store it in a checkpoint to resume a stream exactly. */
#ifndef CGRAD_RNG_H
#define CGRAD_RNG_H

#include "export.h"
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* None of these functions fail or allocate; rng must be non-NULL (not
 * checked).  A generator is plain data: use one per thread. */
struct cg_rng {
    uint64_t state;
    uint64_t inc; /* always odd */
};

/* Generator for a seed; equals the PCG reference's pcg32_srandom(seed, 54). */
CG_API struct cg_rng cg_rng_seed(uint64_t seed);
/* Next 32 random bits. */
CG_API uint32_t cg_rng_u32(struct cg_rng *rng);
/* out[0..n) = the next n outputs, exactly as n calls of cg_rng_u32 (and rng
 * ends in the same state), computed in eight interleaved lanes so the
 * generator's chain of multiplies does not serialize the loop.  n <= 0
 * draws nothing.  out must hold n values. */
CG_API void cg_rng_fill_u32(struct cg_rng *rng, uint32_t *out, int64_t n);
/* Uniform integer in [0, n) without modulo bias (Lemire's method; may draw
 * more than one output).  n must be > 0; n == 0 returns 0. */
CG_API uint32_t cg_rng_below(struct cg_rng *rng, uint32_t n);
/* Uniform double in [0, 1) with 53 random bits (uses two outputs). */
CG_API double cg_rng_uniform(struct cg_rng *rng);
/* Standard normal (Box-Muller, uses four outputs, no cached state). */
CG_API double cg_rng_normal(struct cg_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
