/* See dims.h. */
#include <inttypes.h>

#include "dims.h"
#include "error_internal.h"
#include "cgrad/tape.h"

bool cg_dim_check(const char *fn, const struct cg_tensor *x, int *dim)
{
    int n = x->ndim ? x->ndim : 1;
    if (*dim < -n || *dim >= n) {
        char s[128];
        cg_misuse(fn, "dim %d is out of range for input %s (valid: %d..%d; negative counts "
                  "from the end)", *dim, cg_tensor_shape_str(x, s, sizeof s), -n, n - 1);
        return false;
    }
    if (*dim < 0) *dim += n;
    return true;
}

struct cg_dim_geom cg_dim_geom(const struct cg_tensor *x, int dim)
{
    struct cg_dim_geom g = {1, 1, 1};
    if (x->ndim == 0) return g;
    for (int i = 0; i < dim; i++) g.outer *= x->shape[i];
    g.d = x->shape[dim];
    for (int i = dim + 1; i < x->ndim; i++) g.inner *= x->shape[i];
    return g;
}

int cg_reduced_shape(const struct cg_tensor *x, int dim, bool keepdim, int64_t *shape)
{
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (i != dim)
            shape[n++] = x->shape[i];
        else if (keepdim)
            shape[n++] = 1;
    }
    return n;
}

void cg_accumulate(enum cg_dtype dt, void *dst, const void *src, int64_t n)
{
    if (dt == CG_F64) {
        double *restrict d = dst;
        const double *restrict s = src;
        for (int64_t i = 0; i < n; i++) d[i] += s[i];
    } else {
        float *restrict d = dst;
        const float *restrict s = src;
        for (int64_t i = 0; i < n; i++) d[i] += s[i];
    }
}

#define CG_F32_EXACT_INT (INT64_C(1) << 24)

bool cg_index_check(const char *fn, const int64_t *index, int64_t n, int64_t size, int dim,
                    enum cg_dtype dtype)
{
    if (n > 0 && !index) {
        cg_misuse(fn, "index is NULL but %" PRId64 " indices were announced", n);
        return false;
    }
    if (dtype == CG_F32 && size > CG_F32_EXACT_INT) {
        cg_misuse(fn, "dim %d has %" PRId64 " entries: f32 tensors carry indices only up to "
                  "2^24 (hint: use CG_F64)", dim, size);
        return false;
    }
    for (int64_t i = 0; i < n; i++)
        if (index[i] < 0 || index[i] >= size) {
            cg_misuse(fn, "index[%" PRId64 "] = %" PRId64 " is out of bounds for dim %d of "
                      "size %" PRId64 " (need 0 <= index < %" PRId64 "; cgrad does not wrap "
                      "negative indices)", i, index[i], dim, size, size);
            return false;
        }
    return true;
}

struct cg_tensor *cg_index_tensor(struct cg_tape *tape, enum cg_dtype dtype, int ndim,
                                  const int64_t *shape, const int64_t *index)
{
    struct cg_tensor *t = cg_tensor_empty(tape, dtype, ndim, shape);
    if (!t) return NULL;
    for (int64_t i = 0; i < t->numel; i++) {
        if (dtype == CG_F64)
            ((double *)t->data)[i] = (double)index[i];
        else
            ((float *)t->data)[i] = (float)index[i];
    }
    return t;
}
