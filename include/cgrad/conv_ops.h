/* Convolution, pooling and 2-D batch normalization ops, in NCHW layout
 * (their modules are in conv.h).
 *
 * Ops take the tape first and return a result owned by the tape, NULL after
 * misuse or out-of-memory, as in ops.h.  Semantics, output
 * sizes and initialization follow PyTorch 1.13's torch.nn.functional and
 * torch.nn; ceil_mode is not offered (PyTorch's default, false, always).
 *
 * Output size along one spatial dim of size H, for kernel k, stride s,
 * padding p, dilation d:  (H + 2p - d (k - 1) - 1) / s + 1  (rounded down).
 *
 * Misuse (reported naming the function, the values and a fix; NULL
 * returned): a NULL tensor, wrong ranks, channels that do not match the
 * weight or are not divisible by groups, stride < 1, padding < 0,
 * dilation < 1, groups < 1, a (dilated) kernel larger than the padded
 * input, a parameter of 2^24 or more. */
#ifndef CGRAD_CONV_OPS_H
#define CGRAD_CONV_OPS_H

#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "tape.h"
#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Stride, zero padding and dilation per spatial dim ([0] height, [1]
 * width), and the group count.  Every field must be set: a zero stride is
 * misuse, not a default.  CG_CONV2D_PARAMS(s, p, d, g) gives square ones
 * (a C compound literal: pass &CG_CONV2D_PARAMS(2, 1, 1, 1)).  Functions
 * take a pointer, and NULL means stride 1, no padding, dilation 1, one
 * group.  (A pointer rather than the struct by value: GCC 12 with
 * -march=native on AVX-512 was seen to pass this struct by value with a
 * wrong field.) */
struct cg_conv2d_params {
    int64_t stride[2];
    int64_t padding[2];
    int64_t dilation[2];
    int64_t groups;
};
#define CG_CONV2D_PARAMS(s, p, d, g) \
    ((struct cg_conv2d_params){{(s), (s)}, {(p), (p)}, {(d), (d)}, (g)})

/* ---- ops ---- */

/* x [N, C, H, W] (*) weight [O, C / groups, kH, kW] + bias [O] (NULL: none)
 * -> [N, O, oH, oW], by im2col and OpenBLAS GEMM.  The f32 forward without
 * padding or column stride runs cgrad's own kernel instead, without
 * im2col, on AVX2 CPUs without full-width AVX-512 (Zen 4's counts as half
 * width; the kernel's rounding differs from the GEMM's in the last bits).
 * The batch is cut over
 * cgrad's threads (cg_set_num_threads) by samples; the weight gradient is
 * summed per thread, then over threads in a fixed order, so results repeat
 * bit for bit for a given thread count.  Scratch comes from the tape. */
CG_API struct cg_tensor *cg_conv2d(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *weight,
                                   struct cg_tensor *bias, const struct cg_conv2d_params *p);
/* cg_relu(cg_conv2d(...)) in one op, bit for bit the same values and
 * gradients: the ReLU runs on each sample's output while it is in cache,
 * and the convolution's output is never stored apart.  Its backward turns
 * the output's grad, in place, into the gradient before the ReLU: after a
 * backward, y->grad is not dL/dy where the ReLU was flat.  nn's
 * Sequential uses it for a Conv2d followed by a ReLU and another layer.
 * Errors as cg_conv2d (messages name cg_conv2d_relu). */
CG_API struct cg_tensor *cg_conv2d_relu(struct cg_tape *tape, struct cg_tensor *x,
                                        struct cg_tensor *weight, struct cg_tensor *bias,
                                        const struct cg_conv2d_params *p);
/* cg_max_pool2d(cg_conv2d_relu(...), 2, 2, 2, 2, 0, 0, 1, 1) as one op:
 * each sample's convolution output stays in a scratch buffer in cache, is
 * pooled there, and backward rebuilds its gradient per sample from the
 * pooled output and the winners' positions.  Same values and gradients,
 * bit for bit; the convolution's output is never stored, so its gradient
 * cannot be read.  Output [N, O, oH / 2, oW / 2] (rounded down).  nn's
 * Sequential uses it for a Conv2d, a ReLU and a MaxPool2d(2) in a row.
 * Errors as cg_conv2d (messages name cg_conv2d_relu_max_pool2d), plus
 * misuse when the convolution's output is smaller than 2x2. */
CG_API struct cg_tensor *cg_conv2d_relu_max_pool2d(struct cg_tape *tape, struct cg_tensor *x,
                                                   struct cg_tensor *weight,
                                                   struct cg_tensor *bias,
                                                   const struct cg_conv2d_params *p);
/* x [N, C, L] (*) weight [O, C / groups, k] + bias [O] -> [N, O, oL]; runs
 * the Conv2d code as a convolution of height 1. */
CG_API struct cg_tensor *cg_conv1d(struct cg_tape *tape, struct cg_tensor *x, struct cg_tensor *weight,
                                   struct cg_tensor *bias, int64_t stride, int64_t padding,
                                   int64_t dilation, int64_t groups);

/* Max over each kH x kW window (dilated, padding counts as -inf) of
 * x [N, C, H, W].  The gradient goes to the element PyTorch picks: the
 * first maximum in row-major window order (a NaN wins).  Misuse also if a
 * padding exceeds half its kernel (PyTorch's rule). */
CG_API struct cg_tensor *cg_max_pool2d(struct cg_tape *tape, struct cg_tensor *x, int64_t kernel_h,
                                       int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                       int64_t pad_h, int64_t pad_w, int64_t dilation_h,
                                       int64_t dilation_w);
/* Mean over each window.  count_include_pad: divide by kH * kW (PyTorch's
 * default), else by the number of input elements in the window.  Misuse
 * also if a padding exceeds half its kernel. */
CG_API struct cg_tensor *cg_avg_pool2d(struct cg_tape *tape, struct cg_tensor *x, int64_t kernel_h,
                                       int64_t kernel_w, int64_t stride_h, int64_t stride_w,
                                       int64_t pad_h, int64_t pad_w, bool count_include_pad);
/* Mean over PyTorch's adaptive windows: output row i covers input rows
 * floor(i H / oH) .. ceil((i + 1) H / oH) - 1 (columns likewise). */
CG_API struct cg_tensor *cg_adaptive_avg_pool2d(struct cg_tape *tape, struct cg_tensor *x,
                                                int64_t out_h, int64_t out_w);

/* Batch normalization over dims 0, 2, 3 of x [N, C, H, W] (any rank >= 2:
 * [N, C, ...]) with per-channel weight [C] and bias [C]:
 *   training: normalizes with the batch mean and biased variance, and, if
 *     running_mean / running_var are given (both or neither; [C],
 *     persistent), updates them in place: r = (1 - momentum) r + momentum s,
 *     the variance unbiased (times M / (M - 1), M = N * H * W).  Misuse if
 *     M == 1 or momentum is outside [0, 1].
 *   evaluation (training false): normalizes with the running statistics
 *     (required).
 * y = (x - mean) / sqrt(var + eps) * weight + bias.  Misuse if eps <= 0. */
CG_API struct cg_tensor *cg_batch_norm2d(struct cg_tape *tape, struct cg_tensor *x,
                                         struct cg_tensor *weight, struct cg_tensor *bias,
                                         struct cg_tensor *running_mean,
                                         struct cg_tensor *running_var, bool training,
                                         double momentum, double eps);

#ifdef __cplusplus
}
#endif
#endif
