/* --noise SIGMA: the denoising autoencoder's corrupted inputs.  The noise
 * of each batch comes from an RNG seeded by (seed, epoch, batch), so a
 * resumed run draws exactly the noise an uninterrupted one would, without
 * keeping noise state in the checkpoint. */
#include "sae.h"

struct cg_tensor *sae_corrupt(struct sae *s, struct cg_tensor *x, int64_t epoch, int64_t batch)
{
    if (s->opt.noise <= 0) return x;
    /* splitmix-style mixing keeps nearby (epoch, batch) pairs unrelated. */
    uint64_t k = s->opt.seed ^ 0x9e3779b97f4a7c15u;
    k ^= (uint64_t)epoch * 0xbf58476d1ce4e5b9u;
    k ^= (uint64_t)batch * 0x94d049bb133111ebu;
    struct cg_rng rng = cg_rng_seed(k);
    bool was = cg_tape_set_grad_enabled(s->tape, false);
    struct cg_tensor *n = cg_tensor_randn(s->tape, x->dtype, x->ndim, x->shape, &rng);
    struct cg_tensor *y = n ? cg_add(s->tape, x, cg_mul_scalar(s->tape, n, s->opt.noise)) : NULL;
    cg_tape_set_grad_enabled(s->tape, was);
    return y;
}
