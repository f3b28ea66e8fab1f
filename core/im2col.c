/* im2col / col2im for f32 and f64 (kernels in im2col_kernels.inc).  The
 * range of output columns whose input column is inside the image is worked
 * out once per kernel column, so the inner loops have no bounds tests (and
 * stride 1 is a plain copy loop). */
#include "im2col.h"
#include "multiarch.h"

#include <string.h>

/* Output columns ox in [lo, hi) read input column ox * sw + xoff in [0, w). */
static void valid_cols(int64_t xoff, int64_t sw, int64_t w, int64_t ow, int64_t *lo,
                       int64_t *hi)
{
    int64_t l = xoff >= 0 ? 0 : (-xoff + sw - 1) / sw;
    int64_t h = w - 1 - xoff < 0 ? 0 : (w - 1 - xoff) / sw + 1;
    if (h > ow) h = ow;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

#define CG_T float
#define CG_S f32
#include "im2col_kernels.inc"
#undef CG_T
#undef CG_S
#define CG_T double
#define CG_S f64
#include "im2col_kernels.inc"
#undef CG_T
#undef CG_S

void cg_im2col(enum cg_dtype dt, void *col, const void *x, int64_t c, int64_t h, int64_t w,
               const struct cg_window *k, int64_t oh, int64_t ow)
{
    if (dt == CG_F64)
        im2col_f64(col, x, c, h, w, k, oh, ow);
    else
        im2col_f32(col, x, c, h, w, k, oh, ow);
}

void cg_col2im_add(enum cg_dtype dt, void *dx, const void *col, int64_t c, int64_t h, int64_t w,
                   const struct cg_window *k, int64_t oh, int64_t ow)
{
    if (dt == CG_F64)
        col2im_add_f64(dx, col, c, h, w, k, oh, ow);
    else
        col2im_add_f32(dx, col, c, h, w, k, oh, ow);
}
