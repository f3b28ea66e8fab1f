/* permute (a copy: tensors have no strides) and the view ops built on
 * reshape: unsqueeze, squeeze, flatten. */
#include <inttypes.h>
#include <string.h>

#include "dims.h"
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* ---- permute: out dim i is input dim perm[i]; scalar[0] packs perm in
 *      base 8 (CG_MAX_DIMS = 8), exact in a double ---- */

static void unpack_perm(double packed, int ndim, int *perm)
{
    int64_t p = (int64_t)packed;
    for (int i = ndim - 1; i >= 0; i--, p /= 8) perm[i] = (int)(p % 8);
}

/* src[j]: offset in the input of output element j. */
static int64_t permuted_offset(const struct cg_tensor *x, const struct cg_tensor *y,
                               const int *perm, int64_t j)
{
    int64_t stride[CG_MAX_DIMS], s = 1;
    for (int d = x->ndim - 1; d >= 0; d--) stride[d] = s, s *= x->shape[d];
    int64_t off = 0;
    for (int i = y->ndim - 1; i >= 0; i--) {
        off += (j % y->shape[i]) * stride[perm[i]];
        j /= y->shape[i];
    }
    return off;
}

static void permute_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0];
    int perm[CG_MAX_DIMS];
    unpack_perm(r->scalar[0], x->ndim, perm);
    size_t es = cg_dtype_size(x->dtype);
    for (int64_t j = 0; j < r->out->numel; j++)
        memcpy((char *)r->out->data + (size_t)j * es,
               (const char *)x->data + (size_t)permuted_offset(x, r->out, perm, j) * es, es);
}

static void permute_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    int perm[CG_MAX_DIMS];
    unpack_perm(r->scalar[0], x->ndim, perm);
    size_t es = cg_dtype_size(x->dtype);
    for (int64_t j = 0; j < r->out->numel; j++)
        cg_accumulate(x->dtype,
                      (char *)x->grad->data + (size_t)permuted_offset(x, r->out, perm, j) * es,
                      (const char *)r->out->grad->data + (size_t)j * es, 1);
}

const struct cg_op cg_op_permute = {"permute", permute_forward, permute_backward, 0};

struct cg_tensor *cg_permute(struct cg_tape *tape, struct cg_tensor *x, const int *perm)
{
    CG_CHECK_NOT_NULL("permute", x, "input");
    CG_CHECK_NOT_NULL("permute", perm, "perm");
    bool seen[CG_MAX_DIMS] = {false};
    int64_t shape[CG_MAX_DIMS], packed = 0;
    for (int i = 0; i < x->ndim; i++) {
        int p = perm[i] < 0 ? perm[i] + x->ndim : perm[i];
        if (p < 0 || p >= x->ndim || seen[p]) {
            char s[128];
            cg_misuse("permute", "perm[%d] = %d is %s for input %s (need each dim 0..%d once)",
                      i, perm[i], p >= 0 && p < x->ndim ? "repeated" : "out of range",
                      cg_tensor_shape_str(x, s, sizeof s), x->ndim - 1);
            return NULL;
        }
        seen[p] = true;
        shape[i] = x->shape[p];
        packed = packed * 8 + p;
    }
    double s = (double)packed;
    return cg_op_apply(tape, &cg_op_permute, 1, &x, x->dtype, x->ndim, shape, &s, 1);
}

/* ---- views through reshape ---- */

struct cg_tensor *cg_unsqueeze(struct cg_tape *tape, struct cg_tensor *x, int dim)
{
    CG_CHECK_NOT_NULL("unsqueeze", x, "input");
    int n = x->ndim + 1;
    if (dim < -n || dim >= n || x->ndim == CG_MAX_DIMS) {
        char s[128];
        cg_misuse("unsqueeze", "dim %d is out of range for input %s (valid: %d..%d, at most %d "
                  "dims)", dim, cg_tensor_shape_str(x, s, sizeof s), -n, n - 1, CG_MAX_DIMS);
        return NULL;
    }
    if (dim < 0) dim += n;
    int64_t shape[CG_MAX_DIMS];
    for (int i = 0, j = 0; i < n; i++) shape[i] = i == dim ? 1 : x->shape[j++];
    return cg_reshape(tape, x, n, shape);
}

struct cg_tensor *cg_squeeze(struct cg_tape *tape, struct cg_tensor *x, int dim)
{
    CG_CHECK_NOT_NULL("squeeze", x, "input");
    if (!cg_dim_check("squeeze", x, &dim)) return NULL;
    if (x->ndim == 0 || x->shape[dim] != 1) return cg_reshape(tape, x, x->ndim, x->shape);
    int64_t shape[CG_MAX_DIMS];
    for (int i = 0, j = 0; i < x->ndim; i++)
        if (i != dim) shape[j++] = x->shape[i];
    return cg_reshape(tape, x, x->ndim - 1, shape);
}

struct cg_tensor *cg_flatten(struct cg_tape *tape, struct cg_tensor *x, int start_dim, int end_dim)
{
    CG_CHECK_NOT_NULL("flatten", x, "input");
    if (!cg_dim_check("flatten", x, &start_dim) || !cg_dim_check("flatten", x, &end_dim))
        return NULL;
    if (start_dim > end_dim) {
        cg_misuse("flatten", "start_dim %d comes after end_dim %d (after counting negative dims "
                  "from the end)", start_dim, end_dim);
        return NULL;
    }
    if (x->ndim == 0) return cg_reshape(tape, x, 1, (const int64_t[]){1});
    int64_t shape[CG_MAX_DIMS];
    int n = 0;
    for (int i = 0; i < start_dim; i++) shape[n++] = x->shape[i];
    int64_t m = 1;
    for (int i = start_dim; i <= end_dim; i++) m *= x->shape[i];
    shape[n++] = m;
    for (int i = end_dim + 1; i < x->ndim; i++) shape[n++] = x->shape[i];
    return cg_reshape(tape, x, n, shape);
}
