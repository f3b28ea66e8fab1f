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

#endif
