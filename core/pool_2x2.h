/* MaxPool2d(2) (2x2 windows, stride 2, no padding or dilation) kernels,
 * shared by the max_pool2d op and the fused conv2d_relu_max_pool2d. */
#ifndef CG_CORE_POOL_2X2_H
#define CG_CORE_POOL_2X2_H

#include <stdint.h>

/* `planes` planes of h x w pooled to oh x ow. */
struct cg_plane {
    int64_t planes, h, w, oh, ow;
};

/* y = the max of each window, idx (if not NULL) the flat in-plane index of
 * its winner: the first maximum in row-major window order, a NaN winning
 * (PyTorch's CPU rule). */
void cg_max_2x2_f32(float *restrict y, int32_t *restrict idx, const float *restrict x,
                    const struct cg_plane *p);
void cg_max_2x2_f64(double *restrict y, int32_t *restrict idx, const double *restrict x,
                    const struct cg_plane *p);

#endif
