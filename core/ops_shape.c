/* Shape ops: reshape (a view sharing the input's data) and 2-D transpose
 * (a copy, since tensors have no strides). */
#include <inttypes.h>
#include <string.h>

#include "dims.h"
#include "tape_internal.h" /* cg_format_shape */
#include "error_internal.h"
#include "op_list.h"
#include "cgrad/ops.h"

/* ---- reshape ---- */

static void reshape_forward(struct cg_record *r)
{
    r->out->data = r->in[0]->data;
    r->out->flags |= CG_IS_VIEW;
}

/* Same elements in the same order: the gradient is added flat. */
static void reshape_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    int64_t n = x->numel;
    if (!cg_grad_assign(x)) {
        cg_accumulate(x->dtype, x->grad->data, r->out->grad->data, n);
    } else if (x->dtype == CG_F64) { /* 0 + g: bit for bit as adding into zeros */
        double *restrict gx = x->grad->data;
        const double *restrict gy = r->out->grad->data;
        for (int64_t i = 0; i < n; i++) gx[i] = 0.0 + gy[i];
    } else {
        float *restrict gx = x->grad->data;
        const float *restrict gy = r->out->grad->data;
        for (int64_t i = 0; i < n; i++) gx[i] = 0.0f + gy[i];
    }
}

const struct cg_op cg_op_reshape = {"reshape", reshape_forward, reshape_backward,
                                    CG_OP_VIEW | CG_OP_ASSIGNS_GRAD};

struct cg_tensor *cg_reshape(struct cg_tape *tape, struct cg_tensor *a, int ndim,
                             const int64_t *shape)
{
    CG_CHECK_NOT_NULL("reshape", a, "input");
    if (ndim < 0 || ndim > CG_MAX_DIMS || (ndim > 0 && !shape)) {
        cg_misuse("reshape", "ndim %d out of range 0..%d (or shape NULL) for input '%s'", ndim,
                  CG_MAX_DIMS, a->name);
        return NULL;
    }
    char sa[160], sn[160];
    cg_format_shape(sa, sizeof sa, a->ndim, a->shape);
    cg_format_shape(sn, sizeof sn, ndim, shape);
    int64_t out[CG_MAX_DIMS], known = 1;
    int infer = -1;
    for (int i = 0; i < ndim; i++) {
        out[i] = shape[i];
        if (shape[i] == -1 && infer < 0) {
            infer = i;
        } else if (shape[i] == -1) {
            cg_misuse("reshape", "new shape %s for input %s has more than one -1 (only one "
                      "size can be inferred)", sn, sa);
            return NULL;
        } else if (shape[i] < 0) {
            cg_misuse("reshape", "new shape %s for input %s has size %" PRId64 " in dim %d "
                      "(sizes must be >= 0, or -1 to infer one)", sn, sa, shape[i], i);
            return NULL;
        } else if (shape[i] > 0 && known > INT64_MAX / shape[i]) {
            known = INT64_MAX; /* cannot match any real numel */
        } else {
            known *= shape[i];
        }
    }
    if (infer >= 0) {
        if (known == 0 || a->numel % known != 0) {
            cg_misuse("reshape", "new shape %s cannot hold the %" PRId64 " elements of input %s "
                      "(the other sizes multiply to %" PRId64 ")", sn, a->numel, sa, known);
            return NULL;
        }
        out[infer] = a->numel / known;
        known = a->numel;
    }
    if (known != a->numel) {
        cg_misuse("reshape", "new shape %s has %" PRId64 " elements but input %s has %" PRId64
                  " (hint: the sizes must multiply to the same count; use -1 for one size to "
                  "infer it)", sn, known, sa, a->numel);
        return NULL;
    }
    return cg_op_apply(tape, &cg_op_reshape, 1, &a, a->dtype, ndim, out, NULL, 0);
}

/* ---- transpose ---- */

/* 16x16 tiles keep the reads and the writes within a few cache lines; larger
 * tiles thrash L1 when the row length is a power of two (1024x1024 f32: 16
 * takes ~0.4 ms, 32 ~0.9 ms on the dev box). */
#define CG_TILE 16

/* dst[j*m + i] (op)= src[i*n + j] for an [m,n] src.  ACC is = or +=. */
#define CG_TRANSPOSE_KERNEL(name, T, ACC)                                                   \
    static void name(T *restrict dst, const T *restrict src, int64_t m, int64_t n)           \
    {                                                                                       \
        for (int64_t i0 = 0; i0 < m; i0 += CG_TILE) {                                       \
            int64_t i1 = i0 + CG_TILE < m ? i0 + CG_TILE : m;                               \
            for (int64_t j0 = 0; j0 < n; j0 += CG_TILE) {                                   \
                int64_t j1 = j0 + CG_TILE < n ? j0 + CG_TILE : n;                           \
                for (int64_t j = j0; j < j1; j++)                                           \
                    for (int64_t i = i0; i < i1; i++) dst[j * m + i] ACC src[i * n + j];     \
            }                                                                               \
        }                                                                                   \
    }

CG_TRANSPOSE_KERNEL(transpose_f32, float, =)
CG_TRANSPOSE_KERNEL(transpose_f64, double, =)
CG_TRANSPOSE_KERNEL(transpose_add_f32, float, +=)
CG_TRANSPOSE_KERNEL(transpose_add_f64, double, +=)

static void transpose_forward(struct cg_record *r)
{
    const struct cg_tensor *x = r->in[0];
    if (x->dtype == CG_F64)
        transpose_f64(r->out->data, x->data, x->shape[0], x->shape[1]);
    else
        transpose_f32(r->out->data, x->data, x->shape[0], x->shape[1]);
}

/* The output is [n,m]; its gradient transposed back is x's. */
static void transpose_backward(struct cg_record *r)
{
    struct cg_tensor *x = r->in[0];
    if (!x->grad) return;
    const struct cg_tensor *gy = r->out->grad;
    if (x->dtype == CG_F64)
        transpose_add_f64(x->grad->data, gy->data, x->shape[1], x->shape[0]);
    else
        transpose_add_f32(x->grad->data, gy->data, x->shape[1], x->shape[0]);
}

const struct cg_op cg_op_transpose = {"transpose", transpose_forward, transpose_backward, 0};

struct cg_tensor *cg_transpose(struct cg_tape *tape, struct cg_tensor *a)
{
    CG_CHECK_NOT_NULL("transpose", a, "input");
    if (a->ndim != 2) {
        char s[160];
        cg_misuse("transpose", "input %s is %d-D; cg_transpose swaps the two dims of a 2-D "
                  "tensor (hint: cg_reshape to [rows,cols] first)",
                  cg_format_shape(s, sizeof s, a->ndim, a->shape), a->ndim);
        return NULL;
    }
    int64_t shape[2] = {a->shape[1], a->shape[0]};
    return cg_op_apply(tape, &cg_op_transpose, 1, &a, a->dtype, 2, shape, NULL, 0);
}
