/* A user-defined layer with buffers, for the module-buffer, checkpoint and
 * optimizer tests: y = (x - running_mean) * scale, where scale [features]
 * is a parameter and running_mean [features] and num_batches [1] are
 * buffers.  In training mode each forward first moves running_mean 10%
 * towards the batch mean (like BatchNorm's momentum 0.1) and counts the
 * batch; in eval mode the buffers are only read. */
#ifndef CG_TEST_BUFFER_LAYER_H
#define CG_TEST_BUFFER_LAYER_H

#include <cgrad.h>

struct cg_module *cg_test_buffer_layer_new(int64_t features);

#endif
