/* Convolution forward, weight- and input-gradient kernels without im2col
 * or col2im, for f32 on CPUs with AVX2 and FMA: each 4 output channels x
 * 24 output columns of one output row are a register tile, and each of
 * the tile's K = Cg kH kW steps loads its 24 inputs straight from the
 * image (for stride 1 along the row they are contiguous).  The weight gradient reads the
 * image the same way, and the input gradient adds the forward tile's
 * transpose straight into dx.  Nothing is unfolded or packed per sample;
 * the weights are packed once per call.  ops_conv.c uses them where
 * they apply and falls back to im2col + GEMM elsewhere; conv_winograd.c
 * runs its products on the forward tile. */
#ifndef CG_CORE_CONV_ROWS_H
#define CG_CORE_CONV_ROWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cgrad/tensor.h"
#include "conv_geom.h"

enum { CG_CONV_ROWS_M = 4 }; /* output channels per tile */

/* Whether the kernel takes this convolution: f32, column stride 1, no
 * padding, offsets that fit int32, and a CPU with AVX2 and FMA but not
 * full-width AVX-512 (there OpenBLAS's AVX-512 kernels are faster; Zen 4's
 * are not, see cg_conv_rows_cpu).  Checked at run
 * time; always false where the kernel is not compiled in. */
bool cg_conv_rows_usable(enum cg_dtype dt, const struct cg_window *k, int64_t cg, int64_t h,
                         int64_t w);

/* Bytes of the packed weights of `groups` groups (og outputs, kk = Cg kH
 * kW inputs each), and of the offset table, both from one scratch block. */
size_t cg_conv_rows_pack_bytes(int64_t groups, int64_t og, int64_t kk);
size_t cg_conv_rows_offsets_bytes(int64_t kk);

/* packed <- weight [groups og, kk] in tiles of CG_CONV_ROWS_M rows, [tile]
 * [kk][M], zero rows past og (packed NULL: skipped; weight unused); off[k]
 * <- the input offset of step k (input channel, kernel row and column) in
 * an image of h x w. */
void cg_conv_rows_pack(float *packed, int32_t *off, const float *weight, int64_t groups,
                       int64_t og, int64_t cg, const struct cg_window *k, int64_t h, int64_t w);

/* One sample and group: y [og, oh ow] = bias (if not NULL) + the
 * convolution of x [cg, h, w] with the group's packed weights. */
void cg_conv_rows_forward(float *y, const float *x, const float *packed, const int32_t *off,
                          const float *bias, int64_t og, int64_t kk, int64_t w,
                          const struct cg_window *k, int64_t oh, int64_t ow);

/* One sample and group: dw [og, kk] += dy [og, oh ow] (*) x [cg, h, w],
 * the weight gradient, each sum over the output positions in 8 lanes
 * (masked at row ends) added up by a fixed tree.  off from
 * cg_conv_rows_pack. */
void cg_conv_rows_weight_grad(float *dw, const float *dy, const float *x, const int32_t *off,
                              int64_t og, int64_t kk, int64_t w, const struct cg_window *k,
                              int64_t oh, int64_t ow);

/* The input gradient's weights: [groups][kernel column][tile of 4 input
 * channels][kernel row][og][4], zero past cg; off [kh og]: off[i og + o]
 * <- o oh ow - i dh ow (output channel o's gradient plane, moved back by
 * kernel row i). */
size_t cg_conv_rows_pack_t_bytes(int64_t groups, int64_t og, int64_t cg,
                                 const struct cg_window *k);
void cg_conv_rows_pack_t(float *packed, int32_t *off, const float *weight, int64_t groups,
                         int64_t og, int64_t cg, const struct cg_window *k, int64_t oh,
                         int64_t ow);

/* One sample and group: dx [cg, h, w] += the input gradient of dy
 * [og, oh ow], the forward kernel run the other way: a tile is 4 input
 * channels of one dx row at one kernel column x 24 columns, summed over
 * og and (stride 1) every kernel row that reaches the row, and added
 * straight into dx (no col, no col2im).  packed, off: the group's part
 * of cg_conv_rows_pack_t. */
void cg_conv_rows_input_grad(float *dx, const float *dy, const float *packed,
                             const int32_t *off, int64_t og, int64_t cg,
                             const struct cg_window *k, int64_t h, int64_t w, int64_t oh,
                             int64_t ow);

/* Whether the kernels are compiled in and the CPU has AVX2 and FMA but
 * not full-width AVX-512 (none, or Zen 4's two 256-bit halves):
 * cg_conv_rows_usable's CPU test, for conv_winograd.c. */
bool cg_conv_rows_cpu(void);

/* The forward tile, for conv_winograd.c: rows (<= 4) rows of n (<= 24)
 * columns at dst[r] = (add: dst[r] +) bias[r] (if not NULL) + the sums
 * over the kk steps of wp[s 4 + r] x0[off[s] + column]; reads no input
 * column at or past n. */
void cg_conv_rows_tile(float *const *dst, bool add, const float *wp, const int32_t *off,
                       int64_t kk, const float *x0, const float *bias, int64_t rows, int64_t n);

/* Tests: false makes cg_conv_rows_usable false, so the im2col + GEMM path
 * runs on the same CPU to compare against.  Default true. */
void cg_conv_rows_enable(bool on);

#endif
