/* Helpers shared by the ops that work along one dim (reductions, softmax,
 * cat, narrow, index ops, var) and by the ops that take int64 indices. */
#ifndef CG_CORE_DIMS_H
#define CG_CORE_DIMS_H

#include <stdbool.h>
#include <stdint.h>

#include "cgrad/tensor.h"

/* A tensor seen as [outer, d, inner] around one dim (row-major). */
struct cg_dim_geom {
    int64_t outer, d, inner;
};

/* Normalizes *dim (negative counts from the end) for x; a 0-d tensor acts as
 * shape [1] (as PyTorch).  False after misuse naming fn, the dim and the
 * valid range. */
bool cg_dim_check(const char *fn, const struct cg_tensor *x, int *dim);

/* The [outer, d, inner] view of x around the normalized dim. */
struct cg_dim_geom cg_dim_geom(const struct cg_tensor *x, int dim);

/* The shape of x reduced over the normalized dim (kept as size 1 when
 * keepdim) into shape; returns its ndim. */
int cg_reduced_shape(const struct cg_tensor *x, int dim, bool keepdim, int64_t *shape);

/* dst[i] += src[i] for n elements of dtype dt. */
void cg_accumulate(enum cg_dtype dt, void *dst, const void *src, int64_t n);

/* True if every index[i] lies in [0, size); otherwise misuse naming fn, the
 * position, the value, the dim and its size.  f32 can carry indices only up
 * to 2^24 exactly: a larger size is misuse too (hint: CG_F64). */
bool cg_index_check(const char *fn, const int64_t *index, int64_t n, int64_t size, int dim,
                    enum cg_dtype dtype);

/* A tape tensor of dtype holding the n indices as whole numbers (exact: see
 * cg_index_check), so an op can keep them as an input that needs no
 * gradient; NULL on OOM. */
struct cg_tensor *cg_index_tensor(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape, const int64_t *index);

/* Index i of an index tensor made by cg_index_tensor. */
static inline int64_t cg_index_at(const struct cg_tensor *t, int64_t i)
{
    return t->dtype == CG_F64 ? (int64_t)((const double *)t->data)[i]
                              : (int64_t)((const float *)t->data)[i];
}

#endif
