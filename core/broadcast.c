/* Broadcast shape rules and the simplified iteration plan (see broadcast.h). */
#include "broadcast.h"

#include <inttypes.h>
#include <stdio.h>

#include "error_internal.h"
#include "tape_internal.h" /* cg_format_shape */

bool cg_broadcast_shape(const char *fn, const struct cg_tensor *a, const struct cg_tensor *b,
                        int *ndim, int64_t *shape)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    /* Align from the last dim: d counts back from -1. */
    for (int d = -1; d >= -nd; d--) {
        int64_t sa = a->ndim + d >= 0 ? a->shape[a->ndim + d] : 1;
        int64_t sb = b->ndim + d >= 0 ? b->shape[b->ndim + d] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char ta[160], tb[160];
            cg_misuse(fn, "shapes %s and %s cannot broadcast (dim %d: %" PRId64 " vs %" PRId64
                      "; hint: sizes are matched from the last dim and must be equal or 1; "
                      "cg_reshape to insert size-1 dims)",
                      cg_format_shape(ta, sizeof ta, a->ndim, a->shape),
                      cg_format_shape(tb, sizeof tb, b->ndim, b->shape), d, sa, sb);
            return false;
        }
        shape[nd + d] = sa == 1 ? sb : sa;
    }
    *ndim = nd;
    return true;
}

/* Stride of tensor t along output dim d of an nd-dim output: 0 where t is
 * missing or has size 1 (its index there is always 0). */
static int64_t aligned_stride(const struct cg_tensor *t, int nd, int d)
{
    int td = d - (nd - t->ndim);
    if (td < 0 || t->shape[td] == 1) return 0;
    int64_t s = 1;
    for (int i = td + 1; i < t->ndim; i++) s *= t->shape[i];
    return s;
}

void cg_bcast_plan(struct cg_bcast *p, const struct cg_tensor *a, const struct cg_tensor *b,
                   int out_ndim, const int64_t *out_shape)
{
    int n = 0;
    for (int d = 0; d < out_ndim; d++) {
        if (out_shape[d] == 1) continue; /* contributes nothing to the walk */
        int64_t sa = aligned_stride(a, out_ndim, d), sb = aligned_stride(b, out_ndim, d);
        /* Merge into the previous dim when both inputs continue contiguously
         * across the boundary (stride 0 in both also merges). */
        if (n > 0 && p->stride[0][n - 1] == sa * out_shape[d] &&
            p->stride[1][n - 1] == sb * out_shape[d]) {
            p->shape[n - 1] *= out_shape[d];
            p->stride[0][n - 1] = sa;
            p->stride[1][n - 1] = sb;
            continue;
        }
        p->shape[n] = out_shape[d];
        p->stride[0][n] = sa;
        p->stride[1][n] = sb;
        n++;
    }
    if (n == 0) { /* a single element */
        p->shape[0] = 1;
        p->stride[0][0] = p->stride[1][0] = 0;
        n = 1;
    }
    p->ndim = n;
    p->inner = p->shape[n - 1];
    p->rows = 1;
    for (int d = 0; d < n - 1; d++) p->rows *= p->shape[d];
    /* The innermost kept dim has only size-1 dims after it, so its stride
     * in a contiguous input is 1 (or 0 where stretched). */
    p->inner_a = p->stride[0][n - 1] != 0;
    p->inner_b = p->stride[1][n - 1] != 0;
}
