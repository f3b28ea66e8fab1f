/* Per-op overhead of the tape: a chain of tiny elementwise ops (16 elements)
 * run forward and backward.  Prints us_per_op (forward + backward time per op,
 * best of several rounds), its forward and backward parts, and
 * allocs_per_round after the first round.
 *
 * The chain's gradients shrink on the way back (tanh' < 1, b < 1) until many
 * are subnormal: subnormal_grads counts them (of ops x 16), and each vector
 * instruction on them takes a microcode assist that costs more than the op's
 * bookkeeping.  us_per_op_ftz repeats the measurement with subnormals flushed
 * to zero in this process (x86's MXCSR FTZ/DAZ; cgrad itself never sets it):
 * the overhead without those assists. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__SSE2__) || defined(__x86_64__)
#include <xmmintrin.h>
#define CG_BENCH_HAVE_FTZ 1
#endif

#include <cgrad.h>

#include "bench_util.h"

enum { CHAIN = 3000, ROUNDS = 50 };

/* The chain from x; every output is stored in keep[] when keep is not NULL.
 * A mix of unary, scalar and broadcasting-free binary ops. */
static struct cg_tensor *chain_loss(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *b,
                                    int chain, struct cg_tensor **keep)
{
    struct cg_tensor *h = x;
    for (int i = 0; i < chain - 1; i++) {
        switch (i % 4) {
        case 0: h = cg_mul(tape, h, b); break;
        case 1: h = cg_tanh(tape, h); break;
        case 2: h = cg_add_scalar(tape, h, 0.01); break;
        default: h = cg_hardshrink(tape, h, 0.001); break;
        }
        if (keep) keep[i] = h;
    }
    return cg_sum(tape, h);
}

struct timing {
    double total, forward, backward; /* best of the rounds, seconds */
};

static struct timing time_rounds(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *b,
                                 int chain)
{
    struct timing best = {1e30, 1e30, 1e30};
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = bench_now();
        struct cg_tensor *loss = chain_loss(tape, x, b, chain, NULL);
        double t1 = bench_now();
        if (cg_backward(tape, loss) != CG_OK) {
            fprintf(stderr, "op_overhead: backward failed: %s\n", cg_last_error());
            exit(1);
        }
        double t2 = bench_now();
        cg_tape_reset(tape);
        if (t2 - t0 < best.total) best.total = t2 - t0;
        if (t1 - t0 < best.forward) best.forward = t1 - t0;
        if (t2 - t1 < best.backward) best.backward = t2 - t1;
    }
    return best;
}

/* Gradient elements of the chain's outputs below FLT_MIN in magnitude. */
static long count_subnormal_grads(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *b,
                                  int chain)
{
    struct cg_tensor **keep = malloc((size_t)chain * sizeof *keep);
    if (!keep) return -1;
    long n = 0;
    if (cg_backward(tape, chain_loss(tape, x, b, chain, keep)) == CG_OK)
        for (int i = 0; i < chain - 1; i++)
            for (int64_t k = 0; k < keep[i]->numel; k++) {
                float g = ((const float *)keep[i]->grad->data)[k];
                n += g != 0 && fabsf(g) < FLT_MIN;
            }
    cg_tape_reset(tape);
    free(keep);
    return n;
}

int main(int argc, char **argv)
{
    int chain = argc > 1 ? atoi(argv[1]) : CHAIN;
    if (chain < 4) chain = CHAIN;
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_tensor *x = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(16), -1, 1, &rng);
    struct cg_tensor *b = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(16), 0.5, 1, &rng);
    cg_tensor_requires_grad(x, true);
    struct cg_tape *tape = cg_tape_new();
    /* One round first: the later ones reuse its arena and records. */
    cg_backward(tape, chain_loss(tape, x, b, chain, NULL));
    cg_tape_reset(tape);
    size_t allocs0 = cg_alloc_count();
    struct timing t = time_rounds(tape, x, b, chain);
    size_t allocs = cg_alloc_count() - allocs0;
    long subnormal = count_subnormal_grads(tape, x, b, chain);
    printf("ops %d\nus_per_op %.4f\nus_per_op_forward %.4f\nus_per_op_backward %.4f\n", chain,
           1e6 * t.total / chain, 1e6 * t.forward / chain, 1e6 * t.backward / chain);
    printf("subnormal_grads %ld of %lld\n", subnormal, 16LL * (chain - 1));
#ifdef CG_BENCH_HAVE_FTZ
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040); /* FTZ (bit 15) and DAZ (bit 6) */
    struct timing f = time_rounds(tape, x, b, chain);
    _mm_setcsr(csr);
    printf("us_per_op_ftz %.4f\n", 1e6 * f.total / chain);
#else
    printf("us_per_op_ftz na\n");
#endif
    printf("allocs_per_round %.3f\n", (double)allocs / ROUNDS);
    cg_tape_free(tape);
    cg_tensor_free(b);
    cg_tensor_free(x);
    return 0;
}
