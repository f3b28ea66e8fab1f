/* 3x3 convolution by Winograd's minimal filtering F(2x2, 3x3), for f32 on
 * CPUs with AVX2 and FMA: each 2x2 block of outputs costs 16 products per
 * channel pair instead of 36.  Per sample, 24 blocks at a time: the
 * inputs' 4x4 tiles are transformed (V = B^T d B), multiplied with the
 * transformed weights (U = G g G^T) as 16 small products summed over the
 * input channels by the row-tile kernel of conv_rows.h, and transformed
 * back (Y = A^T M A).  The forward product and, with the weights flipped
 * and transposed, the input gradient both run it; ops_conv.c picks it for
 * 3x3, stride 1, dilation 1 convolutions where conv_rows.h applies. */
#ifndef CG_CORE_CONV_WINOGRAD_H
#define CG_CORE_CONV_WINOGRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgrad/tensor.h"
#include "conv_geom.h"

/* Whether it takes this convolution of cin input and cout output channels
 * per group: f32, 3x3, stride and dilation 1, padding at most 2, the
 * CPU the row-tile kernel runs on, and enough channels that the products,
 * not the transforms, dominate.  Always false where not compiled in. */
bool cg_winograd_usable(enum cg_dtype dt, const struct cg_window *k, int64_t cin,
                        int64_t cout);

/* The transformed weights of `groups` groups: [group][16][cout in tiles
 * of 4][cin][4].  forward: cout = og, cin = cg, from weight [groups og, cg,
 * 3, 3]; input gradient (transposed): cout = cg, cin = og, each kernel
 * rotated by 180 degrees. */
size_t cg_winograd_pack_bytes(int64_t groups, int64_t cout, int64_t cin);
void cg_winograd_pack(float *u, const float *weight, int64_t groups, int64_t og, int64_t cg,
                      bool transposed);

/* Scratch of one task (one sample at a time): zero it once before its
 * first cg_winograd_run (the padding is never written). */
size_t cg_winograd_scratch_bytes(int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t ph,
                                 int64_t pw);

/* One sample and group: y [cout, oh, ow] = (add: y +) bias (if not NULL)
 * + the correlation of x [cin, h, w], zero-padded by ph rows and pw
 * columns, with the group's packed weights u; oh = h + 2 ph - 2, ow =
 * w + 2 pw - 2. */
void cg_winograd_run(float *y, bool add, const float *x, const float *u, const float *bias,
                     int64_t cin, int64_t cout, int64_t h, int64_t w, int64_t ph, int64_t pw,
                     float *scratch);

/* Tests: false makes cg_winograd_usable false.  Default true. */
void cg_winograd_enable(bool on);

#endif
