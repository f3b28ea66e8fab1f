/* Index ops: index_select and gather with int64 indices, and argmax /
 * argmin over a dim (no gradient, indices out).
 *
 * The indices come in as plain `const int64_t *` arrays (cgrad tensors are
 * f32/f64).  They are bounds-checked, then copied into a tape tensor of the
 * input's dtype (exact: cg_index_check refuses f32 dims over 2^24) that the
 * op keeps as a second input needing no gradient, so the caller may reuse
 * the array right away. */
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "dims.h"
#include "error_internal.h"
#include "op_list.h"
#include "tape_internal.h" /* cg_format_shape */
#include "cgrad/ops.h"

/* ---- index_select: out[o, k, i] = x[o, index[k], i]; scalar[0] = dim ---- */

static void index_select_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *idx = r->in[1];
    size_t es = cg_dtype_size(x->dtype);
    struct cg_dim_geom g = cg_dim_geom(x, (int)r->scalar[0]);
    size_t row = (size_t)g.inner * es;
    char *out = r->out->data;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t k = 0; k < idx->numel; k++, out += row)
            memcpy(out, (const char *)x->data + (size_t)((o * g.d + cg_index_at(idx, k)) *
                                                         g.inner) * es, row);
}

/* Repeated indices add up.  scalar[1]: a row that gets no gradient
 * (embedding's padding_idx), or -1. */
static void index_select_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    const struct cg_tensor *idx = r->in[1];
    if (!x->grad) return;
    size_t es = cg_dtype_size(x->dtype);
    struct cg_dim_geom g = cg_dim_geom(x, (int)r->scalar[0]);
    int64_t skip = (int64_t)r->scalar[1];
    const char *gy = r->out->grad->data;
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t k = 0; k < idx->numel; k++, gy += (size_t)g.inner * es) {
            int64_t row = cg_index_at(idx, k);
            if (row != skip)
                cg_accumulate(x->dtype,
                              (char *)x->grad->data + (size_t)((o * g.d + row) * g.inner) * es,
                              gy, g.inner);
        }
}

const struct cg_op cg_op_index_select = {"index_select", index_select_forward,
                                         index_select_backward, 0};
/* index_select of rows (dim 0) with an output shaped [index shape..., row]:
 * the same memory layout, so the same kernels. */
const struct cg_op cg_op_embedding = {"embedding", index_select_forward, index_select_backward, 0};

/* An input that needs no grad holding the indices, after the bounds check. */
static struct cg_tensor *index_input(struct cg_tape *tape, const char *fn,
                                     const struct cg_tensor *x, int dim, int ndim,
                                     const int64_t *shape, const int64_t *index, int64_t n)
{
    int64_t size = x->ndim ? x->shape[dim] : 1;
    if (!cg_index_check(fn, index, n, size, dim, x->dtype)) return NULL;
    if (!tape) {
        cg_misuse(fn, "tape is NULL (hint: create one with cg_tape_new())");
        return NULL;
    }
    return cg_index_tensor(tape, x->dtype, ndim, shape, index);
}

struct cg_tensor *cg_index_select(struct cg_tape *tape, struct cg_tensor *x, int dim,
                                  const int64_t *index, int64_t n)
{
    CG_CHECK_NOT_NULL("index_select", x, "input");
    if (x->ndim == 0 || n < 0) {
        char s[128];
        cg_misuse("index_select", "input %s with %" PRId64 " indices: need a tensor with at "
                  "least one dim and n >= 0", cg_tensor_shape_str(x, s, sizeof s), n);
        return NULL;
    }
    if (!cg_dim_check("index_select", x, &dim)) return NULL;
    struct cg_tensor *idx = index_input(tape, "index_select", x, dim, 1, &n, index, n);
    if (!idx) return NULL;
    int64_t shape[CG_MAX_DIMS];
    memcpy(shape, x->shape, (size_t)x->ndim * sizeof *shape);
    shape[dim] = n;
    struct cg_tensor *in[2] = {x, idx};
    double s[2] = {dim, -1};
    return cg_op_apply(tape, &cg_op_index_select, 2, in, x->dtype, x->ndim, shape, s, 2);
}

struct cg_tensor *cg_embedding(struct cg_tape *tape, struct cg_tensor *weight,
                               const int64_t *index, int ndim, const int64_t *shape,
                               int64_t padding_idx)
{
    CG_CHECK_NOT_NULL("embedding", weight, "weight");
    char s[128];
    if (weight->ndim != 2 || ndim < 0 || ndim >= CG_MAX_DIMS || (ndim > 0 && !shape)) {
        cg_misuse("embedding", "weight %s and an index of %d dims: need a 2-D weight "
                  "[num_embeddings, embedding_dim] and 0..%d index dims",
                  cg_tensor_shape_str(weight, s, sizeof s), ndim, CG_MAX_DIMS - 1);
        return NULL;
    }
    int64_t num = weight->shape[0];
    if (padding_idx != CG_NO_PADDING && (padding_idx < -num || padding_idx >= num)) {
        cg_misuse("embedding", "padding_idx %" PRId64 " is out of range for %" PRId64
                  " embeddings (valid: %" PRId64 "..%" PRId64 ", or CG_NO_PADDING)",
                  padding_idx, num, -num, num - 1);
        return NULL;
    }
    if (padding_idx < 0 && padding_idx != CG_NO_PADDING) padding_idx += num;
    int64_t n = 1, out_shape[CG_MAX_DIMS];
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0) {
            cg_misuse("embedding", "index size %" PRId64 " in dim %d is negative", shape[d], d);
            return NULL;
        }
        n *= shape[d];
        out_shape[d] = shape[d];
    }
    out_shape[ndim] = weight->shape[1];
    struct cg_tensor *idx = index_input(tape, "embedding", weight, 0, 1, &n, index, n);
    if (!idx) return NULL;
    struct cg_tensor *in[2] = {weight, idx};
    double sc[2] = {0, padding_idx == CG_NO_PADDING ? -1 : (double)padding_idx};
    return cg_op_apply(tape, &cg_op_embedding, 2, in, weight->dtype, ndim + 1, out_shape, sc, 2);
}

/* ---- gather: out[..., j, ...] = x[..., index[..., j, ...], ...] along dim ---- */

/* Offset in x of output element j (index tensor coordinates, dim replaced by
 * the index value). */
static int64_t gather_offset(const struct cg_tensor *x, const struct cg_tensor *idx, int dim,
                             int64_t j)
{
    int64_t off = 0, stride = 1, rest = j;
    for (int d = idx->ndim - 1; d >= 0; d--) {
        int64_t c = rest % idx->shape[d];
        rest /= idx->shape[d];
        off += (d == dim ? cg_index_at(idx, j) : c) * stride;
        stride *= x->shape[d];
    }
    return off;
}

static void gather_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0], *idx = r->in[1];
    size_t es = cg_dtype_size(x->dtype);
    int dim = (int)r->scalar[0];
    for (int64_t j = 0; j < idx->numel; j++)
        memcpy((char *)r->out->data + (size_t)j * es,
               (const char *)x->data + (size_t)gather_offset(x, idx, dim, j) * es, es);
}

static void gather_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    const struct cg_tensor *idx = r->in[1];
    if (!x->grad) return;
    size_t es = cg_dtype_size(x->dtype);
    int dim = (int)r->scalar[0];
    for (int64_t j = 0; j < idx->numel; j++)
        cg_accumulate(x->dtype, (char *)x->grad->data + (size_t)gather_offset(x, idx, dim, j) * es,
                      (const char *)r->out->grad->data + (size_t)j * es, 1);
}

const struct cg_op cg_op_gather = {"gather", gather_forward, gather_backward, 0};

struct cg_tensor *cg_gather(struct cg_tape *tape, struct cg_tensor *x, int dim,
                            const int64_t *index, int ndim, const int64_t *shape)
{
    CG_CHECK_NOT_NULL("gather", x, "input");
    if (!cg_dim_check("gather", x, &dim)) return NULL;
    char sx[128], si[128];
    bool ok = ndim == x->ndim && ndim > 0 && shape;
    for (int d = 0; ok && d < ndim; d++) ok = shape[d] >= 0 && (d == dim || shape[d] <= x->shape[d]);
    if (!ok) {
        cg_misuse("gather", "index shape %s does not fit input %s (need the same number of "
                  "dims, and index sizes <= input sizes except along dim %d)",
                  shape && ndim >= 0 && ndim <= CG_MAX_DIMS
                      ? cg_format_shape(si, sizeof si, ndim, shape) : "(none)",
                  cg_tensor_shape_str(x, sx, sizeof sx), dim);
        return NULL;
    }
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    struct cg_tensor *idx = index_input(tape, "gather", x, dim, ndim, shape, index, n);
    if (!idx) return NULL;
    struct cg_tensor *in[2] = {x, idx};
    double s = dim;
    return cg_op_apply(tape, &cg_op_gather, 2, in, x->dtype, ndim, shape, &s, 1);
}

/* ---- argmax / argmin: no tape, no gradient ---- */

static enum cg_status arg_extreme(const char *fn, const struct cg_tensor *x, int dim,
                                  int64_t *indices, int64_t capacity, int sign)
{
    if (!x || !indices) {
        cg_misuse(fn, "%s is NULL", x ? "indices" : "input");
        return CG_ERR_INVALID;
    }
    if (!cg_dim_check(fn, x, &dim)) return CG_ERR_INVALID;
    struct cg_dim_geom g = cg_dim_geom(x, dim);
    if (g.d == 0 || capacity < g.outer * g.inner) {
        char s[128];
        cg_misuse(fn, "input %s, dim %d: need a non-empty dim and room for %" PRId64
                  " indices (capacity %" PRId64 ")", cg_tensor_shape_str(x, s, sizeof s), dim,
                  g.outer * g.inner, capacity);
        return CG_ERR_INVALID;
    }
    /* The first extreme element wins ties; the first NaN wins over all (as
     * torch.argmax / argmin). */
    for (int64_t o = 0; o < g.outer; o++)
        for (int64_t i = 0; i < g.inner; i++) {
            int64_t base = o * g.d * g.inner + i, at = 0;
            double best = cg_tensor_at(x, base);
            for (int64_t k = 1; k < g.d && best == best; k++) {
                double v = cg_tensor_at(x, base + k * g.inner);
                if (v != v || sign * v > sign * best) best = v, at = k;
            }
            indices[o * g.inner + i] = at;
        }
    return CG_OK;
}

enum cg_status cg_argmax(const struct cg_tensor *x, int dim, int64_t *indices, int64_t capacity)
{
    return arg_extreme("argmax", x, dim, indices, capacity, 1);
}

enum cg_status cg_argmin(const struct cg_tensor *x, int dim, int64_t *indices, int64_t capacity)
{
    return arg_extreme("argmin", x, dim, indices, capacity, -1);
}
