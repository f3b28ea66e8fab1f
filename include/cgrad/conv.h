/* Convolution, pooling and BatchNorm2d layers (modules, as in nn.h: free
 * with cg_module_free or give them to a Sequential), around the ops of
 * conv_ops.h.  Semantics and initialization follow PyTorch 1.13's
 * torch.nn. */
#ifndef CGRAD_CONV_H
#define CGRAD_CONV_H

#include "export.h"
#include <stdbool.h>
#include <stdint.h>

#include "conv_ops.h"
#include "module.h"
#include "rng.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Conv2d(in, out, (kH, kW), stride, padding, dilation, groups, bias), type
 * "Conv2d", parameters "weight" [out, in / groups, kH, kW] and "bias"
 * [out].  PyTorch's default init from `rng`: weight kaiming_uniform(a =
 * sqrt 5), i.e. uniform in +-1/sqrt(fan_in) with fan_in = in / groups * kH
 * * kW, drawn first, then the bias in the same bound.  dtype CG_F32.
 * Misuse (NULL): sizes < 1, in or out not divisible by groups, bad params
 * (as in conv_ops.h), rng NULL. */
CG_API struct cg_module *cg_conv2d_new(int64_t in_channels, int64_t out_channels, int64_t kernel_h,
                                       int64_t kernel_w, const struct cg_conv2d_params *p, bool bias,
                                       struct cg_rng *rng);
/* Conv1d, type "Conv1d", weight [out, in / groups, k]; init as Conv2d. */
CG_API struct cg_module *cg_conv1d_new(int64_t in_channels, int64_t out_channels, int64_t kernel,
                                       int64_t stride, int64_t padding, int64_t dilation,
                                       int64_t groups, bool bias, struct cg_rng *rng);

/* Pooling modules around the ops ("MaxPool2d", "AvgPool2d",
 * "AdaptiveAvgPool2d"); square kernels, stride 0 means stride = kernel
 * (PyTorch's stride=None).  No parameters. */
CG_API struct cg_module *cg_max_pool2d_new(int64_t kernel, int64_t stride, int64_t padding,
                                           int64_t dilation);
CG_API struct cg_module *cg_avg_pool2d_new(int64_t kernel, int64_t stride, int64_t padding,
                                           bool count_include_pad);
CG_API struct cg_module *cg_adaptive_avg_pool2d_new(int64_t out_h, int64_t out_w);

/* BatchNorm2d(num_features, eps, momentum), type "BatchNorm2d": parameters
 * "weight" (ones) and "bias" (zeros) [C]; buffers "running_mean" (zeros),
 * "running_var" (ones) [C] and "num_batches_tracked" [] (counts training
 * forwards).  Uses batch statistics while the module is training
 * (cg_module_set_training), the running ones otherwise.  PyTorch's defaults
 * are eps 1e-5, momentum 0.1.  Misuse: num_features < 1, eps <= 0,
 * momentum outside [0, 1]. */
CG_API struct cg_module *cg_batch_norm2d_new(int64_t num_features, double eps, double momentum);

#ifdef __cplusplus
}
#endif
#endif
