/* Unfolding an image into the columns a convolution's GEMM needs, and
 * folding column gradients back. */
#ifndef CG_CORE_IM2COL_H
#define CG_CORE_IM2COL_H

#include <stdint.h>

#include "cgrad/tensor.h"
#include "conv_geom.h"

/* x [c, h, w] -> col [c kh kw, oh ow] (zeros where the window is in the
 * padding).  Element type from dt. */
void cg_im2col(enum cg_dtype dt, void *col, const void *x, int64_t c, int64_t h, int64_t w,
               const struct cg_window *k, int64_t oh, int64_t ow);
/* dx [c, h, w] += the adjoint of cg_im2col applied to col. */
void cg_col2im_add(enum cg_dtype dt, void *dx, const void *col, int64_t c, int64_t h, int64_t w,
                   const struct cg_window *k, int64_t oh, int64_t ow);

#endif
