/* Per-op overhead of the tape: a chain of tiny elementwise ops (16 elements)
 * run forward and backward.  Prints us_per_op (forward + backward time per op,
 * best of several rounds) and allocs_per_round after the first round. */
#include <stdio.h>
#include <stdlib.h>

#include <cgrad.h>

#include "bench_util.h"

enum { CHAIN = 3000, ROUNDS = 50 };

int main(int argc, char **argv)
{
    int chain = argc > 1 ? atoi(argv[1]) : CHAIN;
    if (chain < 4) chain = CHAIN;
    struct cg_rng rng = cg_rng_seed(1);
    struct cg_tensor *x = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(16), -1, 1, &rng);
    struct cg_tensor *b = cg_tensor_uniform(NULL, CG_F32, CG_SHAPE(16), 0.5, 1, &rng);
    cg_tensor_requires_grad(x, true);
    struct cg_tape *tape = cg_tape_new();
    double best = 1e30;
    size_t allocs0 = 0;
    for (int r = 0; r < ROUNDS; r++) {
        if (r == 1) allocs0 = cg_alloc_count();
        double t0 = bench_now();
        struct cg_tensor *h = x;
        /* A mix of unary, scalar and broadcasting-free binary ops. */
        for (int i = 0; i < chain - 1; i++) {
            switch (i % 4) {
            case 0: h = cg_mul(tape, h, b); break;
            case 1: h = cg_tanh(tape, h); break;
            case 2: h = cg_add_scalar(tape, h, 0.01); break;
            default: h = cg_hardshrink(tape, h, 0.001); break;
            }
        }
        struct cg_tensor *loss = cg_sum(tape, h);
        cg_backward(tape, loss);
        double t = bench_now() - t0;
        cg_tape_reset(tape);
        if (t < best) best = t;
    }
    size_t allocs = cg_alloc_count() - allocs0;
    printf("ops %d\nus_per_op %.4f\nallocs_per_round %.3f\n", chain, 1e6 * best / chain,
           (double)allocs / (ROUNDS - 1));
    cg_tape_free(tape);
    cg_tensor_free(b);
    cg_tensor_free(x);
    return 0;
}
