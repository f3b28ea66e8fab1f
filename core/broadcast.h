/* NumPy-style broadcasting for binary elementwise ops.
 *
 * A broadcast is planned once per call: the output's dims (with the inputs'
 * element strides, 0 where an input is stretched) are simplified by dropping
 * size-1 dims and merging neighbours that are contiguous in both inputs.
 * Identical shapes become one flat run, [N,M] op [M] becomes N runs of M, a
 * scalar-like input becomes one run with stride 0.  Kernels then walk the
 * output row by row; the innermost run always has input strides 0 or 1, so
 * the per-row loops are plain contiguous (or constant-operand) loops. */
#ifndef CG_CORE_BROADCAST_H
#define CG_CORE_BROADCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgrad/tensor.h"

/* Computes the broadcast shape of a and b into *ndim/shape (shape must hold
 * CG_MAX_DIMS).  Returns false after reporting misuse, e.g.
 * "add: shapes [4,3] and [2] cannot broadcast (dim -1: 3 vs 2; ...)". */
bool cg_broadcast_shape(const char *fn, const struct cg_tensor *a, const struct cg_tensor *b,
                        int *ndim, int64_t *shape);

/* A simplified iteration space over a contiguous output of shape out_shape. */
struct cg_bcast {
    int ndim;                          /* >= 1 */
    int64_t shape[CG_MAX_DIMS];
    int64_t stride[2][CG_MAX_DIMS];    /* element strides of a (0) and b (1) */
    int64_t rows;                      /* product of shape[0..ndim-2] */
    int64_t inner;                     /* shape[ndim-1] */
    int inner_a, inner_b;              /* innermost strides of a, b: 0 or 1 */
};

/* Plans the walk of out_shape (the broadcast of a's and b's shapes, numel
 * > 0) for inputs of shapes a and b. */
void cg_bcast_plan(struct cg_bcast *p, const struct cg_tensor *a, const struct cg_tensor *b,
                   int out_ndim, const int64_t *out_shape);

/* Position of the current row: element offsets into a and b.  The output
 * offset of row r is r * inner (the output is contiguous). */
struct cg_bcast_iter {
    int64_t idx[CG_MAX_DIMS];
    int64_t off_a, off_b;
};

static inline void cg_bcast_begin(struct cg_bcast_iter *it)
{
    for (int d = 0; d < CG_MAX_DIMS; d++) it->idx[d] = 0;
    it->off_a = it->off_b = 0;
}

/* Moves to the next row (an odometer over the outer dims). */
static inline void cg_bcast_next(const struct cg_bcast *p, struct cg_bcast_iter *it)
{
    for (int d = p->ndim - 2; d >= 0; d--) {
        it->off_a += p->stride[0][d];
        it->off_b += p->stride[1][d];
        if (++it->idx[d] < p->shape[d]) return;
        it->off_a -= p->stride[0][d] * p->shape[d];
        it->off_b -= p->stride[1][d] * p->shape[d];
        it->idx[d] = 0;
    }
}

#endif
