/* cat (concatenation along a dim) and narrow (a slice along a dim).
 *
 * Both see tensors as [outer, d, inner]: along the dim, a tensor is `outer`
 * contiguous blocks of d * inner elements.  narrow is a view (no copy) when
 * its slice is one contiguous block (outer == 1), a copy otherwise. */
#include <inttypes.h>
#include <string.h>

#include "dims.h"
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* ---- cat: scalar[0] = dim ---- */

static void cat_forward(struct cg_record *r)
{
    int dim = (int)r->scalar[0];
    size_t es = cg_dtype_size(r->out->dtype);
    struct cg_dim_geom go = cg_dim_geom(r->out, dim);
    int64_t at = 0; /* offset along dim */
    for (int j = 0; j < r->n_in; j++) {
        const struct cg_tensor *x = r->in[j];
        struct cg_dim_geom g = cg_dim_geom(x, dim);
        size_t block = (size_t)(g.d * g.inner) * es;
        for (int64_t o = 0; o < g.outer; o++)
            memcpy((char *)r->out->data + (size_t)((o * go.d + at) * go.inner) * es,
                   (const char *)x->data + o * block, block);
        at += g.d;
    }
}

static void cat_backward(struct cg_record *r)
{
    int dim = (int)r->scalar[0];
    size_t es = cg_dtype_size(r->out->dtype);
    struct cg_dim_geom go = cg_dim_geom(r->out, dim);
    int64_t at = 0;
    for (int j = 0; j < r->n_in; j++) {
        struct cg_tensor *x = r->in[j];
        struct cg_dim_geom g = cg_dim_geom(x, dim);
        if (x->grad)
            for (int64_t o = 0; o < g.outer; o++)
                cg_accumulate(x->dtype, (char *)x->grad->data + (size_t)(o * g.d * g.inner) * es,
                              (const char *)r->out->grad->data +
                                  (size_t)((o * go.d + at) * go.inner) * es,
                              g.d * g.inner);
        at += g.d;
    }
}

const struct cg_op cg_op_cat = {"cat", cat_forward, cat_backward, 0};

/* Checks that xs[0..n) can be joined along dim and computes the shape. */
static bool cat_shape(int n, struct cg_tensor *const *xs, int *dim, int64_t *shape)
{
    for (int j = 0; j < n; j++)
        if (!xs[j]) {
            cg_misuse("cat", "tensor %d of %d is NULL (hint: an earlier op failed; check "
                      "cg_last_error())", j, n);
            return false;
        }
    const struct cg_tensor *x0 = xs[0];
    if (x0->ndim == 0) {
        cg_misuse("cat", "tensor 0 is 0-dimensional; cat joins tensors along an existing dim "
                  "(hint: cg_unsqueeze it first)");
        return false;
    }
    if (!cg_dim_check("cat", x0, dim)) return false;
    memcpy(shape, x0->shape, (size_t)x0->ndim * sizeof *shape);
    for (int j = 1; j < n; j++) {
        const struct cg_tensor *x = xs[j];
        bool ok = x->ndim == x0->ndim;
        for (int i = 0; ok && i < x0->ndim; i++) ok = i == *dim || x->shape[i] == x0->shape[i];
        if (!ok) {
            char a[128], b[128];
            cg_misuse("cat", "tensor %d %s does not fit tensor 0 %s along dim %d (all sizes "
                      "but dim %d must match)", j, cg_tensor_shape_str(x, b, sizeof b),
                      cg_tensor_shape_str(x0, a, sizeof a), *dim, *dim);
            return false;
        }
        shape[*dim] += x->shape[*dim];
    }
    return true;
}

struct cg_tensor *cg_cat(struct cg_tape *tape, int n, struct cg_tensor *const *tensors, int dim)
{
    if (n < 1 || !tensors) {
        cg_misuse("cat", "n = %d tensors (array %s): need at least 1", n,
                  tensors ? "given" : "NULL");
        return NULL;
    }
    int64_t shape[CG_MAX_DIMS];
    if (!cat_shape(n, tensors, &dim, shape)) return NULL;
    /* More inputs than a record holds: join in groups, then join the groups. */
    struct cg_tensor *acc = NULL;
    int j = 0;
    double s = dim;
    while (j < n) {
        struct cg_tensor *in[CG_MAX_INPUTS];
        int k = 0;
        if (acc) in[k++] = acc;
        while (k < CG_MAX_INPUTS && j < n) in[k++] = tensors[j++];
        int64_t sh[CG_MAX_DIMS];
        memcpy(sh, in[0]->shape, sizeof sh);
        for (int i = 1; i < k; i++) sh[dim] += in[i]->shape[dim];
        acc = cg_op_apply(tape, &cg_op_cat, k, in, in[0]->dtype, in[0]->ndim, sh, &s, 1);
        if (!acc) return NULL;
    }
    return acc;
}

/* ---- narrow: scalar[0] = dim, scalar[1] = start ---- */

static void narrow_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0];
    int dim = (int)r->scalar[0];
    int64_t start = (int64_t)r->scalar[1];
    size_t es = cg_dtype_size(x->dtype);
    struct cg_dim_geom g = cg_dim_geom(x, dim), go = cg_dim_geom(r->out, dim);
    size_t block = (size_t)(go.d * go.inner) * es;
    for (int64_t o = 0; o < g.outer; o++)
        memcpy((char *)r->out->data + o * block,
               (const char *)x->data + (size_t)((o * g.d + start) * g.inner) * es, block);
}

static void narrow_view_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0];
    struct cg_dim_geom g = cg_dim_geom(x, (int)r->scalar[0]);
    r->out->data = (char *)x->data + (size_t)((int64_t)r->scalar[1] * g.inner) *
                                         cg_dtype_size(x->dtype);
    r->out->flags |= CG_IS_VIEW;
}

static void narrow_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    int dim = (int)r->scalar[0];
    int64_t start = (int64_t)r->scalar[1];
    size_t es = cg_dtype_size(x->dtype);
    struct cg_dim_geom g = cg_dim_geom(x, dim), go = cg_dim_geom(r->out, dim);
    for (int64_t o = 0; o < g.outer; o++)
        cg_accumulate(x->dtype, (char *)x->grad->data + (size_t)((o * g.d + start) * g.inner) * es,
                      (const char *)r->out->grad->data + (size_t)(o * go.d * go.inner) * es,
                      go.d * go.inner);
}

const struct cg_op cg_op_narrow = {"narrow", narrow_forward, narrow_backward, 0};
const struct cg_op cg_op_narrow_view = {"narrow_view", narrow_view_forward, narrow_backward,
                                        CG_OP_VIEW};

struct cg_tensor *cg_narrow(struct cg_tape *tape, struct cg_tensor *x, int dim, int64_t start,
                            int64_t length)
{
    CG_CHECK_NOT_NULL("narrow", x, "input");
    if (x->ndim == 0) {
        cg_misuse("narrow", "input is 0-dimensional: there is no dim to slice");
        return NULL;
    }
    if (!cg_dim_check("narrow", x, &dim)) return NULL;
    int64_t size = x->shape[dim];
    if (start < 0 || length < 0 || start > size || length > size - start) {
        char s[128];
        cg_misuse("narrow", "start %" PRId64 ", length %" PRId64 " do not fit dim %d of input "
                  "%s (need 0 <= start, 0 <= length, start + length <= %" PRId64 ")", start,
                  length, dim, cg_tensor_shape_str(x, s, sizeof s), size);
        return NULL;
    }
    int64_t shape[CG_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    shape[dim] = length;
    double s[2] = {dim, (double)start};
    bool contiguous = cg_dim_geom(x, dim).outer == 1;
    return cg_op_apply(tape, contiguous ? &cg_op_narrow_view : &cg_op_narrow, 1, &x, x->dtype,
                       x->ndim, shape, s, 2);
}
