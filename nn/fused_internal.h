/* Layer pairs nn runs as one fused op (inside nn only). */
#ifndef CG_NN_FUSED_INTERNAL_H
#define CG_NN_FUSED_INTERNAL_H

#include "cgrad/module.h"

/* True when m is a ReLU module (cg_relu_new). */
bool cg_nn_is_relu(const struct cg_module *m);
/* True when `conv` is a Conv2d and `next` a ReLU: Sequential then runs the
 * pair as cg_conv2d_relu (same values and gradients, fewer passes). */
bool cg_nn_fuses_conv_relu(const struct cg_module *conv, const struct cg_module *next);
/* The pair's forward; errors as the Conv2d's forward. */
struct cg_tensor *cg_nn_conv2d_relu_forward(struct cg_module *conv, struct cg_tape *tape,
                                            struct cg_tensor *x);
/* True when m is MaxPool2d(2): kernel 2, stride 2, no padding or dilation. */
bool cg_nn_is_max_pool2(const struct cg_module *m);
/* Conv2d, ReLU, MaxPool2d(2) as cg_conv2d_relu_max_pool2d; runs the three
 * layers one by one (their own checks and messages) when x does not suit
 * the fused op (not 4-D, or a conv output smaller than 2x2). */
struct cg_tensor *cg_nn_conv2d_relu_pool_forward(struct cg_module *conv, struct cg_module *relu,
                                                 struct cg_module *pool, struct cg_tape *tape,
                                                 struct cg_tensor *x);

#endif
