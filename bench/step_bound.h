/* A lean reference for one autoencoder epoch built the way cgrad builds
 * it: OpenBLAS GEMMs with elementwise passes over memory between them.  It
 * makes the GEMMs of sae_epoch's floor (same shapes, flags and order) and
 * the simplest loops that move the bytes each step must move outside a
 * GEMM: the batch conversion, the bias rows, the activation, the loss and
 * its gradient (one pass), the bias gradients, the zeroing a BLAS needs
 * before it accumulates, the activation's backward and the SGD momentum
 * update.  Each pass moves its bytes once, in loops compiled for the best
 * vector ISA, with no tape, checks, allocations or threads.  So it
 * estimates from below what an epoch of this design costs: cgrad's epoch
 * over it is cgrad's own overhead, and the bound over the GEMM floor is
 * what only passes fused into a GEMM's loops could take away.  An
 * estimate, not a proof: a faster loop for one of the passes lowers it. */
#ifndef CG_BENCH_STEP_BOUND_H
#define CG_BENCH_STEP_BOUND_H

#include <stdint.h>

#include <cgrad.h>

enum { STEP_BOUND_PASSES = 8 };

/* Name of pass k < STEP_BOUND_PASSES: "convert", ..., "sgd". */
const char *step_bound_pass_name(int pass);

/* Times one epoch of the bound over the first `count` images of train,
 * shuffled, in batches of `batch`, for a 784-hidden-bottleneck-784
 * autoencoder, all in the calling thread (OpenBLAS with one thread, as
 * cgrad calls it: with more, its idle threads spin while the passes run and
 * slow them).  pass_seconds[k]: the time in pass k alone; *mean_loss:
 * the mean of the steps' losses (it trains, as cgrad's epoch does).  Returns
 * the epoch's seconds, or a negative value when memory runs out. */
double step_bound_epoch(const struct cg_dataset *train, int64_t count, int batch, int hidden,
                        int bottleneck, double pass_seconds[STEP_BOUND_PASSES], double *mean_loss);

#endif
